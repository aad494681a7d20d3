"""Notebook 05 (gender) under papermill with the smoke profile: the files it wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest



from helpers import config, evaluation, splits

METRICS = ("loss", "accuracy", "auc", "precision", "recall", "f1")
N_ACTORS = 24
SMOKE = config.get_profile("smoke")


@pytest.fixture(scope="module")
def run05(smoke_run):
    smoke_run.ensure("05")
    return smoke_run


def test_table3_has_the_original_split_and_the_kfold_mean_beside_the_report(run05):
    table = run05.table("table3_gender")
    # The reconstruction on the report's split and k-fold; `ours` on the same k-fold folds.
    assert table[["recipe", "split"]].values.tolist() == [
        ["original", "original-split"], ["original", "k-fold"], ["ours", "k-fold"]]
    required = ["recipe", "split", "n_test", *METRICS, *(f"{m}_std" for m in METRICS)]
    assert set(required) <= set(table.columns)
    for metric in METRICS:
        assert (table[f"published_{metric}"] == evaluation.ORIGINAL_TABLE3[metric]).all()
    for metric in ("accuracy", "precision", "recall", "f1"):
        assert table[metric].between(0, 1).all(), metric
    clips = N_ACTORS * SMOKE.clips_per_actor
    assert table.loc[0, "n_test"] == 6 * SMOKE.clips_per_actor  # six test actors
    assert table.loc[1, "n_test"] == clips and table.loc[1, "folds"] == SMOKE.n_folds
    assert table.loc[2, "n_test"] == clips and table.loc[2, "folds"] == SMOKE.n_folds
    assert (run05.outputs / "tables" / "table3_gender.md").read_text().count("\n") == 5
    ours = json.loads((run05.outputs / "models" / "gender_ours.json").read_text())
    assert ours["features"] == "log_mel" and ours["recipe"]["name"] == "ours"
    assert ours["recipe"]["solver"] == "gmm"
    assert ours["mode"] == "single-clip" and ours["labels"] == ["male", "female"]


def test_per_actor_accuracy_covers_the_test_actors(run05):
    table = run05.table("gender_per_actor")
    original = table[table["split"] == "original-split"]
    assert len(original) == 6 and original["gender"].value_counts().to_dict() == {"female": 3,
                                                                                   "male": 3}
    kfold = table[table["split"] == "k-fold"]
    assert sorted(kfold["actor"]) == list(range(1, N_ACTORS + 1))
    assert (kfold["n_clips"] == SMOKE.clips_per_actor).all()
    assert np.allclose(kfold["accuracy"], 1 - kfold["n_errors"] / kfold["n_clips"])


def test_out_of_fold_predictions_follow_the_documented_folds(run05):
    oof = run05.table("gender_oof_predictions")
    assert list(oof.columns[:4]) == ["clip_id", "actor", "fold", "p_female"]
    assert oof["clip_id"].is_unique and len(oof) == N_ACTORS * SMOKE.clips_per_actor
    assert oof["p_female"].between(0, 1).all()
    # The folds are splits.speaker_folds(clean items, n_folds, seed) by zero-based fold number.
    items = oof.assign(gender=np.where(oof["actor"] % 2, "male", "female"))
    for split in splits.speaker_folds(items, n_folds=SMOKE.n_folds, seed=config.SEED):
        assert set(oof.loc[oof["fold"] == split.fold, "actor"]) == set(split.test_actors)


def test_model_sidecar_metrics_and_figures(run05):
    sidecar = json.loads((run05.outputs / "models" / "gender.json").read_text())
    assert (run05.outputs / "models" / "gender.keras").stat().st_size > 1_000_000
    assert sidecar["task"] == "gender" and sidecar["labels"] == ["male", "female"]
    assert sidecar["positive_label"] == "female"
    assert config.FeatureConfig.from_dict(sidecar["feature_config"]) == config.FEATURES
    assert len(sidecar["test_actors"]) == 6 and len(sidecar["train_actors"]) == 12
    assert not set(sidecar["test_actors"]) & set(sidecar["train_actors"])
    assert sidecar["hyperparameters"]["dense_units"] == 256
    assert sidecar["training"]["batch_size"] == 16
    assert set(METRICS) <= set(sidecar["metrics"])

    metrics = run05.metrics("05_gender")
    for key in ("parameters", "seed", "data_fingerprint", "versions", "trainable_params",
                "original_split", "kfold", "per_actor", "table3", "wall_seconds"):
        assert key in metrics, key
    assert metrics["data_fingerprint"] == sidecar["data_fingerprint"]
    assert abs(metrics["trainable_params"] / metrics["original_trainable_params"] - 1) < 0.01
    assert len(metrics["kfold"]["folds"]) == SMOKE.n_folds
    assert metrics["parameters"]["epochs"] == SMOKE.gender_epochs
    assert metrics["parameters"]["steps_per_epoch"] == SMOKE.gender_steps_per_epoch
    for name in ("gender_curves", "gender_per_actor", "gender_confusion_original",
                 "gender_confusion_kfold"):
        assert (run05.outputs / "figures" / f"{name}.png").stat().st_size > 0


def test_the_ours_ablation_trains_each_variant_on_the_same_folds(run05):
    table = run05.table("ablation_ours_gender")
    # (`smoke` drops the recipe's response copies, so there is no row without them.)
    assert table["variant"].tolist() == ["full recipe", "32 Gaussians per gender, not 64",
                                         "every frame of the window, not only speech"]
    assert table["accuracy"].between(0, 1).all() and (table["worst_fold"] <= table["accuracy"]).all()
    assert np.allclose(table["delta_accuracy"], table["accuracy"] - table.loc[0, "accuracy"])
    # The full recipe's row is Table 3's `ours` row: the same models, not trained again.
    ours = run05.table("table3_gender").query("recipe == 'ours'")
    assert table.loc[0, "accuracy"] == pytest.approx(ours["accuracy"].iloc[0], abs=1e-6)
