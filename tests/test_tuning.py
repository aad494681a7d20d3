"""The two-stage sweep on tiny generated spectrograms: grids, resume, pruning, Table 2."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, evaluation, experiments, studies, training, tuning  # noqa: E402
from helpers.errors import ProjectError  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

from tests import factories  # noqa: E402
from tests.factories import tiny_cnn  # noqa: E402
from tests.tuning_support import PROFILE, make_data  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    """A finished sweep, two values per stage; the original 0.25 / 0.002 is among the trials."""
    folder = tmp_path_factory.mktemp("sweep")
    x, items = data
    storage = f"sqlite:///{folder / 'study.db'}"
    kwargs = dict(protocol="original", profile=PROFILE, seed=1, data_key="tiny", variant="clean",
                  storage=storage, n_trials=2, dropout_grid=(0.25, 0.5),
                  learning_rate_grid=(0.002, 0.003), builder=tiny_cnn,
                  cache_folder=folder / "cache")
    messages = []
    result = tuning.run_sweep(x, items, progress=messages.append, **kwargs)
    return {"result": result, "kwargs": kwargs, "folder": folder, "messages": messages}


# ----------------------------------------------------------------------------------------------
# Pure helpers
# ----------------------------------------------------------------------------------------------


def test_grid_subset_spreads_values_and_keeps_the_ends():
    assert tuning.grid_subset(tuning.DROPOUT_GRID, 2) == (0.0, 0.5)
    assert tuning.grid_subset(tuning.DROPOUT_GRID, 3) == (0.0, 0.25, 0.5)
    assert tuning.grid_subset(tuning.DROPOUT_GRID, 99) == tuning.DROPOUT_GRID
    assert tuning.grid_subset(tuning.LEARNING_RATE_GRID, 8) == tuning.LEARNING_RATE_GRID
    assert 0.0022 in tuning.LEARNING_RATE_GRID and 0.002 in tuning.LEARNING_RATE_GRID
    assert len(tuning.grid_subset(tuning.LEARNING_RATE_GRID, 5)) == 5


def test_grid_subset_keeps_an_included_value():
    assert tuning.grid_subset(tuning.DROPOUT_GRID, 2, include=0.25) == (0.25, 0.5)
    assert 0.002 in tuning.grid_subset(tuning.LEARNING_RATE_GRID, 3, include=0.002)
    with pytest.raises(tuning.TuningError, match="include="):
        tuning.grid_subset(tuning.DROPOUT_GRID, 2, include=0.33)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_sweep_grids_always_try_the_untuned_model(n):
    grids = tuning.sweep_grids(n)
    assert len(grids["dropout_rate"]) == min(n, len(tuning.DROPOUT_GRID))
    assert len(grids["learning_rate"]) == n
    assert tuning.ORIGINAL_HYPERPARAMETERS["dropout_rate"] in grids["dropout_rate"]
    assert tuning.ORIGINAL_HYPERPARAMETERS["learning_rate"] in grids["learning_rate"]
    assert tuning.sweep_grids(8)["learning_rate"] == tuning.LEARNING_RATE_GRID


@pytest.mark.parametrize("values, n", [((), 2), ((0.1, 0.1), 2), ((0.1, float("nan")), 1),
                                       ((0.1, 0.2), 0)])
def test_grid_subset_rejects_bad_grids(values, n):
    with pytest.raises(tuning.TuningError, match="grid=|n="):
        tuning.grid_subset(values, n)


def test_tuning_error_is_a_project_error():
    assert issubclass(tuning.TuningError, ProjectError)


def test_speaker_independent_sweep_split_has_disjoint_actors(data):
    _, items = data
    split = tuning.sweep_split(items, protocol="speaker-independent", seed=1, n_folds=2)
    assert split.name == "speaker-fold-1"
    assert not set(split.train_actors) & set(split.validation_actors)
    with pytest.raises(tuning.TuningError, match="fold="):
        tuning.sweep_split(items, protocol="speaker-independent", seed=1, n_folds=2, fold=2)


# ----------------------------------------------------------------------------------------------
# The sweep
# ----------------------------------------------------------------------------------------------


def test_sweep_runs_both_stages_over_their_grids(finished):
    result = finished["result"]
    dropout, rate = result.stage("dropout"), result.stage("learning_rate")
    assert dropout.grid == (0.25, 0.5)
    assert rate.grid == (0.002, 0.003)
    assert sorted(dropout.trials["value"]) == list(dropout.grid)
    assert sorted(rate.trials["value"]) == list(rate.grid)
    # Stage 1 holds the original learning rate; stage 2 holds stage 1's best dropout.
    assert dropout.fixed == {"learning_rate": 0.002}
    assert rate.fixed["dropout_rate"] == dropout.best_value
    assert result.best == {"dropout_rate": dropout.best_value, "learning_rate": rate.best_value}
    complete = dropout.trials[dropout.trials["state"] == "complete"]
    assert dropout.best_score == pytest.approx(complete["val_loss"].min())
    assert {"val_uar", "val_accuracy", "val_macro_f1", "epochs"} <= set(dropout.trials.columns)
    assert result.new_trials == 4
    # Stage 2's trial at the stage-1 learning rate is stage 1's best model: a cache hit.
    assert rate.trials.set_index("value").loc[0.002, "cached"]
    table = result.trials_table()
    assert len(table) == 4 and set(table["stage"]) == {"dropout", "learning_rate"}
    assert table["dropout_rate"].notna().all() and table["learning_rate"].notna().all()


def test_finished_sweep_is_read_back_without_training(finished, data, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a finished study must not train again")

    monkeypatch.setattr(training, "fit_model", no_training)
    again = tuning.run_sweep(*data, **finished["kwargs"])
    assert again.new_trials == 0
    assert again.best == finished["result"].best
    assert again.stage("dropout").study_name == finished["result"].stage("dropout").study_name


#: Three values per stage; every trial trains to the end (no pruner), as in sweep_worker.py.
SHARED = dict(protocol="original", profile=PROFILE, seed=3, data_key="jobs", variant="clean",
              n_trials=3, dropout_grid=(0.1, 0.25, 0.5), learning_rate_grid=(0.001, 0.002, 0.004),
              builder=factories.tiny_cnn_meeting_a_worker, pruner=optuna.pruners.NopPruner(),
              poll_s=0.2, max_wait_s=300.0)
COMPARED = ["val_loss", "val_uar", "val_accuracy", "val_macro_f1", "epochs", "best_epoch", "cached"]


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("serial")
    training.cache_tally(reset=True)
    result = tuning.run_sweep(*data, storage=f"sqlite:///{folder / 'study.db'}",
                              cache_folder=folder / "cache", jobs=1, **SHARED)
    # Six trials: stage 2's at the stage-1 learning rate is stage 1's best model, loaded.
    assert training.cache_tally(reset=True) == {"cached": 1, "trained": 5}
    return result


def _shared_sweep(folder, data, monkeypatch, *, worker_fails: str | None = None, **settings):
    meeting = folder / "meeting"
    meeting.mkdir()
    monkeypatch.setenv(factories.WORKER_MEETING_ENV, str(meeting))
    if worker_fails:
        monkeypatch.setenv(factories.WORKER_FAILS_ENV, worker_fails)
    messages = []
    training.cache_tally(reset=True)
    result = tuning.run_sweep(*data, storage=f"sqlite:///{folder / 'study.db'}",
                              cache_folder=folder / "cache", jobs=2, progress=messages.append,
                              **{**SHARED, **settings})
    # The tally counts the worker's models too: each trained once, as when one process ran them
    # all (a twin that two processes loaded from the cache at one moment is counted twice).
    tally = training.cache_tally(reset=True)
    assert tally["trained"] == 5 and tally["cached"] >= 1, tally
    return result, messages


def _assert_same_trials(result, serial):
    assert result.best == serial.best
    for stage in ("dropout", "learning_rate"):
        ours, alone = (sweep.stage(stage).trials.query("state == 'complete'")
                       .set_index("value").sort_index()[COMPARED] for sweep in (result, serial))
        assert ours.index.tolist() == alone.index.tolist() == list(result.stage(stage).grid)
        pd.testing.assert_frame_equal(ours, alone, check_dtype=False, rtol=1e-6)


def test_two_jobs_share_the_sweep_and_give_the_serial_result(tmp_path, data, serial_sweep,
                                                            monkeypatch):
    result, messages = _shared_sweep(tmp_path, data, monkeypatch)
    assert result.workers == 1 and serial_sweep.workers == 0
    # The worker took grid values (the parent's first build waited for one of its builds).
    assert result.in_workers["trained"] >= 1, result.in_workers
    assert serial_sweep.in_workers == {"cached": 0, "trained": 0}
    assert not any("failed" in m or "shared no trials" in m for m in messages), messages
    # Every grid value was trained once, in one of the two processes, and scored as when alone.
    _assert_same_trials(result, serial_sweep)
    assert result.to_dict()["workers"] == 1
    assert result.to_dict()["in_workers"] == result.in_workers
    # Read back with jobs: the sweep is finished, so no worker is started.
    again = tuning.run_sweep(*data, storage=f"sqlite:///{tmp_path / 'study.db'}",
                             cache_folder=tmp_path / "cache", jobs=2, **SHARED)
    assert again.workers == 0 and again.new_trials == 0 and again.best == result.best


def test_a_failed_worker_is_reported_and_its_trial_run_here(tmp_path, data, serial_sweep,
                                                           monkeypatch):
    with pytest.warns(UserWarning, match="worker 1 of 1 failed"):
        result, messages = _shared_sweep(tmp_path, data, monkeypatch, worker_fails="raise")
    assert any("the worker's build fails" in m and "run again in this process" in m
               for m in messages), messages
    # The value whose trial failed in the worker was queued again and trained here.
    trials = result.trials_table()
    assert (trials["state"] == "fail").sum() == 1
    _assert_same_trials(result, serial_sweep)


def test_a_killed_workers_trial_is_run_here_without_waiting_for_its_heartbeat(
        tmp_path, data, serial_sweep, monkeypatch):
    # The worker dies in its first build, its trial left running. Its heartbeat would fail
    # that trial only after the storage's grace period (180 s); the sweep sees the worker exit
    # and runs the value here at once (with max_wait_s=60 it would otherwise give up waiting).
    with pytest.warns(UserWarning, match="worker 1 of 1 failed .*exited with code 3"):
        result, messages = _shared_sweep(tmp_path, data, monkeypatch, worker_fails="exit",
                                         max_wait_s=60.0)
    trials = result.trials_table()
    assert (trials["state"] == "fail").sum() == 1
    _assert_same_trials(result, serial_sweep)


def test_jobs_fall_back_to_one_process_where_workers_cannot_share_the_study(tmp_path, data):
    messages = []
    result = tuning.run_sweep(*data, storage=optuna.storages.InMemoryStorage(), jobs=2,
                              progress=messages.append, cache_folder=tmp_path,
                              **{**SHARED, "builder": tiny_cnn, "n_trials": 2,
                                 "dropout_grid": (0.25, 0.5), "learning_rate_grid": (0.002, 0.003)})
    assert result.workers == 0
    assert any("runs in this process alone" in m and "InMemoryStorage" in m for m in messages)
    # Nor can an in-memory SQLite database, given as a URL; a file or a server can.
    assert studies.shareable_url("sqlite:///:memory:", None) is None
    assert studies.shareable_url("sqlite:///study.db", None) == "sqlite:///study.db"
    assert studies.shareable_url(None, None) == studies.default_storage_url()
    with pytest.raises(tuning.TuningError, match="jobs=0 must be"):
        tuning.run_sweep(*data, jobs=0, **SHARED)


def test_search_never_touches_the_test_part_and_new_data_is_a_new_study(finished, data):
    x, items = data
    kwargs = finished["kwargs"]
    split = tuning.sweep_split(items, protocol="original", seed=kwargs["seed"], n_folds=2)
    poisoned = x.copy()
    # NaN test features would turn any training loss or prediction that used them into NaN,
    # and the metrics refuse NaN probabilities.
    poisoned[split.test] = np.nan
    result = tuning.run_sweep(poisoned, items, **{**kwargs, "data_key": "poisoned",
                                                  "n_trials": 1})
    assert all(math.isfinite(stage.best_score) for stage in result.stages)
    assert result.new_trials == 2
    # Another data fingerprint in the same storage is another study, not a resume.
    assert result.stage("dropout").study_name != finished["result"].stage("dropout").study_name
    storage = studies.make_storage(kwargs["storage"])
    assert len(optuna.get_all_study_names(storage)) == 4


@pytest.mark.parametrize("n_trials, stop_at", [(3, 2)])
def test_interrupted_sweep_resumes_the_same_study(tmp_path, data, monkeypatch, n_trials,
                                                  stop_at):
    x, items = data
    # The tiny model is still near chance after two epochs; this test is about resuming, so
    # nothing is pruned.
    kwargs = dict(protocol="original", profile=PROFILE, seed=2, data_key="resume",
                  variant="clean", n_trials=n_trials, learning_rate_grid=(0.002,),
                  storage=f"sqlite:///{tmp_path / 's.db'}", builder=tiny_cnn,
                  pruner=optuna.pruners.NopPruner(), cache_folder=tmp_path / "cache")
    real_fit = training.fit_model
    calls = []

    def interrupted_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == stop_at:
            raise KeyboardInterrupt  # the user stops the sweep during this trial
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit_model", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tuning.run_sweep(x, items, **kwargs)
    monkeypatch.setattr(training, "fit_model", real_fit)

    storage = studies.make_storage(kwargs["storage"])
    names = optuna.get_all_study_names(storage)
    assert len(names) == 1  # stage 2 had not started
    states = [t.state.name for t in optuna.load_study(study_name=names[0], storage=storage).trials]
    assert states == ["COMPLETE"] * (stop_at - 1) + ["FAIL"]

    resumed_calls = []

    def counting_fit(*args, **kwargs):
        resumed_calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit_model", counting_fit)
    result = tuning.run_sweep(x, items, **kwargs)
    # The finished trials are kept; the interrupted one and the ones never started train now.
    # Stage 2's single learning rate is stage 1's best model, loaded from the cache.
    assert len(resumed_calls) == n_trials - (stop_at - 1)
    trials = result.stage("dropout").trials
    assert result.stage("dropout").study_name == names[0]
    assert list(trials["state"]).count("fail") == 1
    assert sorted(trials.loc[trials["state"] == "complete", "value"]) == \
        list(tuning.grid_subset(tuning.DROPOUT_GRID, n_trials, include=0.25))
    assert len(optuna.get_all_study_names(storage)) == 2
    assert result.stage("learning_rate").trials["cached"].all()
    # A third run has nothing left to do.
    assert tuning.run_sweep(x, items, **kwargs).new_trials == 0


def test_force_starts_the_studies_afresh(tmp_path, data):
    x, items = data
    kwargs = dict(protocol="original", profile=PROFILE, seed=5, data_key="force", variant="clean",
                  n_trials=1, storage=f"sqlite:///{tmp_path / 's.db'}", builder=tiny_cnn,
                  cache_folder=tmp_path / "cache")
    first = tuning.run_sweep(x, items, **kwargs)
    again = tuning.run_sweep(x, items, force=True, **kwargs)
    assert first.new_trials == again.new_trials == 2
    assert not again.stage("learning_rate").trials["cached"].any()  # retrained, not loaded
    study = optuna.load_study(study_name=again.stage("dropout").study_name,
                              storage=studies.make_storage(kwargs["storage"]))
    assert len(study.trials) == 1


class PruneLargeDropout(optuna.pruners.BasePruner):
    """Prunes every trial with dropout above 0.4 at its first report."""

    def prune(self, study, trial):
        return trial.params.get("dropout_rate", 0.0) > 0.4


def test_hopeless_trials_are_pruned_and_not_chosen(tmp_path, data):
    x, items = data
    result = tuning.run_sweep(x, items, protocol="original", profile=PROFILE, seed=4,
                              data_key="prune", variant="clean", n_trials=2,
                              learning_rate_grid=(0.002,),
                              storage=f"sqlite:///{tmp_path / 's.db'}", builder=tiny_cnn,
                              pruner=PruneLargeDropout(), cache_folder=tmp_path / "cache")
    trials = result.stage("dropout").trials.set_index("value")
    assert trials.loc[0.5, "state"] == "pruned"
    assert trials.loc[0.5, "pruned_at_epoch"] == 1
    assert trials.loc[0.25, "state"] == "complete"
    assert result.best["dropout_rate"] == 0.25


def _report(trial, losses):
    callback = tuning._PruningCallback(trial, parameter="dropout_rate", grid=(0.25,))
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})


def test_default_pruner_stops_only_a_trial_no_better_than_chance_after_the_warm_up():
    # The case that ruled out a median rule: a slow starter far behind two earlier trials at
    # epoch 11 (the eventual best on the real data) must run on.
    full = config.get_profile("full")
    study = optuna.create_study(direction="minimize", pruner=tuning.default_pruner(full))
    for offset in (0.0, 0.1):
        trial = study.ask()
        _report(trial, [2.0 - 0.1 * epoch + offset for epoch in range(14)])
        study.tell(trial, 0.7 + offset)
    slow = study.ask()
    _report(slow, [1.8] * 8 + [1.5, 1.3, 1.25, 1.25, 1.0])
    study.tell(slow, 0.36)
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE

    stuck = study.ask()
    chance = math.log(len(config.EMOTIONS))
    _report(stuck, [chance + 0.5] * tuning.PRUNE_WARMUP_EPOCHS)  # warm-up: never pruned
    with pytest.raises(optuna.TrialPruned):
        _report(stuck, [chance + 0.5] * (tuning.PRUNE_WARMUP_EPOCHS + 1))


@pytest.mark.parametrize("profile, warmup", [("full", 10), ("quick", 3), ("smoke", 1)])
def test_default_pruner_warm_up_is_capped_at_half_the_epochs(profile, warmup):
    pruner = tuning.default_pruner(config.get_profile(profile))
    settings = studies.describe_pruner(pruner)["settings"]
    assert settings["_n_warmup_steps"] == str(warmup)
    assert float(settings["_upper"]) == pytest.approx(math.log(8))


def test_another_pruner_starts_new_studies(finished, data):
    # Pruned trials count as done, so a study must not be resumed under another pruner.
    x, items = data
    other = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    result = tuning.run_sweep(x, items, pruner=other, **finished["kwargs"])
    before = {stage.study_name for stage in finished["result"].stages}
    after = {stage.study_name for stage in result.stages}
    assert len(after) == 2 and not before & after
    assert result.stage("dropout").trials["cached"].all()  # the models themselves are reused
    same = tuning.run_sweep(x, items, pruner=tuning.default_pruner(PROFILE), **finished["kwargs"])
    assert {stage.study_name for stage in same.stages} == before and same.new_trials == 0


# ----------------------------------------------------------------------------------------------
# Table 2 and agreement
# ----------------------------------------------------------------------------------------------


def test_table2_compares_original_and_tuned_on_the_test_part(finished, data):
    x, items = data
    kwargs = finished["kwargs"]
    table, folds, trained = tuning.table2(
        x, items, finished["result"], profile=PROFILE, seed=kwargs["seed"],
        data_key=kwargs["data_key"], builder=tiny_cnn, cache_folder=kwargs["cache_folder"])
    assert list(table["model"]) == list(tuning.TABLE2_ROWS)
    for column in (*experiments.TABLE1_METRICS, "variant", "protocol", "n_test", "dropout",
                   "learning_rate", "published_loss", "published_f1_original"):
        assert column in table.columns
    rows = table.set_index("model")
    for key in (*experiments.TABLE1_METRICS, "dropout", "learning_rate"):
        assert rows.loc["difference", key] == pytest.approx(
            rows.loc["tuned", key] - rows.loc["original", key])
    assert rows.loc["original", "dropout"] == 0.25
    assert rows.loc["original", "learning_rate"] == 0.002
    assert rows.loc["tuned", "dropout"] == finished["result"].best["dropout_rate"]
    assert rows.loc["original", "published_loss"] == evaluation.ORIGINAL_TABLE2["original"]["loss"]
    assert rows.loc["tuned", "published_accuracy_binary"] == 0.966
    assert rows.loc["difference", "published_f1_original"] == pytest.approx(0.027)
    assert rows.loc["original", "n_test"] == finished["result"].split.test.size
    # The search trained both models already (the original values are on its grids): Table 2
    # loads them from the model cache instead of training again.
    assert folds["original"].cached and folds["tuned"].cached
    assert set(trained) == {"original", "tuned"}


def test_agreement_compares_protocols_and_the_report(finished):
    result = finished["result"]
    other = tuning.SweepResult(variant="clean", protocol="speaker-independent",
                               split=result.split, stages=result.stages,
                               best={"dropout_rate": 0.25, "learning_rate": 0.0022}, seconds=0.0)
    same = tuning.agreement([result, result])
    assert same["agree"] == {"dropout_rate": True, "learning_rate": True}
    assert same["grid_steps_apart"] == {"dropout_rate": 0, "learning_rate": 0}
    report = tuning.agreement([other])["matches_report"]["speaker-independent"]
    assert report == {"dropout_rate": True, "learning_rate": True}
    with pytest.raises(tuning.TuningError):
        tuning.agreement([])


def test_trials_record_the_epoch_of_the_lowest_validation_loss(finished):
    trials = finished["result"].trials_table()
    complete = trials[trials["state"] == "complete"]
    assert complete["best_epoch"].between(1, PROFILE.max_epochs).all()
    assert (complete["best_epoch"] <= complete["epochs"]).all()
    assert tuning._best_epoch({0: 2.0, 1: 1.5, 2: float("nan"), 3: 1.7}) == 2.0
    assert math.isnan(tuning._best_epoch({}))
    # As early stopping: an improvement under MIN_DELTA does not move the kept epoch.
    assert tuning._best_epoch({0: 2.0, 1: 2.0 - tuning.MIN_DELTA / 2}) == 1.0


def test_training_depth_flags_a_search_of_barely_trained_models():
    trials = pd.DataFrame({
        "protocol": ["original"] * 3 + ["speaker-independent"] * 4,
        "state": ["complete"] * 3 + ["complete", "complete", "complete", "pruned"],
        "best_epoch": [23.0, 19.0, 1.0, 1.0, 2.0, 5.0, 1.0],
    })
    depth = tuning.training_depth(trials).set_index("protocol")
    assert depth.loc["original", "n_complete"] == 3
    assert depth.loc["original", "median_best_epoch"] == 19.0
    assert depth.loc["original", "best_by_early_epoch"] == 1
    assert not depth.loc["original", "barely_trained"]
    assert depth.loc["speaker-independent", "n_complete"] == 3  # the pruned trial is left out
    assert depth.loc["speaker-independent", "best_by_early_epoch"] == 2
    assert depth.loc["speaker-independent", "barely_trained"]
    with pytest.raises(tuning.TuningError, match="best_epoch"):
        tuning.training_depth(trials.drop(columns="best_epoch"))
