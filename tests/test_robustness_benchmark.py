"""The robustness benchmark's recording chains, on a generated clip (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from conftest import write_clip

from benchmarks import robustness
from helpers import channel, config, models, recipes, training
from helpers.errors import ProjectError


@pytest.mark.parametrize("name, rate", [("file-16k", 16_000), ("file-22k", 22_050), ("file-8k", 8_000)])
def test_a_file_rate_condition_delivers_the_same_speech_as_a_file_at_that_rate(tmp_path, name, rate):
    clip = write_clip(tmp_path / "clip.wav", sample_rate=48_000, duration_s=1.0, frequency=300.0)
    folder = tmp_path / name
    folder.mkdir()

    [copy] = robustness.transformed_copies([str(clip)], robustness.get_condition(name), folder, seed=0)

    delivered, delivered_rate = soundfile.read(copy, dtype="float32")
    original, _ = soundfile.read(clip, dtype="float32")
    assert delivered_rate == rate and len(delivered) == int(np.ceil(len(original) * rate / 48_000))
    # The same tone, at the same level.
    assert np.sqrt(np.mean(delivered ** 2)) == pytest.approx(np.sqrt(np.mean(original ** 2)), rel=0.02)
    assert robustness.get_condition(name).description == f"the same speech as a {rate / 1000:g} kHz file"


def test_the_channel_conditions_keep_the_files_own_rate_and_an_unknown_one_is_named(tmp_path):
    clip = write_clip(tmp_path / "clip.wav", sample_rate=48_000, duration_s=1.0)
    folder = tmp_path / "out"
    folder.mkdir()
    [copy] = robustness.transformed_copies([str(clip)], robustness.get_condition("resample-16k"), folder, seed=0)
    assert soundfile.info(copy).samplerate == 48_000
    assert robustness.get_condition("resample-16k") is channel.CONDITIONS["resample-16k"]
    # The file-rate deliveries never join the conditions the training copies are drawn from.
    assert not set(robustness.FILE_RATES) & set(channel.CONDITIONS)
    with pytest.raises(ProjectError, match="'file-12k' is unknown.*'noise-20db', 'file-8k'"):
        robustness.get_condition("file-12k")


def test_the_benchmark_scores_as_the_recipe_evaluates_averaging_its_test_time_speeds():
    recipe = recipes.get_recipe("emotion", "ours-robust").for_profile(config.get_profile("full"))
    assert recipe.test_time_speeds  # (the shipped recipe averages over speeds)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 12)).astype(np.float32)
    augmented = [x + rng.normal(scale=0.5, size=x.shape).astype(np.float32) for _ in recipe.speed_perturbation]
    model = models.build_functionals_mlp((12,), n_classes=len(config.EMOTIONS), hidden_units=0, seed=0,
                                         normalization=(x.mean(axis=0), x.std(axis=0)))
    rows = np.array([1, 4, 7])
    inputs = robustness.clean_inputs(recipe, x, augmented, rows)
    assert len(inputs) == 1 + len(recipe.test_time_speeds)
    scored = robustness.probabilities(model, recipe, inputs)
    np.testing.assert_allclose(scored, training.predict_recipe(model, recipe, x, rows, augmented=augmented),
                               rtol=1e-5, atol=1e-6)
    # Not the speed-1 probabilities alone (what the benchmark scored before session 16).
    assert not np.allclose(scored, training.predict_proba(model, x[rows]), atol=1e-4)
