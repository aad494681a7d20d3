"""Finding and labelling RAVDESS and UrbanSound8K files on tiny generated trees."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import (KAGGLE_FOLDER, RAVDESS_RATE, make_ravdess_tree, make_us8k_tree,
                      ravdess_name, write_clip, write_unusable_clips)
from helpers import config, datasets
from helpers.errors import DatasetError
from tests.factories import item_table


# --- parse_ravdess_name ---------------------------------------------------------------------

def test_parse_good_name_gives_every_field_and_label():
    fields = datasets.parse_ravdess_name(Path("/data/Actor_12/03-01-05-02-01-02-12.wav"))

    assert fields == {
        "modality": 3, "vocal_channel": 1, "emotion_code": 5, "intensity_code": 2,
        "statement": 1, "repetition": 2, "actor": 12,
        "emotion": "angry", "intensity": "strong", "gender": "female",
        "clip_id": "03-01-05-02-01-02-12",
    }


@pytest.mark.parametrize("code, emotion", list(enumerate(config.EMOTIONS, start=1)))
def test_parse_maps_each_emotion_code_to_its_name(code, emotion):
    fields = datasets.parse_ravdess_name(ravdess_name(emotion=code, actor=3))

    assert fields["emotion_code"] == code
    assert fields["emotion"] == emotion
    assert fields["intensity"] == "normal"


@pytest.mark.parametrize("actor, gender", [(1, "male"), (2, "female"), (23, "male"), (24, "female")])
def test_parse_gender_follows_actor_parity(actor, gender):
    assert datasets.parse_ravdess_name(ravdess_name(actor=actor))["gender"] == gender


@pytest.mark.parametrize("name", ["03-01-08-02-02-02-24.flac", "03-01-08-02-02-02-24.WAV",
                                  "03-01-08-02-02-02-24"])
def test_parse_reads_only_the_stem(name):
    fields = datasets.parse_ravdess_name(name)

    assert fields["clip_id"] == "03-01-08-02-02-02-24"
    assert (fields["emotion"], fields["intensity"], fields["actor"]) == ("surprised", "strong", 24)


@pytest.mark.parametrize("name, field", [
    ("03-01-05-01-02-01.wav", "6 dash-separated fields"),
    ("03-01-05-01-02-01-12-01.wav", "8 dash-separated fields"),
    ("03_01_05_01_02_01_12.wav", "1 dash-separated fields"),
    ("03-01-0a-01-02-01-12.wav", "emotion_code='0a'"),
    ("03-01-5-01-02-01-12.wav", "emotion_code='5'"),
    ("03-01-005-01-02-01-12.wav", "emotion_code='005'"),
    ("03-01-05-01-02-01-1x.wav", "actor='1x'"),
    ("00-01-05-01-02-01-12.wav", "modality=00"),
    ("04-01-05-01-02-01-12.wav", "modality=04"),
    ("03-03-05-01-02-01-12.wav", "vocal_channel=03"),
    ("03-01-00-01-02-01-12.wav", "emotion_code=00"),
    ("03-01-09-01-02-01-12.wav", "emotion_code=09"),
    ("03-01-05-03-02-01-12.wav", "intensity_code=03"),
    ("03-01-05-01-03-01-12.wav", "statement=03"),
    ("03-01-05-01-02-03-12.wav", "repetition=03"),
    ("03-01-05-01-02-01-00.wav", "actor=00"),
    ("03-01-05-01-02-01-25.wav", "actor=25"),
    ("03-01-01-02-02-01-12.wav", "intensity=02 (strong) cannot occur with emotion=01 (neutral)"),
])
def test_parse_malformed_name_raises_naming_file_and_field(name, field):
    path = Path("Actor_12") / name

    with pytest.raises(DatasetError) as caught:
        datasets.parse_ravdess_name(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert field in message


def test_parse_out_of_range_message_gives_allowed_range():
    with pytest.raises(DatasetError, match=re.escape("actor=25 is out of range, expected 01..24")):
        datasets.parse_ravdess_name("03-01-05-01-02-01-25.wav")


# --- find_ravdess ---------------------------------------------------------------------------

def test_find_upstream_layout_gives_labelled_manifest(ravdess_root):
    manifest, skipped = datasets.find_ravdess(ravdess_root)

    assert list(manifest.columns) == datasets.MANIFEST_COLUMNS
    assert skipped.empty and list(skipped.columns) == ["path", "reason"]
    assert manifest["clip_id"].tolist() == [
        "03-01-01-01-01-01-01", "03-01-05-01-01-01-01", "03-01-01-01-01-01-02", "03-01-05-01-01-01-02",
    ]
    assert manifest["actor"].tolist() == [1, 1, 2, 2]
    assert manifest["gender"].tolist() == ["male", "male", "female", "female"]
    assert manifest["emotion"].tolist() == ["neutral", "angry", "neutral", "angry"]
    assert manifest["emotion_code"].tolist() == [1, 5, 1, 5]
    assert set(manifest["intensity"]) == {"normal"}
    for row in manifest.itertuples():
        assert Path(row.path).is_absolute() and Path(row.path).stem == row.clip_id
        assert Path(row.path).parent.name == f"Actor_{row.actor:02d}"
    # Header facts: 1.5 s at 48 kHz mono, read without decoding.
    assert manifest["duration"].tolist() == [1.5] * 4
    assert manifest["sample_rate"].tolist() == [RAVDESS_RATE] * 4
    assert manifest["channels"].tolist() == [1] * 4


def test_find_reads_intensity_statement_repetition(tmp_path):
    make_ravdess_tree(tmp_path, actors=(7,), emotions=(1, 3), intensities=(1, 2), statements=(1, 2),
                      repetitions=(1, 2))

    manifest, _ = datasets.find_ravdess(tmp_path)

    # Neutral has only normal intensity: 4 neutral clips + 8 happy clips.
    assert len(manifest) == 12
    happy = manifest[manifest["emotion"] == "happy"]
    assert len(happy) == 8
    assert sorted(happy["intensity"].unique()) == ["normal", "strong"]
    assert set(manifest.loc[manifest["emotion"] == "neutral", "intensity"]) == {"normal"}
    assert sorted(manifest["statement"].unique()) == [1, 2]
    assert sorted(manifest["repetition"].unique()) == [1, 2]
    assert set(manifest["gender"]) == {"male"}


def test_find_detects_stereo_and_other_sample_rates(tmp_path):
    make_ravdess_tree(tmp_path, actors=(3,), emotions=(2,))
    stereo = write_clip(tmp_path / "Actor_04" / ravdess_name(emotion=2, actor=4, ext=".flac"),
                        sample_rate=44_100, duration_s=2.0, channels=2)

    manifest, _ = datasets.find_ravdess(tmp_path)

    row = manifest.set_index("clip_id").loc[stereo.stem]
    assert (row["channels"], row["sample_rate"], row["duration"]) == (2, 44_100, 2.0)
    mono = manifest.set_index("clip_id").loc[ravdess_name(emotion=2, actor=3, ext="")]
    assert (mono["channels"], mono["sample_rate"]) == (1, RAVDESS_RATE)


def test_find_kaggle_double_folder_skips_duplicates_with_reason(tmp_path):
    written = make_ravdess_tree(tmp_path, layout="kaggle")
    assert len(written) == 8

    manifest, skipped = datasets.find_ravdess(tmp_path)

    assert len(manifest) == 4 and manifest["clip_id"].is_unique
    assert len(skipped) == 4
    kept = dict(zip(manifest["clip_id"], manifest["path"]))
    for row in skipped.itertuples():
        assert KAGGLE_FOLDER in row.path
        assert row.reason == f"duplicate of {kept[Path(row.path).stem]}"


def test_find_flat_folder(tmp_path):
    make_ravdess_tree(tmp_path, actors=(5, 6, 7), emotions=(4,), layout="flat")

    manifest, skipped = datasets.find_ravdess(tmp_path)

    assert manifest["actor"].tolist() == [5, 6, 7]
    assert all(Path(p).parent == tmp_path.resolve() for p in manifest["path"])
    assert skipped.empty


def test_find_deep_folder(tmp_path):
    make_ravdess_tree(tmp_path / "a" / "b" / "c", actors=(9,), emotions=(6,))

    manifest, _ = datasets.find_ravdess(tmp_path)

    assert manifest["clip_id"].tolist() == ["03-01-06-01-01-01-09"]


def test_find_mixed_wav_and_flac(tmp_path):
    make_ravdess_tree(tmp_path, actors=(1, 2), emotions=(2, 3), ext=(".wav", ".flac"))

    manifest, skipped = datasets.find_ravdess(tmp_path)

    assert len(manifest) == 4 and skipped.empty
    assert sorted(Path(p).suffix for p in manifest["path"]) == [".flac", ".flac", ".wav", ".wav"]
    assert manifest["sample_rate"].tolist() == [RAVDESS_RATE] * 4
    assert manifest["duration"].tolist() == [1.5] * 4


def test_find_same_clip_as_wav_and_flac_is_a_duplicate(tmp_path):
    wav = write_clip(tmp_path / ravdess_name(emotion=4, actor=2, ext=".wav"))
    flac = write_clip(tmp_path / ravdess_name(emotion=4, actor=2, ext=".flac"))

    manifest, skipped = datasets.find_ravdess(tmp_path)

    # Paths are visited in sorted order, so the .flac copy is found first.
    assert manifest["path"].tolist() == [str(flac.resolve())]
    assert skipped.to_dict("records") == [{"path": str(wav.resolve()),
                                           "reason": f"duplicate of {flac.resolve()}"}]


def test_find_ignores_non_audio_files_and_lists_hidden_audio_names(ravdess_root):
    (ravdess_root / "README.txt").write_text("RAVDESS")
    (ravdess_root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (ravdess_root / "Actor_01" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (ravdess_root / "Actor_01" / "03-01-05-01-01-01-01.txt").write_text("a transcript")
    (ravdess_root / "Actor_01" / "metadata.csv").write_text("a,b\n1,2\n")
    # macOS resource forks look like audio but start with a dot: listed, without a warning.
    fork = ravdess_root / "Actor_01" / "._03-01-05-01-01-01-01.wav"
    fork.write_bytes(b"\x00\x05\x16\x07")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        manifest, skipped = datasets.find_ravdess(ravdess_root)

    assert len(manifest) == 4
    assert skipped["path"].tolist() == [str(fork.resolve())]
    assert skipped["reason"].iloc[0].startswith("hidden file")


def test_find_lists_song_and_video_in_skipped(ravdess_root):
    song = write_clip(ravdess_root / "Actor_01" / ravdess_name(vocal_channel=2, emotion=3))
    video = write_clip(ravdess_root / "Actor_01" / ravdess_name(modality=1, emotion=3))
    video_only = write_clip(ravdess_root / "Actor_02" / ravdess_name(modality=2, emotion=3, actor=2))

    manifest, skipped = datasets.find_ravdess(ravdess_root)

    assert len(manifest) == 4
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    assert reasons == {
        str(song.resolve()): "not audio-only speech (song)",
        str(video.resolve()): "not audio-only speech (video)",
        str(video_only.resolve()): "not audio-only speech (video)",
    }


def test_find_on_error_raise_names_file_and_field(ravdess_root):
    bad = write_clip(ravdess_root / "Actor_01" / "03-01-09-01-01-01-01.wav")

    with pytest.raises(DatasetError) as caught:
        datasets.find_ravdess(ravdess_root, on_error="raise")

    assert str(bad.resolve()) in str(caught.value)
    assert "emotion_code=09" in str(caught.value)


def test_find_on_error_skip_warns_and_lists_the_file(ravdess_root):
    bad = write_clip(ravdess_root / "Actor_25" / "03-01-05-01-01-01-25.wav")
    short = write_clip(ravdess_root / "Actor_01" / "03-01-05-01-01.wav")

    with pytest.warns(UserWarning) as caught:
        manifest, skipped = datasets.find_ravdess(ravdess_root, on_error="skip")

    messages = " ".join(str(w.message) for w in caught)
    assert bad.name in messages and short.name in messages
    assert len(manifest) == 4
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    assert reasons[str(bad.resolve())] == "field actor=25 is out of range, expected 01..24"
    assert reasons[str(short.resolve())].startswith("file name has 5 dash-separated fields")


def test_find_skip_reason_does_not_depend_on_folder_name(tmp_path):
    root = tmp_path / "RAVDESS: copy"
    make_ravdess_tree(root, actors=(1,), emotions=(2,))
    bad = write_clip(root / "Actor_01" / "03-01-09-01-01-01-01.wav")

    with pytest.warns(UserWarning):
        _, skipped = datasets.find_ravdess(root, on_error="skip")

    assert skipped["reason"].tolist() == ["field emotion_code=09 is out of range, expected 01..08"]
    assert skipped["path"].tolist() == [str(bad.resolve())]


def test_find_invalid_on_error_raises(ravdess_root):
    with pytest.raises(DatasetError, match="on_error='ignore'"):
        datasets.find_ravdess(ravdess_root, on_error="ignore")


def test_find_empty_tree_raises(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "notes.txt").write_text("nothing here")

    with pytest.raises(DatasetError, match="no usable RAVDESS speech files") as caught:
        datasets.find_ravdess(tmp_path)

    assert str(tmp_path.resolve()) in str(caught.value)


def test_find_tree_of_only_songs_raises_and_counts_them(tmp_path):
    write_clip(tmp_path / ravdess_name(vocal_channel=2, emotion=2))
    write_clip(tmp_path / ravdess_name(vocal_channel=2, emotion=3))

    with pytest.raises(DatasetError, match="2 audio files were skipped"):
        datasets.find_ravdess(tmp_path)


def test_find_missing_root_raises(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        datasets.find_ravdess(tmp_path / "nowhere")


def test_find_unreadable_audio_names_the_file(ravdess_root):
    bad = ravdess_root / "Actor_02" / ravdess_name(emotion=7, actor=2)
    bad.write_bytes(b"this is not a wav file" * 10)

    with pytest.raises(DatasetError, match="not a readable audio file") as caught:
        datasets.find_ravdess(ravdess_root, on_error="raise")
    assert str(bad.resolve()) in str(caught.value)

    # By default the file is skipped, with its reason, and the run goes on.
    with pytest.warns(UserWarning, match=bad.name):
        manifest, skipped = datasets.find_ravdess(ravdess_root)
    assert len(manifest) == 4
    assert skipped["path"].tolist() == [str(bad.resolve())]
    assert skipped["reason"].iloc[0].startswith("not a readable audio file")

    # Without header reading, the file is listed with unknown facts.
    manifest, _ = datasets.find_ravdess(ravdess_root, read_info=False)
    assert len(manifest) == 5
    assert manifest["duration"].isna().all()
    assert (manifest["sample_rate"] == 0).all()


# --- load_urbansound8k ----------------------------------------------------------------------

def test_us8k_default_selects_fold_1(us8k_root):
    table, skipped = datasets.load_urbansound8k(us8k_root)

    assert table["fold"].tolist() == [1, 1]
    assert table["class"].tolist() == ["dog_bark", "street_music"]
    assert list(table.columns) == datasets.US8K_COLUMNS + ["path"]
    for row in table.itertuples():
        assert Path(row.path) == us8k_root / "audio" / "fold1" / row.slice_file_name
        assert Path(row.path).is_file()
    assert skipped.empty


@pytest.mark.parametrize("folds, expected", [(2, [2, 2]), ([1, 2], [1, 1, 2, 2]),
                                             ((2,), [2, 2]), (None, [1, 1, 2, 2])])
def test_us8k_fold_selection(us8k_root, folds, expected):
    table, _ = datasets.load_urbansound8k(us8k_root, folds=folds)

    assert table["fold"].tolist() == expected
    assert all(f"fold{fold}" in path for fold, path in zip(table["fold"], table["path"]))


def test_us8k_class_selection(us8k_root):
    table, _ = datasets.load_urbansound8k(us8k_root, folds=None, classes=["street_music"])

    assert table["class"].tolist() == ["street_music", "street_music"]
    assert table["classID"].tolist() == [9, 9]


def test_us8k_unknown_class_raises_listing_available(us8k_root):
    with pytest.raises(DatasetError, match=re.escape("classes=['siren']")) as caught:
        datasets.load_urbansound8k(us8k_root, classes=["siren", "dog_bark"])

    assert "dog_bark" in str(caught.value) and "street_music" in str(caught.value)


def test_us8k_missing_csv_raises(tmp_path):
    with pytest.raises(DatasetError, match="UrbanSound8K.csv"):
        datasets.load_urbansound8k(tmp_path)


def test_us8k_csv_missing_columns_raises(us8k_root):
    csv_path = us8k_root / "metadata" / "UrbanSound8K.csv"
    pd.read_csv(csv_path).drop(columns=["fold"]).to_csv(csv_path, index=False)

    with pytest.raises(DatasetError, match=re.escape("missing columns ['fold']")):
        datasets.load_urbansound8k(us8k_root)


def test_us8k_empty_selection_lists_available_folds(us8k_root):
    with pytest.raises(DatasetError, match=re.escape("available folds [1, 2]")) as caught:
        datasets.load_urbansound8k(us8k_root, folds=[7])

    assert "folds=[7]" in str(caught.value)


def test_us8k_missing_or_bad_files_are_skipped_or_raise_with_their_path(us8k_root):
    gone = us8k_root / "audio" / "fold1" / "1030-3-0-0.wav"
    gone.unlink()
    fold2 = sorted((us8k_root / "audio" / "fold2").glob("*.wav"))
    fold2[0].write_bytes(b"")

    with pytest.raises(DatasetError, match="listed in UrbanSound8K.csv but missing") as caught:
        datasets.load_urbansound8k(us8k_root, folds=1, on_error="raise")
    assert str(gone) in str(caught.value)

    with pytest.warns(UserWarning):
        table, skipped = datasets.load_urbansound8k(us8k_root, folds=None)
    assert len(table) == 2 and str(gone) not in table["path"].tolist()
    assert dict(zip(skipped["path"], skipped["reason"])) == {
        str(gone): "listed in UrbanSound8K.csv but missing",
        str(fold2[0]): "empty file (0 bytes)",
    }
    # When no selected clip is usable the loader says so.
    for path in (us8k_root / "audio" / "fold1").glob("*.wav"):
        path.unlink()
    with pytest.raises(DatasetError, match="none of the 2 UrbanSound8K clips"):
        with pytest.warns(UserWarning):
            datasets.load_urbansound8k(us8k_root, folds=1)


@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_us8k_duplicate_clip_is_skipped_with_its_reason(us8k_root, on_error):
    """As for RAVDESS, a second copy of a noise clip is skipped naming the first, and does not
    stop the run even with on_error="raise": the same bytes under another name, in another
    fold, and a metadata row that lists a file again."""
    csv_path = us8k_root / "metadata" / "UrbanSound8K.csv"
    table = pd.read_csv(csv_path)
    first = table.iloc[0]
    original = us8k_root / "audio" / f"fold{first['fold']}" / first["slice_file_name"]
    copy = us8k_root / "audio" / "fold2" / "99999-3-0-0.wav"
    copy.write_bytes(original.read_bytes())
    extra = pd.DataFrame([{**first.to_dict(), "slice_file_name": copy.name, "fsID": 99999, "fold": 2},
                          first.to_dict()])
    pd.concat([table, extra], ignore_index=True).to_csv(csv_path, index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noise, skipped = datasets.load_urbansound8k(us8k_root, folds=None, on_error=on_error)

    assert noise["slice_file_name"].tolist() == table["slice_file_name"].tolist()
    assert skipped.to_dict("records") == [
        {"path": str(copy), "reason": f"duplicate of {original}"},
        {"path": str(original), "reason": "listed again in UrbanSound8K.csv (a duplicate row)"},
    ]


def test_us8k_available_folds(tmp_path):
    make_us8k_tree(tmp_path, folds=(3, 1, 10), classes=("car_horn",))

    assert datasets.available_folds(tmp_path) == [1, 3, 10]
    with pytest.raises(DatasetError, match="not found"):
        datasets.available_folds(tmp_path / "missing")


# --- command line ---------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.datasets", *args], cwd=config.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_manifest_writes_csv(ravdess_root, tmp_path):
    write_clip(ravdess_root / "Actor_01" / ravdess_name(vocal_channel=2, emotion=3))
    out = tmp_path / "out" / "manifest.csv"

    result = run_cli("manifest", str(ravdess_root), "--csv", str(out))

    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == datasets.MANIFEST_COLUMNS
    assert len(table) == 4
    assert table["clip_id"].tolist() == datasets.find_ravdess(ravdess_root)[0]["clip_id"].tolist()
    assert np.allclose(table["duration"], 1.5)
    assert "wrote 4 rows" in result.stderr
    assert "not audio-only speech (song)" in result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["manifest.csv"]


def test_cli_manifest_to_stdout(ravdess_root):
    result = run_cli("manifest", str(ravdess_root))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == ",".join(datasets.MANIFEST_COLUMNS)
    assert len(lines) == 5


def test_cli_bad_dir_exits_nonzero_with_message(tmp_path):
    missing = tmp_path / "no_such_dir"

    result = run_cli("manifest", str(missing), "--csv", str(tmp_path / "m.csv"))

    assert result.returncode != 0
    assert "error:" in result.stderr and str(missing) in result.stderr
    assert not (tmp_path / "m.csv").exists()


def test_cli_malformed_name_is_skipped_unless_raise_is_asked(ravdess_root, tmp_path):
    write_clip(ravdess_root / "Actor_01" / "03-01-09-01-01-01-01.wav")

    raised = run_cli("manifest", str(ravdess_root), "--on-error", "raise")
    skipped = run_cli("manifest", str(ravdess_root), "--csv", str(tmp_path / "m.csv"))

    assert raised.returncode != 0 and "emotion_code=09" in raised.stderr
    assert skipped.returncode == 0, skipped.stderr
    assert "03-01-09-01-01-01-01.wav" in skipped.stderr
    assert len(pd.read_csv(tmp_path / "m.csv")) == 4


# --- unusable files: skipped with a reason, or raised with on_error="raise" ----------------

def test_every_kind_of_unusable_file_is_skipped_with_its_reason(ravdess_root):
    expected = write_unusable_clips(ravdess_root / "Actor_01")
    # A second copy of a good clip, in another format, is a duplicate.
    copy = write_clip(ravdess_root / "extra" / ravdess_name(emotion=5, actor=1, ext=".flac"))

    with pytest.warns(UserWarning):
        manifest, skipped = datasets.find_ravdess(ravdess_root)

    assert len(manifest) == 4  # the good clips only
    reasons = {Path(p).name: r for p, r in zip(skipped["path"], skipped["reason"])}
    assert reasons.pop(copy.name).startswith("duplicate of ")
    assert reasons.keys() == expected.keys()
    for file_name, start in expected.items():
        assert reasons[file_name].startswith(start), (file_name, reasons[file_name])


@pytest.mark.parametrize("kind", range(8))
def test_on_error_raise_stops_at_an_unusable_file_naming_it(tmp_path, kind):
    root = tmp_path / "ravdess"
    make_ravdess_tree(root)
    expected = write_unusable_clips(root / "Actor_01")
    keep = sorted(expected)[kind]
    for other in set(expected) - {keep}:
        (root / "Actor_01" / other).unlink()

    with pytest.raises(DatasetError, match=re.escape(expected[keep])) as caught:
        datasets.find_ravdess(root, on_error="raise")
    assert keep in str(caught.value)


def test_a_clip_that_cannot_give_features_is_skipped_not_run_stopping(tmp_path):
    """Issue 13: clips that pass every check of the whole file but give no features in the
    analysis window (one ends before the 0.5 s offset, one is silent from it on) used to stop
    the run in build_features; the manifest now skips them with their reason, so the
    features of every clip it keeps can be computed. --on-error raise still stops at them."""
    from helpers import audio, features
    from helpers.features import FeatureError

    root = tmp_path / "ravdess"
    make_ravdess_tree(root)
    kinds = write_unusable_clips(root / "Actor_01")
    window_kinds = {name: start for name, start in kinds.items() if "window" in start}
    assert len(window_kinds) == 2
    for name in set(kinds) - set(window_kinds):
        (root / "Actor_01" / name).unlink()
    make_us8k_tree(tmp_path / "noise", folds=(1,))
    noise, _ = datasets.load_urbansound8k(tmp_path / "noise")
    for name in window_kinds:
        path = root / "Actor_01" / name
        assert audio.check_audio(path).frames > 0  # sound as a whole file
        with pytest.raises(FeatureError, match=re.escape(name)):  # what used to stop the run
            features.build_features(pd.DataFrame({"path": [str(path)], "clip_id": [path.stem]}),
                                    noise["path"], cache_dir=tmp_path / "cache", n_jobs=1)

    with pytest.warns(UserWarning):
        manifest, skipped = datasets.find_ravdess(root)

    reasons = {Path(p).name: r for p, r in zip(skipped["path"], skipped["reason"])}
    assert reasons.keys() == window_kinds.keys()
    for name, start in window_kinds.items():
        assert reasons[name].startswith(start), (name, reasons[name])
    built = features.build_features(manifest, noise["path"], cache_dir=tmp_path / "cache", n_jobs=1)
    assert built.features.shape[:2] == (4, len(manifest)) == (4, 4)
    # Fail fast on request; and the whole-file check alone (feature_config=None) keeps them.
    with pytest.raises(DatasetError, match="window"):
        datasets.find_ravdess(root, on_error="raise")
    assert len(datasets.find_ravdess(root, feature_config=None)[0]) == 6


@pytest.mark.parametrize("ext, subtype, fmt", [
    (".WAV", "PCM_24", "WAV"), (".wav", "PCM_U8", "WAV"), (".wav", "FLOAT", "WAV"),
    (".Flac", None, "FLAC"), (".aiff", None, "AIFF"), (".AIF", None, "AIFF"),
    (".ogg", None, "OGG"), (".mp3", None, "MP3"),
])
def test_every_libsndfile_format_is_accepted_by_manifest_noise_and_prediction(tmp_path, ext, subtype, fmt):
    from helpers import audio

    clip = write_clip(tmp_path / "r" / ravdess_name(emotion=3, actor=4, ext=ext), subtype=subtype,
                      format=fmt)
    manifest, skipped = datasets.find_ravdess(tmp_path / "r")
    assert skipped.empty and manifest["path"].tolist() == [str(clip.resolve())]
    assert manifest["duration"].iloc[0] == pytest.approx(1.5, abs=0.06)  # MP3 adds encoder padding

    # The noise loader and the prediction command's folder walk accept the same file.
    make_us8k_tree(tmp_path / "n", folds=(1,), classes=("siren",))
    csv_path = tmp_path / "n" / "metadata" / "UrbanSound8K.csv"
    table = pd.read_csv(csv_path)
    noise_clip = write_clip(tmp_path / "n" / "audio" / "fold1" / f"99-8-0-0{ext}", subtype=subtype, format=fmt)
    table.loc[0, "slice_file_name"] = noise_clip.name
    table.to_csv(csv_path, index=False)
    noise, noise_skipped = datasets.load_urbansound8k(tmp_path / "n")
    assert noise_skipped.empty and noise["path"].tolist() == [str(noise_clip)]
    assert audio.is_audio_name(clip) and ext.lower() in audio.AUDIO_SUFFIXES


def test_the_accepted_suffixes_have_one_definition():
    from helpers import audio, download, predict

    assert predict.AUDIO_SUFFIXES is audio.AUDIO_SUFFIXES
    assert not hasattr(datasets, "AUDIO_SUFFIXES") and not hasattr(download, "AUDIO_SUFFIXES")


# --- check_protocol -------------------------------------------------------------------------

def _full_manifest() -> pd.DataFrame:
    return item_table(actors=range(1, 25), clips_per_emotion=1)[["actor", "emotion"]]


def test_check_protocol_accepts_every_actor_with_every_emotion():
    datasets.check_protocol(_full_manifest())


def test_check_protocol_names_an_actor_without_clips_and_one_without_an_emotion():
    manifest = _full_manifest()
    manifest = manifest[(manifest["actor"] != 7) & ~((manifest["actor"] == 12) & (manifest["emotion"] == "sad"))]
    skipped = pd.DataFrame({"path": ["a", "b", "c"], "reason": ["empty file (0 bytes)"] * 3})

    with pytest.raises(DatasetError) as caught:
        datasets.check_protocol(manifest, skipped)

    message = str(caught.value)
    assert "actor 7 has no usable clip" in message and "actor 12 has no sad clip" in message
    assert "3 files were skipped" in message
