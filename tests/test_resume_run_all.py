"""``run_all.py`` killed with SIGKILL resumes; two smoke runs from clean outputs agree byte for byte.

The helper-level cases are in ``test_resume.py``; here the whole command is killed, the way a
user's run dies (a closed laptop, an out-of-memory killer): once while notebook 02 writes the
feature cache, once while notebook 03 trains. A ``sitecustomize`` module put on the
subprocesses' path makes the kill exact: just before the chosen atomic rename (a complete
temporary file beside its target, the worst moment for a reader), the notebook's kernel kills
``run_all.py`` (its parent) and itself with SIGKILL. Nothing is cleaned up.

The resumed run's tables are then compared with an uninterrupted run from clean outputs on the
same stand-in corpus: identical bytes, so a resumed run is a whole run, and a smoke run is
reproducible (issue 13's "same inputs, same numbers").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Notebook 03 on its cheapest settings: one variant, one protocol, no `ours`.
NOTEBOOKS = "01,02,03"
PARAMS = ["--param", "VARIANTS=clean", "--param", "PROTOCOLS=speaker-independent",
          "--param", "OURS=False"]

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


def run_all(outputs: Path, standin: Path, hooks: Path, *args: str,
            kill_before: str | None = None, nth: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "SER_OUTPUTS_DIR": str(outputs), "SER_STANDIN_DIR": str(standin),
           "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(hooks), str(PROJECT_ROOT)])}
    env.pop("SER_TEST_KILL_BEFORE", None)
    if kill_before:
        env.update(SER_TEST_KILL_BEFORE=kill_before, SER_TEST_KILL_NTH=str(nth))
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_all.py"), "--profile", "smoke",
                           *args, *PARAMS], env=env, capture_output=True, text=True,
                          timeout=1200, cwd=PROJECT_ROOT)


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


def tables(outputs: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((outputs / "tables").glob("*.csv"))}


def test_killed_run_all_resumes_and_equals_an_uninterrupted_run(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    standin = tmp_path / "standin"
    clean, killed = tmp_path / "clean", tmp_path / "killed"

    ok(run_all(clean, standin, hooks, "--only", NOTEBOOKS))

    # 1. Killed in notebook 02, with the feature cache's temporary file complete but not renamed.
    first = run_all(killed, standin, hooks, "--only", NOTEBOOKS,
                    kill_before="*/cache/features/*.npz")
    assert first.returncode == -9, (first.returncode, first.stderr[-2000:])
    features = killed / "cache" / "features"
    finished = [p for p in features.glob("*.npz") if not p.name.startswith(".")]
    assert not finished, "the feature file was renamed into place"
    assert [p for p in features.iterdir() if p.name.startswith(".")], "no half-way file left"
    assert not (killed / "tables" / "table1_emotion.csv").exists()

    # 2. Rerun, killed in notebook 03 just before its second model enters the model cache.
    second = run_all(killed, standin, hooks, "--only", "02,03", kill_before="*/models/cache/*.keras",
                     nth=2)
    assert second.returncode == -9, (second.returncode, second.stderr[-2000:])
    (feature_file,) = [p for p in features.glob("*.npz") if not p.name.startswith(".")]
    (first_model,) = [p for p in (killed / "models" / "cache").glob("*.keras")
                      if not p.name.startswith(".")]
    feature_stamp, model_stamp = feature_file.stat().st_mtime_ns, first_model.stat().st_mtime_ns
    assert not (killed / "tables" / "table1_emotion.csv").exists()

    # 3. Rerun to the end: the finished feature file and model are reused, not rewritten.
    ok(run_all(killed, standin, hooks, "--only", "03"))
    assert feature_file.stat().st_mtime_ns == feature_stamp
    assert first_model.stat().st_mtime_ns == model_stamp
    tally = json.loads((killed / "metrics" / "03_emotion.json").read_text())["model_cache"]
    assert tally["cached"] == 1 and tally["trained"] >= 1

    # Same inputs, same numbers: every table of the resumed run equals the clean run's.
    expected, got = tables(clean), tables(killed)
    assert "table1_emotion.csv" in expected and set(got) == set(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
