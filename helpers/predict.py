"""Predict the emotion and the speaker's gender of any audio file with the saved models.

One concern: from saved models and audio files to predictions. :class:`Predictor` finds and
loads the models with their sidecars, turns each file into the models' inputs exactly as
training did, and scores it; :func:`compare_with_features` checks that it does. The command
``python -m helpers.predict FILE_OR_FOLDER...`` is :mod:`helpers.predict_cli` (run by this
module's ``__main__`` block), and notebook 06's upload box is :mod:`helpers.upload`; both only
call :class:`Predictor`.

**Why it is over 500 lines.** Nearly all of it is one chain that must stay identical to
training: find and check the saved models (their sidecars give the preprocessing), cut a file
into the training windows under the rules that refuse a file with a reason, and score the
windows; much of the length is docstrings and input checks. Each step reads the one before, and
notebooks, benchmarks and tests use the pieces as ``helpers.predict.*``. Finding and loading the
models (``find_*_model``, ``resolve_model*``, ``load_model``; about 350 lines) is the part
that could move to a module of its own next.

**The training preprocessing, by construction.** A window is read with
:func:`helpers.audio.load_audio` at the offset and length of the model's feature configuration
(mono, resampled with soxr), padded with :func:`helpers.audio.fix_length` and turned into a
log-mel by :func:`helpers.features.log_mel`: the calls :func:`helpers.features.build_features`
makes for the clean variant. The configuration comes from the model's sidecar, never from
defaults, and the normalisation statistics are inside the saved model.

**Windows.** The first window is the training window, ``offset_s`` to ``offset_s + duration_s``
(0.5 s to 3.5 s); a file shorter than ``offset_s + duration_s / 2`` (2 s; every RAVDESS clip is
longer) cannot hold the leading silence the offset skips, so it is read from its start. Later
windows follow every ``hop_s`` seconds (default: one window length, no overlap) while at least
``MIN_WINDOW_FILL`` of the window holds audio, so a RAVDESS-length clip (up to 5.75 s) gets
exactly the training window and a longer recording several, whose scores are averaged. A short
last window is zero-padded, as training pads short clips. Windows without signal are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

from helpers import audio, config, features
from helpers.errors import AudioError, ProjectError

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_DURATION_S",
    "MIN_WINDOW_FILL",
    "GENDER_MODEL_NAME",
    "TRAIN_EMOTION",
    "TRAIN_GENDER",
    "PredictionError",
    "ModelNotFoundError",
    "LoadedModel",
    "Prediction",
    "Predictor",
    "window_starts",
    "prepare_windows",
    "collect_audio_files",
    "compare_with_features",
    "find_emotion_model",
    "find_gender_model",
    "resolve_model_path",
    "resolve_models",
    "load_model",
    "predictions_table",
    "speaker_notes",
    "MIN_SPEAKER_FILES",
    "FEW_SPEAKER_FILES",
    "speaker_standardised",
    "into_model_scale",
]

#: Files this long or longer are refused: the models saw 3 s windows, and a recording of many
#: minutes is more likely a mistake than a clip (``max_duration_s=None`` lifts the limit).
MAX_DURATION_S = 60.0
#: A window after the first is used when at least this fraction of it holds audio.
MIN_WINDOW_FILL = 0.75
#: The name notebook 05 saves the gender model under (``gender.keras`` + ``gender.json``).
GENDER_MODEL_NAME = "gender"
#: Suffixes looked for when a folder is walked (a file named explicitly is always tried): the
#: project's one list, ``audio.AUDIO_SUFFIXES``.
AUDIO_SUFFIXES = audio.AUDIO_SUFFIXES

#: Speaker-adaptive prediction (:meth:`Predictor.predict_speakers`) standardises each speaker's
#: functionals over that speaker's usable files: a mean and a spread need at least two.
MIN_SPEAKER_FILES = 2
#: Fewer usable files than this per speaker get a caution: the standardisation assumes a
#: speaker's files cover several emotions, and on a few it moves with whatever they happen to
#: hold (the README measures how far, by the number of files per speaker).
FEW_SPEAKER_FILES = 10
#: The layer that holds a functionals model's normalisation statistics (``models.build_functionals_mlp``).
NORMALIZATION_LAYER = "normalization"

#: What to run when a model is missing (said in the messages).
TRAIN_EMOTION = "`python run_all.py --only 01,02,03` (notebook 03_emotion.ipynb saves the emotion models)"
TRAIN_GENDER = "`python run_all.py --only 05` (notebook 05_gender.ipynb saves gender.keras)"


class PredictionError(ProjectError):
    """Prediction cannot run: a model, an argument or an input is not usable."""


class ModelNotFoundError(PredictionError):
    """No saved model where one was looked for, or a saved model is not for the task asked."""


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class LoadedModel:
    """A saved model with what its sidecar says about using it.

    Attributes
    ----------
    path : Path
        The ``.keras`` file.
    model : keras.Model
    sidecar : dict
        The ``.json`` sidecar as saved.
    feature_config : config.FeatureConfig
        The preprocessing the model was trained with.
    labels : tuple of str
        Output order (emotion names; ``("male", "female")`` for gender).
    task : str
        ``"emotion"`` or ``"gender"``.
    """

    path: Path
    model: object
    sidecar: dict
    feature_config: config.FeatureConfig
    labels: tuple[str, ...]
    task: str

    @property
    def input_names(self) -> list[str]:
        """Names of the model's inputs (a fusion model has ``log_mel`` and ``gender``)."""
        return [tensor.name.split(":")[0] for tensor in self.model.inputs]

    @property
    def features(self) -> str:
        """``"log_mel"`` (windows of log-mels), or the openSMILE set of a functionals model."""
        return str(self.sidecar.get("features", "log_mel"))

    @property
    def level_db(self) -> float | None:
        """The speech level a functionals model's recipe scales every recording to, or None."""
        return self._recipe_number("level_db")

    @property
    def trim_db(self) -> float | None:
        """How far below its loudest frame a functionals model's recipe trims each recording's
        leading and trailing silence, or None (models saved before the setting existed)."""
        return self._recipe_number("trim_db")

    @property
    def trim_floor_db(self) -> float | None:
        """How far above the recording's noise floor that trim also requires speech to lie, or
        None (the trim alone; models saved before session 16)."""
        return self._recipe_number("trim_floor_db")

    @property
    def signal_options(self) -> dict:
        """``level_db``, ``trim_db`` and ``trim_floor_db`` for :func:`helpers.functionals.extract`."""
        return {"level_db": self.level_db, "trim_db": self.trim_db, "trim_floor_db": self.trim_floor_db}

    def _recipe_number(self, key: str) -> float | None:
        recipe = self.sidecar.get("recipe")
        value = recipe.get(key) if isinstance(recipe, dict) else None
        return None if value is None else float(value)

    @property
    def test_time_speeds(self) -> tuple[float, ...]:
        """Speeds a functionals model's recipe also plays each recording at, averaging the
        probabilities (test-time augmentation; empty for none)."""
        recipe = self.sidecar.get("recipe")
        speeds = recipe.get("test_time_speeds") if isinstance(recipe, dict) else None
        return tuple(float(v) for v in speeds or ())

    @property
    def needs_gender(self) -> bool:
        """True for a fusion emotion model, which takes the speaker's gender as a second input."""
        return "gender" in self.input_names

    @property
    def positive_label(self) -> str:
        """For a binary model, the label its sigmoid output is the probability of."""
        return self.sidecar.get("positive_label", self.labels[-1])

    @property
    def threshold(self) -> float:
        """For a binary model, the probability above which the positive label is predicted."""
        return float(self.sidecar.get("threshold", 0.5))

    @property
    def shipped(self) -> bool:
        """True for a model shipped with the project (``models/``, :mod:`helpers.pretrained`)."""
        return bool(self.sidecar.get("shipped"))

    @property
    def name(self) -> str:
        """The file name, marked ``(shipped)`` for a shipped model: what outputs call the model."""
        return self.path.name + (" (shipped)" if self.shipped else "")

    def describe(self) -> str:
        """One line: file, and what the sidecar says about how the model was trained."""
        facts = [self.sidecar.get(key) for key in ("variant", "protocol")]
        if self.shipped:
            facts.insert(0, "shipped with the project, trained on all of "
                            + str(self.sidecar.get("dataset", "RAVDESS")) + "; see models/MODEL_CARD.md")
        recipe = self.sidecar.get("recipe")
        if isinstance(recipe, dict) and recipe.get("name"):
            facts.insert(0, f"recipe {recipe['name']} ({self.features}, {self.sidecar.get('mode', 'single-clip')})")
        facts = [str(f) for f in facts if f]
        if self.sidecar.get("data"):
            facts.append(f"{self.sidecar['data']} data")
        if self.sidecar.get("profile"):
            facts.append(f"profile {self.sidecar['profile']}")
        if self.sidecar.get("test_actors"):
            facts.append("test actors " + ", ".join(str(a) for a in self.sidecar["test_actors"]))
        return f"{self.path}" + (f" ({'; '.join(facts)})" if facts else "")


def resolve_model_path(name: str | os.PathLike, *, models_dir: str | os.PathLike | None = None,
                       task: str = "emotion") -> Path:
    """The ``.keras`` file a model name or path refers to.

    Parameters
    ----------
    name : str or PathLike
        A path (with or without ``.keras``, or the ``.json`` sidecar's), or a model name
        looked up in ``models_dir`` (``emotion_clean_speaker-independent``, ``gender``).
    models_dir : path, optional
        Default ``config.MODELS_DIR``.
    task : str
        Named in the message when nothing is found.

    Raises
    ------
    ModelNotFoundError
        If no such model file exists; the message lists the models that do.
    """
    folder = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    given = Path(name).expanduser()
    base = given.with_suffix("") if given.suffix in (".keras", ".json") else given
    candidates = [base.with_name(base.name + ".keras")]
    if not given.is_absolute() and len(given.parts) == 1:
        candidates.append(folder / candidates[0].name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    available = sorted(p.stem for p in folder.glob("*.keras")) if folder.is_dir() else []
    raise ModelNotFoundError(
        f"{task} model {str(name)!r} not found (looked for {', '.join(map(str, candidates))}); "
        + (f"models in {folder}: {', '.join(available)}" if available else f"{folder} holds no models")
    )


def _real_data_models(folder: Path, pattern: str, task: str) -> list[tuple[Path, dict, float]]:
    """Models in ``folder`` trained by this checkout on real data (sidecar ``data: real``)."""
    found = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        sidecar = _read_sidecar(path)
        if sidecar is None or sidecar.get("task", task) != task or sidecar.get("data") != "real":
            continue
        if _is_multi_input(sidecar):
            continue
        found.append((path, sidecar, path.stat().st_mtime))
    return found


def _current_candidates(candidates: list[tuple[Path, dict, float]]) -> list[tuple[Path, dict, float]]:
    """The candidates a default may come from: none when the newest real-data model is a
    functionals model of an older version (that run's models are stale: the shipped ones serve
    better than its reconstruction CNNs), else those on today's features."""
    current = [c for c in candidates if _current_features(c[1])]
    stale = [c for c in candidates if not _current_features(c[1])]
    if current and stale and max(c[2] for c in stale) >= max(c[2] for c in current):
        return []
    return current


def _current_features(sidecar: dict) -> bool:
    """False for a functionals model trained on functionals computed another way than today's
    (:func:`helpers.functionals.check_model_sidecar` would refuse it): never a default."""
    if sidecar.get("features", "log_mel") == "log_mel":
        return True
    from helpers import functionals

    return functionals.is_current(sidecar)


def _is_ours(sidecar: dict) -> bool:
    recipe = sidecar.get("recipe")
    return isinstance(recipe, dict) and recipe.get("name") == "ours"


def find_emotion_model(models_dir: str | os.PathLike | None = None, *,
                       shipped_dir: str | os.PathLike | None = None) -> Path:
    """The default emotion model: this checkout's newest real-data model, else the shipped one.

    Only models trained on **real** data (sidecar ``"data": "real"``) are candidates: a model
    of the generated stand-in corpus is never chosen silently over the shipped models. The
    newest such model marks the newest run: models saved from the same data (same
    ``data_fingerprint``) count as that run. A functionals model trained on functionals computed
    another way than today's (an older version's) is never chosen, and when it is the newest
    real-data model, its run is stale and the shipped model is used. Among them the ``ours``
    recipe comes first, then
    speaker-independent models, the aggregation variant, then clean; then a tuned model
    (notebook 04's ``*_tuned``) before an untuned one, then the newest. Fusion models (a second,
    gender input) are never chosen by default: name one to use it. Without any, the shipped
    ``emotion_ours`` (:mod:`helpers.pretrained`), checked against its model card.

    Raises
    ------
    ModelNotFoundError
        If there is no real-data model and the shipped model is missing or does not match its
        card; the message names the file and the command that rebuilds it.
    """
    folder = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    candidates = _current_candidates(_real_data_models(folder, "emotion_*.keras", "emotion"))
    if not candidates:
        return _shipped("emotion", shipped_dir)
    newest = max(candidates, key=lambda c: c[2])
    same_run = [c for c in candidates
                if c[1].get("data_fingerprint") == newest[1].get("data_fingerprint")]

    def rank(candidate):
        path, sidecar, mtime = candidate
        tuned = path.stem.endswith("_tuned") or "tuning_studies" in sidecar
        return (_is_ours(sidecar), sidecar.get("protocol") == "speaker-independent",
                sidecar.get("variant") == "aggregation", sidecar.get("variant") == "clean", tuned, mtime)

    return max(same_run, key=rank)[0].resolve()


def find_gender_model(models_dir: str | os.PathLike | None = None, *,
                      shipped_dir: str | os.PathLike | None = None) -> Path:
    """The default gender model: this checkout's newest real-data model, else the shipped one.

    Real-data models only, as for emotion: ``gender_ours`` first, then ``gender.keras`` (notebook
    05's reconstruction), then the newest ``gender*.keras``; without any, or when the newest is a
    functionals model of an older version (see :func:`find_emotion_model`), the shipped
    ``gender_ours``.

    Raises
    ------
    ModelNotFoundError
        If there is no real-data model and the shipped one is missing or corrupt.
    """
    folder = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    candidates = _current_candidates(_real_data_models(folder, "gender*.keras", "gender"))
    if not candidates:
        return _shipped("gender", shipped_dir)
    return max(candidates, key=lambda c: (_is_ours(c[1]), c[0].stem == GENDER_MODEL_NAME, c[2]))[0].resolve()


def resolve_models(emotion_model: str | os.PathLike | None = None,
                   gender_model: str | os.PathLike | None = None, *, use_gender: bool = True,
                   models_dir: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """The model files :meth:`Predictor.load` loads, found without loading them.

    Finding the files is quick (no Keras), so a missing model can be reported before anything
    slow runs.

    Parameters
    ----------
    emotion_model, gender_model : name or path, optional
        See :func:`resolve_model_path`; default :func:`find_emotion_model` and
        :func:`find_gender_model`.
    use_gender : bool
        False: no gender model (``gender_model`` is ignored).
    models_dir : path, optional
        Default ``config.MODELS_DIR``.

    Returns
    -------
    emotion_path : Path
    gender_path : Path or None
        None when ``use_gender`` is False.

    Raises
    ------
    ModelNotFoundError
        If no emotion model is found, or a named model does not exist.
    """
    emotion_path = (resolve_model_path(emotion_model, models_dir=models_dir, task="emotion")
                    if emotion_model else find_emotion_model(models_dir))
    gender_path = None
    if use_gender:
        gender_path = (resolve_model_path(gender_model, models_dir=models_dir, task="gender")
                       if gender_model else find_gender_model(models_dir))
    return emotion_path, gender_path


def _shipped(task: str, shipped_dir: str | os.PathLike | None) -> Path:
    from helpers import pretrained

    try:
        return pretrained.shipped_model(task, shipped_dir if shipped_dir is not None else pretrained.SHIPPED_DIR)
    except pretrained.ShippedModelError as error:
        raise ModelNotFoundError(f"no {task} model trained on real data in this checkout, and the "
                                 f"shipped one cannot be used: {error}") from None


def load_model(path: str | os.PathLike, *, task: str) -> LoadedModel:
    """Load a model saved with its sidecar and check that it suits ``task``.

    Parameters
    ----------
    path : path
        The ``.keras`` file (its ``.json`` sidecar lies beside it).
    task : {"emotion", "gender"}

    Raises
    ------
    ModelNotFoundError
        If the file or its sidecar is missing, or the sidecar names another task.
    PredictionError
        If the sidecar's feature configuration does not match the model's input shape, or a
        model on openSMILE functionals was trained on functionals computed another way
        (:func:`helpers.functionals.check_model_sidecar`).
    """
    from helpers import model_files  # imports Keras: only when a model is really loaded

    if task not in ("emotion", "gender"):
        raise PredictionError(f"task={task!r} must be 'emotion' or 'gender'")
    from helpers import pretrained

    if pretrained.is_shipped(path):
        try:
            pretrained.check_shipped(Path(path).parent, names=[Path(path).with_suffix(".keras").name,
                                                                Path(path).with_suffix(".json").name])
        except pretrained.ShippedModelError as error:
            raise ModelNotFoundError(str(error)) from None
    try:
        model, sidecar = model_files.load_model_with_sidecar(path, compile=False)
    except model_files.ModelFileError as error:
        raise ModelNotFoundError(str(error)) from None
    saved_task = sidecar.get("task", task)
    accepted = ("emotion", "emotion-fusion") if task == "emotion" else (task,)
    if saved_task not in accepted:
        raise ModelNotFoundError(f"{path}: the sidecar says task={saved_task!r}, expected a {task} model")
    try:
        feature_config = config.FeatureConfig.from_dict(sidecar["feature_config"])
    except (TypeError, ProjectError) as error:
        raise PredictionError(f"{path}: unusable feature_config in the sidecar ({error})") from None
    names = [tensor.name.split(":")[0] for tensor in model.inputs]
    features = sidecar.get("features", "log_mel")
    if features != "log_mel":
        from helpers import functionals

        if features not in functionals.FEATURE_SETS:
            raise PredictionError(f"{path}: the sidecar names features={features!r}; expected "
                                  f"'log_mel' or one of {sorted(functionals.FEATURE_SETS)}")
        try:
            functionals.check_model_sidecar(sidecar, path)
        except functionals.FunctionalsError as error:
            raise PredictionError(str(error)) from None
        if sidecar.get("mode", "single-clip") != "single-clip":
            raise PredictionError(f"{path}: a {sidecar.get('mode')} model needs each speaker's "
                                  f"enrollment statistics; prediction uses single-clip models")
        width = model.inputs[0].shape[-1]
        if len(names) != 1 or width != functionals.DIMENSIONS[features]:
            raise PredictionError(f"{path}: the model takes inputs {names} of width {width}; "
                                  f"{features} has {functionals.DIMENSIONS[features]} functionals")
        labels = tuple(sidecar["labels"])
        return LoadedModel(path=Path(path), model=model, sidecar=sidecar,
                           feature_config=feature_config, labels=labels, task=task)
    if len(names) > 1 and sorted(names) != ["gender", "log_mel"]:
        raise PredictionError(f"{path}: the model has inputs {names}; prediction feeds one "
                              f"log-mel input, or 'log_mel' and 'gender' (fusion)")
    spectrogram = model.inputs[names.index("log_mel")] if "log_mel" in names else model.inputs[0]
    shape = tuple(spectrogram.shape[1:3])
    expected = (feature_config.n_mels, feature_config.n_frames)
    if shape[0] != expected[0] or shape[1] not in (None, expected[1]):
        raise PredictionError(f"{path}: the model takes log-mels of shape {shape}, but its "
                              f"feature_config gives {expected}")
    labels = tuple(sidecar["labels"])
    if task == "emotion" and model.outputs[0].shape[-1] != len(labels):
        raise PredictionError(f"{path}: the model has {model.outputs[0].shape[-1]} outputs but "
                              f"the sidecar lists {len(labels)} labels")
    return LoadedModel(path=Path(path), model=model, sidecar=sidecar,
                       feature_config=feature_config, labels=labels, task=task)


def _read_sidecar(model_path: Path) -> dict | None:
    try:
        sidecar = json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return sidecar if isinstance(sidecar, dict) else None


def _is_multi_input(sidecar: dict) -> bool:
    # save_model_with_sidecar stores one shape for one input, a list of shapes for several.
    shape = sidecar.get("input_shape")
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], list)


# ----------------------------------------------------------------------------------------------
# Audio → windows of log-mels
# ----------------------------------------------------------------------------------------------


def window_starts(duration_s: float, *, feature_config: config.FeatureConfig = config.FEATURES,
                  hop_s: float | None = None, min_fill: float = MIN_WINDOW_FILL) -> list[float]:
    """Start times of the analysis windows of a file ``duration_s`` seconds long.

    Parameters
    ----------
    duration_s : float
        Length of the file.
    feature_config : config.FeatureConfig
        Gives the training window (``offset_s``, ``duration_s``).
    hop_s : float, optional
        Seconds between window starts; default one window length (no overlap).
    min_fill : float
        A window after the first is used when at least this fraction of it holds audio.

    Returns
    -------
    list of float
        The first is ``feature_config.offset_s`` (0 for a file shorter than ``offset_s +
        duration_s / 2``).

    Raises
    ------
    PredictionError
        If ``duration_s`` is not positive, ``hop_s`` is not positive or ``min_fill`` is not
        in (0, 1].
    """
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise PredictionError(f"duration_s={duration_s} must be a positive number of seconds")
    window = feature_config.duration_s
    hop_s = window if hop_s is None else float(hop_s)
    if not np.isfinite(hop_s) or hop_s <= 0:
        raise PredictionError(f"hop_s={hop_s} must be a positive number of seconds")
    if not 0 < min_fill <= 1:
        raise PredictionError(f"min_fill={min_fill} must be in (0, 1]")
    first = feature_config.offset_s if duration_s >= feature_config.offset_s + window / 2 else 0.0
    starts = [first]
    index = 1
    # Starts are computed from the first rather than accumulated, so they carry no drift.
    while (start := first + index * hop_s) + min_fill * window <= duration_s + 1e-9:
        starts.append(round(start, 9))
        index += 1
    return starts


def prepare_windows(path: str | os.PathLike, *,
                    feature_config: config.FeatureConfig = config.FEATURES,
                    hop_s: float | None = None, max_duration_s: float | None = MAX_DURATION_S,
                    min_fill: float = MIN_WINDOW_FILL) -> tuple[np.ndarray, list[float]]:
    """The log-mels a model sees for one audio file, one per analysis window.

    The first window of a RAVDESS clip equals, array for array, what training computed for it:
    ``features.log_mel(audio.load_window(path, feature_config=feature_config))``.

    Parameters
    ----------
    path : path
        Any file libsndfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...), at any sample
        rate, channel count and bit depth.
    feature_config : config.FeatureConfig
        The model's preprocessing (from its sidecar).
    hop_s, min_fill : float
        See :func:`window_starts`.
    max_duration_s : float or None
        Longer files are refused; None for no limit.

    Returns
    -------
    S_db : np.ndarray [shape=(n_windows, n_mels, n_frames), dtype=float32]
    starts : list of float
        Start (seconds) of each window used; silent windows are left out.

    Raises
    ------
    AudioError
        Missing, empty, not audio, header-only, truncated or corrupt, non-finite samples,
        shorter than one FFT frame, longer than ``max_duration_s``, or silent throughout.
        The message names the file and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    info = audio.audio_info(path)
    duration_s = info.frames / info.samplerate
    if max_duration_s is not None and duration_s > max_duration_s:
        raise AudioError(path, f"too long: {duration_s:.1f} s is more than the {max_duration_s:g} s "
                               f"limit (the models were trained on {feature_config.duration_s:g} s "
                               f"windows); cut the file, or raise the limit (--max-duration)")
    _check_decodes(path, expected_frames=info.frames)
    starts = window_starts(duration_s, feature_config=feature_config, hop_s=hop_s,
                           min_fill=min_fill)
    signals, used = [], []
    for start in starts:
        # The same call load_window makes in training, at this window's start.
        y = audio.load_audio(path, sample_rate=feature_config.sample_rate, offset_s=start,
                             duration_s=feature_config.duration_s, n_fft=feature_config.n_fft,
                             check_silence=False)
        if y.size == 0 or float(np.max(np.abs(y))) < audio.SILENCE_PEAK:
            continue
        signals.append(audio.fix_length(y, feature_config.n_samples))
        used.append(start)
    if not signals:
        which = "the analysed window has no" if len(starts) == 1 else f"none of the {len(starts)} windows has"
        raise AudioError(path, f"all-silent: {which} signal above -120 dBFS")
    return features.log_mel(np.stack(signals), feature_config=feature_config), used


def _check_decodes(path: Path, *, expected_frames: int) -> None:
    """Decode the whole file once: a truncated or corrupt compressed file fails here, even when
    the damage lies outside the windows that are analysed."""
    decoded = 0
    try:
        with soundfile.SoundFile(str(path)) as handle:
            for block in handle.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if not np.all(np.isfinite(block)):
                    raise AudioError(path, "contains non-finite samples (NaN or infinity)")
                decoded += len(block)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        reason = str(error).rsplit(": ", 1)[-1].strip() or str(error)
        raise AudioError(path, f"corrupt or truncated audio ({reason})") from None
    if decoded < expected_frames:
        raise AudioError(path, f"truncated: the header declares {expected_frames} frames, "
                               f"only {decoded} could be decoded")


def collect_audio_files(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, str | None]]:
    """Expand files and folders into the files to predict, keeping what cannot be used.

    A file named explicitly is always tried (the decoder decides whether it is audio); a folder
    is walked recursively for files with an audio suffix (``AUDIO_SUFFIXES``), skipping hidden
    files.

    Returns
    -------
    list of (Path, str or None)
        Each file with None, or a path that cannot be predicted with the reason: not found, or
        a folder holding no audio.
    """
    entries: list[tuple[Path, str | None]] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in AUDIO_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                suffixes = ", ".join(sorted(AUDIO_SUFFIXES))
                entries.append((path, f"folder holds no audio files (looked for {suffixes})"))
            entries.extend((p, None) for p in found)
        elif path.is_file():
            entries.append((path, None))
        else:
            entries.append((path, "file or folder not found"))
    return entries


# ----------------------------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Prediction:
    """What was predicted for one file, or why it could not be.

    Attributes
    ----------
    path : str
    ok : bool
    error : str or None
        The reason a file failed (the path is in ``path``).
    emotion : str or None
        The most probable emotion.
    emotion_probabilities : dict of str to float, or None
        Every emotion's probability, averaged over the windows, in the model's label order.
    gender : str or None
        ``"female"`` when ``p_female`` is above the gender model's threshold (0.5), else
        ``"male"``; None without a gender model.
    p_female : float or None
    windows : int or None
        Analysis windows averaged.
    window_starts_s : list of float or None
    emotion_model, gender_model : str or None
        The model files that made the prediction (shipped models are marked ``(shipped)``).
    mode : str
        ``"single-clip"`` (the file alone) or ``"speaker-adaptive"``
        (:meth:`Predictor.predict_speakers`: with the statistics of the speaker's other files).
    speaker : str or None
        Who speaks in the file, as the caller said (speaker-adaptive mode only).
    """

    path: str
    ok: bool
    error: str | None = None
    emotion: str | None = None
    emotion_probabilities: dict[str, float] | None = None
    gender: str | None = None
    p_female: float | None = None
    windows: int | None = None
    window_starts_s: list[float] | None = None
    emotion_model: str | None = None
    gender_model: str | None = None
    mode: str = "single-clip"
    speaker: str | None = None

    @property
    def ranked(self) -> list[tuple[str, float]]:
        """``(emotion, probability)`` from the most to the least probable."""
        return sorted((self.emotion_probabilities or {}).items(), key=lambda kv: -kv[1])

    @property
    def message(self) -> str:
        """``"<path>: <reason>"`` for a failure, ``""`` otherwise."""
        return f"{self.path}: {self.error}" if not self.ok else ""

    def to_dict(self) -> dict:
        """The ``--json`` object: ``path, ok`` and ``error`` or the predictions."""
        if not self.ok:
            return {"path": self.path, "ok": False, "error": self.error, "mode": self.mode,
                    "speaker": self.speaker}
        ranked = self.ranked
        return {"path": self.path, "ok": True, "emotion": self.emotion, "p_emotion": ranked[0][1],
                "runner_up": ranked[1][0] if len(ranked) > 1 else None,
                "p_runner_up": ranked[1][1] if len(ranked) > 1 else None,
                "emotion_probabilities": self.emotion_probabilities, "gender": self.gender,
                "p_female": self.p_female, "windows": self.windows,
                "emotion_model": self.emotion_model, "gender_model": self.gender_model,
                "mode": self.mode, "speaker": self.speaker}


class Predictor:
    """An emotion model and, optionally, a gender model, applied to audio files.

    Parameters
    ----------
    emotion : LoadedModel
    gender : LoadedModel or None
    hop_s : float, optional
        Seconds between windows of a long file (default one window length).
    max_duration_s : float or None
        Longer files are refused (default ``MAX_DURATION_S``); None for no limit.
    calm_as_neutral : bool
        Report "calm" as "neutral" (their probabilities added): most other corpora, and most
        uses, have no separate calm class.

    Raises
    ------
    PredictionError
        If the models are for the wrong tasks, or a fusion emotion model comes without a
        gender model.
    """

    def __init__(self, emotion: LoadedModel, gender: LoadedModel | None = None, *,
                 hop_s: float | None = None, max_duration_s: float | None = MAX_DURATION_S,
                 calm_as_neutral: bool = False):
        if emotion.task != "emotion":
            raise PredictionError(f"emotion={emotion.path} is a {emotion.task} model")
        if gender is not None and gender.task != "gender":
            raise PredictionError(f"gender={gender.path} is a {gender.task} model")
        if emotion.needs_gender and gender is None:
            raise PredictionError(f"{emotion.path} is a fusion model that takes the speaker's gender: "
                                  f"it needs a gender model; train one with {TRAIN_GENDER}")
        if max_duration_s is not None and not max_duration_s > 0:
            raise PredictionError(f"max_duration_s={max_duration_s} must be positive or None")
        window_starts(1.0, hop_s=hop_s)  # validates hop_s
        if calm_as_neutral and not {"calm", "neutral"} <= set(emotion.labels):
            raise PredictionError(f"calm_as_neutral needs 'calm' and 'neutral' among the emotion "
                                  f"model's labels; {emotion.path} has {list(emotion.labels)}")
        self.emotion, self.gender = emotion, gender
        self.hop_s, self.max_duration_s = hop_s, max_duration_s
        self.calm_as_neutral = bool(calm_as_neutral)

    @classmethod
    def load(cls, emotion_model: str | os.PathLike | None = None,
             gender_model: str | os.PathLike | None = None, *, use_gender: bool = True,
             models_dir: str | os.PathLike | None = None, hop_s: float | None = None,
             max_duration_s: float | None = MAX_DURATION_S,
             calm_as_neutral: bool = False) -> "Predictor":
        """Load the named models, or the defaults from ``models_dir``.

        Parameters
        ----------
        emotion_model, gender_model : name or path, optional
            Default: :func:`find_emotion_model` and :func:`find_gender_model`. Without a gender
            model the predictor still predicts emotion, with ``gender=None``.
        use_gender : bool
            False: no gender model, even when one exists.

        Raises
        ------
        ModelNotFoundError
            If no emotion model is found, or a named model does not exist.
        """
        emotion_path, gender_path = resolve_models(emotion_model, gender_model, use_gender=use_gender,
                                                   models_dir=models_dir)
        return cls.from_files(emotion_path, gender_path, hop_s=hop_s, max_duration_s=max_duration_s,
                              calm_as_neutral=calm_as_neutral)

    @classmethod
    def from_files(cls, emotion_path: str | os.PathLike, gender_path: str | os.PathLike | None = None, *,
                   hop_s: float | None = None, max_duration_s: float | None = MAX_DURATION_S,
                   calm_as_neutral: bool = False) -> "Predictor":
        """Load the models at ``emotion_path`` and ``gender_path`` (from :func:`resolve_models`).

        The other arguments are the constructor's. Without ``gender_path`` the predictor
        predicts emotion only.

        Raises
        ------
        ModelNotFoundError
            If a file or its sidecar is missing or corrupt, or is for another task.
        PredictionError
            If a model does not match its sidecar, or the arguments are not usable.
        """
        emotion = load_model(emotion_path, task="emotion")
        gender = load_model(gender_path, task="gender") if gender_path is not None else None
        return cls(emotion, gender, hop_s=hop_s, max_duration_s=max_duration_s,
                   calm_as_neutral=calm_as_neutral)

    def describe(self) -> str:
        """Two lines naming the models in use."""
        gender = self.gender.describe() if self.gender else "none (gender is not predicted)"
        return f"emotion model: {self.emotion.describe()}\ngender model:  {gender}"

    def inputs(self, path: str | os.PathLike) -> np.ndarray:
        """What the emotion model takes for ``path``: log-mel windows, or one row of functionals."""
        return self._prepare_all(str(path))[0]

    def features_for(self, items: pd.DataFrame, log_mels: np.ndarray) -> np.ndarray:
        """The emotion model's training-time features of an item table's clips.

        ``log_mels`` (the cached clean log-mels of ``items``, row for row) for a log-mel model;
        the openSMILE functionals of ``items``' files, through their cache, for a functionals
        model.
        """
        if self.emotion.features == "log_mel":
            return np.asarray(log_mels)
        from helpers import functionals

        speeds = (1.0, *self.emotion.test_time_speeds)
        rows = [functionals.extract_for_items(items, feature_set=self.emotion.features,
                                              **self.emotion.signal_options, speed=speed)
                for speed in speeds]
        # A model that averages over speeds gets every file's copies: (n_files, n_speeds, n).
        return rows[0] if len(speeds) == 1 else np.stack(rows, axis=1)

    def probabilities_from_features(self, x: np.ndarray, *, gender: np.ndarray | None = None) -> np.ndarray:
        """Emotion probabilities per file from training-time features (:meth:`features_for`).

        A model that averages over test-time speeds averages each file's copies, as prediction
        does. ``gender`` (one 0/1 label per file) is the second input of a fusion model.
        """
        from helpers import training

        x = np.asarray(x)
        if self.emotion.features != "log_mel" and x.ndim == 3:
            n_files, n_copies = x.shape[:2]
            output = training.predict_proba(self.emotion.model, x.reshape(n_files * n_copies, -1))
            return output.reshape(n_files, n_copies, -1).mean(axis=1)
        inputs = self._model_inputs(self.emotion, x)
        if self.emotion.needs_gender:
            inputs = {"log_mel": inputs, "gender": np.asarray(gender, dtype=np.float32).reshape(-1, 1)}
        return training.predict_proba(self.emotion.model, inputs)

    def same_input(self, path: str | os.PathLike, features: np.ndarray) -> bool:
        """Whether prediction's input for ``path`` starts with one file's training features
        (a row of :meth:`features_for`): the first log-mel window, or the functionals."""
        prepared = self.inputs(path)
        features = np.asarray(features)
        if self.emotion.features != "log_mel" and features.ndim == 2:
            return bool(np.array_equal(prepared, features))
        return bool(np.array_equal(prepared[0], features))

    def warm_up(self) -> None:
        """Run each model once on a generated second of audio.

        The first prediction of a process pays one-off costs (building the models' prediction
        functions, starting openSMILE's worker process); call this after loading to pay them
        before the first real file, as an interactive service would.
        """
        import tempfile

        import soundfile

        rate = self.emotion.feature_config.sample_rate
        t = np.arange(int(1.5 * rate)) / rate
        y = (0.1 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "warm-up.wav"
            soundfile.write(path, y, rate)
            prediction = self.predict_files([path])[0]
        if not prediction.ok:
            raise PredictionError(f"the models could not predict a generated test tone: {prediction.error}")

    def prepare(self, path: str | os.PathLike, *,
                feature_config: config.FeatureConfig | None = None) -> tuple[np.ndarray, list[float]]:
        """The emotion model's input windows for ``path`` (see :func:`prepare_windows`)."""
        return prepare_windows(path, feature_config=feature_config or self.emotion.feature_config,
                               hop_s=self.hop_s, max_duration_s=self.max_duration_s)

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Predict one file.

        Raises
        ------
        AudioError
            If the file cannot be used; the message names it and says why.
        """
        prediction = self.predict_files([path])[0]
        if not prediction.ok:
            raise AudioError(prediction.path, prediction.error)
        return prediction

    def predict_paths(self, paths: Iterable[str | os.PathLike], *,
                      speaker_of: Callable[[Path], str] | None = None,
                      progress: Callable[[Prediction], None] | None = None) -> list[Prediction]:
        """Predict files and every audio file below folders; failures are returned, not raised.

        With ``speaker_of`` (a file's path to who speaks in it) the files are predicted in the
        speaker-adaptive mode (:meth:`predict_speakers`); without it, each file alone.
        """
        entries = collect_audio_files(paths)
        bad = {index: reason for index, (_, reason) in enumerate(entries) if reason}
        usable = [p for p, reason in entries if not reason]
        if speaker_of is None:
            good = self.predict_files(usable, progress=progress)
        else:
            good = self.predict_speakers(usable, [speaker_of(p) for p in usable], progress=progress)
        results, iterator = [], iter(good)
        for index, (path, _) in enumerate(entries):
            if index in bad:
                results.append(Prediction(path=str(path), ok=False, error=bad[index],
                                          mode="single-clip" if speaker_of is None else "speaker-adaptive",
                                          speaker=None if speaker_of is None else speaker_of(path)))
                if progress is not None:
                    progress(results[-1])
            else:
                results.append(next(iterator))
        return results

    def predict_files(self, paths: Sequence[str | os.PathLike], *, chunk_size: int = 32,
                      progress: Callable[[Prediction], None] | None = None) -> list[Prediction]:
        """Predict audio files; a file that fails gets ``ok=False`` and its reason.

        Windows of up to ``chunk_size`` files go through each model in one batch.
        """
        results: list[Prediction] = []
        for begin in range(0, len(paths), chunk_size):
            chunk = [str(p) for p in paths[begin:begin + chunk_size]]
            prepared: dict[int, tuple] = {}
            failures: dict[int, str] = {}
            for index, path in enumerate(chunk):
                try:
                    prepared[index] = self._prepare_all(path)
                except AudioError as error:
                    failures[index] = error.reason
                except (ProjectError, OSError) as error:
                    failures[index] = str(error)
            scores = self._score(prepared) if prepared else {}
            for index, path in enumerate(chunk):
                if index in failures:
                    prediction = Prediction(path=path, ok=False, error=failures[index])
                else:
                    prediction = self._prediction(path, *scores[index], starts=prepared[index][2])
                results.append(prediction)
                if progress is not None:
                    progress(prediction)
        return results

    def check_speaker_adaptive(self) -> None:
        """Check that the emotion model can be adapted to speakers (:meth:`predict_speakers`).

        Raises
        ------
        PredictionError
            If it does not take functionals (a log-mel CNN, or a fusion model: they have no
            per-feature scale to adapt), or holds its scale in no normalisation layer.
        """
        if self.emotion.features == "log_mel" or self.emotion.needs_gender:
            raise PredictionError(
                f"speaker-adaptive prediction needs an emotion model of functionals (recipe ours or "
                f"ours-robust, e.g. the shipped emotion_ours); {self.emotion.name} takes "
                f"{'log-mels and a gender label' if self.emotion.needs_gender else 'log-mel windows'}")
        _normalization_layer(self.emotion.model, self.emotion.name)

    def predict_speakers(self, paths: Sequence[str | os.PathLike], speakers: Sequence[str], *,
                         single: Sequence[Prediction] | None = None,
                         progress: Callable[[Prediction], None] | None = None) -> list[Prediction]:
        """Predict files knowing who speaks in each: the speaker-adaptive mode.

        Within RAVDESS and on other corpora, what a single clip loses most is each speaker's own
        scale of the features (a voice's pitch, loudness and timbre). With several recordings of
        a speaker that scale is measured, without labels, from the recordings themselves:

        * emotion: each speaker's functionals are standardised over that speaker's usable files
          (:func:`speaker_standardised`, each test-time speed copy on its own) and mapped into
          the model's own training scale (:func:`into_model_scale`), so the model sees how far
          a file lies from the speaker's average, not from the training speakers';
        * gender: P(female) averaged over the speaker's usable files, one decision per speaker
          (:func:`helpers.evaluation.pool_by_speaker`; standardising would remove the voice).

        It assumes a speaker's files hold several emotions: on files that all hold one, the
        standardisation moves each to the speaker's average. Files that cannot be predicted
        fail as in :meth:`predict_files` and are left out of their speaker's statistics; the
        files of a speaker with fewer than :data:`MIN_SPEAKER_FILES` usable ones fail too,
        with the reason.

        Parameters
        ----------
        paths : sequence of path [shape=(n,)]
        speakers : sequence of str [shape=(n,)]
            Who speaks in each file (any labels; files with the same label are one speaker).
        single : sequence of Prediction [shape=(n,)], optional
            :meth:`predict_files`'s predictions of the same paths, when already made.
        progress : callable, optional
            Called with each finished prediction.

        Returns
        -------
        list of Prediction
            ``mode="speaker-adaptive"`` and ``speaker`` set, in the order of ``paths``.

        Raises
        ------
        PredictionError
            If the emotion model does not take functionals (a log-mel CNN, or a fusion model:
            they have no per-feature scale to adapt), or the lengths differ.
        """
        self.check_speaker_adaptive()
        paths = [str(p) for p in paths]
        speakers = [str(s) for s in speakers]
        if len(speakers) != len(paths) or (single is not None and len(single) != len(paths)):
            raise PredictionError(f"paths ({len(paths)}), speakers ({len(speakers)}) and single "
                                  f"({'-' if single is None else len(single)}) must have one entry per file")
        single = list(single) if single is not None else self.predict_files(paths)
        # A file given twice (a folder and a file in it) counts once in its speaker's statistics
        # and gets the same prediction both times; with two speakers it is refused.
        keys = [os.path.abspath(path) for path in paths]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        twice = {i: first[key] for i, key in enumerate(keys) if first[key] != i}
        clash = [i for i, j in twice.items() if speakers[i] != speakers[j]]
        if clash:
            raise PredictionError(f"{paths[clash[0]]} is given twice, as speaker {speakers[twice[clash[0]]]!r} "
                                  f"and as {speakers[clash[0]]!r}")
        usable = [i for i, p in enumerate(single) if p.ok and i not in twice]
        counts = pd.Series([speakers[i] for i in usable], dtype=object).value_counts().to_dict()
        rows = [i for i in usable if counts[speakers[i]] >= MIN_SPEAKER_FILES]
        adapted: dict[int, Prediction] = {}
        if rows:
            who = np.array([speakers[i] for i in rows], dtype=object)
            # Through the functionals cache, which predict_files filled: (n, copies, features).
            x = np.stack([self._functionals(paths[i], self.emotion, {}) for i in rows])
            z = speaker_standardised(x[:, 0] if x.shape[1] == 1 else x, who)
            probabilities = self.probabilities_from_features(into_model_scale(self.emotion.model, z))
            p_female = [None] * len(rows)
            if self.gender is not None:
                from helpers import evaluation

                p_female = evaluation.pool_by_speaker(
                    np.array([single[i].p_female for i in rows], dtype=np.float64), who).tolist()
            for k, i in enumerate(rows):
                prediction = self._prediction(paths[i], probabilities[k], p_female[k], starts=[0.0])
                adapted[i] = dataclasses.replace(prediction, windows=single[i].windows,
                                                 window_starts_s=single[i].window_starts_s)
        results = []
        for i, path in enumerate(paths):
            if not single[i].ok:
                prediction = single[i]
            elif i in twice:
                prediction = dataclasses.replace(results[twice[i]], path=path)
            elif i in adapted:
                prediction = adapted[i]
            else:
                n = counts[speakers[i]]
                prediction = Prediction(
                    path=path, ok=False,
                    error=f"speaker {speakers[i]!r} has {n} usable file{'s' * (n != 1)}; speaker-adaptive "
                          f"prediction needs at least {MIN_SPEAKER_FILES} (a mean and a spread of the speaker's files)")
            results.append(dataclasses.replace(prediction, mode="speaker-adaptive", speaker=speakers[i]))
            if progress is not None:
                progress(results[-1])
        return results

    # -- internals ------------------------------------------------------------------------------

    def _prepare_all(self, path: str):
        """Each model's inputs for one file (log-mel windows, or one vector of functionals).

        The log-mel windows are always made, also for functionals models: they check the file
        (readable, not silent, not too short or long) with the same rules for every model.
        """
        x_emotion, starts = self.prepare(path)
        extracted: dict[str, np.ndarray] = {}  # functionals per feature set, shared by the models
        x_gender = None
        if self.gender is not None:
            if self.gender.features != "log_mel":
                x_gender = self._functionals(path, self.gender, extracted)
            elif self.gender.feature_config == self.emotion.feature_config:
                x_gender = x_emotion
            else:
                x_gender, _ = self.prepare(path, feature_config=self.gender.feature_config)
        if self.emotion.features != "log_mel":
            # One vector of functionals describes the whole file: one "window" from 0 s.
            x_emotion, starts = self._functionals(path, self.emotion, extracted), [0.0]
        return x_emotion, x_gender, starts

    @staticmethod
    def _functionals(path: str, model: "LoadedModel", memo: dict) -> np.ndarray:
        from helpers import functionals

        feature_set, options, speeds = model.features, model.signal_options, model.test_time_speeds
        key = (feature_set, tuple(sorted(options.items())), speeds)
        if key not in memo:
            # Through the content cache and openSMILE's worker process, as in training. With
            # test-time speeds, one row per speed: _score averages a file's rows.
            memo[key] = np.concatenate([
                functionals.extract([path], feature_set=feature_set, max_workers=1, **options,
                                    speed=speed)
                for speed in (1.0, *speeds)])
        return memo[key]

    @staticmethod
    def _model_inputs(model: LoadedModel, x: np.ndarray):
        from helpers import training

        return training.add_channel_axis(x) if model.features == "log_mel" else x

    def _score(self, prepared: dict[int, tuple]) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
        """Per file: emotion probabilities and P(female), each averaged over its windows."""
        from helpers import training

        order = sorted(prepared)

        def rows_per_file(part: int) -> tuple[list[int], list[slice]]:
            counts = [len(prepared[i][part]) for i in order]
            ends = np.cumsum(counts)
            return counts, [slice(int(end - n), int(end)) for n, end in zip(counts, ends)]

        p_female = [None] * len(order)
        if self.gender is not None:
            _, files = rows_per_file(1)
            x = np.concatenate([prepared[i][1] for i in order])
            windows = self._female_probability(
                training.predict_proba(self.gender.model, self._model_inputs(self.gender, x)))
            p_female = [float(np.mean(windows[rows])) for rows in files]
        counts, files = rows_per_file(0)
        inputs = self._model_inputs(self.emotion, np.concatenate([prepared[i][0] for i in order]))
        if self.emotion.needs_gender:
            # A fusion model takes the gender classifier's label for the file (1 female,
            # 0 male), the way notebook 07 evaluates it, on every window of the file.
            labels = [float(p > self.gender.threshold) for p in p_female]
            gender_input = np.repeat(np.asarray(labels, dtype=np.float32), counts)[:, np.newaxis]
            inputs = {"log_mel": inputs, "gender": gender_input}
        emotion_windows = training.predict_proba(self.emotion.model, inputs)
        return {index: (np.mean(emotion_windows[rows], axis=0, dtype=np.float64), p_female[position])
                for position, (index, rows) in enumerate(zip(order, files))}

    def _female_probability(self, output: np.ndarray) -> np.ndarray:
        labels = self.gender.labels
        if output.shape[-1] == 1:
            # A sigmoid: the probability of the positive label ("female" for notebook 05's model).
            p = output[:, 0].astype(np.float64)
            return p if self.gender.positive_label == "female" else 1.0 - p
        return output[:, labels.index("female")].astype(np.float64)

    def _prediction(self, path: str, probabilities: np.ndarray, p_female: float | None, *,
                    starts: list[float]) -> Prediction:
        named = {label: float(p) for label, p in zip(self.emotion.labels, probabilities)}
        if self.calm_as_neutral:
            named["neutral"] += named.pop("calm")
        gender = None if p_female is None else ("female" if p_female > self.gender.threshold else "male")
        return Prediction(
            path=path, ok=True, emotion=max(named, key=named.get), emotion_probabilities=named,
            gender=gender, p_female=p_female, windows=len(starts), window_starts_s=list(starts),
            emotion_model=self.emotion.name, gender_model=self.gender.name if self.gender else None)


def speaker_standardised(x: np.ndarray, speakers: Sequence) -> np.ndarray:
    """Functionals standardised over each speaker's own rows (the speaker-adaptive mode).

    Parameters
    ----------
    x : np.ndarray [shape=(n, n_features) or (n, n_copies, n_features)]
        With test-time speed copies, each copy is standardised on its own.
    speakers : sequence [shape=(n,)]
        Who speaks in each row.

    Returns
    -------
    np.ndarray [same shape as ``x``, dtype=float32]

    Raises
    ------
    helpers.functionals.FunctionalsError
        If ``x`` has another shape, or ``speakers`` another length.
    """
    from helpers import functionals

    x = np.asarray(x)
    if x.ndim == 3:
        return np.stack([speaker_standardised(x[:, k], speakers) for k in range(x.shape[1])], axis=1)
    return functionals.per_speaker_standardise(x, np.asarray(speakers))


def into_model_scale(model, z: np.ndarray) -> np.ndarray:
    """Standardised values mapped into a single-clip model's input scale: ``mean + std * z``.

    The model's normalisation layer (:data:`NORMALIZATION_LAYER`) then hands the model ``z``
    itself: a speaker's standardised functionals reach a model trained on single clips as if
    the speaker had the training speakers' average scale.

    Raises
    ------
    PredictionError
        If the model has no per-feature normalisation layer.
    """
    layer = _normalization_layer(model, f"model {model.name!r}")
    mean = np.asarray(layer.mean, dtype=np.float64).reshape(-1)
    std = np.sqrt(np.asarray(layer.variance, dtype=np.float64).reshape(-1))
    return (mean + std * np.asarray(z, dtype=np.float64)).astype(np.float32)


def _normalization_layer(model, name: str):
    """The layer that holds ``model``'s per-feature scale; ``name`` says which model in the error."""
    try:
        return model.get_layer(NORMALIZATION_LAYER)
    except ValueError:
        raise PredictionError(f"speaker-adaptive prediction maps a speaker's standardised functionals "
                              f"into the model's own scale, and {name} has no "
                              f"{NORMALIZATION_LAYER!r} layer that holds it") from None


def compare_with_features(predictor: Predictor, paths: Sequence[str | os.PathLike], x: np.ndarray, *,
                          truth: Sequence[str] | None = None) -> dict:
    """Predict files from disk and compare with the emotion model's output on their stored features.

    The check that prediction preprocesses as training did: ``x`` holds the clean features the
    model takes (log-mels from the feature cache, or functionals, see :meth:`Predictor.features_for`),
    row for row with ``paths``.

    Parameters
    ----------
    predictor : Predictor
    paths : sequence of path [shape=(n,)]
    x : np.ndarray [shape=(n, n_mels, n_frames), (n, n_functionals) or (n, n_speeds, n_functionals)]
    truth : sequence of str [shape=(n,)], optional
        True labels; adds the accuracy of both.

    Returns
    -------
    dict
        ``n_files``, ``label_agreement`` (fraction of files whose top label is the same),
        ``max_abs_difference`` (largest probability difference), and with ``truth``
        ``accuracy_files`` and ``accuracy_features``.

    Raises
    ------
    PredictionError
        If ``paths`` and ``x`` differ in length, or a file cannot be predicted.
    """
    from helpers import training

    if len(paths) != len(x) or (truth is not None and len(truth) != len(paths)):
        raise PredictionError(f"paths ({len(paths)}), x ({len(x)}) and truth "
                              f"({'-' if truth is None else len(truth)}) must have one row per file")
    predictions = predictor.predict_files(list(paths))
    failed = [p.message for p in predictions if not p.ok]
    if failed:
        raise PredictionError(f"{len(failed)} files could not be predicted: {'; '.join(failed[:5])}")
    labels = list(predictor.emotion.labels)
    from_files = np.array([[p.emotion_probabilities[label] for label in labels] for p in predictions])
    gender = None
    if predictor.emotion.needs_gender:
        gender = np.array([float(p.p_female > predictor.gender.threshold) for p in predictions])
    from_features = predictor.probabilities_from_features(x, gender=gender)
    result = {"n_files": len(paths),
              "label_agreement": float(np.mean(from_files.argmax(1) == from_features.argmax(1))),
              "max_abs_difference": float(np.max(np.abs(from_files - from_features)))}
    if truth is not None:
        truth = np.asarray(truth)
        names = np.asarray(labels)
        result["accuracy_files"] = float(np.mean(names[from_files.argmax(1)] == truth))
        result["accuracy_features"] = float(np.mean(names[from_features.argmax(1)] == truth))
    return result


# ----------------------------------------------------------------------------------------------
# The prediction table
# ----------------------------------------------------------------------------------------------


def predictions_table(predictions: Sequence[Prediction]) -> pd.DataFrame:
    """One row per file: ``path, ok, emotion, p_emotion, runner_up, p_runner_up, gender,
    p_female, windows, mode, speaker, error`` (``mode`` ``"single-clip"`` or
    ``"speaker-adaptive"``; ``speaker`` as the caller named it, in the speaker-adaptive mode)."""
    rows = []
    for p in predictions:
        row = {"path": p.path, "ok": p.ok, "emotion": p.emotion, "p_emotion": np.nan,
               "runner_up": None, "p_runner_up": np.nan, "gender": p.gender,
               "p_female": np.nan if p.p_female is None else p.p_female,
               "windows": p.windows, "mode": p.mode, "speaker": p.speaker, "error": p.error}
        if p.ok:
            ranked = sorted(p.emotion_probabilities.items(), key=lambda kv: -kv[1])
            row.update(p_emotion=ranked[0][1])
            if len(ranked) > 1:
                row.update(runner_up=ranked[1][0], p_runner_up=ranked[1][1])
        rows.append(row)
    return pd.DataFrame(rows, columns=["path", "ok", "emotion", "p_emotion", "runner_up", "p_runner_up",
                                       "gender", "p_female", "windows", "mode", "speaker", "error"])


def speaker_notes(predictions: Sequence[Prediction]) -> list[str]:
    """What the speaker-adaptive mode did, and a caution for speakers with few usable files."""
    counts = pd.Series([p.speaker for p in predictions if p.ok], dtype=object).value_counts()
    notes = [f"speaker-adaptive: {len(counts)} speaker{'s' * (len(counts) != 1)}; emotion from each "
             f"speaker's functionals standardised over that speaker's files, gender one decision per speaker"]
    few = counts[counts < FEW_SPEAKER_FILES]
    if len(few):
        notes.append(f"caution: {', '.join(f'{speaker!r} ({n})' for speaker, n in few.items())} "
                     f"{'has' if len(few) == 1 else 'have'} fewer than {FEW_SPEAKER_FILES} usable files: "
                     f"the statistics assume a speaker's files hold several emotions")
    return notes


if __name__ == "__main__":
    # `python -m helpers.predict` is the documented command: it runs helpers.predict_cli.
    from helpers import predict_cli

    sys.exit(predict_cli.main())
