"""Fusion helpers: the gender classifier of a fold, the fusion table, the error cost.

The leak-free gender splits are tested in tests/test_splits.py, the paired differences in
tests/test_evaluation.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, experiments, fusion, gender, recipes, splits, training  # noqa: E402
from tests import factories  # noqa: E402
from tests.factories import paired_fold_table  # noqa: E402


def item_table(*, clips_per_actor: int = 2, versions: tuple[str, ...] = ("clean",)) -> pd.DataFrame:
    """24 actors (odd male, even female), ``clips_per_actor`` recordings, one row per version."""
    table = factories.item_table(actors=range(1, 25), clips_per_actor=clips_per_actor,
                                 clip_id="{actor:02d}-{take}", variants=versions)
    return table[["actor", "gender", "clip_id", "emotion_code", "emotion", "variant"]]


# ----------------------------------------------------------------------------------------------
# The gender classifier of a fold
# ----------------------------------------------------------------------------------------------


def test_predict_gender_for_fold_never_trains_on_test_actors(tmp_path, monkeypatch):
    # Each spectrogram is filled with its actor's number, so what reached the gender model's
    # fit can be read off the arrays it was given.
    items = item_table(clips_per_actor=2)
    x = np.repeat(items["actor"].to_numpy(dtype=np.float32), 8 * 10).reshape(-1, 8, 10)
    split = splits.speaker_folds(items, n_folds=3, seed=3)[1]
    seen = []
    real_fit = training.fit_model

    def spy(model, x_train, y_train, *, x_val, y_val, **kwargs):
        seen.extend(np.unique(x_train).tolist())
        seen.extend(np.unique(x_val).tolist())
        return real_fit(model, x_train, y_train, x_val=x_val, y_val=y_val, **kwargs)

    monkeypatch.setattr(training, "fit_model", spy)
    profile = config.Profile("tiny", clips_per_actor=2, max_epochs=1, early_stopping_patience=1,
                             n_folds=3, gender_epochs=1, gender_steps_per_epoch=1)
    tiny_gender = recipes.original_gender(dense_units=4, filters=2).for_profile(profile)
    result = fusion.predict_gender_for_fold(
        x, items, x[split.test], items.iloc[split.test], split, profile=profile, seed=0,
        data_key="test:clean", recipe=tiny_gender, cache_folder=tmp_path)
    assert seen, "the gender model was not trained"
    assert not set(int(v) for v in seen) & set(split.test_actors)
    assert not set(result.trained_on_actors) & set(result.test_actors)
    assert result.test_actors == split.test_actors
    assert result.p_female.shape == (len(split.test),)
    assert np.all((result.p_female >= 0) & (result.p_female <= 1))
    np.testing.assert_array_equal(result.y_true, gender.gender_labels(items.iloc[split.test]))
    # A second call finds the model in the cache and predicts the same.
    again = fusion.predict_gender_for_fold(
        x, items, x[split.test], items.iloc[split.test], split, profile=profile, seed=0,
        data_key="test:clean", recipe=tiny_gender, cache_folder=tmp_path)
    assert again.cached and not result.cached
    np.testing.assert_allclose(again.p_female, result.p_female, atol=1e-6)


def test_fusion_loads_notebook_05s_gender_models_from_the_cache(tmp_path):
    # Notebook 05 trains its k-fold gender models with the report's settings spelled out; the
    # fusion study's default recipe is the same one, so on the same folds it trains nothing.
    items = item_table(clips_per_actor=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(items), 8, 10)).astype(np.float32)
    profile = config.Profile("tiny", clips_per_actor=2, max_epochs=1, early_stopping_patience=1,
                             n_folds=3, gender_epochs=1, gender_steps_per_epoch=1)
    folds = splits.speaker_folds(items, n_folds=3, seed=3)
    settings = dict(hyperparameters={"learning_rate": 0.001, "dropout_rate": 0.5,
                                     "dense_units": 256, "filters": 64},
                    epochs=profile.gender_epochs, steps_per_epoch=profile.gender_steps_per_epoch,
                    batch_size=16, seed=0, data_key="test:clean", cache_folder=tmp_path)
    trained, _ = gender.run_gender_folds(x, items, folds[:1], **settings)
    assert not trained[0].cached
    shared = fusion.predict_gender_for_fold(
        x, items, x[folds[0].test], items.iloc[folds[0].test], folds[0], profile=profile, seed=0,
        data_key="test:clean", cache_folder=tmp_path)
    assert shared.cached
    np.testing.assert_allclose(shared.p_female, trained[0].p_female, atol=1e-6)
    # Another recipe is another model.
    other = fusion.predict_gender_for_fold(
        x, items, x[folds[0].test], items.iloc[folds[0].test], folds[0], profile=profile, seed=0,
        data_key="test:clean", cache_folder=tmp_path,
        recipe=recipes.original_gender(dense_units=128).for_profile(profile))
    assert not other.cached


# ----------------------------------------------------------------------------------------------
# The fusion table (paired differences: tests/test_evaluation.py)
# ----------------------------------------------------------------------------------------------


def test_summarise_fusion_mean_std_and_paired_difference():
    summary = fusion.summarise_fusion(paired_fold_table())
    assert list(zip(summary["model"], summary["gender_source"])) == [
        ("plain", "none"), ("fusion", "true"), ("fusion", "predicted")]
    row = summary.iloc[2]
    assert row["folds"] == 3
    assert row["uar"] == pytest.approx(np.mean([0.42, 0.49, 0.66]))
    assert row["uar_std"] == pytest.approx(np.std([0.42, 0.49, 0.66], ddof=1))
    assert row["delta_uar"] == pytest.approx(np.mean([0.02, -0.01, 0.06]))
    assert row["delta_uar_std"] == pytest.approx(np.std([0.02, -0.01, 0.06], ddof=1))
    assert row["delta_macro_f1"] == pytest.approx(np.mean([0.01, -0.05, 0.06]))
    assert row["gender_accuracy"] == pytest.approx(0.9)
    true_row = summary.iloc[1]
    assert true_row["delta_uar"] == pytest.approx((0.05 + 0.02 + 0.10) / 3)
    assert true_row["delta_uar_std"] == pytest.approx(np.std([0.05, 0.02, 0.10], ddof=1))
    assert summary.iloc[0][["delta_uar", "delta_uar_std"]].tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------------------------
# A result assembled by hand: the fold table, the error cost and the conclusion
# ----------------------------------------------------------------------------------------------


def one_hot_probabilities(labels, n_classes=8):
    return np.eye(n_classes)[np.asarray(labels)] * 0.92 + 0.01


def hand_result() -> fusion.FusionResult:
    folds = []
    for index in range(2):
        y = np.array([0, 1, 2, 3])
        gender_true = np.array([1.0, 0.0, 1.0, 0.0])
        p_female = np.array([0.9, 0.2, 0.3, 0.1])  # the third item is wrongly gendered
        right, wrong = one_hot_probabilities(y), one_hot_probabilities([1, 2, 3, 4])
        mixed = right.copy()
        mixed[2] = wrong[2]
        probabilities = {("plain", "none"): mixed, ("fusion", "true"): right,
                         ("fusion", "predicted"): mixed, ("fusion", "predicted-probability"): mixed,
                         ("per-gender", "true"): right, ("per-gender", "predicted"): mixed,
                         ("per-gender", "predicted-probability"): mixed}
        gender = fusion.GenderFold(split_name=f"speaker-fold-{index + 1}",
                                   trained_on_actors=(1, 2), test_actors=(3, 4),
                                   p_female=p_female, y_true=gender_true,
                                   metrics={"accuracy": 0.75, "auc": 1.0, "f1": 0.667},
                                   history={"loss": [0.7]}, cached=False)
        split = splits.Split(f"speaker-fold-{index + 1}", train=[0], validation=[1],
                             test=[2, 3, 4, 5], fold=index, seed=0, train_actors=(1,),
                             validation_actors=(2,), test_actors=(3, 4))
        folds.append(fusion.FusionFold(
            split=split, gender=gender, y_true=y, probabilities=probabilities,
            metrics={k: experiments.evaluate_emotion(y, v) for k, v in probabilities.items()},
            flip_changed=[0.0, 0.04][index], flip_shift=0.01))
    return fusion.FusionResult(variant="clean", gender_variant="clean", folds=folds,
                               hyperparameters={}, gender_hyperparameters={},
                               fusion_model=None, fusion_history={"loss": [1.0]})


def test_fold_table_and_error_cost():
    result = hand_result()
    table = result.fold_table()
    assert len(table) == 2 * 7
    fused = table[(table["model"] == "fusion") & (table["gender_source"] == "predicted")]
    assert fused["gender_accuracy"].tolist() == [0.75, 0.75]
    assert fused["accuracy"].tolist() == [0.75, 0.75]
    cost = result.error_cost()
    assert cost["gender_accuracy"] == pytest.approx(0.75)
    assert cost["n_wrong"] == 2 and cost["n_test"] == 8
    assert cost["accuracy_on_wrong_true"] == 1.0
    assert cost["accuracy_on_wrong_predicted"] == 0.0
    assert cost["uar_cost"] > 0
    text = fusion.describe_fusion(table, cost)
    assert "Fusion with the predicted gender" in text
    assert "2 of 8 wrong" in text
    assert cost["flip_changed"] == pytest.approx(0.02) and cost["flip_shift"] == pytest.approx(0.01)
    assert "changes its predicted emotion on 2.0% of the test items" in text
    assert "makes little use of its gender input" in text
    gender = result.gender_table()
    assert gender["n_wrong"].tolist() == [1, 1]
    assert gender["trained_on_actors"].tolist() == ["1 2", "1 2"]
    assert gender["fusion_flip_changed"].tolist() == [0.0, 0.04]
