"""The nested search of ``ours`` on tiny generated functionals: folds, trials, resume, Table 2."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, experiments, ours_search, recipes, splits, training  # noqa: E402
from tests import factories  # noqa: E402
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
                  cache_folder=folder / "cache", jobs=1)
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


def _same_trials(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The trials two searches ran, in order, with their scores; failed ones and times aside."""
    columns = ["state", "l2", "clip", "val_uar", "inner_folds", "untuned"]
    pd.testing.assert_frame_equal(a.loc[a["state"] != "fail", columns].reset_index(drop=True),
                                  b.loc[b["state"] != "fail", columns].reset_index(drop=True))


def test_outer_folds_searched_in_parallel_give_the_serial_result(finished, data, tmp_path):
    x, items, _, _ = data
    kwargs = {**finished["kwargs"], "storage": f"sqlite:///{tmp_path / 'study.db'}",
              "cache_folder": tmp_path / "cache", "jobs": 2}
    training.cache_tally(reset=True)
    sweep = ours_search.run_ours_sweep(x, items, **kwargs)
    # Fold 1 searched here, fold 2 in the worker; this process read fold 2's study back.
    assert sweep.workers == 1 and sweep.in_workers["trained"] > 0
    for serial, parallel_fold in zip(finished["sweep"].folds, sweep.folds):
        assert parallel_fold.study_name == serial.study_name
        _same_trials(parallel_fold.trials, serial.trials)
        assert parallel_fold.chosen == serial.chosen
        assert parallel_fold.chosen_validation_uar == serial.chosen_validation_uar
        assert parallel_fold.new_trials == 3  # run now, here or in the worker
    # Every inner fit once (a pruned trial stopped after one), counted with the worker's.
    fits = sum(int(fold.trials["inner_folds"].sum()) for fold in sweep.folds)
    assert training.cache_tally()["trained"] == fits
    assert sweep.to_dict()["workers"] == 1
    # Read back with jobs: nothing to run, so no worker is started.
    again = ours_search.run_ours_sweep(x, items, **kwargs)
    assert again.workers == 0 and again.new_trials == 0
    assert [f.chosen for f in again.folds] == [f.chosen for f in sweep.folds]


@pytest.mark.parametrize("how, error", [("raise", "RuntimeError"),
                                        ("exit", "exited with code 3")])
def test_a_failed_workers_folds_are_searched_here_with_the_untuned_trial(data, tmp_path,
                                                                         monkeypatch, how, error):
    x, items, outer, recipe = data
    recipe = recipe.replace(builder=factories.functionals_model_failing_in_a_worker)
    monkeypatch.setenv(factories.WORKER_FAILS_ENV, how)
    common = dict(recipe=recipe, split_list=outer[:2], seed=3, data_key="tiny:clean",
                  n_trials=2, n_inner=2)
    serial = ours_search.run_ours_sweep(x, items, storage=f"sqlite:///{tmp_path / 'a.db'}",
                                        cache_folder=tmp_path / "a", jobs=1, **common)
    messages = []
    with pytest.warns(UserWarning, match=f"worker 1 of 1 failed .*{error}"):
        shared = ours_search.run_ours_sweep(x, items, storage=f"sqlite:///{tmp_path / 'b.db'}",
                                            cache_folder=tmp_path / "b", jobs=2,
                                            progress=messages.append, **common)
    assert shared.workers == 1 and shared.folds[1].new_trials == 2
    assert any("searched in this process" in m for m in messages)
    # The worker's untuned trial failed (a dead worker's at once, not after the heartbeat's
    # grace period); it ran again here (Optuna's skip_if_exists would have skipped it for
    # good), so the fold's search is the serial one.
    worker_fold = shared.folds[1].trials
    assert list(worker_fold["state"]).count("fail") == 1
    assert worker_fold.loc[worker_fold["state"] == "complete", "untuned"].any()
    for a, b in zip(serial.folds, shared.folds):
        _same_trials(a.trials, b.trials)
        assert a.chosen == b.chosen and a.untuned_validation_uar == b.untuned_validation_uar


def test_a_search_runs_alone_where_workers_cannot_share_it(data, tmp_path):
    x, items, outer, recipe = data
    common = dict(recipe=recipe, split_list=outer[:2], seed=3, data_key="tiny:clean",
                  n_trials=1, n_inner=1, cache_folder=tmp_path / "cache", jobs=2)
    messages = []
    memory = ours_search.run_ours_sweep(x, items, storage=optuna.storages.InMemoryStorage(),
                                        progress=messages.append, **common)
    assert memory.workers == 0
    assert any("runs in this process alone" in m and "InMemoryStorage" in m for m in messages)
    forced = ours_search.run_ours_sweep(x, items, storage=f"sqlite:///{tmp_path / 's.db'}",
                                        force=True, progress=messages.append, **common)
    assert forced.workers == 0 and any("alone with force" in m for m in messages)
    one_copy = {**common, "recipe": recipe.replace(speed_perturbation=(1.1,))}
    mixed = ours_search.run_ours_sweep(x, items, storage=f"sqlite:///{tmp_path / 'm.db'}",
                                       augmented=[x.astype(np.float64)], progress=messages.append,
                                       **one_copy)
    assert mixed.workers == 0 and any("differ in dtype" in m for m in messages)
    with pytest.raises(ours_search.OursSearchError, match=r"augmented\[0\] has shape"):
        ours_search.run_ours_sweep(x, items, augmented=[x[:, :2]], **common)
    with pytest.raises(ours_search.OursSearchError, match="jobs=0 must be"):
        ours_search.run_ours_sweep(x, items, **{**common, "jobs": 0})


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
