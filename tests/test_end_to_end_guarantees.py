"""Guarantees checked end to end, on real features of a tiny generated tree, not per helper.

- Speaker independence on the aggregation variant: spying on what training receives, no test
  actor's item, clean or noisy, reaches training or validation, and the model's input
  normalisation holds the statistics of the training rows only.
- The emotion CNN retrained twice with ``force`` has identical weights.
- The Keras metrics the model logged equal :func:`helpers.experiments.evaluate_emotion` on the
  same predictions.

The tree has eight actors (four female, four male) with two clips each, so two
speaker-independent folds hold two test actors, one validation actor and one training actor per
gender; the aggregation variant holds each clip four times (clean, white, urban, white+urban).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import make_ravdess_tree, make_us8k_tree  # noqa: E402
from helpers import config, datasets, experiments, features, training  # noqa: E402

TINY = config.Profile("tiny", clips_per_actor=None, max_epochs=3, early_stopping_patience=2,
                      n_folds=2, batch_size=8)
#: The reconstruction's CNN, narrowed so that a fold trains in about a second.
SMALL_CNN = {"dropout_rate": 0.25, "learning_rate": 0.01, "filters": (4, 8), "dense_units": 16}


@pytest.fixture(scope="module")
def feature_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    make_ravdess_tree(root / "ravdess", actors=range(1, 9), emotions=(1, 5))
    make_us8k_tree(root / "urbansound8k", folds=(1,))
    manifest, _ = datasets.find_ravdess(root / "ravdess")
    noise, _ = datasets.load_urbansound8k(root / "urbansound8k", folds=1)
    return features.build_features(manifest, noise["path"].tolist(), cache_dir=root / "cache",
                                   n_jobs=1)


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    return tmp_path / "models"


def row_index(x: np.ndarray) -> dict[bytes, int]:
    """Each row's bytes → its index; every row of ``x`` must be distinct."""
    index = {np.ascontiguousarray(row).tobytes(): i for i, row in enumerate(x)}
    assert len(index) == len(x), "two items have identical features: rows cannot be traced"
    return index


def received_rows(inputs, index: dict[bytes, int]) -> list[int]:
    """The rows of the variant's features that a fit received (channel axis dropped)."""
    array = np.asarray(inputs)[..., 0]
    return [index[np.ascontiguousarray(row).tobytes()] for row in array]


# ----------------------------------------------------------------------------------------------
# Speaker independence on the aggregation variant
# ----------------------------------------------------------------------------------------------


def test_no_test_actor_reaches_training_on_the_aggregation_variant(feature_set, model_cache,
                                                                   monkeypatch):
    x, items = feature_set.variant("aggregation")
    assert sorted(items["variant"].unique()) == sorted(config.NOISE_VARIANTS)
    index = row_index(x)
    fits = []
    real_fit = training.fit_model

    def spying_fit(model, x_train, y_train, *, x_val, y_val, **kwargs):
        fits.append({"model": model, "train": received_rows(x_train, index),
                     "validation": received_rows(x_val, index), "y_train": np.asarray(y_train)})
        return real_fit(model, x_train, y_train, x_val=x_val, y_val=y_val, **kwargs)

    monkeypatch.setattr(training, "fit_model", spying_fit)
    result = experiments.run_protocol(x, items, variant="aggregation",
                                      protocol="speaker-independent", profile=TINY,
                                      hyperparameters=SMALL_CNN, seed=3, data_key=feature_set.key,
                                      force=True)

    assert len(fits) == len(result.folds) == TINY.n_folds
    tested = set()
    for fit, fold in zip(fits, result.folds):
        split = fold.split
        test_actors = set(split.test_actors)
        seen = items.iloc[fit["train"] + fit["validation"]]
        test = items.iloc[split.test]
        # Training and validation got exactly the split's rows, in every noise version...
        assert sorted(fit["train"]) == sorted(split.train)
        assert sorted(fit["validation"]) == sorted(split.validation)
        assert set(items.iloc[fit["train"]]["variant"]) == set(config.NOISE_VARIANTS)
        # ...and none of them is a test actor's, nor any version of a test recording.
        assert not test_actors & set(seen["actor"])
        assert not set(test["clip_id"]) & set(seen["clip_id"])
        assert set(test["actor"]) == test_actors
        assert (test.groupby("clip_id")["variant"].nunique() == len(config.NOISE_VARIANTS)).all()
        assert set(items.iloc[fit["train"]]["actor"]) == set(split.train_actors)
        np.testing.assert_array_equal(np.argmax(fit["y_train"], axis=1),
                                      experiments.emotion_labels(items)[fit["train"]])
        # The model standardises with the training rows' statistics, not the validation's nor
        # the test's: the held-out actors' clips would shift both.
        train_rows = np.flatnonzero(items["actor"].isin(split.train_actors).to_numpy())
        mean = float(np.mean(x[train_rows], dtype=np.float64))
        std = float(np.std(x[train_rows], dtype=np.float64))
        layer = fit["model"].get_layer("normalization")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mean), mean, rtol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.variance), std**2, rtol=1e-4)
        everything = float(np.mean(x[np.concatenate([train_rows, split.validation, split.test])],
                                   dtype=np.float64))
        assert everything != pytest.approx(mean, rel=1e-5)
        tested |= test_actors
    assert tested == set(items["actor"])  # every actor was a test actor exactly once


# ----------------------------------------------------------------------------------------------
# Determinism and the logged metrics
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def clean_fold(feature_set):
    x, items = feature_set.variant("clean")
    split = experiments.make_splits(items, protocol="speaker-independent", seed=3, n_folds=2)[0]
    return x, experiments.emotion_labels(items), split


def test_the_emotion_cnn_retrained_with_force_has_identical_weights(clean_fold, model_cache,
                                                                    graph_mode):
    x, y, split = clean_fold
    runs = [experiments.train_split(x, y, split, hyperparameters=SMALL_CNN, profile=TINY, seed=5,
                                    data_key="clean", force=True) for _ in range(2)]
    (first, first_model), (second, second_model) = runs
    assert not first.cached and not second.cached
    assert first.history == second.history
    weights = first_model.get_weights()
    assert len(weights) == len(second_model.get_weights()) > 0
    for a, b in zip(weights, second_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.probabilities, second.probabilities)


def test_logged_keras_metrics_equal_evaluate_emotion(clean_fold, model_cache):
    x, y, split = clean_fold
    fold, model = experiments.train_split(x, y, split, hyperparameters=SMALL_CNN, profile=TINY,
                                          seed=5, data_key="clean", force=True)
    recipe = experiments.emotion_recipe(TINY, hyperparameters=SMALL_CNN)
    # The model holds the weights of the epoch early stopping kept; that epoch's logged
    # validation metrics were computed with exactly these weights.
    best = training.restored_epoch(fold.history["val_loss"], recipe.min_delta) - 1
    logged = {name: fold.history[f"val_{name}"][best]
              for name in ("loss", "accuracy_binary", "accuracy", "auc", "precision", "recall")}
    probabilities = training.predict_proba(model, training.add_channel_axis(x[split.validation]))
    ours = experiments.evaluate_emotion(y[split.validation], probabilities)
    assert logged["loss"] == pytest.approx(ours["loss"], rel=1e-5, abs=1e-6)
    # "accuracy_binary": the original's binary accuracy over one-hot cells; "accuracy": top-1.
    assert logged["accuracy_binary"] == pytest.approx(ours["accuracy_binary"], abs=1e-6)
    assert logged["accuracy"] == pytest.approx(ours["accuracy"], abs=1e-6)
    assert logged["precision"] == pytest.approx(ours["precision"], abs=1e-6)
    assert logged["recall"] == pytest.approx(ours["recall"], abs=1e-6)
    # Keras's AUC sums 200 thresholds; evaluation's is exact (its docstring: within ~0.01).
    assert logged["auc"] == pytest.approx(ours["auc"], abs=0.01)

    # The test-set metrics of the fold are evaluate_emotion's; Keras's own evaluate agrees.
    one_hot = np.eye(len(config.EMOTIONS), dtype=np.float32)[y[split.test]]
    keras_test = model.evaluate(training.add_channel_axis(x[split.test]), one_hot, verbose=0,
                                return_dict=True)
    assert keras_test["loss"] == pytest.approx(fold.metrics["loss"], rel=1e-5, abs=1e-6)
    assert keras_test["accuracy_binary"] == pytest.approx(fold.metrics["accuracy_binary"], abs=1e-6)
    assert keras_test["accuracy"] == pytest.approx(fold.metrics["accuracy"], abs=1e-6)
    assert keras_test["precision"] == pytest.approx(fold.metrics["precision"], abs=1e-6)
    assert keras_test["recall"] == pytest.approx(fold.metrics["recall"], abs=1e-6)
    assert keras_test["auc"] == pytest.approx(fold.metrics["auc"], abs=0.01)
