"""The sample conventions the stand-in's speech and noise share: RMS level, 16-bit rounding."""

from __future__ import annotations

import numpy as np


def rms(y: np.ndarray) -> float:
    """Root mean square of ``y``, accumulated in float64."""
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def to_int16(y: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] as 16-bit PCM, rounded and clipped here."""
    # Rounding here (instead of leaving it to libsndfile) pins the exact bytes written.
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)
