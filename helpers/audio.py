"""Load audio the one way the whole project does: mono, resampled with soxr, a fixed window.

The loader matches ``librosa.load(path, sr=..., offset=..., duration=...)`` sample for sample
(same libsndfile read, same channel mean, same ``soxr_hq`` resampler and length fix), and then
pads or crops to the window length. Unlike librosa it refuses, with a message naming the file,
what librosa lets through silently: empty, header-only, truncated or garbage files, clips
shorter than one FFT frame, all-silent windows and non-finite samples.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import soundfile
import soxr

from helpers import config
from helpers.errors import AudioError, ConfigError

SILENCE_PEAK = 1e-6  # a window whose peak is below this (about -120 dBFS) counts as silent

#: File suffixes (lower case) of the formats libsndfile reads: every reader of the project (the
#: RAVDESS manifest, the noise loader, the download check, the prediction command) accepts
#: exactly these, in any letter case.
AUDIO_SUFFIXES = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64",
})


def is_audio_name(path: str | os.PathLike) -> bool:
    """Whether a file name looks like audio: a suffix in :data:`AUDIO_SUFFIXES`, not hidden.

    Hidden names cover macOS's ``.DS_Store`` and the ``._name.wav`` AppleDouble files that
    copies from a Mac carry next to every real file.
    """
    path = Path(path)
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def check_audio(path: str | os.PathLike, *, sample_rate: int = config.FEATURES.sample_rate,
                n_fft: int = config.FEATURES.n_fft, offset_s: float = 0.0,
                duration_s: float | None = None) -> soundfile._SoundFileInfo:
    """Check that a file can be used for training, and return its header facts.

    Decodes the file once at its own rate, so it catches what the header cannot show: a body
    that fails to decode, non-finite samples, a recording without signal. It then checks the
    window that :func:`load_audio` with the same arguments would read: a file that passes
    ``check_audio(path, **arguments)`` loads with ``load_audio(path, **arguments)``. For the
    training window, pass the feature configuration's ``offset_s`` and ``duration_s``
    (:func:`check_window` does).

    Parameters
    ----------
    path : str or PathLike
    sample_rate, n_fft : int
        A file shorter than one FFT frame (``n_fft`` samples at ``sample_rate``) is refused.
    offset_s, duration_s : float
        The window to be read, in seconds (``duration_s=None``: to the end). It must start
        before the file ends and hold signal once mixed to mono and resampled to
        ``sample_rate``, exactly as :func:`load_audio` reads it. The default is the whole file.

    Returns
    -------
    soundfile._SoundFileInfo

    Raises
    ------
    AudioError
        Missing, empty, unreadable, header-only, truncated, shorter than one FFT frame,
        all silent, holding NaN/infinity, ending before ``offset_s``, or silent in the window.
    ConfigError
        If ``sample_rate``, ``offset_s`` or ``duration_s`` is out of range.
    """
    path, info = _open_checked(path, sample_rate=sample_rate, n_fft=n_fft, offset_s=offset_s,
                               duration_s=duration_s)
    try:
        data = soundfile.read(str(path), dtype="float32", always_2d=True)[0]
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"corrupt or truncated audio ({_libsndfile_reason(error)})") from error
    if len(data) < info.frames:
        raise AudioError(path, f"truncated: the header declares {info.frames} frames, {len(data)} decode")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "contains non-finite samples (NaN or infinity)")
    if data.size == 0 or float(np.max(np.abs(data))) < SILENCE_PEAK:
        raise AudioError(path, "all-silent: no signal above -120 dBFS")
    # The window as load_audio reads it: the same frames, mono mix and resampler, so a window
    # whose signal lies only outside it, or only above the new Nyquist frequency, is refused.
    start, wanted, _ = _window_frames(path, info, offset_s=offset_s, duration_s=duration_s)
    window = data[start:] if wanted < 0 else data[start:start + wanted]
    _refuse_silent_window(path, _mono_resampled(window, native_rate=info.samplerate,
                                                sample_rate=sample_rate))
    return info


def check_window(path: str | os.PathLike, *,
                 feature_config: config.FeatureConfig = config.FEATURES) -> soundfile._SoundFileInfo:
    """:func:`check_audio` on the analysis window of a feature configuration.

    A file that passes loads with :func:`load_window` for the same configuration, so its
    features can be computed.

    Raises
    ------
    AudioError
        As :func:`check_audio`; e.g. a clip that ends before ``feature_config.offset_s``, or
        that is silent from ``offset_s`` to ``offset_s + duration_s``.
    """
    return check_audio(path, sample_rate=feature_config.sample_rate, n_fft=feature_config.n_fft,
                       offset_s=feature_config.offset_s, duration_s=feature_config.duration_s)


def audio_info(path: str | os.PathLike) -> soundfile._SoundFileInfo:
    """Header facts of an audio file, refusing files libsndfile cannot open.

    Raises
    ------
    AudioError
        If the file is missing, empty, not audio, or has a header but no frames.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"not a readable audio file ({_libsndfile_reason(error)})") from error
    if info.frames == 0:
        raise AudioError(path, "header only: the file holds no audio frames")
    declared = _declared_frames(path, info)
    if declared is not None and declared > info.frames:
        raise AudioError(path, f"truncated: the header declares {declared} frames, the file holds {info.frames}")
    return info


def load_audio(path: str | os.PathLike, *, sample_rate: int = config.FEATURES.sample_rate,
               offset_s: float = 0.0, duration_s: float | None = None,
               n_fft: int = config.FEATURES.n_fft, check_silence: bool = True) -> np.ndarray:
    """Read a window of an audio file as mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or PathLike
        Any format libsndfile reads (WAV, FLAC, OGG, AIFF, …), any rate, channels, bit depth.
    sample_rate : int
        Target rate; resampling uses soxr at the quality librosa uses (``soxr_hq``).
    offset_s, duration_s : float
        Window start and length in seconds; ``duration_s=None`` reads to the end. The result is
        exactly what ``librosa.load`` returns for the same arguments: it is not padded here
        (see :func:`fix_window`).
    n_fft : int
        A clip shorter than one FFT frame at ``sample_rate`` is refused.
    check_silence : bool
        Refuse a window whose peak is below ``SILENCE_PEAK``.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError
        Empty, unreadable, header-only, truncated, too short, silent or non-finite audio.
    ConfigError
        If ``sample_rate``, ``offset_s`` or ``duration_s`` is out of range.
    """
    path, info = _open_checked(path, sample_rate=sample_rate, n_fft=n_fft, offset_s=offset_s,
                               duration_s=duration_s)
    start, wanted, expected = _window_frames(path, info, offset_s=offset_s, duration_s=duration_s)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            if start:
                handle.seek(start)
            data = handle.read(frames=wanted, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"corrupt or truncated audio ({_libsndfile_reason(error)})") from error
    if len(data) < expected:
        raise AudioError(path, f"truncated: expected {expected} frames from {offset_s} s, read {len(data)}")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "contains non-finite samples (NaN or infinity)")
    y = _mono_resampled(data, native_rate=info.samplerate, sample_rate=sample_rate)
    if check_silence:
        _refuse_silent_window(path, y)
    return y


def resample(y: np.ndarray, *, native_rate: int, sample_rate: int) -> np.ndarray:
    """Resample the last axis with soxr exactly as ``librosa.resample(res_type="soxr_hq")``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    native_rate, sample_rate : int

    Returns
    -------
    np.ndarray [shape=(ceil(n * sample_rate / native_rate),), dtype=float32]
    """
    if native_rate == sample_rate:
        return np.ascontiguousarray(y, dtype=np.float32)
    out = soxr.resample(y, native_rate, sample_rate, quality="soxr_hq")
    n_out = int(math.ceil(y.shape[-1] * float(sample_rate) / native_rate))
    return fix_length(np.asarray(out, dtype=np.float32), n_out)


def fix_length(y: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad or crop the last axis of ``y`` to ``size`` samples (librosa's ``fix_length``)."""
    if size < 0:
        raise ConfigError(f"size={size} must be >= 0")
    n = y.shape[-1]
    if n > size:
        return y[..., :size]
    if n < size:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, size - n)]
        return np.pad(y, pad)
    return y


def load_window(path: str | os.PathLike, *, feature_config: config.FeatureConfig = config.FEATURES,
                check_silence: bool = True) -> np.ndarray:
    """Load the analysis window of a clip for a feature configuration, padded to full length.

    Returns
    -------
    y : np.ndarray [shape=(feature_config.n_samples,), dtype=float32]
    """
    y = load_audio(path, sample_rate=feature_config.sample_rate, offset_s=feature_config.offset_s,
                   duration_s=feature_config.duration_s, n_fft=feature_config.n_fft,
                   check_silence=check_silence)
    return fix_length(y, feature_config.n_samples)


def _open_checked(path, *, sample_rate: int, n_fft: int, offset_s: float,
                  duration_s: float | None) -> tuple[Path, soundfile._SoundFileInfo]:
    """The checks :func:`check_audio` and :func:`load_audio` start with: the window's arguments,
    the header, and a file too short for one FFT frame."""
    _check_window_arguments(sample_rate=sample_rate, offset_s=offset_s, duration_s=duration_s)
    path = Path(path)
    info = audio_info(path)
    _refuse_too_short(path, info, sample_rate=sample_rate, n_fft=n_fft)
    return path, info


def _refuse_too_short(path: Path, info, *, sample_rate: int, n_fft: int) -> None:
    """Refuse a file shorter than one FFT frame at ``sample_rate``."""
    if info.frames * sample_rate / info.samplerate < n_fft:
        raise AudioError(path, f"too short: {info.frames / info.samplerate:.3f} s is less than one "
                               f"FFT frame ({n_fft} samples at {sample_rate} Hz)")


def _check_window_arguments(*, sample_rate: int, offset_s: float, duration_s: float | None) -> None:
    if sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate} must be positive")
    if offset_s < 0 or (duration_s is not None and duration_s <= 0):
        raise ConfigError(f"offset_s={offset_s} must be >= 0 and duration_s={duration_s} > 0")


def _window_frames(path: Path, info, *, offset_s: float,
                   duration_s: float | None) -> tuple[int, int, int]:
    """First frame, frames asked for (-1: to the end) and frames expected of a window.

    Raises
    ------
    AudioError
        If the file ends at or before ``offset_s``.
    """
    native_rate = info.samplerate
    start = int(offset_s * native_rate)
    if start >= info.frames:
        raise AudioError(path, f"too short: {info.frames / native_rate:.3f} s ends before the window "
                               f"offset {offset_s} s")
    wanted = -1 if duration_s is None else int(duration_s * native_rate)
    expected = info.frames - start if wanted < 0 else min(wanted, info.frames - start)
    return start, wanted, expected


def _mono_resampled(data: np.ndarray, *, native_rate: int, sample_rate: int) -> np.ndarray:
    """Frames ``[shape=(n, channels)]`` as one mono signal at ``sample_rate``, as librosa does."""
    y = data.T
    y = np.mean(y, axis=0) if y.shape[0] > 1 else y[0]
    return resample(y, native_rate=native_rate, sample_rate=sample_rate)


def _refuse_silent_window(path: Path, y: np.ndarray) -> None:
    if y.size == 0 or float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError(path, "all-silent: the analysed window has no signal above -120 dBFS")


def _libsndfile_reason(error: Exception) -> str:
    # libsndfile messages repeat the path; keep only the reason after the last colon.
    text = str(error)
    return text.rsplit(": ", 1)[-1].strip() or text


def _declared_frames(path: Path, info) -> int | None:
    """Frames the file's header declares, or None when the format is not one checked here.

    libsndfile silently shortens a WAV or AIFF whose sample data runs past the end of the file,
    so a truncated download would otherwise load as a shorter clip. WAV (also WAVE_FORMAT_
    EXTENSIBLE) declares the data chunk's byte size; AIFF declares the frame count in COMM.
    """
    if info.format in ("WAV", "WAVEX") and info.subtype in _WAV_SAMPLE_BYTES:
        frame_bytes = _WAV_SAMPLE_BYTES[info.subtype] * info.channels
        size = _find_chunk(path, container=(b"RIFF", b"WAVE"), chunk_id=b"data", little_endian=True)
        # 0 and 0xFFFFFFFF mark a streamed file whose length was never written.
        return None if size is None or size[0] in (0, 0xFFFFFFFF) else size[0] // frame_bytes
    if info.format == "AIFF":
        found = _find_chunk(path, container=(b"FORM", None), chunk_id=b"COMM", little_endian=False)
        if found is None or len(found[1]) < 6:
            return None
        return struct.unpack(">I", found[1][2:6])[0]
    return None


def _find_chunk(path: Path, *, container: tuple[bytes, bytes | None], chunk_id: bytes,
                little_endian: bool) -> tuple[int, bytes] | None:
    """Size and first 32 bytes of a chunk in a RIFF (WAV) or IFF (AIFF) file."""
    size_format = "<I" if little_endian else ">I"
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != container[0] or (container[1] and header[8:12] != container[1]):
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            size = struct.unpack(size_format, chunk[4:])[0]
            if chunk[:4] == chunk_id:
                return size, handle.read(min(size, 32))
            handle.seek(size + (size & 1), os.SEEK_CUR)


_WAV_SAMPLE_BYTES = {"PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}
