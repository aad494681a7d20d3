"""Recording-chain conditions and the speech-level normalisation that makes features level-free."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tone_noise
from helpers import channel, functionals
from helpers.errors import ConfigError

RATE = 48_000  # the rate of RAVDESS: every condition changes something


def speech_like(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A tone with silence around it, like a clip with leading and trailing silence."""
    y = tone_noise(int(seconds * RATE), RATE, frequency=220.0, seed=seed)
    y[: RATE // 4] *= 0.01
    y[-RATE // 4:] *= 0.01
    return y


@pytest.mark.parametrize("name", sorted(channel.CONDITIONS))
def test_each_condition_keeps_length_and_range_and_is_seeded(name):
    y = speech_like()
    condition = channel.get_condition(name)

    out = condition.apply(y, RATE, np.random.default_rng(1))
    again = condition.apply(y, RATE, np.random.default_rng(1))

    assert out.shape == y.shape and out.dtype == np.float32
    assert np.all(np.abs(out) <= 1.0) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, again)
    assert not np.allclose(out, y, atol=1e-4), f"{name} changed nothing"


def test_band_limit_removes_what_the_lower_rate_cannot_hold():
    t = np.arange(RATE) / RATE
    y = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)

    out = channel.band_limit(y, RATE, recorded_rate=8_000)

    spectrum = np.abs(np.fft.rfft(out))
    assert spectrum[6000] < 0.01 * spectrum[300]  # 1 Hz bins: 6 kHz is above 8 kHz's Nyquist


def test_an_unknown_condition_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown.*gain-20db"):
        channel.get_condition("underwater")


def test_level_normalisation_undoes_any_gain():
    y = speech_like()

    quiet = functionals.normalise_level(channel.gain(y, -20.0), RATE, target_db=-20.0)
    loud = functionals.normalise_level(channel.gain(y, 3.0), RATE, target_db=-20.0)

    np.testing.assert_allclose(quiet, loud, atol=2e-5)
    assert functionals.active_level_db(quiet, RATE) == pytest.approx(-20.0, abs=1e-3)
    assert functionals.active_level_db(np.zeros(RATE, dtype=np.float32), RATE) is None


def test_multi_condition_copies_are_a_function_of_content_and_copy_number():
    digest = "0123456789abcdef" * 4
    draws = {functionals.condition_for(digest, copy) for copy in range(40)}

    assert functionals.condition_for(digest, 3) == functionals.condition_for(digest, 3)
    assert len(draws) > 5  # different copies draw different speeds and conditions
    assert all(speed in functionals.CONDITION_SPEEDS for speed, _ in draws)
    assert not any(name and name.startswith("gain") for _, name in draws)  # level is normalised
