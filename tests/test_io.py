"""Atomic result writing: a failed write leaves the previous file in place."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import config, io
from helpers.errors import OutputError


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_path_replaces_the_target_on_success(tmp_path):
    target = tmp_path / "results" / "metrics.json"

    with io.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        assert tmp.name.startswith(".metrics.json.") and tmp.suffix == ".json"
        tmp.write_text("new")
        assert not target.exists()

    assert target.read_text() == "new"
    assert listing(target.parent) == ["metrics.json"]


def test_atomic_path_leaves_the_old_file_untouched_when_the_body_raises(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    with pytest.raises(RuntimeError, match="half way"):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("failed half way")

    assert target.read_text() == "old"
    assert listing(tmp_path) == ["metrics.json"]


def test_atomic_path_on_interrupt_leaves_no_target(tmp_path):
    target = tmp_path / "model.keras"

    with pytest.raises(KeyboardInterrupt):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt

    assert listing(tmp_path) == []


def test_write_text_and_read_back(tmp_path):
    target = io.write_text(tmp_path / "a" / "note.txt", "héllo\n")

    assert target == tmp_path / "a" / "note.txt"
    assert target.read_text(encoding="utf-8") == "héllo\n"


def test_write_json_converts_numpy_scalars_arrays_and_paths(tmp_path):
    payload = {
        "accuracy": np.float32(0.75), "f1": np.float64(0.5), "n_clips": np.int64(1440),
        "passed": np.bool_(True), "confusion": np.array([[1, 2], [3, 4]]),
        "scores": [np.float32(0.25)], "path": Path("/data/ravdess"), "plain": 1.5,
    }

    target = io.write_json(tmp_path / "metrics.json", payload)

    loaded = io.read_json(target)
    assert loaded == {"accuracy": 0.75, "f1": 0.5, "n_clips": 1440, "passed": True,
                      "confusion": [[1, 2], [3, 4]], "scores": [0.25], "path": "/data/ravdess",
                      "plain": 1.5}
    assert type(loaded["n_clips"]) is int and type(loaded["passed"]) is bool
    assert target.read_text().endswith("}\n")
    assert list(loaded) == list(payload)  # key order is kept


def test_write_json_unsupported_type_keeps_the_old_file(tmp_path):
    target = io.write_json(tmp_path / "metrics.json", {"ok": 1})

    with pytest.raises(TypeError, match="cannot write object as JSON"):
        io.write_json(target, {"bad": object()})

    assert json.loads(target.read_text()) == {"ok": 1}
    assert listing(tmp_path) == ["metrics.json"]


def test_write_table_writes_csv_and_markdown(tmp_path):
    frame = pd.DataFrame({"variant": ["clean", "white"], "accuracy": [0.81234, 0.5]})

    csv_path, md_path = io.write_table(frame, "accuracy", folder=tmp_path)

    assert (csv_path, md_path) == (tmp_path / "accuracy.csv", tmp_path / "accuracy.md")
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), frame)
    lines = md_path.read_text().splitlines()
    assert len(lines) == 4
    assert "variant" in lines[0] and "accuracy" in lines[0]
    assert set(lines[1]) <= set("|:- ")
    assert "0.8123" in lines[2] and "0.81234" not in lines[2]
    assert listing(tmp_path) == ["accuracy.csv", "accuracy.md"]


def test_write_table_without_markdown(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})

    csv_path, md_path = io.write_table(frame, "plain", folder=tmp_path, markdown=False)

    assert md_path is None
    assert listing(tmp_path) == ["plain.csv"]


def test_write_table_default_folder_is_the_tables_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "TABLES_DIR", tmp_path / "tables")

    csv_path, md_path = io.write_table(pd.DataFrame({"a": [1]}), "t")

    assert csv_path.parent == md_path.parent == tmp_path / "tables"


def test_save_npz_round_trip_keeps_the_name(tmp_path):
    target = io.save_npz(tmp_path / "features.npz", x=np.arange(6).reshape(2, 3), y=np.ones(2))

    assert listing(tmp_path) == ["features.npz"]
    with np.load(target) as stored:
        assert np.array_equal(stored["x"], np.arange(6).reshape(2, 3))
        assert np.array_equal(stored["y"], np.ones(2))


def test_save_figure_writes_a_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    target = io.save_figure(fig, "curve", folder=tmp_path, dpi=50)
    plt.close(fig)

    assert target == tmp_path / "curve.png"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert listing(tmp_path) == ["curve.png"]


def test_file_digest_follows_content(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_bytes(b"x" * 3_000_000)
    b.write_bytes(b"x" * 3_000_000)
    c.write_bytes(b"x" * 2_999_999 + b"y")

    assert io.file_digest(a) == io.file_digest(b) == io.file_digest(a, chunk_size=7)
    assert io.file_digest(a) != io.file_digest(c)
    assert len(io.file_digest(a)) == 32


def test_run_metadata_block(tmp_path):
    metadata = io.run_metadata(parameters={"dropout_rate": 0.25}, data_fingerprint="abc")

    assert metadata["parameters"] == {"dropout_rate": 0.25}
    assert metadata["seed"] == config.SEED and metadata["data_fingerprint"] == "abc"
    assert {"python", "numpy", "librosa", "soundfile", "pandas"} <= set(metadata["versions"])
    io.write_json(tmp_path / "m.json", metadata)
    assert io.read_json(tmp_path / "m.json") == metadata


def test_a_folder_that_cannot_be_created_is_an_output_error_naming_the_path(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the outputs folder should be")
    target = blocker / "tables" / "table1.csv"
    with pytest.raises(OutputError, match=rf"{target}: cannot be written .*writable folder"):
        io.write_text(target, "x")
    with pytest.raises(OutputError, match=str(tmp_path / "outputs")):
        io.check_writable(blocker / "notebooks")


def test_a_full_disk_while_writing_keeps_the_last_good_file(tmp_path, monkeypatch):
    target = tmp_path / "table1.csv"
    target.write_text("last good table")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "replace", full)
    with pytest.raises(OutputError, match=rf"{target}: cannot be written \({os.strerror(errno.ENOSPC)}\)"):
        io.write_text(target, "a new table")
    assert target.read_text() == "last good table"
    assert [p.name for p in tmp_path.iterdir()] == ["table1.csv"]  # no temporary file left


def test_file_sha256_is_the_bytes_digest(tmp_path):
    import hashlib

    path = tmp_path / "m.keras"
    path.write_bytes(b"abc" * 1000)
    assert io.file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_run_all_stops_before_any_notebook_when_the_outputs_folder_is_not_writable(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {**os.environ, "SER_OUTPUTS_DIR": str(blocker / "outputs")}
    env.pop("SER_CACHE_DIR", None)
    result = subprocess.run([sys.executable, str(config.PROJECT_ROOT / "run_all.py"),
                             "--profile", "smoke", "--only", "01"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"error: {blocker / 'outputs'}" in result.stderr and "Traceback" not in result.stderr
    assert "[1/1]" not in result.stdout  # no notebook started


def test_an_error_reading_another_file_inside_the_write_is_not_blamed_on_the_target(tmp_path):
    target = tmp_path / "table.csv"
    with pytest.raises(PermissionError) as error:
        with io.atomic_path(target):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "input.wav"))
    assert not isinstance(error.value, OutputError)
    assert list(tmp_path.iterdir()) == []


def test_manifest_csv_that_cannot_be_written_exits_2_naming_it(tmp_path, capsys):
    from conftest import make_ravdess_tree
    from helpers import datasets

    tree = tmp_path / "ravdess"
    make_ravdess_tree(tree, actors=(1, 2), emotions=(1,), duration_s=1.2)
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = datasets.main(["manifest", str(tree), "--csv", str(blocker / "manifest.csv")])
    err = capsys.readouterr().err
    assert status == 2 and f"error: --csv {blocker / 'manifest.csv'}: cannot be written" in err
