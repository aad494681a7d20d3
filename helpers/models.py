"""Keras builders for the emotion CNN, the emotion + gender fusion CNN and the gender CNN.

Each ``build_*`` function returns a compiled functional model. The original study's code is
not available, so the architectures are reconstructions from what the report states:

* Emotion CNN (after Adebisi, 2020): convolution blocks on the log-mel spectrogram, a dense block
  with dropout and an 8-way softmax; 529,832 trainable parameters after tuning; Adam with
  learning rate 0.002 (original) / 0.0022 (tuned); dropout 0.25 (tuned). The reconstruction
  uses four blocks of Conv2D (3x3) + ReLU + MaxPool (2x2) with 32, 64, 128 and 256 filters,
  global average pooling (so any clip length is accepted), Dense(536) + ReLU, dropout and a
  softmax: 529,888 trainable parameters, 0.011 % above the report. There is deliberately no
  batch normalisation: with ~18 batches per epoch on the clean variant its moving statistics
  lag far behind the weights, and on the real RAVDESS the inference-mode model then predicted
  one class for every validation clip while training accuracy climbed (momentum 0.99), or
  swung between chance and 0.43 from epoch to epoch (momentum 0.9). Without it validation
  loss falls smoothly; group normalisation (no moving statistics) learned no faster.
* Gender CNN (the report's own design): one Conv2D + ReLU, one MaxPool, Flatten, Dense(256) +
  ReLU with dropout (retention probability 0.5), one sigmoid unit; Adam with learning rate
  0.001; 7,889,153 trainable parameters. The report does not give the filter count, kernel or
  pool size; the defaults here (64 filters of 3x3, pool 4x5 over frequency x time) give
  7,865,473 trainable parameters at the project's input shape ``config.FEATURES.input_shape``
  = (64, 151, 1), 0.30 % below the report. Because of the Flatten layer this count depends on
  the input shape: a change to the feature configuration needs new defaults here.

Input normalisation is a non-trainable ``layers.Normalization`` built from training-set
statistics, so a saved ``.keras`` model carries its own preprocessing.

**Precision.** The CNN builders compute in bfloat16 (float32 output layer) by default where the
CPU has bfloat16 instructions (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``), and in
float32 elsewhere, where bfloat16 is emulated and several times slower
(:func:`helpers.config.default_mixed_precision`). ``SER_PRECISION`` (``auto``, ``float32``,
``bfloat16``; ``python run_all.py --precision``) overrides it, and so does a builder's
``mixed_precision``. On the real RAVDESS (6 speaker-independent folds, session 11)
bfloat16 left the reconstruction's UAR and gender accuracy unchanged within the fold spread
and trained the emotion CNN 1.74x and the gender CNN 1.17x faster on a 2-core AVX512-BF16 CPU
(the README has the numbers).
The weights differ between the two, so the precision is part of each model's cache key (the
layers' dtype policies are in its architecture digest). The functionals model is always
float32 (L-BFGS).

The model code uses only ``keras`` (and ``keras.ops`` where maths is needed), never a backend.

Why it is over 500 lines: the builders share private pieces (the spectrogram branch, the
classifier head, the normalisation layers and the input checks) that would have to become
public to live apart, and about 40 % of the file is docstrings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from helpers import config
from helpers import frame_gmm  # noqa: F401  (registers its layer, so saved gender models load)
from helpers.errors import ConfigError, check_int, is_int

ORIGINAL_EMOTION_PARAMS = 529_832
ORIGINAL_GENDER_PARAMS = 7_889_153

# The float32 policy used for every output layer, whatever the rest of the model computes in:
# softmax and sigmoid in bfloat16 lose too much precision for the loss and the metrics.
OUTPUT_DTYPE = "float32"
MIXED_POLICY = "mixed_bfloat16"

# Offsets added to the builder's seed so that every seeded layer draws different numbers
# (a Keras initializer with an integer seed returns the same values every time it is called).
_SEED_STRIDE = 1_000


# --------------------------------------------------------------------------------------------
# Public builders
# --------------------------------------------------------------------------------------------

def build_emotion_cnn(
    input_shape: Sequence[int | None] = config.FEATURES.input_shape,
    *,
    n_classes: int = len(config.EMOTIONS),
    filters: Sequence[int] = (32, 64, 128, 256),
    kernel_size: int | tuple[int, int] = 3,
    pool_size: int | tuple[int, int] = 2,
    dense_units: int = 536,
    dropout_rate: float = 0.25,
    learning_rate: float = 0.0022,
    normalization: tuple[float, float] | None = None,
    mixed_precision: bool | None = None,
    seed: int = config.SEED,
    name: str = "emotion_cnn",
) -> keras.Model:
    """Build and compile the emotion CNN on a log-mel spectrogram.

    Layers: [Normalization] → ``len(filters)`` blocks of Conv2D (same padding) + ReLU +
    MaxPool (same padding) → GlobalAveragePooling2D → Dense(``dense_units``) + ReLU →
    Dropout(``dropout_rate``) → Dense(``n_classes``) + softmax (float32).

    Parameters
    ----------
    input_shape : tuple of int [shape=(n_mels, n_frames, channels)]
        Shape of one example without the batch axis. ``n_frames`` may be None: global average
        pooling makes the model accept any clip length.
    n_classes : int
        Number of emotions (the softmax width).
    filters : sequence of int
        Filters of each convolution block, one entry per block.
    kernel_size, pool_size : int or (int, int)
        Convolution kernel and max-pool window of every block.
    dense_units : int
        Width of the dense layer before the softmax.
    dropout_rate : float
        Fraction of dense units dropped during training, in [0, 1).
    learning_rate : float
        Adam learning rate (0.002 in the original, 0.0022 after the report's tuning).
    normalization : (float, float) or None
        Training-set ``(mean, std)`` of the log-mel values. When given, the model starts with a
        non-trainable ``Normalization`` layer computing ``(x - mean) / std``.
    mixed_precision : bool or None
        Compute in bfloat16 (policy ``"mixed_bfloat16"``) except the float32 output layer;
        None: :func:`helpers.config.default_mixed_precision`.
    seed : int
        Seed of the weight initializers and the dropout layer.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Compiled model mapping ``(batch, *input_shape)`` to probabilities
        ``[shape=(batch, n_classes)]``. Metrics: ``accuracy_binary`` (old Keras's
        ``"accuracy"`` on one-hot targets), ``accuracy`` (top-1), ``auc``, ``precision``,
        ``recall``.

    Raises
    ------
    ConfigError
        If a shape, width, rate or the normalisation statistics are out of range.
    """
    input_shape = _check_input_shape(input_shape, allow_unknown_frames=True)
    n_classes = _check_n_classes(n_classes)
    dense_units, seed = _check_common(dense_units=dense_units, dropout_rate=dropout_rate,
                                      learning_rate=learning_rate, seed=seed)
    policy = _layer_policy(mixed_precision)

    spectrogram = keras.Input(shape=input_shape, name="log_mel")
    pooled = _spectrogram_branch(spectrogram, filters=filters, kernel_size=kernel_size,
                                 pool_size=pool_size, normalization=normalization, seed=seed,
                                 dtype=policy)
    probabilities = _classifier_head(pooled, n_classes=n_classes, dense_units=dense_units,
                                     dropout_rate=dropout_rate, seed=seed, dtype=policy)
    model = keras.Model(spectrogram, probabilities, name=name)
    _compile_emotion(model, learning_rate=learning_rate)
    return model


def build_emotion_fusion_cnn(
    input_shape: Sequence[int | None] = config.FEATURES.input_shape,
    *,
    n_classes: int = len(config.EMOTIONS),
    filters: Sequence[int] = (32, 64, 128, 256),
    kernel_size: int | tuple[int, int] = 3,
    pool_size: int | tuple[int, int] = 2,
    dense_units: int = 536,
    gender_units: int = 8,
    dropout_rate: float = 0.25,
    learning_rate: float = 0.0022,
    normalization: tuple[float, float] | None = None,
    mixed_precision: bool | None = None,
    seed: int = config.SEED,
    name: str = "emotion_fusion_cnn",
) -> keras.Model:
    """Build and compile the emotion CNN with the speaker's gender as a second input.

    This is the fusion the report proposes (section 3.3): the gender prediction is metadata for
    the emotion classifier. The spectrogram branch is the one of :func:`build_emotion_cnn`; the
    gender input passes through Dense(``gender_units``) + ReLU and is concatenated with the
    pooled spectrogram features before the dense block.

    Parameters
    ----------
    input_shape : tuple of int [shape=(n_mels, n_frames, channels)]
        Shape of one spectrogram without the batch axis (``n_frames`` may be None).
    gender_units : int
        Width of the gender embedding.
    n_classes, filters, kernel_size, pool_size, dense_units, dropout_rate, learning_rate, \
normalization, mixed_precision, seed, name
        As in :func:`build_emotion_cnn`.

    Returns
    -------
    keras.Model
        Compiled model with inputs ``[log_mel, gender]``: ``log_mel [shape=(batch,
        *input_shape)]`` and ``gender [shape=(batch, 1)]`` (a probability or label in [0, 1],
        1 = female, as in ``config.GENDERS``); output probabilities
        ``[shape=(batch, n_classes)]``. Inputs may also be passed as a dict keyed by
        ``"log_mel"`` and ``"gender"``.

    Raises
    ------
    ConfigError
        If a shape, width, rate or the normalisation statistics are out of range.
    """
    input_shape = _check_input_shape(input_shape, allow_unknown_frames=True)
    n_classes = _check_n_classes(n_classes)
    dense_units, seed = _check_common(dense_units=dense_units, dropout_rate=dropout_rate,
                                      learning_rate=learning_rate, seed=seed)
    gender_units = _check_positive_int("gender_units", gender_units)
    policy = _layer_policy(mixed_precision)

    spectrogram = keras.Input(shape=input_shape, name="log_mel")
    gender = keras.Input(shape=(1,), name="gender")
    pooled = _spectrogram_branch(spectrogram, filters=filters, kernel_size=kernel_size,
                                 pool_size=pool_size, normalization=normalization, seed=seed,
                                 dtype=policy)
    embedded = layers.Dense(gender_units, activation="relu", name="gender_embedding",
                            kernel_initializer=_glorot(seed, 50), dtype=policy)(gender)
    joined = layers.Concatenate(name="fusion", dtype=policy)([pooled, embedded])
    probabilities = _classifier_head(joined, n_classes=n_classes, dense_units=dense_units,
                                     dropout_rate=dropout_rate, seed=seed, dtype=policy)
    model = keras.Model([spectrogram, gender], probabilities, name=name)
    _compile_emotion(model, learning_rate=learning_rate)
    return model


def build_gender_cnn(
    input_shape: Sequence[int] = config.FEATURES.input_shape,
    *,
    filters: int = 64,
    kernel_size: int | tuple[int, int] = 3,
    pool_size: int | tuple[int, int] = (4, 5),
    dense_units: int = 256,
    dropout_rate: float = 0.5,
    learning_rate: float = 0.001,
    normalization: tuple[float, float] | None = None,
    mixed_precision: bool | None = None,
    seed: int = config.SEED,
    name: str = "gender_cnn",
) -> keras.Model:
    """Build and compile the report's gender CNN.

    Layers: [Normalization] → Conv2D(``filters``, ``kernel_size``, same padding) + ReLU →
    MaxPool(``pool_size``) → Flatten → Dense(``dense_units``) + ReLU → Dropout(``dropout_rate``)
    → Dense(1) + sigmoid (float32). The report's dropout "retention probability" p = 0.5 is a
    dropout rate of 1 - p = 0.5.

    Parameters
    ----------
    input_shape : tuple of int [shape=(n_mels, n_frames, channels)]
        Shape of one example without the batch axis; every entry must be known because of the
        Flatten layer.
    filters : int
        Filters of the single convolution.
    kernel_size, pool_size : int or (int, int)
        Convolution kernel and max-pool window (frequency, time).
    dense_units : int
        Width of the fully-connected layer (256 after the report's tuning).
    dropout_rate : float
        Fraction of dense units dropped during training, in [0, 1).
    learning_rate : float
        Adam learning rate.
    normalization : (float, float) or None
        Training-set ``(mean, std)``; see :func:`build_emotion_cnn`.
    mixed_precision : bool or None
        Compute in bfloat16 except the float32 output layer; None:
        :func:`helpers.config.default_mixed_precision`.
    seed : int
        Seed of the weight initializers and the dropout layer.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Compiled model mapping ``(batch, *input_shape)`` to ``P(female)``
        ``[shape=(batch, 1)]`` (label order ``config.GENDERS``: 0 = male, 1 = female).
        Metrics: ``accuracy``, ``auc``, ``precision``, ``recall``.

    Raises
    ------
    ConfigError
        If a shape, width, rate or the normalisation statistics are out of range.
    """
    input_shape = _check_input_shape(input_shape, allow_unknown_frames=False)
    dense_units, seed = _check_common(dense_units=dense_units, dropout_rate=dropout_rate,
                                      learning_rate=learning_rate, seed=seed)
    filters = _check_positive_int("filters", filters)
    kernel_size = _check_window("kernel_size", kernel_size)
    pool_size = _check_window("pool_size", pool_size)
    if any(p > s for p, s in zip(pool_size, input_shape[:2])):
        raise ConfigError(
            f"pool_size={pool_size} must fit inside input_shape={input_shape} (frequency, time)"
        )
    policy = _layer_policy(mixed_precision)

    spectrogram = keras.Input(shape=input_shape, name="log_mel")
    x = _normalization_layer(normalization)(spectrogram)
    x = layers.Conv2D(filters, kernel_size, padding="same", activation="relu", name="conv",
                      kernel_initializer=_glorot(seed, 0), dtype=policy)(x)
    x = layers.MaxPooling2D(pool_size, name="pool", dtype=policy)(x)
    x = layers.Flatten(name="flatten", dtype=policy)(x)
    x = layers.Dense(dense_units, activation="relu", name="dense",
                     kernel_initializer=_glorot(seed, 1), dtype=policy)(x)
    x = layers.Dropout(dropout_rate, seed=seed + 2 * _SEED_STRIDE, name="dropout",
                       dtype=policy)(x)
    probability = layers.Dense(1, activation="sigmoid", name="p_female",
                               kernel_initializer=_glorot(seed, 3), dtype=OUTPUT_DTYPE)(x)
    model = keras.Model(spectrogram, probability, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )
    return model


def build_functionals_mlp(
    input_shape: Sequence[int],
    *,
    n_classes: int = len(config.EMOTIONS),
    hidden_units: int = 256,
    input_dropout: float = 0.2,
    dropout_rate: float = 0.5,
    learning_rate: float = 0.001,
    weight_decay: float = 0.01,
    l2: float = 0.0,
    clip: float = 0.0,
    decay_steps: int | None = None,
    normalization: tuple | None = None,
    seed: int = config.SEED,
    name: str = "functionals_mlp",
) -> keras.Model:
    """Build and compile the ``ours`` classifier on a vector of openSMILE functionals.

    Layers: [Normalization per feature] → [clip to ±``clip``] → Dropout(``input_dropout``) → Dense(``hidden_units``)
    + GELU → Dropout(``dropout_rate``) → Dense(``n_classes``) + softmax, or one sigmoid unit
    when ``n_classes`` is 1 (gender: ``P(female)``). With ``hidden_units=0`` there is no
    hidden layer: a multinomial logistic regression, L2-penalised by ``l2``. AdamW with
    decoupled weight decay, and a cosine decay of the learning rate to zero over
    ``decay_steps`` steps when given.

    Input dropout on thousands of correlated functionals acts like feature bagging: each step
    sees another random subset, so no single speaker-specific feature can carry the decision.

    Parameters
    ----------
    input_shape : (int,)
        Number of functionals.
    n_classes : int
        Softmax width; 1 for a binary sigmoid output.
    hidden_units, input_dropout, dropout_rate, learning_rate, weight_decay : number
        Width of the hidden layer (0: none), dropout on the inputs and on the hidden layer (in
        [0, 1)), AdamW's peak learning rate and weight decay.
    l2 : float
        L2 penalty on the output layer's weights (``keras.regularizers.L2``), as in a
        penalised logistic regression.
    clip : float
        Standardised values are clipped to ``[-clip, clip]`` (0: not clipped). A few ComParE
        functionals are nearly constant over the training clips and lie millions of standard
        deviations out on some other clip; clipping keeps one such value from deciding a
        prediction, and keeps the logistic regression well conditioned (L-BFGS converges in
        half the time).
    decay_steps : int or None
        Gradient steps of the whole run for the cosine schedule; None keeps the rate constant.
    normalization : (np.ndarray, np.ndarray) or None
        Training-set per-feature ``(mean, std)``; the model starts with a non-trainable
        ``(x - mean) / std`` layer, so a saved model carries its preprocessing.
    seed : int
    name : str

    Returns
    -------
    keras.Model
        Compiled model mapping ``(batch, n_features)`` to probabilities.

    Raises
    ------
    ConfigError
        If a width, rate, step count or the normalisation statistics are out of range.
    """
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"input_shape={input_shape!r} must be (n_features,)") from None
    if len(shape) != 1 or shape[0] <= 0:
        raise ConfigError(f"input_shape={input_shape!r} must be (n_features,) with n_features > 0")
    # 1 is a single sigmoid output; 2 or more a softmax.
    n_classes = check_int(n_classes, name="n_classes", minimum=1)
    hidden_units = check_int(hidden_units, name="hidden_units", minimum=0)  # 0: no hidden layer
    _, seed = _check_common(dense_units=max(1, hidden_units), dropout_rate=dropout_rate,
                            learning_rate=learning_rate, seed=seed)
    if not (isinstance(l2, (int, float)) and l2 >= 0):
        raise ConfigError(f"l2={l2!r} must be a number >= 0")
    if not (isinstance(clip, (int, float)) and clip >= 0):
        raise ConfigError(f"clip={clip!r} must be a number >= 0 (0: no clipping)")
    if not (isinstance(input_dropout, (int, float)) and 0 <= input_dropout < 1):
        raise ConfigError(f"input_dropout={input_dropout!r} must be a number in [0, 1)")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ConfigError(f"weight_decay={weight_decay!r} must be a number >= 0")
    if decay_steps is not None:
        decay_steps = _check_positive_int("decay_steps", decay_steps)

    features = keras.Input(shape=shape, name="functionals")
    x = _vector_normalization_layer(normalization, n_features=shape[0])(features)
    if clip:
        x = Clip(float(clip), name="clip")(x)
    x = layers.Dropout(input_dropout, seed=seed + 40 * _SEED_STRIDE, name="input_dropout")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="gelu", name="hidden",
                         kernel_initializer=_glorot(seed, 41))(x)
        x = layers.Dropout(dropout_rate, seed=seed + 42 * _SEED_STRIDE, name="dropout")(x)
    binary = n_classes == 1
    outputs = layers.Dense(n_classes, activation="sigmoid" if binary else "softmax",
                           name="p_female" if binary else "probabilities",
                           kernel_initializer=_glorot(seed, 43),
                           kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
                           dtype=OUTPUT_DTYPE)(x)
    model = keras.Model(features, outputs, name=name)
    rate = (keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
            if decay_steps else learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate=rate, weight_decay=weight_decay)
    if binary:
        model.compile(optimizer=optimizer, loss="binary_crossentropy",
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy"),
                               keras.metrics.AUC(name="auc")])
    else:
        model.compile(optimizer=optimizer, loss="categorical_crossentropy",
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    return model


def build_ensemble(members: Sequence[keras.Model], *, name: str = "ensemble") -> keras.Model:
    """One model that averages the outputs of several trained models with the same input.

    The members keep their weights (the result is for prediction; it is not compiled), so an
    ensemble saves and loads as a single ``.keras`` file.

    Raises
    ------
    ConfigError
        If ``members`` is empty or the members' inputs differ.
    """
    members = list(members)
    if not members:
        raise ConfigError("members is empty; expected at least one trained model")
    if len(members) == 1:
        return members[0]
    shapes = {tuple(m.inputs[0].shape[1:]) for m in members}
    if len(shapes) != 1 or any(len(m.inputs) != 1 for m in members):
        raise ConfigError(f"members take different inputs {sorted(map(str, shapes))}; expected one")
    inputs = keras.Input(shape=members[0].inputs[0].shape[1:], name=members[0].inputs[0].name)
    for k, member in enumerate(members):
        member.name = f"member_{k}"
    outputs = layers.Average(name="average", dtype=OUTPUT_DTYPE)([m(inputs) for m in members])
    return keras.Model(inputs, outputs, name=name)


def count_trainable_params(model: keras.Model) -> int:
    """Number of trainable scalars in ``model`` (what Keras's summary calls trainable params).

    Parameters
    ----------
    model : keras.Model
        A built model.

    Returns
    -------
    int
    """
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


def set_precision(policy: str = "float32") -> str:
    """Set Keras's global dtype policy and return the previous one's name.

    The builders' ``mixed_precision`` argument is the local alternative: it sets the policy of
    each layer and leaves the global policy alone. With a global mixed policy, the builders
    still keep their output layer in float32.

    Parameters
    ----------
    policy : str
        ``"float32"`` (the default, exact), ``"mixed_bfloat16"`` (faster on accelerators with
        bfloat16 units) or ``"mixed_float16"``.

    Returns
    -------
    str
        The name of the policy in force before the call, to restore it later.

    Raises
    ------
    ConfigError
        If ``policy`` is not one of the three names above.
    """
    allowed = ("float32", "mixed_bfloat16", "mixed_float16")
    if policy not in allowed:
        raise ConfigError(f"policy={policy!r} must be one of {allowed}")
    previous = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    return previous


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

def _spectrogram_branch(spectrogram, *, filters: Sequence[int], kernel_size, pool_size,
                        normalization: tuple[float, float] | None, seed: int, dtype):
    """The emotion models' convolutional branch: log-mel tensor → pooled feature vector.

    Parameters
    ----------
    spectrogram : KerasTensor [shape=(batch, n_mels, n_frames, channels)]
    filters : sequence of int
        Filters per block.

    Returns
    -------
    KerasTensor [shape=(batch, filters[-1])]
    """
    filters = tuple(filters) if not isinstance(filters, (str, bytes)) else ()
    if not filters or not all(is_int(f, minimum=1) for f in filters):
        raise ConfigError(f"filters={filters!r} must be a non-empty sequence of positive ints")
    filters = tuple(int(f) for f in filters)
    kernel_size = _check_window("kernel_size", kernel_size)
    pool_size = _check_window("pool_size", pool_size)

    x = _normalization_layer(normalization)(spectrogram)
    for block, n_filters in enumerate(filters, start=1):
        x = layers.Conv2D(n_filters, kernel_size, padding="same", name=f"block{block}_conv",
                          kernel_initializer=_glorot(seed, 10 + block), dtype=dtype)(x)
        x = layers.ReLU(name=f"block{block}_relu", dtype=dtype)(x)
        # Same padding lets short inputs (tests, short clips) pass every block.
        x = layers.MaxPooling2D(pool_size, padding="same", name=f"block{block}_pool",
                                dtype=dtype)(x)
    return layers.GlobalAveragePooling2D(name="global_pool", dtype=dtype)(x)


def _classifier_head(features, *, n_classes: int, dense_units: int, dropout_rate: float,
                     seed: int, dtype):
    """Dense + ReLU → Dropout → float32 softmax, shared by both emotion models."""
    x = layers.Dense(dense_units, activation="relu", name="dense",
                     kernel_initializer=_glorot(seed, 30), dtype=dtype)(features)
    x = layers.Dropout(dropout_rate, seed=seed + 31 * _SEED_STRIDE, name="dropout",
                       dtype=dtype)(x)
    return layers.Dense(n_classes, activation="softmax", name="probabilities",
                        kernel_initializer=_glorot(seed, 32), dtype=OUTPUT_DTYPE)(x)


def _compile_emotion(model: keras.Model, *, learning_rate: float) -> None:
    """Compile an emotion model with Adam, categorical cross-entropy and the original metrics.

    The original notebook compiled with ``metrics=["accuracy"]`` on one-hot targets, which old
    Keras resolved to *binary* accuracy over the n x 8 one-hot cells: that is the "accuracy"
    in the report's tables. Both it (``accuracy_binary``) and top-1 accuracy (``accuracy``)
    are tracked so training curves show the two.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy_binary"),
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )


def _normalization_layer(normalization: tuple[float, float] | None) -> layers.Layer:
    """A non-trainable ``(x - mean) / std`` layer, or an identity when no statistics are given."""
    if normalization is None:
        return layers.Identity(name="no_normalization")
    try:
        mean, std = (float(value) for value in normalization)
    except (TypeError, ValueError):
        raise ConfigError(
            f"normalization={normalization!r} must be a (mean, std) pair of numbers or None"
        ) from None
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ConfigError(
            f"normalization=(mean={mean}, std={std}) must be finite with std > 0"
        )
    # axis=None: one scalar mean and variance for every cell of the spectrogram. The values are
    # part of the layer's config, so a saved model carries them.
    layer = layers.Normalization(axis=None, mean=mean, variance=std**2, name="normalization")
    layer.trainable = False
    return layer


@keras.saving.register_keras_serializable(package="helpers")
class Clip(layers.Layer):
    """Clip every value to ``[-limit, limit]`` (no weights; saved with its limit)."""

    def __init__(self, limit: float, **kwargs):
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, inputs):
        return keras.ops.clip(inputs, -self.limit, self.limit)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


def _vector_normalization_layer(normalization, *, n_features: int) -> layers.Layer:
    """A non-trainable per-feature ``(x - mean) / std`` layer, or an identity."""
    if normalization is None:
        return layers.Identity(name="no_normalization")
    try:
        mean, std = (np.asarray(value, dtype=np.float64).reshape(-1) for value in normalization)
    except (TypeError, ValueError):
        raise ConfigError("normalization must be a (mean, std) pair of vectors or None") from None
    if mean.shape != (n_features,) or std.shape != (n_features,):
        raise ConfigError(f"normalization vectors have shapes {mean.shape}, {std.shape}; "
                          f"expected ({n_features},) each")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ConfigError("normalization=(mean, std) must be finite with every std > 0")
    layer = layers.Normalization(axis=-1, mean=mean.tolist(), variance=(std**2).tolist(),
                                 name="normalization")
    layer.trainable = False
    return layer


def _layer_policy(mixed_precision: bool | None):
    """The dtype policy for the hidden layers (None: follow the global policy)."""
    if mixed_precision is None:
        mixed_precision = config.default_mixed_precision()
    if not isinstance(mixed_precision, bool):
        raise ConfigError(f"mixed_precision={mixed_precision!r} must be True, False or None")
    return MIXED_POLICY if mixed_precision else None


def _glorot(seed: int, offset: int) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=seed + offset * _SEED_STRIDE)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------

def _check_input_shape(input_shape, *, allow_unknown_frames: bool) -> tuple[int | None, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ConfigError(
            f"input_shape={input_shape!r} must be a (n_mels, n_frames, channels) tuple"
        ) from None
    ok = len(shape) == 3
    if ok:
        for axis, size in enumerate(shape):
            if size is None and axis == 1 and allow_unknown_frames:
                continue
            if not is_int(size, minimum=1):
                ok = False
    if not ok:
        frames = "a positive int or None" if allow_unknown_frames else "a positive int"
        raise ConfigError(
            f"input_shape={input_shape!r} must be (n_mels, n_frames, channels) with positive "
            f"ints (n_frames {frames})"
        )
    return tuple(None if size is None else int(size) for size in shape)


def _check_common(*, dense_units: int, dropout_rate: float,
                  learning_rate: float, seed: int) -> tuple[int, int]:
    """Check the arguments every builder takes; return ``dense_units`` and ``seed`` as ints."""
    dense_units = _check_positive_int("dense_units", dense_units)
    if not (isinstance(dropout_rate, (int, float)) and 0 <= dropout_rate < 1):
        raise ConfigError(f"dropout_rate={dropout_rate!r} must be a number in [0, 1)")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)
            and learning_rate > 0):
        raise ConfigError(f"learning_rate={learning_rate!r} must be a positive finite number")
    return dense_units, check_int(seed, name="seed", minimum=0)


def _check_n_classes(n_classes) -> int:
    return check_int(n_classes, name="n_classes", minimum=2)


def _check_positive_int(name: str, value) -> int:
    return check_int(value, name=name, minimum=1)


def _check_window(name: str, value) -> tuple[int, int]:
    """Normalise a kernel or pool size to a pair of positive ints."""
    pair = (value, value) if is_int(value) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(is_int(v, minimum=1) for v in pair):
        raise ConfigError(f"{name}={value!r} must be a positive int or a pair of positive ints")
    return (int(pair[0]), int(pair[1]))
