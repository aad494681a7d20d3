"""Run notebooks headlessly through ``run_all.py`` with the smoke profile, once per session.

``tests/conftest.py`` provides the ``smoke_run`` fixture to every test module; call
``smoke_run.ensure("03")``: notebooks not yet run in this session (and the ones before the
requested one that it depends on) are executed in order into a temporary outputs folder, on
the generated stand-in corpus, exactly as a user's ``python run_all.py`` would run them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Extra parameters that keep the smoke run within the test budget: the emotion notebook trains
# two of the five variants (one noise-free, one aggregated) under every protocol, and skips the
# ablation of `ours` (experiments.run_ablation is tested on its own in test_recipes.py); the
# panel of notebook 04 trains its default trial on 96 items (the widget tests cover the rest).
SMOKE_PARAMS = {"03": ["VARIANTS=clean,aggregation", "ABLATION=False"],
                "04": ["PANEL_MAX_ITEMS=96"]}

#: The last notebook any collected test needs (set by ``conftest.py`` at collection).
CHAIN_THROUGH: dict[str, str | None] = {"number": None}


class SmokeRun:
    """A session's smoke outputs: ``outputs`` (results), ``standin`` (generated corpus)."""

    def __init__(self, root: Path):
        self.outputs = root / "outputs"
        self.standin = root / "standin"
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
        notebooks = sorted(p.name[:2] for p in (PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        through = max(number, CHAIN_THROUGH["number"] or number)
        pending = [n for n in notebooks if n <= through and n not in self.done]
        if pending:
            params = [arg for n in pending for p in SMOKE_PARAMS.get(n, []) for arg in ("--param", p)]
            result = self.run_all("--only", ",".join(pending), *params)
            for current in pending:
                self.done[current] = result
        return self.done[number]

    def table(self, stem: str):
        import pandas as pd

        return pd.read_csv(self.outputs / "tables" / f"{stem}.csv")

    def metrics(self, name: str) -> dict:
        return json.loads((self.outputs / "metrics" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> SmokeRun:
    return SmokeRun(tmp_path_factory.mktemp("smoke"))
