"""Single-file prediction: the training preprocessing, windows, formats, bad input, the command.

The models here are untrained (their weights are random): what is tested is that files reach
them exactly as training data did and that every failure is reported, not what they predict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import make_ravdess_tree, make_us8k_tree, tone_noise, write_clip
from helpers import audio, config, datasets, features, predict, predict_cli, upload
from helpers.errors import AudioError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FEATURES = config.FEATURES
JSON_OK_KEYS = {"path", "ok", "emotion", "p_emotion", "runner_up", "p_runner_up", "emotion_probabilities",
                "gender", "p_female", "windows", "emotion_model", "gender_model", "mode", "speaker"}


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cut a file's bytes to ``fraction`` of its size, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """An untrained emotion model and a small untrained gender model, saved with sidecars."""
    from helpers import model_files, models

    folder = tmp_path_factory.mktemp("models")
    emotion = models.build_emotion_cnn(FEATURES.input_shape, normalization=(-45.0, 20.0))
    model_files.save_model_with_sidecar(emotion, folder / "emotion_clean_speaker-independent.keras", sidecar={
        "task": "emotion", "labels": list(config.EMOTIONS), "feature_config": FEATURES,
        "variant": "clean", "protocol": "speaker-independent", "data_fingerprint": "test",
        "test_actors": [1, 2], "data": "real"})
    gender = models.build_gender_cnn(FEATURES.input_shape, dense_units=4, normalization=(-45.0, 20.0))
    model_files.save_model_with_sidecar(gender, folder / "gender.keras", sidecar={
        "task": "gender", "labels": ["male", "female"], "positive_label": "female",
        "threshold": 0.5, "feature_config": FEATURES, "data": "real"})
    return folder


@pytest.fixture(scope="module")
def emotion_only_dir(models_dir, tmp_path_factory) -> Path:
    """The emotion model without a gender model beside it."""
    folder = tmp_path_factory.mktemp("emotion_only")
    for suffix in (".keras", ".json"):
        name = f"emotion_clean_speaker-independent{suffix}"
        (folder / name).write_bytes((models_dir / name).read_bytes())
    return folder


@pytest.fixture(scope="module")
def predictor(models_dir) -> predict.Predictor:
    return predict.Predictor.load(models_dir=models_dir)


def run_command(capsys, *args) -> tuple[int, str, str]:
    """``python -m helpers.predict ARGS`` in this process: exit status, stdout, stderr."""
    status = predict_cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- windows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("duration_s, expected", [
    (2.94, [0.5]), (3.7, [0.5]), (5.27, [0.5]), (5.7, [0.5]),  # RAVDESS lengths: the training window
    (5.75, [0.5, 3.5]), (7.3, [0.5, 3.5]), (10.0, [0.5, 3.5, 6.5]),
    (1.2, [0.0]), (0.1, [0.0]),  # shorter than offset + half a window: read from the start
])
def test_window_starts_keep_the_training_window_first(duration_s, expected):
    assert predict.window_starts(duration_s) == pytest.approx(expected)


def test_window_starts_with_overlap_and_bad_arguments():
    assert predict.window_starts(7.0, hop_s=1.5) == pytest.approx([0.5, 2.0, 3.5])
    with pytest.raises(predict.PredictionError, match="hop_s=0.0"):
        predict.window_starts(7.0, hop_s=0.0)
    with pytest.raises(predict.PredictionError, match="duration_s=-1"):
        predict.window_starts(-1)


# --- preprocessing equals training ------------------------------------------------------------

def test_prediction_preprocessing_equals_the_training_features(predictor, tmp_path):
    # RAVDESS-named clips of RAVDESS length, WAV and FLAC, mono and stereo, through the very
    # function that built the training features.
    paths = make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2), emotions=(1, 5, 6),
                              ext=(".wav", ".flac"), duration_s=3.7)
    make_ravdess_tree(tmp_path / "ravdess", actors=(3,), emotions=(4,), channels=2,
                      sample_rate=44_100, duration_s=4.2)
    make_us8k_tree(tmp_path / "us8k")
    manifest, _ = datasets.find_ravdess(tmp_path / "ravdess")
    noise, _ = datasets.load_urbansound8k(tmp_path / "us8k")
    feature_set = features.build_features(manifest, noise["path"], cache_dir=tmp_path / "cache", n_jobs=1)
    X, items = feature_set.variant("clean")

    assert len(items) == len(paths) + 1
    for row, path in enumerate(items["path"]):
        windows, starts = predict.prepare_windows(path)
        assert starts == [FEATURES.offset_s]
        assert windows.shape == (1, FEATURES.n_mels, FEATURES.n_frames)
        assert np.array_equal(windows[0], X[row])
        assert np.array_equal(windows[0], features.log_mel(audio.load_window(path)))
    # And so the model gives the files the probabilities it gives their training features.
    check = predict.compare_with_features(predictor, items["path"].tolist(), X, truth=items["emotion"])
    assert check["n_files"] == len(items) and check["label_agreement"] == 1.0
    assert check["max_abs_difference"] < 1e-6
    assert check["accuracy_files"] == check["accuracy_features"]


def test_every_window_is_loaded_as_training_loads_a_window(tmp_path):
    path = write_clip(tmp_path / "long.wav", sample_rate=44_100, duration_s=10.0, channels=2)

    windows, starts = predict.prepare_windows(path)

    assert starts == pytest.approx([0.5, 3.5, 6.5])
    for window, start in zip(windows, starts):
        y = audio.load_audio(path, offset_s=start, duration_s=FEATURES.duration_s)
        assert np.array_equal(window, features.log_mel(audio.fix_length(y, FEATURES.n_samples)))


def test_a_short_file_is_read_from_its_start_and_padded(tmp_path):
    path = write_clip(tmp_path / "short.wav", sample_rate=16_000, duration_s=1.2)

    windows, starts = predict.prepare_windows(path)

    assert starts == [0.0]
    y = audio.fix_length(audio.load_audio(path), FEATURES.n_samples)
    assert np.array_equal(windows[0], features.log_mel(y))
    assert np.all(windows[0][:, -50:] == windows[0].min())  # the padded tail is the dB floor


def test_silent_windows_of_a_long_file_are_skipped(tmp_path):
    y = tone_noise(8 * 16_000, 16_000, frequency=300.0, seed=3)
    y[: int(3.6 * 16_000)] = 0.0  # the first window (0.5-3.5 s) is digital silence
    path = tmp_path / "late_start.wav"
    soundfile.write(path, y, 16_000, subtype="FLOAT")

    _, starts = predict.prepare_windows(path)

    assert starts == pytest.approx([3.5])


# --- formats ----------------------------------------------------------------------------------

FORMATS = [
    ("pcm16_48k.wav", dict(sample_rate=48_000, subtype="PCM_16")),
    ("pcm24_44k1_stereo.wav", dict(sample_rate=44_100, subtype="PCM_24", channels=2)),
    ("pcm32_96k_6ch.wav", dict(sample_rate=96_000, subtype="PCM_32", channels=6)),
    ("u8_8k.wav", dict(sample_rate=8_000, subtype="PCM_U8")),
    ("float_22k05.wav", dict(sample_rate=22_050, subtype="FLOAT")),
    ("double_32k.wav", dict(sample_rate=32_000, subtype="DOUBLE")),
    ("wavex_24bit_stereo.wav", dict(sample_rate=48_000, subtype="PCM_24", channels=2, format="WAVEX")),
    ("flac16_48k.flac", dict(sample_rate=48_000)),
    ("flac24_stereo_88k2.flac", dict(sample_rate=88_200, subtype="PCM_24", channels=2)),
    ("vorbis_44k1.ogg", dict(sample_rate=44_100, format="OGG", subtype="VORBIS")),
    ("opus_48k.opus", dict(sample_rate=48_000, format="OGG", subtype="OPUS")),
    ("mpeg_44k1.mp3", dict(sample_rate=44_100, format="MP3", subtype="MPEG_LAYER_III")),
    ("aiff_16k.aiff", dict(sample_rate=16_000, subtype="PCM_16")),
    ("caf_24k.caf", dict(sample_rate=24_000, subtype="PCM_16")),
    ("au_11k025.au", dict(sample_rate=11_025, subtype="PCM_16")),
    ("w64_48k.w64", dict(sample_rate=48_000, subtype="FLOAT")),
]


@pytest.mark.parametrize("name, settings", FORMATS, ids=[name for name, _ in FORMATS])
def test_every_format_rate_and_channel_count_is_predicted(predictor, tmp_path, name, settings):
    path = write_clip(tmp_path / name, duration_s=3.8, **settings)

    prediction = predictor.predict_file(path)

    assert prediction.ok and prediction.windows == 1
    assert list(prediction.emotion_probabilities) == list(config.EMOTIONS)
    assert sum(prediction.emotion_probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.emotion == max(prediction.emotion_probabilities, key=prediction.emotion_probabilities.get)
    assert 0.0 <= prediction.p_female <= 1.0 and prediction.gender in ("male", "female")
    # The same preprocessing as training, whatever the container.
    windows, _ = predictor.prepare(path)
    assert np.array_equal(windows[0], features.log_mel(audio.load_window(path)))


def test_scores_of_a_long_file_are_the_mean_over_its_windows(predictor, tmp_path):
    from helpers import training

    path = write_clip(tmp_path / "long.flac", sample_rate=48_000, duration_s=12.0)

    prediction = predictor.predict_file(path)

    windows, _ = predictor.prepare(path)
    per_window = training.predict_proba(predictor.emotion.model, training.add_channel_axis(windows))
    assert prediction.windows == len(windows) == 4
    assert np.allclose(list(prediction.emotion_probabilities.values()), per_window.mean(axis=0), atol=1e-6)
    p_female = training.predict_proba(predictor.gender.model, training.add_channel_axis(windows))[:, 0]
    assert prediction.p_female == pytest.approx(float(p_female.mean()), abs=1e-6)


def test_batches_give_the_same_scores_as_single_files(predictor, tmp_path):
    paths = [write_clip(tmp_path / f"clip{i}.wav", duration_s=3.0 + i) for i in range(4)]

    together = predictor.predict_files(paths, chunk_size=3)

    for path, batched in zip(paths, together):
        alone = predictor.predict_file(path)
        assert batched.emotion == alone.emotion
        assert np.allclose(list(batched.emotion_probabilities.values()),
                           list(alone.emotion_probabilities.values()), atol=1e-6)


# --- bad input --------------------------------------------------------------------------------

def _missing(folder: Path) -> Path:
    return folder / "missing.wav"


def _empty_folder(folder: Path) -> Path:
    path = folder / "no_audio"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "notes.txt").write_text("not audio")
    return path


def _not_audio(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("this is text, not audio\n")
    return path


def _zero_bytes(folder: Path) -> Path:
    path = folder / "empty.wav"
    path.write_bytes(b"")
    return path


def _truncated_wav(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated.wav", duration_s=3.7, subtype="PCM_16"))


def _truncated_flac(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated.flac", duration_s=3.7))


def _truncated_aiff(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated.aiff", duration_s=3.7, subtype="PCM_24", channels=2))


def _corrupt(folder: Path) -> Path:
    path = folder / "corrupt.wav"
    path.write_bytes(np.random.default_rng(0).bytes(8_192))
    return path


def _silent(folder: Path) -> Path:
    path = folder / "silent.wav"
    soundfile.write(path, np.zeros(4 * 48_000, dtype=np.float32), 48_000, subtype="PCM_16")
    return path


def _shorter_than_a_frame(folder: Path) -> Path:
    # 3000 samples at 48 kHz are 1000 at 16 kHz, under one 1024-sample frame.
    return write_clip(folder / "click.wav", duration_s=3_000 / 48_000)


def _far_too_long(folder: Path) -> Path:
    return write_clip(folder / "lecture.flac", sample_rate=8_000, duration_s=61.0)


def _nan_samples(folder: Path) -> Path:
    y = tone_noise(4 * 48_000, 48_000, frequency=300.0, seed=0)
    y[-100] = np.nan  # after the training window: only decoding the whole file finds it
    path = folder / "nan.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")
    return path


BAD_INPUTS = [
    (_missing, "file or folder not found"),
    (_empty_folder, "folder holds no audio files"),
    (_not_audio, "not a readable audio file"),
    (_zero_bytes, "empty file (0 bytes)"),
    (_truncated_wav, "truncated: the header declares"),
    (_truncated_flac, "corrupt or truncated audio"),
    (_truncated_aiff, "truncated: the header declares"),
    (_corrupt, "not a readable audio file"),
    (_silent, "all-silent"),
    (_shorter_than_a_frame, "less than one FFT frame"),
    (_far_too_long, "too long: 61.0 s is more than the 60 s limit"),
    (_nan_samples, "non-finite samples"),
]
BAD_IDS = [make.__name__.strip("_") for make, _ in BAD_INPUTS]


@pytest.mark.parametrize("make, reason", BAD_INPUTS, ids=BAD_IDS)
def test_bad_input_is_named_with_its_reason_and_fails_the_exit_status(models_dir, tmp_path, capsys,
                                                                      make, reason):
    path = make(tmp_path)

    status, out, _ = run_command(capsys, path, "--models-dir", models_dir)
    assert status == 1
    line = next(line for line in out.splitlines() if line.startswith(str(path)))
    assert "FAILED: " in line and reason in line.split("FAILED: ", 1)[1]
    assert "0 predicted, 1 failed" in out

    status, out, err = run_command(capsys, path, "--json", "--models-dir", models_dir)
    assert status == 1
    [record] = json.loads(out)
    assert record["path"] == str(path) and record["ok"] is False and reason in record["error"]
    assert f"{path}: {record['error']}" in err


@pytest.mark.parametrize("make, reason", BAD_INPUTS[2:], ids=BAD_IDS[2:])
def test_predict_file_raises_an_audio_error_naming_the_file(predictor, tmp_path, make, reason):
    path = make(tmp_path)

    with pytest.raises(AudioError) as caught:
        predictor.predict_file(path)

    assert caught.value.path == str(path) and reason in caught.value.reason


def test_a_batch_with_bad_files_still_predicts_the_rest(models_dir, tmp_path, capsys):
    folder = tmp_path / "recordings"
    good = [write_clip(folder / "a.wav", duration_s=3.6), write_clip(folder / "deep" / "b.flac", duration_s=4.0),
            write_clip(tmp_path / "c.ogg", sample_rate=22_050, duration_s=3.0, format="OGG", subtype="VORBIS")]
    _zero_bytes(folder)
    (folder / "readme.md").write_text("skipped: not an audio suffix")
    missing = tmp_path / "gone.wav"

    status, out, err = run_command(capsys, folder, good[2], missing, "--json", "--models-dir", models_dir)

    assert status == 1
    records = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(records) == {"a.wav", "b.flac", "c.ogg", "empty.wav", "gone.wav"}
    for name in ("a.wav", "b.flac", "c.ogg"):
        assert records[name]["ok"] is True and set(records[name]) == JSON_OK_KEYS
        assert records[name]["emotion"] in config.EMOTIONS and records[name]["windows"] == 1
    assert records["empty.wav"] == {"path": str(folder / "empty.wav"), "ok": False,
                                    "error": "empty file (0 bytes)", "mode": "single-clip", "speaker": None}
    assert records["gone.wav"]["error"] == "file or folder not found"
    assert "empty.wav: empty file (0 bytes)" in err and "gone.wav: file or folder not found" in err


def test_all_files_predicted_exit_zero_with_a_table(models_dir, tmp_path, capsys):
    paths = [write_clip(tmp_path / "one.wav", duration_s=3.5), write_clip(tmp_path / "two.flac", duration_s=9.0)]

    status, out, _ = run_command(capsys, *paths, "--models-dir", models_dir)

    assert status == 0
    assert "emotion model:" in out and "emotion_clean_speaker-independent.keras" in out
    header = next(line for line in out.splitlines() if line.startswith("file "))
    assert header.split() == ["file", "emotion", "p", "runner-up", "gender", "p_female", "windows"]
    two = next(line for line in out.splitlines() if line.startswith(str(paths[1])))
    assert two.split()[-1] == "3"  # 9 s: windows at 0.5, 3.5 and 6.5 s
    assert "2 files: 2 predicted, 0 failed" in out


def test_max_duration_can_be_raised(models_dir, tmp_path, capsys):
    path = _far_too_long(tmp_path)

    status, out, _ = run_command(capsys, path, "--json", "--max-duration", "0", "--models-dir", models_dir)

    assert status == 0
    assert json.loads(out)[0]["windows"] == 20


# --- models -----------------------------------------------------------------------------------

def test_without_a_real_data_model_the_shipped_models_predict(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)
    (tmp_path / "empty_models").mkdir()

    status, out, err = run_command(capsys, clip, "--json", "--models-dir", tmp_path / "empty_models")

    assert status == 0, err
    [record] = json.loads(out)
    assert record["emotion_model"] == "emotion_ours.keras (shipped)"
    assert record["gender_model"] == "gender_ours.keras (shipped)"
    assert record["gender"] in ("male", "female") and record["emotion"] in config.EMOTIONS
    assert "shipped with the project" in err


def _fake_shipped(folder: Path, **broken) -> Path:
    """A shipped-models folder: copies of the real files and a card with their sums."""
    from helpers import pretrained

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in sorted(pretrained.card_hashes()):
        data = (pretrained.SHIPPED_DIR / name).read_bytes()
        rows.append(f"| `{name}` | {len(data)} | `{pretrained.sha256(pretrained.SHIPPED_DIR / name)}` |")
        (folder / name).write_bytes(broken.get(name, data))
    (folder / pretrained.CARD_NAME).write_text("# card\n\n| file | bytes | sha256 |\n| --- | --- | --- |\n"
                                               + "\n".join(rows) + "\n")
    return folder


def test_a_shipped_model_that_does_not_match_its_card_is_refused_with_the_fix(tmp_path, capsys, monkeypatch):
    from helpers import pretrained

    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)
    (tmp_path / "empty_models").mkdir()
    original = (pretrained.SHIPPED_DIR / "emotion_ours.keras").read_bytes()
    corrupt = original[:1000] + bytes([original[1000] ^ 0xFF]) + original[1001:]
    monkeypatch.setattr(pretrained, "SHIPPED_DIR", _fake_shipped(tmp_path / "shipped", **{"emotion_ours.keras": corrupt}))

    status, out, err = run_command(capsys, clip, "--models-dir", tmp_path / "empty_models")

    assert status == 2 and out == ""
    assert f"{tmp_path / 'shipped' / 'emotion_ours.keras'}: does not match its model card" in err
    assert "python -m helpers.pretrained build --ravdess DIR" in err and "Traceback" not in err

    (tmp_path / "shipped" / "gender_ours.json").unlink()
    with pytest.raises(predict.ModelNotFoundError, match=r"gender_ours\.json: missing"):
        predict.find_gender_model(tmp_path / "empty_models")
    (tmp_path / "shipped" / pretrained.CARD_NAME).unlink()
    with pytest.raises(predict.ModelNotFoundError, match="the model card cannot be read"):
        predict.find_emotion_model(tmp_path / "empty_models")


def test_a_named_model_that_does_not_exist_lists_the_models_there(models_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)

    status, _, err = run_command(capsys, clip, "--emotion-model", "emotion_nope", "--models-dir", models_dir)

    assert status == 2
    assert "emotion model 'emotion_nope' not found" in err
    assert "emotion_clean_speaker-independent, gender" in err


def test_a_named_model_by_name_or_path(models_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)
    by_path = models_dir / "emotion_clean_speaker-independent.keras"

    for name in ("emotion_clean_speaker-independent", by_path, by_path.with_suffix(".json")):
        status, out, _ = run_command(capsys, clip, "--json", "--emotion-model", name,
                                     "--gender-model", models_dir / "gender", "--models-dir", models_dir)
        assert status == 0 and json.loads(out)[0]["gender"] in ("male", "female")


def test_a_gender_model_given_as_emotion_model_is_refused(models_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)

    status, _, err = run_command(capsys, clip, "--emotion-model", models_dir / "gender.keras")

    assert status == 2 and "task='gender', expected a emotion model" in err


def test_speakers_with_a_log_mel_emotion_model_is_refused_before_any_file_is_predicted(models_dir, tmp_path, capsys):
    clips = [write_clip(tmp_path / f"clip{k}.wav", duration_s=3.5) for k in range(2)]

    status, out, err = run_command(capsys, *clips, "--speakers", "one", "--models-dir", models_dir)

    assert status == 2 and "file" not in out.split()
    assert ("speaker-adaptive prediction needs an emotion model of functionals (recipe ours or ours-robust, "
            "e.g. the shipped emotion_ours); emotion_clean_speaker-independent.keras takes log-mel windows") in err
    with pytest.raises(predict.PredictionError, match="needs an emotion model of functionals"):
        predict.Predictor.load(models_dir=models_dir).predict_speakers(clips, ["a", "a"])


def test_no_gender_predicts_emotion_only(emotion_only_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)

    status, out, _ = run_command(capsys, clip, "--json", "--no-gender", "--models-dir", emotion_only_dir)
    assert status == 0
    [record] = json.loads(out)
    assert record["ok"] and record["gender"] is None and record["p_female"] is None
    assert record["emotion_model"] == "emotion_clean_speaker-independent.keras" and record["gender_model"] is None

    status, out, _ = run_command(capsys, clip, "--no-gender", "--models-dir", emotion_only_dir)
    assert status == 0 and "gender is not predicted (--no-gender)" in out


def test_without_a_real_data_gender_model_the_shipped_one_is_used(emotion_only_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)

    status, out, _ = run_command(capsys, clip, "--json", "--models-dir", emotion_only_dir)

    [record] = json.loads(out)
    assert status == 0 and record["gender_model"] == "gender_ours.keras (shipped)"
    assert record["emotion_model"] == "emotion_clean_speaker-independent.keras"


def test_calm_as_neutral_adds_calm_to_neutral(models_dir, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.wav", duration_s=3.5)

    _, out, _ = run_command(capsys, clip, "--json", "--models-dir", models_dir)
    _, merged, _ = run_command(capsys, clip, "--json", "--calm-as-neutral", "--models-dir", models_dir)

    [plain], [merged] = json.loads(out), json.loads(merged)
    p = plain["emotion_probabilities"]
    assert "calm" not in merged["emotion_probabilities"]
    assert merged["emotion_probabilities"]["neutral"] == pytest.approx(p["neutral"] + p["calm"])
    assert merged["emotion"] == max(merged["emotion_probabilities"], key=merged["emotion_probabilities"].get)
    ranked = sorted(p.items(), key=lambda kv: -kv[1])
    assert (plain["emotion"], plain["p_emotion"]) == ranked[0]
    assert (plain["runner_up"], plain["p_runner_up"]) == ranked[1]


def _fake_model(folder: Path, name: str, mtime: float, **sidecar) -> None:
    (folder / f"{name}.keras").write_bytes(b"")
    (folder / f"{name}.json").write_text(json.dumps({"labels": [], "feature_config": {}, **sidecar}))
    for suffix in (".keras", ".json"):
        os.utime(folder / f"{name}{suffix}", (mtime, mtime))


def test_default_models_are_the_newest_real_data_runs_preferred_ones(tmp_path):
    from helpers import pretrained

    shipped = _fake_shipped(tmp_path / "shipped")
    # Stand-in models (and models without a data record) are never defaults: the shipped ones are.
    _fake_model(tmp_path, "emotion_clean_speaker-independent", 500, task="emotion", data="stand-in (synthetic)",
                data_fingerprint="standin", variant="clean", protocol="speaker-independent")
    _fake_model(tmp_path, "gender", 500, task="gender")
    assert predict.find_emotion_model(tmp_path, shipped_dir=shipped) == (shipped / "emotion_ours.keras").resolve()
    assert predict.find_gender_model(tmp_path, shipped_dir=shipped) == (shipped / "gender_ours.keras").resolve()
    assert pretrained.is_shipped(shipped / "gender_ours.keras", shipped)

    run = dict(task="emotion", data_fingerprint="new", input_shape=[None, 64, 151, 1], data="real")
    _fake_model(tmp_path, "emotion_clean_original", 300, variant="clean", protocol="original", **run)
    _fake_model(tmp_path, "emotion_clean_speaker-independent", 200, variant="clean",
                protocol="speaker-independent", **run)
    _fake_model(tmp_path, "emotion_aggregation_speaker-independent", 100, variant="aggregation",
                protocol="speaker-independent", task="emotion", data_fingerprint="old")
    _fake_model(tmp_path, "emotion_fusion_clean", 400, task="emotion-fusion", data_fingerprint="new",
                input_shape=[[None, 64, 151, 1], [None, 1]])

    # The aggregation model belongs to an older run (other data): the newest run's
    # speaker-independent model wins; the fusion model is never a default.
    assert predict.find_emotion_model(tmp_path).name == "emotion_clean_speaker-independent.keras"
    _fake_model(tmp_path, "emotion_aggregation_speaker-independent", 250, variant="aggregation",
                protocol="speaker-independent", **run)
    assert predict.find_emotion_model(tmp_path).name == "emotion_aggregation_speaker-independent.keras"
    # Notebook 04's tuned version of it comes first, even when saved before a rerun of 03.
    _fake_model(tmp_path, "emotion_aggregation_speaker-independent_tuned", 240, variant="aggregation",
                protocol="speaker-independent", tuning_studies=["study"], **run)
    assert predict.find_emotion_model(tmp_path).name == "emotion_aggregation_speaker-independent_tuned.keras"

    # The `ours` recipe of the same run comes before every reconstruction model.
    _fake_model(tmp_path, "emotion_ours", 150, variant="clean", protocol="speaker-independent",
                recipe={"name": "ours"}, **run)
    assert predict.find_emotion_model(tmp_path).name == "emotion_ours.keras"
    # An `ours` on functionals of an older version (analysed at each file's own rate) is never a
    # default; when it is the newest model its run is stale, and the shipped model serves.
    from helpers import functionals

    old_ours = dict(variant="clean", protocol="speaker-independent", recipe={"name": "ours"},
                    features="compare", **run)
    _fake_model(tmp_path, "emotion_ours", 600, **old_ours)
    assert predict.find_emotion_model(tmp_path, shipped_dir=shipped) == (shipped / "emotion_ours.keras").resolve()
    _fake_model(tmp_path, "emotion_ours", 120, **old_ours)  # older than the run's CNNs
    assert predict.find_emotion_model(tmp_path).name == "emotion_aggregation_speaker-independent_tuned.keras"
    _fake_model(tmp_path, "emotion_ours", 600, functionals=functionals.describe(), **old_ours)
    assert predict.find_emotion_model(tmp_path).name == "emotion_ours.keras"

    _fake_model(tmp_path, "gender_other", 100, task="gender", data="real")
    assert predict.find_gender_model(tmp_path).name == "gender_other.keras"
    _fake_model(tmp_path, "gender", 50, task="gender", data="real")
    assert predict.find_gender_model(tmp_path).name == "gender.keras"
    _fake_model(tmp_path, "gender_ours", 10, task="gender", data="real", recipe={"name": "ours"})
    assert predict.find_gender_model(tmp_path).name == "gender_ours.keras"
    _fake_model(tmp_path, "gender_ours", 700, task="gender", data="real", recipe={"name": "ours"},
                features="compare")
    assert predict.find_gender_model(tmp_path, shipped_dir=shipped) == (shipped / "gender_ours.keras").resolve()


def test_a_fusion_model_gets_the_gender_classifiers_label(models_dir, tmp_path):
    from helpers import model_files, models, training

    fusion = models.build_emotion_fusion_cnn(FEATURES.input_shape, normalization=(-45.0, 20.0))
    path = tmp_path / "emotion_fusion_clean.keras"
    model_files.save_model_with_sidecar(fusion, path, sidecar={
        "task": "emotion-fusion", "labels": list(config.EMOTIONS), "feature_config": FEATURES})
    clip = write_clip(tmp_path / "clip.wav", duration_s=7.0)

    with pytest.raises(predict.PredictionError, match="needs a gender model"):
        predict.Predictor.load(path, use_gender=False)
    predictor = predict.Predictor.load(path, models_dir / "gender.keras")
    prediction = predictor.predict_file(clip)

    windows, _ = predictor.prepare(clip)
    label = np.full((len(windows), 1), float(prediction.p_female > 0.5), dtype=np.float32)
    expected = training.predict_proba(fusion, {"log_mel": training.add_channel_axis(windows), "gender": label})
    assert np.allclose(list(prediction.emotion_probabilities.values()), expected.mean(axis=0), atol=1e-6)


# --- the command as users run it --------------------------------------------------------------

def test_python_dash_m_helpers_predict(models_dir, tmp_path):
    clip = write_clip(tmp_path / "clip.flac", sample_rate=44_100, channels=2, duration_s=3.9)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    result = subprocess.run([sys.executable, "-m", "helpers.predict", str(clip), str(tmp_path / "x.wav"),
                             "--json", "--models-dir", str(models_dir)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=300)

    assert result.returncode == 1, result.stderr
    ok, missing = json.loads(result.stdout)
    assert set(ok) == JSON_OK_KEYS and ok["ok"] is True and ok["windows"] == 1
    assert missing == {"path": str(tmp_path / "x.wav"), "ok": False, "error": "file or folder not found",
                       "mode": "single-clip", "speaker": None}


def send_uploads(box, files: dict[str, bytes]) -> None:
    """Send ``files`` (name: bytes) through an upload box's button, as a browser would."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    box.children[0].value = tuple({"name": name, "type": "audio/x-flac", "size": len(content),
                                   "content": memoryview(content), "last_modified": now}
                                  for name, content in files.items())


def test_the_upload_widget_saves_and_predicts_each_upload(predictor, tmp_path, capsys):
    clip = write_clip(tmp_path / "mine.flac", duration_s=3.5).read_bytes()
    box = upload.upload_widget(predictor, folder=tmp_path / "uploads")
    assert len(box.children) == 2  # the button and the output: no speaker box for this model

    send_uploads(box, {"../outside/mine.flac": clip, "broken.wav": b""})

    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["broken.wav", "mine.flac"]
    shown = capsys.readouterr().out  # outside a kernel, the widget's output is printed
    assert "empty file (0 bytes)" in shown and "Audio object" in shown  # one player: one good file


@pytest.mark.parametrize("content", [b"", b"this is not a model"])
def test_a_corrupt_or_empty_model_file_exits_2_naming_it(capsys, models_dir, tmp_path, content):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("emotion_clean_speaker-independent.json", "gender.keras", "gender.json"):
        (folder / name).write_bytes((models_dir / name).read_bytes())
    broken = folder / "emotion_clean_speaker-independent.keras"
    broken.write_bytes(content)
    clip = write_clip(tmp_path / "clip.wav")
    status, out, err = run_command(capsys, clip, "--emotion-model", broken,
                                   "--gender-model", folder / "gender.keras")
    assert status == 2, (out, err)
    assert str(broken) in err and "Traceback" not in err, err
