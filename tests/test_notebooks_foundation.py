"""Notebooks 01–03 run headlessly (smoke profile, stand-in corpus) and write what they promise."""

from __future__ import annotations

import json

import numpy as np
import pytest


from helpers import config, experiments


def test_01_data_prep_writes_manifest_and_counts(smoke_run):
    result = smoke_run.ensure("01")
    assert "01_data_prep.ipynb ... done" in result.stdout
    manifest = smoke_run.table("manifest")
    assert len(manifest) == 1440 and manifest["actor"].nunique() == 24
    assert (manifest["gender"] == np.where(manifest["actor"] % 2 == 1, "male", "female")).all()
    counts = smoke_run.table("dataset_counts_emotion").set_index("emotion")["clips"]
    assert counts["neutral"] == 96 and (counts.drop("neutral") == 192).all()
    summary = smoke_run.metrics("01_data")
    assert summary["data"] == "stand-in (synthetic)" and summary["n_manifest"] == 1440
    assert {"parameters", "seed", "versions"} <= set(summary)
    for figure in ("dataset_counts", "dataset_durations", "examples_per_emotion"):
        assert (smoke_run.outputs / "figures" / f"{figure}.png").stat().st_size > 1000
    assert (smoke_run.outputs / "notebooks" / "01_data_prep.ipynb").is_file()


def test_02_variants_measured_snr_and_cache(smoke_run):
    smoke_run.ensure("02")
    snr = smoke_run.table("snr_check").set_index("variant")
    assert list(snr.index) == ["white", "urban", "white_urban"]
    assert (snr["max_abs_error_db"] < 0.1).all()
    summary = smoke_run.metrics("02_variants")
    n_clips = summary["n_clips"]
    assert n_clips == 24 * config.PROFILES["smoke"].clips_per_actor
    shapes = summary["variant_shapes"]
    assert shapes["clean"] == [n_clips, config.FEATURES.n_mels, config.FEATURES.n_frames]
    assert shapes["aggregation"][0] == 4 * n_clips
    cache = list((smoke_run.outputs / "cache" / "features").glob(f"logmel_{summary['feature_key']}.npz"))
    assert len(cache) == 1
    assert (smoke_run.outputs / "figures" / "variants_example.png").is_file()


def test_03_table1_models_and_figures(smoke_run):
    smoke_run.ensure("03")
    table = smoke_run.table("table1_emotion")
    required = ["variant", "protocol", "n_test", "loss", "accuracy_binary", "auc", "precision", "recall",
                "f1_original", "accuracy", "uar", "macro_f1"]
    assert set(required) <= set(table.columns)
    # The reconstruction on clean and aggregation under three protocols; `ours` on clean speech,
    # speaker-independent in both modes and under the original's split.
    assert table[["recipe", "mode", "variant", "protocol"]].values.tolist()[6:] == [
        ["ours", "single-clip", "clean", "speaker-independent"],
        ["ours", "speaker-adaptive", "clean", "speaker-independent"],
        ["ours", "single-clip", "clean", "original"]]
    ours_table = table[table["recipe"] == "ours"]
    table = table[table["recipe"] == "original"]
    assert len(table) == 2 * 3 and set(table["mode"]) == {"single-clip"}
    assert set(table["protocol"]) == set(experiments.PROTOCOLS)
    assert ours_table["uar"].between(0, 1).all()
    ours = json.loads((smoke_run.outputs / "models" / "emotion_ours.json").read_text())
    # The smoke profile drops the perturbed copies (Profile.recipe_copies); the saved sidecar
    # records the recipe as trained, so prediction does no test-time speed averaging either.
    assert ours["features"] == "compare" and ours["recipe"]["speed_perturbation"] == []
    assert ours["recipe"]["test_time_speeds"] == [] and ours["recipe"]["name"] == "ours"
    # The smoke run skips the ablation (SMOKE_PARAMS): no table is written for it.
    assert not (smoke_run.outputs / "tables" / "ablation_ours_emotion.csv").exists()
    assert (smoke_run.outputs / "figures" / "headline_folds.png").is_file()
    kfold = table[table["protocol"] == "speaker-independent"]
    assert kfold[[f"{m}_std" for m in experiments.TABLE1_METRICS]].notna().all().all()
    assert (table[["accuracy_binary", "accuracy", "uar", "macro_f1"]].apply(lambda c: c.between(0, 1))).all().all()
    published = table.set_index(["variant", "protocol"]).loc[("aggregation", "original")]
    assert published["published_f1_original"] == pytest.approx(0.829)
    clips = smoke_run.metrics("02_variants")["n_clips"]
    assert kfold.set_index("variant").loc["clean", "n_test"] == clips  # every clip tested once
    for variant in ("clean", "aggregation"):
        for protocol in experiments.PROTOCOLS:
            stem = f"emotion_{variant}_{protocol}"
            sidecar = json.loads((smoke_run.outputs / "models" / f"{stem}.json").read_text())
            assert (smoke_run.outputs / "models" / f"{stem}.keras").stat().st_size > 10_000
            assert sidecar["labels"] == list(config.EMOTIONS)
            assert sidecar["feature_config"] == config.FEATURES.to_dict()
            assert abs(sidecar["trainable_params"] / 529_832 - 1) < 0.01
            assert (smoke_run.outputs / "figures" / f"emotion_confusion_{stem[8:]}.png").is_file()
    assert (smoke_run.outputs / "tables" / "table1_emotion.md").read_text().count("\n") == len(table) + 3 + 2
