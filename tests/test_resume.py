"""A run killed with SIGKILL resumes: finished models and features are reused, half-written
files are never loaded, and the results equal an uninterrupted run's.

Each case runs a small workload in a subprocess that kills itself (SIGKILL, no clean-up) at a
chosen point: just before the N-th atomic rename, i.e. with a fully written temporary file
beside the target, the worst moment for a reader of the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from conftest import make_ravdess_tree
from helpers import config

WORKLOAD = textwrap.dedent('''
    import json, os, signal, sys
    import numpy as np, pandas as pd
    kill_at = int(sys.argv[2])
    renames = 0
    real_replace = os.replace

    def replace(src, dst):  # every atomic write of the project ends in os.replace
        global renames
        renames += 1
        if renames == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    os.replace = replace
    task, out = sys.argv[1], sys.argv[3]
    if task == "features":
        from helpers import datasets, functionals  # no TensorFlow: a faster start
        manifest, _ = datasets.find_ravdess(sys.argv[4])
        x = functionals.extract_for_items(manifest, feature_set="egemaps", max_workers=1,
                                          cache_folder=sys.argv[5])
        np.save(out, x)
    else:
        from helpers import config, experiments, recipes
        rng = np.random.default_rng(0)
        rows, vectors = [], []
        for actor in range(1, 9):
            for code, emotion in enumerate(config.EMOTIONS, start=1):
                for k in range(2):
                    v = rng.normal(size=12); v[code] += 4.0
                    vectors.append(v)
                    rows.append({"actor": actor, "gender": "male" if actor % 2 else "female",
                                 "emotion": emotion, "emotion_code": code,
                                 "clip_id": f"a{actor}-e{code}-{k}", "variant": "clean"})
        x, items = np.stack(vectors).astype("float32"), pd.DataFrame(rows)
        recipe = recipes.get_recipe("emotion", "ours").replace(
            epochs=3, batch_size=32, speed_perturbation=(), channel_copies=0, level_db=None)
        profile = config.Profile("t", clips_per_actor=None, max_epochs=3, early_stopping_patience=1,
                                 n_folds=4)
        result = experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                          profile=profile, hyperparameters=None, seed=0,
                                          data_key="resume", recipe=recipe)
        json.dump({"cached": [f.cached for f in result.folds],
                   "probabilities": [f.probabilities.tolist() for f in result.folds]}, open(out, "w"))
''')


def run_workload(tmp_path: Path, task: str, kill_at: int, out: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the workload (``kill_at`` 0: never killed); its output goes to files, not pipes."""
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    env = {**os.environ, "SER_OUTPUTS_DIR": str(tmp_path / "outputs"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(config.PROJECT_ROOT), "SER_RUN_EAGERLY": "1"}
    log = tmp_path / f"{out.stem}.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, str(script), task, str(kill_at), str(out), *args],
                                   env=env, stdout=handle, stderr=subprocess.STDOUT)
        returncode = process.wait(timeout=600)
    return subprocess.CompletedProcess(process.args, returncode, stdout="", stderr=log.read_text())


def test_training_killed_between_models_reuses_the_finished_ones(tmp_path):
    # Each model writes two files (the .keras archive, then its history): the 3rd rename is
    # the second model's archive, so the kill leaves one finished model and one temporary file.
    killed = run_workload(tmp_path, "train", 3, tmp_path / "killed.json")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    cache = tmp_path / "outputs" / "models" / "cache"
    finished = [p for p in cache.glob("*.keras") if not p.name.startswith(".")]
    assert len(finished) == 1 and len(list(cache.glob(".*"))) >= 1

    resumed = run_workload(tmp_path, "train", 0, tmp_path / "resumed.json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads((tmp_path / "resumed.json").read_text())
    assert result["cached"] == [True, False, False, False]  # only the unfinished work is redone

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    clean = run_workload(fresh, "train", 0, fresh / "clean.json")
    assert clean.returncode == 0, clean.stderr[-3000:]
    expected = json.loads((fresh / "clean.json").read_text())
    assert expected["cached"] == [False] * 4
    for got, want in zip(result["probabilities"], expected["probabilities"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_feature_cache_killed_mid_write_reuses_the_written_files(tmp_path):
    data = tmp_path / "ravdess"
    # 0.6 s: the manifest keeps only clips that reach into the analysis window (from 0.5 s).
    make_ravdess_tree(data, actors=(1, 2), emotions=(1, 5, 8), duration_s=0.6, sample_rate=16_000)
    cache = tmp_path / "functionals"
    killed = run_workload(tmp_path, "features", 4, tmp_path / "killed.npy", str(data), str(cache))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    written = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy") if not p.name.startswith(".")}
    assert len(written) == 3  # three files finished, the fourth was left as a temporary file

    resumed = run_workload(tmp_path, "features", 0, tmp_path / "resumed.npy", str(data), str(cache))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len([p for p in cache.rglob("*.npy") if not p.name.startswith(".")]) == 6
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())  # reused, not rewritten

    clean = run_workload(tmp_path, "features", 0, tmp_path / "clean.npy", str(data), str(tmp_path / "other"))
    assert clean.returncode == 0, clean.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "resumed.npy"), np.load(tmp_path / "clean.npy"))
