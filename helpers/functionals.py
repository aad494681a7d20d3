"""openSMILE functionals (ComParE 2016, eGeMAPS v02): the field's standard acoustic features.

One vector of utterance-level statistics per file, from the ``opensmile`` package (audEERING's
own binary). They feed the classical baselines (:mod:`helpers.baselines`) and the ``ours``
recipes (:mod:`helpers.recipes`).

Extraction is slow (ComParE: about 0.3 s per RAVDESS clip on one core), so every file's vector
is cached on disk under the hash of the file's *contents*, the feature set and the opensmile
version: a renamed or moved file is not extracted again, an edited one is, and a killed run
resumes where it stopped. Files are read with the project's loader (any format libsndfile
reads, mixed down to mono) and resampled to one analysis rate, ``ANALYSIS_RATE`` (16 kHz), before
openSMILE sees them. Many ComParE features (spectral centroid, roll-off, entropy, the auditory
spectrum's norms) are computed over the whole band up to half the sample rate, so at each file's
own rate the same speech gave other features at 48 kHz (RAVDESS), 22.05 kHz or 16 kHz: 30 % of
the 6,373 moved by more than 10 % on a RAVDESS clip resampled to 22.05 kHz.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import audio, config, io
from helpers.errors import ProjectError, check_int

#: Short names of the supported feature sets → ``opensmile.FeatureSet`` member names.
FEATURE_SETS: dict[str, str] = {"compare": "ComParE_2016", "egemaps": "eGeMAPSv02"}
#: Vector length of each feature set (checked after extraction).
DIMENSIONS: dict[str, int] = {"compare": 6373, "egemaps": 88}
FUNCTIONALS_VERSION = 2  # bump when the computation changes in a way the cache key cannot see
#: Every signal is resampled to this rate before its functionals are taken (16 kHz, the usual
#: rate of speech corpora and of the ComParE challenges), so that a recording's sample rate does
#: not change its features. Version 1 used each file's own rate.
ANALYSIS_RATE = 16_000


class FunctionalsError(ProjectError):
    """A feature-set name or a features table is not what the function accepts."""


def check_feature_set(feature_set: str) -> str:
    """Return ``feature_set`` if it names a supported set.

    Raises
    ------
    FunctionalsError
        If ``feature_set`` is not a key of ``FEATURE_SETS``.
    """
    if feature_set not in FEATURE_SETS:
        raise FunctionalsError(f"feature_set={feature_set!r} must be one of {sorted(FEATURE_SETS)}")
    return feature_set


def describe() -> dict:
    """How functionals are computed, for a model's sidecar: ``version`` (``FUNCTIONALS_VERSION``)
    and ``analysis_rate`` (Hz). A model trained on other functionals is refused by
    :func:`check_model_sidecar`."""
    return {"version": FUNCTIONALS_VERSION, "analysis_rate": ANALYSIS_RATE}


def is_current(sidecar: dict) -> bool:
    """Whether a functionals model's sidecar records today's functionals (:func:`describe`)."""
    return sidecar.get("functionals") == describe()


def check_model_sidecar(sidecar: dict, path: str | os.PathLike) -> None:
    """Refuse a functionals model whose features were computed another way than today's.

    A sidecar without a ``functionals`` record predates it: version 1, each file analysed at its
    own sample rate.

    Raises
    ------
    FunctionalsError
        If the sidecar's ``functionals`` record differs from :func:`describe` (the message names
        the file, both records and what to do).
    """
    if not is_current(sidecar):
        saved = sidecar.get("functionals", {"version": 1, "analysis_rate": "the file's own rate"})
        raise FunctionalsError(
            f"{path}: the model was trained on functionals {saved}, but this version of the "
            f"project computes {describe()}; its inputs would not mean what it learned. Train it "
            f"again: python run_all.py --ravdess DIR (notebook 03 writes emotion_ours, notebook 05 "
            f"gender_ours); shipped models: python -m helpers.pretrained build --ravdess DIR")


def opensmile_version() -> str:
    """Version of the installed ``opensmile`` package (part of every cache key)."""
    import opensmile

    return opensmile.__version__


def functionals_of_signal(y: np.ndarray, sample_rate: int, *, feature_set: str) -> np.ndarray:
    """Functionals of one mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
    sample_rate : int
    feature_set : str
        ``"compare"`` or ``"egemaps"``.

    Returns
    -------
    np.ndarray [shape=(DIMENSIONS[feature_set],), dtype=float32]

    Raises
    ------
    FunctionalsError
        If ``feature_set`` is unknown or ``y`` is not a non-empty 1-D signal.
    """
    check_feature_set(feature_set)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise FunctionalsError(f"y has shape {y.shape}; expected a non-empty mono signal (n_samples,)")
    values = _smile(feature_set).process_signal(y, sample_rate).to_numpy(dtype=np.float32)[0]
    # openSMILE writes NaN for a few statistics of degenerate (near-constant) signals.
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


#: Speeds a multi-condition copy draws from (with the recording-chain conditions of
#: :mod:`helpers.channel`, or none).
CONDITION_SPEEDS: tuple[float, ...] = (0.9, 1.0, 1.1)


def active_level_db(y: np.ndarray, sample_rate: int) -> float | None:
    """The speech level of ``y`` in dBFS: the RMS of its loudest 30 % of 25 ms frames.

    Leading and trailing silence and pauses do not lower it, so one utterance at two
    recording levels differs by exactly the gain. None for a silent signal.
    """
    frame = max(1, int(0.025 * sample_rate))
    n = len(y) // frame
    if n == 0:
        energy = np.array([np.mean(np.square(y, dtype=np.float64))])
    else:
        energy = np.mean(np.square(y[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    loud = np.sort(energy)[-max(1, int(np.ceil(0.3 * len(energy)))):]
    power = float(np.mean(loud))
    return None if power <= 0 else 10.0 * np.log10(power)


def normalise_level(y: np.ndarray, sample_rate: int, *, target_db: float) -> np.ndarray:
    """``y`` scaled so that its :func:`active_level_db` is ``target_db`` (clipped at full scale)."""
    level = active_level_db(y, sample_rate)
    if level is None:
        return np.asarray(y, dtype=np.float32)
    return np.clip(y * np.float32(10.0 ** ((target_db - level) / 20.0)), -1.0, 1.0).astype(np.float32)


#: Percentile of a file's frame levels taken as its noise floor by :func:`trim_silence`.
NOISE_FLOOR_PERCENTILE = 10.0


def trim_silence(y: np.ndarray, sample_rate: int, *, top_db: float,
                 floor_db: float | None = None) -> np.ndarray:
    """``y`` without its leading and trailing silence: the span from the first to the last 25 ms
    frame (10 ms hop) whose RMS is within ``top_db`` of the loudest frame's
    (``librosa.effects.trim``).

    Functionals average over every frame, silence included: a recording chain that starts the
    file at the first word, or pads it with digital zeros, moves them far more than the voice
    does. Trimmed, a clip is described by its speech alone. A signal with no frame above the
    threshold (silent) is returned unchanged.

    With ``floor_db`` a frame must also lie more than ``floor_db`` above the file's noise floor
    (the :data:`NOISE_FLOOR_PERCENTILE`-th percentile of its frame levels). Without it, under
    steady noise 20 dB below the speech every frame is within ``top_db`` of the loudest, nothing
    is cut, and the noise-only lead-in and tail (half of a RAVDESS clip) reach the functionals;
    on a quiet studio recording the floor lies far below ``top_db`` and changes nothing.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    frame, hop = max(1, int(round(0.025 * sample_rate))), max(1, int(round(0.010 * sample_rate)))
    top_db = float(top_db)
    if floor_db is not None:
        # The same frame levels librosa's trim compares (dB below the loudest frame): its
        # threshold is raised to the floor's when that lies higher.
        level = librosa.amplitude_to_db(librosa.feature.rms(y=y, frame_length=frame, hop_length=hop)[0],
                                        ref=np.max, top_db=None)
        top_db = min(top_db, -(np.percentile(level, NOISE_FLOOR_PERCENTILE) + float(floor_db)))
    trimmed, (start, end) = librosa.effects.trim(y, top_db=top_db, frame_length=frame, hop_length=hop)
    return y if end <= start else trimmed


def condition_for(digest: str, copy: int) -> tuple[float, str | None]:
    """The speed and recording-chain condition of multi-condition copy ``copy`` of a file.

    Drawn from the file's content digest and the copy number: the same file gets the same
    condition in every run, different files and copies get different ones.
    """
    from helpers import channel

    rng = np.random.default_rng([copy, int(digest[:12], 16)])
    names = [None, *[name for name in channel.CONDITIONS if not name.startswith("gain")]]
    return float(rng.choice(CONDITION_SPEEDS)), names[int(rng.integers(len(names)))]


def functionals_of_file(path: str | os.PathLike, *, feature_set: str, speed: float = 1.0,
                        level_db: float | None = None, trim_db: float | None = None,
                        trim_floor_db: float | None = None, trim_after_chain: bool = False,
                        condition_copy: int | None = None, digest: str | None = None) -> np.ndarray:
    """Functionals of one audio file, read mono and analysed at ``ANALYSIS_RATE``
    (of :func:`prepared_signal`, which takes the same arguments but ``feature_set``)."""
    y = prepared_signal(path, speed=speed, level_db=level_db, trim_db=trim_db, trim_floor_db=trim_floor_db,
                        trim_after_chain=trim_after_chain, condition_copy=condition_copy, digest=digest)
    return functionals_of_signal(y, ANALYSIS_RATE, feature_set=feature_set)


def prepared_signal(path: str | os.PathLike, *, speed: float = 1.0, level_db: float | None = None,
                    trim_db: float | None = None, trim_floor_db: float | None = None,
                    trim_after_chain: bool = False, condition_copy: int | None = None,
                    digest: str | None = None) -> np.ndarray:
    """One audio file as its functionals are taken: mono, at ``ANALYSIS_RATE``.

    ``speed`` other than 1 plays the file that much faster (pitch, formants and tempo all move,
    as with a tape played at another speed): the speed perturbation used to augment training
    speakers (Ko et al., 2015). It is done by resampling, so it costs almost nothing.

    ``condition_copy`` (with the file's content ``digest``) makes a multi-condition training
    copy instead: a speed from :data:`CONDITION_SPEEDS` and a recording-chain condition
    (:func:`condition_for`). The signal is then resampled to ``ANALYSIS_RATE``, and
    ``level_db`` scales it to that speech level (:func:`normalise_level`), last, as prediction
    does with any recording. ``trim_db`` (with ``trim_floor_db``) first cuts the file's leading
    and trailing silence (:func:`trim_silence`), before any of these; with ``trim_after_chain``
    a multi-condition copy is trimmed after its speed and recording chain instead, as a recording
    reaches prediction: a room's tail, a codec's padding or noise over the silence is then what
    the trim sees, in training as at test.

    Raises
    ------
    helpers.errors.AudioError
        If the file cannot be read, is silent or too short (the message names the file).
    """
    rate = audio.audio_info(path).samplerate
    y = audio.load_audio(path, sample_rate=rate)
    trim_last = trim_after_chain and condition_copy is not None
    if trim_db is not None and not trim_last:
        y = trim_silence(y, rate, top_db=trim_db, floor_db=trim_floor_db)
    name = None
    if condition_copy is not None:
        digest = digest or io.file_digest(path)
        speed, name = condition_for(digest, condition_copy)
    if speed != 1.0:
        y = audio.resample(y, native_rate=int(round(rate * speed)), sample_rate=rate)
    if name is not None:
        from helpers import channel

        rng = np.random.default_rng([condition_copy, int(digest[:12], 16), 1])
        y = channel.get_condition(name).apply(y, rate, rng)
    if trim_db is not None and trim_last:
        y = trim_silence(y, rate, top_db=trim_db, floor_db=trim_floor_db)
    y = audio.resample(y, native_rate=rate, sample_rate=ANALYSIS_RATE)
    if level_db is not None:
        y = normalise_level(y, ANALYSIS_RATE, target_db=level_db)
    return y


def extract(paths: Sequence[str | os.PathLike], *, feature_set: str, speed: float = 1.0,
            level_db: float | None = None, trim_db: float | None = None,
            trim_floor_db: float | None = None, trim_after_chain: bool = False,
            condition_copy: int | None = None, cache_folder: str | os.PathLike | None = None,
            max_workers: int | None = None, progress=None) -> np.ndarray:
    """Functionals of many files, in order, through the per-file content cache.

    Parameters
    ----------
    paths : sequence of path-like
    feature_set : str
        ``"compare"`` or ``"egemaps"``.
    speed : float
        Speed perturbation factor (see :func:`functionals_of_file`), in [0.5, 2].
    level_db : float, optional
        Speech level every signal is scaled to before extraction (:func:`normalise_level`).
    trim_db : float, optional
        Cut each file's leading and trailing silence first (:func:`trim_silence`): frames more
        than ``trim_db`` below the loudest one, in (0, 120].
    trim_floor_db : float, optional
        With ``trim_db``: frames must also lie more than this above the file's noise floor, in
        (0, 60] (:func:`trim_silence`).
    trim_after_chain : bool
        With ``trim_db`` and ``condition_copy``: trim the copy after its recording chain, not
        before (:func:`prepared_signal`). Without a copy it changes nothing.
    condition_copy : int, optional
        Make multi-condition copy number ``condition_copy`` (see :func:`functionals_of_file`).
    cache_folder : path-like, optional
        Default :func:`helpers.config.functionals_cache_dir`.
    max_workers : int, optional
        Worker processes for the files not yet cached (default: the CPU count). openSMILE
        always runs in workers, never in the calling process.
    progress : callable, optional
        Called with ``(done, total)`` as files finish.

    Returns
    -------
    np.ndarray [shape=(len(paths), DIMENSIONS[feature_set]), dtype=float32]

    Raises
    ------
    FunctionalsError
        If ``feature_set`` is unknown or ``paths`` is empty.
    helpers.errors.AudioError
        If a file cannot be read (the message names it).
    """
    check_feature_set(feature_set)
    if not (isinstance(speed, (int, float)) and 0.5 <= speed <= 2.0):
        raise FunctionalsError(f"speed={speed!r} must be a number in [0.5, 2]")
    speed = float(speed)
    paths = [str(p) for p in paths]
    if not paths:
        raise FunctionalsError("paths is empty; expected at least one audio file")
    folder = Path(cache_folder) if cache_folder is not None else config.functionals_cache_dir()
    folder = folder / f"{feature_set}-v{FUNCTIONALS_VERSION}-opensmile{opensmile_version()}"
    folder.mkdir(parents=True, exist_ok=True)
    digests = [io.file_digest(p) for p in paths]
    if level_db is not None and not (isinstance(level_db, (int, float)) and -60.0 <= level_db <= 0.0):
        raise FunctionalsError(f"level_db={level_db!r} must be a number of dBFS in [-60, 0]")
    if trim_db is not None and not (isinstance(trim_db, (int, float)) and 0.0 < trim_db <= 120.0):
        raise FunctionalsError(f"trim_db={trim_db!r} must be a number of dB in (0, 120]")
    if trim_floor_db is not None and not (isinstance(trim_floor_db, (int, float)) and 0.0 < trim_floor_db <= 60.0
                                          and trim_db is not None):
        raise FunctionalsError(f"trim_floor_db={trim_floor_db!r} must be a number of dB in (0, 60], "
                               f"with trim_db (got trim_db={trim_db!r})")
    if not isinstance(trim_after_chain, bool) or (trim_after_chain and trim_db is None):
        raise FunctionalsError(f"trim_after_chain={trim_after_chain!r} must be True or False, and "
                               f"True only with trim_db (got trim_db={trim_db!r})")
    if condition_copy is not None:
        condition_copy = check_int(condition_copy, name="condition_copy", minimum=0,
                                   error=FunctionalsError)
    suffix = "" if trim_db is None else f"-trim{float(trim_db):g}"
    suffix += "" if trim_floor_db is None else f"-floor{float(trim_floor_db):g}"
    suffix += "" if speed == 1.0 else f"-speed{speed:g}"
    suffix += "" if condition_copy is None else f"-condition{condition_copy}"
    suffix += "-trimlast" if trim_after_chain and condition_copy is not None else ""
    suffix += "" if level_db is None else f"-level{float(level_db):g}"
    targets = [folder / f"{digest}{suffix}.npy" for digest in digests]
    missing = sorted({k for k, target in enumerate(targets) if not target.is_file()})
    # Several paths may share one content; extract each content once.
    todo = {}
    for k in missing:
        todo.setdefault(digests[k], k)
    jobs = list(todo.values())
    done = len(paths) - len(missing)
    if jobs:
        # In the kept pool of spawned workers (see _worker_pool); a worker that dies is
        # reported with the file it was working on.
        with _main_module_hidden():  # workers are started by submit: see _main_module_hidden
            pool = _worker_pool(max(1, max_workers or os.cpu_count() or 1))
            futures = {pool.submit(functionals_of_file, paths[k], feature_set=feature_set,
                                   speed=speed, level_db=level_db, trim_db=trim_db,
                                   trim_floor_db=trim_floor_db, trim_after_chain=trim_after_chain,
                                   condition_copy=condition_copy,
                                   digest=digests[k]): k for k in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                k = futures[future]
                try:
                    values = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    _close_pool()
                    raise FunctionalsError(f"{paths[k]}: openSMILE's worker process died while "
                                           f"extracting {feature_set} functionals") from None
                _save(targets[k], values)
                done += 1
                if progress is not None:
                    progress(done, len(paths))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    matrix = np.stack([np.load(target) for target in targets]).astype(np.float32)
    if matrix.shape[1] != DIMENSIONS[feature_set]:
        raise FunctionalsError(
            f"{feature_set} vectors have {matrix.shape[1]} values; expected {DIMENSIONS[feature_set]}")
    return matrix


def extract_for_items(items: pd.DataFrame, *, feature_set: str, **kwargs) -> np.ndarray:
    """:func:`extract` over an item table's ``path`` column (rows in the table's order)."""
    if "path" not in items.columns:
        raise FunctionalsError(f"items has columns {list(items.columns)}; expected a 'path' column")
    return extract(items["path"].tolist(), feature_set=feature_set, **kwargs)


def per_speaker_standardise(x: np.ndarray, speakers: Sequence, *, epsilon: float = 1e-8) -> np.ndarray:
    """Z-score each speaker's rows over that speaker's own rows (speaker-adaptive mode).

    This uses the statistics of every clip of a speaker, so at test time it needs unlabelled
    enrollment audio of the test speaker: it is never available to single-clip prediction.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_features)]
    speakers : sequence [shape=(n_items,)]
        A speaker identity per row.

    Returns
    -------
    np.ndarray [shape=(n_items, n_features), dtype=float32]

    Raises
    ------
    FunctionalsError
        If ``x`` is not 2-D or ``speakers`` has another length.
    """
    x = np.asarray(x, dtype=np.float64)
    speakers = np.asarray(speakers)
    if x.ndim != 2:
        raise FunctionalsError(f"x has shape {x.shape}; expected (n_items, n_features)")
    if len(speakers) != len(x):
        raise FunctionalsError(f"speakers has {len(speakers)} entries but x has {len(x)} rows")
    out = np.empty_like(x)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean = x[rows].mean(axis=0)
        std = x[rows].std(axis=0)
        out[rows] = (x[rows] - mean) / np.where(std > epsilon, std, 1.0)
    return out.astype(np.float32)


def apply_mode(x: np.ndarray, items: pd.DataFrame, *, mode: str) -> np.ndarray:
    """Functionals under an evaluation mode: as they are (``single-clip``), or standardised per
    actor over that actor's own items (``speaker-adaptive``, :func:`per_speaker_standardise`).

    Raises
    ------
    FunctionalsError
        If ``mode`` is not one of the two.
    """
    if mode == "single-clip":
        return x
    if mode != "speaker-adaptive":
        raise FunctionalsError(f"mode={mode!r} must be 'single-clip' or 'speaker-adaptive'")
    return per_speaker_standardise(x, items["actor"].to_numpy())


def _save(target: Path, values: np.ndarray) -> None:
    with io.atomic_path(target, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(values, dtype=np.float32))


# openSMILE runs in worker processes started fresh ("spawn"), never in the caller: its native
# library aborted the whole interpreter when it ran after other native thread pools (librosa's,
# TensorFlow's) in the same process. The pool is kept between calls, so that only the first
# extraction of a process pays for starting workers (seconds), not every prediction.
_POOL: concurrent.futures.ProcessPoolExecutor | None = None
_POOL_WORKERS = 0


@contextlib.contextmanager
def _main_module_hidden():
    """Start worker processes without importing the caller's ``__main__`` module.

    A spawned worker normally imports the main module of the parent first. When that is a
    script that imports TensorFlow (a benchmark, a user's training script), the worker runs
    openSMILE beside TensorFlow's thread pools, and openSMILE's native code corrupted the heap
    there ("malloc(): invalid size"). With a bare ``__main__`` in place while workers start,
    they import only what the extraction needs.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _worker_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    global _POOL, _POOL_WORKERS
    if _POOL is None or _POOL_WORKERS != workers:
        _close_pool()
        _POOL = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent, initargs=(os.getpid(),))
        _POOL_WORKERS = workers
    return _POOL


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process that started it is gone.

    A parent killed outright (SIGKILL, an out-of-memory kill) runs no clean-up; without this
    its idle workers would live on, holding its output pipes open.
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _close_pool() -> None:
    """Stop the worker processes (at exit, or after one died)."""
    global _POOL, _POOL_WORKERS
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
    _POOL, _POOL_WORKERS = None, 0


atexit.register(_close_pool)

_SMILES: dict = {}


def _smile(feature_set: str):
    """One ``opensmile.Smile`` per feature set and process (building one parses its config)."""
    if feature_set not in _SMILES:
        import opensmile

        _SMILES[feature_set] = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, FEATURE_SETS[feature_set]),
            feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILES[feature_set]
