"""What the model cache promises: a damaged entry is retrained, and every setting is in the key.

Tiny data (functionals-shaped vectors of 12 features) and tiny models keep each training to a
fraction of a second, so each promise is checked by really training, not by reading the key.
"""

from __future__ import annotations

import os
import re
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import training  # noqa: E402

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
