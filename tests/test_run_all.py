"""run_all.py: notebook selection, parameters, and what a failing notebook leaves behind."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import run_all  # noqa: E402

from helpers import config  # noqa: E402


def fake_notebooks(names):
    return [Path(f"/nb/{name}") for name in names]


def test_select_only_and_from():
    notebooks = fake_notebooks(["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"])
    assert [p.name for p in run_all.select_notebooks(notebooks, only="1,03", start=None)] == ["01_a.ipynb", "03_c.ipynb"]
    assert [p.name for p in run_all.select_notebooks(notebooks, only=None, start="02")] == ["02_b.ipynb", "03_c.ipynb"]
    with pytest.raises(SystemExit, match="--only 09 matches no notebook"):
        run_all.select_notebooks(notebooks, only="09", start=None)


def test_parameters_from_arguments(tmp_path):
    args = run_all.parse_args(["--profile", "smoke", "--ravdess", str(tmp_path), "--noise-folds", "all",
                               "--param", "VARIANTS=clean,aggregation", "--param", "DROPOUT_RATE=0.3"])
    parameters = run_all.notebook_parameters(args)
    assert parameters["PROFILE"] == "smoke"
    assert parameters["RAVDESS_DIR"] == str(tmp_path.resolve())
    assert parameters["NOISE_DIR"] == "" and parameters["NOISE_FOLDS"] == "all"
    assert parameters["VARIANTS"] == "clean,aggregation"
    assert parameters["DROPOUT_RATE"] == 0.3
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        run_all.notebook_parameters(run_all.parse_args(["--param", "oops"]))


def test_committed_notebooks_are_clean_and_parameterised():
    notebooks = run_all.discover_notebooks()
    assert [p.name[:2] for p in notebooks][:3] == ["01", "02", "03"]
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), path.name
        tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one 'parameters' cell"
        for name in ("PROFILE", "RAVDESS_DIR", "NOISE_DIR", "NOISE_FOLDS", "FORCE", "SEED", "STRICT"):
            assert f"{name}:" in tagged[0].source, f"{path.name} lacks parameter {name}"
        assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


def _scratch_notebook(folder: Path, monkeypatch, name: str, *sources: str) -> Path:
    """A parameterised notebook of code cells in ``folder``; run_all's outputs go beside it."""
    monkeypatch.setattr(config, "EXECUTED_DIR", folder / "executed")
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", folder)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("PROFILE = 'x'", metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in sources),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / name
    nbformat.write(notebook, path)
    return path


def test_failing_notebook_is_named_and_kept(tmp_path, monkeypatch):
    path = _scratch_notebook(tmp_path, monkeypatch, "09_broken.ipynb",
                             "value = 1", "raise ValueError('broken on purpose')")
    good = tmp_path / "executed" / "09_broken.ipynb"
    good.parent.mkdir()
    good.write_text("last good copy")
    with pytest.raises(RuntimeError) as error:
        run_all.run_notebook(path, parameters={"PROFILE": "smoke"})
    message = str(error.value)
    assert "09_broken.ipynb" in message and "ValueError" in message and "broken on purpose" in message
    failed = tmp_path / "executed" / "09_broken.failed.ipynb"
    assert failed.is_file()
    executed = nbformat.read(failed, as_version=4)
    assert any(output.get("ename") == "ValueError" for cell in executed.cells for output in cell.get("outputs", []))
    assert good.read_text() == "last good copy"  # the last good results stay in place
    assert not list((tmp_path / "executed").glob(".*partial*"))


def test_kernel_stderr_goes_to_a_log_not_the_terminal(tmp_path, monkeypatch, capfd):
    # What TensorFlow's C++ start-up lines do: write to the process's file descriptor 2.
    path = _scratch_notebook(tmp_path, monkeypatch, "08_noisy.ipynb",
                             "import os\nos.write(2, b'kernel chatter\\n')\nprint('cell output')")
    run_all.run_notebook(path, parameters={"PROFILE": "smoke"})
    print("after the run", file=sys.stderr)
    captured = capfd.readouterr()
    assert "kernel chatter" not in captured.err and "after the run" in captured.err
    log = tmp_path / "executed" / "logs" / "08_noisy.stderr.log"
    assert "kernel chatter" in log.read_text()
    executed = nbformat.read(tmp_path / "executed" / "08_noisy.ipynb", as_version=4)
    texts = [output.get("text", "") for cell in executed.cells for output in cell.get("outputs", [])]
    assert "cell output\n" in texts  # the notebook's own output is untouched


@pytest.mark.parametrize("colab_keras", ["3.10.0", "2.15.0", None])
def test_first_cell_is_shared_and_keeps_colabs_tensorflow_when_compatible(tmp_path, monkeypatch,
                                                                          colab_keras):
    """Every notebook opens with the same cell. On Colab it installs every pin of
    requirements.txt except tensorflow-cpu and Keras when Colab's Keras is Keras 3, so Colab's
    GPU TensorFlow stays; with an older Keras (or none) it installs the pinned Keras and the
    GPU-capable ``tensorflow`` at tensorflow-cpu's version."""
    from importlib import metadata

    cells = {path.name: next(c for c in nbformat.read(path, as_version=4).cells
                             if c.cell_type == "code").source
             for path in run_all.discover_notebooks()}
    assert len(set(cells.values())) == 1, "the first code cell differs between notebooks"
    clone = tmp_path / "ser-toolkit"
    (clone / "helpers").mkdir(parents=True)
    (clone / "helpers" / "__init__.py").write_text("")
    (clone / "requirements.txt").write_text((config.PROJECT_ROOT / "requirements.txt").read_text())
    calls = []
    monkeypatch.setattr("subprocess.run", lambda command, **kwargs: calls.append(command))
    monkeypatch.setitem(sys.modules, "google.colab", sys)  # any module: "we are on Colab"
    real_version = metadata.version

    def colab_version(name):
        if name != "keras":
            return real_version(name)
        if colab_keras is None:
            raise metadata.PackageNotFoundError(name)
        return colab_keras

    monkeypatch.setattr(metadata, "version", colab_version)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("SER_PROJECT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    exec(next(iter(cells.values())), {})
    clone_call, install_call = calls
    assert clone_call[:2] == ["git", "clone"]
    pins = [line.partition("#")[0].strip()
            for line in (clone / "requirements.txt").read_text().splitlines()]
    pins = [pin for pin in pins if pin]
    names = {pin.partition("==")[0] for pin in pins}
    installed = install_call[install_call.index("-q") + 1:]
    assert "tensorflow-cpu" in names and "keras" in names
    if colab_keras == "3.10.0":
        assert {pin.partition("==")[0] for pin in installed} == names - {"tensorflow-cpu", "keras"}
    else:
        tensorflow_cpu = next(pin for pin in pins if pin.startswith("tensorflow-cpu=="))
        assert sorted(installed) == sorted(
            [pin for pin in pins if pin != tensorflow_cpu]
            + [tensorflow_cpu.replace("tensorflow-cpu==", "tensorflow==")])
    assert any(pin.startswith("numpy==") for pin in installed)


def test_a_bad_precision_stops_before_the_first_notebook(monkeypatch, capsys):
    monkeypatch.setenv(config.PRECISION_ENV, "half")
    monkeypatch.setattr(run_all, "run_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    assert run_all.main(["--only", "01"]) == 2
    assert "SER_PRECISION='half' must be one of auto, float32, bfloat16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_all.parse_args(["--precision", "half"])
    # --precision sets the variable the notebooks' kernels inherit.
    monkeypatch.setattr(config, "ensure_output_dirs", lambda: pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception, match="stop here"):
        run_all.main(["--only", "01", "--precision", "bfloat16"])
    assert os.environ[config.PRECISION_ENV] == "bfloat16"


def test_jobs_sets_the_variable_the_kernels_inherit_and_a_bad_value_stops_first(monkeypatch, capsys):
    monkeypatch.setenv(config.JOBS_ENV, "1")
    monkeypatch.setattr(run_all, "run_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    assert run_all.main(["--only", "01", "--jobs", "0"]) == 2
    assert "SER_JOBS='0' must be a whole number >= 1" in capsys.readouterr().err
    monkeypatch.setattr(config, "ensure_output_dirs", lambda: pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception, match="stop here"):
        run_all.main(["--only", "01", "--jobs", "3"])
    assert os.environ[config.JOBS_ENV] == "3"


def test_progress_line_counts_the_models_a_notebook_trained_and_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "METRICS_DIR", tmp_path)
    notebook = Path("07_fusion.ipynb")
    (tmp_path / "07_fusion.json").write_text(json.dumps({"model_cache": {"cached": 12, "trained": 3}}))
    assert run_all.model_summary(notebook, since=0) == "; models: 3 trained, 12 from the cache"
    # A metrics file older than the notebook's run, one without a tally, or a broken one: nothing.
    assert run_all.model_summary(notebook, since=time.time() + 60) == ""
    (tmp_path / "07_fusion.json").write_text(json.dumps({"wall_seconds": 3}))
    assert run_all.model_summary(notebook, since=0) == ""
    (tmp_path / "07_fusion.json").write_text("{not json")
    assert run_all.model_summary(notebook, since=0) == ""
    assert run_all.model_summary(Path("01_data_prep.ipynb"), since=0) == ""
