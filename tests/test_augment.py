"""Noise at a requested SNR, noise tiling, per-clip seeding and the four noisy versions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import make_us8k_tree, tone_noise
from helpers import augment, config, datasets
from helpers.errors import AudioError, ConfigError

RATE = 16_000
SNR_TOLERANCE_DB = 0.1


@pytest.fixture
def speech() -> np.ndarray:
    """One second of a 220 Hz tone with noise and a quiet half, standing in for speech."""
    y = tone_noise(RATE, RATE, frequency=220.0, seed=3)
    y[RATE // 2:] *= 0.05
    return y


@pytest.fixture
def tone_bank() -> list[np.ndarray]:
    """Two short noise clips: a 50 ms 3 kHz tone (tiled many times) and 0.3 s of a 700 Hz tone."""
    return [tone_noise(800, RATE, frequency=3_000.0, seed=4, noise_level=0.0),
            tone_noise(4_800, RATE, frequency=700.0, seed=5)]


def noise_of(kind: str, n: int) -> np.ndarray:
    if kind == "white":
        return np.random.default_rng(0).standard_normal(n).astype(np.float32)
    short_tone = tone_noise(800, RATE, frequency=3_000.0, seed=4, noise_level=0.0)
    return augment.tile_to_length(short_tone, n, rng=np.random.default_rng(1))


@pytest.mark.parametrize("kind", ["white", "tiled_tone"])
@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 20.0])
def test_mix_at_snr_hits_the_requested_snr(speech, kind, snr_db):
    """The measured SNR after mixing is within 0.1 dB of the request."""
    noise = noise_of(kind, speech.size)

    mixture = augment.mix_at_snr(speech, noise, snr_db=snr_db)

    assert mixture.dtype == np.float32 and mixture.shape == speech.shape
    assert abs(augment.measured_snr_db(speech, mixture) - snr_db) < SNR_TOLERANCE_DB
    # Computed independently of the helpers: 10 log10(P_speech / P_noise).
    added = mixture.astype(np.float64) - speech
    independent = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added ** 2))
    assert abs(independent - snr_db) < SNR_TOLERANCE_DB


def test_scale_noise_keeps_the_noise_shape(speech):
    noise = noise_of("tiled_tone", speech.size)

    scaled = augment.scale_noise(speech, noise, snr_db=6.0)

    # A pure gain: the ratio of scaled to original noise is one constant.
    audible = np.abs(noise) > 1e-3
    ratio = scaled[audible] / noise[audible]
    assert np.allclose(ratio, ratio[0], rtol=1e-5)


@pytest.mark.parametrize("snr_db", [math.nan, math.inf, -math.inf])
def test_non_finite_snr_raises_naming_snr_db(speech, snr_db):
    noise = noise_of("white", speech.size)

    with pytest.raises(ConfigError, match="snr_db="):
        augment.mix_at_snr(speech, noise, snr_db=snr_db)


def test_zero_power_speech_raises(speech):
    with pytest.raises(ConfigError, match="zero power"):
        augment.mix_at_snr(np.zeros_like(speech), noise_of("white", speech.size), snr_db=10.0)


def test_zero_power_noise_raises(speech):
    with pytest.raises(ConfigError, match="zero power"):
        augment.scale_noise(speech, np.zeros_like(speech), snr_db=10.0)


def test_shape_mismatch_raises(speech):
    with pytest.raises(ConfigError, match="must match"):
        augment.scale_noise(speech, noise_of("white", speech.size - 1), snr_db=10.0)


def test_tile_to_length_loops_short_noise():
    noise = np.arange(7, dtype=np.float32)

    tiled = augment.tile_to_length(noise, 100, rng=np.random.default_rng(0))

    assert tiled.shape == (100,)
    start = int(tiled[0])
    assert np.array_equal(tiled, noise[(start + np.arange(100)) % 7])
    assert set(tiled.tolist()) == set(noise.tolist())


def test_tile_to_length_cuts_long_noise_at_a_random_start():
    noise = np.arange(1_000, dtype=np.float32)

    starts = {int(augment.tile_to_length(noise, 10, rng=np.random.default_rng(seed))[0])
              for seed in range(20)}
    cut = augment.tile_to_length(noise, 10, rng=np.random.default_rng(0))

    assert len(starts) > 1
    assert np.array_equal(cut, (cut[0] + np.arange(10)) % 1_000)


@pytest.mark.parametrize("noise", [np.zeros(0, dtype=np.float32), np.ones((2, 5), dtype=np.float32)])
def test_tile_to_length_rejects_empty_or_2d_noise(noise):
    with pytest.raises(ConfigError, match="non-empty 1-D"):
        augment.tile_to_length(noise, 10, rng=np.random.default_rng(0))


def test_clip_rng_is_determined_by_clip_and_seed():
    same = [augment.clip_rng("03-01-05-01-01-01-01").standard_normal(8) for _ in range(2)]
    other_clip = augment.clip_rng("03-01-05-01-01-01-02").standard_normal(8)
    other_seed = augment.clip_rng("03-01-05-01-01-01-01", seed=config.SEED + 1).standard_normal(8)

    assert np.array_equal(same[0], same[1])
    assert not np.allclose(same[0], other_clip)
    assert not np.allclose(same[0], other_seed)


def test_noisy_versions_gives_four_variants_with_the_configured_snr(speech, tone_bank):
    original = speech.copy()
    noise_config = augment.NoiseConfig(white_snr_db=12.0, urban_snr_db=3.0)

    versions = augment.noisy_versions(speech, clip_id="03-01-05-01-01-01-01", noise_bank=tone_bank,
                                      noise_config=noise_config)

    assert tuple(versions) == config.NOISE_VARIANTS
    assert np.array_equal(speech, original)
    assert np.array_equal(versions["clean"], speech)
    for variant, y in versions.items():
        assert y.shape == speech.shape and y.dtype == np.float32
    requested = {"white": 12.0, "urban": 3.0, "white_urban": noise_config.white_urban_snr_db}
    for variant, snr_db in requested.items():
        measured = augment.measured_snr_db(speech, versions[variant])
        assert abs(measured - snr_db) < SNR_TOLERANCE_DB, (variant, measured, snr_db)
    # The mixture of both noises is the sum of the two single-noise versions' noises.
    np.testing.assert_allclose(versions["white_urban"] - speech,
                               (versions["white"] - speech) + (versions["urban"] - speech), atol=1e-6)


def test_white_urban_snr_combines_both_powers():
    noise_config = augment.NoiseConfig(white_snr_db=10.0, urban_snr_db=10.0)

    assert noise_config.white_urban_snr_db == pytest.approx(10.0 - 10 * math.log10(2))
    assert augment.NoiseConfig(white_snr_db=20.0, urban_snr_db=5.0).white_urban_snr_db < 5.0


def test_noisy_versions_are_seeded_by_clip_id(speech, tone_bank):
    first = augment.noisy_versions(speech, clip_id="clip-a", noise_bank=tone_bank)
    again = augment.noisy_versions(speech, clip_id="clip-a", noise_bank=tone_bank)
    other = augment.noisy_versions(speech, clip_id="clip-b", noise_bank=tone_bank)
    reseeded = augment.noisy_versions(speech, clip_id="clip-a", noise_bank=tone_bank, seed=7)

    for variant in config.NOISE_VARIANTS:
        assert np.array_equal(first[variant], again[variant])
    assert not np.allclose(first["white"], other["white"])
    assert not np.allclose(first["white"], reseeded["white"])


def test_noisy_versions_does_not_depend_on_other_clips(speech, tone_bank):
    alone = augment.noisy_versions(speech, clip_id="clip-a", noise_bank=tone_bank)
    augment.noisy_versions(speech, clip_id="clip-b", noise_bank=tone_bank)
    after_another = augment.noisy_versions(speech, clip_id="clip-a", noise_bank=tone_bank)

    assert np.array_equal(alone["white_urban"], after_another["white_urban"])


def test_noisy_versions_urban_noise_comes_from_the_bank(speech):
    # A bank of one constant-frequency tone: the urban noise is that tone, tiled and scaled.
    bank = [tone_noise(800, RATE, frequency=2_000.0, seed=0, noise_level=0.0)]

    urban = augment.noisy_versions(speech, clip_id="x", noise_bank=bank)["urban"] - speech

    spectrum = np.abs(np.fft.rfft(urban))
    assert np.fft.rfftfreq(urban.size, 1 / RATE)[np.argmax(spectrum)] == pytest.approx(2_000.0, abs=2)


def test_noisy_versions_empty_bank_raises(speech):
    with pytest.raises(ConfigError, match="noise_bank is empty"):
        augment.noisy_versions(speech, clip_id="x", noise_bank=[])


@pytest.mark.parametrize("field", ["white_snr_db", "urban_snr_db"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_noise_config_rejects_non_finite_snr(field, value):
    with pytest.raises(ConfigError, match=f"{field}="):
        augment.NoiseConfig(**{field: value})


def test_load_noise_bank_reads_whole_clips_at_the_speech_rate(tmp_path):
    make_us8k_tree(tmp_path, folds=(1,), duration_s=0.3)
    paths = datasets.load_urbansound8k(tmp_path)[0]["path"].tolist()

    bank = augment.load_noise_bank(paths)

    # 0.3 s at 22.05 kHz, resampled to 16 kHz; shorter than one FFT frame is fine for noise.
    assert [clip.shape for clip in bank] == [(4_800,), (4_800,)]
    assert all(clip.dtype == np.float32 for clip in bank)


def test_load_noise_bank_refuses_empty_list_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="paths is empty"):
        augment.load_noise_bank([])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        augment.load_noise_bank([bad])
