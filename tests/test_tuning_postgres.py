"""The sweep shared by two worker processes through a real PostgreSQL server.

The test starts its own server: ``initdb`` into a temporary folder and ``pg_ctl`` on a loopback
port (Debian's ``postgresql`` package, which ``.ci/run`` installs). It is skipped, with the
reason, only where the server binaries or the driver are absent.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import studies

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORKER = PROJECT_ROOT / "tests" / "sweep_worker.py"


def _postgres_bindir() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: Debian's versioned folder first, then PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server on 127.0.0.1; yields its SQLAlchemy URL."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed "
                                           "(pip install -r requirements.txt)")
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                    "apt-get install postgresql")
    # The server refuses to run as root: there, it runs as Debian's 'postgres' user.
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="ser-postgres-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "ser",
                    "--auth=trust", "--encoding=UTF8", "--no-sync"],
                   check=True, capture_output=True, text=True)
    started = subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
         "-w", "-t", "60", "-o", f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off", "start"],
        capture_output=True, text=True)
    if started.returncode != 0:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise AssertionError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg2://ser@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _start_worker(storage: str, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, str(WORKER), storage, str(out), *extra], env=env,
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(process: subprocess.Popen, out: Path) -> dict:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, f"sweep worker failed ({process.returncode}):\n{output[-4000:]}"
    return json.loads(out.read_text())


def test_two_workers_share_one_study_on_postgresql(postgres_url, tmp_path):
    import optuna

    ready = tmp_path / "ready"
    ready.mkdir()
    pair = [_start_worker(postgres_url, tmp_path / f"worker{k}.json", "--ready", str(ready),
                          "--workers", "2") for k in range(2)]
    single = _start_worker(f"sqlite:///{tmp_path / 'single.db'}", tmp_path / "single.json")
    workers = [_finish(process, tmp_path / f"worker{k}.json") for k, process in enumerate(pair)]
    alone = _finish(single, tmp_path / "single.json")

    # Both workers took part, and no grid value was trained twice: each of the six values
    # (three per stage) was trained exactly once, by one of the two processes.
    trained = [record for worker in workers for record in worker["trained"]]
    assert all(worker["trained"] for worker in workers), [w["trained"] for w in workers]
    assert len(trained) == 6, trained
    per_study = {}
    for record in trained:
        per_study.setdefault(record["study"], []).append(record)
    assert len(per_study) == 2
    dropout_study, rate_study = (workers[0]["stages"][s]["study_name"]
                                 for s in ("dropout", "learning_rate"))
    assert sorted(r["dropout_rate"] for r in per_study[dropout_study]) == [0.1, 0.25, 0.5]
    assert sorted(r["learning_rate"] for r in per_study[rate_study]) == [0.001, 0.002, 0.004]

    # The stage decision waited for both workers: no learning-rate trial started before every
    # dropout trial had finished, and both workers decided the same.
    storage = optuna.storages.RDBStorage(postgres_url)
    dropout_trials = optuna.load_study(study_name=dropout_study, storage=storage).trials
    rate_trials = optuna.load_study(study_name=rate_study, storage=storage).trials
    # (A trial handed a grid point that the other worker had just started gave way before
    # training: it is marked, pruned and counted nowhere; studies.give_way.)
    dropout_trials = [t for t in dropout_trials if studies.DUPLICATE_OF not in t.user_attrs]
    assert [t.state.name for t in dropout_trials] == ["COMPLETE"] * 3
    last_dropout = max(t.datetime_complete for t in dropout_trials)
    assert min(t.datetime_start for t in rate_trials) >= last_dropout - datetime.timedelta(0)
    assert workers[0]["best"] == workers[1]["best"]
    assert {r["dropout_rate"] for r in per_study[rate_study]} == {workers[0]["best"]["dropout_rate"]}

    # The shared result is the single-worker result: the same choice from the same scores.
    assert workers[0]["best"] == alone["best"]
    for stage in ("dropout", "learning_rate"):
        shared = {t["value"]: t["val_loss"] for t in workers[0]["stages"][stage]["trials"]}
        single_scores = {t["value"]: t["val_loss"] for t in alone["stages"][stage]["trials"]}
        assert shared.keys() == single_scores.keys()
        for value, loss in single_scores.items():
            assert shared[value] == pytest.approx(loss, rel=1e-5), (stage, value)
