"""Notebook 04 under papermill with the smoke profile: the sweep, Table 2, figures, the panel."""

from __future__ import annotations

import json
import sqlite3

import pytest


from helpers import evaluation, experiments

PROTOCOLS = ("original", "speaker-independent")


@pytest.fixture(scope="module")
def outputs(smoke_run):
    smoke_run.ensure("04")
    return smoke_run


def test_table2_has_original_tuned_and_difference_rows(outputs):
    everything = outputs.table("table2_tuning")
    assert (outputs.outputs / "tables" / "table2_tuning.md").is_file()
    assert set(everything["recipe"]) == {"original", "ours"}
    table = everything[everything["recipe"] == "original"].reset_index(drop=True)
    assert list(table["model"]) == ["original", "tuned", "difference"] * len(PROTOCOLS)
    assert list(table["protocol"]) == [p for p in PROTOCOLS for _ in range(3)]
    for column in ("variant", "protocol", "n_test", *experiments.TABLE1_METRICS, "dropout",
                   "learning_rate", "published_loss", "published_accuracy_binary",
                   "published_auc", "published_precision", "published_recall",
                   "published_f1_original"):
        assert column in table.columns, column
    rows = table[table["protocol"] == "original"].set_index("model")
    assert rows.loc["original", "dropout"] == 0.25
    assert rows.loc["original", "learning_rate"] == 0.002
    assert rows.loc["difference", "uar"] == pytest.approx(
        rows.loc["tuned", "uar"] - rows.loc["original", "uar"], abs=1e-9)
    published = evaluation.ORIGINAL_TABLE2
    assert rows.loc["original", "published_loss"] == published["original"]["loss"]
    assert rows.loc["tuned", "published_f1_original"] == published["tuned"]["f1"]
    assert set(table["variant"]) == {"aggregation"}


def test_metrics_record_the_sweep_of_both_protocols(outputs):
    metrics = outputs.metrics("04_tuning")
    assert set(metrics["chosen"]) == set(PROTOCOLS)
    assert set(metrics["agreement"]["agree"]) == {"dropout_rate", "learning_rate"}
    for protocol in PROTOCOLS:
        sweep = metrics["sweeps"][protocol]
        assert set(sweep["stages"]) == {"dropout", "learning_rate"}
        dropout = sweep["stages"]["dropout"]
        assert len(dropout["trials"]) == 2  # the smoke profile's trials per stage
        assert protocol in dropout["study_name"]
        assert metrics["data_fingerprint"] in dropout["study_name"]
        assert sweep["best"] == metrics["chosen"][protocol]
        assert sweep["best"]["dropout_rate"] in metrics["grids"]["dropout_rate"]
    assert metrics["sweeps"]["speaker-independent"]["split"] == "speaker-fold-1"
    assert metrics["storage"].startswith("sqlite:///") and "optuna" in metrics["storage"]
    assert metrics["versions"]["optuna"]
    assert metrics["profile"] == "smoke"
    # The panel was built and ran one trial with its default (tuned) settings.
    panel = metrics["panel_default_trial"]
    assert panel["epochs_run"] == 1 and panel["variant"] == "aggregation"
    assert panel["dropout_rate"] == metrics["chosen"]["original"]["dropout_rate"]


def test_studies_are_stored_in_sqlite_under_outputs(outputs):
    database = outputs.outputs / "optuna" / "tuning.db"
    with sqlite3.connect(database) as connection:
        names = [row[0] for row in connection.execute("SELECT study_name FROM studies")]
    # Two stages per protocol for the CNN, one nested study per outer fold for `ours`.
    assert len([n for n in names if "-ours-" not in n]) == 2 * len(PROTOCOLS)
    assert len([n for n in names if "-ours-speaker-fold-" in n]) == 2  # smoke: 2 outer folds


def test_ours_is_tuned_on_nested_folds_and_tested_once(outputs):
    metrics = outputs.metrics("04_tuning")
    sweep = metrics["ours_sweep"]
    assert sweep["n_trials"] == 2 and sweep["n_inner"] == 1  # the smoke profile's
    for fold in sweep["folds"]:
        trials = fold["trials"]
        assert len(trials) == 2 and trials[0]["untuned"]
        assert trials[0]["l2"] == fold["untuned"]["l2"] == 0.004
        assert set(fold["chosen"]) == {"l2", "clip"}
    rows = {row["model"]: row for row in metrics["table2_ours"]}
    assert set(rows) == {"untuned", "tuned", "difference"}
    assert rows["difference"]["uar"] == pytest.approx(rows["tuned"]["uar"] - rows["untuned"]["uar"])
    folds = outputs.table("table2_ours_folds")
    assert list(folds["outer_fold"]) == [f["split"] for f in sweep["folds"]]
    # The untuned rows are notebook 03's `ours` models: the same folds and test scores.
    table1 = outputs.table("table1_emotion")
    ours = table1[(table1["recipe"] == "ours") & (table1["mode"] == "single-clip")
                  & (table1["protocol"] == "speaker-independent")].iloc[0]
    assert rows["untuned"]["uar"] == pytest.approx(ours["uar"])
    assert (outputs.outputs / "tables" / "tuning_ours_trials.csv").is_file()


def test_figures_and_models_are_written(outputs):
    figures = outputs.outputs / "figures"
    for name in ("tuning_dropout", "tuning_learning_rate", "tuning_tuned_curves_original",
                 "tuning_panel_default"):
        assert (figures / f"{name}.png").stat().st_size > 0, name
    assert (outputs.outputs / "tables" / "tuning_trials.csv").is_file()
    sidecar = json.loads((outputs.outputs / "models" /
                          "emotion_aggregation_original_tuned.json").read_text())
    assert sidecar["hyperparameters"] == outputs.metrics("04_tuning")["chosen"]["original"]
