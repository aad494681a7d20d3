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


def test_a_random_response_is_seeded_and_stays_within_its_ranges():
    f = channel.mel_band_frequencies(64, fmin=0.0, fmax=8_000.0)
    draws = np.stack([channel.random_response(np.random.default_rng(k), f) for k in range(200)])

    np.testing.assert_array_equal(draws[7], channel.random_response(np.random.default_rng(7), f))
    assert draws.shape == (200, 64) and np.isfinite(draws).all()
    assert np.std(draws[:, 40]) > 3.0  # responses differ from draw to draw
    # Within the bands no filter cuts (300 Hz - 3 kHz), only the tilt (<= 8 dB per octave about
    # 1 kHz, at most 1.74 octaves away) and three bumps of 4 dB (rarely beyond 4 sd) move them.
    middle = (f > 300.0) & (f < 3_000.0)
    assert np.abs(draws[:, middle]).max() < 8.0 * 1.74 + 3 * 4.0 * 4
    # Tilt and bumps are centred on 0 dB; the low-pass (half the draws, cut-off 3-7.5 kHz, 24 dB
    # per octave) takes about 8 dB off the top band on average.
    assert abs(draws[:, middle].mean()) < 2.0
    assert draws[:, -1].mean() < draws[:, middle].mean() - 4.0


def test_a_response_moves_each_band_by_its_own_db_in_every_frame_down_to_the_floor():
    log_mel = np.full((4, 5), -30.0, dtype=np.float32)
    log_mel[3, :2] = -95.0

    out = channel.apply_response(log_mel, np.array([6.0, 0.0, -3.0, -10.0]))

    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:3], np.array([[-24.0] * 5, [-30.0] * 5, [-33.0] * 5]))
    np.testing.assert_array_equal(out[3], [-100.0, -100.0, -40.0, -40.0, -40.0])
    with pytest.raises(ConfigError, match="one response value per band"):
        channel.apply_response(log_mel, np.zeros(5))


def test_response_copies_are_a_function_of_each_windows_content_and_the_copy_number():
    rng = np.random.default_rng(0)
    windows = rng.normal(-40.0, 5.0, size=(3, 16, 10)).astype(np.float32)

    first = channel.response_copy(windows, copy=0, fmin=0.0, fmax=8_000.0)
    reordered = channel.response_copy(windows[::-1], copy=0, fmin=0.0, fmax=8_000.0)
    second = channel.response_copy(windows, copy=1, fmin=0.0, fmax=8_000.0)

    assert first.shape == windows.shape and first.dtype == np.float32
    np.testing.assert_array_equal(reordered[::-1], first)  # the clip, not its row, draws it
    shift = first - windows  # one response per window: the same dB in every frame of a band
    np.testing.assert_allclose(shift, shift[:, :, :1].repeat(10, axis=2), atol=1e-4)
    assert not np.allclose(shift[0, :, 0], shift[1, :, 0])  # each window its own response
    assert not np.allclose(second, first)  # each copy its own
    with pytest.raises(ConfigError, match=r"expected \(n, n_mels, n_frames\)"):
        channel.response_copy(windows[0], copy=0, fmin=0.0, fmax=8_000.0)
