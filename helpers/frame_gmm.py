"""The ``ours`` gender model: one Gaussian mixture per gender over the cepstra of speech frames.

The classical speaker-gender classifier (e.g. Reynolds-style GMMs on MFCCs): every frame of the
log-mel window that lies within ``floor_db`` of the window's loudest frame (speech, not the
silence or the zero padding) is turned into cepstral coefficients 1 … ``n_cepstra`` (the
orthonormal DCT-II of its log-mel bands; coefficient 0, the level, is left out, so the gain of
the recording changes nothing). Each gender has a mixture of ``n_components`` diagonal
Gaussians over these frames, fitted by expectation-maximisation (scikit-learn's
``GaussianMixture``) on the training actors' frames. A clip's score is the mean over its speech
frames of ``log p(frame | female) - log p(frame | male)``, and ``P(female)`` is the logistic
function of it: a clip is called female when its frames are, on average, likelier under the
female mixture.

Another microphone or room adds its response (in dB) to every frame's bands, so it moves every
frame's cepstra. Two remedies, both measured on validation actors (``helpers.recipes``): the
recipe's training windows come with copies through random responses
(``Recipe.channel_copies``; :func:`helpers.channel.response_copy`), so the mixtures learn the
voices under many colourings; and ``mean_normalise`` subtracts each window's mean speech
cepstrum (cepstral mean normalisation), which removes any fixed response but also the part of
the voice that is the same in every frame. Two more, for ``ours-robust`` (session 15): ``range_db``
raises every band value to at least the window's loudest less ``range_db`` (a lossy codec
empties whole bands of quiet frames), and ``relevance`` fits one background mixture to both
genders' frames and MAP-adapts its means to each gender (:func:`map_adapted`), so that frames
unlike any training frame score near zero rather than at random. And (session 16) ``low_bands``
adds cepstra of the lowest bands alone (:func:`projection`), where a voice's harmonics show.

Mean normalisation has a price (session 22): the mean of a short window's speech cepstra
depends on its words, so frames of words the training windows did not hold land elsewhere (on
RAVDESS validation actors, fitted on the first half of each window and scored on the second,
0.68 with it against 0.91 without). ``fuse_unnormalised`` scores each window twice, with and
without mean normalisation (two background mixtures, one per feature path), and averages the
two mean log-likelihood ratios: each path covers the other's weakness (the channel, the words).

Why frames rather than the clip's functionals: with 20 training speakers, a classifier of one
vector per clip (ComParE functionals, logistic regression) stayed at 0.95 on unseen actors
(errors on a few atypical voices: a low-voiced woman's calm speech, a man's strong-intensity
speech), where the frame mixtures score every frame's spectral envelope and reached 0.974 (the
README has the per-fold numbers).

The model is a Keras model (:func:`build_frame_gmm`) whose only weights are the mixtures'
parameters (not trainable); :func:`fit_frame_gmm` computes them and writes them in, as
:func:`helpers.training.solve_logistic` does for the logistic regression. The Keras forward
pass and the NumPy reference :func:`cepstral_frames` compute the same frames; a saved model
carries everything it needs.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
from keras import layers, ops

from helpers import config
from helpers.errors import ConfigError, TrainingError, check_int

#: The recipe's settings (chosen on validation actors: see ``helpers.recipes.ours_gender``).
N_COMPONENTS = 32
N_CEPSTRA = 19
FLOOR_DB = 35.0
#: Frames drawn (at random, seeded) from each gender's training frames to fit its mixture.
MAX_FRAMES = 60_000
EM_MAX_ITER = 100


def dct_matrix(n_mels: int, n_cepstra: int) -> np.ndarray:
    """Rows 1 … ``n_cepstra`` of the orthonormal DCT-II over ``n_mels`` bands, float64."""
    bands = np.arange(n_mels)
    rows = np.arange(1, n_cepstra + 1)[:, np.newaxis]
    return math.sqrt(2.0 / n_mels) * np.cos(math.pi * rows * (2 * bands + 1) / (2 * n_mels))


def projection(n_mels: int, n_cepstra: int, low_bands: int | None = None,
               low_cepstra: int | None = None) -> np.ndarray:
    """What turns a frame's log-mel bands into the features the mixtures score, float64.

    DCT rows 1 … ``n_cepstra`` over all ``n_mels`` bands (the spectral envelope); with
    ``low_bands``, below them DCT rows 1 … ``low_cepstra`` over the lowest ``low_bands`` bands
    alone (at 64 bands over 0-8 kHz the lowest 22 lie below 1 kHz, 46 Hz apart, where a voice's
    harmonics stand 2-5 bands apart: the ripple they draw there, its pitch, and the first
    formant are what these rows see). Shape ``(n_features, n_mels)``.
    """
    rows = dct_matrix(n_mels, n_cepstra)
    if low_bands is None:
        return rows
    low = np.zeros((low_cepstra, n_mels))
    low[:, :low_bands] = dct_matrix(low_bands, low_cepstra)
    return np.vstack([rows, low])


def cepstral_frames(log_mel: np.ndarray, *, n_cepstra: int = N_CEPSTRA,
                    floor_db: float = FLOOR_DB, mean_normalise: bool = False,
                    range_db: float | None = None, low_bands: int | None = None,
                    low_cepstra: int | None = None) -> np.ndarray:
    """The speech frames of one log-mel window as cepstra (what the model scores).

    Parameters
    ----------
    log_mel : np.ndarray [shape=(n_mels, n_frames) or (n_mels, n_frames, 1)]
        In dB (:func:`helpers.features.log_mel`).
    mean_normalise : bool
        Subtract the mean of the speech frames' cepstra (cepstral mean normalisation): a
        fixed microphone or room response, which adds the same cepstrum to every frame, then
        changes nothing.
    range_db : float, optional
        Raise every band value to at least the window's loudest value less ``range_db`` first
        (a dynamic-range floor): a lossy codec empties whole bands of quiet frames (down to
        the log-mel floor of -100 dB), and without it those frames' cepstra lie far from
        anything the mixtures learned.
    low_bands, low_cepstra : int, optional
        Add cepstra 1 … ``low_cepstra`` of the lowest ``low_bands`` bands alone (:func:`projection`).

    Returns
    -------
    np.ndarray [shape=(n_speech_frames, n_features), dtype=float32]
        ``n_features`` is ``n_cepstra`` (+ ``low_cepstra``).
        Frames whose loudest band is within ``floor_db`` of the window's loudest.
    """
    s = np.asarray(log_mel, dtype=np.float64)
    if s.ndim == 3:
        s = s[..., 0]
    if s.ndim != 2:
        raise ConfigError(f"log_mel has shape {np.shape(log_mel)}; expected (n_mels, n_frames)")
    if range_db is not None:
        s = np.maximum(s, s.max() - range_db)
    peak = s.max(axis=0)
    keep = peak >= peak.max() - floor_db
    cepstra = (projection(s.shape[0], n_cepstra, low_bands, low_cepstra) @ s[:, keep]).T
    if mean_normalise:
        cepstra = cepstra - cepstra.mean(axis=0)
    return cepstra.astype(np.float32)


@keras.saving.register_keras_serializable(package="helpers")
class FrameGMMScore(layers.Layer):
    """Mean log-likelihood ratio (female vs male) of a log-mel window's speech frames.

    Input ``(batch, n_mels, n_frames[, 1])`` in dB; output ``(batch, 1)``. The weights (DCT
    rows, each gender's means, log-variances and log-weights) are set by
    :func:`fit_frame_gmm`; until then every frame scores 0. With ``range_db`` every band value
    is raised to at least the window's loudest less ``range_db``; with ``mean_normalise`` each
    window's speech frames have their mean cepstrum subtracted; with ``low_bands`` the frames
    also carry cepstra of the lowest bands alone (:func:`cepstral_frames`).
    """

    def __init__(self, n_components: int = N_COMPONENTS, n_cepstra: int = N_CEPSTRA,
                 floor_db: float = FLOOR_DB, mean_normalise: bool = False,
                 range_db: float | None = None, relevance: float | None = None,
                 low_bands: int | None = None, low_cepstra: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.n_components = int(n_components)
        self.n_cepstra = int(n_cepstra)
        self.floor_db = float(floor_db)
        self.mean_normalise = bool(mean_normalise)
        self.range_db = None if range_db is None else float(range_db)
        self.low_bands = None if low_bands is None else int(low_bands)
        self.low_cepstra = None if low_bands is None else int(low_cepstra)
        self.n_features = self.n_cepstra + (self.low_cepstra or 0)
        # How the mixtures are fitted (read by fit_frame_gmm; the forward pass does not need it).
        self.relevance = None if relevance is None else float(relevance)

    def build(self, input_shape):
        n_mels = int(input_shape[1])
        k, d = self.n_components, self.n_features
        rows = projection(n_mels, self.n_cepstra, self.low_bands, self.low_cepstra)
        self.dct = self.add_weight(name="dct", shape=(d, n_mels), trainable=False,
                                   initializer=keras.initializers.Constant(rows))
        self.means = self.add_weight(name="means", shape=(2, k, d), trainable=False,
                                     initializer="zeros")
        self.log_variances = self.add_weight(name="log_variances", shape=(2, k, d),
                                             trainable=False, initializer="zeros")
        self.log_weights = self.add_weight(name="log_weights", shape=(2, k), trainable=False,
                                           initializer=keras.initializers.Constant(-math.log(k)))

    def call(self, inputs):
        s = ops.cast(inputs, "float32")
        if len(s.shape) == 4:
            s = s[..., 0]
        if self.range_db is not None:
            s = ops.maximum(s, ops.max(s, axis=(1, 2), keepdims=True) - self.range_db)
        cepstra = ops.einsum("dm,bmt->btd", self.dct, s)  # (batch, frames, d)
        peak = ops.max(s, axis=1)  # (batch, frames)
        mask = ops.cast(peak >= ops.max(peak, axis=1, keepdims=True) - self.floor_db, "float32")
        n_speech = ops.maximum(ops.sum(mask, axis=1), 1.0)  # (batch,)
        if self.mean_normalise:
            mean = ops.sum(cepstra * mask[..., None], axis=1) / n_speech[:, None]
            cepstra = cepstra - mean[:, None, :]
        scores = []
        for g in range(2):
            inverse = ops.exp(-self.log_variances[g])  # (k, d)
            diff = cepstra[:, :, None, :] - self.means[g][None, None]  # (batch, frames, k, d)
            quadratic = ops.sum(ops.square(diff) * inverse, axis=-1)
            constant = ops.sum(self.log_variances[g], axis=-1) + self.n_features * math.log(2 * math.pi)
            scores.append(ops.logsumexp(self.log_weights[g] - 0.5 * (quadratic + constant), axis=-1))
        ratio = ops.sum((scores[1] - scores[0]) * mask, axis=1) / n_speech
        return ratio[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components,
                "n_cepstra": self.n_cepstra, "floor_db": self.floor_db,
                "mean_normalise": self.mean_normalise, "range_db": self.range_db,
                "relevance": self.relevance, "low_bands": self.low_bands,
                "low_cepstra": self.low_cepstra}


def build_frame_gmm(input_shape=config.FEATURES.input_shape, *, n_components: int = N_COMPONENTS,
                    n_cepstra: int = N_CEPSTRA, floor_db: float = FLOOR_DB,
                    mean_normalise: bool = False, range_db: float | None = None,
                    relevance: float | None = None, low_bands: int | None = None,
                    low_cepstra: int | None = None, fuse_unnormalised: bool = False,
                    normalization=None, seed: int = config.SEED, n_classes: int = 1,
                    name: str = "gender_frame_gmm") -> keras.Model:
    """The ``ours`` gender model on a log-mel window: ``P(female)`` from two frame mixtures.

    With ``fuse_unnormalised`` (only with ``mean_normalise``) a second :class:`FrameGMMScore`
    layer, ``frame_gmm_unnormalised``, scores the same frames without the mean normalisation
    (its own mixtures, the other settings the same), and ``P(female)`` is the logistic function
    of the mean of the two layers' log-likelihood ratios.

    ``normalization`` (the recipe's input statistics) and ``seed`` are accepted for the
    training path's builder interface: the cepstra leave out the level, and
    :func:`fit_frame_gmm` is seeded by the training path. Compiled (binary cross-entropy) only
    so that it saves, loads and evaluates like the other models; nothing in it is trainable.

    Raises
    ------
    ConfigError
        If a setting is out of range, ``fuse_unnormalised`` is asked for without
        ``mean_normalise``, or ``n_classes`` is not 1 (it is a gender model).
    """
    n_components = check_int(n_components, name="n_components", minimum=1, error=ConfigError)
    n_cepstra = check_int(n_cepstra, name="n_cepstra", minimum=1, error=ConfigError)
    if n_classes != 1:
        raise ConfigError(f"n_classes={n_classes!r}: the frame GMM is a gender model (one output)")
    if not (isinstance(floor_db, (int, float)) and floor_db > 0):
        raise ConfigError(f"floor_db={floor_db!r} must be a positive number of dB")
    if range_db is not None and not (isinstance(range_db, (int, float)) and range_db > floor_db):
        raise ConfigError(f"range_db={range_db!r} must be None or a number of dB above "
                          f"floor_db={floor_db!r} (it must not decide which frames are speech)")
    if relevance is not None and not (isinstance(relevance, (int, float)) and relevance > 0):
        raise ConfigError(f"relevance={relevance!r} must be None (a mixture per gender fitted on its "
                          f"own) or a positive number (MAP adaptation of one background mixture)")
    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or shape[0] is None or shape[0] <= n_cepstra:
        raise ConfigError(f"input_shape={shape} must be (n_mels, n_frames[, 1]) with n_mels > "
                          f"n_cepstra={n_cepstra}")
    if (low_bands is None) != (low_cepstra is None):
        raise ConfigError(f"low_bands={low_bands!r} and low_cepstra={low_cepstra!r} must be given "
                          f"together (or neither)")
    if low_bands is not None:
        low_bands = check_int(low_bands, name="low_bands", minimum=2, error=ConfigError)
        low_cepstra = check_int(low_cepstra, name="low_cepstra", minimum=1, error=ConfigError)
        if low_bands > shape[0] or low_cepstra >= low_bands:
            raise ConfigError(f"low_bands={low_bands} must be at most n_mels={shape[0]} and "
                              f"low_cepstra={low_cepstra} below low_bands")
    if fuse_unnormalised and not mean_normalise:
        raise ConfigError("fuse_unnormalised=True needs mean_normalise=True (it adds the frames "
                          "without the mean normalisation beside those with it)")
    spectrogram = keras.Input(shape=shape, name="log_mel")
    ratio = FrameGMMScore(n_components, n_cepstra, floor_db, mean_normalise, range_db, relevance,
                          low_bands, low_cepstra, name="frame_gmm")(spectrogram)
    if fuse_unnormalised:
        unnormalised = FrameGMMScore(n_components, n_cepstra, floor_db, False, range_db, relevance,
                                     low_bands, low_cepstra, name="frame_gmm_unnormalised")(spectrogram)
        ratio = layers.Average(name="mean_ratio", dtype="float32")([ratio, unnormalised])
    probability = layers.Activation("sigmoid", name="p_female", dtype="float32")(ratio)
    model = keras.Model(spectrogram, probability, name=name)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    return model


def map_adapted(background, frames: np.ndarray, relevance: float):
    """``background`` (a fitted diagonal ``GaussianMixture``) with its means MAP-adapted to
    ``frames`` (Reynolds, Quatieri and Dunn 2000): each mean moves towards the frames it is
    responsible for, by ``n / (n + relevance)`` of the way for ``n`` frames' worth of
    responsibility; weights and variances stay the background's."""
    from sklearn.mixture import GaussianMixture

    responsibility = background.predict_proba(frames)
    counts = responsibility.sum(axis=0)
    seen = responsibility.T @ frames / np.maximum(counts, 1e-10)[:, np.newaxis]
    alpha = (counts / (counts + relevance))[:, np.newaxis]
    adapted = GaussianMixture(background.n_components, covariance_type="diag")
    adapted.weights_ = background.weights_.copy()
    adapted.covariances_ = background.covariances_.copy()
    adapted.precisions_cholesky_ = background.precisions_cholesky_.copy()
    adapted.means_ = alpha * seen + (1.0 - alpha) * background.means_
    return adapted


def fit_frame_gmm(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, *,
                  seed: int) -> dict[str, list[float]]:
    """Fit the mixtures of every :class:`FrameGMMScore` layer of ``model`` on the training
    windows' speech frames and write them in.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_frame_gmm`.
    x_train : np.ndarray [shape=(n, n_mels, n_frames[, 1])]
        Log-mel windows in dB.
    y_train : np.ndarray [shape=(n,) or (n, 1)]
        1 = female, 0 = male.
    seed : int
        Seeds the frame subsample and the mixtures' initialisation.

    Returns
    -------
    dict
        A one-entry history: ``loss`` (mean binary cross-entropy of the training windows),
        ``em_iterations`` (the larger EM iteration count; the background mixture's with
        ``relevance``) and ``solve_seconds``.

    Raises
    ------
    TrainingError
        If the model has no :class:`FrameGMMScore` layer or a gender has no training window.
    """
    scorers = [layer for layer in model.layers if isinstance(layer, FrameGMMScore)]
    if not scorers:
        raise TrainingError(f"model {model.name!r} has no FrameGMMScore layer to fit")
    labels = np.asarray(y_train).reshape(len(y_train), -1)[:, 0].astype(int)
    started = time.perf_counter()
    # Each layer's mixtures from the same seed, as if it were the model's only layer; a fused
    # model's score is the mean of its layers' ratios (build_frame_gmm).
    fitted = [_fit_layer(layer, x_train, labels, seed=seed) for layer in scorers]
    # Written only when every layer has been fitted: a fit that fails in a later layer leaves
    # the model as it was, not half fitted.
    for layer, (_, _, weights) in zip(scorers, fitted):
        layer.set_weights(weights)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    solve_seconds = time.perf_counter() - started
    ratio = np.mean([ratios for ratios, _, _ in fitted], axis=0)
    margin = np.where(labels == 1, ratio, -ratio)
    loss = float(np.mean(np.logaddexp(0.0, -margin)))  # binary cross-entropy of sigmoid(ratio)
    iterations = max(n for _, n, _ in fitted)
    return {"loss": [loss], "em_iterations": [float(iterations)], "solve_seconds": [solve_seconds]}


def _fit_layer(layer: FrameGMMScore, x_train: np.ndarray, labels: np.ndarray, *,
               seed: int) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Fit one layer's mixtures; return its training windows' ratios, the larger EM iteration
    count and the layer's weights (for ``layer.set_weights``; not written here)."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    # Each window's frames once: they fit the mixtures and then score the training loss.
    window_frames = [cepstral_frames(window, n_cepstra=layer.n_cepstra, floor_db=layer.floor_db,
                                     mean_normalise=layer.mean_normalise, range_db=layer.range_db,
                                     low_bands=layer.low_bands, low_cepstra=layer.low_cepstra)
                     for window in x_train]
    by_gender = []
    for gender in (0, 1):
        rows = np.flatnonzero(labels == gender)
        if rows.size == 0:
            raise TrainingError(f"no {('male', 'female')[gender]} training window: the frame "
                                f"GMM needs both genders")
        frames = np.concatenate([window_frames[k] for k in rows])
        if len(frames) > MAX_FRAMES:
            frames = frames[np.sort(rng.choice(len(frames), MAX_FRAMES, replace=False))]
        if len(frames) < layer.n_components:
            raise TrainingError(f"{len(frames)} {('male', 'female')[gender]} speech frames; "
                                f"the mixture needs at least n_components={layer.n_components}")
        by_gender.append(frames.astype(np.float64))
    if layer.relevance is None:
        mixtures = [GaussianMixture(layer.n_components, covariance_type="diag", max_iter=EM_MAX_ITER,
                                    random_state=seed + gender).fit(frames)
                    for gender, frames in enumerate(by_gender)]
        iterations = [m.n_iter_ for m in mixtures]
    else:
        background = GaussianMixture(layer.n_components, covariance_type="diag", max_iter=EM_MAX_ITER,
                                     random_state=seed).fit(np.concatenate(by_gender))
        mixtures = [map_adapted(background, frames, layer.relevance) for frames in by_gender]
        iterations = [background.n_iter_]
    parameters = [(m.means_, np.log(m.covariances_), np.log(m.weights_)) for m in mixtures]
    dct, *_ = layer.get_weights()
    weights = [dct, *(np.stack([p[i] for p in parameters]).astype(np.float32) for i in range(3))]
    # The layer's score of each window (its mean frame log-likelihood ratio), from the mixtures
    # themselves rather than a second pass of every window through the model.
    ratio = np.array([mixtures[1].score(f) - mixtures[0].score(f) for f in window_frames])
    return ratio, int(max(iterations)), weights
