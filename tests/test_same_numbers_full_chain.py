"""Same inputs, same numbers, for every notebook: a second smoke run of the whole chain (01-07)
from clean outputs writes the same tables as the session's shared smoke run.

``test_resume_run_all.py`` checks notebooks 01-03 byte for byte (and a killed, resumed run);
this extends the check to the tuning sweep, gender, case studies and fusion notebooks. The
second run shares only the generated stand-in corpus (input data, itself generated from a
seed); its feature cache, model cache and Optuna storage start empty. Allowed to differ: the
``seconds`` column (wall time of a sweep trial) and the path of each run's own outputs folder;
everything else, every cell of every table of every notebook, must be identical text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from notebook_support import SMOKE_PARAMS, SmokeRun

#: Columns that hold wall-clock times: the only ones allowed to differ between two runs.
TIME_COLUMNS = frozenset({"seconds"})


def comparable(data: bytes, outputs: Path) -> list[list[str]]:
    """A CSV table's cells as text, without its time columns, with the run's own outputs folder
    written as ``<outputs>`` (notebook 06's case-study table names the files it wrote there)."""
    rows = list(csv.reader(io.StringIO(data.decode().replace(str(outputs), "<outputs>"))))
    keep = [k for k, name in enumerate(rows[0]) if name not in TIME_COLUMNS] if rows else []
    return [[row[k] for k in keep] for row in rows]


def tables(outputs: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((outputs / "tables").glob("*.csv"))}


def test_a_second_smoke_run_of_every_notebook_writes_the_same_tables(smoke_run, tmp_path):
    smoke_run.ensure("07")
    second = SmokeRun(tmp_path)
    second.standin = smoke_run.standin
    second.env["SER_STANDIN_DIR"] = str(smoke_run.standin)
    notebooks = sorted(p.name[:2] for p in (Path(__file__).resolve().parents[1] / "notebooks")
                       .glob("[0-9][0-9]_*.ipynb"))
    params = [arg for n in notebooks for p in SMOKE_PARAMS.get(n, []) for arg in ("--param", p)]
    second.run_all("--only", ",".join(notebooks), *params)

    expected, got = tables(smoke_run.outputs), tables(second.outputs)
    # Every notebook wrote tables, and the two runs wrote the same ones.
    assert {"table1_emotion.csv", "table3_gender.csv", "tuning_trials.csv", "fusion.csv"} <= set(expected)
    assert set(got) == set(expected)
    differing = [name for name in expected if got[name] != expected[name]
                 and comparable(got[name], second.outputs) != comparable(expected[name], smoke_run.outputs)]
    assert differing == []
    # The sweep's table does carry the time column that the comparison leaves out.
    assert "seconds" in expected["tuning_trials.csv"].decode().splitlines()[0].split(",")
