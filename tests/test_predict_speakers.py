"""Speaker-adaptive prediction: ``Predictor.predict_speakers`` and ``python -m helpers.predict --speakers``.

The shipped models (a functionals emotion model with test-time speeds, the frame-GMM gender
model) predict generated "voices": tones with noise, three files per speaker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import tone_noise
from helpers import config, functionals, predict, predict_cli, pretrained, training
from tests.test_predict import models_dir  # noqa: F401 (a fixture)
from tests.test_predict import run_command as run_predict
from tests.test_predict import send_uploads

RATE = 16_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One functionals cache for the module, outside the project."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "CACHE_DIR", tmp_path_factory.mktemp("cache"))
        yield


@pytest.fixture(scope="module")
def shipped(cache) -> predict.Predictor:
    return predict.Predictor.from_files(pretrained.shipped_model("emotion"), pretrained.shipped_model("gender"))


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> dict[str, list[Path]]:
    """Two speakers' folders of three 3.5 s files each: a higher and a lower "voice"."""
    root = tmp_path_factory.mktemp("voices")
    voices = {}
    for speaker, base in (("anna", 230.0), ("ben", 115.0)):
        voices[speaker] = []
        for k in range(3):
            path = root / speaker / f"{speaker}_{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            y = tone_noise(int(3.5 * RATE), RATE, frequency=base * (1 + 0.08 * k), seed=10 * k + len(speaker),
                           amplitude=0.1 + 0.1 * k)
            soundfile.write(path, y, RATE)
            voices[speaker].append(path)
    return voices


def _by_hand(predictor: predict.Predictor, paths, speakers) -> np.ndarray:
    """Emotion probabilities of the speaker-adaptive mode, computed here from the functionals."""
    model = predictor.emotion
    speeds = (1.0, *model.test_time_speeds)
    x = np.stack([np.stack([functionals.extract([p], feature_set=model.features, max_workers=1,
                                                **model.signal_options, speed=s)[0] for s in speeds])
                  for p in paths]).astype(np.float64)  # (files, speeds, features)
    speakers = np.asarray(speakers)
    z = np.empty_like(x)
    for who in np.unique(speakers):
        rows = speakers == who
        mean, std = x[rows].mean(axis=0), x[rows].std(axis=0)
        z[rows] = (x[rows] - mean) / np.where(std > 1e-8, std, 1.0)
    layer = model.model.get_layer("normalization")
    scaled = np.asarray(layer.mean).reshape(-1) + np.sqrt(np.asarray(layer.variance).reshape(-1)) * z
    n, copies, d = scaled.shape
    output = training.predict_proba(model.model, scaled.reshape(n * copies, d).astype(np.float32))
    return output.reshape(n, copies, -1).mean(axis=1)


def test_emotion_uses_each_speakers_standardised_functionals_and_gender_is_one_decision_per_speaker(shipped, voices):
    paths = voices["anna"] + voices["ben"]
    speakers = ["anna"] * 3 + ["ben"] * 3
    single = shipped.predict_files(paths)
    adapted = shipped.predict_speakers(paths, speakers)

    assert all(p.ok for p in adapted), [p.error for p in adapted]
    assert [(p.mode, p.speaker) for p in adapted] == [("speaker-adaptive", s) for s in speakers]
    assert [p.path for p in adapted] == [str(p) for p in paths]
    probabilities = np.array([[p.emotion_probabilities[label] for label in config.EMOTIONS] for p in adapted])
    np.testing.assert_allclose(probabilities, _by_hand(shipped, paths, speakers), atol=1e-5)
    assert [p.emotion for p in adapted] == [config.EMOTIONS[k] for k in probabilities.argmax(axis=1)]
    before = np.array([[p.emotion_probabilities[label] for label in config.EMOTIONS] for p in single])
    assert np.abs(probabilities - before).max() > 0.01  # the mode changes what the model sees

    # Gender: the mean of the speaker's single-clip P(female), on every file of the speaker.
    for who, rows in (("anna", slice(0, 3)), ("ben", slice(3, 6))):
        expected = np.mean([p.p_female for p in single[rows]])
        assert [p.p_female for p in adapted[rows]] == pytest.approx([expected] * 3)
        assert len({p.gender for p in adapted[rows]}) == 1
    assert {p.mode for p in single} == {"single-clip"} and {p.speaker for p in single} == {None}

    # Who else a speaker is decides a file's prediction: one speaker of all six files differs.
    pooled = shipped.predict_speakers(paths, ["one"] * 6, single=single)
    assert not np.allclose([p.emotion_probabilities["angry"] for p in pooled],
                           probabilities[:, config.EMOTIONS.index("angry")], atol=1e-4)


def test_a_failed_file_is_left_out_of_its_speakers_statistics_and_a_lone_file_fails(shipped, voices, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    paths = [voices["anna"][0], broken, voices["anna"][1], voices["ben"][0]]
    adapted = shipped.predict_speakers(paths, ["anna", "anna", "anna", "ben"])

    assert [p.ok for p in adapted] == [True, False, True, False]
    assert adapted[1].speaker == "anna" and adapted[1].mode == "speaker-adaptive"
    assert adapted[1].error == shipped.predict_files([broken])[0].error
    assert adapted[3].error == ("speaker 'ben' has 1 usable file; speaker-adaptive prediction needs at "
                                "least 2 (a mean and a spread of the speaker's files)")
    # Anna's statistics come from her two usable files alone.
    alone = shipped.predict_speakers([paths[0], paths[2]], ["anna", "anna"])
    for got, expected in zip([adapted[0], adapted[2]], alone):
        assert got.emotion_probabilities == pytest.approx(expected.emotion_probabilities, abs=1e-6)
        assert got.p_female == pytest.approx(expected.p_female)
    with pytest.raises(predict.PredictionError, match=r"paths \(2\), speakers \(1\)"):
        shipped.predict_speakers(paths[:2], ["anna"])


def test_a_file_given_twice_counts_once_in_its_speakers_statistics(shipped, voices):
    a0, a1 = voices["anna"][:2]
    pair = shipped.predict_speakers([a0, a1], ["anna", "anna"])
    again = shipped.predict_speakers([a0, a1, a0], ["anna", "anna", "anna"])
    assert [p.ok for p in again] == [True, True, True]
    for got, expected in zip(again, [*pair, pair[0]]):
        assert got.emotion_probabilities == pytest.approx(expected.emotion_probabilities, abs=1e-6)
        assert got.p_female == pytest.approx(expected.p_female)
    # One file twice is one file: too few for statistics.
    assert [p.error for p in shipped.predict_speakers([a0, a0], ["anna", "anna"])] == [
        "speaker 'anna' has 1 usable file; speaker-adaptive prediction needs at least 2 (a mean and a "
        "spread of the speaker's files)"] * 2
    with pytest.raises(predict.PredictionError, match=f"{a0} is given twice, as speaker 'anna' and as 'ben'"):
        shipped.predict_speakers([a0, a1, a0], ["anna", "anna", "ben"])


def test_a_functionals_model_without_its_scale_is_refused(shipped, voices):
    import dataclasses

    import keras

    inputs = keras.Input((shipped.emotion.model.input_shape[-1],))
    bare = keras.Model(inputs, keras.layers.Dense(len(config.EMOTIONS), activation="softmax")(inputs), name="bare")
    predictor = predict.Predictor(dataclasses.replace(shipped.emotion, model=bare))
    with pytest.raises(predict.PredictionError, match="emotion_ours.keras .*has no 'normalization' layer"):
        predictor.predict_speakers(voices["anna"], ["anna"] * 3)
    shipped.check_speaker_adaptive()  # the shipped model has its scale


def run_command(capsys, *args) -> tuple[int, str, str]:
    """The command with the shipped models named (a trained model in outputs/ would be the default)."""
    return run_predict(capsys, *args, "--emotion-model", pretrained.shipped_model("emotion"),
                       "--gender-model", pretrained.shipped_model("gender"))


def test_the_command_takes_speakers_by_folder_or_from_a_csv(shipped, voices, capsys, tmp_path):
    root = voices["anna"][0].parent.parent
    status, out, err = run_command(capsys, root, "--speakers", "folder", "--json")
    assert status == 0, err
    records = {Path(r["path"]).name: r for r in json.loads(out)}
    assert len(records) == 6
    assert {r["mode"] for r in records.values()} == {"speaker-adaptive"}
    assert {name: Path(r["speaker"]).name for name, r in records.items()} == {
        p.name: speaker for speaker, files in voices.items() for p in files}
    expected = shipped.predict_speakers(voices["anna"] + voices["ben"], ["a"] * 3 + ["b"] * 3)
    for prediction in expected:
        record = records[Path(prediction.path).name]
        assert record["emotion_probabilities"] == pytest.approx(prediction.emotion_probabilities, abs=1e-6)
        assert record["p_female"] == pytest.approx(prediction.p_female)

    # A CSV: anna's first file said to be ben's.
    listing = tmp_path / "speakers.csv"
    files = voices["anna"] + voices["ben"]
    names = ["ben"] + ["anna"] * 2 + ["ben"] * 3
    listing.write_text("path,speaker\n" + "".join(f"{p},{who}\n" for p, who in zip(files, names)))
    status, out, err = run_command(capsys, *files, "--speakers", listing, "--json")
    assert status == 0, err
    assert [r["speaker"] for r in json.loads(out)] == names

    status, out, err = run_command(capsys, *files, "--speakers", listing)
    assert status == 0, err
    lines = out.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("file "))
    assert lines[header].split()[-1] == "speaker"
    assert [line.split()[-1] for line in lines[header + 1:header + 7]] == names
    assert "speaker-adaptive: 2 speakers" in out
    assert (f"caution: 'ben' (4), 'anna' (2) have fewer than {predict.FEW_SPEAKER_FILES} usable files"
            in out)


def test_relative_paths_in_the_csv_are_read_from_its_folder(voices, tmp_path):
    files = voices["anna"] + voices["ben"]
    listing = tmp_path / "lists" / "speakers.csv"
    listing.parent.mkdir()
    listing.write_text("path,speaker\n" + "".join(
        f"{os.path.relpath(p, listing.parent)},{p.parent.name}\n" for p in files))
    speaker_of = predict_cli.speaker_lookup(str(listing), files)
    assert [speaker_of(p) for p in files] == ["anna"] * 3 + ["ben"] * 3
    assert predict_cli.speaker_lookup("one", files)(files[4]) == "one"


def test_a_csv_named_like_a_mode_is_read_when_given_as_a_path(voices, tmp_path, monkeypatch):
    files = voices["anna"] + voices["ben"]
    (tmp_path / "one").write_text("path,speaker\n" + "".join(f"{p},{p.parent.name}\n" for p in files))
    monkeypatch.chdir(tmp_path)
    assert [predict_cli.speaker_lookup("./one", files)(p) for p in files] == ["anna"] * 3 + ["ben"] * 3
    assert {predict_cli.speaker_lookup("one", files)(p) for p in files} == {"one"}  # the mode


@pytest.mark.parametrize("content, message", [
    (None, "--speakers '{csv}' must be one of one, folder or a CSV file"),
    ("file,who\nx.wav,a\n", "has the columns ['file', 'who']; expected path and speaker"),
    ("path,speaker\n{anna0},anna\n,ben\n", "row 3 has an empty path or speaker"),
    ("path,speaker\n{anna0},anna\n", "does not list 5 of the files: {anna1}"),
    ("path,speaker\n{anna0},anna\n{anna0},ben\n", "row 3 gives {anna0} the speaker 'ben', an earlier row 'anna'"),
])
def test_a_bad_speaker_list_is_a_usage_error_naming_it(voices, capsys, tmp_path, content, message):
    files = voices["anna"] + voices["ben"]
    listing = tmp_path / "speakers.csv"
    if content is not None:
        listing.write_text(content.format(anna0=files[0]))
    status, out, err = run_command(capsys, *files, "--speakers", listing)
    assert status == 2 and out == ""
    assert message.format(csv=listing, anna0=files[0], anna1=files[1]) in err


def test_a_missing_file_is_reported_as_missing_not_as_unlisted(voices, capsys, tmp_path):
    files = voices["anna"]
    listing = tmp_path / "speakers.csv"
    listing.write_text("path,speaker\n" + "".join(f"{p},anna\n" for p in files))
    status, out, err = run_command(capsys, *files, tmp_path / "missing.wav", "--speakers", listing, "--json")
    assert status == 1, err
    records = json.loads(out)
    assert [r["ok"] for r in records] == [True, True, True, False]
    assert records[-1]["mode"] == "speaker-adaptive" and records[-1]["speaker"] is None
    assert "not found" in records[-1]["error"]


# --- the table and the notebook's upload box ----------------------------------------------------

def test_the_prediction_table_says_each_files_mode_and_speaker(shipped, voices):
    paths = voices["anna"] + voices["ben"]
    speakers = ["anna"] * 3 + ["ben"] * 3
    adapted = predict.predictions_table(shipped.predict_speakers(paths, speakers))
    single = predict.predictions_table(shipped.predict_files(paths[:2]))

    assert list(adapted.columns[-3:]) == ["mode", "speaker", "error"]
    assert adapted["mode"].eq("speaker-adaptive").all() and adapted["speaker"].tolist() == speakers
    assert single["mode"].eq("single-clip").all() and single["speaker"].isna().all()


def test_the_upload_box_predicts_one_speakers_files_with_that_speakers_statistics(shipped, voices, tmp_path, capsys):
    from helpers import upload

    paths = voices["anna"]
    box = upload.upload_widget(shipped, folder=tmp_path / "uploads")
    speaker_box = box.children[1]
    assert speaker_box.value is False and "One speaker" in speaker_box.description

    speaker_box.value = True
    send_uploads(box, {path.name: path.read_bytes() for path in paths})
    shown = capsys.readouterr().out  # outside a kernel, the widget's output is printed
    saved = [tmp_path / "uploads" / path.name for path in paths]
    expected = shipped.predict_speakers(saved, ["you"] * 3)
    assert "speaker-adaptive: 1 speaker" in shown and "caution: 'you' (3)" in shown, shown
    for prediction in expected:  # the table shows the speaker-adaptive probabilities
        assert f"{max(prediction.emotion_probabilities.values()):.3f}" in shown

    send_uploads(box, {paths[0].name: paths[0].read_bytes()})  # one file cannot be standardised
    shown = capsys.readouterr().out
    assert "needs at least 2 files that can be predicted in one upload; this file was predicted alone" in shown, shown
    assert "speaker-adaptive:" not in shown

    # Two files, one of them broken: the good one is predicted alone, not failed with the other.
    send_uploads(box, {paths[1].name: paths[1].read_bytes(), "broken.wav": b""})
    shown = capsys.readouterr().out
    alone = shipped.predict_files([tmp_path / "uploads" / paths[1].name])[0]
    assert "these files were predicted alone" in shown and "empty file (0 bytes)" in shown, shown
    assert alone.ok and f" {alone.emotion} " in shown and "speaker-adaptive:" not in shown


def test_the_upload_box_offers_no_speaker_mode_for_a_log_mel_model(models_dir, tmp_path):
    from helpers import upload

    predictor = predict.Predictor.load(models_dir=models_dir)
    assert len(upload.upload_widget(predictor, folder=tmp_path).children) == 2  # upload, output
    with pytest.raises(predict.PredictionError, match="speaker-adaptive prediction needs an emotion model of functionals"):
        upload.upload_widget(predictor, folder=tmp_path, one_speaker=True)
