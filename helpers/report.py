"""The reproduction report: ``outputs/report.md`` and ``outputs/report.html``, from results files.

``run_all.py`` calls :func:`write_report` after the notebooks. Nothing in the report is typed
by hand: the numbers come from ``outputs/metrics/*.json`` and ``outputs/tables/*.csv``, the
original's published values from the tables' ``published_*`` columns or, where a table has
none, from :mod:`helpers.evaluation` (typed once from the original report). A piece whose
results file is absent (a run with ``--only 01,02``, a notebook not written yet) is marked
"not run" and the rest of the report is still written.

The HTML version is the Markdown converted with the ``markdown`` package, with every figure
embedded as a base64 PNG so that the file stands alone; links to the executed notebooks stay
relative to ``outputs/``.

Why it is over 500 lines: it is one document, a section function for each part of the report
over one results reader, plus the Markdown and HTML formatting the sections share
(:func:`format_number`, :func:`markdown_table`, :func:`frame_to_markdown`,
:func:`markdown_to_html`; about 120 lines), which is the part that could move to a module of its
own next.
"""

from __future__ import annotations

import base64
import datetime as _datetime
import html
import json
import math
import numbers
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config, evaluation
from helpers import io as project_io
from helpers.errors import ProjectError

__all__ = ["ReportError", "write_report", "build_report", "markdown_to_html",
           "format_number", "markdown_table", "parse_cell"]

REPORT_NAME = "report"
DIGITS = 3
MISSING = "–"

# Table 1 columns shown in the report (the full table is in tables/table1_emotion.csv), each
# with the published column it sits beside.
TABLE1_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("accuracy_binary", "published_accuracy_binary"),
    ("f1_original", "published_f1_original"),
    ("auc", "published_auc"),
    ("loss", "published_loss"),
    ("accuracy", None),
    ("uar", None),
    ("macro_f1", None),
)
# Tables 2 and 3 show these columns of their CSV (the ones a table has, and not empty in it):
# the whole 25 to 40 columns made the page several screens wide. The CSV is linked beside.
# Table 2 puts UAR and macro-F1 before the original's binary metrics: the table is wider than
# the page once its cells hold "mean ± std", and what scrolls out of view should be the
# original protocol's figures, not the headline metric.
TABLE2_COLUMNS: tuple[str, ...] = (
    "recipe", "model", "protocol", "folds", "dropout", "learning_rate", "l2", "clip",
    "uar", "macro_f1",
    "accuracy_binary", "published_accuracy_binary", "f1_original", "published_f1_original")
TABLE3_COLUMNS: tuple[str, ...] = (
    "recipe", "split", "folds", "n_test", "accuracy", "published_accuracy", "f1",
    "published_f1", "auc", "published_auc")
# Columns that count things (written without decimals even when the CSV read them as floats).
COUNT_COLUMNS: frozenset[str] = frozenset({"folds", "n_test", "epochs", "epochs_run", "n_train"})
FUSION_COLUMNS: tuple[str, ...] = ("uar", "macro_f1", "delta_uar", "delta_macro_f1",
                                   "gender_accuracy")
# Figures shown inline in a section, by file name pattern (others are listed at the end).
SECTION_FIGURES: dict[str, tuple[str, ...]] = {
    "data": ("dataset_counts.png", "snr_check.png"),
    "table1": ("emotion_confusion_aggregation_speaker-independent.png",
               "emotion_confusion_aggregation_original.png"),
    "table2": ("tuning*.png", "table2*.png"),
    "table3": ("gender*.png", "table3*.png"),
    "prediction": ("predict*.png", "case_study*.png"),
    "fusion": ("fusion*.png",),
}
# Notebook 06's tables shown in the report, and the run-description keys not repeated there.
CASE_STUDY_TABLES: tuple[str, ...] = (config.CASE_STUDY_EMOTION_TABLE,
                                      config.CASE_STUDY_GENDER_TABLE,
                                      config.CASE_STUDY_BAD_INPUT_TABLE)
RUN_KEYS: frozenset[str] = frozenset({
    "profile", "data", "ravdess_root", "noise_root", "n_manifest", "n_clips", "n_noise_clips",
    "n_skipped", "skipped", "seed", "data_fingerprint", "versions", "parameters"})


class ReportError(ProjectError):
    """The report cannot be built from what was given."""


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------


def write_report(profile: str | None = None, *, outputs_dir: str | os.PathLike | None = None,
                 notebooks_dir: str | os.PathLike | None = None) -> Path:
    """Regenerate ``report.md`` and ``report.html`` in the outputs folder, atomically.

    Parameters
    ----------
    profile : str, optional
        The profile of the run that calls this (``run_all.py --profile``); the report says so
        and warns when results files come from another profile.
    outputs_dir : path-like, optional
        The results folder; default ``config.OUTPUTS_DIR``.
    notebooks_dir : path-like, optional
        The committed notebooks (to list the ones not run); default ``config.NOTEBOOKS_DIR``.

    Returns
    -------
    Path
        The Markdown report (``report.html`` is written beside it).

    Raises
    ------
    ReportError
        If ``outputs_dir`` does not exist.
    """
    outputs = Path(outputs_dir) if outputs_dir is not None else config.OUTPUTS_DIR
    if not outputs.is_dir():
        raise ReportError(f"outputs_dir={str(outputs)!r} is not a folder; run the notebooks first")
    text = build_report(outputs, profile=profile, notebooks_dir=notebooks_dir)
    target = outputs / f"{REPORT_NAME}.md"
    project_io.write_text(target, text)
    project_io.write_text(outputs / f"{REPORT_NAME}.html",
                          markdown_to_html(text, base_dir=outputs, title="Reproduction report"))
    return target


def build_report(outputs_dir: str | os.PathLike, *, profile: str | None = None,
                 notebooks_dir: str | os.PathLike | None = None,
                 now: _datetime.datetime | None = None) -> str:
    """The report as Markdown (see the module docstring for what goes in).

    Parameters
    ----------
    outputs_dir : path-like
        The results folder.
    profile : str, optional
        The calling run's profile.
    notebooks_dir : path-like, optional
        Default ``config.NOTEBOOKS_DIR``.
    now : datetime, optional
        The time stamp written (default: now, UTC).

    Returns
    -------
    str
    """
    results = _Results(Path(outputs_dir))
    notebooks = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    now = now or _datetime.datetime.now(_datetime.timezone.utc)
    sections = [
        ("Headline", _headline_section, (results,)),
        ("Data and profile", _data_section, (results, profile)),
        ("Notebooks", _notebooks_section, (results, notebooks)),
        ("Table 1", _table1_section, (results,)),
        ("How the protocols differ", _protocol_section, (results,)),
        ("Table 2", _table2_section, (results,)),
        ("Table 3", _table3_section, (results,)),
        ("Case studies", _prediction_section, (results,)),
        ("Fusion", _fusion_section, (results,)),
        ("All figures", _figures_section, (results,)),
    ]
    parts = [
        "# Reproduction report",
        f"Regenerated {now.strftime('%Y-%m-%d %H:%M UTC')} by `run_all.py`"
        + (f" (profile `{profile}`)" if profile else "")
        + " from the results files in this folder. Every number below is read from "
        "`metrics/*.json` and `tables/*.csv`; the original's published values come from the "
        "tables' `published_*` columns or, where a table has none, from "
        "`helpers/evaluation.py`, where they were typed once from the original report. "
        "A section whose results are absent says *not run*.",
        *(_safe_section(title, build, arguments) for title, build, arguments in sections),
    ]
    return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------


def _safe_section(title: str, build, arguments: tuple) -> str:
    # The report is written at the end of every run: a results file in an unexpected shape
    # must cost its own section, not the report (nor the run's exit status).
    try:
        return build(*arguments)
    except Exception as error:  # noqa: BLE001
        return (f"## {title}\n\n*Could not be built from the results files:* "
                f"`{type(error).__name__}: {error}`")


def _data_section(results: "_Results", profile: str | None) -> str:
    lines = ["## Data and profile"]
    data = results.metrics(config.DATA_METRICS)
    variants = results.metrics(config.VARIANTS_METRICS)
    if data is None:
        lines.append(_not_run(f"{config.METRICS_SUBDIR}/{config.DATA_METRICS}.json", "01"))
    else:
        rows = [
            ("profile", data.get("profile")),
            ("data", data.get("data")),
            ("RAVDESS root", data.get("ravdess_root")),
            ("speech clips found", data.get("n_manifest")),
            ("clips used by this profile", data.get("n_clips")),
            ("noise root", data.get("noise_root")),
            ("noise clips", data.get("n_noise_clips")),
            ("unusable files skipped", data.get("n_skipped")),
            ("seed", data.get("seed")),
        ]
        if variants is not None:
            noise = variants.get("noise_config") or {}
            features = variants.get("feature_config") or {}
            rows += [
                ("noise folds", (variants.get("parameters") or {}).get("NOISE_FOLDS")),
                ("white-noise SNR (dB)", noise.get("white_snr_db")),
                ("urban-noise SNR (dB)", noise.get("urban_snr_db")),
                ("log-mel", _feature_summary(features) if features else None),
                ("feature cache key", variants.get("feature_key")),
            ]
        else:
            rows.append(("noise variants",
                         f"not run (metrics/{config.VARIANTS_METRICS}.json is absent)"))
        versions = data.get("versions") or {}
        if versions:
            rows.append(("libraries", ", ".join(f"{k} {v}" for k, v in versions.items())))
        lines.append(markdown_table(["item", "value"],
                                    [[name, _text(value)] for name, value in rows]))
        skipped = data.get("skipped") or []
        if skipped:
            shown = skipped[:20]
            lines.append(f"Files left out as unusable ({len(skipped)}; all in "
                         f"`tables/{config.SKIPPED_TABLE}.csv`):")
            lines.append(markdown_table(["source", "file", "reason"],
                                        [[_text(r.get("source")), f"`{r.get('path')}`", _text(r.get("reason"))]
                                         for r in shown]))
    provenance = results.provenance()
    if provenance:
        lines.append("Where each results file comes from:")
        lines.append(markdown_table(
            ["results file", "profile", "data", "data fingerprint", "written (UTC)"],
            [[f"`metrics/{row['file']}`", _text(row["profile"]), _text(row["data"]),
              _text(row["fingerprint"]), row["written"]] for row in provenance]))
        profiles = sorted({str(row["profile"]) for row in provenance if row["profile"]})
        datas = sorted({str(row["data"]) for row in provenance if row["data"]})
        if len(profiles) > 1 or len(datas) > 1:
            lines.append(f"**Warning:** these results mix profiles {profiles} and data {datas}; "
                         "rerun every notebook with one profile for a consistent report.")
        elif profile and profiles and profiles != [profile]:
            lines.append(f"**Note:** this run used profile `{profile}`, but the results files "
                         f"come from profile `{profiles[0]}`.")
    lines.append(results.figures_markdown(SECTION_FIGURES["data"]))
    return "\n\n".join(line for line in lines if line)


def _notebooks_section(results: "_Results", notebooks_dir: Path) -> str:
    committed = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    executed_dir = results.root / config.EXECUTED_SUBDIR
    names = sorted({p.name for p in committed}
                   | {p.name for p in executed_dir.glob("[0-9][0-9]_*.ipynb")
                      if not p.name.endswith(".failed.ipynb")})
    rows = []
    for name in names:
        stem = name[:-len(".ipynb")]
        executed = executed_dir / name
        failed = executed_dir / f"{stem}.failed.ipynb"
        title = _notebook_title(executed if executed.is_file() else notebooks_dir / name) or stem
        if failed.is_file() and (not executed.is_file()
                                 or failed.stat().st_mtime > executed.stat().st_mtime):
            link = f"{config.EXECUTED_SUBDIR}/{failed.name}"
            status = f"**failed** — [`{link}`]({link})"
        elif executed.is_file():
            link = f"{config.EXECUTED_SUBDIR}/{name}"
            status = f"run {_mtime(executed)} — [`{link}`]({link})"
        else:
            status = "not run"
        rows.append([title, status])
    body = (markdown_table(["notebook", "executed copy"], rows) if rows
            else "No notebooks found.")
    return "## Notebooks\n\n" + body


def _headline_section(results: "_Results") -> str:
    """One row per recipe: speaker-independent UAR (both modes), gender accuracy, original F1."""
    heading = "## Headline — voices the models have never heard"
    table = results.table(config.TABLE1)
    if table is None or "uar" not in table.columns:
        return f"{heading}\n\n{_not_run(f'{config.TABLES_SUBDIR}/{config.TABLE1}.csv', '03')}"
    table = table.assign(recipe=table.get("recipe", "original"), mode=table.get("mode", "single-clip"))
    try:
        gender_table = results.table(config.TABLE3)
    except ValueError:  # UnicodeDecodeError included
        # An unreadable gender table costs the gender column only (Table 3's own section
        # names the error); the emotion numbers stand.
        gender_table = None
    rows = []
    for recipe in dict.fromkeys(table["recipe"]):
        own = table[table["recipe"] == recipe]
        independent = own[(own["protocol"] == "speaker-independent") & (own["variant"] == "clean")]
        cells = [f"`{recipe}`"]
        for mode in ("single-clip", "speaker-adaptive"):
            match = independent[independent["mode"] == mode]
            cells.append(_cell(match.iloc[0], "uar") if len(match) else MISSING)
        gender_cell = MISSING
        if gender_table is not None and "recipe" in gender_table.columns:
            kfold = gender_table[(gender_table["recipe"] == recipe) & (gender_table["split"] == "k-fold")]
            gender_cell = _cell(kfold.iloc[0], "accuracy") if len(kfold) else MISSING
        cells.append(gender_cell)
        leaky = own[(own["protocol"] == "original") & (own["variant"] == "clean")]
        cells.append(_cell(leaky.iloc[0], "f1_original") if len(leaky) else MISSING)
        rows.append(cells)
    headers = ["recipe", "emotion UAR, single clip", "emotion UAR, speaker-adaptive",
               "gender accuracy (k-fold, single clip)", "F1 (original protocol, clean)"]
    text = ("Speaker-independent folds (no test actor heard in training), clean speech, mean ± std "
            "over folds; chance UAR is 0.125. *single clip*: nothing is known about the test "
            "speaker. *speaker-adaptive*: each speaker's features are standardised over that "
            "speaker's own clips, which needs enrollment audio of the speaker (gender's "
            "speaker-adaptive accuracy, one decision per speaker, is in notebook 05). The last "
            "column is the original's leaky random split, for contrast.")
    lines = [heading, text, markdown_table(headers, rows)]
    figure = results.figures_markdown(("headline_folds.png",))
    if figure:
        lines.append(figure)
    return "\n\n".join(line for line in lines if line)


def _table1_section(results: "_Results") -> str:
    heading = "## Table 1 — emotion classification on the five variants (notebook 03)"
    table = results.table(config.TABLE1)
    if table is None:
        return f"{heading}\n\n{_not_run(f'{config.TABLES_SUBDIR}/{config.TABLE1}.csv', '03')}"
    headers = [c for c in ("recipe", "mode") if c in table.columns] + ["variant", "protocol", "folds", "n_test"]
    for column, published in TABLE1_COLUMNS:
        if column in table.columns:
            headers.append(column)
            if published and published in table.columns:
                headers.append(published)
    rows = []
    for _, row in table.iterrows():
        rows.append([_cell(row, column) for column in headers])
    reference = evaluation.ORIGINAL_TABLE1.get("aggregation_reference", {})
    lines = [
        heading,
        "Our values beside the original's (`published_*`, from its random-split protocol). "
        "Speaker-independent rows are mean ± std over folds. `accuracy_binary`, `f1_original`, "
        "`auc` and `loss` are the original's Keras metrics (binary accuracy over the eight "
        "one-hot outputs: predicting no emotion at all scores 0.875); `accuracy` (top-1), `uar` "
        "(unweighted average recall; chance 0.125) and `macro_f1` are the standard ones. Full "
        f"table: [`tables/{config.TABLE1}.csv`](tables/{config.TABLE1}.csv).",
        markdown_table(headers, rows),
    ]
    if reference:
        lines.append(
            "The reference work the original reproduced (Adebisi, 2020) reported, on the "
            f"aggregation variant, accuracy {_number(reference.get('accuracy_binary'))} and F1 "
            f"{_number(reference.get('f1_original'))}.")
    lines.append(results.figures_markdown(SECTION_FIGURES["table1"]))
    return "\n\n".join(line for line in lines if line)


def _protocol_section(results: "_Results") -> str:
    heading = "## How the protocols differ"
    text = (
        "The original split each variant's items at random (60/20/20, `original`). Every "
        "actor then has clips on both sides, so the test score partly measures recognising "
        "a speaker already heard; in the aggregation variant the four versions of one "
        "recording (clean and three noisy copies) are also spread over training and test, so "
        "the test set holds near-copies of training items. `clip-grouped` keeps every version "
        "of a recording on one side (speakers still shared); `speaker-independent` is k-fold "
        "cross-validation over actors with gender-balanced test folds, so no test speaker's "
        "audio, clean or noisy, reaches training: what using the model on new speakers looks "
        "like. The original also reported Keras's binary accuracy over one-hot outputs as "
        "\"accuracy\", which is at least 0.875 for any 8-class model; UAR is the honest "
        "summary.")
    table = results.table(config.TABLE1)
    if table is None or not {"variant", "protocol", "uar"} <= set(table.columns):
        return f"{heading}\n\n{text}"
    if "recipe" in table.columns:
        # The protocols are compared on the reconstruction, which runs under all three.
        table = table[table["recipe"] == "original"]
    sentences = []
    for variant in [v for v in config.VARIANTS if v in set(table["variant"])]:
        rows = table[table["variant"] == variant].set_index("protocol")
        if {"original", "speaker-independent"} <= set(rows.index):
            original = rows.loc["original"]
            independent = rows.loc["speaker-independent"]
            sentences.append(
                f"{variant}: UAR {_cell(original, 'uar')} under `original`, "
                + (f"{_cell(rows.loc['clip-grouped'], 'uar')} under `clip-grouped`, "
                   if "clip-grouped" in rows.index else "")
                + f"{_cell(independent, 'uar')} speaker-independent")
    if sentences:
        text += " In these results: " + "; ".join(sentences) + "."
    return f"{heading}\n\n{text}"


def _table2_section(results: "_Results") -> str:
    heading = "## Table 2 — the tuned emotion model (notebook 04)"
    return _generic_table_section(
        results, heading, stem=config.TABLE2, notebook="04",
        published=evaluation.ORIGINAL_TABLE2, figures=SECTION_FIGURES["table2"],
        columns=TABLE2_COLUMNS,
        published_note="The original's Table 2 (aggregation variant, its random split; its "
                       "\"accuracy\" is binary accuracy and \"f1\" is `f1_original`):")


def _table3_section(results: "_Results") -> str:
    heading = "## Table 3 — gender classification (notebook 05)"
    return _generic_table_section(
        results, heading, stem=config.TABLE3, notebook="05",
        published={"published": evaluation.ORIGINAL_TABLE3}, figures=SECTION_FIGURES["table3"],
        columns=TABLE3_COLUMNS,
        published_note="The original's Table 3 (its six test speakers, one split):")


def _generic_table_section(results: "_Results", heading: str, *, stem: str, notebook: str,
                           published: dict, figures: Sequence[str], published_note: str,
                           columns: Sequence[str]) -> str:
    table = results.table(stem)
    if table is None:
        return f"{heading}\n\n{_not_run(f'{config.TABLES_SUBDIR}/{stem}.csv', notebook)}"
    shown = [c for c in columns if c in table.columns and table[c].notna().any()]
    if not shown:  # a table of another shape: every column rather than none
        shown = list(table.columns)
    std = [f"{c}_std" for c in shown if f"{c}_std" in table.columns]
    hidden = len([c for c in frame_columns(table) if c not in shown])
    lines = [heading,
             f"From [`tables/{stem}.csv`](tables/{stem}.csv); mean ± std where the table has "
             "a `*_std` column."
             + (f" The headline columns are shown; the CSV has {hidden} more." if hidden else ""),
             frame_to_markdown(table[shown + std])]
    if not any("published" in str(column) for column in table.columns):
        metrics = list(dict.fromkeys(k for values in published.values() for k in values))
        lines += [published_note, markdown_table(
            ["", *metrics],
            [[name, *[_number(values.get(metric)) for metric in metrics]]
             for name, values in published.items()])]
    lines.append(results.figures_markdown(figures))
    return "\n\n".join(line for line in lines if line)


def _prediction_section(results: "_Results") -> str:
    heading = "## Case studies: prediction on single files (notebook 06)"
    names = results.metric_names("06")
    tables = [stem for stem in CASE_STUDY_TABLES if results.table(stem) is not None]
    if not names and not tables:
        return f"{heading}\n\n{_not_run('metrics/06_*.json', '06')}"
    lines = [heading]
    for name in names:
        values = results.metrics(name) or {}
        rows = [[key, _text(value)] for key, value in values.items()
                if key not in RUN_KEYS and _is_scalar(value)]
        if rows:
            lines += [f"From `metrics/{name}.json`:", markdown_table(["item", "value"], rows)]
    for stem in tables:
        table = results.table(stem)
        # Absolute paths are long and machine-specific; bare file names are kept.
        long_paths = [c for c in table.columns if c == "path"
                      and table[c].astype(str).str.contains("/").any()]
        table = table.drop(columns=long_paths + [c for c in table.columns if c == "windows"])
        lines += [f"[`tables/{stem}.csv`](tables/{stem}.csv):", frame_to_markdown(table)]
    lines.append(results.figures_markdown(SECTION_FIGURES["prediction"]))
    return "\n\n".join(line for line in lines if line)


def _fusion_section(results: "_Results") -> str:
    heading = "## Fusion: gender as input to the emotion classifier (notebook 07)"
    table = results.table(config.FUSION_TABLE)
    if table is None:
        return f"{heading}\n\n{_not_run(f'{config.TABLES_SUBDIR}/{config.FUSION_TABLE}.csv', '07')}"
    summary = results.metrics(config.FUSION_METRICS) or {}
    headers = [c for c in ("variant", "model", "gender_source", "folds") if c in table.columns]
    headers += [c for c in FUSION_COLUMNS if c in table.columns]
    lines = [
        heading,
        "The plain emotion CNN, the fusion model (gender joined to the spectrogram branch; "
        "trained with the true gender) and separate per-gender models, on the same "
        "speaker-independent folds. Gender sources: `true` (upper bound), `predicted` (the "
        "gender classifier's label, trained per fold without the test actors: the deployable "
        "result), `predicted-probability` (its `p_female`). `delta_*` is the paired per-fold "
        "difference to the plain model, mean ± std. From "
        f"[`tables/{config.FUSION_TABLE}.csv`](tables/{config.FUSION_TABLE}.csv).",
        markdown_table(headers, [[_cell(row, c) for c in headers] for _, row in table.iterrows()]),
    ]
    if summary.get("conclusion"):
        lines += ["Conclusion (written by notebook 07 from these results):",
                  summary["conclusion"]]
    lines.append(results.figures_markdown(SECTION_FIGURES["fusion"]))
    return "\n\n".join(line for line in lines if line)


def _figures_section(results: "_Results") -> str:
    figures = results.all_figures()
    if not figures:
        return "## All figures\n\nNo figures."
    links = [f"- [`{p.name}`]({config.FIGURES_SUBDIR}/{p.name})" for p in figures]
    return "## All figures\n\n" + "\n".join(links)


# ----------------------------------------------------------------------------------------------
# Reading the results
# ----------------------------------------------------------------------------------------------


class _Results:
    """Read-only access to one outputs folder; absent or unreadable files read as None."""

    def __init__(self, root: Path):
        self.root = root
        self.shown: set[str] = set()

    def metrics(self, name: str) -> dict | None:
        path = self.root / config.METRICS_SUBDIR / f"{name}.json"
        try:
            value = project_io.read_json(path)
        except (OSError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def metric_names(self, prefix: str) -> list[str]:
        return sorted(p.stem for p in (self.root / config.METRICS_SUBDIR).glob(f"{prefix}_*.json"))

    def table(self, stem: str) -> pd.DataFrame | None:
        path = self.root / config.TABLES_SUBDIR / f"{stem}.csv"
        try:
            table = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            return None
        return table

    def provenance(self) -> list[dict]:
        rows = []
        for path in sorted((self.root / config.METRICS_SUBDIR).glob("*.json")):
            values = self.metrics(path.stem) or {}
            parameters = values.get("parameters") if isinstance(values.get("parameters"), dict) else {}
            rows.append({"file": path.name,
                         "profile": values.get("profile", parameters.get("PROFILE")),
                         "data": values.get("data"),
                         "fingerprint": values.get("data_fingerprint"),
                         "written": _mtime(path)})
        return rows

    def all_figures(self) -> list[Path]:
        return sorted((self.root / config.FIGURES_SUBDIR).glob("*.png"))

    def figures_markdown(self, patterns: Sequence[str]) -> str:
        found = []
        for pattern in patterns:
            for path in sorted((self.root / config.FIGURES_SUBDIR).glob(pattern)):
                if path.name not in self.shown and path not in found:
                    found.append(path)
        self.shown.update(p.name for p in found)
        return "\n\n".join(f"![{p.stem}]({config.FIGURES_SUBDIR}/{p.name})" for p in found)


def _notebook_title(path: Path) -> str | None:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", []))
            match = re.search(r"^#\s+(.+)$", source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return None


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------


def format_number(value, *, digits: int = DIGITS) -> str:
    """A number as the report writes it: integers as is, other reals with ``digits`` decimals.

    Missing values (None, NaN) are written as an en dash; anything else as ``str(value)``.
    """
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return MISSING if math.isnan(number) else f"{number:.{digits}f}"
    return str(value)


def parse_cell(text: str) -> tuple[float, float | None] | None:
    """Read back a number cell: ``"0.512 ± 0.031"`` → (0.512, 0.031), ``"0.5"`` → (0.5, None).

    Returns None for the missing-value dash or text that is not a number.
    """
    text = text.strip().strip("*")
    if text in ("", MISSING):
        return None
    match = re.fullmatch(r"([-+]?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?", text)
    if not match:
        return None
    return float(match.group(1)), (float(match.group(2)) if match.group(2) else None)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; ``|`` in cells is escaped."""
    def clean(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in headers) + " |",
             "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(clean(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_columns(frame: pd.DataFrame) -> list:
    """The columns :func:`frame_to_markdown` shows: each ``k_std`` goes into ``k``'s cell."""
    return [c for c in frame.columns
            if not (str(c).endswith("_std") and str(c)[:-4] in frame.columns)]


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """Any results table as Markdown, with ``k`` and ``k_std`` merged into ``mean ± std``."""
    columns = frame_columns(frame)
    return markdown_table([str(c) for c in columns],
                          [[_cell(row, c) for c in columns] for _, row in frame.iterrows()])


def _cell(row: pd.Series, column: str) -> str:
    value = row.get(column)
    if isinstance(value, str):
        return value
    if str(column) in COUNT_COLUMNS and isinstance(value, numbers.Real) \
            and float(value).is_integer():
        # A count read back as a float (its column has a gap) is still a count: "2", not "2.000".
        return str(int(value))
    if "learning_rate" in str(column) and isinstance(value, numbers.Real) \
            and not math.isnan(float(value)):
        # Learning rates differ in the fourth decimal (0.002 against 0.0022).
        return f"{float(value):.4g}"
    text = format_number(value)
    std = row.get(f"{column}_std")
    if text != MISSING and isinstance(std, numbers.Real) and not math.isnan(float(std)):
        text += f" ± {float(std):.{DIGITS}f}"
    return text


def _number(value) -> str:
    return format_number(value)


def _text(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _feature_summary(features: dict) -> str:
    keys = ("sample_rate", "n_mels", "n_fft", "win_length", "hop_length", "offset_s",
            "duration_s")
    return ", ".join(f"{k} {format_number(features[k])}" for k in keys if k in features)


def _not_run(path: str, notebook: str) -> str:
    return f"*Not run:* `{path}` does not exist (notebook {notebook} writes it)."


def _mtime(path: Path) -> str:
    stamp = _datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=_datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M")


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')
_TH = re.compile(r"(<th\b[^>]*>)([^<]*)(</th>)")
_TD = re.compile(r"(<td\b[^>]*>)([^<]*)(</td>)")
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
.table-scroll { overflow-x: auto; max-width: 100%; }
img { max-width: 100%; display: block; margin: 1rem 0; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""


def markdown_to_html(text: str, *, base_dir: str | os.PathLike, title: str = "Report") -> str:
    """Convert the Markdown report to a standalone HTML page with figures inline.

    Parameters
    ----------
    text : str
        Markdown (tables in GitHub style).
    base_dir : path-like
        Folder relative image paths are resolved against; each ``<img src>`` naming an
        existing PNG becomes a ``data:image/png;base64`` URI. Missing images are left as links.
    title : str
        The page title.

    Returns
    -------
    str
    """
    import markdown

    body = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"],
                             output_format="html")
    base = Path(base_dir)

    def inline(match: re.Match) -> str:
        source = html.unescape(match.group(2))
        if source.startswith("data:") or "://" in source:
            return match.group(0)
        path = base / source
        if not path.is_file():
            return match.group(0)
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:image/png;base64,{encoded}{match.group(3)}"

    body = _IMG_SRC.sub(inline, body)
    # A table wider than the page scrolls inside its own box, never the whole page; headers
    # may break after an underscore (published_accuracy_binary is one long word otherwise).
    body = body.replace("<table>", '<div class="table-scroll">\n<table>').replace(
        "</table>", "</table>\n</div>")
    body = _TH.sub(lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>") + m.group(3), body)
    # A "mean ± std" cell stays on one line: in a narrow column the browser otherwise breaks
    # "0.406 ± 0.044" over three lines (seen in the browser test's screenshot of Table 2).
    body = _TD.sub(lambda m: m.group(1) + m.group(2).replace(" ± ", "&nbsp;±&nbsp;") + m.group(3), body)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")
