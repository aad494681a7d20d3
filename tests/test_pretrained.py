"""The shipped models: their card, byte-identical rebuilds, and prediction right after install.

The shipped files themselves are trained on the real RAVDESS, which the tests never read: the
tests check the tracked files against their card and rebuild tiny models from generated audio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_ravdess_tree, write_clip
from helpers import config, functionals, pretrained, recipes

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_file_matches_its_card():
    listed = pretrained.card_hashes()

    assert set(listed) == {"emotion_ours.keras", "emotion_ours.json", "gender_ours.keras", "gender_ours.json"}
    assert [p.name for p in pretrained.check_shipped()] == sorted(listed)
    for name in ("emotion_ours.json", "gender_ours.json"):
        sidecar = json.loads((pretrained.SHIPPED_DIR / name).read_text())
        assert sidecar["shipped"] is True and sidecar["data"] == "real" and sidecar["mode"] == "single-clip"
        assert sidecar["recipe"]["name"] == pretrained.SHIPPED_RECIPE
        assert len(sidecar["train_actors"]) == 24 and "created" not in sidecar
    emotion = json.loads((pretrained.SHIPPED_DIR / "emotion_ours.json").read_text())
    assert emotion["features"] == "compare"
    assert emotion["recipe"]["level_db"] == -20.0 and emotion["recipe"]["channel_copies"] == 2
    shipped_emotion = recipes.get_recipe("emotion", pretrained.SHIPPED_RECIPE)
    assert {key: emotion["recipe"].get(key) for key in shipped_emotion.signal_options} == shipped_emotion.signal_options
    # Trained on the functionals this version computes (16 kHz analysis), or refused.
    assert emotion["functionals"] == functionals.describe()
    # Gender: the frame mixtures of the recipe as it stands, on this version's log-mel window.
    gender = json.loads((pretrained.SHIPPED_DIR / "gender_ours.json").read_text())
    recipe = recipes.get_recipe("gender", pretrained.SHIPPED_RECIPE)
    assert gender["features"] == "log_mel" and gender["feature_config"] == config.FEATURES.to_dict()
    assert gender["recipe"]["hyperparameters"] == json.loads(json.dumps(dict(recipe.hyperparameters)))


def test_a_functionals_model_from_before_the_analysis_rate_is_refused_by_prediction(tmp_path):
    import shutil

    from helpers import predict

    for suffix in (".keras", ".json"):
        shutil.copy(pretrained.SHIPPED_DIR / f"emotion_ours{suffix}", tmp_path / f"old{suffix}")
    sidecar = json.loads((tmp_path / "old.json").read_text())
    del sidecar["functionals"]  # as written before functionals were analysed at 16 kHz
    (tmp_path / "old.json").write_text(json.dumps(sidecar))
    with pytest.raises(predict.PredictionError, match=r"old\.keras.*own rate.*Train it again"):
        predict.load_model(tmp_path / "old.keras", task="emotion")


def test_prediction_prepares_a_recording_as_the_model_s_recipe_did_also_from_an_older_sidecar(tmp_path):
    import shutil

    from helpers import predict

    shipped = predict.load_model(pretrained.SHIPPED_DIR / "emotion_ours.keras", task="emotion")
    assert shipped.signal_options == recipes.get_recipe("emotion", pretrained.SHIPPED_RECIPE).signal_options
    for suffix in (".keras", ".json"):
        shutil.copy(pretrained.SHIPPED_DIR / f"emotion_ours{suffix}", tmp_path / f"old{suffix}")
    sidecar = json.loads((tmp_path / "old.json").read_text())
    sidecar["recipe"].pop("trim_floor_db", None)  # as written before session 16
    (tmp_path / "old.json").write_text(json.dumps(sidecar))
    old = predict.load_model(tmp_path / "old.keras", task="emotion")
    assert old.signal_options == {**shipped.signal_options, "trim_floor_db": None}


def test_the_card_says_what_the_issue_asks():
    card = (pretrained.SHIPPED_DIR / pretrained.CARD_NAME).read_text()

    for needed in ("CC BY-NC-SA 4.0", "Livingstone", "24 professional North-American", "not for",
                   "Spontaneous", "Other languages", "children", "clinical", "employment",
                   pretrained.REBUILD_COMMAND, "| neutral |", "| surprised |", "| female |"):
        assert needed in card, needed


def test_an_edited_file_or_a_file_missing_from_the_card_is_refused(tmp_path):
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "a.keras").write_bytes(b"weights")
    digest = pretrained.sha256(folder / "a.keras")
    (folder / pretrained.CARD_NAME).write_text(f"| file | bytes | sha256 |\n| `a.keras` | 7 | `{digest}` |\n")

    assert pretrained.check_shipped(folder) == [folder / "a.keras"]
    (folder / "a.keras").write_bytes(b"weightz")
    with pytest.raises(pretrained.ShippedModelError, match=r"a\.keras: does not match its model card"):
        pretrained.check_shipped(folder)
    with pytest.raises(pretrained.ShippedModelError, match=r"b\.json: not listed"):
        pretrained.check_shipped(folder, names=["b.json"])
    assert pretrained.main(["verify", "--folder", str(folder)]) == 2


def _tiny_model(seed: int):
    from helpers import models

    return models.build_functionals_mlp((12,), normalization=(np.zeros(12), np.ones(12)), seed=seed,
                                        n_classes=3, hidden_units=0)


def test_a_saved_archive_depends_on_the_model_only(tmp_path):
    from helpers import model_files

    paths = []
    import keras

    for attempt in range(2):
        keras.utils.clear_session()  # as a build does: layer names do not depend on history
        model = _tiny_model(seed=3)  # a new Python object each time, saved at another moment
        path, _ = model_files.save_model_with_sidecar(model, tmp_path / f"m{attempt}.keras",
                                                      sidecar={"labels": ["a", "b", "c"], "feature_config": config.FEATURES})
        pretrained.deterministic_archive(path)
        paths.append(path)

    assert paths[0].read_bytes() == paths[1].read_bytes()
    reloaded = keras.saving.load_model(paths[0], compile=False)
    x = np.random.default_rng(0).standard_normal((4, 12)).astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), _tiny_model(seed=3).predict(x, verbose=0), rtol=1e-6)


def test_two_builds_from_the_same_audio_write_the_same_bytes(tmp_path):
    tree = tmp_path / "ravdess"
    make_ravdess_tree(tree, actors=range(1, 7), emotions=(1, 5), duration_s=1.2)
    folds = [[1, 2], [3, 4], [5, 6]]
    outputs = []
    for attempt in range(2):
        folder = tmp_path / f"models{attempt}"
        results = pretrained.build(tree, folder=folder, folds=folds, profile="smoke", say=lambda m: None)
        outputs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir())})

    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"emotion_ours.keras", "emotion_ours.json", "gender_ours.keras",
                               "gender_ours.json", pretrained.CARD_NAME}
    assert [p.name for p in pretrained.check_shipped(tmp_path / "models0")] == sorted(results["files"])
    assert [fold["test_actors"] for fold in results["emotion"]["folds"]] == folds
    card = outputs[0][pretrained.CARD_NAME].decode()
    assert f"| 1, 2 | {results['emotion']['folds'][0]['uar']:.3f} |" in card


def test_prediction_right_after_install_uses_the_checked_shipped_models(tmp_path):
    clip = write_clip(tmp_path / "someone.wav", sample_rate=16_000, duration_s=3.0)
    env = {**os.environ, "SER_OUTPUTS_DIR": str(tmp_path / "fresh_outputs"), "TF_CPP_MIN_LOG_LEVEL": "2"}

    done = subprocess.run([sys.executable, "-m", "helpers.predict", str(clip), "--json"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    [record] = json.loads(done.stdout)
    assert record["ok"] and record["emotion"] in config.EMOTIONS and record["gender"] in config.GENDERS
    assert record["emotion_model"] == "emotion_ours.keras (shipped)"
    assert record["gender_model"] == "gender_ours.keras (shipped)"
    assert sum(record["emotion_probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
