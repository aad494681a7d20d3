"""The quality benchmark: fold definitions, refused inputs, and its JSON lines on a tiny tree."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_ravdess_tree

from benchmarks import quality
from helpers import config, datasets, experiments, recipes, splits


@pytest.mark.parametrize("text, message", [
    ("[[1, 2], [3, 4", "not valid JSON"),
    ('{"fold": [1, 2]}', "expected a non-empty JSON list"),
    ("[]", "expected a non-empty JSON list"),
    ("[[1, 2], 3]", "fold 2 is 3; expected a list"),
    ("[[1, 2], []]", "fold 2 is empty"),
    ("[[1, 25]]", "actor 25; RAVDESS actors are 1-24"),
    ("[[0, 2]]", "actor 0; RAVDESS actors are 1-24"),
    ('[[1, "2"]]', "holds '2'; expected whole actor numbers"),
    ("[[1, 2.5]]", "holds 2.5"),
    ("[[1, 2], [2, 3]]", "actor 2 is in fold 1 and fold 2"),
])
def test_a_bad_folds_file_is_refused_with_the_problem_named(tmp_path, text, message):
    path = tmp_path / "folds.json"
    path.write_text(text)
    with pytest.raises(splits.SplitError, match="--folds .*folds.json") as error:
        quality.read_folds(path)
    assert message in str(error.value)


def test_the_command_refuses_bad_folds_before_any_work(tmp_path, capsys):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4))
    path = tmp_path / "folds.json"
    path.write_text("[[1, 2], [2, 3]]")
    assert quality.main(["--ravdess", str(tmp_path / "ravdess"), "--folds", str(path)]) == 2
    assert "actor 2 is in fold 1 and fold 2" in capsys.readouterr().err
    assert quality.main(["--ravdess", str(tmp_path / "ravdess"), "--folds", str(tmp_path / "none.json")]) == 2
    assert "none.json: cannot be read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality.main(["--ravdess", str(tmp_path / "ravdess"), "--recipes", "ours,best"])


def test_fold_definitions_keep_validation_inside_the_training_actors(tmp_path):
    make_ravdess_tree(tmp_path / "ravdess", actors=tuple(range(1, 9)))
    manifest, _ = datasets.find_ravdess(tmp_path / "ravdess")
    folds = splits.folds_from_test_actors(manifest, [[1, 2], [3, 4, 5, 6]], seed=0)
    for split, test in zip(folds, ([1, 2], [3, 4, 5, 6])):
        assert list(split.test_actors) == test
        assert len(split.validation_actors) == 2
        assert not set(split.validation_actors) & set(test)
        assert set(split.train_actors) | set(split.validation_actors) | set(test) == set(range(1, 9))
        # One female (even) and one male (odd) validation actor.
        assert sorted(a % 2 for a in split.validation_actors) == [0, 1]
    with pytest.raises(splits.SplitError, match="test actors \\[9\\] have no items"):
        splits.folds_from_test_actors(manifest, [[9]], seed=0)


def test_baseline_lines_have_the_documented_keys(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4, 5, 6), emotions=(1, 5),
                      intensities=(1,), statements=(1, 2), duration_s=0.6)
    folds = tmp_path / "folds.json"
    folds.write_text("[[1, 2], [3, 4]]")
    output = tmp_path / "out.jsonl"
    code = quality.main(["--ravdess", str(tmp_path / "ravdess"), "--task", "gender",
                         "--recipes", "egemaps", "--folds", str(folds), "--output", str(output)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["recipe"], line["mode"]) for line in lines] == [
        ("egemaps", "single-clip"), ("egemaps", "speaker-adaptive")]
    for line in lines:
        assert set(line) == {"task", "recipe", "mode", "folds", "uar_mean", "uar_std",
                             "accuracy_mean", "accuracy_std", "macro_f1_mean", "train_seconds",
                             "train_samples_per_s"}
        assert [fold["test_actors"] for fold in line["folds"]] == [[1, 2], [3, 4]]
        assert all(0 <= fold["uar"] <= 1 for fold in line["folds"])
    assert [json.loads(line) for line in output.read_text().splitlines()] == lines
    # Gender's speaker-adaptive mode makes one decision per test speaker (two speakers with
    # equally many clips per fold), so each fold scores 0, 0.5 or 1; standardising each speaker's
    # features instead (the emotion mode) gives clip-level fractions.
    adaptive = lines[1]["folds"]
    assert all(fold["accuracy"] in (0.0, 0.5, 1.0) for fold in adaptive)


def test_gender_speaker_adaptive_pools_the_single_clip_decisions(tmp_path):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4, 5, 6), emotions=(1,), intensities=(1,),
                      statements=(1, 2), duration_s=0.6)
    items = datasets.find_ravdess(tmp_path / "ravdess")[0].reset_index(drop=True)
    split = splits.folds_from_test_actors(items, [[1, 2]], seed=0)[0]
    clip = np.linspace(0.1, 0.9, 2 * len(split.test)).reshape(-1, 2)
    pooled = quality.adapt_outputs("gender", "speaker-adaptive", clip, items, split)
    actors = items["actor"].to_numpy()[split.test]
    for actor in (1, 2):
        assert np.allclose(pooled[actors == actor], clip[actors == actor].mean(axis=0))
    assert quality.adapt_outputs("gender", "single-clip", clip, items, split) is clip
    assert quality.adapt_outputs("emotion", "speaker-adaptive", clip, items, split) is clip


def test_ablation_trains_every_variant_on_the_same_folds_with_the_copies_it_takes(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4, 5, 6), emotions=(1, 5),
                      intensities=(1,), statements=(1, 2), duration_s=0.6)
    items = datasets.find_ravdess(tmp_path / "ravdess")[0].reset_index(drop=True)
    recipe = recipes.get_recipe("emotion", "ours")
    # Stand-in functionals (extracting ComParE is tested elsewhere): the emotion moves a few
    # features, and each perturbed copy is the clip's own features plus its own small noise.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(items), 12)).astype(np.float32)
    x[:, :3] += 2.0 * (items["emotion"].to_numpy() == "angry")[:, None]
    copies = [x + 0.1 * rng.standard_normal(x.shape).astype(np.float32)
              for _ in range(len(recipe.speed_perturbation) + recipe.channel_copies)]
    monkeypatch.setattr(experiments, "recipe_features", lambda recipe, items: (x, copies))
    trained = []
    real_train_fold = quality.train_fold

    def train_fold(recipe, x, y, split, **kwargs):
        trained.append((recipe, len(kwargs["augmented"]), tuple(split.test_actors)))
        return real_train_fold(recipe, x, y, split, **kwargs)

    monkeypatch.setattr(quality, "train_fold", train_fold)
    folds = tmp_path / "folds.json"
    folds.write_text("[[1, 2], [3, 4]]")
    # Two folds: each variant must train on both (one after the other: variant by variant).
    assert quality.main(["--ravdess", str(tmp_path / "ravdess"), "--recipes", "ours", "--ablation",
                         "--modes", "single-clip", "--folds", str(folds)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    variants = recipes.ablation(recipe)
    assert [line["variant"] for line in lines] == list(variants)
    assert lines[0]["variant"] == "full recipe" and lines[0]["delta_uar_mean"] == 0
    for line in lines:
        assert (line["recipe"], line["mode"]) == ("ours", "single-clip")
        assert [fold["test_actors"] for fold in line["folds"]] == [[1, 2], [3, 4]]
        assert line["delta_uar_mean"] == pytest.approx(line["uar_mean"] - lines[0]["uar_mean"], abs=1e-6)
    # Each variant, as the full profile makes it, trained on both folds with the copies it takes.
    full = config.get_profile("full")
    expected = [(variant.for_profile(full),
                 len(experiments.matching_copies(recipe, variant, copies)), test)
                for variant in variants.values() for test in ((1, 2), (3, 4))]
    assert trained == expected
    copies_taken = {name: n for name, (_, n, _) in zip(variants, trained[::2])}
    assert copies_taken["without speed perturbation"] == recipe.channel_copies > 0
    assert copies_taken["without multi-condition copies"] == len(recipe.speed_perturbation) > 0
    # Those lines without --ablation are the plain recipe's.
    assert quality.main(["--ravdess", str(tmp_path / "ravdess"), "--recipes", "ours",
                         "--modes", "single-clip", "--folds", str(folds)]) == 0
    (plain,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "variant" not in plain and plain["folds"] == lines[0]["folds"]


def test_ablation_is_refused_for_a_recipe_without_parts(tmp_path, capsys):
    make_ravdess_tree(tmp_path / "ravdess", actors=(1, 2, 3, 4))
    with pytest.raises(SystemExit):
        quality.main(["--ravdess", str(tmp_path / "ravdess"), "--recipes", "ours,compare", "--ablation"])
    assert "--ablation takes --recipes from ('ours', 'ours-robust'); got 'ours,compare'" in capsys.readouterr().err
    assert quality.parse_args(["--ravdess", "x", "--ablation"]).recipe_list == ["ours"]
    assert quality.parse_args(["--ravdess", "x"]).recipe_list == ["ours", "compare", "egemaps"]
