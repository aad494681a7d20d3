"""Notebook 07 (fusion) under papermill with the smoke profile: the files it wrote, and the report."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from test_report import assert_table_matches, first_table, section

from helpers import config, fusion, model_files, splits

SMOKE = config.get_profile("smoke")
ROWS = [("plain", "none")] + [(model, source) for model in ("fusion", "per-gender")
                              for source in ("true", "predicted", "predicted-probability")]


@pytest.fixture(scope="module")
def run07(smoke_run):
    smoke_run.ensure("07")
    return smoke_run


def test_fusion_table_has_one_row_per_model_and_gender_source(run07):
    table = run07.table("fusion")
    assert list(zip(table["model"], table["gender_source"])) == ROWS
    required = ["variant", "folds", "uar", "uar_std", "macro_f1", "macro_f1_std", "delta_uar",
                "delta_uar_std", "delta_macro_f1", "delta_macro_f1_std", "gender_accuracy"]
    assert set(required) <= set(table.columns)
    assert (table["variant"] == "clean").all()  # the smoke profile's variant
    assert (table["folds"] == SMOKE.n_folds).all()
    assert (table[["uar", "macro_f1"]].apply(lambda c: c.between(0, 1))).all().all()
    plain = table.iloc[0]
    assert plain[["delta_uar", "delta_uar_std", "delta_macro_f1"]].tolist() == [0, 0, 0]
    assert (table.loc[table["gender_source"] == "true", "gender_accuracy"] == 1).all()
    assert (run07.outputs / "tables" / "fusion.md").read_text().count("\n") == len(ROWS) + 2


def test_paired_differences_follow_from_the_fold_table(run07):
    folds = run07.table("fusion_folds")
    assert sorted(folds["fold"].unique()) == list(range(1, SMOKE.n_folds + 1))
    table = run07.table("fusion").drop(columns=["recipe", "variant"])
    recomputed = fusion.summarise_fusion(folds)
    pd.testing.assert_frame_equal(table, recomputed, check_dtype=False, atol=1e-9)
    wide = folds.pivot(index="fold", columns=["model", "gender_source"], values="uar")
    expected = (wide["fusion", "predicted"] - wide["plain", "none"]).mean()
    assert table.set_index(["model", "gender_source"]).loc[("fusion", "predicted"),
                                                           "delta_uar"] == pytest.approx(expected)


def test_plain_rows_are_notebook_03s_speaker_independent_folds(run07):
    # Same folds, seed and hyperparameters: the plain model's mean UAR is Table 1's.
    table1 = run07.table("table1_emotion")
    table1 = table1[table1["recipe"] == "original"].set_index(["variant", "protocol"])
    plain = run07.table("fusion").iloc[0]
    row = table1.loc[("clean", "speaker-independent")]
    assert plain["uar"] == pytest.approx(row["uar"]) and plain["uar_std"] == pytest.approx(row["uar_std"])


def test_gender_classifiers_never_heard_their_test_actors(run07):
    gender = run07.table("fusion_gender")
    summary = run07.metrics("07_fusion")
    assert len(gender) == SMOKE.n_folds
    assert gender[["fusion_flip_changed", "fusion_flip_shift"]].apply(lambda c: c.between(0, 1)).all().all()
    for row, split in zip(gender.itertuples(), summary["splits"]):
        test = {int(a) for a in str(row.test_actors).split()}
        seen = {int(a) for a in str(row.trained_on_actors).split()}
        assert test == set(split["test_actors"]) and not test & seen
        assert seen == set(split["train_actors"]) | set(split["validation_actors"])
    # The folds are notebook 03's: speaker_folds over the actors with the same seed.
    items = pd.DataFrame({"actor": range(1, 25)}).assign(
        gender=lambda t: np.where(t["actor"] % 2, "male", "female"))
    expected = splits.speaker_folds(items, n_folds=SMOKE.n_folds, seed=config.SEED)
    assert [s["test_actors"] for s in summary["splits"]] == [list(s.test_actors) for s in expected]


def test_gender_classifiers_are_notebook_05s_models_from_the_cache(run07):
    # Same recipe, data, folds and seed as notebook 05's k-fold: nothing is trained twice.
    assert run07.table("fusion_gender")["from_cache"].all()
    assert run07.table("fusion_ours_gender")["from_cache"].all()
    tally = run07.metrics("07_fusion")["model_cache"]
    assert tally["cached"] >= 2 * SMOKE.n_folds and tally["trained"] > 0
    assert run07.metrics("05_gender")["model_cache"]["trained"] > 0


def test_metrics_json_conclusion_figure_and_model(run07):
    summary = run07.metrics("07_fusion")
    assert {"summary", "folds", "paired_differences", "gender_folds", "gender_error_cost",
            "conclusion", "splits", "parameters", "seed", "versions"} <= set(summary)
    assert summary["variant"] == summary["gender_variant"] == "clean"
    assert "Fusion with the predicted gender" in summary["conclusion"]
    cost = summary["gender_error_cost"]
    assert 0 <= cost["gender_accuracy"] <= 1 and cost["n_test"] == 24 * SMOKE.clips_per_actor
    assert (run07.outputs / "figures" / "fusion_paired_differences.png").stat().st_size > 1000
    model, sidecar = model_files.load_model_with_sidecar(run07.outputs / "models" / summary["model"])
    assert [tensor.name for tensor in model.inputs] == ["log_mel", "gender"]
    assert sidecar["labels"] == list(config.EMOTIONS) and sidecar["task"] == "emotion-fusion"
    executed = run07.outputs / "notebooks" / "07_fusion.ipynb"
    assert executed.is_file()


def test_report_after_the_run_matches_the_results_files(run07):
    # run_all.py rewrote the report after notebook 07; every number in it is a results file's.
    result = run07.done["07"]
    outputs = run07.outputs
    assert str(outputs / "report.md") in result.stdout
    text = (outputs / "report.md").read_text()
    table1 = pd.read_csv(outputs / "tables" / "table1_emotion.csv")
    assert assert_table_matches(first_table(section(text, "Table 1")), table1) > 0
    table = pd.read_csv(outputs / "tables" / "fusion.csv")
    # Six numbers per row (folds, UAR, macro-F1, both differences, gender accuracy); the plain
    # row has no gender accuracy.
    assert assert_table_matches(first_table(section(text, "Fusion")), table) == len(table) * 6 - 1
    # The chain ran notebooks 04 and 05 before 07, so both tables exist and the report shows them.
    for stem, prefix in (("table2_tuning", "Table 2"), ("table3_gender", "Table 3")):
        path = outputs / "tables" / f"{stem}.csv"
        assert path.is_file(), f"{path} missing after notebooks 04 and 05 ran"
        assert "*Not run:*" not in section(text, prefix)
        assert assert_table_matches(first_table(section(text, prefix)), pd.read_csv(path)) > 0
    assert run07.metrics("07_fusion")["conclusion"] in text
    data = {row["item"]: row["value"] for row in first_table(section(text, "Data and profile"))}
    assert data["profile"] == "smoke" and data["data"] == "stand-in (synthetic)"
    for row in first_table(section(text, "Notebooks")):
        link = re.search(r"\]\((notebooks/[^)]+)\)", row["executed copy"])
        assert link and (outputs / link.group(1)).is_file(), row
    html = (outputs / "report.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) == text.count("![") > 0
    assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_the_ours_study_is_paired_on_notebook_03s_folds(run07):
    from helpers import fusion_ours

    summary = run07.table("fusion_ours")
    assert list(zip(summary["model"], summary["gender_source"])) == list(fusion_ours.ROWS)
    assert summary.iloc[0]["delta_uar"] == 0
    folds = run07.table("fusion_ours_folds")
    assert sorted(set(folds["fold"])) == list(range(1, SMOKE.n_folds + 1))
    wide = folds.pivot(index="fold", columns=["model", "gender_source"], values="uar")
    for row in summary.itertuples():
        differences = wide[row.model, row.gender_source] - wide["ours", "none"]
        assert row.delta_uar == pytest.approx(differences.mean())
    # The reference row is notebook 03's `ours` (single clip) on the same folds.
    table1 = run07.table("table1_emotion")
    ours = table1[(table1["recipe"] == "ours") & (table1["mode"] == "single-clip")
                  & (table1["protocol"] == "speaker-independent")].iloc[0]
    assert summary.iloc[0]["uar"] == pytest.approx(ours["uar"])
    gender = run07.table("fusion_ours_gender")
    assert len(gender) == SMOKE.n_folds and gender["accuracy"].between(0, 1).all()
    saved = run07.metrics("07_fusion")["ours"]
    assert saved["splits"] == [f"speaker-fold-{k}" for k in range(1, SMOKE.n_folds + 1)]
    assert run07.table("fusion").iloc[0]["recipe"].startswith("original")
