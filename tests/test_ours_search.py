"""The nested search of ``ours`` on tiny generated functionals: folds, trials, resume, Table 2."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pytest  # noqa: E402

from helpers import config, experiments, ours_search, recipes, splits, training  # noqa: E402
from tests.tuning_support import make_functionals  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

PROFILE = config.get_profile("smoke")
@pytest.fixture(scope="module")
def data():
    x, items = make_functionals()
    outer = splits.speaker_folds(items, n_folds=3, seed=1)
    recipe = recipes.get_recipe("emotion", "ours").replace(
        speed_perturbation=(), test_time_speeds=(), channel_copies=0).for_profile(PROFILE)
    return x, items, outer, recipe


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    x, items, outer, recipe = data
    folder = tmp_path_factory.mktemp("ours-sweep")
    kwargs = dict(recipe=recipe, split_list=outer[:2], seed=3, data_key="tiny:clean",
                  n_trials=3, n_inner=2, storage=f"sqlite:///{folder / 'study.db'}",
                  cache_folder=folder / "cache")
    messages = []
    sweep = ours_search.run_ours_sweep(x, items, progress=messages.append, **kwargs)
    return {"sweep": sweep, "kwargs": kwargs, "messages": messages}


def test_inner_folds_hold_out_the_test_actors_and_cover_the_rest(data):
    _, items, outer, _ = data
    actors = items["actor"].to_numpy()
    for split in outer:
        inner = ours_search.inner_splits(items, split, seed=3)
        assert len(inner) == 2  # 8 non-test actors in groups of 4, the test group's size
        outside = np.setdiff1d(np.arange(len(items)), split.test)
        held = np.concatenate([s.test for s in inner])
        assert sorted(held) == sorted(outside)  # every non-test item validates exactly once
        for part in inner:
            assert not np.intersect1d(part.train, split.test).size
            assert not np.intersect1d(part.test, split.test).size
            assert sorted(np.concatenate([part.train, part.test])) == sorted(outside)
            assert not set(actors[part.train]) & set(actors[part.test])
            genders = items["gender"].iloc[part.test].groupby(actors[part.test]).first()
            assert (genders == "female").sum() == (genders == "male").sum() == 2


def test_inner_folds_refuse_a_split_that_is_not_by_actor(data):
    _, items, _, _ = data
    with pytest.raises(ours_search.OursSearchError, match="actor-based"):
        ours_search.inner_splits(items, splits.original_split(items, seed=0), seed=0)


def test_search_runs_the_untuned_trial_first_and_chooses_the_best(finished):
    sweep = finished["sweep"]
    assert len(sweep.folds) == 2 and sweep.n_inner == 2
    for fold in sweep.folds:
        trials = fold.trials
        assert len(trials) == 3 and set(trials["state"]) <= {"complete", "pruned"}
        first = trials.iloc[0]
        assert first["untuned"] and first["l2"] == 0.004 and first["clip"] == 5.0
        complete = trials[trials["state"] == "complete"]
        assert fold.chosen_validation_uar == complete["val_uar"].max()
        best = complete.loc[complete["val_uar"].idxmax()]
        assert fold.chosen == {"l2": best["l2"], "clip": best["clip"]}
        assert fold.untuned_validation_uar == first["val_uar"]
        assert all(ours_search.L2_RANGE[0] <= v <= ours_search.L2_RANGE[1] for v in trials["l2"])
        assert set(trials["clip"]) <= set(ours_search.CLIP_CHOICES)
    table = sweep.chosen_table()
    assert list(table["outer_fold"]) == ["speaker-fold-1", "speaker-fold-2"]
    assert any("chose l2=" in m for m in finished["messages"])


def test_search_never_sees_the_outer_test_actors(data, tmp_path, monkeypatch):
    x, items, outer, recipe = data
    seen = []
    real = training.train_recipe

    def recording(recipe, x, labels, split, **kwargs):
        seen.append(split)
        return real(recipe, x, labels, split, **kwargs)

    monkeypatch.setattr(training, "train_recipe", recording)
    ours_search.run_ours_sweep(x, items, recipe=recipe, split_list=outer[:1], seed=3,
                               data_key="tiny-guard", n_trials=2, n_inner=2,
                               storage=f"sqlite:///{tmp_path / 's.db'}",
                               cache_folder=tmp_path / "cache")
    assert len(seen) == 4  # two trials, two inner folds each
    for split in seen:
        assert not np.intersect1d(split.train, outer[0].test).size
        assert not np.intersect1d(split.test, outer[0].test).size


def test_finished_search_is_read_back_without_training(finished, data, monkeypatch):
    x, items, _, _ = data

    def no_training(*args, **kwargs):
        raise AssertionError("a finished search must not train")

    monkeypatch.setattr(training, "train_recipe", no_training)
    again = ours_search.run_ours_sweep(x, items, **finished["kwargs"])
    assert again.new_trials == 0
    for before, after in zip(finished["sweep"].folds, again.folds):
        assert after.chosen == before.chosen and after.study_name == before.study_name


def test_table2_ours_pairs_untuned_and_tuned_on_the_test_actors(finished, data):
    x, items, outer, recipe = data
    sweep = finished["sweep"]
    kwargs = finished["kwargs"]
    rows, per_fold = ours_search.table2_ours(x, items, sweep, recipe=recipe, profile=PROFILE,
                                             seed=3, data_key="tiny:clean",
                                             cache_folder=kwargs["cache_folder"])
    assert list(rows["model"]) == ["untuned", "tuned", "difference"]
    assert len(per_fold) == 2
    assert per_fold["difference"].to_numpy() == pytest.approx(
        (per_fold["tuned_test_uar"] - per_fold["untuned_test_uar"]).to_numpy())
    by_model = rows.set_index("model")
    assert by_model.loc["difference", "uar"] == pytest.approx(
        by_model.loc["tuned", "uar"] - by_model.loc["untuned", "uar"])
    assert by_model.loc["difference", "ci_low"] <= by_model.loc["difference", "uar"] \
        <= by_model.loc["difference", "ci_high"]
    assert by_model.loc["untuned", "n_test"] == sum(s.test.size for s in outer[:2])
    # The untuned row is exactly the plain recipe trained on the outer split (notebook 03's).
    y = experiments.emotion_labels(items)
    plain, _ = experiments.train_split(x, y, outer[0], profile=PROFILE, seed=3,
                                       data_key="tiny:clean", recipe=recipe,
                                       cache_folder=kwargs["cache_folder"])
    assert per_fold["untuned_test_uar"].iloc[0] == pytest.approx(plain.metrics["uar"])


def test_search_refuses_a_recipe_it_cannot_tune(data):
    x, items, outer, recipe = data
    with pytest.raises(ours_search.OursSearchError, match="L-BFGS"):
        ours_search.run_ours_sweep(x, items, recipe=recipes.original_emotion(), split_list=outer,
                                   seed=0, data_key="k", n_trials=2, n_inner=1)
    with pytest.raises(ours_search.OursSearchError, match="n_trials"):
        ours_search.run_ours_sweep(x, items, recipe=recipe, split_list=outer, seed=0,
                                   data_key="k", n_trials=0, n_inner=1)
