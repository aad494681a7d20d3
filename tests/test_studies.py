"""Resumable Optuna studies: storage, names, and a grid stage that re-queues and waits."""

from __future__ import annotations

import time
import warnings

import optuna
import pytest

from helpers import config, studies
from helpers.errors import ProjectError

optuna.logging.set_verbosity(optuna.logging.WARNING)

GRID = (0.1, 0.2, 0.3)


def _grid_study(tmp_path, **storage_settings) -> optuna.Study:
    storage = studies.make_storage(f"sqlite:///{tmp_path / 's.db'}", **storage_settings)
    return studies.open_study("grid", storage=storage, direction="minimize",
                              sampler=optuna.samplers.GridSampler({"x": list(GRID)}, seed=0),
                              pruner=optuna.pruners.NopPruner())


def _objective(failing: set[float] = frozenset()):
    """Returns x; raises on the values in ``failing`` (each value once, then it succeeds)."""
    failing = set(failing)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", min(GRID), max(GRID))
        if x in failing:
            failing.discard(x)
            raise RuntimeError(f"x={x} fails")
        return x

    return objective


def _states(study: optuna.Study) -> dict[float, list[str]]:
    states: dict[float, list[str]] = {}
    for trial in study.get_trials(deepcopy=False):
        states.setdefault(trial.params["x"], []).append(trial.state.name)
    return states


def _start_elsewhere(study: optuna.Study) -> tuple[optuna.Trial, float]:
    """A trial left running, as by another process: the grid sampler's next value."""
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize; this trial is not run.
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    return trial, trial.suggest_float("x", min(GRID), max(GRID))


# ----------------------------------------------------------------------------------------------
# Storage and names
# ----------------------------------------------------------------------------------------------


def test_study_name_changes_with_data_and_settings():
    base = dict(data_key="abc123", variant="aggregation", protocol="original", stage="dropout",
                settings={"epochs": 6, "grid": [0.1, 0.2]})
    name = studies.study_name(**base)
    assert name.startswith("emotion-aggregation-original-dropout-abc123")
    assert studies.study_name(**base) == name
    assert studies.study_name(**{**base, "data_key": "abc124"}) != name
    assert studies.study_name(**{**base, "settings": {"epochs": 7, "grid": [0.1, 0.2]}}) != name
    assert studies.study_name(**{**base, "protocol": "speaker-independent"}) != name


def test_make_storage_checks_its_arguments(tmp_path):
    with pytest.raises(studies.StudyError, match="storage="):
        studies.make_storage("outputs/tuning.db")
    with pytest.raises(studies.StudyError, match="grace_period"):
        studies.make_storage(f"sqlite:///{tmp_path / 'a.db'}", heartbeat_interval=60,
                             grace_period=30)
    storage = studies.make_storage(f"sqlite:///{tmp_path / 'deep' / 'a.db'}")
    assert (tmp_path / "deep").is_dir() and isinstance(storage, optuna.storages.RDBStorage)
    assert issubclass(studies.StudyError, ProjectError)


def test_default_storage_is_sqlite_under_outputs():
    url = studies.default_storage_url()
    assert url.startswith("sqlite:///") and str(config.OUTPUTS_DIR.as_posix()) in url


def test_redact_url_hides_passwords():
    assert "secret" not in studies.redact_url("postgresql://me:secret@db.example/ser")
    assert studies.redact_url("sqlite:///x.db") == "sqlite:///x.db"


# ----------------------------------------------------------------------------------------------
# A grid stage
# ----------------------------------------------------------------------------------------------


def test_grid_stage_runs_every_value_once_and_reads_a_finished_grid_back(tmp_path):
    study = _grid_study(tmp_path)
    assert studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective()) == 3
    assert _states(study) == {x: ["COMPLETE"] for x in GRID}
    assert studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective()) == 0


def test_a_failed_value_runs_again_as_a_retry_of_its_trial(tmp_path):
    study = _grid_study(tmp_path)
    with pytest.raises(RuntimeError, match="x=0.2 fails"):
        studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective({0.2}))
    failed = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert [t.params["x"] for t in failed] == [0.2]
    assert studies.grid_status(study, "x", GRID)[0.2] == {"done": 0, "active": 0, "failed": 1}

    studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective())
    assert _states(study)[0.2] == ["FAIL", "COMPLETE"]
    retry = [t for t in study.trials if t.params["x"] == 0.2][-1]
    # Optuna's retry callback made the copy: it names the failed trial and keeps its grid point.
    assert retry.system_attrs["retry_history"] == [failed[0].number]
    assert retry.system_attrs["grid_id"] == failed[0].system_attrs["grid_id"]
    assert all(s["done"] == 1 for s in studies.grid_status(study, "x", GRID).values())


def test_a_value_that_failed_max_attempts_times_is_left_out_with_a_warning(tmp_path):
    study = _grid_study(tmp_path)
    with pytest.raises(RuntimeError):
        studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective({0.2}),
                               max_attempts=1)
    with pytest.warns(UserWarning, match=r"x=\[0.2\] failed 1 times"):
        studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective(),
                               max_attempts=1)
    assert _states(study)[0.2] == ["FAIL"]


def test_a_value_running_elsewhere_is_waited_for_not_run_twice(tmp_path):
    study = _grid_study(tmp_path)
    _, running = _start_elsewhere(study)
    messages = []
    with pytest.raises(studies.StudyError, match=rf"x=\[{running}\] are still running"):
        studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective(),
                               poll_s=0.05, max_wait_s=0.2, progress=messages.append)
    assert _states(study) == {x: ["RUNNING" if x == running else "COMPLETE"] for x in GRID}
    assert any(f"waiting for x=[{running}]" in message for message in messages)


def test_a_trial_whose_process_died_runs_again_after_the_grace_period(tmp_path):
    study = _grid_study(tmp_path, heartbeat_interval=1, grace_period=2)
    lost, value = _start_elsewhere(study)
    study._storage.record_heartbeat(lost._trial_id)  # then the process is killed
    time.sleep(3)
    studies.run_grid_stage(study, parameter="x", grid=GRID, objective=_objective(),
                           poll_s=0.05, max_wait_s=5)
    assert _states(study) == {x: ["FAIL", "COMPLETE"] if x == value else ["COMPLETE"]
                              for x in GRID}
    retry = [t for t in study.trials if t.params["x"] == value][-1]
    assert retry.system_attrs["retry_history"] == [lost.number]


# ----------------------------------------------------------------------------------------------
# Two workers handed the same grid point
# ----------------------------------------------------------------------------------------------


def test_the_later_of_two_trials_on_one_grid_point_gives_way_and_counts_nowhere(tmp_path):
    study = _grid_study(tmp_path)
    # Both workers are handed x=0.2 at the same moment: the sampler had not seen either choice.
    study.enqueue_trial({"x": 0.2})
    study.enqueue_trial({"x": 0.2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first, second = study.ask(), study.ask()
    assert first.suggest_float("x", 0.1, 0.3) == second.suggest_float("x", 0.1, 0.3) == 0.2
    with pytest.raises(optuna.TrialPruned, match="is trial 0's"):
        studies.give_way(second, "x", GRID)
    study.tell(second, state=optuna.trial.TrialState.PRUNED)
    studies.give_way(first, "x", GRID)  # the earlier trial goes on
    assert studies.grid_status(study, "x", GRID)[0.2] == {"done": 0, "active": 1, "failed": 0}
    study.tell(first, 0.2)
    assert studies.grid_status(study, "x", GRID)[0.2] == {"done": 1, "active": 0, "failed": 0}
    assert study.trials[1].user_attrs[studies.DUPLICATE_OF] == 0


def _twins_the_earlier_without_its_point():
    """Two trials handed x=0.2; the earlier has not written its point when the later one looks,
    so the later passes its first look and starts work."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    first = study.ask()
    study.enqueue_trial({"x": 0.2})
    second = study.ask()
    second.suggest_float("x", 0.1, 0.3)
    studies.give_way(second, "x", GRID)  # no twin visible: it starts work
    return study, first, second


def test_of_twins_that_both_passed_the_first_look_one_gives_way_at_a_later_look():
    study, first, second = _twins_the_earlier_without_its_point()
    first.suggest_float("x", 0.2, 0.2)
    studies.give_way(first, "x", GRID)  # its twin is later-numbered: it starts work too
    # Looking again during the work: the later-numbered one gives way, the earlier goes on.
    studies.give_way(first, "x", GRID)
    with pytest.raises(optuna.TrialPruned, match="is trial 0's"):
        studies.give_way(second, "x", GRID)
    study.tell(second, state=optuna.trial.TrialState.PRUNED)
    studies.give_way(first, "x", GRID)  # the pruned twin is a duplicate: it counts nowhere
    study.tell(first, 0.2)
    assert study.trials[1].user_attrs[studies.DUPLICATE_OF] == 0


def test_of_twins_the_one_still_running_gives_way_to_one_that_finished():
    study, first, second = _twins_the_earlier_without_its_point()
    study.tell(second, 0.2)  # the later twin finished first (a model loaded from the cache)
    first.suggest_float("x", 0.2, 0.2)
    with pytest.raises(optuna.TrialPruned, match="is trial 1's"):
        studies.give_way(first, "x", GRID)
    assert study.trials[0].user_attrs[studies.DUPLICATE_OF] == 1


def test_a_trial_on_a_grid_point_already_done_gives_way_whatever_its_number(tmp_path):
    study = _grid_study(tmp_path)
    study.optimize(_objective(), n_trials=1)
    done = study.trials[0].params["x"]
    study.enqueue_trial({"x": done})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    trial.suggest_float("x", 0.1, 0.3)
    with pytest.raises(optuna.TrialPruned):
        studies.give_way(trial, "x", GRID)
    # A trial on a free point goes on.
    free = next(v for v in GRID if v != done)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    study.enqueue_trial({"x": free})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        other = study.ask()
    other.suggest_float("x", 0.1, 0.3)
    studies.give_way(other, "x", GRID)


def test_fail_trials_of_fails_only_the_running_trials_of_that_process(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    dead, alive, done = study.ask(), study.ask(), study.ask()
    dead.set_user_attr(studies.PROCESS_ATTR, "host:1")
    alive.set_user_attr(studies.PROCESS_ATTR, "host:2")  # another machine's, still running
    done.set_user_attr(studies.PROCESS_ATTR, "host:1")
    study.tell(done, 1.0)
    assert studies.fail_trials_of(study, "host:1") == 1
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {dead.number: optuna.trial.TrialState.FAIL,
                      alive.number: optuna.trial.TrialState.RUNNING,
                      done.number: optuna.trial.TrialState.COMPLETE}
    assert studies.process_label(7).endswith(":7")


def test_existing_study_reads_without_creating(tmp_path):
    storage = studies.as_storage(f"sqlite:///{tmp_path / 's.db'}")
    assert studies.existing_study("absent", storage) is None
    assert optuna.study.get_all_study_names(storage) == []
    optuna.create_study(study_name="present", storage=storage).optimize(lambda t: 1.0, n_trials=2)
    assert len(studies.existing_study("present", storage).trials) == 2
