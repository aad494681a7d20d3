"""The Keras builders: parameter counts against the report, shapes, normalisation, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import config, model_files, models
from helpers.errors import ConfigError, ProjectError

# Small enough to train in a fraction of a second; big enough to pass four 2x2 pools and the
# gender CNN's 4x5 pool.
SMALL_SHAPE = (16, 24, 1)


def _numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def _random_spectrograms(n: int, shape=SMALL_SHAPE, *, seed: int = 0) -> np.ndarray:
    # Log-mel values in dB sit far from zero, which is what the normalisation layer is for.
    return np.random.default_rng(seed).normal(-40.0, 15.0, size=(n, *shape)).astype("float32")


@pytest.fixture(scope="module")
def emotion_model():
    return models.build_emotion_cnn(normalization=(-40.0, 15.0))


def test_emotion_parameter_count_matches_the_report(emotion_model):
    count = models.count_trainable_params(emotion_model)
    assert abs(count - models.ORIGINAL_EMOTION_PARAMS) / models.ORIGINAL_EMOTION_PARAMS < 0.01
    # The reconstruction lands 56 parameters (0.011 %) above the report; keep it that close.
    assert count == 529_888


def test_gender_parameter_count_matches_the_report():
    model = models.build_gender_cnn()
    count = models.count_trainable_params(model)
    assert model.input_shape[1:] == config.FEATURES.input_shape
    assert abs(count - models.ORIGINAL_GENDER_PARAMS) / models.ORIGINAL_GENDER_PARAMS < 0.01


def test_count_trainable_params_excludes_frozen_weights():
    model = models.build_emotion_cnn(normalization=(-40.0, 15.0))
    before = models.count_trainable_params(model)
    # The normalisation constants live in the layer's config, not in trainable weights.
    assert before == models.count_trainable_params(models.build_emotion_cnn(normalization=None))
    dense = model.get_layer("dense")
    dense_params = sum(int(np.prod(w.shape)) for w in dense.weights)
    dense.trainable = False
    assert models.count_trainable_params(model) == before - dense_params
    assert dense_params == 256 * 536 + 536


def test_emotion_forward_pass_gives_distributions(emotion_model):
    x = _random_spectrograms(3, config.FEATURES.input_shape)
    probabilities = _numpy(emotion_model(x, training=False))
    assert probabilities.shape == (3, len(config.EMOTIONS))
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_emotion_cnn_accepts_any_clip_length():
    model = models.build_emotion_cnn((16, None, 1), n_classes=4)
    for n_frames in (9, 40):
        out = _numpy(model(_random_spectrograms(2, (16, n_frames, 1)), training=False))
        assert out.shape == (2, 4)


def test_fusion_model_takes_spectrogram_and_gender():
    model = models.build_emotion_fusion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0))
    assert [tensor.name for tensor in model.inputs] == ["log_mel", "gender"]
    x = _random_spectrograms(4)
    female = np.ones((4, 1), dtype="float32")
    male = np.zeros((4, 1), dtype="float32")
    as_female = (model.predict([x, female], verbose=0))
    as_male = (model.predict({"log_mel": x, "gender": male}, verbose=0))
    assert as_female.shape == (4, len(config.EMOTIONS))
    np.testing.assert_allclose(as_female.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(as_male.sum(axis=1), 1.0, atol=1e-5)
    # The gender input reaches the output.
    assert not np.allclose(as_female, as_male)
    # Same convolutional branch as the single-input model (shared code, same layer names).
    single = models.build_emotion_cnn(SMALL_SHAPE)
    branch = {layer.name for layer in single.layers if layer.name.startswith("block")}
    assert branch <= {layer.name for layer in model.layers}


def test_gender_forward_pass_gives_probabilities():
    model = models.build_gender_cnn(SMALL_SHAPE)
    p_female = _numpy(model(_random_spectrograms(5), training=False))
    assert p_female.shape == (5, 1)
    assert np.all((p_female >= 0) & (p_female <= 1))


def test_normalization_layer_computes_standard_scores():
    model = models.build_emotion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0))
    layer = model.get_layer("normalization")
    assert not layer.trainable
    x = _random_spectrograms(2)
    np.testing.assert_allclose(_numpy(layer(x)), (x + 40.0) / 15.0, rtol=1e-5, atol=1e-5)


def test_normalization_changes_the_output():
    x = _random_spectrograms(2)
    # Same seed, so the weights are identical and only the statistics differ.
    first = models.build_emotion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0), seed=3)
    second = models.build_emotion_cnn(SMALL_SHAPE, normalization=(0.0, 15.0), seed=3)
    again = models.build_emotion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0), seed=3)
    out_first = _numpy(first(x, training=False))
    np.testing.assert_allclose(out_first, _numpy(again(x, training=False)), atol=1e-6)
    assert not np.allclose(out_first, _numpy(second(x, training=False)))


def test_saved_model_carries_its_normalization(tmp_path):
    model = models.build_emotion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0))
    path = tmp_path / "emotion.keras"
    model.save(path)
    # Only the preprocessing is under test here, not the optimizer state.
    loaded = keras.models.load_model(path, compile=False)
    x = _random_spectrograms(3)
    np.testing.assert_allclose(_numpy(loaded(x, training=False)),
                               _numpy(model(x, training=False)), atol=1e-6)
    config_ = loaded.get_layer("normalization").get_config()
    assert float(np.squeeze(config_["mean"])) == pytest.approx(-40.0)
    assert float(np.squeeze(config_["variance"])) == pytest.approx(225.0)


def test_emotion_model_trains_with_the_original_metrics(graph_mode):
    model = models.build_emotion_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0))
    x = _random_spectrograms(20)
    y = keras.utils.to_categorical(np.arange(20) % 8, 8)
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert {"loss", "accuracy_binary", "accuracy", "auc", "precision", "recall"} <= set(
        history.history)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.0022)
    assert model.get_layer("dropout").rate == pytest.approx(0.25)


def test_gender_model_trains_with_its_metrics(graph_mode):
    model = models.build_gender_cnn(SMALL_SHAPE, normalization=(-40.0, 15.0))
    x = _random_spectrograms(16)
    y = (np.arange(16) % 2).astype("float32")[:, None]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert {"loss", "accuracy", "auc", "precision", "recall"} <= set(history.history)
    assert model.loss == "binary_crossentropy"
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.001)
    assert model.get_layer("dropout").rate == pytest.approx(0.5)


def test_mixed_precision_keeps_the_output_in_float32():
    model = models.build_emotion_cnn(SMALL_SHAPE, mixed_precision=True)
    assert model.get_layer("block1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("probabilities").compute_dtype == "float32"
    out = model(_random_spectrograms(2), training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(_numpy(out).sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("builder, hidden, output", [
    (models.build_emotion_cnn, "block1_conv", "probabilities"),
    (models.build_gender_cnn, "conv", "p_female"),
])
def test_builders_follow_the_project_precision_unless_told(monkeypatch, builder, hidden, output):
    monkeypatch.setenv(config.PRECISION_ENV, "bfloat16")
    model = builder(SMALL_SHAPE)
    assert model.get_layer(hidden).compute_dtype == "bfloat16"
    assert model.get_layer(output).compute_dtype == "float32"
    assert builder(SMALL_SHAPE, mixed_precision=False).get_layer(hidden).compute_dtype == "float32"
    monkeypatch.setenv(config.PRECISION_ENV, "float32")
    assert builder(SMALL_SHAPE).get_layer(hidden).compute_dtype == "float32"
    assert builder(SMALL_SHAPE, mixed_precision=True).get_layer(hidden).compute_dtype == "bfloat16"
    # The precision is part of the architecture digest, so of every model cache key.
    assert (model_files.architecture_digest(builder(SMALL_SHAPE, mixed_precision=True))
            != model_files.architecture_digest(builder(SMALL_SHAPE, mixed_precision=False)))


def test_set_precision_returns_the_previous_policy():
    previous = models.set_precision("mixed_bfloat16")
    try:
        assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
        model = models.build_gender_cnn(SMALL_SHAPE)
        assert model.get_layer("p_female").compute_dtype == "float32"
    finally:
        assert models.set_precision(previous) == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == previous
    with pytest.raises(ConfigError, match="policy='float64'"):
        models.set_precision("float64")


@pytest.mark.parametrize(
    ("builder", "kwargs", "argument"),
    [
        (models.build_emotion_cnn, {"dropout_rate": 1.0}, "dropout_rate=1.0"),
        (models.build_emotion_cnn, {"learning_rate": 0.0}, "learning_rate=0.0"),
        (models.build_emotion_cnn, {"n_classes": 1}, "n_classes=1"),
        (models.build_emotion_cnn, {"normalization": (0.0, 0.0)}, "std=0.0"),
        (models.build_emotion_cnn, {"filters": ()}, "filters=()"),
        (models.build_emotion_fusion_cnn, {"gender_units": 0}, "gender_units=0"),
        (models.build_gender_cnn, {"pool_size": (32, 5)}, "pool_size=(32, 5)"),
        (models.build_gender_cnn, {"kernel_size": 0}, "kernel_size=0"),
    ],
)
def test_bad_arguments_raise_a_project_error_naming_them(builder, kwargs, argument):
    with pytest.raises(ProjectError, match=argument.replace("(", r"\(").replace(")", r"\)")):
        builder(SMALL_SHAPE, **kwargs)


def test_numpy_integers_are_accepted_as_python_ints():
    # errors.check_int accepts NumPy integers; Keras initialisers want Python ints.
    model = models.build_gender_cnn(SMALL_SHAPE, filters=np.int64(4), kernel_size=np.int64(3),
                                    dense_units=np.int64(8), seed=np.int64(3))
    assert model.get_layer("conv").filters == 4
    mlp = models.build_functionals_mlp((6,), n_classes=np.int64(8), hidden_units=np.int64(4),
                                       seed=np.int64(1))
    assert mlp.output_shape == (None, 8)


def test_gender_cnn_needs_a_known_clip_length():
    with pytest.raises(ConfigError, match="input_shape"):
        models.build_gender_cnn((16, None, 1))


def test_functionals_model_clips_standardised_outliers_and_keeps_the_limit_when_saved(tmp_path):
    mean, std = np.full(6, 1.0), np.full(6, 2.0)
    model = models.build_functionals_mlp((6,), hidden_units=0, clip=3.0, normalization=(mean, std),
                                         seed=0)
    x = np.zeros((2, 6), dtype=np.float32)
    x[0, 2] = 1e6  # half a million standard deviations out
    x[1, 2] = 1.0 + 3.0 * 2.0  # exactly at the limit
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6)  # the outlier counts as +3 std
    path = tmp_path / "clipped.keras"
    model.save(path)
    again = keras.models.load_model(path)
    assert again.get_layer("clip").limit == 3.0
    np.testing.assert_allclose(again.predict(x, verbose=0), p, rtol=1e-6)
    unclipped = models.build_functionals_mlp((6,), hidden_units=0, normalization=(mean, std), seed=0)
    assert "clip" not in [layer.name for layer in unclipped.layers]
    with pytest.raises(ConfigError, match="clip"):
        models.build_functionals_mlp((6,), clip=-1.0)
