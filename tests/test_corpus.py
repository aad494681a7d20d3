"""The generated stand-in corpus: layout, audio format, determinism and emotion contrasts.

The full corpus takes about 20 s, so most tests share one tree of two actors (one male, one
female) generated once per module; the determinism test generates a second tree with two
worker processes and compares every file byte for byte.
"""

from __future__ import annotations

import hashlib
import re
import os
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

from helpers import config, standin
from helpers.standin import CorpusError

ACTORS = (1, 2)
NAME = re.compile(r"^03-01-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)\.wav$")


@pytest.fixture(scope="module")
def standin_root(tmp_path_factory) -> Path:
    """A stand-in tree with actors 1 and 2 and the full noise set, generated in this process."""
    return standin.generate_standin(tmp_path_factory.mktemp("standin") / "corpus", actors=ACTORS)


def take_path(root: Path, *, emotion: int, intensity: int = 1, statement: int = 1,
              repetition: int = 1, actor: int = 1) -> Path:
    take = standin.Take(emotion, intensity, statement, repetition, actor)
    return root / "ravdess" / f"Actor_{actor:02d}" / take.file_name


def frame_db(y: np.ndarray, sample_rate: int, *, frame_s: float = 0.01) -> np.ndarray:
    """RMS level of consecutive 10 ms frames in dBFS."""
    frame = int(frame_s * sample_rate)
    n = len(y) // frame
    rms = np.sqrt(np.mean(y[:n * frame].reshape(n, frame) ** 2, axis=1))
    return 20 * np.log10(rms + 1e-10)


def speech_stats(path: Path) -> dict:
    """Onset, offset and length of the speech (frames above -50 dBFS), its level and median f0."""
    y, sample_rate = sf.read(path, dtype="float32")
    levels = frame_db(y, sample_rate)
    active = np.flatnonzero(levels > -50)
    onset, offset = active[0] * 0.01, (active[-1] + 1) * 0.01
    segment = y[int(onset * sample_rate):int(offset * sample_rate)]
    y16 = soxr.resample(segment, sample_rate, 16_000)
    f0 = librosa.yin(y16, fmin=60, fmax=500, sr=16_000, frame_length=1024, hop_length=160)
    rms = librosa.feature.rms(y=y16, frame_length=1024, hop_length=160)[0]
    return {"onset": onset, "trail": len(y) / sample_rate - offset, "speech_s": offset - onset,
            "level_db": 20 * np.log10(np.sqrt(np.mean(segment ** 2))),
            "f0": float(np.median(f0[rms > 0.3 * rms.max()]))}


def tree_digests(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


# --- the RAVDESS-layout speech set ---------------------------------------------------------

def test_each_actor_has_exactly_ravdess_60_combinations():
    for actor in (1, 24):
        takes = standin.ravdess_takes(actor)
        fields = {(t.emotion, t.intensity, t.statement, t.repetition) for t in takes}
        expected = {(e, i, s, r) for e in range(1, 9) for i in (1, 2) for s in (1, 2)
                    for r in (1, 2) if not (e == 1 and i == 2)}

        assert len(takes) == 60
        assert fields == expected
        assert {t.actor for t in takes} == {actor}


def test_tree_holds_60_ravdess_named_wavs_per_actor(standin_root):
    for actor in ACTORS:
        names = sorted(p.name for p in (standin_root / "ravdess" / f"Actor_{actor:02d}").iterdir())

        assert len(names) == 60
        for name in names:
            match = NAME.match(name)
            assert match, name
            assert int(match.group(5)) == actor
            assert not (match.group(1) == "01" and match.group(2) == "02"), name
    assert sorted(p.name for p in (standin_root / "ravdess").iterdir()) == ["Actor_01", "Actor_02"]


def test_marker_records_version_seed_actors_and_counts(standin_root):
    marker = standin.read_marker(standin_root)

    assert marker["version"] == standin.GENERATOR_VERSION
    assert marker["seed"] == config.SEED
    assert marker["actors"] == list(ACTORS)
    assert marker["counts"] == {"ravdess": 120, "urbansound8k": 30}


def test_speech_files_are_48k_16bit_mono_wav_of_ravdess_length(standin_root):
    for path in sorted((standin_root / "ravdess").rglob("*.wav"))[::7]:
        info = sf.info(path)

        assert (info.format, info.subtype) == ("WAV", "PCM_16"), path.name
        assert info.samplerate == 48_000
        assert info.channels == 1
        assert 2.9 - 1e-3 <= info.duration <= 5.3 + 1e-3, (path.name, info.duration)


def test_speech_has_leading_and_trailing_silence(standin_root):
    for path in sorted((standin_root / "ravdess").rglob("*.wav"))[::11]:
        y, sample_rate = sf.read(path, dtype="float32")
        levels = frame_db(y, sample_rate)
        stats = speech_stats(path)

        assert levels[:25].max() < -55, path.name  # the first 0.25 s is near-silent
        assert levels[-25:].max() < -55, path.name  # and so is the last 0.25 s
        assert 0.3 <= stats["onset"] <= 0.9, (path.name, stats["onset"])
        assert stats["trail"] >= 0.25, (path.name, stats["trail"])
        assert stats["level_db"] > -45, path.name
        # A faint noise floor, never digital silence, as in a real recording.
        assert np.any(y[: sample_rate // 4] != 0)


def test_odd_actors_sound_male_and_even_actors_female(standin_root):
    male = speech_stats(take_path(standin_root, emotion=1, actor=1))["f0"]
    female = speech_stats(take_path(standin_root, emotion=1, actor=2))["f0"]

    assert standin.actor_voice(1).gender == "male"
    assert standin.actor_voice(2).gender == "female"
    assert 70 < male < 140 < 150 < female < 300, (male, female)


def test_actor_voices_are_distinct_known_variants_split_by_gender():
    voices = standin.ACTOR_VOICES
    variants = [voice.variant for voice in voices]

    assert [voice.actor for voice in voices] == list(range(1, 25))
    assert len(set(variants)) == 24
    assert set(variants) <= set(standin.available_variants())
    assert [voice.gender for voice in voices] == ["male", "female"] * 12
    assert not set(standin.HELD_OUT_VARIANTS) & set(variants)
    assert set(standin.HELD_OUT_VARIANTS) <= set(standin.available_variants())


def test_emotions_of_one_actor_differ_in_rate_level_and_pitch(standin_root):
    stats = {config.EMOTIONS[e - 1]: speech_stats(take_path(standin_root, emotion=e,
                                                            intensity=1 if e == 1 else 2))
             for e in range(1, 9)}
    neutral = stats["neutral"]

    assert stats["sad"]["speech_s"] > 1.3 * neutral["speech_s"]
    assert stats["disgust"]["speech_s"] > 1.3 * neutral["speech_s"]
    assert stats["fearful"]["speech_s"] < 0.9 * neutral["speech_s"]
    assert stats["angry"]["level_db"] > neutral["level_db"] + 5
    assert stats["sad"]["level_db"] < neutral["level_db"] - 5
    assert stats["surprised"]["f0"] > 1.2 * neutral["f0"]
    assert stats["sad"]["f0"] < 0.9 * neutral["f0"]
    # Strong intensity exaggerates: the strong angry take is louder than the normal one.
    normal_angry = speech_stats(take_path(standin_root, emotion=5, intensity=1))
    assert stats["angry"]["level_db"] > normal_angry["level_db"] + 2


def test_repetitions_differ(standin_root):
    first = sf.read(take_path(standin_root, emotion=3, repetition=1))[0]
    second = sf.read(take_path(standin_root, emotion=3, repetition=2))[0]

    assert len(first) != len(second) or not np.array_equal(first, second)


# --- the UrbanSound8K-layout noise set -----------------------------------------------------

def test_noise_metadata_has_us8k_columns_and_lists_existing_files(standin_root):
    noise_root = standin_root / "urbansound8k"
    table = pd.read_csv(noise_root / "metadata" / "UrbanSound8K.csv")

    assert list(table.columns) == ["slice_file_name", "fsID", "start", "end", "salience",
                                   "fold", "classID", "class"]
    assert len(table) == 30
    assert set(table["fold"]) == {1}
    assert dict(zip(table["classID"], table["class"])) == dict(enumerate(standin.NOISE_CLASSES))
    assert table.groupby("classID").size().tolist() == [3] * 10
    assert (table["end"] > table["start"]).all()
    assert set(table["salience"]) <= {1, 2}
    channels = []
    for row in table.itertuples():
        fs_id, class_id, _, _ = (int(part) for part in row.slice_file_name[:-4].split("-"))
        path = noise_root / "audio" / f"fold{row.fold}" / row.slice_file_name
        info = sf.info(path)

        assert (fs_id, class_id) == (row.fsID, row.classID)
        assert (info.samplerate, info.subtype) == (44_100, "PCM_16")
        assert info.duration <= 4.0 + 1e-3
        assert info.duration == pytest.approx(row.end - row.start, abs=1e-3)
        channels.append(info.channels)
    assert set(channels) == {1, 2}  # some clips are stereo, like the real set
    assert sorted(p.name for p in (noise_root / "audio" / "fold1").iterdir()) \
        == sorted(table["slice_file_name"])


def test_noise_clips_are_audible_and_classes_differ(standin_root):
    noise_root = standin_root / "urbansound8k"
    table = pd.read_csv(noise_root / "metadata" / "UrbanSound8K.csv")
    centroids = {}
    for row in table.itertuples():
        y, sample_rate = sf.read(noise_root / "audio" / "fold1" / row.slice_file_name,
                                 dtype="float32", always_2d=True)
        mono = y.mean(axis=1)

        assert np.isfinite(mono).all()
        assert 20 * np.log10(np.sqrt(np.mean(mono ** 2))) > -40, row.slice_file_name
        centroids.setdefault(row.classID, []).append(
            float(np.mean(librosa.feature.spectral_centroid(y=mono, sr=sample_rate))))
    means = sorted(np.mean(values) for values in centroids.values())

    assert len(means) == 10
    assert means[-1] > 3 * means[0]  # e.g. a hissing drill versus a rumbling engine


# --- determinism and the generation contract ------------------------------------------------

def test_generation_is_byte_identical_across_runs_and_worker_counts(standin_root, tmp_path):
    again = standin.generate_standin(tmp_path / "again", actors=ACTORS, workers=2)

    first, second = tree_digests(standin_root), tree_digests(again)
    assert len(first) == 120 + 30 + 2  # clips, the metadata CSV and the marker
    assert first == second


def test_a_different_seed_gives_different_clips():
    take = standin.Take(5, 2, 1, 1, 1)

    assert not np.array_equal(standin.render_take(take, seed=1), standin.render_take(take, seed=2))
    assert np.array_equal(standin.render_take(take, seed=1), standin.render_take(take, seed=1))


def test_generate_does_nothing_when_a_matching_tree_exists(standin_root, monkeypatch):
    marker = standin_root / standin.MARKER_NAME
    before = marker.stat().st_mtime_ns
    digests = tree_digests(standin_root)

    def refuse(*args, **kwargs):
        raise AssertionError("a matching tree was generated again")

    # Any clip written (or rendered) again would fail here: the existing tree is the answer.
    monkeypatch.setattr(standin.tree, "_write_corpus", refuse)
    monkeypatch.setattr(standin.tree, "_write_actor", refuse)
    monkeypatch.setattr(standin.speech, "render_take", refuse)
    assert standin.generate_standin(standin_root, actors=ACTORS) == standin_root.resolve()
    assert marker.stat().st_mtime_ns == before
    assert tree_digests(standin_root) == digests


def test_failed_generation_keeps_the_old_tree_and_leaves_no_partial_one(tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    (root / "ravdess").mkdir(parents=True)
    (root / standin.MARKER_NAME).write_text('{"version": 0, "seed": 1}')

    def broken(folder, actor, seed):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(standin.tree, "_write_actor", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        standin.generate_standin(root, actors=[1])

    assert (root / standin.MARKER_NAME).read_text() == '{"version": 0, "seed": 1}'
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["corpus"]


def test_generate_refuses_to_replace_a_folder_that_is_not_a_standin(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")

    with pytest.raises(CorpusError, match="not a stand-in corpus"):
        standin.generate_standin(root, actors=[1])
    assert (root / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("kwargs, argument", [
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"actors": [0]}, "actors"),
    ({"actors": [25]}, "actors"), ({"actors": []}, "actors"), ({"workers": 0}, "workers"),
])
def test_generate_rejects_bad_arguments(tmp_path, kwargs, argument):
    with pytest.raises(CorpusError, match=rf"{argument}="):
        standin.generate_standin(tmp_path / "corpus", **kwargs)
    assert not (tmp_path / "corpus").exists()


def test_ensure_standin_returns_the_two_dataset_roots(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(standin.tree, "generate_standin",
                        lambda root, *, seed, workers: calls.append((root, seed, workers)) or Path(root))

    ravdess_root, noise_root = standin.ensure_standin(tmp_path / "corpus", seed=7)

    # The stand-in is generated in parallel (its files do not depend on the worker count).
    assert calls == [(tmp_path / "corpus", 7, max(1, min(os.cpu_count() or 1, 4)))]
    assert (ravdess_root, noise_root) == (tmp_path / "corpus" / "ravdess",
                                          tmp_path / "corpus" / "urbansound8k")


# --- synthesis -------------------------------------------------------------------------------

def test_synthesize_speech_returns_finite_audible_repeatable_audio():
    y, sample_rate = standin.synthesize_speech("Dogs are sitting by the door.", variant="m3")
    again, _ = standin.synthesize_speech("Dogs are sitting by the door.", variant="m3")

    assert sample_rate == 22_050
    assert y.dtype == np.float32 and y.ndim == 1
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert 1.0 < len(y) / sample_rate < 3.0
    assert np.sqrt(np.mean(y ** 2)) > 0.02
    assert np.array_equal(y, again)  # each call starts from a fresh eSpeak instance


def test_synthesize_speech_parameters_change_the_audio():
    slow, sample_rate = standin.synthesize_speech("Kids are talking by the door.", rate_wpm=100)
    fast, _ = standin.synthesize_speech("Kids are talking by the door.", rate_wpm=250)

    assert len(slow) > 1.8 * len(fast)


@pytest.mark.parametrize("kwargs, argument", [
    ({"text": ""}, "text"), ({"voice": "en-us+m1"}, "voice"), ({"voice": "xx-nowhere"}, "voice"),
    ({"variant": "nobody"}, "variant"), ({"rate_wpm": 20}, "rate_wpm"), ({"pitch": 101}, "pitch"),
    ({"pitch_range": -1}, "pitch_range"), ({"volume": 300}, "volume"),
    ({"word_gap": -1}, "word_gap"),
])
def test_synthesize_speech_rejects_bad_arguments(kwargs, argument):
    kwargs = {"text": "Hello.", **kwargs}
    text = kwargs.pop("text")

    with pytest.raises(CorpusError, match=rf"{argument}="):
        standin.synthesize_speech(text, **kwargs)


def test_take_and_actor_reject_combinations_ravdess_does_not_have():
    with pytest.raises(CorpusError, match="intensity=2"):
        standin.Take(1, 2, 1, 1, 1)
    with pytest.raises(CorpusError, match="emotion=9"):
        standin.Take(9, 1, 1, 1, 1)
    with pytest.raises(CorpusError, match="actor=25"):
        standin.actor_voice(25)
