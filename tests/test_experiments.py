"""The emotion experiment runner: protocols share one code path, results and caching."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import config, experiments, model_files, training
from helpers.errors import ConfigError
from tests.factories import item_table, ravdess_clip_id

TINY = config.Profile("tiny", clips_per_actor=None, max_epochs=2, early_stopping_patience=1,
                      n_folds=2, batch_size=16)


def tiny_items(*, n_actors: int = 8, clips_per_emotion: int = 2, seed: int = 0):
    """Items for ``n_actors`` actors × 8 emotions, and features with a class-dependent offset."""
    rng = np.random.default_rng(seed)
    items = item_table(actors=range(1, n_actors + 1), clips_per_emotion=clips_per_emotion,
                       clip_id=ravdess_clip_id)
    x = rng.normal(size=(len(items), 8, 12)).astype(np.float32)
    x += (items["emotion_code"].to_numpy()[:, None, None] - 4.5).astype(np.float32)
    return x, items


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    return tmp_path / "models"


def test_make_splits_per_protocol():
    _, items = tiny_items()
    assert len(experiments.make_splits(items, protocol="original", seed=1, n_folds=2)) == 1
    folds = experiments.make_splits(items, protocol="speaker-independent", seed=1, n_folds=2)
    assert len(folds) == 2
    for split in folds:
        train, test = set(items.iloc[split.train]["actor"]), set(items.iloc[split.test]["actor"])
        assert not train & test
    with pytest.raises(ConfigError, match="protocol='random'"):
        experiments.make_splits(items, protocol="random", seed=1, n_folds=2)


def test_emotion_labels_follow_config_order():
    _, items = tiny_items(n_actors=2, clips_per_emotion=1)
    labels = experiments.emotion_labels(items)
    assert [config.EMOTIONS[i] for i in labels] == items["emotion"].tolist()


def test_run_protocol_rows_cache_and_sidecar(model_cache, tmp_path):
    x, items = tiny_items()
    hyper = {"dropout_rate": 0.1, "learning_rate": 0.01, "filters": (4, 8), "dense_units": 16}
    result = experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                      profile=TINY, hyperparameters=hyper, seed=3, data_key="tiny")
    row = result.row()
    assert row["folds"] == 2 and row["n_test"] == len(items)  # every item tested exactly once
    for key in experiments.TABLE1_METRICS:
        assert np.isfinite(row[key]) and f"{key}_std" in row
    assert 0.0 <= row["accuracy_binary"] <= 1.0
    assert result.confusion().sum() == len(items)
    assert not any(fold.cached for fold in result.folds)
    # Notebook 03's metrics record: detailed for the reconstruction, short for `ours`.
    record = experiments.results_record({("clean", "speaker-independent"): result},
                                        {("speaker-independent", "single-clip"): result})
    assert list(record) == ["clean/speaker-independent", "ours/speaker-independent/single-clip"]
    detailed, short = record.values()
    assert list(detailed) == ["row", "per_class", "confusion", "splits", "epochs"]
    assert list(short) == ["row", "confusion", "epochs"]
    assert detailed["row"] == row and detailed["confusion"] == result.confusion().tolist()
    assert detailed["splits"] == [fold.split.to_dict() for fold in result.folds]
    assert detailed["epochs"] == [len(fold.history["loss"]) for fold in result.folds]
    assert 1 <= detailed["epochs"][0] <= TINY.max_epochs

    again = experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                     profile=TINY, hyperparameters=hyper, seed=3, data_key="tiny")
    assert all(fold.cached for fold in again.folds)
    for first, second in zip(result.folds, again.folds):
        np.testing.assert_allclose(first.probabilities, second.probabilities, atol=1e-6)

    keras_path, json_path = experiments.save_protocol_model(
        result, tmp_path / "emotion_clean_speaker-independent.keras",
        feature_config=config.FEATURES, data_fingerprint="tiny")
    model, sidecar = model_files.load_model_with_sidecar(keras_path)
    assert sidecar["labels"] == list(config.EMOTIONS)
    assert sidecar["protocol"] == "speaker-independent"
    assert sidecar["test_actors"] == list(result.folds[0].split.test_actors)
    assert sidecar["trainable_params"] > 0
    probabilities = training.predict_proba(model, training.add_channel_axis(x[result.folds[0].split.test]))
    np.testing.assert_allclose(probabilities, result.folds[0].probabilities, atol=1e-5)


def test_changed_hyperparameters_retrain(model_cache):
    x, items = tiny_items(n_actors=4, clips_per_emotion=1)
    base = {"dropout_rate": 0.1, "learning_rate": 0.01, "filters": (4,), "dense_units": 8}
    first = experiments.run_protocol(x, items, variant="clean", protocol="original", profile=TINY,
                                     hyperparameters=base, seed=0, data_key="k")
    changed = experiments.run_protocol(x, items, variant="clean", protocol="original", profile=TINY,
                                       hyperparameters={**base, "dropout_rate": 0.2}, seed=0, data_key="k")
    assert not first.folds[0].cached and not changed.folds[0].cached


def test_run_protocol_rejects_misaligned_inputs():
    x, items = tiny_items(n_actors=2, clips_per_emotion=1)
    with pytest.raises(ConfigError, match="rows"):
        experiments.run_protocol(x[:-1], items, variant="clean", protocol="original", profile=TINY,
                                 hyperparameters={}, seed=0, data_key="k")
