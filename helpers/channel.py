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
"""

from __future__ import annotations

import dataclasses
import io as _io
from collections.abc import Callable

import numpy as np
import soundfile
from scipy import signal as _signal

from helpers import audio
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
