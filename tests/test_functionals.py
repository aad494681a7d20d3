"""openSMILE functionals and the classical baselines, on tiny generated clips."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import make_ravdess_tree, write_clip

from helpers import baselines, datasets, functionals, splits
from helpers.errors import AudioError


@pytest.fixture
def tree(tmp_path):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2), emotions=(1, 5), duration_s=1.0)
    manifest, _ = datasets.find_ravdess(tmp_path / "ravdess")
    return manifest


def test_egemaps_vector_per_file_is_cached_by_content(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    x = functionals.extract_for_items(tree, feature_set="egemaps", cache_folder=cache, max_workers=1)
    assert x.shape == (len(tree), functionals.DIMENSIONS["egemaps"]) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    # Different clips (different tones) give different vectors.
    assert not np.allclose(x[0], x[1])

    def no_extraction(*args, **kwargs):
        raise AssertionError("a cached file was extracted again")

    monkeypatch.setattr(functionals, "functionals_of_file", no_extraction)
    again = functionals.extract_for_items(tree, feature_set="egemaps", cache_folder=cache, max_workers=1)
    np.testing.assert_array_equal(again, x)


def test_compare_has_its_6373_functionals_the_same_for_wav_and_flac(tmp_path):
    import soundfile

    wav = write_clip(tmp_path / "tone.wav", duration_s=1.0, sample_rate=16_000, subtype="PCM_16")
    samples, rate = soundfile.read(wav, dtype="int16")
    flac = tmp_path / "tone.flac"
    soundfile.write(flac, samples, rate, subtype="PCM_16")
    x = functionals.extract([wav, flac], feature_set="compare", cache_folder=tmp_path / "c")
    assert x.shape == (2, 6373)
    # FLAC is lossless: the same samples give the same functionals.
    np.testing.assert_array_equal(x[0], x[1])
    other = functionals.extract([write_clip(tmp_path / "other.wav", duration_s=1.0, sample_rate=16_000)],
                                feature_set="compare", cache_folder=tmp_path / "c")
    assert not np.allclose(other[0], x[0])


def test_speed_perturbation_raises_the_pitch(tmp_path):
    path = write_clip(tmp_path / "tone.wav", duration_s=1.0, sample_rate=16_000, frequency=200.0)
    names = list(__import__("opensmile").Smile(
        feature_set=__import__("opensmile").FeatureSet.eGeMAPSv02).feature_names)
    pitch = names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    values = {speed: functionals.extract([path], feature_set="egemaps", speed=speed,
                                         cache_folder=tmp_path / "c", max_workers=1)[0, pitch]
              for speed in (0.9, 1.0, 1.1)}
    # A semitone is a factor 2 ** (1 / 12): 1.1 times faster is 1.65 semitones higher.
    assert values[0.9] < values[1.0] < values[1.1]
    assert values[1.1] - values[1.0] == pytest.approx(12 * np.log2(1.1), abs=0.3)
    with pytest.raises(functionals.FunctionalsError, match="speed=3"):
        functionals.extract([path], feature_set="egemaps", speed=3)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(functionals.FunctionalsError, match="feature_set='mfcc'"):
        functionals.extract([tmp_path / "x.wav"], feature_set="mfcc")
    with pytest.raises(functionals.FunctionalsError, match="paths is empty"):
        functionals.extract([], feature_set="egemaps")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioError, match="broken.wav"):
        functionals.extract([broken], feature_set="egemaps", cache_folder=tmp_path / "c",
                            max_workers=1)


def test_per_speaker_standardisation_uses_each_speakers_own_rows():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5, 2, (10, 3)), rng.normal(-5, 0.5, (10, 3))])
    speakers = np.repeat([1, 2], 10)
    z = functionals.per_speaker_standardise(x, speakers)
    for speaker in (1, 2):
        np.testing.assert_allclose(z[speakers == speaker].mean(0), 0, atol=1e-6)
        np.testing.assert_allclose(z[speakers == speaker].std(0), 1, atol=1e-5)
    with pytest.raises(functionals.FunctionalsError, match="speakers has 3 entries"):
        functionals.per_speaker_standardise(x, [1, 2, 3])


def test_baselines_learn_a_separable_problem_and_never_see_the_test_actors():
    rng = np.random.default_rng(0)
    import pandas as pd

    items = pd.DataFrame({"actor": np.repeat(np.arange(1, 9), 16)})
    items["gender"] = np.where(items["actor"] % 2, "male", "female")
    labels = np.tile(np.repeat([0, 1], 8), 8)
    x = rng.normal(size=(len(items), 5))
    x[:, 0] += 3 * labels
    (split, _) = splits.folds_from_test_actors(items, [[1, 2], [3, 4]], seed=0)
    probabilities, seconds, rate = baselines.run_fold(x, labels, split, task="emotion", seed=0)
    assert probabilities.shape == (32, 2) and seconds >= 0 and rate > 0
    assert np.mean(probabilities.argmax(1) == labels[split.test]) > 0.9
    # The classifier only ever sees training and validation actors: poison the test rows'
    # labels and the predictions do not change.
    poisoned = labels.copy()
    poisoned[split.test] = 1 - poisoned[split.test]
    again, _, _ = baselines.run_fold(x, poisoned, split, task="emotion", seed=0)
    np.testing.assert_allclose(again, probabilities)
    # The gender baseline (an RBF SVM with Platt-scaled probabilities) too, without any
    # scikit-learn deprecation warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        gender, _, _ = baselines.run_fold(x, labels, split, task="gender", seed=0)
    assert gender.shape == (32, 2)
    np.testing.assert_allclose(gender.sum(1), 1, atol=1e-6)
    assert np.mean(gender.argmax(1) == labels[split.test]) > 0.9
    with pytest.raises(baselines.BaselineError, match="task='age'"):
        baselines.make_classifier("age", seed=0)


def _voiced(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like signal: a 160 Hz pulse train's harmonics with a slow vibrato, and a little
    breath noise."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = 160.0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    y = sum(np.sin(k * phase) / k for k in range(1, 12))
    y = y + 0.02 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def test_trim_silence_keeps_the_speech_and_leaves_a_silent_signal_alone():
    rate = 16_000
    speech = _voiced(rate, 1.0)
    padded = np.concatenate([np.zeros(rate // 2, np.float32), speech, np.zeros(rate // 4, np.float32)])
    trimmed = functionals.trim_silence(padded, rate, top_db=40.0)
    # Within one 25 ms frame of the speech at each end.
    assert abs(len(trimmed) - len(speech)) <= 2 * int(0.025 * rate)
    assert np.max(np.abs(trimmed[: int(0.03 * rate)])) > 0.05  # it starts at the speech
    silent = np.zeros(rate, np.float32)
    np.testing.assert_array_equal(functionals.trim_silence(silent, rate, top_db=40.0), silent)


def test_a_floor_lets_the_trim_find_the_silence_under_steady_noise():
    rate = 16_000
    speech = _voiced(rate, 1.0)
    padded = np.concatenate([np.zeros(rate // 2, np.float32), speech, np.zeros(rate // 2, np.float32)])
    # White noise 20 dB below the speech's RMS: every frame is within 40 dB of the loudest.
    noise = np.random.default_rng(3).standard_normal(len(padded)).astype(np.float32)
    noisy = padded + noise * np.float32(np.sqrt(np.mean(speech ** 2)) * 0.1)
    assert len(functionals.trim_silence(noisy, rate, top_db=40.0)) == len(noisy)  # nothing cut
    trimmed = functionals.trim_silence(noisy, rate, top_db=40.0, floor_db=6.0)
    assert abs(len(trimmed) - len(speech)) <= 2 * int(0.025 * rate)
    # On the quiet recording the floor lies far below the trim's threshold: the same cut.
    np.testing.assert_array_equal(functionals.trim_silence(padded + 1e-5 * noise, rate, top_db=40.0, floor_db=6.0),
                                  functionals.trim_silence(padded + 1e-5 * noise, rate, top_db=40.0))
    silent = np.zeros(rate, np.float32)
    np.testing.assert_array_equal(functionals.trim_silence(silent, rate, top_db=40.0, floor_db=6.0), silent)


def test_a_copy_trimmed_after_its_chain_keeps_what_the_chain_added_to_the_silence(tmp_path):
    import soundfile

    from helpers import audio, channel, io

    rate = functionals.ANALYSIS_RATE
    quiet = 1e-4 * np.random.default_rng(2).standard_normal(rate // 2).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, np.concatenate([quiet, _voiced(rate, 1.0), quiet]), rate, subtype="FLOAT")
    digest = io.file_digest(path)
    # A copy number whose drawn chain is the room (its tail rings on into the silence).
    copy = next(k for k in range(200) if functionals.condition_for(digest, k)[1] == "reverb-0.5s")
    options = {"trim_db": 40.0, "trim_floor_db": 6.0, "condition_copy": copy, "digest": digest}
    first = functionals.prepared_signal(path, **options)
    last = functionals.prepared_signal(path, **options, trim_after_chain=True)
    # Speed, chain, then the trim, done by hand.
    y = audio.load_audio(path, sample_rate=rate)
    speed, name = functionals.condition_for(digest, copy)
    if speed != 1.0:
        y = audio.resample(y, native_rate=int(round(rate * speed)), sample_rate=rate)
    y = channel.get_condition(name).apply(y, rate, np.random.default_rng([copy, int(digest[:12], 16), 1]))
    np.testing.assert_allclose(last, functionals.trim_silence(y, rate, top_db=40.0, floor_db=6.0), atol=1e-6)
    assert len(last) > len(first) + int(0.05 * rate)  # the room's tail after the last word
    # Without a copy the order changes nothing.
    np.testing.assert_array_equal(functionals.prepared_signal(path, trim_db=40.0, trim_after_chain=True),
                                  functionals.prepared_signal(path, trim_db=40.0))
    with pytest.raises(functionals.FunctionalsError, match="trim_after_chain=True must be True or False, and True only with trim_db"):
        functionals.extract([path], feature_set="egemaps", trim_after_chain=True)


def test_with_trim_db_the_silence_a_recording_chain_adds_changes_the_functionals_little(tmp_path):
    import soundfile

    rate = 16_000
    speech = _voiced(rate, 1.2)
    # The same speech as a studio file with a second of quiet room noise around it, and as a
    # file that starts at the first word and is padded with digital zeros.
    noise = 1e-4 * np.random.default_rng(1).standard_normal(rate).astype(np.float32)
    studio = tmp_path / "studio.wav"
    soundfile.write(studio, np.concatenate([noise, speech, noise]), rate, subtype="FLOAT")
    cropped = tmp_path / "cropped.wav"
    soundfile.write(cropped, np.concatenate([speech, np.zeros(rate // 2, np.float32)]), rate, subtype="FLOAT")

    def relative_change(**options) -> float:
        x = functionals.extract([studio, cropped], feature_set="egemaps", cache_folder=tmp_path / "c",
                                max_workers=1, level_db=-20.0, **options)
        scale = np.abs(x).mean(axis=0) + 1e-3
        return float(np.median(np.abs(x[0] - x[1]) / scale))

    whole, trimmed = relative_change(), relative_change(trim_db=40.0)
    assert trimmed < 0.5 * whole, (trimmed, whole)
    with pytest.raises(functionals.FunctionalsError, match="trim_db=0"):
        functionals.extract([studio], feature_set="egemaps", trim_db=0)
    with pytest.raises(functionals.FunctionalsError, match=r"trim_floor_db=6.0 must be .* with trim_db \(got trim_db=None\)"):
        functionals.extract([studio], feature_set="egemaps", trim_floor_db=6.0)


def test_the_same_recording_at_another_sample_rate_gives_the_same_functionals(tmp_path):
    import opensmile
    import soundfile

    # A voiced 180 Hz "vowel" with some breath noise up to 20 kHz, recorded at 48 kHz and at
    # 22.05 kHz. At each file's own rate, the spectral features (computed up to half the rate)
    # would differ by half; both are analysed at 16 kHz, so they agree.
    rng = np.random.default_rng(0)
    t = np.arange(int(1.0 * 48_000)) / 48_000
    voice = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 30))
    y48 = (0.1 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
           + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    from helpers import audio

    y22 = audio.resample(y48, native_rate=48_000, sample_rate=22_050)
    soundfile.write(tmp_path / "at48.wav", y48, 48_000, subtype="FLOAT")
    soundfile.write(tmp_path / "at22.wav", y22, 22_050, subtype="FLOAT")
    x = functionals.extract([tmp_path / "at48.wav", tmp_path / "at22.wav"], feature_set="compare",
                            cache_folder=tmp_path / "c", max_workers=1)
    names = list(opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016).feature_names)
    for name in ("pcm_fftMag_spectralCentroid_sma_amean",
                 "pcm_fftMag_spectralRollOff90.0_sma_amean", "audspec_lengthL1norm_sma_amean"):
        a, b = x[:, names.index(name)]
        assert abs(a - b) <= 0.05 * abs(a), name
    relative = np.abs(x[0] - x[1]) / (np.abs(x[0]) + np.abs(x[1]) + 1e-6)
    assert np.mean(relative > 0.1) < 0.05
    # The reason: at its own rate the 48 kHz file's centroid includes the band above 11 kHz
    # (openSMILE runs in the module's worker processes, never in the test's).
    pool = functionals._worker_pool(1)
    own = [pool.submit(functionals.functionals_of_signal, y, rate, feature_set="compare").result()
           for y, rate in ((y48, 48_000), (y22, 22_050))]
    centroid = names.index("pcm_fftMag_spectralCentroid_sma_amean")
    assert own[0][centroid] > 1.3 * own[1][centroid]


def test_a_model_trained_on_other_functionals_is_refused(tmp_path):
    assert functionals.describe() == {"version": functionals.FUNCTIONALS_VERSION,
                                      "analysis_rate": functionals.ANALYSIS_RATE}
    functionals.check_model_sidecar({"functionals": functionals.describe()}, "m.json")
    assert functionals.is_current({"functionals": functionals.describe()}) and not functionals.is_current({})
    for sidecar in ({}, {"functionals": {"version": 1, "analysis_rate": 16_000}},
                    {"functionals": {**functionals.describe(), "analysis_rate": 8_000}}):
        with pytest.raises(functionals.FunctionalsError, match=r"m\.json.*Train it again"):
            functionals.check_model_sidecar(sidecar, "m.json")
