"""Notebook 06 (case studies) under papermill with the smoke profile, and the prediction command
on the models the notebooks saved."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from notebook_support import PROJECT_ROOT

from helpers import config, corpus

GENDER_NOTEBOOK = any((PROJECT_ROOT / "notebooks").glob("05_*.ipynb"))


@pytest.fixture(scope="module")
def run06(smoke_run):
    smoke_run.ensure("06")
    return smoke_run


def test_prediction_agrees_with_the_training_features_and_the_models_own_numbers(run06):
    summary = run06.metrics("06_case_studies")
    sidecar = json.loads((run06.outputs / "models" / summary["emotion_model"]).with_suffix(".json").read_text())
    tuned = run06.outputs / "models" / "emotion_aggregation_speaker-independent_tuned.keras"

    # The default: the speaker-independent aggregation model, tuned when notebook 04 saved one.
    assert summary["emotion_model"] == (tuned.name if tuned.is_file()
                                        else "emotion_aggregation_speaker-independent.keras")
    assert summary["test_actors"] == sidecar["test_actors"] and summary["same_data_as_model"] is True
    assert summary["preprocessing_identical"] is True
    assert summary["n_test_files"] == len(sidecar["test_actors"]) * config.PROFILES["smoke"].clips_per_actor
    assert summary["file_vs_cached_agreement"] == 1.0
    assert summary["file_vs_cached_max_abs_difference"] < 1e-6
    assert summary["accuracy_files"] == summary["accuracy_cached_clean"]
    assert summary["recomputed_accuracy"] == pytest.approx(sidecar["metrics"]["accuracy"])
    assert summary["reported_accuracy"] == sidecar["metrics"]["accuracy"]
    assert summary["gender_model"] == ("gender.keras" if GENDER_NOTEBOOK else None)
    assert {"parameters", "seed", "versions", "data_fingerprint"} <= set(summary)


def test_emotion_case_study_shows_test_actor_clips(run06):
    table = run06.table("case_study_emotion")
    test_actors = run06.metrics("06_case_studies")["test_actors"]

    assert 1 <= len(table) <= 4 and table["true_emotion"].is_unique
    assert table["actor"].isin(test_actors).all()
    assert set(table["predicted_emotion"]) <= set(config.EMOTIONS)
    assert table[["p_predicted", "p_true"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["p_predicted"] >= table["p_true"]).all() and (table["windows"] == 1).all()
    assert (run06.outputs / "figures" / "case_study_emotion.png").stat().st_size > 5_000


def test_gender_case_study_uses_voices_outside_the_corpus(run06):
    table = run06.table("case_study_gender")

    assert table["voice"].tolist() == list(corpus.HELD_OUT_VARIANTS)
    assert not set(table["voice"]) & {voice.variant for voice in corpus.ACTOR_VOICES}
    assert sorted(table["true_gender"]) == ["female", "female", "male", "male"]
    assert table["ok"].all() and (table["windows"] == 2).all()  # ~7 s of speech: two windows
    if GENDER_NOTEBOOK:
        assert table["p_female"].between(0, 1).all()
        assert set(table["predicted_gender"]) <= {"male", "female"}
        assert (run06.outputs / "figures" / "case_study_gender.png").is_file()
    else:
        assert table["p_female"].isna().all()


def test_bad_input_is_reported_beside_a_predicted_file(run06):
    table = run06.table("case_study_bad_input")

    assert table["ok"].tolist() == [True, False, False, False]
    assert table["error"].tolist()[1:] == ["empty file (0 bytes)",
                                           "all-silent: the analysed window has no signal above -120 dBFS",
                                           "file or folder not found"]
    executed = (run06.outputs / "notebooks" / "06_case_studies.ipynb").read_text()
    assert "FileUpload" in executed or "application/vnd.jupyter.widget-view+json" in executed


def test_the_command_finds_the_notebooks_models(run06):
    actor = run06.metrics("06_case_studies")["test_actors"][0]
    folder = run06.standin / "ravdess" / f"Actor_{actor:02d}"

    result = subprocess.run([sys.executable, "-m", "helpers.predict", str(folder), "--json"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, env=run06.env, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(result.stdout)
    assert len(records) == 60 and all(r["ok"] and r["windows"] == 1 for r in records)
    assert f"emotion model: {run06.outputs / 'models' / run06.metrics('06_case_studies')['emotion_model']}" \
        in result.stderr
    assert all((r["gender"] is not None) == GENDER_NOTEBOOK for r in records)
