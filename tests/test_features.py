"""Log-mel features: librosa parity, the mel peak of a sine, and the content-keyed cache."""

from __future__ import annotations

import librosa
import numpy as np
import pandas as pd
import pytest

from conftest import make_ravdess_tree, make_us8k_tree, tone_noise, write_clip
from helpers import audio, augment, config, datasets, features
from helpers.features import FeatureError

FEATURES = config.FEATURES
DB_TOLERANCE = 1e-3


def librosa_log_mel(y: np.ndarray, feature_config: config.FeatureConfig = FEATURES) -> np.ndarray:
    """The reference: librosa's own mel spectrogram and dB conversion with the same settings."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=feature_config.sample_rate, n_fft=feature_config.n_fft,
        hop_length=feature_config.hop_length, win_length=feature_config.win_length,
        window=feature_config.window, center=True, pad_mode="constant", power=2.0,
        n_mels=feature_config.n_mels, fmin=feature_config.fmin, fmax=feature_config.fmax)
    return librosa.power_to_db(mel, ref=1.0, amin=feature_config.amin, top_db=None)


def test_log_mel_equals_librosa_for_one_signal():
    """Within 1e-3 dB of librosa.power_to_db(librosa.feature.melspectrogram(...)) on noise + tone."""
    y = tone_noise(FEATURES.n_samples, FEATURES.sample_rate, frequency=330.0, seed=0)

    S_db = features.log_mel(y)

    assert S_db.shape == (FEATURES.n_mels, FEATURES.n_frames) == (64, 151)
    assert S_db.dtype == np.float32
    np.testing.assert_allclose(S_db, librosa_log_mel(y), rtol=0, atol=DB_TOLERANCE)


def test_log_mel_batch_rows_equal_single_calls():
    """A (2, 3, n) batch: each row within 1e-3 dB of librosa and identical to its single call."""
    rng = np.random.default_rng(1)
    batch = (0.1 * rng.standard_normal((2, 3, FEATURES.n_samples))).astype(np.float32)
    batch[1, 2] *= 1e-4  # a quiet row still matches

    S_db = features.log_mel(batch)

    assert S_db.shape == (2, 3, FEATURES.n_mels, FEATURES.n_frames)
    np.testing.assert_allclose(S_db, librosa_log_mel(batch), rtol=0, atol=DB_TOLERANCE)
    for i in range(2):
        for j in range(3):
            assert np.array_equal(S_db[i, j], features.log_mel(batch[i, j]))


def test_log_mel_of_silence_is_the_amin_floor():
    S_db = features.log_mel(np.zeros(FEATURES.n_samples, dtype=np.float32))

    np.testing.assert_allclose(S_db, 10 * np.log10(FEATURES.amin), atol=1e-4)


def test_log_mel_follows_a_feature_config():
    """Within 1e-3 dB of librosa for a non-default configuration (8 kHz, 32 bands, fmin 50 Hz)."""
    small = config.FeatureConfig(sample_rate=8_000, duration_s=1.0, n_fft=512, win_length=400,
                                 hop_length=160, n_mels=32, fmin=50.0, fmax=4_000.0)
    y = tone_noise(small.n_samples, small.sample_rate, frequency=500.0, seed=2)

    S_db = features.log_mel(y, feature_config=small)

    assert S_db.shape == (32, small.n_frames) == (32, 51)
    np.testing.assert_allclose(S_db, librosa_log_mel(y, small), rtol=0, atol=DB_TOLERANCE)
    assert np.array_equal(features.mel_basis(small),
                          librosa.filters.mel(sr=8_000, n_fft=512, n_mels=32, fmin=50.0, fmax=4_000.0))


def test_sine_at_1khz_peaks_in_the_band_centred_nearest_1khz():
    t = np.arange(FEATURES.n_samples) / FEATURES.sample_rate
    sine = (0.5 * np.sin(2 * np.pi * 1_000.0 * t)).astype(np.float32)
    # Band m of librosa's filter bank is centred on the (m + 1)-th of n_mels + 2 mel frequencies.
    centres = librosa.mel_frequencies(n_mels=FEATURES.n_mels + 2, fmin=FEATURES.fmin,
                                      fmax=FEATURES.fmax)[1:-1]

    S_db = features.log_mel(sine)

    peak_band = int(np.argmax(S_db[:, 5:-5].mean(axis=1)))
    assert peak_band == int(np.argmin(np.abs(centres - 1_000.0)))
    assert abs(centres[peak_band] - 1_000.0) < 60.0
    # Far from the tone the energy is orders of magnitude lower.
    assert S_db[peak_band, 75] - S_db[peak_band + 15, 75] > 40.0


def test_log_mel_too_short_raises():
    with pytest.raises(FeatureError, match="n_fft//2\\+1=513"):
        features.log_mel(np.ones(512, dtype=np.float32))


# --- build_features -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    """Four speech clips and two fold-1 noise clips, with their tables."""
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2), emotions=(1, 5))
    make_us8k_tree(tmp_path / "urbansound8k", folds=(1,))
    manifest, _ = datasets.find_ravdess(tmp_path / "ravdess")
    noise, _ = datasets.load_urbansound8k(tmp_path / "urbansound8k", folds=1)
    return manifest, noise["path"].tolist()


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_build_features_shape_values_and_snr(tree, cache_dir):
    manifest, noise_paths = tree

    result = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    assert not result.cached
    assert result.features.shape == (4, 4, FEATURES.n_mels, FEATURES.n_frames)
    assert result.features.dtype == np.float32 and np.isfinite(result.features).all()
    assert result.clips["clip_id"].tolist() == manifest["clip_id"].tolist()
    assert len(result.key) == 16
    # The clean variant is the log-mel of the loaded window.
    first = audio.load_window(manifest["path"][0])
    assert np.array_equal(result.features[0, 0], features.log_mel(first))
    # Noise raises the quiet bands, so every noisy variant differs from clean.
    for index in range(1, 4):
        assert not np.allclose(result.features[index], result.features[0])
    # The SNR table: 3 noisy variants per clip, each measured within 0.1 dB of the request.
    noise_config = augment.NoiseConfig()
    assert len(result.snr) == 12
    assert result.snr["variant"].tolist() == ["white", "urban", "white_urban"] * 4
    requested = {"white": noise_config.white_snr_db, "urban": noise_config.urban_snr_db,
                 "white_urban": noise_config.white_urban_snr_db}
    assert result.snr["requested_db"].tolist() == [requested[v] for v in result.snr["variant"]]
    assert (result.snr["measured_db"] - result.snr["requested_db"]).abs().max() < 0.1


def test_second_call_is_a_cache_hit_without_recomputing(tree, cache_dir, monkeypatch):
    manifest, noise_paths = tree
    first = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    def refuse(*args, **kwargs):
        raise AssertionError("features were recomputed on a cache hit")

    monkeypatch.setattr(features, "_features_for_chunk", refuse)
    second = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    assert second.cached and second.key == first.key
    assert np.array_equal(second.features, first.features)
    pd.testing.assert_frame_equal(second.snr, first.snr)
    pd.testing.assert_frame_equal(second.clips, first.clips)


def test_cache_file_is_written_atomically(tree, cache_dir):
    manifest, noise_paths = tree

    result = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    assert cache_files(cache_dir) == [f"logmel_{result.key}.npz"]
    with np.load(cache_dir / f"logmel_{result.key}.npz") as stored:
        assert np.array_equal(stored["features"], result.features)


def test_failed_cache_write_leaves_no_file(tree, cache_dir, monkeypatch):
    manifest, noise_paths = tree

    def fail_half_way(file, **arrays):
        with open(file, "wb") as handle:
            handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    assert cache_files(cache_dir) == []


def test_default_cache_dir_comes_from_config(tree, tmp_path, monkeypatch):
    manifest, noise_paths = tree
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "configured")

    result = features.build_features(manifest.iloc[:1], noise_paths, n_jobs=1)

    assert cache_files(tmp_path / "configured" / "features") == [f"logmel_{result.key}.npz"]


def test_changing_an_input_file_changes_the_key(tree, cache_dir):
    manifest, noise_paths = tree
    first = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    write_clip(manifest["path"][2], seed=12345)  # same name, new content
    second = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)

    assert second.key != first.key and not second.cached
    assert np.array_equal(second.features[:, [0, 1, 3]], first.features[:, [0, 1, 3]])
    assert not np.allclose(second.features[0, 2], first.features[0, 2])
    assert len(cache_files(cache_dir)) == 2


def test_changing_a_noise_file_or_configuration_changes_the_key(tree, cache_dir):
    manifest, noise_paths = tree
    base = features.feature_key(manifest, noise_paths, feature_config=FEATURES,
                                noise_config=augment.NoiseConfig(), seed=config.SEED)

    keys = {
        "seed": features.feature_key(manifest, noise_paths, feature_config=FEATURES,
                                     noise_config=augment.NoiseConfig(), seed=config.SEED + 1),
        "noise_config": features.feature_key(manifest, noise_paths, feature_config=FEATURES,
                                             noise_config=augment.NoiseConfig(white_snr_db=5.0),
                                             seed=config.SEED),
        "feature_config": features.feature_key(manifest, noise_paths,
                                               feature_config=config.FeatureConfig(n_mels=40),
                                               noise_config=augment.NoiseConfig(), seed=config.SEED),
        "order": features.feature_key(manifest.iloc[::-1], noise_paths, feature_config=FEATURES,
                                      noise_config=augment.NoiseConfig(), seed=config.SEED),
    }
    write_clip(noise_paths[1], sample_rate=22_050, duration_s=0.5, frequency=5_000.0)
    keys["noise_file"] = features.feature_key(manifest, noise_paths, feature_config=FEATURES,
                                              noise_config=augment.NoiseConfig(), seed=config.SEED)

    assert all(key != base for key in keys.values()), keys
    assert len(set(keys.values())) == len(keys)


def test_changed_noise_file_is_reloaded(tree, cache_dir):
    manifest, noise_paths = tree
    features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)
    for path in noise_paths:
        write_clip(path, sample_rate=22_050, duration_s=0.5, frequency=5_000.0)

    changed = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)
    features._noise_bank.cache_clear()
    fresh = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1, force=True)

    assert changed.key == fresh.key
    assert np.array_equal(changed.features, fresh.features)


def test_force_recomputes(tree, cache_dir, monkeypatch):
    manifest, noise_paths = tree
    first = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)
    calls = []
    original = features._features_for_chunk

    def counted(job, settings):
        calls.append(job)
        return original(job, settings)

    monkeypatch.setattr(features, "_features_for_chunk", counted)
    again = features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1, force=True)

    assert len(calls) == 1 and not again.cached and again.key == first.key
    assert np.array_equal(again.features, first.features)
    assert cache_files(cache_dir) == [f"logmel_{first.key}.npz"]


def test_threads_and_chunking_give_identical_arrays(tree, tmp_path):
    manifest, noise_paths = tree

    serial = features.build_features(manifest, noise_paths, cache_dir=tmp_path / "one", n_jobs=1)
    threaded = features.build_features(manifest, noise_paths, cache_dir=tmp_path / "two", n_jobs=2,
                                       chunk_size=1)
    chunked = features.build_features(manifest, noise_paths, cache_dir=tmp_path / "three", n_jobs=1,
                                      chunk_size=3)

    assert threaded.key == serial.key == chunked.key
    assert np.array_equal(threaded.features, serial.features)
    assert np.array_equal(chunked.features, serial.features)
    pd.testing.assert_frame_equal(threaded.snr, serial.snr)


def test_subset_features_equal_the_full_build(tree, tmp_path):
    """Noise is seeded per clip, so a clip's features do not depend on the other clips."""
    manifest, noise_paths = tree

    full = features.build_features(manifest, noise_paths, cache_dir=tmp_path / "full", n_jobs=1)
    part = features.build_features(manifest.iloc[[3, 1]], noise_paths, cache_dir=tmp_path / "part",
                                   n_jobs=1)

    assert np.array_equal(part.features, full.features[:, [3, 1]])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_bad_files_raise_feature_error_listing_each(tree, cache_dir, n_jobs):
    manifest, noise_paths = tree
    garbage, empty = manifest["path"][1], manifest["path"][3]
    with open(garbage, "wb") as handle:
        handle.write(b"\x01\x02garbage" * 100)
    open(empty, "wb").close()

    with pytest.raises(FeatureError) as caught:
        features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=n_jobs, chunk_size=2)

    message = str(caught.value)
    assert message.startswith("2 clips could not be read")
    assert f"{garbage}: not a readable audio file" in message
    assert f"{empty}: empty file (0 bytes)" in message
    assert cache_files(cache_dir) == []


@pytest.mark.parametrize("change, match", [
    (lambda m: m.drop(columns=["clip_id"]), "lacks columns \\['clip_id'\\]"),
    (lambda m: m.iloc[:0], "manifest is empty"),
    (lambda m: pd.concat([m, m.iloc[:1]]), "more than once"),
])
def test_bad_manifest_raises(tree, cache_dir, change, match):
    manifest, noise_paths = tree

    with pytest.raises(FeatureError, match=match):
        features.build_features(change(manifest), noise_paths, cache_dir=cache_dir, n_jobs=1)


# --- FeatureSet.variant ---------------------------------------------------------------------

@pytest.fixture
def feature_set(tree, cache_dir):
    manifest, noise_paths = tree
    return features.build_features(manifest, noise_paths, cache_dir=cache_dir, n_jobs=1)


def test_single_variant(feature_set):
    X, items = feature_set.variant("urban")

    assert X.shape == (4, FEATURES.n_mels, FEATURES.n_frames)
    assert np.array_equal(X, feature_set.features[config.NOISE_VARIANTS.index("urban")])
    assert items["clip_id"].tolist() == feature_set.clips["clip_id"].tolist()
    assert set(items["variant"]) == {"urban"}


def test_aggregation_variant_stacks_the_four(feature_set):
    X, items = feature_set.variant("aggregation")

    assert X.shape == (16, FEATURES.n_mels, FEATURES.n_frames)
    assert len(items) == 16
    assert items["clip_id"].value_counts().tolist() == [4, 4, 4, 4]
    assert items["variant"].tolist() == [v for v in config.NOISE_VARIANTS for _ in range(4)]
    for row, item in enumerate(items.itertuples()):
        clip = feature_set.clips["clip_id"].tolist().index(item.clip_id)
        assert np.array_equal(X[row], feature_set.features[config.NOISE_VARIANTS.index(item.variant), clip])
    # Labels travel with every copy.
    assert items.groupby("clip_id")["emotion"].nunique().eq(1).all()


def test_variant_for_a_subset_of_clips(feature_set):
    wanted = feature_set.clips["clip_id"].tolist()[2:]

    X, items = feature_set.variant("aggregation", clip_ids=wanted)

    assert X.shape[0] == 8 and len(items) == 8
    assert set(items["clip_id"]) == set(wanted)
    X_clean, _ = feature_set.variant("clean", clip_ids=wanted)
    assert np.array_equal(X_clean, feature_set.features[0, 2:])


def test_unknown_variant_raises(feature_set):
    with pytest.raises(FeatureError, match="variant='noisy'"):
        feature_set.variant("noisy")


def _keyed_set(key: str) -> features.FeatureSet:
    return features.FeatureSet(np.zeros((4, 0, 1, 1), np.float32), pd.DataFrame(), pd.DataFrame(), key)


def test_data_key_is_the_key_and_variant_joined_by_a_colon():
    feature_set = _keyed_set("abc123")

    # These strings key cached models and studies: they must not change spelling.
    assert feature_set.data_key("clean") == "abc123:clean"
    assert feature_set.data_key("functionals", "clean") == "abc123:functionals:clean"
    assert features.data_key("abc123", "aggregation") == "abc123:aggregation"
    assert features.data_key(feature_set.data_key("clean"), "with-gender") == "abc123:clean:with-gender"
    for variant in config.VARIANTS:
        assert feature_set.data_key(variant) == f"{feature_set.key}:{variant}"


@pytest.mark.parametrize("key, variants, match", [
    ("abc", (), "at least one variant"),
    ("abc", ("",), "variant=''"),
    ("abc", ("clean", None), "variant=None"),
    ("", ("clean",), "key=''"),
])
def test_data_key_rejects_empty_parts(key, variants, match):
    with pytest.raises(FeatureError, match=match):
        features.data_key(key, *variants)
