"""Fitting, early stopping, the model cache and sidecars, on tiny Dense models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import hashlib  # noqa: E402
import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import config, models, training  # noqa: E402
from helpers.errors import ProjectError  # noqa: E402
from helpers.model_files import (  # noqa: E402
    ModelFileError,
    architecture_digest,
    load_model_with_sidecar,
    save_model_with_sidecar,
)
from helpers.training import (  # noqa: E402
    TrainingError,
    add_channel_axis,
    fit_model,
    make_early_stopping,
    predict_proba,
    train_or_load,
    training_key,
)

N_FEATURES = 8
N_CLASSES = 3


def build_tiny(*, learning_rate: float = 0.01, seed: int = 0) -> keras.Model:
    """Dense classifier on 8 features: small enough to fit in a fraction of a second."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((N_FEATURES,), name="features")
    hidden = keras.layers.Dense(6, activation="relu")(inputs)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def build_fusion() -> keras.Model:
    """Two inputs, as a spectrogram + gender-probability fusion model would have."""
    keras.utils.set_random_seed(0)
    features = keras.Input((N_FEATURES,), name="features")
    gender = keras.Input((1,), name="gender")
    joined = keras.layers.Concatenate()([features, gender])
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(joined)
    model = keras.Model([features, gender], outputs, name="fusion")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, N_FEATURES)).astype("float32")
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    y = keras.utils.to_categorical(labels, N_CLASSES)
    return x, y


def test_fit_model_returns_per_epoch_history(data):
    x, y = data
    history = fit_model(build_tiny(), x[:32], y[:32], x_val=x[32:], y_val=y[32:], epochs=3,
                        batch_size=8, seed=1, patience=5)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.values())
    assert all(isinstance(v, float) for values in history.values() for v in values)
    json.dumps(history)  # Plain floats: ready for write_json.


def test_fit_model_is_deterministic(data, graph_mode):
    x, y = data
    weights = []
    for _ in range(2):
        model = build_tiny()
        fit_model(model, x[:32], y[:32], x_val=x[32:], y_val=y[32:], epochs=2, batch_size=5,
                  seed=3)
        weights.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_early_stopping_matches_the_original_settings():
    callback = make_early_stopping()
    assert callback.monitor == "val_loss"
    assert callback.patience == 3
    assert abs(abs(callback.min_delta) - 0.03) < 1e-12
    assert callback.restore_best_weights is True


def test_early_stopping_stops_and_restores_the_best_weights(data):
    # Validation labels are the opposite of training labels, so val_loss is lowest after the
    # first epoch and only rises: training stops after `patience` more epochs and the model
    # must come back with the first epoch's weights.
    x, _ = data
    y_train = (x[:, :1] > 0).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_FEATURES,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")

    snapshots = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    history = fit_model(model, x, y_train, x_val=x, y_val=1 - y_train, epochs=20, batch_size=48,
                        patience=2, min_delta=0.0, seed=0, callbacks=[record])
    assert len(history["val_loss"]) == 3  # best epoch + patience epochs
    best = int(np.argmin(history["val_loss"]))
    assert best == 0
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[best]))
    assert not np.array_equal(model.get_weights()[0], snapshots[-1][0])


class BatchCounter(keras.callbacks.Callback):
    """Count the training batches of each epoch."""

    def __init__(self):
        super().__init__()
        self.per_epoch: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


def test_fit_model_accepts_two_inputs_and_fixed_steps(data):
    x, y = data
    gender = (x[:, 2:3] > 0).astype("float32")
    # The Dense kernel's last row multiplies the gender input. Fed zeros, that row gets no
    # gradient and Adam leaves it as initialised; fed the real column, training moves it.
    gender_row = N_FEATURES

    def fit(gender_values):
        model, counter = build_fusion(), BatchCounter()
        before = model.get_weights()[0][gender_row].copy()
        history = fit_model(model, (x[:32], gender_values[:32]), y[:32],
                            x_val={"features": x[32:], "gender": gender_values[32:]}, y_val=y[32:],
                            epochs=4, batch_size=6, steps_per_epoch=3, seed=0, patience=10,
                            callbacks=[counter])
        return model, history, counter, before

    model, history, counter, before = fit(gender)
    assert len(history["loss"]) == 4 and len(history["val_loss"]) == 4
    # Three batches per epoch, not the ceil(32 / 6) = 6 of one pass over the data.
    assert counter.per_epoch == [3, 3, 3, 3]
    assert not np.allclose(model.get_weights()[0][gender_row], before)
    silent, _, _, silent_before = fit(np.zeros_like(gender))
    np.testing.assert_array_equal(silent.get_weights()[0][gender_row], silent_before)
    # The trained model reads its second input: flipping the gender changes the probabilities.
    male = predict_proba(model, [x[:4], np.zeros((4, 1), "float32")])
    female = predict_proba(model, [x[:4], np.ones((4, 1), "float32")])
    assert male.shape == (4, N_CLASSES) and not np.allclose(male, female)


def build_small_cnn(seed: int = 0) -> keras.Model:
    """Conv + pooling + dropout on an 8 x 6 "spectrogram": the kinds of layers the CNNs use."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 6, 1))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    hidden = keras.layers.MaxPooling2D(2, padding="same")(hidden)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    hidden = keras.layers.Dropout(0.3, seed=seed)(hidden)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    return model


class InOrder:
    """Batches of ``batch_size`` rows in their stored order, every epoch (fit's ``shuffle=False``)."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    def __getitem__(self, step):
        rows = slice(step * self.batch_size, (step + 1) * self.batch_size)
        return training._take_rows(self.x, rows), self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("kind", ["cnn", "two inputs"])
def test_run_epochs_is_keras_fit_on_the_same_batches(data, graph_mode, kind):
    # The fast path (run_epochs: fit's loop fed with NumPy batches from this thread) against
    # the reference (Keras's own fit on the arrays, through its tf.data iterator, unshuffled so
    # both see the same batches): the same steps, so the same logs, the same early stop and the
    # same restored weights.
    x, y = data
    if kind == "cnn":
        inputs = np.random.default_rng(1).normal(size=(48, 8, 6, 1)).astype("float32")
        inputs[:, 0, 0, 0] += 2 * y.argmax(1)  # something to learn
        build, train, validation = build_small_cnn, inputs[:32], (inputs[32:], y[32:])
    else:
        gender = (x[:, 2:3] > 0).astype("float32")
        build, train = build_fusion, [x[:32], gender[:32]]
        validation = ([x[32:], gender[32:]], y[32:])

    def stopper():
        return make_early_stopping(patience=1, min_delta=0.0)

    fast, batches = build(), InOrder(train, y[:32], 7)
    keras.utils.set_random_seed(3)
    fast_history = training.run_epochs(fast, batches, epochs=6, validation_data=validation,
                                       validation_batch_size=7, callbacks=[stopper()]).history
    reference = build()
    keras.utils.set_random_seed(3)
    reference_history = reference.fit(train, y[:32], batch_size=7, epochs=6, shuffle=False,
                                      validation_data=validation, verbose=0,
                                      callbacks=[stopper()]).history
    assert set(fast_history) == set(reference_history)
    for name, values in reference_history.items():
        np.testing.assert_allclose(fast_history[name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    assert batches.epochs_ended == len(reference_history["loss"])
    for a, b in zip(fast.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_shuffled_passes_visit_every_item_once_an_epoch_in_a_seeded_order():
    x, y = np.arange(10)[:, None] * 1.0, np.arange(10)

    def epochs(seed, n=3):
        batches = training._ShuffledPasses(x, y, n_items=10, batch_size=4, seed=seed)
        seen = []
        for _ in range(n):
            assert len(batches) == 3
            parts = [batches[step] for step in range(len(batches))]
            assert [len(part[1]) for part in parts] == [4, 4, 2]  # the remainder last, as fit
            assert all(np.array_equal(part[0][:, 0], part[1]) for part in parts)
            seen.append(np.concatenate([part[1] for part in parts]))
            batches.on_epoch_end()
        return seen

    first = epochs(seed=0)
    assert all(sorted(order) == list(range(10)) for order in first)
    assert not np.array_equal(first[0], first[1])  # a new order each epoch
    assert all(np.array_equal(a, b) for a, b in zip(first, epochs(seed=0)))
    assert not np.array_equal(first[0], epochs(seed=1)[0])


def test_predict_proba_equals_keras_predict(data, graph_mode):
    x, _ = data
    model = build_tiny()
    expected = model.predict(x, batch_size=256, verbose=0)
    got = predict_proba(model, x, batch_size=20)  # batches of 20, 20 and 8
    assert got.shape == (48, N_CLASSES) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    fusion = build_fusion()
    pair = [x, (x[:, :1] > 0).astype("float32")]
    np.testing.assert_allclose(predict_proba(fusion, pair, batch_size=13),
                               fusion.predict(pair, verbose=0), rtol=1e-6, atol=1e-7)


def test_fit_model_without_validation_runs_all_epochs(data):
    x, y = data
    history = fit_model(build_tiny(), x, y, x_val=None, y_val=None, epochs=2, seed=0)
    assert set(history) == {"loss", "accuracy"} and len(history["loss"]) == 2


def test_fit_model_rejects_bad_inputs(data):
    x, y = data
    model = build_tiny()
    with pytest.raises(TrainingError, match="y_train has 10 items but x_train has 48"):
        fit_model(model, x, y[:10], x_val=None, y_val=None, epochs=1, seed=0)
    with pytest.raises(TrainingError, match="pass both or neither"):
        fit_model(model, x, y, x_val=x, y_val=None, epochs=1, seed=0)
    with pytest.raises(TrainingError, match="epochs=0"):
        fit_model(model, x, y, x_val=None, y_val=None, epochs=0, seed=0)
    with pytest.raises(TrainingError, match="differ in length"):
        fit_model(build_fusion(), (x, x[:5, :1]), y, x_val=None, y_val=None, epochs=1, seed=0)
    inputs = keras.Input((N_FEATURES,))
    uncompiled = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="loose")
    with pytest.raises(TrainingError, match="'loose' is not compiled"):
        fit_model(uncompiled, x, y, x_val=None, y_val=None, epochs=1, seed=0)
    assert issubclass(TrainingError, ProjectError)


def test_training_key_tracks_content(data):
    x, y = data
    parts = dict(x=x, y=y, builder=build_tiny, hyperparameters={"dropout_rate": 0.25},
                 epochs=5, seed=0, feature_config=config.FEATURES)
    key = training_key(**parts)
    assert len(key) == 32 and key == training_key(**dict(reversed(list(parts.items()))))
    changed = x.copy()
    changed[3, 2] += 1e-3
    assert training_key(**{**parts, "x": changed}) != key
    assert training_key(**{**parts, "x": x.astype("float64")}) != key
    assert training_key(**{**parts, "x": x.reshape(8, -1)}) != key
    assert training_key(**{**parts, "hyperparameters": {"dropout_rate": 0.5}}) != key
    assert training_key(**{**parts, "builder": build_fusion}) != key
    assert training_key(**{**parts, "seed": 1}) != key
    assert training_key(**{**parts, "x": np.asfortranarray(x)}) == key
    with pytest.raises(TrainingError, match="callables must be named"):
        training_key(builder=lambda: None)
    with pytest.raises(TrainingError, match="no parts"):
        training_key()


def test_training_key_holds_the_library_versions_the_results_record(data, monkeypatch):
    # One list of versions (io.library_versions) for results files and the model cache.
    x, y = data
    key = training_key(x=x, y=y)
    versions = training.project_io.library_versions()
    assert {"python", "numpy", "keras"} <= set(versions)
    assert versions.keys() & {"tensorflow", "tensorflow-cpu"}
    monkeypatch.setattr(training.project_io, "library_versions",
                        lambda: {**versions, "keras": "0.0.0"})
    assert training_key(x=x, y=y) != key


def test_train_or_load_caches_and_force_retrains(data, tmp_path):
    x, y = data
    calls = {"build": 0, "fit": 0}

    def build():
        calls["build"] += 1
        return build_tiny()

    def fit(model):
        calls["fit"] += 1
        return fit_model(model, x, y, x_val=x[:8], y_val=y[:8], epochs=2, batch_size=16, seed=0)

    key = training_key(x=x, y=y, builder=build_tiny, epochs=2, seed=0)
    training.cache_tally(reset=True)
    model, history, cached = train_or_load(key, build=build, fit=fit, folder=tmp_path)
    assert not cached and calls == {"build": 1, "fit": 1}
    assert training.cache_tally() == {"cached": 0, "trained": 1}
    stem = f"{key}-{architecture_digest(build_tiny())}"
    assert (tmp_path / f"{stem}.keras").is_file() and (tmp_path / f"{stem}.history.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files

    # Building is cheap and always done (its architecture names the entry); fitting is not.
    loaded, loaded_history, cached = train_or_load(key, build=build, fit=fit, folder=tmp_path)
    assert cached and calls == {"build": 2, "fit": 1}
    assert training.cache_tally(reset=True) == {"cached": 1, "trained": 1}
    assert training.describe_cache_tally() == "models: 0 from the cache, 0 trained"
    assert loaded_history == history
    np.testing.assert_allclose(predict_proba(loaded, x), predict_proba(model, x), rtol=1e-6)

    _, _, cached = train_or_load(key, build=build, fit=fit, folder=tmp_path, force=True)
    assert not cached and calls == {"build": 3, "fit": 2}

    with pytest.raises(TrainingError, match="key='../escape'"):
        train_or_load("../escape", build=build, fit=fit, folder=tmp_path)


def test_train_or_load_default_folder_follows_config(data, tmp_path, monkeypatch):
    x, y = data
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    _, _, cached = train_or_load("tiny-key", build=build_tiny, folder=None,
                                 fit=lambda m: fit_model(m, x, y, x_val=None, y_val=None,
                                                         epochs=1, seed=0))
    assert not cached
    assert [p.name for p in (tmp_path / "models" / "cache").glob("*.keras")] == [
        f"tiny-key-{architecture_digest(build_tiny())}.keras"]


def test_changed_architecture_under_the_same_key_retrains(data, tmp_path):
    # The key covers data and hyperparameters, not the builder's code: editing the builder
    # (here a wider hidden layer) must not reuse the model trained with the old code.
    x, y = data

    def build_wider():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((N_FEATURES,), name="features")
        hidden = keras.layers.Dense(7, activation="relu")(inputs)
        outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(hidden)
        model = keras.Model(inputs, outputs, name="tiny")
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    def fit(model):
        return fit_model(model, x, y, x_val=None, y_val=None, epochs=1, seed=0)

    assert not train_or_load("same-key", build=build_tiny, fit=fit, folder=tmp_path)[2]
    assert train_or_load("same-key", build=build_tiny, fit=fit, folder=tmp_path)[2]
    model, _, cached = train_or_load("same-key", build=build_wider, fit=fit, folder=tmp_path)
    assert not cached and model.layers[1].units == 7
    assert len(list(tmp_path.glob("same-key-*.keras"))) == 2


def test_architecture_digest_ignores_generated_names_only():
    # Two builds in one process get different automatic layer and optimizer names.
    first, second = build_tiny(), build_tiny()
    assert [l.name for l in first.layers] != [l.name for l in second.layers]
    assert architecture_digest(first) == architecture_digest(second)
    assert architecture_digest(build_tiny(learning_rate=0.02)) != architecture_digest(first)
    emotion = models.build_emotion_cnn((16, 24, 1), filters=(4, 8), dense_units=16)
    assert architecture_digest(emotion) == architecture_digest(
        models.build_emotion_cnn((16, 24, 1), filters=(4, 8), dense_units=16))
    for changed in ({"dropout_rate": 0.5}, {"dense_units": 17}, {"filters": (4, 8, 8)},
                    {"normalization": (-40.0, 15.0)}, {"seed": 1}):
        arguments = {"filters": (4, 8), "dense_units": 16, **changed}
        assert architecture_digest(models.build_emotion_cnn((16, 24, 1), **arguments)) \
            != architecture_digest(emotion), changed


def test_sidecar_round_trip(data, tmp_path):
    x, _ = data
    model = build_tiny()
    model_path, sidecar_path = save_model_with_sidecar(
        model, tmp_path / "emotion_cnn",
        sidecar={"feature_config": config.FEATURES, "labels": list(config.EMOTIONS[:3]),
                 "seed": np.int64(4)})
    assert model_path.name == "emotion_cnn.keras" and sidecar_path.name == "emotion_cnn.json"
    loaded, sidecar = load_model_with_sidecar(tmp_path / "emotion_cnn.keras", compile=False)
    assert sidecar["labels"] == ["neutral", "calm", "happy"]
    assert sidecar["feature_config"] == config.FEATURES.to_dict()
    assert sidecar["trainable_params"] == 8 * 6 + 6 + 6 * 3 + 3
    assert sidecar["input_shape"] == [None, N_FEATURES]
    assert sidecar["seed"] == 4 and "created" in sidecar
    assert config.FeatureConfig.from_dict(sidecar["feature_config"]) == config.FEATURES
    np.testing.assert_allclose(predict_proba(loaded, x), predict_proba(model, x), rtol=1e-6)


def test_sidecar_missing_parts_name_the_file(tmp_path):
    model = build_tiny()
    with pytest.raises(ModelFileError, match=r"lacks required key\(s\) \['labels'\]"):
        save_model_with_sidecar(model, tmp_path / "m", sidecar={"feature_config": {}})
    model_path, sidecar_path = save_model_with_sidecar(
        model, tmp_path / "m.keras", sidecar={"feature_config": {}, "labels": ["a", "b", "c"]})

    sidecar_path.rename(tmp_path / "elsewhere.json")
    with pytest.raises(ModelFileError, match=r"m\.json: sidecar file not found"):
        load_model_with_sidecar(model_path)

    sidecar_path.write_text(json.dumps({"labels": ["a"]}))
    with pytest.raises(ModelFileError, match=r"m\.json: sidecar lacks.*feature_config"):
        load_model_with_sidecar(tmp_path / "m")

    model_path.unlink()
    with pytest.raises(ModelFileError, match=r"m\.keras: model file not found"):
        load_model_with_sidecar(tmp_path / "m")


def test_predict_proba_and_channel_axis(data):
    x, _ = data
    probabilities = predict_proba(build_tiny(), x, batch_size=7)
    assert probabilities.shape == (48, N_CLASSES) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(TrainingError, match="0 items"):
        predict_proba(build_tiny(), x[:0])

    spectrograms = np.zeros((5, 64, 301), dtype=np.float32)
    with_channel = add_channel_axis(spectrograms)
    assert with_channel.shape == (5, 64, 301, 1)
    assert add_channel_axis(with_channel).shape == (5, 64, 301, 1)
    with pytest.raises(TrainingError, match=r"shape \(64, 301\)"):
        add_channel_axis(spectrograms[0])


def test_a_model_and_its_sidecar_are_one_unit(tmp_path):
    """A model replaced without its sidecar (a run that died between the two writes) is refused."""
    first, second = build_tiny(), build_tiny(seed=1)
    sidecar = {"feature_config": {}, "labels": ["a", "b", "c"]}
    model_path, sidecar_path = save_model_with_sidecar(first, tmp_path / "m", sidecar=sidecar)
    record = json.loads(sidecar_path.read_text())
    assert record["model_sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    old_sidecar = sidecar_path.read_bytes()
    save_model_with_sidecar(second, tmp_path / "m", sidecar=sidecar)
    load_model_with_sidecar(tmp_path / "m")  # the pair written together loads
    sidecar_path.write_bytes(old_sidecar)  # the new model beside the old sidecar
    with pytest.raises(ModelFileError, match=r"m\.keras: does not match its sidecar m\.json"):
        load_model_with_sidecar(tmp_path / "m")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"\x00" * 64])
def test_an_empty_or_corrupt_keras_file_is_a_model_file_error_naming_it(tmp_path, content):
    model_path, sidecar_path = save_model_with_sidecar(
        build_tiny(), tmp_path / "broken", sidecar={"feature_config": {}, "labels": ["a", "b", "c"]})
    model_path.write_bytes(content)
    record = json.loads(sidecar_path.read_text())
    record.pop("model_sha256")  # as an older sidecar: the file itself must be checked
    sidecar_path.write_text(json.dumps(record))
    with pytest.raises(ModelFileError, match=r"broken\.keras: (empty file|not a readable Keras model)"):
        load_model_with_sidecar(model_path)


@pytest.mark.parametrize("history, text", [
    ({"loss": [1.0]}, "1 epoch"), ({"loss": [1.0, 0.5, 0.4]}, "3 epochs"),
    ({"loss": [0.5], "iterations": [40, 130]}, "L-BFGS, 130 iterations"),
])
def test_describe_fit_says_how_the_model_was_fitted(history, text):
    assert training.describe_fit(history) == text
