"""Run every notebook in order with papermill and regenerate all tables, figures and models.

Usage::

    python run_all.py [--profile smoke|quick|full] [--ravdess DIR] [--noise DIR]
                      [--noise-folds 1|all|2,5] [--only 01,02] [--from 03] [--force]

With no ``--ravdess`` the generated stand-in corpus is used (made once under ``data/``).
Executed copies go to ``outputs/notebooks/``, and what the kernels write to standard error
(TensorFlow's start-up lines, warnings) to ``outputs/notebooks/logs/``. A failing notebook
stops the run: its executed copy, showing the error, is kept as ``<name>.failed.ipynb``
beside the last good copy, and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT_ROOT))

from helpers import config  # noqa: E402  (needs the path above when run from elsewhere)


def discover_notebooks() -> list[Path]:
    """The ordered notebooks: ``notebooks/NN_*.ipynb``."""
    return sorted(p for p in config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(notebooks: list[Path], *, only: str | None, start: str | None) -> list[Path]:
    """Apply ``--only`` (comma-separated numbers) and ``--from`` (a number) to the list."""
    numbers = {p.name[:2]: p for p in notebooks}

    def check(number: str, flag: str) -> str:
        number = number.strip().zfill(2)
        if number not in numbers:
            raise SystemExit(f"error: {flag} {number} matches no notebook; have {sorted(numbers)}")
        return number

    if only:
        wanted = {check(n, "--only") for n in only.split(",") if n.strip()}
        return [p for p in notebooks if p.name[:2] in wanted]
    if start:
        first = check(start, "--from")
        return [p for p in notebooks if p.name[:2] >= first]
    return notebooks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default="quick",
                        help="smoke: seconds per notebook (tests); quick: minutes (default); full: the real reproduction")
    parser.add_argument("--ravdess", help="RAVDESS root (any layout, WAV or FLAC); default: the generated stand-in")
    parser.add_argument("--noise", help="UrbanSound8K root; default: the generated stand-in noise set")
    parser.add_argument("--noise-folds", default="1",
                        help="UrbanSound8K folds to draw noise from: '1' (the original's choice), '2,5', or 'all'")
    parser.add_argument("--only", help="run only these notebooks, e.g. 01,02")
    parser.add_argument("--from", dest="start", help="start at this notebook, e.g. 03")
    parser.add_argument("--force", action="store_true", help="recompute features and retrain models even when cached")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unusable audio file (default: skip it and list it in "
                             f"{config.TABLES_SUBDIR}/{config.SKIPPED_TABLE}.csv)")
    parser.add_argument("--precision", choices=config.PRECISIONS,
                        help="compute precision of the log-mel CNNs (sets SER_PRECISION for the "
                             "notebooks; default auto: bfloat16 where the CPU has bfloat16 "
                             "instructions, else float32)")
    parser.add_argument("--jobs", type=int,
                        help="train up to this many models at once, each in its own process with "
                             f"{config.THREADS_ENV} threads (default {config.DEFAULT_THREADS}; "
                             f"L-BFGS solves {config.LBFGS_THREADS}): the same numbers as one at a "
                             "time; worth it with at least jobs x threads cores (sets "
                             f"{config.JOBS_ENV}; default 1)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set any notebook parameter, e.g. --param VARIANTS=clean,aggregation "
                             "(VALUE is read as a Python literal when it is one, else as text)")
    return parser.parse_args(argv)


def notebook_parameters(args: argparse.Namespace) -> dict:
    """Parameters injected into every notebook's ``parameters`` cell."""
    parameters = {
        "PROFILE": args.profile,
        "RAVDESS_DIR": str(Path(args.ravdess).resolve()) if args.ravdess else "",
        "NOISE_DIR": str(Path(args.noise).resolve()) if args.noise else "",
        "NOISE_FOLDS": args.noise_folds,
        "FORCE": bool(args.force),
        "STRICT": bool(args.strict),
    }
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise SystemExit(f"error: --param {item!r} must look like NAME=VALUE")
        try:
            parameters[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parameters[name] = text
    return parameters


def run_notebook(notebook: Path, *, parameters: dict) -> float:
    """Execute one notebook into ``outputs/notebooks``; return its wall time in seconds.

    Raises
    ------
    RuntimeError
        If a cell fails; the message names the notebook, the cell and the error.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    config.EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    target = config.EXECUTED_DIR / notebook.name
    partial = config.EXECUTED_DIR / f".{notebook.stem}.partial.ipynb"
    failed = config.EXECUTED_DIR / f"{notebook.stem}.failed.ipynb"
    log = config.notebook_logs_dir() / f"{notebook.stem}.stderr.log"
    start = time.perf_counter()
    try:
        with _stderr_to(log):
            papermill.execute_notebook(
                str(notebook), str(partial), parameters=parameters, kernel_name="python3",
                cwd=str(config.NOTEBOOKS_DIR), progress_bar=False, log_output=False,
            )
    except PapermillExecutionError as error:
        os.replace(partial, failed)
        raise RuntimeError(
            f"{notebook.name} failed in cell {error.exec_count} (index {error.cell_index}): "
            f"{error.ename}: {error.evalue}\n  executed copy with the error: {failed}"
            f"\n  kernel messages: {log}"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    failed.unlink(missing_ok=True)
    return time.perf_counter() - start


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send this process's standard error, and so every kernel's, to ``path`` for a while.

    The kernels inherit file descriptor 2: TensorFlow's start-up lines and Jupyter's warnings
    land in the log instead of between the progress lines. Cell output is unaffected (it is
    in the executed notebook), and an error is still reported on the terminal afterwards.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "wb") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield path
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notebooks = select_notebooks(discover_notebooks(), only=args.only, start=args.start)
    if not notebooks:
        print("error: no notebooks to run", file=sys.stderr)
        return 2
    parameters = notebook_parameters(args)
    # The kernels find the package through this variable whatever their working directory.
    os.environ["SER_PROJECT_ROOT"] = str(PROJECT_ROOT)
    # TensorFlow's start-up chatter would bury the progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Fail before the first notebook on a bad SER_PRECISION, or (naming the path) when the
    # results cannot be written.
    from helpers import io as project_io
    from helpers.errors import ProjectError

    if args.precision:
        os.environ[config.PRECISION_ENV] = args.precision  # the kernels inherit it
    if args.jobs is not None:
        os.environ[config.JOBS_ENV] = str(args.jobs)
    try:
        precision = config.describe_precision()
        threads = config.describe_threads()
        config.ensure_output_dirs()
        for folder in config.output_dirs():
            project_io.check_writable(folder)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    data = parameters["RAVDESS_DIR"] or "the generated stand-in corpus"
    print(f"profile {args.profile}; data: {data}; {len(notebooks)} notebooks; log-mel CNNs in "
          f"{precision['cnn_compute']} ({config.PRECISION_ENV}={precision['setting']}); "
          f"{threads['setting'] or 'all'} threads a model (L-BFGS solves {threads['lbfgs']}), "
          f"{threads['jobs']} at once", flush=True)
    total = time.perf_counter()
    for index, notebook in enumerate(notebooks, 1):
        print(f"[{index}/{len(notebooks)}] {notebook.name} ...", end=" ", flush=True)
        started = time.time()
        try:
            seconds = run_notebook(notebook, parameters=parameters)
        except RuntimeError as error:
            print("FAILED", flush=True)
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"done in {seconds:.1f} s{model_summary(notebook, since=started)}", flush=True)
    report = _write_report_if_available(args)
    elapsed = time.perf_counter() - total
    print(f"all {len(notebooks)} notebooks done in {elapsed:.1f} s; results in {config.OUTPUTS_DIR}"
          + (f"; report {report}" if report else ""))
    return 0


def model_summary(notebook: Path, *, since: float) -> str:
    """``"; models: 3 trained, 12 from the cache"`` from the metrics file the notebook wrote.

    Read from its ``model_cache`` tally (:func:`helpers.training.cache_tally`) when the
    notebook wrote a metrics file (``NN_*.json``) at or after ``since`` (a ``time.time()``);
    empty for notebooks that train nothing, and for a file that cannot be read.
    """
    for path in sorted(config.METRICS_DIR.glob(f"{notebook.name[:2]}_*.json")):
        try:
            if path.stat().st_mtime < since:
                continue
            tally = json.loads(path.read_text()).get("model_cache")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(tally, dict) and {"cached", "trained"} <= set(tally):
            return f"; models: {tally['trained']} trained, {tally['cached']} from the cache"
    return ""


def _write_report_if_available(args: argparse.Namespace) -> Path | None:
    # The reproduction report is built from the results files when its module is present.
    try:
        from helpers import report
    except ImportError:
        return None
    return report.write_report(profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())
