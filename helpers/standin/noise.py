"""Noise synthesis: procedural clips for the ten UrbanSound8K classes, at 44.1 kHz.

:func:`render_noise` makes clip ``index`` of one class (an air conditioner's hum, a dog's
barks, a siren's sweep, ...), a pure function of the class, the index and the seed. Writing the
clips and their metadata table into a tree is :mod:`helpers.standin.tree`'s work.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import signal

from helpers.standin import pcm

NOISE_SAMPLE_RATE = 44_100  # the most common rate in UrbanSound8K
NOISE_CLIPS_PER_CLASS = 3
NOISE_CLASSES: tuple[str, ...] = (
    "air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
    "engine_idling", "gun_shot", "jackhammer", "siren", "street_music",
)


# --------------------------------------------------------------------------------------------
# Signal building blocks
# --------------------------------------------------------------------------------------------

def _colored_noise(rng: np.random.Generator, n: int, *, exponent: float) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    y = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return y / max(pcm.rms(y), 1e-12)


def _band(y: np.ndarray, low: float | None, high: float | None, *, sr: int,
          order: int = 4) -> np.ndarray:
    """Butterworth band-, low- or high-pass filter (zero phase)."""
    if low and high:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=sr, output="sos")
    elif low:
        sos = signal.butter(order, low, btype="highpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, high, btype="lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, y)


def _harmonics(freq: np.ndarray, *, sr: int, n_harmonics: int, tilt: float = 1.0) -> np.ndarray:
    """Sum of harmonics of a time-varying frequency, amplitude 1/k**tilt, below Nyquist."""
    phase = 2 * np.pi * np.cumsum(freq) / sr
    y = np.zeros_like(freq)
    for k in range(1, n_harmonics + 1):
        audible = (k * freq) < sr / 2
        y += audible * np.sin(k * phase) / k ** tilt
    return y


def _envelope(n: int, starts: Sequence[int], lengths: Sequence[int], *, sr: int,
              attack_s: float = 0.01, release_s: float = 0.03) -> np.ndarray:
    """Sum of trapezoid envelopes (on/off segments with short ramps)."""
    env = np.zeros(n)
    for start, length in zip(starts, lengths):
        stop = min(start + length, n)
        if stop <= start:
            continue
        segment = np.ones(stop - start)
        attack = min(int(attack_s * sr), segment.size // 2)
        release = min(int(release_s * sr), segment.size // 2)
        if attack:
            segment[:attack] = np.linspace(0, 1, attack)
        if release:
            segment[-release:] = np.linspace(1, 0, release)
        env[start:stop] = np.maximum(env[start:stop], segment)
    return env


def _decay(n: int, tau_s: float, *, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau_s * sr))


# --------------------------------------------------------------------------------------------
# One maker per class: (rng, n_samples, sample_rate) -> samples, any level
# --------------------------------------------------------------------------------------------

def _air_conditioner(rng, n, sr):
    t = np.arange(n) / sr
    rumble = _band(_colored_noise(rng, n, exponent=1.5), None, 2500, sr=sr)
    mains = rng.choice([50.0, 60.0])
    hum = sum(np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) / k
              for k in (1, 2, 3, 4))
    blade = 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(8, 20) * t)  # fan blade pass
    return rumble * blade + 0.3 * hum


def _car_horn(rng, n, sr):
    f0 = rng.uniform(380, 480)
    tones = np.full(n, f0)
    # Two tones a major third apart, as in most real car horns.
    horn = _harmonics(tones, sr=sr, n_harmonics=12, tilt=0.7) \
        + _harmonics(tones * 1.26, sr=sr, n_harmonics=12, tilt=0.7)
    n_honks = int(rng.integers(1, 4))
    starts = np.sort(rng.integers(int(0.05 * sr), int(0.6 * n), n_honks))
    lengths = rng.integers(int(0.25 * sr), int(1.0 * sr), n_honks)
    traffic = _band(_colored_noise(rng, n, exponent=1.0), None, 3000, sr=sr)
    return horn * _envelope(n, starts, lengths, sr=sr) + 0.05 * traffic


def _children_playing(rng, n, sr):
    t = np.arange(n) / sr
    y = 0.4 * _band(_colored_noise(rng, n, exponent=1.0), 300, 3500, sr=sr)  # distant babble
    for _ in range(int(rng.integers(3, 6))):
        # A child's voice: high f0 that glides, syllables at 3-6 per second, a formant band.
        f0 = rng.uniform(260, 420) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t
                                                         + rng.uniform(0, 2 * np.pi)))
        voice = _band(_harmonics(f0, sr=sr, n_harmonics=14, tilt=1.0), 400, rng.uniform(2500, 4500),
                      sr=sr, order=2)
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)), 0, None)
        phrase = _envelope(n, [int(rng.integers(0, n // 2))], [int(rng.integers(n // 4, n))],
                           sr=sr, attack_s=0.1, release_s=0.2)
        y += rng.uniform(0.4, 1.0) * voice * syllables * phrase
    return y


def _dog_bark(rng, n, sr):
    y = 0.02 * _colored_noise(rng, n, exponent=1.0)
    position = int(rng.uniform(0.05, 0.3) * sr)
    for _ in range(int(rng.integers(2, 5))):
        length = int(rng.uniform(0.12, 0.25) * sr)
        if position + length >= n:
            break
        # A bark: a fast falling pitch with a noisy, bright onset.
        f0 = np.linspace(rng.uniform(550, 750), rng.uniform(280, 380), length)
        tone = _harmonics(f0, sr=sr, n_harmonics=10, tilt=0.8)
        rasp = _band(rng.standard_normal(length), 500, 3000, sr=sr, order=2)
        env = _envelope(length, [0], [length], sr=sr, attack_s=0.005, release_s=0.08) \
            * _decay(length, 0.12, sr=sr)
        y[position:position + length] += (tone + 0.6 * rasp) * env
        position += length + int(rng.uniform(0.2, 0.6) * sr)
    return y


def _drilling(rng, n, sr):
    t = np.arange(n) / sr
    motor = rng.uniform(180, 320) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t))
    whine = _harmonics(motor, sr=sr, n_harmonics=30, tilt=0.5)
    grind = _band(rng.standard_normal(n), 2000, 7000, sr=sr)
    n_runs = int(rng.integers(1, 3))
    starts = np.sort(rng.integers(0, n // 2, n_runs))
    lengths = rng.integers(n // 3, n, n_runs)
    return (whine + 0.5 * grind) * _envelope(n, starts, lengths, sr=sr, attack_s=0.15,
                                             release_s=0.2)


def _engine_idling(rng, n, sr):
    firing = rng.uniform(22, 38)  # ignition pulses per second at idle
    period = sr / firing
    y = np.zeros(n)
    pulse_len = int(0.04 * sr)
    pulse = _band(rng.standard_normal(pulse_len), None, 600, sr=sr, order=2) \
        * _decay(pulse_len, 0.008, sr=sr) \
        * _envelope(pulse_len, [0], [pulse_len], sr=sr, attack_s=0.002, release_s=0.005)
    position = 0.0
    while position < n - pulse_len:
        start = int(position)
        y[start:start + pulse_len] += pulse * rng.uniform(0.7, 1.0)
        position += period * rng.uniform(0.95, 1.05)  # idling engines are not quite regular
    rumble = _band(_colored_noise(rng, n, exponent=2.0), None, 400, sr=sr)
    return y / max(pcm.rms(y), 1e-12) + 0.3 * rumble


def _gun_shot(rng, n, sr):
    y = 0.005 * _colored_noise(rng, n, exponent=1.0)
    tail = int(0.6 * sr)
    reverb = rng.standard_normal(tail) * _decay(tail, rng.uniform(0.08, 0.2), sr=sr)
    for _ in range(int(rng.integers(1, 4))):
        start = int(rng.uniform(0.05, 0.6) * n)
        length = min(int(0.25 * sr), n - start)
        crack = rng.standard_normal(length) * _decay(length, rng.uniform(0.01, 0.03), sr=sr)
        boom = _band(rng.standard_normal(length), None, 300, sr=sr, order=2) \
            * _decay(length, 0.06, sr=sr)
        shot = np.zeros(n)
        shot[start:start + length] = crack + 2.0 * boom
        y += shot + 0.05 * signal.fftconvolve(shot, reverb)[:n]
    return y


def _jackhammer(rng, n, sr):
    rate = rng.uniform(18, 28)  # blows per second
    hit_len = int(0.03 * sr)
    ring_t = np.arange(hit_len) / sr
    ring_freqs = rng.uniform([900, 2300, 3900], [1400, 2900, 4700])  # inharmonic, like steel
    ring = sum(np.sin(2 * np.pi * f * ring_t) for f in ring_freqs)
    hit = (rng.standard_normal(hit_len) + 0.8 * ring) * _decay(hit_len, 0.006, sr=sr)
    y = np.zeros(n)
    for start in np.arange(0, n - hit_len, sr / rate).astype(int):
        y[start:start + hit_len] += hit * rng.uniform(0.7, 1.0)
    n_runs = int(rng.integers(1, 3))
    starts = np.sort(rng.integers(0, n // 2, n_runs))
    lengths = rng.integers(int(0.8 * sr), n, n_runs)
    compressor = _band(_colored_noise(rng, n, exponent=1.5), None, 800, sr=sr)
    return y * _envelope(n, starts, lengths, sr=sr, attack_s=0.02, release_s=0.05) \
        + 0.15 * compressor


def _siren(rng, n, sr):
    t = np.arange(n) / sr
    if rng.random() < 0.5:  # wail: a slow sweep
        sweep = np.sin(2 * np.pi * t / rng.uniform(2.5, 4.5) + rng.uniform(0, 2 * np.pi))
        freq = rng.uniform(900, 1100) + rng.uniform(300, 450) * sweep
    else:  # yelp: a fast sweep
        sweep = np.sin(2 * np.pi * t / rng.uniform(0.25, 0.4))
        freq = rng.uniform(1000, 1200) + rng.uniform(350, 500) * sweep
    tone = _harmonics(freq, sr=sr, n_harmonics=5, tilt=1.2)
    approach = np.linspace(rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0), n)  # passing vehicle
    traffic = _band(_colored_noise(rng, n, exponent=1.0), None, 2000, sr=sr)
    return tone * approach + 0.1 * traffic


def _street_music(rng, n, sr):
    beat = 60.0 / rng.uniform(90, 130)
    scale = rng.uniform(196, 262) * 2 ** (np.array([0, 2, 4, 7, 9, 12]) / 12)  # pentatonic
    y = 0.05 * _band(_colored_noise(rng, n, exponent=1.0), 200, 4000, sr=sr)  # street around
    note_len = int(beat * sr)
    note_t = np.arange(note_len) / sr
    kick_t = np.arange(int(0.15 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(np.linspace(150, 50, kick_t.size)) / sr) \
        * _decay(kick_t.size, 0.05, sr=sr)
    hat_len = int(0.05 * sr)
    for index, start in enumerate(np.arange(0, n - note_len, note_len // 2).astype(int)):
        if index % 2 == 0:  # a plucked note on every beat
            freq = np.full(note_len, rng.choice(scale))
            note = _harmonics(freq, sr=sr, n_harmonics=8, tilt=1.3) * np.exp(-note_t / 0.35) \
                * _envelope(note_len, [0], [note_len], sr=sr, attack_s=0.002, release_s=0.02)
            y[start:start + note_len] += 0.6 * note
            if index % 4 == 0:
                y[start:start + kick.size] += kick
        else:  # a hi-hat between beats
            hat = _band(rng.standard_normal(hat_len), 6000, None, sr=sr, order=2)
            y[start:start + hat_len] += 0.3 * hat * _decay(hat_len, 0.01, sr=sr)
    return y


_NOISE_MAKERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "air_conditioner": _air_conditioner, "car_horn": _car_horn,
    "children_playing": _children_playing, "dog_bark": _dog_bark, "drilling": _drilling,
    "engine_idling": _engine_idling, "gun_shot": _gun_shot, "jackhammer": _jackhammer,
    "siren": _siren, "street_music": _street_music,
}
# Short events are often short clips in UrbanSound8K; the others are mostly full 4 s slices.
_NOISE_DURATIONS_S: dict[str, tuple[float, float]] = {
    "car_horn": (1.2, 4.0), "dog_bark": (1.5, 4.0), "gun_shot": (0.8, 2.5),
}


def render_noise(class_id: int, index: int, *, seed: int) -> np.ndarray:
    """Synthesise clip ``index`` of class ``class_id``.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (n, 2), dtype=int16]
        The clip at ``NOISE_SAMPLE_RATE``; the last clip of each class is stereo.
    """
    rng = np.random.default_rng([seed, 2, class_id, index])
    name = NOISE_CLASSES[class_id]
    low, high = _NOISE_DURATIONS_S.get(name, (4.0, 4.0))
    duration_s = round(float(rng.uniform(low, high)), 3) if high > low else high
    n = int(round(duration_s * NOISE_SAMPLE_RATE))
    y = _NOISE_MAKERS[name](rng, n, NOISE_SAMPLE_RATE)
    # Short ramps at the ends, so that tiling a clip to a longer length does not click.
    ramp = min(int(0.01 * NOISE_SAMPLE_RATE), n // 4)
    y[:ramp] *= np.linspace(0, 1, ramp)
    y[-ramp:] *= np.linspace(1, 0, ramp)
    y *= 10 ** (rng.uniform(-26, -18) / 20) / max(pcm.rms(y), 1e-12)
    if index == NOISE_CLIPS_PER_CLASS - 1:
        # A share of UrbanSound8K is stereo: the right channel here is slightly delayed and
        # quieter, like a second microphone, so code that mixes to mono has something to do.
        delay = int(rng.integers(5, 40))
        right = np.concatenate([np.zeros(delay), y[:-delay]]) * rng.uniform(0.7, 0.95)
        y = np.stack([y, right], axis=1)
    peak = np.max(np.abs(y))
    if peak > 0.95:
        y *= 0.95 / peak
    return pcm.to_int16(y)
