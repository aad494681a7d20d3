"""Notebook 06 (case studies) under papermill with the smoke profile, and the prediction command
after a smoke run: the shipped models are used, never the stand-in's silently."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from notebook_support import PROJECT_ROOT

from helpers import config, standin

@pytest.fixture(scope="module")
def run06(smoke_run):
    smoke_run.ensure("06")
    return smoke_run


def test_on_the_stand_in_the_shipped_models_predict_exactly_as_they_were_trained(run06):
    summary = run06.metrics("06_case_studies")

    # The smoke run trains on the generated stand-in only: its models are never used silently,
    # the shipped ones (trained on the real RAVDESS) are, and the notebook says so.
    assert summary["emotion_model"] == "emotion_ours.keras" and summary["emotion_model_shipped"] is True
    assert summary["gender_model"] == "gender_ours.keras" and summary["gender_model_shipped"] is True
    assert summary["test_actors"] is None and summary["same_data_as_model"] is False
    # Every stand-in clip is unseen by them: all are checked, from the files and from the
    # functionals training extracts, which must agree exactly.
    assert summary["n_test_files"] == 24 * config.PROFILES["smoke"].clips_per_actor
    assert summary["preprocessing_identical"] is True
    assert summary["file_vs_cached_agreement"] == 1.0
    assert summary["file_vs_cached_max_abs_difference"] < 1e-6
    assert summary["accuracy_files"] == summary["accuracy_cached_clean"]
    assert summary["recomputed_accuracy"] is None and summary["reported_accuracy"] is None
    executed = (run06.outputs / "notebooks" / "06_case_studies.ipynb").read_text()
    assert "shipped with the project: no real-data run in this checkout" in executed
    assert {"parameters", "seed", "versions", "data_fingerprint"} <= set(summary)


def test_emotion_case_study_shows_clips_of_distinct_emotions(run06):
    table = run06.table("case_study_emotion")

    assert 1 <= len(table) <= 4 and table["true_emotion"].is_unique
    assert set(table["predicted_emotion"]) <= set(config.EMOTIONS)
    assert table[["p_predicted", "p_true"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["p_predicted"] >= table["p_true"]).all() and (table["windows"] == 1).all()
    assert (run06.outputs / "figures" / "case_study_emotion.png").stat().st_size > 5_000


def test_gender_case_study_uses_voices_outside_the_corpus(run06):
    table = run06.table("case_study_gender")

    assert table["voice"].tolist() == list(standin.HELD_OUT_VARIANTS)
    assert not set(table["voice"]) & {voice.variant for voice in standin.ACTOR_VOICES}
    assert sorted(table["true_gender"]) == ["female", "female", "male", "male"]
    # The shipped functionals models describe the whole ~7 s recording with one vector.
    assert table["ok"].all() and (table["windows"] == 1).all()
    assert table["p_female"].between(0, 1).all()
    assert set(table["predicted_gender"]) <= {"male", "female"}
    assert (run06.outputs / "figures" / "case_study_gender.png").is_file()


def test_bad_input_is_reported_beside_a_predicted_file(run06):
    table = run06.table("case_study_bad_input")

    assert table["ok"].tolist() == [True, False, False, False]
    assert table["error"].tolist()[1:] == ["empty file (0 bytes)",
                                           "all-silent: the analysed window has no signal above -120 dBFS",
                                           "file or folder not found"]
    executed = (run06.outputs / "notebooks" / "06_case_studies.ipynb").read_text()
    assert "FileUpload" in executed or "application/vnd.jupyter.widget-view+json" in executed


def test_the_command_uses_the_shipped_models_over_the_stand_in_ones(run06):
    folder = run06.standin / "ravdess" / "Actor_01"
    clips = sorted(folder.glob("*.wav"))[:4]

    result = subprocess.run([sys.executable, "-m", "helpers.predict", *map(str, clips), "--json"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, env=run06.env, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(result.stdout)
    assert len(records) == 4 and all(r["ok"] and r["windows"] == 1 for r in records)
    assert {r["emotion_model"] for r in records} == {"emotion_ours.keras (shipped)"}
    assert {r["gender_model"] for r in records} == {"gender_ours.keras (shipped)"}
    assert f"emotion model: {PROJECT_ROOT / 'models' / 'emotion_ours.keras'}" in result.stderr
    # Named explicitly, a model the notebooks trained on the stand-in is still used.
    named = subprocess.run([sys.executable, "-m", "helpers.predict", str(clips[0]),
                            "--json", "--emotion-model", "emotion_clean_speaker-independent"],
                           capture_output=True, text=True, cwd=PROJECT_ROOT, env=run06.env, timeout=600)
    assert named.returncode == 0, named.stderr[-3000:]
    assert json.loads(named.stdout)[0]["emotion_model"] == "emotion_clean_speaker-independent.keras"
