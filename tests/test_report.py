"""The reproduction report: built from results files, tolerant of absent ones, figures inline.

The check on a real smoke run is in ``test_notebook_07.py``, which shares that module's smoke
run; the helpers here that read a report back are imported there.
"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from helpers import io, report

# ----------------------------------------------------------------------------------------------
# Reading the report back
# ----------------------------------------------------------------------------------------------


def sections(markdown: str) -> dict[str, str]:
    """``## heading`` → the text under it."""
    parts = re.split(r"^## ", markdown, flags=re.MULTILINE)
    return {part.split("\n", 1)[0].strip(): part.split("\n", 1)[1] if "\n" in part else ""
            for part in parts[1:]}


def section(markdown: str, prefix: str) -> str:
    found = [text for heading, text in sections(markdown).items() if heading.startswith(prefix)]
    assert len(found) == 1, f"expected one section starting {prefix!r}, found {len(found)}"
    return found[0]


def first_table(text: str, *, after: str | None = None) -> list[dict[str, str]]:
    """The first Markdown table in ``text`` (after the line containing ``after``) as dicts."""
    lines = text.split("\n")
    if after is not None:
        lines = lines[next(k for k, line in enumerate(lines) if after in line) + 1:]
    start = next(k for k, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    header = cells(block[0])
    return [dict(zip(header, cells(line))) for line in block[2:]]


def assert_table_matches(rows: list[dict[str, str]], frame: pd.DataFrame) -> int:
    """Every number in the report's table equals the CSV's, rounded as the report rounds.

    Returns the number of numeric cells compared.
    """
    assert len(rows) == len(frame), (len(rows), len(frame))
    compared = 0
    for row, (_, expected) in zip(rows, frame.iterrows()):
        for column, text in row.items():
            if column not in frame.columns:
                continue
            value = expected[column]
            if isinstance(value, str):
                assert text == value, (column, text, value)
                continue
            if isinstance(value, (bool, np.bool_)):
                assert text == str(bool(value)), (column, text, value)
                continue
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert text == report.MISSING, (column, text)
                continue
            parsed = report.parse_cell(text)
            assert parsed is not None, (column, text)
            mean, std = parsed
            assert mean == pytest.approx(float(value), abs=5e-4 + 1e-9), (column, text, value)
            std_column = f"{column}_std"
            if std_column in frame.columns and not pd.isna(expected[std_column]):
                assert std == pytest.approx(float(expected[std_column]), abs=5e-4 + 1e-9), \
                    (std_column, text)
            compared += 1
    return compared


# ----------------------------------------------------------------------------------------------
# Unit tests on generated outputs folders
# ----------------------------------------------------------------------------------------------


def write_png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    io.save_figure(fig, path.stem, folder=path.parent, dpi=30)
    plt.close(fig)


def make_notebooks(folder, numbers=("01", "03", "07")):
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        notebook = {"cells": [{"cell_type": "markdown", "metadata": {},
                               "source": [f"# {number} · Title of notebook {number}\n", "text"]}],
                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (folder / f"{number}_name.ipynb").write_text(json.dumps(notebook))
    return folder


def table1_frame() -> pd.DataFrame:
    return pd.DataFrame([
        {"variant": "aggregation", "protocol": "original", "folds": 1, "n_test": 40,
         "loss": 1.23456, "accuracy_binary": 0.91234, "auc": 0.8, "f1_original": 0.5,
         "accuracy": 0.61, "uar": 0.6049, "macro_f1": 0.59951, "published_loss": 0.607,
         "published_accuracy_binary": 0.959, "published_auc": 0.972,
         "published_f1_original": 0.829},
        {"variant": "aggregation", "protocol": "speaker-independent", "folds": 3, "n_test": 192,
         "loss": 1.9, "accuracy_binary": 0.89, "auc": 0.7, "f1_original": 0.2, "accuracy": 0.41,
         "uar": 0.40049, "macro_f1": 0.38, "loss_std": 0.1, "accuracy_binary_std": 0.01,
         "auc_std": 0.02, "f1_original_std": 0.03, "accuracy_std": 0.04, "uar_std": 0.0449,
         "macro_f1_std": 0.06, "published_loss": 0.607, "published_accuracy_binary": 0.959,
         "published_auc": 0.972, "published_f1_original": 0.829},
    ])


def fusion_frame() -> pd.DataFrame:
    rows = []
    for model, source, delta in (("plain", "none", 0.0), ("fusion", "true", 0.0312),
                                 ("fusion", "predicted", -0.0123)):
        rows.append({"variant": "clean", "model": model, "gender_source": source, "folds": 3,
                     "uar": 0.4 + delta, "uar_std": 0.05, "macro_f1": 0.38 + delta,
                     "macro_f1_std": 0.04, "delta_uar": delta, "delta_uar_std": abs(delta) / 2,
                     "delta_macro_f1": delta, "delta_macro_f1_std": 0.01,
                     "gender_accuracy": {"none": np.nan, "true": 1.0}.get(source, 0.95)})
    return pd.DataFrame(rows)


@pytest.fixture
def outputs(tmp_path):
    root = tmp_path / "outputs"
    for folder in ("metrics", "tables", "figures", "notebooks"):
        (root / folder).mkdir(parents=True)
    io.write_json(root / "metrics" / "01_data.json", {
        "profile": "quick", "data": "stand-in (synthetic)", "ravdess_root": "/data/ravdess",
        "n_manifest": 1440, "n_clips": 192, "noise_root": "/data/us8k", "n_noise_clips": 30,
        "seed": 42, "versions": {"python": "3.11"}})
    return root


def test_absent_pieces_say_not_run(outputs, tmp_path):
    notebooks = make_notebooks(tmp_path / "notebooks")
    (outputs / "notebooks" / "01_name.ipynb").write_text(
        (notebooks / "01_name.ipynb").read_text())
    path = report.write_report("quick", outputs_dir=outputs, notebooks_dir=notebooks)
    assert path == outputs / "report.md"
    text = path.read_text()
    for prefix in ("Table 1", "Table 2", "Table 3", "Case studies", "Fusion"):
        assert "*Not run:*" in section(text, prefix), prefix
    assert "profile (`quick`)" not in text and "(profile `quick`)" in text
    rows = first_table(section(text, "Notebooks"))
    status = {row["notebook"]: row["executed copy"] for row in rows}
    assert status["01 · Title of notebook 01"].startswith("run ")
    assert "notebooks/01_name.ipynb" in status["01 · Title of notebook 01"]
    assert status["03 · Title of notebook 03"] == "not run"
    data = {row["item"]: row["value"] for row in first_table(section(text, "Data and profile"))}
    assert data["clips used by this profile"] == "192"
    assert data["noise variants"].startswith("not run")
    assert (outputs / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_an_empty_outputs_folder_still_gives_a_report(tmp_path):
    (tmp_path / "outputs").mkdir()
    text = report.write_report(None, outputs_dir=tmp_path / "outputs",
                               notebooks_dir=tmp_path).read_text()
    assert text.count("*Not run:*") == 7  # headline, data, tables 1-3, case studies, fusion
    with pytest.raises(report.ReportError, match="outputs_dir"):
        report.write_report(outputs_dir=tmp_path / "missing")


def test_report_numbers_equal_the_results_files(outputs, tmp_path):
    table1, fusion = table1_frame(), fusion_frame()
    io.write_table(table1, "table1_emotion", folder=outputs / "tables")
    io.write_table(fusion, "fusion", folder=outputs / "tables")
    table3 = pd.DataFrame([{"split": "k-fold", "n_test": 48, "accuracy": 0.91, "accuracy_std": 0.02,
                            "f1": 0.9049, "published_accuracy": 0.944, "published_f1": 0.943}])
    io.write_table(table3, "table3_gender", folder=outputs / "tables")
    io.write_json(outputs / "metrics" / "07_fusion.json", {"profile": "quick",
                                                          "conclusion": "**It did not help.**"})
    text = report.write_report("quick", outputs_dir=outputs,
                               notebooks_dir=make_notebooks(tmp_path / "nb")).read_text()
    assert assert_table_matches(first_table(section(text, "Table 1")), table1) == 2 * 13
    assert assert_table_matches(first_table(section(text, "Fusion")), fusion) == 3 * 6 - 1  # plain has no gender accuracy
    assert assert_table_matches(first_table(section(text, "Table 3")), table3) == 5
    assert "**It did not help.**" in section(text, "Fusion")
    # Table 2 is absent; Table 3 carries published columns, so no fallback table is added.
    assert "*Not run:*" in section(text, "Table 2")
    assert "The original's Table 3" not in text
    # The protocol paragraph quotes the UARs of Table 1.
    assert "UAR 0.605 under `original`" in section(text, "How the protocols differ")
    assert "0.400 ± 0.045 speaker-independent" in section(text, "How the protocols differ")


def test_published_values_are_added_where_a_table_has_none(outputs, tmp_path):
    from helpers import evaluation

    table2 = pd.DataFrame([{"model": "tuned", "uar": 0.5, "uar_std": 0.1}])
    io.write_table(table2, "table2_tuning", folder=outputs / "tables")
    text = report.write_report(outputs_dir=outputs, notebooks_dir=tmp_path).read_text()
    published = first_table(section(text, "Table 2"), after="The original's Table 2")
    assert [row[""] for row in published] == list(evaluation.ORIGINAL_TABLE2)
    assert published[1]["f1"] == f"{evaluation.ORIGINAL_TABLE2['tuned']['f1']:.3f}"


def test_html_embeds_every_figure(outputs, tmp_path):
    write_png(outputs / "figures" / "fusion_paired_differences.png")
    write_png(outputs / "figures" / "dataset_counts.png")
    write_png(outputs / "figures" / "other.png")
    io.write_table(fusion_frame(), "fusion", folder=outputs / "tables")
    report.write_report(outputs_dir=outputs, notebooks_dir=tmp_path)
    markdown = (outputs / "report.md").read_text()
    html = (outputs / "report.html").read_text()
    assert markdown.count("![") == 2  # the two section figures; "other" is only linked
    assert 'href="figures/other.png"' in html
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert (outputs / "figures" / "fusion_paired_differences.png").read_bytes() in embedded
    assert "<table>" in html


def test_html_keeps_a_mean_and_its_std_on_one_line(outputs, tmp_path):
    table2 = pd.DataFrame([{"model": "tuned", "uar": 0.5, "uar_std": 0.1}])
    io.write_table(table2, "table2_tuning", folder=outputs / "tables")
    report.write_report(outputs_dir=outputs, notebooks_dir=tmp_path)
    assert "| 0.500 ± 0.100 |" in (outputs / "report.md").read_text()
    html = (outputs / "report.html").read_text()
    assert "<td>0.500&nbsp;±&nbsp;0.100</td>" in html
    assert not re.search(r"<td>[^<]* ± ", html)


def test_a_failed_notebook_is_flagged(outputs, tmp_path):
    notebooks = make_notebooks(tmp_path / "nb", numbers=("03",))
    (outputs / "notebooks" / "03_name.failed.ipynb").write_text(
        (notebooks / "03_name.ipynb").read_text())
    text = report.write_report(outputs_dir=outputs, notebooks_dir=notebooks).read_text()
    row = first_table(section(text, "Notebooks"))[0]
    assert row["executed copy"].startswith("**failed**")
    assert "notebooks/03_name.failed.ipynb" in row["executed copy"]


def test_mixed_profiles_are_warned_about(outputs, tmp_path):
    io.write_json(outputs / "metrics" / "03_emotion.json", {"profile": "smoke", "data": "real"})
    text = report.write_report("quick", outputs_dir=outputs, notebooks_dir=tmp_path).read_text()
    assert "**Warning:** these results mix profiles ['quick', 'smoke']" in text


@pytest.mark.parametrize("value, text", [
    (0.12345, "0.123"), (3, "3"), (np.int64(192), "192"), (np.float32(0.5), "0.500"),
    (float("nan"), report.MISSING), (None, report.MISSING), ("clean", "clean"),
])
def test_format_number(value, text):
    assert report.format_number(value) == text


def test_parse_cell_reads_back_what_the_report_writes():
    assert report.parse_cell("0.512 ± 0.031") == (0.512, 0.031)
    assert report.parse_cell("-0.008") == (-0.008, None)
    assert report.parse_cell(report.MISSING) is None
    assert report.parse_cell("clean") is None


def test_a_malformed_results_file_costs_only_its_section(outputs, tmp_path):
    (outputs / "tables" / "fusion.csv").write_text("model\nplain\n")  # no gender_source column
    io.write_table(table1_frame(), "table1_emotion", folder=outputs / "tables")
    (outputs / "tables" / "table3_gender.csv").write_bytes(b"\x00\xff garbage")
    text = report.write_report(outputs_dir=outputs, notebooks_dir=tmp_path).read_text()
    assert len(first_table(section(text, "Table 1"))) == 2
    # A table missing a column still shows what it has; the unreadable one's section names
    # the error instead of its table.
    fusion = section(text, "Fusion")
    assert "| plain |" in fusion and "Could not be built" not in fusion
    table3 = section(text, "Table 3")
    assert "*Could not be built from the results files:* `UnicodeDecodeError" in table3
    assert (outputs / "report.html").is_file()


def test_a_corrupt_gender_table_leaves_the_headline_standing(outputs, tmp_path):
    io.write_table(table1_frame(), "table1_emotion", folder=outputs / "tables")
    (outputs / "tables" / "table3_gender.csv").write_bytes(b"\x00\xff garbage")
    text = report.write_report(outputs_dir=outputs, notebooks_dir=tmp_path).read_text()
    headline = section(text, "Headline")
    assert "Could not be built" not in headline
    assert [row["recipe"] for row in first_table(headline)] == ["`original`"]
    assert text.count("Could not be built") == 1  # Table 3's own section, and only it


def test_headline_has_one_row_per_recipe_with_both_modes(tmp_path):
    outputs = tmp_path / "outputs"
    rows = [
        {"recipe": "original", "mode": "single-clip", "variant": "clean",
         "protocol": "speaker-independent", "uar": 0.33, "uar_std": 0.07, "f1_original": 0.5},
        {"recipe": "original", "mode": "single-clip", "variant": "clean", "protocol": "original",
         "uar": 0.8, "f1_original": 0.81},
        {"recipe": "ours", "mode": "single-clip", "variant": "clean",
         "protocol": "speaker-independent", "uar": 0.587, "uar_std": 0.069},
        {"recipe": "ours", "mode": "speaker-adaptive", "variant": "clean",
         "protocol": "speaker-independent", "uar": 0.673, "uar_std": 0.054},
    ]
    io.write_table(pd.DataFrame(rows), "table1_emotion", folder=outputs / "tables")
    io.write_table(pd.DataFrame([
        {"recipe": "original", "split": "k-fold", "accuracy": 0.906, "accuracy_std": 0.075},
        {"recipe": "ours", "split": "k-fold", "accuracy": 0.942, "accuracy_std": 0.036}]),
        "table3_gender", folder=outputs / "tables")
    text = report.build_report(outputs, notebooks_dir=tmp_path)
    assert text.index("## Headline") < text.index("## Table 1")
    headline = section(text, "Headline")
    lines = [line for line in headline.splitlines() if line.startswith("| `")]
    assert lines[0].startswith("| `original` | 0.330 ± 0.070 | – | 0.906 ± 0.075 | 0.810")
    assert lines[1].startswith("| `ours` | 0.587 ± 0.069 | 0.673 ± 0.054 | 0.942 ± 0.036 | –")
