"""Several trainings at once: worker processes that train models into the model cache.

A training's numbers depend on its inputs, its seed and the threads it computes on (pinned for
every process: :data:`helpers.config.DEFAULT_THREADS`, :data:`helpers.config.LBFGS_THREADS` for
L-BFGS solves), not on which process runs it. So the
workers here train exactly the models the serial code would, each goes into the
content-addressed model cache (:func:`helpers.training.train_or_load`), and the serial code then
loads it from there and scores it as before: ``jobs`` changes how long a study takes, never its
numbers. For CNNs it pays on a machine with at least ``jobs`` × ``SER_THREADS`` cores; on 2
cores it does not (the README has the measurements). L-BFGS solves compute on one thread
(:data:`helpers.config.LBFGS_THREADS`), so ``jobs`` of them can share ``jobs`` cores.

Workers are started fresh (``spawn``: TensorFlow must not be forked) with the parent's
environment, so they use its data, cache folders, precision and threads. As with any spawned
process, a script that calls this must keep its work under ``if __name__ == "__main__":``
(each worker imports the script first); notebooks and ``run_all.py`` need nothing. The big input array is
written once to a temporary ``.npy`` file that every worker maps read-only, instead of being
copied into each task.

Two shapes: :func:`train_splits` hands each worker whole trainings (the folds of notebook 03, the
CNNs of notebook 07's fusion study) and the caller loads them from the cache afterwards;
:func:`alongside` starts workers that run the caller's own work beside it, for work that
processes already divide among themselves through a shared store (the grid trials of notebook
04's sweep, through its Optuna studies).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from helpers import config
from helpers.errors import ConfigError, check_int


def _train_split_in_worker(x_path: str, kwargs: Mapping) -> dict:
    """One :func:`helpers.experiments.train_split` call, in a worker: what the parent needs back."""
    from helpers import experiments

    x = np.load(x_path, mmap_mode="r")
    fold, _ = experiments.train_split(x, **kwargs)
    return {"cached": bool(fold.cached), "seconds": float(fold.seconds),
            "train_samples_per_s": fold.train_samples_per_s}


def train_splits(x: np.ndarray, calls: Sequence[Mapping], *, jobs: int) -> list[dict]:
    """Run :func:`helpers.experiments.train_split` ``(x, **call)`` for every call, ``jobs`` at a time.

    Parameters
    ----------
    x : np.ndarray
        The inputs every call shares (written once to a temporary file the workers map).
    calls : sequence of dict
        The other keyword arguments of each call (``y``, ``split``, ``seed``, …). A call without
        a ``cache_folder`` gets this process's model cache (:func:`helpers.config.model_cache_dir`),
        where the serial code will look, not the one a fresh worker would derive.
    jobs : int
        Worker processes (at most one per call).

    Returns
    -------
    list of dict
        Per call, in order: ``cached`` (the worker found the model in the cache), ``seconds``
        and ``train_samples_per_s`` of its training.

    Raises
    ------
    ConfigError
        If ``jobs`` is not a whole number >= 1.
    Exception
        Whatever a worker's training raised (the others are cancelled).
    """
    jobs = check_int(jobs, name="jobs", minimum=1, error=ConfigError)
    if not calls:
        return []
    calls = [{**call, "cache_folder": call.get("cache_folder") or config.model_cache_dir()} for call in calls]
    with tempfile.TemporaryDirectory(prefix="ser-jobs-") as folder:
        x_path = str(Path(folder) / "x.npy")
        np.save(x_path, np.ascontiguousarray(x))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(calls)), mp_context=context) as pool:
            futures = [pool.submit(_train_split_in_worker, x_path, call) for call in calls]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def _call_in_worker(function: Callable, x_path: str, kwargs: Mapping, out_path: str) -> None:
    """Run ``function(x, **kwargs)`` on the mapped inputs; pickle what came back, or the error."""
    try:
        outcome = {"ok": True, "result": function(np.load(x_path, mmap_mode="r"), **kwargs)}
    except BaseException as error:  # noqa: BLE001 -- reported to the parent, which decides
        outcome = {"ok": False, "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()}
    # Renamed into place once complete: a worker killed while writing leaves no half a report.
    with open(out_path + ".part", "wb") as handle:
        pickle.dump(outcome, handle)
    os.replace(out_path + ".part", out_path)


class Outcomes(list):
    """What :func:`alongside` yields: a list of the workers' outcomes, filled when the block is
    left, and :meth:`exited` to see, inside the block, which workers have already stopped."""

    def __init__(self) -> None:
        super().__init__()
        self._processes: list = []

    def exited(self) -> list[int]:
        """Process ids of the workers that have exited so far (done, failed or killed)."""
        return [process.pid for process in self._processes if process.exitcode is not None]


@contextlib.contextmanager
def alongside(function: Callable, x: np.ndarray, kwargs: Mapping, *,
              workers: int, per_worker: Sequence[Mapping] = ()) -> Iterator[Outcomes]:
    """Run ``function(x, **kwargs)`` in ``workers`` fresh processes while the ``with`` block runs.

    For work that processes share through a store of their own, such as the trials of one
    Optuna study (:func:`helpers.tuning.run_sweep`): the block does the same work in this
    process, and the workers take parts of it. Leaving the block normally waits for the workers
    and fills the yielded list with one outcome per worker: ``{"ok": True, "result": ...}`` (what
    ``function`` returned; it must pickle) or ``{"ok": False, "error": ..., "traceback": ...}``,
    each with the worker's process id (``"pid"``). Inside the block its
    :meth:`Outcomes.exited` names the workers that have stopped already (a killed worker's share
    of the work can then be taken over at once). An exception in the block stops the workers
    and propagates. With ``workers`` 0 nothing is started and the list stays empty.

    Parameters
    ----------
    function : callable
        A module-level function (spawned workers import it by name), taking the inputs first.
    x : np.ndarray
        The inputs every worker reads (written once to a temporary file the workers map).
    kwargs : mapping
        Its other keyword arguments; they must pickle.
    workers : int
        Processes started beside this one.
    per_worker : sequence of mapping, optional
        One mapping per worker: keyword arguments for that worker alone, on top of ``kwargs``
        (which part of the work it takes, say). Empty: every worker gets ``kwargs``.

    Raises
    ------
    ConfigError
        If ``workers`` is not a whole number >= 0, ``per_worker`` is neither empty nor one mapping
        per worker, or ``function`` or an argument cannot reach a worker (a lambda, a function
        defined in ``__main__``, something that does not pickle).
    """
    workers = check_int(workers, name="workers", minimum=0, error=ConfigError)
    per_worker = list(per_worker)
    if per_worker and len(per_worker) != workers:
        raise ConfigError(f"per_worker has {len(per_worker)} entries for {workers} workers; give "
                          f"one mapping per worker, or none")
    calls = [{**kwargs, **extra} for extra in per_worker] or [dict(kwargs)] * workers
    outcomes = Outcomes()
    if workers == 0:
        yield outcomes
        return
    # Spawned workers receive functions by name and the arguments pickled: a lambda cannot be
    # sent, and a function defined in a notebook or script (``__main__``) is not there to be
    # found. Refused here, with the argument's name, rather than in a worker.
    for name, value in [("function", function), *(item for call in calls for item in call.items())]:
        if callable(value) and getattr(value, "__module__", None) == "__main__":
            raise ConfigError(f"{name}={value!r} is defined in __main__ (a notebook or script); "
                              f"a worker process cannot import it: define it in a module")
    try:
        pickle.dumps((function, calls))
    except Exception as error:  # noqa: BLE001 -- any pickling failure means the same thing
        raise ConfigError(f"function={getattr(function, '__qualname__', function)!r} and its "
                          f"arguments must pickle to reach a worker process (module-level "
                          f"functions, plain values): {type(error).__name__}: {error}") from error
    with tempfile.TemporaryDirectory(prefix="ser-workers-") as folder:
        x_path = str(Path(folder) / "x.npy")
        np.save(x_path, np.ascontiguousarray(x))
        context = multiprocessing.get_context("spawn")
        processes = []
        try:
            for k, call in enumerate(calls):
                out_path = str(Path(folder) / f"worker{k}.pickle")
                process = context.Process(target=_call_in_worker, name=f"ser-worker-{k}",
                                          args=(function, x_path, call, out_path))
                process.start()
                processes.append((process, out_path))
                outcomes._processes.append(process)  # noqa: SLF001 -- Outcomes is this module's
            yield outcomes
            for process, out_path in processes:
                process.join()
                outcomes.append(_outcome(process, out_path))
        except BaseException:
            # The block failed (or was interrupted, or a worker could not start): stop them all.
            for process, _ in processes:
                process.terminate()
            for process, _ in processes:
                process.join()
            raise


def _outcome(process, out_path: str) -> dict:
    """What a finished worker reported, or why it reported nothing; with its process id."""
    if not Path(out_path).is_file():
        return {"ok": False, "traceback": "", "pid": process.pid,
                "error": f"worker exited with code {process.exitcode} and reported nothing "
                         f"(killed?)"}
    with open(out_path, "rb") as handle:
        return {**pickle.load(handle), "pid": process.pid}
