"""``run_all.py`` killed with SIGKILL resumes, and its resumed run of every notebook (01-07) writes
the same tables as the session's own smoke run.

The helper-level cases are in ``test_resume.py``; here the whole command is killed, the way a
user's run dies (a closed laptop, an out-of-memory killer): once while notebook 02 writes the
feature cache, once while notebook 03 trains. A ``sitecustomize`` module put on the
subprocesses' path makes the kill exact: just before the chosen atomic rename (a complete
temporary file beside its target, the worst moment for a reader), the notebook's kernel kills
``run_all.py`` (its parent) and itself with SIGKILL. Nothing is cleaned up.

Same inputs, same numbers (issue 13): the resumed run starts from empty outputs (feature cache,
model cache and Optuna storage) and reads the session's stand-in corpus; every table of every
notebook (the tuning sweep, gender, case studies and fusion included) must equal the session's
smoke run's (:func:`notebook_support.chain_tables`: run by another worker at the same time,
or here), cell for cell. Allowed to differ: the ``seconds`` column (wall time of a sweep trial)
and the path of each run's own outputs folder. So a resumed run is a whole run, and a smoke run
is reproducible.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from notebook_support import NOTEBOOKS, chain_tables, read_tables, shared_standin, smoke_params

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Columns that hold wall-clock times: the only ones allowed to differ between two runs.
TIME_COLUMNS = frozenset({"seconds"})

SITECUSTOMIZE = textwrap.dedent('''
    import fnmatch, os, signal, sys

    _pattern = os.environ.get("SER_TEST_KILL_BEFORE")
    if _pattern:
        _real_replace, _count = os.replace, [0]

        def _replace(src, dst, *args, **kwargs):
            in_kernel = "ipykernel" in " ".join(sys.argv)
            if in_kernel and fnmatch.fnmatch(os.fspath(dst), _pattern):
                _count[0] += 1
                if _count[0] == int(os.environ.get("SER_TEST_KILL_NTH", "1")):
                    # In a notebook's kernel: kill run_all.py (the parent), then the kernel.
                    os.kill(os.getppid(), signal.SIGKILL)
                    os.kill(os.getpid(), signal.SIGKILL)
            return _real_replace(src, dst, *args, **kwargs)

        os.replace = _replace
''')


def run_all(outputs: Path, standin: Path, hooks: Path, first: str,
            kill_before: str | None = None, nth: int = 1) -> subprocess.CompletedProcess:
    """``run_all.py --profile smoke`` of notebooks ``first`` to the last, with the session smoke
    run's parameters for them."""
    env = {**os.environ, "SER_OUTPUTS_DIR": str(outputs), "SER_STANDIN_DIR": str(standin),
           "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(hooks), str(PROJECT_ROOT)])}
    env.pop("SER_TEST_KILL_BEFORE", None)
    if kill_before:
        env.update(SER_TEST_KILL_BEFORE=kill_before, SER_TEST_KILL_NTH=str(nth))
    notebooks = [n for n in NOTEBOOKS if n >= first]
    params = smoke_params(notebooks)
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_all.py"), "--profile", "smoke",
                           "--only", ",".join(notebooks), *params], env=env, capture_output=True,
                          text=True, timeout=1200, cwd=PROJECT_ROOT)


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


def comparable(data: bytes, outputs: Path) -> list[list[str]]:
    """A CSV table's cells as text, without its time columns, with the run's own outputs folder
    written as ``<outputs>`` (notebook 06's case-study table names the files it wrote there)."""
    rows = list(csv.reader(io.StringIO(data.decode().replace(str(outputs), "<outputs>"))))
    keep = [k for k, name in enumerate(rows[0]) if name not in TIME_COLUMNS] if rows else []
    return [[row[k] for k in keep] for row in rows]


@pytest.mark.beside_chain
def test_killed_run_all_resumes_and_writes_the_tables_of_an_uninterrupted_run(
        request, tmp_path, tmp_path_factory):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    # The smoke run's corpus (generated once, by whichever run gets there first: the generator
    # locks it); the outputs are this run's own.
    standin, killed = shared_standin(tmp_path_factory), tmp_path / "killed"

    # 1. Killed in notebook 02, with the feature cache's temporary file complete but not renamed.
    first = run_all(killed, standin, hooks, "01", kill_before="*/cache/features/*.npz")
    assert first.returncode == -9, (first.returncode, first.stderr[-2000:])
    features = killed / "cache" / "features"
    finished = [p for p in features.glob("*.npz") if not p.name.startswith(".")]
    assert not finished, "the feature file was renamed into place"
    assert [p for p in features.iterdir() if p.name.startswith(".")], "no half-way file left"
    assert not (killed / "tables" / "table1_emotion.csv").exists()

    # 2. Rerun, killed in notebook 03 just before its second model enters the model cache.
    second = run_all(killed, standin, hooks, "02", kill_before="*/models/cache/*.keras", nth=2)
    assert second.returncode == -9, (second.returncode, second.stderr[-2000:])
    (feature_file,) = [p for p in features.glob("*.npz") if not p.name.startswith(".")]
    (first_model,) = [p for p in (killed / "models" / "cache").glob("*.keras")
                      if not p.name.startswith(".")]
    feature_stamp, model_stamp = feature_file.stat().st_mtime_ns, first_model.stat().st_mtime_ns
    assert not (killed / "tables" / "table1_emotion.csv").exists()

    # 3. Rerun to the end: the finished feature file and model are reused, not rewritten.
    ok(run_all(killed, standin, hooks, "03"))
    assert feature_file.stat().st_mtime_ns == feature_stamp
    assert first_model.stat().st_mtime_ns == model_stamp
    tally = json.loads((killed / "metrics" / "03_emotion.json").read_text())["model_cache"]
    assert tally["cached"] == 1 and tally["trained"] >= 1

    # Same inputs, same numbers: every table of the resumed run equals the session smoke run's.
    chain = chain_tables(request, NOTEBOOKS[-1])
    expected, got = chain.tables, read_tables(killed / "tables")
    # Every notebook wrote tables, and the two runs wrote the same ones.
    assert {"table1_emotion.csv", "table3_gender.csv", "tuning_trials.csv", "fusion.csv"} <= set(expected)
    assert set(got) == set(expected)
    assert chain.standin == standin  # the same corpus, so the manifests name the same files
    differing = [name for name in expected if got[name] != expected[name]
                 and comparable(got[name], killed) != comparable(expected[name], chain.outputs)]
    assert differing == []
    # The sweep's table does carry the time column that the comparison leaves out.
    assert "seconds" in expected["tuning_trials.csv"].decode().splitlines()[0].split(",")
