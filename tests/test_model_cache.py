"""What the model cache promises: a damaged entry is retrained, and every setting is in the key.

Tiny data (functionals-shaped vectors of 12 features) and tiny models keep each training to a
fraction of a second, so each promise is checked by really training, not by reading the key.
"""

from __future__ import annotations

import os
import re
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import models, recipes, splits, training  # noqa: E402
from tests.factories import item_table  # noqa: E402

N_FEATURES = 12
N_CLASSES = 3


def build_tiny(*, seed: int = 0) -> keras.Model:
    """A compiled Dense classifier on 12 features."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((N_FEATURES,), name="features")
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, N_FEATURES)).astype(np.float32)
    labels = np.argmax(x[:, :N_CLASSES], axis=1)
    return x, keras.utils.to_categorical(labels, N_CLASSES)


# ----------------------------------------------------------------------------------------------
# A corrupt cache entry
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [b"", b"not a zip archive, a torn download",
                                    b"PK\x03\x04" + b"\x00" * 64])
def test_a_corrupt_cache_entry_is_retrained_with_a_warning(data, tmp_path, damage):
    x, y = data
    fits = []

    def fit(model):
        fits.append(model)
        return training.fit_model(model, x, y, x_val=None, y_val=None, epochs=3, seed=0)

    first, _, cached = training.train_or_load("tiny-entry", build=build_tiny, fit=fit, folder=tmp_path)
    assert not cached and len(fits) == 1
    [entry] = tmp_path.glob("tiny-entry-*.keras")
    entry.write_bytes(damage)

    with pytest.warns(UserWarning, match=rf"{re.escape(str(entry))}.*retrain"):
        model, history, cached = training.train_or_load("tiny-entry", build=build_tiny, fit=fit,
                                                        folder=tmp_path)

    assert not cached and len(fits) == 2
    assert len(history["loss"]) == 3
    # Retrained from the same seed on the same data: the same usable model as the first time.
    probabilities = training.predict_proba(model, x)
    np.testing.assert_allclose(probabilities, training.predict_proba(first, x), atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # The damaged file was replaced: the next call loads it, without a warning or a fit.
    assert entry.stat().st_size > len(damage)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, _, cached = training.train_or_load("tiny-entry", build=build_tiny, fit=fit,
                                                  folder=tmp_path)
    assert cached and len(fits) == 2
    assert not [w for w in caught if str(entry) in str(w.message)]
    np.testing.assert_allclose(training.predict_proba(again, x), probabilities, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Every training setting of a recipe is in the key
# ----------------------------------------------------------------------------------------------


def functionals_builder(input_shape, *, normalization, **kwargs):
    """The ``ours`` builder, also for one scalar mean and std (spread over the features)."""
    mean, std = (np.broadcast_to(np.asarray(v, dtype=np.float64), input_shape) for v in normalization)
    return models.build_functionals_mlp(input_shape, normalization=(mean, std), **kwargs)


def same_builder(input_shape, **kwargs):
    """The same builder under another name: the same architecture, another recipe."""
    return functionals_builder(input_shape, **kwargs)


def base_recipe() -> recipes.Recipe:
    """``ours`` as a tiny logistic regression trained by gradient steps, with two speed copies."""
    return recipes.get_recipe("emotion", "ours").replace(
        builder=functionals_builder, solver="gradient", class_weight=None, epochs=2, batch_size=16, patience=1, monitor="val_loss",
        min_delta=0.0, schedule="constant", ensemble=1, speed_perturbation=(0.9, 1.1),
        test_time_speeds=(), channel_copies=0, level_db=None, steps_per_epoch=None,
        trim_floor_db=None, trim_after_chain=False)  # the later fields at their defaults


#: One changed value per field that determines the weights.
CHANGES = {
    "builder": same_builder,
    "features": "egemaps",
    "hyperparameters": {**recipes.OURS_EMOTION_HYPERPARAMETERS, "l2": 0.01},
    "normalization": "scalar",
    "epochs": 3,
    "batch_size": 8,
    "steps_per_epoch": 2,
    "monitor": "val_uar",
    "min_delta": 0.01,
    "patience": 2,
    "schedule": "cosine",
    "solver": "lbfgs",
    "ensemble": 2,
    "speed_perturbation": (0.9, 1.2),
    "level_db": -20.0,
    "trim_db": 30.0,
    "trim_floor_db": 6.0,
    "trim_after_chain": True,
}
#: Fields that do not change the weights (the name, the description, the test-time averaging)
#: or cannot change alone (a task has its own labels and outputs; the number of multi-condition
#: copies must match the copies passed, which are hashed themselves; class weights need the
#: L-BFGS solver, and test_recipes' test of them checks that they are in the key).
NOT_TRAINING_SETTINGS = {"name", "description", "task", "test_time_speeds", "channel_copies", "class_weight"}


def recipe_data(*, n_actors: int = 4, clips_per_emotion: int = 1):
    rng = np.random.default_rng(1)
    items = item_table(actors=range(1, n_actors + 1), clips_per_emotion=clips_per_emotion)
    labels = items["emotion_code"].to_numpy() - 1
    x = rng.normal(size=(len(items), N_FEATURES)).astype(np.float32)
    x[np.arange(len(items)), labels] += 3.0
    copies = [x + rng.normal(scale=0.1, size=x.shape).astype(np.float32) for _ in range(2)]
    split = splits.Split(name="t", train=np.flatnonzero(items["actor"] <= 2),
                         validation=np.flatnonzero(items["actor"] == 3),
                         test=np.flatnonzero(items["actor"] == 4))
    return x, labels, split, copies


def test_every_recipe_field_is_covered():
    fields = {field.name for field in dataclasses.fields(recipes.Recipe)}
    assert set(CHANGES) | NOT_TRAINING_SETTINGS == fields, "a new Recipe field needs a case here"
    assert not set(CHANGES) & NOT_TRAINING_SETTINGS


def test_a_field_added_later_names_no_model_while_it_holds_its_default():
    # So that the models cached before the field existed stay valid for the recipes that do not
    # use it; set, it is part of the key (test_changing_any_training_setting_retrains).
    base = base_recipe()
    assert set(recipes.LATER_FIELDS) <= {field.name for field in dataclasses.fields(recipes.Recipe)}
    assert all(getattr(base, field) == default for field, default in recipes.LATER_FIELDS.items())
    assert set(base.cache_record()) == set(dataclasses.asdict(base)) - set(recipes.LATER_FIELDS)
    assert base.replace(trim_floor_db=6.0).cache_record()["trim_floor_db"] == 6.0
    with pytest.raises(recipes.RecipeError, match="trim_floor_db=6.0 refines the trim; it needs trim_db"):
        base.replace(trim_db=None, trim_floor_db=6.0)


def cached_trainer(folder):
    """``train(recipe)`` on the tiny recipe data, through the model cache in ``folder``."""
    x, labels, split, copies = recipe_data()

    def train(recipe):
        return training.train_recipe(recipe, x, labels, split, seed=0, data_key="k",
                                     cache_folder=folder, augmented=copies)

    return train


def test_changing_any_training_setting_retrains(tmp_path):
    train, base = cached_trainer(tmp_path), base_recipe()
    assert not train(base).cached
    assert train(base).cached
    served_from_cache = []
    for field, value in CHANGES.items():
        changed = base.replace(**{field: value})
        assert getattr(changed, field) != getattr(base, field), field
        if train(changed).cached:
            served_from_cache.append(field)
    assert served_from_cache == []


def test_settings_outside_training_keep_the_cache_or_cannot_change_alone(tmp_path):
    train, base = cached_trainer(tmp_path), base_recipe()
    first = train(base)
    # Averaging over the speed copies at test time does not touch the weights.
    assert train(base.replace(test_time_speeds=(0.9, 1.1))).cached
    # The multi-condition copies are counted against the copies passed (and those are hashed),
    # so a recipe with another count never reaches the cache with the old ones.
    with pytest.raises(training.TrainingError, match="augmented holds 2 copies"):
        train(base.replace(channel_copies=1))
    assert not first.cached
