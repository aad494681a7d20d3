"""Run notebooks headlessly through ``run_all.py`` with the smoke profile, once per session.

``tests/conftest.py`` provides the ``smoke_run`` fixture to every test module; call
``smoke_run.ensure("03")``: notebooks not yet run in this session (and the ones before the
requested one that it depends on) are executed in order into a temporary outputs folder, on
the generated stand-in corpus, exactly as a user's ``python run_all.py`` would run them.

The tests that use it form one pytest-xdist group, run by one worker. That worker publishes
each finished run's tables in a folder every worker of the session sees
(:func:`chain_tables`), so a test on another worker can compare its own run with them without
joining the group: it runs beside the chain instead of after it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Extra parameters that keep the smoke run within the test budget: the emotion notebook trains
# two of the five variants (one noise-free, one aggregated) under every protocol, and skips the
# ablation of `ours` (experiments.run_ablation is tested on its own in test_recipes.py); the
# panel of notebook 04 trains its default trial on 96 items (the widget tests cover the rest).
SMOKE_PARAMS = {"03": ["VARIANTS=clean,aggregation", "ABLATION=False"],
                "04": ["PANEL_MAX_ITEMS=96"]}

#: The notebooks' two-digit numbers, in order.
NOTEBOOKS = sorted(p.name[:2] for p in (PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def smoke_params(notebooks) -> list[str]:
    """``--param`` arguments of :data:`SMOKE_PARAMS` for these notebooks."""
    return [arg for n in notebooks for p in SMOKE_PARAMS.get(n, []) for arg in ("--param", p)]


#: The last notebook any collected test needs (set by ``conftest.py`` at collection).
CHAIN_THROUGH: dict[str, str | None] = {"number": None}


class SmokeRun:
    """A session's smoke outputs: ``outputs`` (results), ``standin`` (generated corpus)."""

    def __init__(self, root: Path, *, shared: Path | None = None, standin: Path | None = None):
        self.outputs = root / "outputs"
        self.standin = standin if standin is not None else root / "standin"
        self.shared = shared  # where finished runs are published for other workers (or None)
        self.done: dict[str, subprocess.CompletedProcess] = {}
        self.env = {**os.environ, "SER_OUTPUTS_DIR": str(self.outputs),
                    "SER_STANDIN_DIR": str(self.standin), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run_all(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``python run_all.py --profile smoke ARGS`` with this session's folders."""
        result = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_all.py"), "--profile", "smoke", *args],
                                env=self.env, capture_output=True, text=True, timeout=1200, cwd=PROJECT_ROOT)
        if check and result.returncode != 0:
            raise AssertionError(f"run_all.py {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def ensure(self, number: str) -> subprocess.CompletedProcess:
        """Run every notebook up to ``number`` that has not run yet in this session.

        The missing notebooks run in one ``run_all.py`` call (one start-up and one report for
        all of them), through :data:`CHAIN_THROUGH` when the session collected tests of later
        notebooks: they would each pay that overhead again.
        """
        through = max(number, CHAIN_THROUGH["number"] or number)
        pending = [n for n in NOTEBOOKS if n <= through and n not in self.done]
        if pending:
            params = smoke_params(pending)
            self._withdraw("failed.json")  # an earlier attempt's failure is not this one's
            # The claim's lock is held until the run has published or failed: a waiter that
            # can take it knows the claimant is gone (a zombie or a reused pid would still
            # look alive to os.kill), and the kernel releases it however the process ends.
            lock = self._hold_claim_lock()
            try:
                self._announce("claim.json", {"pid": os.getpid(), "through": pending[-1],
                                              "lock": lock.name if lock else None})
                try:
                    result = self.run_all("--only", ",".join(pending), *params)
                    self._publish(pending[-1])
                except BaseException as error:
                    self._announce("failed.json", {"pid": os.getpid(), "error": str(error)[-3000:]})
                    raise
            finally:
                if lock is not None:
                    lock.close()
            for current in pending:
                self.done[current] = result
        return self.done[number]

    def own_tables(self) -> ChainTables:
        """This run's tables and folders, read from its outputs."""
        return ChainTables(tables=read_tables(self.outputs / "tables"), outputs=self.outputs,
                           standin=self.standin)

    def _hold_claim_lock(self):
        """This process's claim lock file, open and exclusively locked (None without a shared folder)."""
        if self.shared is None:
            return None
        self.shared.mkdir(parents=True, exist_ok=True)
        lock = open(self.shared / f"claim-{os.getpid()}.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def _withdraw(self, name: str) -> None:
        if self.shared is not None:
            (self.shared / name).unlink(missing_ok=True)

    def _announce(self, name: str, payload: dict) -> None:
        if self.shared is not None:
            self.shared.mkdir(parents=True, exist_ok=True)
            temporary = self.shared / f".{name}.{os.getpid()}"
            temporary.write_text(json.dumps(payload))
            os.replace(temporary, self.shared / name)

    def _publish(self, through: str) -> None:
        """Copy the tables to the shared folder, then say where they are (``done.json``)."""
        if self.shared is None:
            return
        snapshot = self.shared / f"tables-through-{through}-{os.getpid()}"
        staging = self.shared / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(self.outputs / "tables", staging)
        shutil.rmtree(snapshot, ignore_errors=True)
        os.replace(staging, snapshot)
        self._announce("done.json", {"pid": os.getpid(), "through": through, "tables": str(snapshot),
                                     "outputs": str(self.outputs), "standin": str(self.standin)})

    def table(self, stem: str):
        import pandas as pd

        return pd.read_csv(self.outputs / "tables" / f"{stem}.csv")

    def metrics(self, name: str) -> dict:
        return json.loads((self.outputs / "metrics" / f"{name}.json").read_text())


def shared_root(tmp_path_factory) -> Path:
    """A folder that every worker of this test session sees (the session's own temporary root
    when pytest-xdist is not running it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_folder(tmp_path_factory) -> Path:
    """Where the smoke run publishes its runs (:func:`chain_tables`)."""
    return shared_root(tmp_path_factory) / "smoke_chain"


def shared_standin(tmp_path_factory) -> Path:
    """The stand-in corpus folder of every notebook run of the session (``SER_STANDIN_DIR``).

    The smoke run and the resumed run beside it would each write the same 1,440 generated clips
    (about 0.5 GB, 20 s of a core); sharing the folder, the first to reach notebook 01 generates
    them and the other waits on the generator's lock, then finds them complete. Tests only read it.
    """
    return shared_root(tmp_path_factory) / "standin"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> SmokeRun:
    return SmokeRun(tmp_path_factory.mktemp("smoke"), shared=shared_folder(tmp_path_factory),
                    standin=shared_standin(tmp_path_factory))


@dataclass(frozen=True)
class ChainTables:
    """The session smoke run's tables (``tables``: file name -> bytes) and its folders."""

    tables: dict[str, bytes]
    outputs: Path
    standin: Path


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _claimant_running(claim: dict) -> bool:
    """Whether the process that wrote ``claim`` still holds its claim lock (it is running the chain)."""
    try:
        fd = os.open(claim["lock"], os.O_RDONLY)
    except (FileNotFoundError, KeyError, TypeError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if it was taken
    return False


def chain_tables(request, through: str, *, timeout_s: float = 1800.0) -> ChainTables:
    """The tables of the session's smoke run through notebook ``through``.

    Where another worker runs the chain (it claimed it, through this notebook or a later one, and
    still holds its claim's lock), wait for its published tables; otherwise run the chain here, as the ``smoke_run``
    fixture (chain tests that this worker gets later reuse it). Never waits on itself: a chain
    this process claimed has finished before any other test of it runs.
    """
    shared = shared_folder(request.getfixturevalue("tmp_path_factory"))
    deadline = time.monotonic() + timeout_s
    while True:
        # The claim first: a claimant that publishes (or fails) and lets go of its lock after
        # this look is seen by the reads of done.json and failed.json that follow.
        claim = _read(shared / "claim.json")
        waiting = bool(claim and claim["through"] >= through and claim["pid"] != os.getpid()
                       and _claimant_running(claim))
        done = _read(shared / "done.json")
        if done and done["through"] >= through:
            break
        failed = _read(shared / "failed.json")
        if failed:
            where = "this worker" if failed["pid"] == os.getpid() else "another worker"
            pytest.fail(f"the session's smoke run failed in {where}:\n{failed['error']}")
        if not waiting:
            run = request.getfixturevalue("smoke_run")
            run.ensure(through)
            return run.own_tables()
        if time.monotonic() > deadline:
            pytest.fail(f"the session's smoke run (process {claim['pid']}) did not finish "
                        f"notebook {through} within {timeout_s:.0f} s")
        time.sleep(1.0)
    return ChainTables(tables=read_tables(Path(done["tables"])), outputs=Path(done["outputs"]),
                       standin=Path(done["standin"]))


def read_tables(folder: Path) -> dict[str, bytes]:
    """Every CSV table in ``folder``: file name -> bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}
