"""Resumable Optuna studies: storage, names, stages, re-queueing and grid status.

The project's searches (the original's two-stage grid in :mod:`helpers.tuning`, the nested
search of ``ours`` in :mod:`helpers.ours_search`) keep their trials in an Optuna RDB storage, so
that an interrupted search continues where it stopped, a finished one is read back without
training, and several processes or machines can share one study. This module holds what they
share and Optuna does not already do:

- **Storage** (:func:`make_storage`): SQLite under ``outputs/optuna/`` by default, or any
  SQLAlchemy URL (PostgreSQL, MySQL), with Optuna's heartbeats switched on so that a trial whose
  process was killed counts as failed once its heartbeat is older than the grace period
  (Optuna's :func:`optuna.storages.fail_stale_trials`). Ours adds the folder of a SQLite file,
  checks of the settings, and a retry of the table-creation race between workers starting
  together on a fresh database (Optuna's ``RDBStorage`` creates its tables without one).
- **Names** (:func:`study_name`, :func:`describe_pruner`): a study's name encodes every setting
  that changes a trial's result, so changed data or settings start a new study instead of
  resuming an old one.
- **A grid stage** (:func:`run_grid_stage`): every value of a grid done once, counting a pruned
  trial as done, re-running a failed value up to a limit, and waiting for values that another
  process is running. Optuna's :class:`~optuna.samplers.GridSampler` alone does not do this: it
  counts a failed grid point as visited (so an interrupted trial would never run again), and once
  every point has started it proposes a point that is still running elsewhere a second time
  rather than waiting for it. The failed value is queued again with Optuna's own
  :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`.

What Optuna provides is used as it is: heartbeats and stale-trial failing,
:meth:`~optuna.study.Study.enqueue_trial` (``skip_if_exists``) for a trial that must run first,
:class:`~optuna.study.MaxTrialsCallback` for a trial budget shared by workers, and
``create_study(load_if_exists=True)`` for two workers creating the same study.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import optuna
import sqlalchemy.exc

from helpers import config
from helpers.errors import ProjectError, check_int

__all__ = [
    "StudyError",
    "DONE",
    "ACTIVE",
    "default_storage_url",
    "make_storage",
    "as_storage",
    "redact_url",
    "shareable_url",
    "worker_count",
    "open_study",
    "fail_stale_trials",
    "process_label",
    "mark_process",
    "fail_trials_of",
    "existing_study",
    "study_name",
    "describe_pruner",
    "match_grid_value",
    "DUPLICATE_OF",
    "give_way",
    "grid_status",
    "requeue_failed",
    "run_grid_stage",
]

#: Trial states that settle a grid value: a pruned trial was judged, so it is not run again.
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
#: Trial states of a value that is running (here or in another process) or queued.
ACTIVE = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)

#: Connections tried while other workers create the storage's tables.
_STORAGE_ATTEMPTS = 5


class StudyError(ProjectError):
    """A study cannot be opened or finished as asked: bad storage settings, or a grid stage
    that does not finish (trials held by another process past the wait limit)."""


# ----------------------------------------------------------------------------------------------
# Storage
# ----------------------------------------------------------------------------------------------


def default_storage_url() -> str:
    """``sqlite:///<outputs>/optuna/tuning.db``: the searches' default, one file for all studies."""
    return f"sqlite:///{(config.optuna_dir() / 'tuning.db').as_posix()}"


def make_storage(url: str | None = None, *, heartbeat_interval: int = 60,
                 grace_period: int = 180) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage with heartbeats, creating the SQLite folder when needed.

    Parameters
    ----------
    url : str or None
        SQLAlchemy URL: ``sqlite:///path.db`` or a database server such as
        ``postgresql://user:password@host/db`` (needs its driver, e.g. ``psycopg2-binary``).
        None or ``""`` for :func:`default_storage_url`.
    heartbeat_interval : int
        Seconds between a running trial's heartbeats.
    grace_period : int
        Seconds without a heartbeat after which a running trial counts as lost (its process
        was killed) and is run again.

    Returns
    -------
    optuna.storages.RDBStorage

    Raises
    ------
    StudyError
        If ``url`` is not a SQLAlchemy URL or the heartbeat settings are not positive integers
        with ``grace_period > heartbeat_interval``.
    """
    url = url or default_storage_url()
    if not isinstance(url, str) or "://" not in url:
        raise StudyError(f"storage={url!r} must be a SQLAlchemy URL such as "
                         f"'sqlite:///outputs/optuna/tuning.db' or 'postgresql://user@host/db'")
    for name, value in (("heartbeat_interval", heartbeat_interval),
                        ("grace_period", grace_period)):
        check_int(value, name=name, minimum=1, error=StudyError)  # seconds
    if grace_period <= heartbeat_interval:
        raise StudyError(f"grace_period={grace_period} must exceed "
                         f"heartbeat_interval={heartbeat_interval}")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    # Workers started together on a fresh database race to create Optuna's tables: the loser
    # gets a unique-key violation (found by the PostgreSQL test). The tables exist by then, so
    # connecting again succeeds.
    for attempt in range(_STORAGE_ATTEMPTS):
        try:
            with _quiet_experimental():
                return optuna.storages.RDBStorage(url, heartbeat_interval=int(heartbeat_interval),
                                                  grace_period=int(grace_period))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == _STORAGE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def as_storage(storage: str | optuna.storages.BaseStorage | None) -> optuna.storages.BaseStorage:
    """``storage`` itself when it is an Optuna storage, else :func:`make_storage` of the URL."""
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    return make_storage(storage or None)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for results files and messages)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- an unparsable URL is shown without its credentials part
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else url


def shareable_url(storage: str | optuna.storages.BaseStorage | None,
                  storage_object: optuna.storages.BaseStorage) -> str | None:
    """The URL other processes open the same studies with, or None where there is none.

    ``storage`` as the searches take it (None or ``""``: :func:`default_storage_url`; a URL; a
    storage object, whose ``url`` is used where it has one); ``storage_object`` what
    :func:`as_storage` made of it. An in-memory SQLite database is private to its process.
    """
    if storage is None or storage == "":
        return default_storage_url()
    url = storage if isinstance(storage, str) else getattr(storage_object, "url", None)
    if not isinstance(url, str) or url.startswith("sqlite:///:memory:") or url == "sqlite://":
        return None
    return url


def worker_count(jobs: int, shared_url: str | None, storage_object, *, force: bool,
                 say: Callable[[str], None], what: str) -> int:
    """How many worker processes may share a search: ``jobs - 1``, or 0 where they cannot.

    0 with ``force`` (a worker could reopen a study that this process is about to delete)
    or without a ``shared_url`` (:func:`shareable_url` found none); ``say`` is told why.
    ``what`` names the search in that message (``"the sweep"``).
    """
    if jobs <= 1:
        return 0
    if force:
        say(f"jobs={jobs}: {what} runs in this process alone with force (a worker could "
            f"reopen a study that this process is about to delete)")
        return 0
    if shared_url is None:
        say(f"jobs={jobs}: {what} runs in this process alone (its storage, "
            f"{type(storage_object).__name__}, cannot be opened by another process; pass a URL)")
        return 0
    return jobs - 1


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning: heartbeats and their retry callback have carried it
    since Optuna 2.8/2.9, and they are what makes a killed process's trial run again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


# ----------------------------------------------------------------------------------------------
# Studies and their names
# ----------------------------------------------------------------------------------------------


def open_study(name: str, *, storage: optuna.storages.BaseStorage, direction: str,
               sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner,
               force: bool = False) -> optuna.Study:
    """Create or load the study ``name``; with ``force``, delete it first (a fresh start).

    Optuna's ``create_study(load_if_exists=True)`` already settles two workers creating the same
    study; the delete that ``force`` adds has no Optuna counterpart.
    """
    if force:
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:
            pass
    return optuna.create_study(study_name=name, storage=storage, direction=direction,
                               load_if_exists=True, sampler=sampler, pruner=pruner)


def existing_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study | None:
    """The study ``name`` in ``storage``, or None where it was never created (a read that
    creates nothing, unlike :func:`open_study`)."""
    if name not in set(optuna.study.get_all_study_names(storage)):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark failed the running trials whose process stopped sending heartbeats (was killed).

    Optuna's :func:`optuna.storages.fail_stale_trials`, without its ExperimentalWarning.
    ``study.optimize`` calls it only when it starts a trial; a search calls it also before it
    counts what is done, and while it waits for trials of another process.
    """
    with _quiet_experimental():
        optuna.storages.fail_stale_trials(study)


#: A trial's user attribute: the process that runs it (:func:`process_label`).
PROCESS_ATTR = "process"


def process_label(pid: int | None = None) -> str:
    """``host:pid`` of this process (or of ``pid`` on this host): who runs a trial."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def mark_process(trial: optuna.Trial) -> None:
    """Record on ``trial`` the process that runs it (:data:`PROCESS_ATTR`)."""
    trial.set_user_attr(PROCESS_ATTR, process_label())


def fail_trials_of(study: optuna.Study, process: str) -> int:
    """Mark failed the running trials of ``process`` (:func:`process_label`), known to be dead.

    Heartbeats would fail them too, but only after the grace period; a search that resumes a
    dead worker's study at once (:func:`helpers.ours_search.run_ours_sweep`) must not count
    them as running. Trials of other processes (other machines sharing the storage) are left
    alone. Returns how many were failed.
    """
    storage = study._storage  # noqa: SLF001 -- as optuna.storages.fail_stale_trials does
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get(PROCESS_ATTR) != process:
            continue
        try:
            failed += storage.set_trial_state_values(trial._trial_id,  # noqa: SLF001
                                                     state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished meanwhile (failed by its heartbeat in another process)
    return failed


def study_name(*, data_key: str, variant: str, protocol: str, stage: str, settings: dict,
               task: str = "emotion") -> str:
    """The name of one study: readable parts plus a hash of everything else.

    Parameters
    ----------
    data_key : str
        Fingerprint of the features (``FeatureSet.key``).
    variant, protocol, stage : str
    settings : dict
        Everything else that changes a trial's result (grid, fixed hyperparameters, split
        indices, epochs, patience, batch size, seed, library versions...).
    task : str
        The task searched, the name's first part.

    Returns
    -------
    str
        e.g. ``"emotion-aggregation-original-dropout-3f2a…-8c1d…"``.
    """
    return (f"{task}-{variant}-{protocol}-{stage}-{str(data_key)[:16]}-"
            f"{config.stable_hash(settings)[:12]}")


def describe_pruner(pruner: optuna.pruners.BasePruner) -> dict:
    """A pruner's class and settings, as stored in the study name's settings.

    A pruned trial counts as done, so a study run with one pruner must not be resumed with
    another: the description is part of what names a study.
    """
    return {"class": f"{type(pruner).__module__}.{type(pruner).__qualname__}",
            "settings": {key: repr(value) for key, value in sorted(vars(pruner).items())}}


# ----------------------------------------------------------------------------------------------
# A grid stage: one study, every value done once, resumable and shared
# ----------------------------------------------------------------------------------------------


def match_grid_value(value, grid: Sequence[float]) -> float | None:
    """The value of ``grid`` equal to ``value`` up to rounding (stored floats), or None."""
    for candidate in grid:
        if math.isclose(float(value), candidate, rel_tol=1e-9, abs_tol=1e-12):
            return candidate
    return None


def _trial_value(trial: optuna.trial.FrozenTrial, parameter: str, grid: Sequence[float]):
    # An enqueued trial carries its value in ``fixed_params`` before it has run.
    params = trial.system_attrs.get("fixed_params", trial.params)
    return match_grid_value(params[parameter], grid) if parameter in params else None


#: User attribute of a trial that gave way to an earlier trial of the same grid point
#: (:func:`give_way`): it trained nothing, and the stage counts it nowhere.
DUPLICATE_OF = "duplicate_of"


def _same_point(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial, parameter: str,
                grid: Sequence[float]) -> bool:
    # The grid sampler writes its choice as ``grid_id`` when the trial starts, before the
    # objective suggests the value (a retried trial keeps its original's); an enqueued trial
    # gets none, so it is compared by value.
    if "grid_id" in a.system_attrs and "grid_id" in b.system_attrs:
        return a.system_attrs["grid_id"] == b.system_attrs["grid_id"]
    value = _trial_value(a, parameter, grid)
    return value is not None and value == _trial_value(b, parameter, grid)


def give_way(trial: optuna.Trial, parameter: str, grid: Sequence[float]) -> None:
    """Stop ``trial`` if another trial of its study holds the same grid point.

    Call it first thing in a grid stage's objective, after the value is suggested, and again
    during the work (after each epoch) and after it. Two workers sharing a study that start a
    trial at the same moment can be handed the same grid point (the grid sampler reads the
    running trials before either has written its choice, or, when every point has started,
    hands out one still running elsewhere), and a worker slowed down between creating its trial
    and writing its choice shows the other a running trial without a point, so one look is not
    enough. The rule at every look: a trial gives way to a finished twin (complete or pruned),
    and to a running twin with a lower number. A finished trial never looks again, so once a
    twin's point is visible, the other gives way at its next look (the later-numbered of two
    running ones; whichever still runs when one has finished). It is marked
    :data:`DUPLICATE_OF` and pruned, trains nothing more, and :func:`grid_status` ignores it.

    Raises
    ------
    optuna.TrialPruned
        When the trial gives way.
    """
    trials = trial.study.get_trials(deepcopy=False)
    me = next(t for t in trials if t.number == trial.number)
    for other in trials:
        if other.number == trial.number or DUPLICATE_OF in other.user_attrs:
            continue
        earlier_running = (other.state == optuna.trial.TrialState.RUNNING
                           and other.number < trial.number)
        if (other.state in DONE or earlier_running) and _same_point(me, other, parameter, grid):
            trial.set_user_attr(DUPLICATE_OF, other.number)
            raise optuna.TrialPruned(f"{parameter}={trial.params.get(parameter)} is trial "
                                     f"{other.number}'s (started by another worker)")


def grid_status(study: optuna.Study, parameter: str, grid: Sequence[float]) -> dict:
    """Per grid value: ``done`` (complete or pruned), ``active`` and ``failed`` trial counts.

    Optuna's ``GridSampler.is_exhausted`` answers only "has every point finished", and counts a
    failed point as finished; a stage must tell a failed value (to run again) from a done one.
    """
    status = {value: {"done": 0, "active": 0, "failed": 0} for value in grid}
    for trial in study.get_trials(deepcopy=False):
        value = _trial_value(trial, parameter, grid)
        if value is None or DUPLICATE_OF in trial.user_attrs:
            continue
        if trial.state in DONE:
            status[value]["done"] += 1
        elif trial.state in ACTIVE:
            status[value]["active"] += 1
        else:
            status[value]["failed"] += 1
    return status


def requeue_failed(study: optuna.Study, parameter: str, value: float) -> None:
    """Queue a failed grid value again, as a copy of its last failed trial.

    The copy is made by Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`: it
    keeps the trial's grid position (without which the grid sampler's bookkeeping fails) and
    records the retried trial's number in ``retry_history``. Optuna calls it only for a trial
    whose heartbeat went stale, not for one that failed by an exception or an interrupt, and the
    grid sampler never runs a failed point again; so a stage calls it here, for both.

    Raises
    ------
    StudyError
        If ``study`` has no failed trial of ``parameter=value``.
    """
    failed = [trial for trial in study.get_trials(deepcopy=False,
                                                  states=(optuna.trial.TrialState.FAIL,))
              if _trial_value(trial, parameter, [value]) is not None]
    if not failed:
        raise StudyError(f"study {study.study_name!r} has no failed trial of {parameter}={value}")
    with _quiet_experimental():
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback()
    retry(study, failed[-1])


def run_grid_stage(study: optuna.Study, *, parameter: str, grid: Sequence[float],
                   objective: Callable[[optuna.Trial], float], max_attempts: int = 2,
                   poll_s: float = 10.0, max_wait_s: float | None = 3600.0,
                   progress: Callable[[str], None] | None = None,
                   lost: Callable[[], Iterable[str]] | None = None) -> int:
    """Run the grid's missing trials; return how many trials were added during this call.

    A grid value counts as done once one of its trials completed or was pruned. A value whose
    trials all failed (an interrupted run, a lost worker) is queued again
    (:func:`requeue_failed`), up to ``max_attempts`` failures. Trials running elsewhere are
    waited for, so the stage's result is read only when the whole grid is done.

    Parameters
    ----------
    study : optuna.Study
        Its sampler is a :class:`~optuna.samplers.GridSampler` over ``{parameter: grid}``.
    parameter : str
        The one parameter the grid varies.
    grid : sequence of float
    objective : callable
        Optuna objective; suggests ``parameter``.
    max_attempts : int
        Failures after which a value is left out (with a warning).
    poll_s, max_wait_s : float
        How often, and for how long at most (None: no limit), to wait for trials that another
        process is running.
    progress : callable, optional
        Called with a one-line status when the stage starts waiting for another process.
    lost : callable, optional
        Returns the processes (:func:`process_label`) known to have died, such as the workers of
        :func:`helpers.parallel.alongside` that exited: their running trials (marked by
        :func:`mark_process`) are failed at once and run again, not waited for until the
        heartbeat grace period has passed.

    Returns
    -------
    int

    Raises
    ------
    StudyError
        If trials of another process are still running after ``max_wait_s``, or the grid is
        not done after a number of rounds that only a fault would need.
    """
    grid = tuple(grid)
    max_attempts = check_int(max_attempts, name="max_attempts", minimum=1, error=StudyError)
    before = len(study.get_trials(deepcopy=False))
    waited_since = None
    announced = False
    rounds = 0

    def optimize(n: int) -> None:
        nonlocal rounds, waited_since
        rounds += 1
        if rounds > 3 * len(grid) * max_attempts + 3:
            raise StudyError(f"study {study.study_name!r}: the grid of {parameter} is not done "
                             f"after {rounds - 1} rounds of trials; inspect its trials")
        waited_since = None
        study.optimize(objective, n_trials=n, gc_after_trial=True)

    while True:
        # A running trial whose process died stops sending heartbeats; after the grace period
        # this marks it failed so that the loop below runs it again. A process known to be
        # dead (``lost``) has its trials failed now.
        fail_stale_trials(study)
        for process in lost() if lost is not None else ():
            fail_trials_of(study, process)
        status = grid_status(study, parameter, grid)
        todo = [v for v, s in status.items()
                if not s["done"] and not s["active"] and s["failed"] < max_attempts]
        if todo:
            if status[todo[0]]["failed"]:
                requeue_failed(study, parameter, todo[0])
            # One trial at a time, looking again before the next: a worker sharing the study
            # may have started the other values meanwhile, and the grid sampler would run a
            # value that is still running elsewhere a second time rather than wait for it.
            optimize(1)
            continue
        waiting = [v for v, s in status.items() if not s["done"] and s["active"]]
        if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            optimize(1)
            continue
        if not waiting:
            break
        waited_since = waited_since or time.monotonic()
        if max_wait_s is not None and time.monotonic() - waited_since > max_wait_s:
            raise StudyError(
                f"study {study.study_name!r}: trials for {parameter}={waiting} are still running "
                f"after {max_wait_s:.0f} s; another worker holds them, or a killed run left them "
                f"behind (they are retried once the storage's heartbeat grace period has passed)")
        if progress is not None and not announced:
            progress(f"  waiting for {parameter}={waiting}: running in another process (or "
                     f"lost: retried after the heartbeat grace period)")
            announced = True
        time.sleep(poll_s)
    failed = [v for v, s in grid_status(study, parameter, grid).items() if not s["done"]]
    if failed:
        warnings.warn(f"study {study.study_name!r}: {parameter}={failed} failed "
                      f"{max_attempts} times and is left out of the choice",
                      stacklevel=3)  # the line that called the search
    return len(study.get_trials(deepcopy=False)) - before
