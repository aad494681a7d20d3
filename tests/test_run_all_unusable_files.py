"""``run_all.py --profile smoke`` on copies that hold broken files of every kind (issue 13).

A user's RAVDESS copy with an interrupted download, a macOS ``._`` file, a song mixed in or a
clip too short for the analysis window must not sink the run: it finishes, and the files left
out are named with their reasons in notebook 01's output, in ``tables/skipped_files.csv`` and
in the report. The same holds for the noise clips. The corpora are generated here: 24 actors
with every emotion (what the protocols need) at 16 kHz, plus the broken files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd

from conftest import (make_ravdess_tree, make_us8k_tree, ravdess_name, write_clip,
                      write_unusable_clips)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000  # the feature rate: no resampling, so the tree is quick to write and to read


def broken_ravdess(root: Path) -> dict[Path, str]:
    """A complete small RAVDESS tree plus broken files; returns {broken path: reason start}."""
    make_ravdess_tree(root, actors=range(1, 25), emotions=range(1, 9), sample_rate=RATE,
                      duration_s=1.0)
    expected = {root / "Actor_01" / name: start
                for name, start in write_unusable_clips(root / "Actor_01").items()}
    misnamed = write_clip(root / "Actor_02" / "03-01-09-01-01-01-02.wav", sample_rate=RATE)
    fork = root / "Actor_02" / "._03-01-05-01-01-01-02.wav"
    fork.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    song = write_clip(root / "Actor_03" / ravdess_name(vocal_channel=2, emotion=3, actor=3),
                      sample_rate=RATE)
    # The same clip again, as FLAC in another folder: the Actor_05 copy sorts first and stays.
    copy = write_clip(root / "extra" / ravdess_name(emotion=4, actor=5, ext=".flac"),
                      sample_rate=RATE, duration_s=1.0)
    expected.update({misnamed: "field emotion_code=09 is out of range", fork: "hidden file",
                     song: "not audio-only speech (song)",
                     copy: f"duplicate of {root.resolve() / 'Actor_05' / copy.with_suffix('.wav').name}"})
    return {path.resolve(): start for path, start in expected.items()}


def broken_noise(root: Path) -> dict[Path, str]:
    """A small UrbanSound8K tree (fold 1) plus an empty clip and a duplicate one."""
    table = make_us8k_tree(root, folds=(1,), classes=("dog_bark", "siren", "street_music"))
    fold = root.resolve() / "audio" / "fold1"  # run_all.py hands the notebooks resolved roots
    first = fold / table["slice_file_name"].iloc[0]
    (fold / "90001-8-0-0.wav").write_bytes(b"")
    (fold / "90002-8-0-0.wav").write_bytes(first.read_bytes())
    extra = [{**table.iloc[1].to_dict(), "slice_file_name": name, "fsID": int(name[:5])}
             for name in ("90001-8-0-0.wav", "90002-8-0-0.wav")]
    pd.concat([table, pd.DataFrame(extra)], ignore_index=True).to_csv(
        root / "metadata" / "UrbanSound8K.csv", index=False)
    return {fold / "90001-8-0-0.wav": "empty file (0 bytes)",
            fold / "90002-8-0-0.wav": f"duplicate of {first}"}


def notebook_text(path: Path) -> str:
    """Everything an executed notebook shows as text: printed lines and displayed tables."""
    notebook = nbformat.read(path, as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_smoke_run_on_a_copy_with_broken_files_finishes_and_lists_them(tmp_path):
    speech = broken_ravdess(tmp_path / "ravdess")
    noise = broken_noise(tmp_path / "urbansound8k")
    outputs = tmp_path / "outputs"
    env = {**os.environ, "SER_OUTPUTS_DIR": str(outputs), "SER_STANDIN_DIR": str(tmp_path / "standin"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("SER_CACHE_DIR", None)

    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run_all.py"), "--profile", "smoke", "--only", "01,02",
         "--ravdess", str(tmp_path / "ravdess"), "--noise", str(tmp_path / "urbansound8k")],
        env=env, capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)

    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert not (tmp_path / "standin").exists()  # both corpora came from the copies given
    expected = {("ravdess", str(path), start) for path, start in speech.items()}
    expected |= {("noise", str(path), start) for path, start in noise.items()}

    # The skipped table: exactly the broken files, each with its reason.
    table = pd.read_csv(outputs / "tables" / "skipped_files.csv")
    found = {(row.source, row.path): row.reason for row in table.itertuples()}
    assert found.keys() == {(source, path) for source, path, _ in expected}
    for source, path, start in expected:
        assert found[(source, path)].startswith(start), (path, found[(source, path)])

    # Notebook 01 shows each one, whole path and whole reason; the report lists them.
    shown = notebook_text(outputs / "notebooks" / "01_data_prep.ipynb")
    report = (outputs / "report.md").read_text()
    assert f"{len(expected)} unusable files were left out" in shown
    assert f"Files left out as unusable ({len(expected)};" in report
    for (source, path), reason in found.items():
        assert path in shown and reason in shown, (path, reason)
        assert f"| {source} | `{path}` | {reason} |" in report

    # The run went on to compute the features of the clips it kept.
    assert (outputs / "notebooks" / "02_noise_augmentation.ipynb").is_file()
    clips = pd.read_csv(outputs / "tables" / "manifest.csv")
    assert len(clips) == 24 * 8 and not set(clips["path"]) & {str(p) for p in speech}
