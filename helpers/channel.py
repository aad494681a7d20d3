"""Recording-chain changes: what another microphone, room, level, sample rate or codec does.

Used to measure how far a model's predictions hold up off the studio it was trained in
(``python -m benchmarks.robustness``). Each :class:`Condition` maps one mono signal at its
sample rate to the signal as another recording chain would deliver it, seeded where it draws
random numbers, so a benchmark run is repeatable.

The conditions (:data:`CONDITIONS`):

* ``gain-20db`` / ``gain+6db``: a quieter or louder recording (the louder one clipped at full
  scale, as an ADC would);
* ``resample-8k`` / ``resample-16k``: recorded at 8 or 16 kHz (everything above 4 or 8 kHz is
  lost), given to the model at the original rate;
* ``telephone``: 300-3400 Hz band-pass at 8 kHz, the narrow-band telephone channel;
* ``mp3-32k`` / ``ogg-q1``: lossy codecs through libsndfile (MP3 at about 32 kbit/s, Ogg Vorbis
  at quality 0.1), decoded back;
* ``reverb-0.5s``: a room with a reverberation time of 0.5 s (an exponentially decaying noise
  impulse response, direct path first);
* ``noise-20db``: white noise at 20 dB SNR.

A microphone's and room's frequency response can also be drawn directly in the log-mel domain
(:func:`random_response`, :func:`apply_response`): a linear, time-invariant channel adds the
same number of dB to a band in every frame, so a training copy under another response costs
one addition per band. The frame GMMs of the ``ours`` gender recipe train on such copies.
"""

from __future__ import annotations

import dataclasses
import io as _io
from collections.abc import Callable

import numpy as np
import soundfile
from scipy import signal as _signal

from helpers import audio, config
from helpers.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Condition:
    """One recording-chain change.

    Attributes
    ----------
    name : str
    description : str
    apply : callable
        ``apply(y, sample_rate, rng) -> y'``: float32 mono in, float32 mono out, same rate.
    """

    name: str
    description: str
    apply: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def gain(y: np.ndarray, db: float) -> np.ndarray:
    """``y`` scaled by ``db`` decibels, clipped to [-1, 1] (full scale)."""
    return np.clip(y * np.float32(10.0 ** (db / 20.0)), -1.0, 1.0).astype(np.float32)


def band_limit(y: np.ndarray, sample_rate: int, *, recorded_rate: int) -> np.ndarray:
    """``y`` as if recorded at ``recorded_rate`` (down, then back up to ``sample_rate``)."""
    if recorded_rate >= sample_rate:
        return np.asarray(y, dtype=np.float32)
    low = audio.resample(np.asarray(y, dtype=np.float32), native_rate=sample_rate, sample_rate=recorded_rate)
    return audio.resample(low, native_rate=recorded_rate, sample_rate=sample_rate)[: len(y)]


def telephone(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Narrow-band telephone: 300-3400 Hz band-pass (4th-order Butterworth) at 8 kHz."""
    narrow = band_limit(y, sample_rate, recorded_rate=8_000)
    sos = _signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=sample_rate, output="sos")
    return _signal.sosfilt(sos, narrow).astype(np.float32)


def codec(y: np.ndarray, sample_rate: int, *, format: str, subtype: str,
          compression_level: float) -> np.ndarray:
    """``y`` encoded with a lossy codec by libsndfile and decoded back (same length)."""
    buffer = _io.BytesIO()
    rate = sample_rate if format != "MP3" or sample_rate <= 48_000 else 48_000
    signal_in = np.asarray(y, dtype=np.float32)
    if rate != sample_rate:
        signal_in = audio.resample(signal_in, native_rate=sample_rate, sample_rate=rate)
    soundfile.write(buffer, signal_in, rate, format=format, subtype=subtype,
                    compression_level=compression_level)
    buffer.seek(0)
    decoded, decoded_rate = soundfile.read(buffer, dtype="float32", always_2d=False)
    if decoded.ndim > 1:
        decoded = decoded.mean(axis=1)
    if decoded_rate != sample_rate:
        decoded = audio.resample(decoded, native_rate=decoded_rate, sample_rate=sample_rate)
    return audio.fix_length(decoded.astype(np.float32), len(y))


def reverberate(y: np.ndarray, sample_rate: int, *, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` in a room whose reverberation time (60 dB decay) is ``rt60_s``.

    The impulse response is a direct path followed by Gaussian noise with an exponential
    envelope, starting 2.5 ms later: a standard synthetic room. The output keeps ``y``'s
    length and RMS level.
    """
    n = int(rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # 60 dB at rt60_s
    tail[: int(0.0025 * sample_rate)] = 0.0
    response = tail / np.sqrt(np.sum(tail ** 2))
    response[0] = 1.0
    wet = _signal.fftconvolve(np.asarray(y, dtype=np.float64), response)[: len(y)]
    rms_in, rms_out = np.sqrt(np.mean(np.square(y))), np.sqrt(np.mean(np.square(wet)))
    if rms_out > 0:
        wet *= rms_in / rms_out
    return np.clip(wet, -1.0, 1.0).astype(np.float32)


def white_noise(y: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` plus white noise at ``snr_db`` (over the whole signal)."""
    y = np.asarray(y, dtype=np.float32)
    power = float(np.mean(np.square(y, dtype=np.float64)))
    noise = rng.standard_normal(len(y)) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return np.clip(y + noise, -1.0, 1.0).astype(np.float32)


#: Ranges of :func:`random_response` (a microphone and room, as drawn for a training copy).
RESPONSE_TILT_DB_PER_OCTAVE = 8.0  # spectral tilt about 1 kHz, uniform in +-8 dB per octave
RESPONSE_LOWPASS_HZ = (3_000.0, 7_500.0)  # cut-off of a low-pass (half the copies), 24 dB/octave
RESPONSE_HIGHPASS_HZ = (80.0, 300.0)  # cut-off of a high-pass (half the copies), 12 dB/octave
RESPONSE_BUMP_DB = 4.0  # standard deviation of each of three smooth peaks or dips
LOG_MEL_FLOOR_DB = 10.0 * float(np.log10(config.FEATURES.amin))  # the log-mel front end's floor (-100 dB)


def mel_band_frequencies(n_mels: int, *, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequency (Hz) of each band of an ``n_mels``-band mel filter bank."""
    import librosa

    return librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]


def random_response(rng: np.random.Generator, frequencies: np.ndarray) -> np.ndarray:
    """A random microphone and room response, in dB at each band's centre frequency.

    Drawn from :data:`RESPONSE_TILT_DB_PER_OCTAVE` (a tilt about 1 kHz, flat below 100 Hz),
    a low-pass and a high-pass each present in half the draws (:data:`RESPONSE_LOWPASS_HZ`,
    :data:`RESPONSE_HIGHPASS_HZ`), and three smooth peaks or dips over the bands
    (:data:`RESPONSE_BUMP_DB`, 4-12 bands wide).

    Returns
    -------
    np.ndarray [shape=(len(frequencies),), dtype=float64]
    """
    f = np.maximum(np.asarray(frequencies, dtype=np.float64), 20.0)
    octaves = np.log2(np.clip(f, 100.0, None) / 1_000.0)
    response = rng.uniform(-RESPONSE_TILT_DB_PER_OCTAVE, RESPONSE_TILT_DB_PER_OCTAVE) * octaves
    if rng.random() < 0.5:
        cutoff = np.exp(rng.uniform(*np.log(RESPONSE_LOWPASS_HZ)))
        response -= 24.0 * np.maximum(0.0, np.log2(f / cutoff))
    if rng.random() < 0.5:
        cutoff = rng.uniform(*RESPONSE_HIGHPASS_HZ)
        response -= 12.0 * np.maximum(0.0, np.log2(cutoff / f))
    bands = np.arange(len(f))
    for _ in range(3):
        centre, width = rng.uniform(0, len(f) - 1), rng.uniform(4.0, 12.0)
        response += rng.normal(0.0, RESPONSE_BUMP_DB) * np.exp(-0.5 * ((bands - centre) / width) ** 2)
    return response


def apply_response(log_mel: np.ndarray, response: np.ndarray) -> np.ndarray:
    """A log-mel spectrogram (dB, bands first) as recorded through ``response`` (dB per band).

    Each band is raised or lowered by its response in every frame, and nothing falls below
    the front end's floor (:data:`LOG_MEL_FLOOR_DB`).

    Raises
    ------
    ConfigError
        If ``response`` does not have one value per band of ``log_mel``.
    """
    log_mel = np.asarray(log_mel)
    response = np.asarray(response, dtype=np.float64)
    if response.ndim != 1 or log_mel.ndim < 2 or len(response) != log_mel.shape[0]:
        raise ConfigError(f"response has shape {response.shape} and log_mel {log_mel.shape}; "
                          f"expected one response value per band (log_mel's first axis)")
    shape = (len(response),) + (1,) * (log_mel.ndim - 1)
    return np.maximum(log_mel + response.reshape(shape), LOG_MEL_FLOOR_DB).astype(log_mel.dtype)


def response_copy(log_mels: np.ndarray, *, copy: int, fmin: float, fmax: float) -> np.ndarray:
    """Multi-condition copy number ``copy`` of log-mel windows: each through its own response.

    Each window's response (:func:`random_response`) is drawn from the copy number and a hash
    of the window's own values, so the same clip gets the same response in every run, whatever
    its row, and different clips and copies get different ones.

    Parameters
    ----------
    log_mels : np.ndarray [shape=(n, n_mels, n_frames)]
        In dB.
    copy : int
    fmin, fmax : float
        The mel filter bank's range (:class:`helpers.config.FeatureConfig`).
    """
    import hashlib

    log_mels = np.asarray(log_mels)
    if log_mels.ndim != 3:
        raise ConfigError(f"log_mels has shape {log_mels.shape}; expected (n, n_mels, n_frames)")
    frequencies = mel_band_frequencies(log_mels.shape[1], fmin=fmin, fmax=fmax)
    out = np.empty_like(log_mels)
    for row, window in enumerate(log_mels):
        digest = hashlib.blake2b(np.ascontiguousarray(window).tobytes(), digest_size=8).digest()
        rng = np.random.default_rng([int(copy), int.from_bytes(digest, "little")])
        out[row] = apply_response(window, random_response(rng, frequencies))
    return out


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition("gain-20db", "20 dB quieter", lambda y, sr, rng: gain(y, -20.0)),
    Condition("gain+6db", "6 dB louder, clipped at full scale", lambda y, sr, rng: gain(y, 6.0)),
    Condition("resample-8k", "recorded at 8 kHz", lambda y, sr, rng: band_limit(y, sr, recorded_rate=8_000)),
    Condition("resample-16k", "recorded at 16 kHz", lambda y, sr, rng: band_limit(y, sr, recorded_rate=16_000)),
    Condition("telephone", "300-3400 Hz band at 8 kHz", lambda y, sr, rng: telephone(y, sr)),
    Condition("mp3-32k", "MP3 at about 32 kbit/s",
              lambda y, sr, rng: codec(y, sr, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.9)),
    Condition("ogg-q1", "Ogg Vorbis at quality 0.1",
              lambda y, sr, rng: codec(y, sr, format="OGG", subtype="VORBIS", compression_level=0.9)),
    Condition("reverb-0.5s", "a room with RT60 0.5 s",
              lambda y, sr, rng: reverberate(y, sr, rt60_s=0.5, rng=rng)),
    Condition("noise-20db", "white noise at 20 dB SNR", lambda y, sr, rng: white_noise(y, snr_db=20.0, rng=rng)),
)}


def get_condition(name: str) -> Condition:
    """The condition called ``name``.

    Raises
    ------
    ConfigError
        If there is none; the message lists the names.
    """
    if name not in CONDITIONS:
        raise ConfigError(f"channel condition {name!r} is unknown; expected one of {sorted(CONDITIONS)}")
    return CONDITIONS[name]
