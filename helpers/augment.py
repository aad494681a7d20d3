"""Noise at a requested signal-to-noise ratio, and the four noisy versions of a clip.

SNR here is measured over the whole analysis window: ``10 log10(P_speech / P_noise)`` with
``P`` the mean square of the window. RAVDESS windows include some silence, so the SNR during
speech itself is a few dB higher than the nominal value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os

import numpy as np

from helpers import audio, config
from helpers.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Noise levels of the variants. The original work did not publish its levels.

    ``white_urban`` adds both noises, each at its own SNR, so its total SNR is lower than
    either: ``-10 log10(10^(-white/10) + 10^(-urban/10))``.
    """

    white_snr_db: float = 15.0
    urban_snr_db: float = 10.0

    def __post_init__(self) -> None:
        for name in ("white_snr_db", "urban_snr_db"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"{name}={value} must be finite")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def white_urban_snr_db(self) -> float:
        """Total SNR of the white + urban mixture."""
        return -10 * math.log10(10 ** (-self.white_snr_db / 10) + 10 ** (-self.urban_snr_db / 10))


def power(y: np.ndarray) -> float:
    """Mean square of a signal (float64 accumulation)."""
    return float(np.mean(np.square(y, dtype=np.float64)))


def scale_noise(speech: np.ndarray, noise: np.ndarray, *, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that ``speech`` over it has the requested SNR.

    Parameters
    ----------
    speech : np.ndarray [shape=(n,)]
    noise : np.ndarray [shape=(n,)]
    snr_db : float

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    ConfigError
        If ``snr_db`` is not finite, the shapes differ, or either signal has zero power.
    """
    if not math.isfinite(snr_db):
        raise ConfigError(f"snr_db={snr_db} must be finite")
    if speech.shape != noise.shape:
        raise ConfigError(f"speech shape {speech.shape} and noise shape {noise.shape} must match")
    speech_power, noise_power = power(speech), power(noise)
    if speech_power == 0 or noise_power == 0:
        raise ConfigError(f"cannot set an SNR with zero power (speech {speech_power}, noise {noise_power})")
    gain = math.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return (noise * gain).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, *, snr_db: float) -> np.ndarray:
    """Add ``noise`` to ``speech`` at ``snr_db`` (see :func:`scale_noise`)."""
    return (speech + scale_noise(speech, noise, snr_db=snr_db)).astype(np.float32)


def measured_snr_db(speech: np.ndarray, mixture: np.ndarray) -> float:
    """SNR of a mixture against the clean signal it was made from, in dB."""
    return 10 * math.log10(power(speech) / power(mixture - speech))


def tile_to_length(noise: np.ndarray, length: int, *, rng: np.random.Generator) -> np.ndarray:
    """Loop ``noise`` to ``length`` samples starting at a random point.

    Short clips (UrbanSound8K car horns run 0.4 s) repeat; long ones are cut at a random start.
    """
    if noise.ndim != 1 or noise.size == 0:
        raise ConfigError(f"noise must be a non-empty 1-D array, got shape {noise.shape}")
    start = int(rng.integers(noise.size))
    index = (start + np.arange(length)) % noise.size
    return noise[index]


def clip_rng(clip_id: str, *, seed: int = config.SEED) -> np.random.Generator:
    """A random generator seeded by the global seed and the clip identity.

    Seeding per clip makes each clip's noise independent of which other clips are processed
    and in what order, so subsets and splits see the same noisy audio.
    """
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def load_noise_bank(paths: list[str | os.PathLike], *,
                    sample_rate: int = config.FEATURES.sample_rate) -> list[np.ndarray]:
    """Load noise clips whole, mono, at ``sample_rate`` (each refused file raises AudioError)."""
    if len(paths) == 0:
        raise ConfigError("paths is empty: at least one noise clip is needed for the urban variants")
    return [audio.load_audio(p, sample_rate=sample_rate, n_fft=1) for p in paths]


def noisy_versions(speech: np.ndarray, *, clip_id: str, noise_bank: list[np.ndarray],
                   noise_config: NoiseConfig = NoiseConfig(), seed: int = config.SEED) -> dict[str, np.ndarray]:
    """The four versions of one clip: clean, white, urban and white + urban.

    Parameters
    ----------
    speech : np.ndarray [shape=(n,)]
        The clean analysis window.
    clip_id : str
        Identity of the recording; seeds the noise.
    noise_bank : list of np.ndarray
        Urban noise clips at the speech sample rate; one is drawn per clip.

    Returns
    -------
    dict
        ``{variant: np.ndarray [shape=(n,), dtype=float32]}`` for ``config.NOISE_VARIANTS``.
    """
    if not noise_bank:
        raise ConfigError("noise_bank is empty: at least one noise clip is needed")
    rng = clip_rng(clip_id, seed=seed)
    white = rng.standard_normal(speech.size).astype(np.float32)
    urban = tile_to_length(noise_bank[int(rng.integers(len(noise_bank)))], speech.size, rng=rng)
    white_scaled = scale_noise(speech, white, snr_db=noise_config.white_snr_db)
    urban_scaled = scale_noise(speech, urban, snr_db=noise_config.urban_snr_db)
    return {
        "clean": speech.astype(np.float32),
        "white": speech + white_scaled,
        "urban": speech + urban_scaled,
        "white_urban": speech + white_scaled + urban_scaled,
    }
