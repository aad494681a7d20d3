"""Cross-corpus scores, the benchmark's argument errors and JSON lines, and notebook 06's section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_ravdess_tree
from corpora_trees import emodb_names, make_corpus_tree

from benchmarks import crosscorpus as benchmark
from helpers import config, crosscorpus, io, predict, pretrained, splits, training

NOTEBOOK = config.NOTEBOOKS_DIR / "06_case_studies.ipynb"


# --- arguments -------------------------------------------------------------------------------

def test_corpus_arguments_are_read_and_bad_ones_refused_naming_the_argument(tmp_path):
    (tmp_path / "e").mkdir()
    assert crosscorpus.parse_corpus_argument(f"EmoDB:{tmp_path / 'e'}") == ("emodb", (tmp_path / "e").resolve())
    for text, message in [("emodb", "must be NAME:DIR"), (f":{tmp_path}", "must be NAME:DIR"),
                          ("emodb:", "must be NAME:DIR"), (f"iemocap:{tmp_path}", "unknown corpus 'iemocap'"),
                          (f"ravdess:{tmp_path}", "unknown corpus 'ravdess'"),
                          (f"tess:{tmp_path / 'nowhere'}", "nowhere is not a folder")]:
        with pytest.raises(crosscorpus.CrossCorpusError, match="--test") as caught:
            crosscorpus.parse_corpus_argument(text)
        assert message in str(caught.value)
    assert crosscorpus.parse_corpus_list("") == {}
    assert list(crosscorpus.parse_corpus_list(f"emodb:{tmp_path / 'e'}, tess:{tmp_path}")) == ["emodb", "tess"]
    with pytest.raises(crosscorpus.CrossCorpusError, match="CROSS_CORPUS .* names corpus 'emodb' twice"):
        crosscorpus.parse_corpus_list(f"emodb:{tmp_path},emodb:{tmp_path / 'e'}")


@pytest.mark.parametrize("arguments, message", [
    (["--test", "emodb"], "--test 'emodb' must be NAME:DIR"),
    (["--test", "iemocap:{tmp}"], "unknown corpus 'iemocap'"),
    (["--test", "emodb:{tmp}/nowhere"], "nowhere is not a folder"),
    (["--test", "emodb:{tmp}", "--test", "emodb:{tmp}"], "corpus 'emodb' is given twice"),
    ([], "--test NAME:DIR is required"),
    (["--test", "emodb:{tmp}"], "--ravdess DIR is required"),
    (["--test", "emodb:{tmp}", "--ravdess", "{tmp}/none"], "--ravdess '{tmp}/none' is not a folder"),
    (["--test", "emodb:{tmp}", "--ravdess", "{tmp}", "--recipes", "ours,best"], "--recipes 'ours,best': unknown ['best']"),
    (["--test", "emodb:{tmp}", "--shipped", "--recipes", "ours"], "--shipped exclude each other"),
    (["--test", "emodb:{tmp}", "--shipped", "--modes", "adaptive"], "--modes 'adaptive': unknown"),
])
def test_bad_benchmark_arguments_stop_with_the_argument_named(tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        benchmark.main([a.format(tmp=tmp_path) for a in arguments])
    assert stopped.value.code == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


# --- scores ----------------------------------------------------------------------------------

def test_scores_count_calm_as_neutral_and_leave_out_classes_the_corpus_lacks():
    items = pd.DataFrame({"emotion": ["neutral", "neutral", "angry", "sad"],
                          "gender": ["male", "female", "female", "male"]})
    p = np.zeros((4, len(config.EMOTIONS)))
    p[0, config.EMOTIONS.index("calm")] = 0.6           # calm → neutral: right
    p[0, config.EMOTIONS.index("happy")] = 0.4
    p[1, config.EMOTIONS.index("surprised")] = 0.7      # EmoDB has no surprised: next best, sad
    p[1, config.EMOTIONS.index("sad")] = 0.3
    p[2, config.EMOTIONS.index("angry")] = 1.0
    p[3, config.EMOTIONS.index("angry")] = 1.0
    result = crosscorpus.score(items, p, corpus="emodb", p_female=np.array([0.2, 0.9, 0.1, 0.4]))
    assert result["classes"] == ["neutral", "happy", "sad", "angry", "fearful", "disgust"]
    assert result["per_class_recall"] == {"neutral": 0.5, "happy": None, "sad": 0.0, "angry": 1.0,
                                          "fearful": None, "disgust": None}
    assert result["uar"] == 0.5 and result["accuracy"] == 0.5
    assert result["confusion"][0] == [1, 0, 1, 0, 0, 0] and result["confusion"][2][3] == 1
    assert result["gender_accuracy"] == 0.75
    # All of a clip's probability on a class EmoDB lacks: the tiny shared ones still decide.
    p[3] = 0.0
    p[3, config.EMOTIONS.index("surprised")] = 1.0 - 3e-300
    p[3, config.EMOTIONS.index("sad")] = 2e-300
    p[3, config.EMOTIONS.index("angry")] = 1e-300
    assert crosscorpus.score(items, p, corpus="emodb")["per_class_recall"]["sad"] == 1.0
    with pytest.raises(crosscorpus.CrossCorpusError, match="outside emodb's shared classes"):
        crosscorpus.score(items.assign(emotion="surprised"), p, corpus="emodb")
    with pytest.raises(crosscorpus.CrossCorpusError, match="expected \\(4, 8\\)"):
        crosscorpus.score(items, p[:, :6], corpus="emodb")


def test_speaker_standardisation_uses_each_speakers_own_clips_and_each_copy_alone():
    items = pd.DataFrame({"actor": ["a", "a", "b", "b"]})
    x = np.array([[1.0, 10.0], [3.0, 30.0], [100.0, 0.0], [300.0, 2.0]])
    z = predict.speaker_standardised(x, items["actor"])
    np.testing.assert_allclose(z, [[-1, -1], [1, 1], [-1, -1], [1, 1]])
    stacked = predict.speaker_standardised(np.stack([x, 2 * x + 5], axis=1), items["actor"])
    np.testing.assert_allclose(stacked[:, 1], z, atol=1e-6)


# --- end to end ------------------------------------------------------------------------------

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(config, "TABLES_DIR", tmp_path / "tables")


def test_the_benchmark_trains_a_recipe_on_ravdess_and_scores_each_corpus(tmp_path, capsys, cache):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4), emotions=tuple(range(1, 9)), duration_s=0.6)
    make_corpus_tree(tmp_path / "emodb", "emodb")
    make_corpus_tree(tmp_path / "tess", "tess")
    (tmp_path / "tess" / "OAF_back_calm.wav").write_bytes(b"")
    output = tmp_path / "lines.jsonl"
    with pytest.warns(UserWarning, match="skipping"):
        code = benchmark.main(["--ravdess", str(tmp_path / "ravdess"), "--test", f"emodb:{tmp_path / 'emodb'}",
                               "--test", f"tess:{tmp_path / 'tess'}", "--recipes", "egemaps",
                               "--output", str(output)])
    assert code == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.splitlines()[-1])
    assert line["recipe"] == "egemaps" and line["train_clips"] == 4 * 8
    assert line["validation_actors"] is None and line["modes_not_scored"] == {}
    emodb, tess = line["corpora"]["emodb"], line["corpora"]["tess"]
    assert (emodb["n_clips"], emodb["dropped"], emodb["skipped"]) == (12, {"boredom": 2}, 0)
    assert (tess["n_clips"], tess["skipped"]) == (14, 1) and "OAF_back_calm.wav" in tess["skipped_examples"][0]
    for result, n_classes in ((emodb, 6), (tess, 7)):
        single, adaptive = result["modes"]["single-clip"], result["modes"]["speaker-adaptive"]
        for scores in (single, adaptive):
            assert len(scores["classes"]) == n_classes and 0 <= scores["uar"] <= 1
            assert np.array(scores["confusion"]).shape == (n_classes, n_classes)
            assert np.sum(scores["confusion"]) == result["n_clips"]
        assert 0 <= single["gender_accuracy"] <= 1 and 0 <= adaptive["gender_accuracy"] <= 1
    assert "surprised" in tess["modes"]["single-clip"]["per_class_recall"]
    assert "emodb: dropped {'boredom': 2}" in captured.err
    assert [json.loads(text) for text in output.read_text().splitlines()] == [line]


def test_the_original_recipes_validation_actors_come_from_ravdess_half_female_by_seed():
    items = pd.DataFrame({"actor": np.repeat(np.arange(1, 9), 3)})
    items["gender"] = np.where(items["actor"] % 2 == 1, "male", "female")
    split = benchmark.validation_split(items, seed=3)
    assert len(split.validation_actors) == 2 and {a % 2 for a in split.validation_actors} == {0, 1}
    assert set(split.train_actors) | set(split.validation_actors) == set(range(1, 9))
    assert split.test.size == 0 and split.validation.size == 6 and split.train.size == 18
    assert set(items["actor"].iloc[split.validation]) == set(split.validation_actors)
    assert benchmark.validation_split(items, seed=3).validation_actors == split.validation_actors
    assert len({benchmark.validation_split(items, seed=s).validation_actors for s in range(8)}) > 1
    with pytest.raises(splits.SplitError, match="2 female actors; holding out n_validation=4"):
        benchmark.validation_split(items[items["actor"] <= 4], seed=3, n_validation=4)
    with pytest.raises(splits.SplitError, match="n_validation=3 must be a positive even number"):
        benchmark.validation_split(items, seed=3, n_validation=3)


def test_the_benchmark_trains_the_original_cnns_on_ravdess_alone_and_scores_single_clip(
        tmp_path, capsys, cache, monkeypatch):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4), emotions=tuple(range(1, 9)), duration_s=0.6)
    make_corpus_tree(tmp_path / "emodb", "emodb")
    # The smoke profile's one epoch (of two steps for gender) stands in for full's schedule.
    monkeypatch.setitem(config.PROFILES, "full", config.PROFILES["smoke"])
    calls = []
    train_recipe = training.train_recipe

    def recording(recipe, x, labels, split, **kwargs):
        calls.append((recipe, np.shape(x), split))
        return train_recipe(recipe, x, labels, split, **kwargs)

    monkeypatch.setattr(training, "train_recipe", recording)
    output = tmp_path / "lines.jsonl"
    assert benchmark.main(["--ravdess", str(tmp_path / "ravdess"), "--test", f"emodb:{tmp_path / 'emodb'}",
                           "--recipes", "original", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.splitlines()[-1])
    assert [json.loads(text) for text in output.read_text().splitlines()] == [line]
    assert {"recipe", "source", "train_clips", "train_seconds", "validation_actors", "modes_not_scored",
            "epochs", "corpora"} <= set(line) and line["recipe"] == "original"

    # Both CNNs trained through the one training path on the 32 RAVDESS log-mels alone, stopping
    # on one female and one male RAVDESS actor: no EmoDB clip reached training or stopping.
    assert [(recipe.task, recipe.name, recipe.monitor) for recipe, _, _ in calls] == [
        ("emotion", "original", "val_loss"), ("gender", "original", "val_loss")]
    validation = line["validation_actors"]
    assert len(validation) == 2 and {actor % 2 for actor in validation} == {0, 1}
    for _, shape, split in calls:
        assert shape == (4 * 8, config.FEATURES.n_mels, config.FEATURES.n_frames)
        assert list(split.validation_actors) == validation and split.test.size == 0
        assert set(split.train_actors) == {1, 2, 3, 4} - set(validation) and split.validation.size == 2 * 8
    assert line["train_clips"] == 2 * 8 and line["epochs"]["emotion"]["run"] == 1
    assert line["epochs"]["gender"] == {"run": 1, "best": 1}

    emodb = line["corpora"]["emodb"]
    assert (emodb["n_clips"], emodb["dropped"]) == (12, {"boredom": 2})
    single = emodb["modes"]["single-clip"]
    assert len(single["classes"]) == 6 and 0 <= single["uar"] <= 1 and 0 <= single["accuracy"] <= 1
    assert np.sum(single["confusion"]) == 12 and 0 <= single["gender_accuracy"] <= 1
    assert emodb["modes"]["speaker-adaptive"] is None
    assert "no per-speaker standardisation of log-mels" in line["modes_not_scored"]["speaker-adaptive"]
    assert "original emotion: 1 epoch, best validation epoch" in captured.err
    assert "speaker-adaptive: not scored (speaker-adaptive standardises" in captured.err

    # Asked for no mode a log-mel CNN is scored in, it trains nothing and says why.
    assert benchmark.main(["--ravdess", str(tmp_path / "ravdess"), "--test", f"emodb:{tmp_path / 'emodb'}",
                           "--recipes", "original", "--modes", "speaker-adaptive"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert len(calls) == 2 and line["epochs"] is None and line["train_seconds"] == 0.0
    assert line["corpora"]["emodb"]["modes"] == {"speaker-adaptive": None}
    assert list(line["modes_not_scored"]) == ["speaker-adaptive"]


def test_the_shipped_models_and_notebook_06s_section_score_a_tiny_corpus(tmp_path, capsys, cache):
    make_corpus_tree(tmp_path / "emodb", "emodb", names=emodb_names(letters="WNL"))
    assert benchmark.main(["--test", f"emodb:{tmp_path / 'emodb'}", "--shipped"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["recipe"] == "shipped (ours-robust)"
    assert line["validation_actors"] is None and line["modes_not_scored"] == {}
    result = line["corpora"]["emodb"]
    assert (result["n_clips"], result["dropped"]) == (4, {"boredom": 2})
    assert set(result["modes"]) == {"single-clip", "speaker-adaptive"}
    assert result["modes"]["single-clip"]["gender_accuracy"] is not None
    assert result["modes"]["speaker-adaptive"]["gender_accuracy"] is not None
    assert result["modes"]["speaker-adaptive"]["per_class_recall"]["happy"] is None

    # Notebook 06's cross-corpus cells, run on the same corpus with the shipped models.
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(not cell.get("outputs") for cell in cells if cell["cell_type"] == "code")
    parameters = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    assert 'CROSS_CORPUS: str = ""' in parameters
    section = "".join(next(c for c in cells if "crosscorpus.evaluate_predictor" in "".join(c["source"]))["source"])
    predictor = predict.Predictor.load(pretrained.shipped_model("emotion"), pretrained.shipped_model("gender"))
    shown = []
    namespace = {"crosscorpus": crosscorpus, "io": io, "display": shown.append,
                 "predictor": predictor}
    exec(section, {**namespace, "cross_corpora": {}})
    assert "cross-corpus evaluation: not run" in capsys.readouterr().out
    exec(section, {**namespace, "cross_corpora": crosscorpus.parse_corpus_list(f"emodb:{tmp_path / 'emodb'}")})
    table = pd.read_csv(tmp_path / "tables" / "cross_corpus.csv")
    assert table[["corpus", "mode"]].values.tolist() == [["emodb", "single-clip"], ["emodb", "speaker-adaptive"]]
    assert table["uar"].tolist() == [result["modes"][m]["uar"] for m in ("single-clip", "speaker-adaptive")]
    assert list(shown[1].index) == result["modes"]["single-clip"]["classes"]


def test_speaker_adaptive_gender_is_one_decision_per_speaker():
    items = pd.DataFrame({"actor": ["03", "03", "03", "08", "08"],
                          "gender": ["male", "male", "male", "female", "female"],
                          "emotion": ["angry"] * 5})
    # Speaker 03's clips lean male on average though one clip says female; 08's lean female.
    p_female = np.array([0.9, 0.1, 0.2, 0.4, 0.8])
    assert crosscorpus.gender_for_mode(p_female, items, "single-clip") is p_female
    pooled = crosscorpus.gender_for_mode(p_female, items, "speaker-adaptive")
    assert np.allclose(pooled, [0.4, 0.4, 0.4, 0.6, 0.6])
    probabilities = np.tile(np.eye(len(config.EMOTIONS))[config.EMOTIONS.index("angry")], (5, 1))
    assert crosscorpus.score(items, probabilities, corpus="emodb", p_female=p_female)["gender_accuracy"] == 0.6
    assert crosscorpus.score(items, probabilities, corpus="emodb", p_female=pooled)["gender_accuracy"] == 1.0
    assert crosscorpus.gender_for_mode(None, items, "speaker-adaptive") is None
