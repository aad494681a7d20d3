"""The loaders of EmoDB, TESS, SAVEE and CREMA-D: names, labels, genders, bad files, the command."""

from __future__ import annotations

import pandas as pd
import pytest
from corpora_trees import make_corpus_tree

from helpers import config, datasets, other_corpora
from helpers.errors import DatasetError


# --- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("corpus, name, expected", [
    ("emodb", "03a01Fa.wav", {"actor": "03", "gender": "male", "emotion": "happy", "corpus_emotion": "happiness"}),
    ("emodb", "16b10Wc.wav", {"actor": "16", "gender": "female", "emotion": "angry", "corpus_emotion": "anger"}),
    ("emodb", "08a02Ab.wav", {"actor": "08", "gender": "female", "emotion": "fearful", "corpus_emotion": "fear"}),
    ("emodb", "13a05Ea.wav", {"actor": "13", "gender": "female", "emotion": "disgust", "corpus_emotion": "disgust"}),
    ("emodb", "11b03Ta.wav", {"actor": "11", "gender": "male", "emotion": "sad", "corpus_emotion": "sadness"}),
    ("emodb", "12a07Na.wav", {"actor": "12", "gender": "male", "emotion": "neutral", "corpus_emotion": "neutral"}),
    ("emodb", "15a01La.wav", {"actor": "15", "gender": "male", "emotion": None, "corpus_emotion": "boredom"}),
    ("tess", "OAF_back_angry.wav", {"actor": "OAF", "gender": "female", "emotion": "angry"}),
    ("tess", "YAF_dog_ps.wav", {"actor": "YAF", "gender": "female", "emotion": "surprised",
                                "corpus_emotion": "pleasant surprise"}),
    ("tess", "yaf_germ_Fear.wav", {"actor": "YAF", "emotion": "fearful", "clip_id": "YAF_germ_fear"}),
    ("tess", "OAF_back_pleasant_surprised.wav", {"emotion": "surprised", "clip_id": "OAF_back_ps"}),
    ("savee", "DC_a01.wav", {"actor": "DC", "gender": "male", "emotion": "angry", "clip_id": "DC_a01"}),
    ("savee", "JE/sa15.wav", {"actor": "JE", "gender": "male", "emotion": "sad", "clip_id": "JE_sa15"}),
    ("savee", "KL/su02.wav", {"actor": "KL", "emotion": "surprised"}),
    ("savee", "JK/n30.wav", {"actor": "JK", "emotion": "neutral", "corpus_emotion": "neutral"}),
    ("crema-d", "1001_DFA_ANG_XX.wav", {"actor": "1001", "gender": "male", "emotion": "angry",
                                        "intensity": "unspecified"}),
    ("crema-d", "1091_IEO_HAP_HI.wav", {"actor": "1091", "gender": "female", "emotion": "happy",
                                        "intensity": "high"}),
    ("crema-d", "1064_TIE_FEA_LO.wav", {"actor": "1064", "gender": "male", "emotion": "fearful"}),
    ("crema-d", "1002_WSI_NEU_MD.wav", {"actor": "1002", "gender": "female", "emotion": "neutral"}),
])
def test_a_name_gives_speaker_gender_and_the_ravdess_label(tmp_path, corpus, name, expected):
    fields = other_corpora.SPECS[corpus].parse(tmp_path / name)
    assert {key: fields[key] for key in expected} == expected
    assert fields["corpus"] == corpus
    emotion = fields["emotion"]
    assert fields["emotion_code"] == (None if emotion is None else config.EMOTIONS.index(emotion) + 1)


@pytest.mark.parametrize("corpus, name, field", [
    ("emodb", "03a01Xa.wav", "emotion='X'"),
    ("emodb", "04a01Wa.wav", "speaker=04"),
    ("emodb", "03a1Wa.wav", "not an EmoDB name"),
    ("tess", "MAF_back_angry.wav", "speaker='maf'"),
    ("tess", "OAF_back_calm.wav", "emotion='calm'"),
    ("tess", "OAF_angry.wav", "not a TESS name"),
    ("savee", "XX/a01.wav", "speaker='XX' (from the folder)"),
    ("savee", "DC_a16.wav", "number=16 is out of range, expected 01..15"),
    ("savee", "DC_n31.wav", "number=31 is out of range, expected 01..30"),
    ("savee", "DC/b01.wav", "not a SAVEE name"),
    ("crema-d", "1000_DFA_ANG_XX.wav", "actor=1000 is out of range"),
    ("crema-d", "1001_ABC_ANG_XX.wav", "sentence=ABC"),
    ("crema-d", "1001_DFA_CAL_XX.wav", "emotion=CAL"),
    ("crema-d", "1001_DFA_ANG_ZZ.wav", "level=ZZ"),
    ("crema-d", "1001-DFA-ANG-XX.wav", "not a CREMA-D name"),
])
def test_a_malformed_name_is_refused_naming_the_file_and_the_field(tmp_path, corpus, name, field):
    with pytest.raises(DatasetError) as caught:
        other_corpora.SPECS[corpus].parse(tmp_path / name)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / name)) and field in message


def test_the_table_maps_every_class_onto_ravdess_labels_or_drops_it():
    for corpus, table in other_corpora.EMOTION_TABLE.items():
        assert set(table.values()) - {None} <= set(config.EMOTIONS) - {"calm"}, corpus
    assert [c for c, t in other_corpora.EMOTION_TABLE.items() if None in t.values()] == ["emodb"]
    assert other_corpora.EMOTION_TABLE["tess"]["pleasant surprise"] == "surprised"
    # Every class each parser can produce is in the table.
    assert set(other_corpora.EMODB_EMOTIONS.values()) == set(other_corpora.EMOTION_TABLE["emodb"])
    assert set(other_corpora.TESS_EMOTIONS.values()) == set(other_corpora.EMOTION_TABLE["tess"])
    assert set(other_corpora.SAVEE_EMOTIONS.values()) == set(other_corpora.EMOTION_TABLE["savee"])
    assert set(other_corpora.CREMA_D_EMOTIONS.values()) == set(other_corpora.EMOTION_TABLE["crema-d"])


def test_speaker_tables_match_the_corpora_documentation():
    genders = other_corpora.EMODB_SPEAKERS
    assert sorted(s for s, g in genders.items() if g == "male") == ["03", "10", "11", "12", "15"]
    assert sorted(s for s, g in genders.items() if g == "female") == ["08", "09", "13", "14", "16"]
    assert set(other_corpora.SAVEE_SPEAKERS.values()) == {"male"} and len(other_corpora.SAVEE_SPEAKERS) == 4
    assert set(other_corpora.TESS_SPEAKERS.values()) == {"female"}
    assert len(other_corpora.CREMA_D_FEMALE) == 43
    assert other_corpora.CREMA_D_FEMALE <= set(other_corpora.CREMA_D_ACTORS)


# --- find_corpus -----------------------------------------------------------------------------

@pytest.mark.parametrize("corpus, n_clips, dropped, speakers", [
    ("emodb", 12, {"boredom": 2}, {"03": "male", "08": "female"}),
    ("tess", 14, {}, {"OAF": "female", "YAF": "female"}),
    ("savee", 14, {}, {"DC": "male", "KL": "male"}),
    ("crema-d", 12, {}, {"1001": "male", "1002": "female"}),
])
def test_a_generated_tree_is_found_labelled_and_its_dropped_classes_counted(tmp_path, corpus, n_clips,
                                                                             dropped, speakers):
    make_corpus_tree(tmp_path / corpus, corpus)
    manifest, skipped, counted = datasets.find_corpus(tmp_path / corpus, corpus=corpus)
    assert len(manifest) == n_clips and skipped.empty and counted == dropped
    assert list(manifest.columns) == other_corpora.CORPUS_COLUMNS
    assert manifest.groupby("actor")["gender"].first().to_dict() == speakers
    assert set(manifest["emotion"]) == set(other_corpora.EMOTION_TABLE[corpus].values()) - {None}
    assert (manifest["sample_rate"] > 0).all() and manifest["duration"].between(0.55, 0.65).all()


def test_bad_and_misnamed_files_are_skipped_with_their_reason(tmp_path):
    root = tmp_path / "emodb"
    make_corpus_tree(root, "emodb", names=["03a01Wa.wav", "08a01Na.wav", "03a01La.wav"])
    (root / "03a02Wa.wav").write_bytes(b"")                              # empty
    (root / "03a03Wa.wav").write_bytes(b"RIFF\x00\x00")                 # not audio
    make_corpus_tree(root, "emodb", names=["04a01Wa.wav", "03a01Xa.wav", "copy/03a01Wa.wav"])
    (root / "._03a01Wa.wav").write_bytes(b"\x00\x05\x16\x07")           # macOS AppleDouble
    (root / "notes.txt").write_text("not audio, not listed")
    with pytest.warns(UserWarning, match="skipping"):
        manifest, skipped, dropped = datasets.find_corpus(root, corpus="emodb")
    assert manifest["clip_id"].tolist() == ["03a01Wa", "08a01Na"]
    assert dropped == {"boredom": 1}
    reasons = dict(zip([p.split("emodb/")[1] for p in skipped["path"]], skipped["reason"]))
    assert reasons.keys() == {"03a02Wa.wav", "03a03Wa.wav", "04a01Wa.wav", "03a01Xa.wav",
                              "copy/03a01Wa.wav", "._03a01Wa.wav"}
    assert "empty file" in reasons["03a02Wa.wav"]
    assert "not a readable audio file" in reasons["03a03Wa.wav"]
    assert "speaker=04" in reasons["04a01Wa.wav"] and "emotion='X'" in reasons["03a01Xa.wav"]
    assert reasons["copy/03a01Wa.wav"].startswith("duplicate of")
    assert "hidden file" in reasons["._03a01Wa.wav"]


def test_on_error_raise_stops_at_the_first_unusable_file(tmp_path):
    root = tmp_path / "savee"
    make_corpus_tree(root, "savee", names=["AudioData/DC/a01.wav", "AudioData/DC/x01.wav"])
    with pytest.raises(DatasetError, match=r"x01\.wav: file name is not a SAVEE name"):
        datasets.find_corpus(root, corpus="savee", on_error="raise")


def test_unknown_corpus_missing_folder_and_empty_tree_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="corpus='iemocap' must be one of ravdess, emodb"):
        datasets.find_corpus(tmp_path, corpus="iemocap")
    with pytest.raises(DatasetError, match="TESS root .* is not a folder"):
        datasets.find_corpus(tmp_path / "nowhere", corpus="tess")
    make_corpus_tree(tmp_path / "bored", "emodb", names=["03a01La.wav"])
    with pytest.raises(DatasetError, match="no usable EmoDB speech files .*1 dropped"):
        datasets.find_corpus(tmp_path / "bored", corpus="emodb")


def test_ravdess_through_find_corpus_is_find_ravdess(ravdess_root):
    manifest, skipped = datasets.find_ravdess(ravdess_root)
    same, same_skipped, dropped = datasets.find_corpus(ravdess_root, corpus="ravdess")
    pd.testing.assert_frame_equal(manifest, same)
    assert dropped == {} and list(manifest.columns) == datasets.MANIFEST_COLUMNS


# --- the manifest command --------------------------------------------------------------------

def test_the_manifest_command_reads_another_corpus_and_reports_drops_and_skips(tmp_path, capsys):
    root = tmp_path / "emodb"
    make_corpus_tree(root, "emodb")
    (root / "03a02Wa.wav").write_bytes(b"")
    out = tmp_path / "manifest.csv"
    with pytest.warns(UserWarning):
        code = datasets.main(["manifest", str(root), "--corpus", "emodb", "--csv", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "dropped 2 boredom clips: no RAVDESS counterpart" in err
    assert "03a02Wa.wav: empty file" in err and "wrote 12 rows" in err
    table = pd.read_csv(out, dtype={"actor": str})
    assert len(table) == 12 and set(table["actor"]) == {"03", "08"}
    assert datasets.main(["manifest", str(root), "--corpus", "emodb", "--on-error", "raise"]) == 2
    assert "03a02Wa.wav: empty file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        datasets.main(["manifest", str(root), "--corpus", "iemocap"])


def test_the_manifest_command_still_defaults_to_ravdess(ravdess_root, capsys):
    assert datasets.main(["manifest", str(ravdess_root)]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(table.columns) == datasets.MANIFEST_COLUMNS and len(table) == 4
