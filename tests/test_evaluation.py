"""Metrics against hand-computed cases, against Keras's own metric objects, and the report."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import pandas as pd

from helpers import evaluation
from helpers.errors import ConfigError, ProjectError
from tests.factories import paired_fold_table

# A hand-worked 3-class case with two examples.
#   example 0: true class 0, probabilities [0.7, 0.2, 0.1] -> cells (pred > 0.5) [1, 0, 0]
#   example 1: true class 1, probabilities [0.6, 0.3, 0.1] -> cells              [1, 0, 0]
# One-hot truth [1, 0, 0 | 0, 1, 0]:
#   TP = 1 (ex 0, class 0), FP = 1 (ex 1, class 0), FN = 1 (ex 1, class 1), TN = 3.
HAND_Y = np.array([0, 1])
HAND_P = np.array([[0.7, 0.2, 0.1],
                   [0.6, 0.3, 0.1]])


def test_original_metrics_on_a_hand_worked_case():
    result = evaluation.original_metrics(HAND_Y, HAND_P, n_classes=3)
    assert set(result) == {"loss", "accuracy_binary", "auc", "precision", "recall",
                           "f1_original"}
    # Cross-entropy: -(ln 0.7 + ln 0.3) / 2 = (0.356675 + 1.203973) / 2 = 0.780324.
    assert result["loss"] == pytest.approx((-math.log(0.7) - math.log(0.3)) / 2)
    assert result["loss"] == pytest.approx(0.780324, abs=1e-6)
    # Cells right: TP + TN = 4 of 6.
    assert result["accuracy_binary"] == pytest.approx(4 / 6)
    # P = TP / (TP + FP) = 1/2, R = TP / (TP + FN) = 1/2, F1 = 1/2.
    assert result["precision"] == pytest.approx(0.5)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1_original"] == pytest.approx(0.5)
    # Flattened cells: positives score 0.7 and 0.3, negatives 0.2, 0.1, 0.6, 0.1.
    # 0.7 beats all 4 negatives, 0.3 beats 3 (not 0.6): AUC = 7 / 8.
    assert result["auc"] == pytest.approx(7 / 8)


def test_binary_accuracy_is_one_minus_cell_errors_over_n_k():
    counts = evaluation.one_hot_counts(HAND_Y, HAND_P, n_classes=3)
    assert counts == {"tp": 1, "fp": 1, "fn": 1, "tn": 3}
    result = evaluation.original_metrics(HAND_Y, HAND_P, n_classes=3)
    n, k = HAND_P.shape
    # The quirk: 1 - (FP + FN) / (n k) = 1 - 2/6.
    assert result["accuracy_binary"] == pytest.approx(1 - (counts["fp"] + counts["fn"]) / (n * k))
    assert result["accuracy_binary"] == pytest.approx(
        evaluation.binary_accuracy_from_precision_recall(
            result["precision"], result["recall"], n_classes=k))


def test_binary_accuracy_identity_holds_on_random_predictions():
    rng = np.random.default_rng(1)
    y, p = _random_case(rng, n=300, k=8)
    result = evaluation.original_metrics(y, p, n_classes=8)
    counts = evaluation.one_hot_counts(y, p, n_classes=8)
    assert result["accuracy_binary"] == pytest.approx(1 - (counts["fp"] + counts["fn"]) / 2400)
    assert result["accuracy_binary"] == pytest.approx(
        evaluation.binary_accuracy_from_precision_recall(
            result["precision"], result["recall"], n_classes=8))


@pytest.mark.parametrize("model", ["original", "tuned"])
def test_the_reports_table2_accuracy_is_binary_accuracy(model):
    row = evaluation.ORIGINAL_TABLE2[model]
    implied = evaluation.binary_accuracy_from_precision_recall(row["precision"], row["recall"],
                                                               n_classes=8)
    # P and R are rounded to three decimals in the report, so allow one unit in the third.
    assert implied == pytest.approx(row["accuracy"], abs=1e-3)
    assert evaluation.f1_from_precision_recall(row["precision"], row["recall"]) == pytest.approx(
        row["f1"], abs=1e-3)


def test_the_reports_tables_are_typed_in():
    assert set(evaluation.ORIGINAL_TABLE1) == {"clean", "white", "urban", "white_urban",
                                               "aggregation", "aggregation_reference"}
    assert evaluation.ORIGINAL_TABLE1["aggregation"]["f1_original"] == 0.829
    assert evaluation.ORIGINAL_TABLE1["aggregation_reference"]["accuracy_binary"] == 0.953
    assert evaluation.ORIGINAL_TABLE1["aggregation_reference"]["f1_original"] == 0.792
    # Table 2's "original" column repeats Table 1's aggregation row.
    for table1_key, table2_key in (("loss", "loss"), ("accuracy_binary", "accuracy"),
                                   ("auc", "auc"), ("f1_original", "f1")):
        assert (evaluation.ORIGINAL_TABLE1["aggregation"][table1_key]
                == evaluation.ORIGINAL_TABLE2["original"][table2_key])
    assert evaluation.ORIGINAL_TABLE3 == {"loss": 0.138, "accuracy": 0.944, "auc": 0.990,
                                          "precision": 0.965, "recall": 0.922, "f1": 0.943}
    table3 = evaluation.ORIGINAL_TABLE3
    assert evaluation.f1_from_precision_recall(table3["precision"], table3["recall"]) == (
        pytest.approx(table3["f1"], abs=1e-3))


def test_thresholds_are_strict_like_keras():
    # A cell at exactly 0.5 is predicted negative: truth [1, 0, 0] -> FN 1, TN 2.
    counts = evaluation.one_hot_counts(np.array([0]), np.array([[0.5, 0.5, 0.0]]), n_classes=3)
    assert counts == {"tp": 0, "fp": 0, "fn": 1, "tn": 2}
    result = evaluation.original_metrics(np.array([0]), np.array([[0.5, 0.5, 0.0]]), n_classes=3)
    # No predicted positives: precision is 0 (Keras's divide_no_nan) and so is F1.
    assert result["precision"] == 0.0
    assert result["f1_original"] == 0.0


def test_original_metrics_match_keras_metric_objects():
    rng = np.random.default_rng(7)
    y, p = _random_case(rng, n=500, k=8)
    p = p.astype("float32")
    one_hot = np.eye(8, dtype="float32")[y]
    ours = evaluation.original_metrics(y, p, n_classes=8)

    def keras_value(metric) -> float:
        metric.update_state(one_hot, p)
        return float(metric.result())

    assert ours["loss"] == pytest.approx(
        keras_value(keras.metrics.CategoricalCrossentropy()), abs=1e-6)
    assert ours["accuracy_binary"] == pytest.approx(
        keras_value(keras.metrics.BinaryAccuracy()), abs=1e-6)
    assert ours["precision"] == pytest.approx(keras_value(keras.metrics.Precision()), abs=1e-6)
    assert ours["recall"] == pytest.approx(keras_value(keras.metrics.Recall()), abs=1e-6)
    # Keras approximates the ROC area with 200 thresholds.
    assert ours["auc"] == pytest.approx(keras_value(keras.metrics.AUC()), abs=0.01)


def test_standard_metrics_on_a_hand_worked_case():
    # Predictions (arg-max): [0, 1, 1, 1] for truth [0, 0, 1, 2].
    y = np.array([0, 0, 1, 2])
    p = np.array([[0.8, 0.1, 0.1],
                  [0.3, 0.6, 0.1],
                  [0.2, 0.7, 0.1],
                  [0.1, 0.5, 0.4]])
    result = evaluation.standard_metrics(y, p, labels=("a", "b", "c"))
    # Two of four right.
    assert result["accuracy"] == pytest.approx(0.5)
    # Recalls: a 1/2, b 1/1, c 0/1 -> UAR = 1/2.
    assert result["uar"] == pytest.approx(0.5)
    # Precisions: a 1/1, b 1/3, c 0 (never predicted). F1: a 2/3, b 1/2, c 0 -> mean 7/18.
    assert result["macro_f1"] == pytest.approx(7 / 18)
    assert result["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert result["per_class"]["b"]["precision"] == pytest.approx(1 / 3)
    assert result["per_class"]["c"]["support"] == 1
    assert result["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert isinstance(result["per_class"]["a"]["f1-score"], float)


def test_binary_metrics_on_a_hand_worked_case():
    # Truth [1, 0, 1, 0], P(positive) [0.9, 0.2, 0.4, 0.6] -> predictions [1, 0, 0, 1].
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.6])
    result = evaluation.binary_metrics(y, p)
    # Loss: -(ln 0.9 + ln 0.8 + ln 0.4 + ln 0.4) / 4
    #     = (0.105361 + 0.223144 + 0.916291 + 0.916291) / 4 = 2.161086 / 4 = 0.540271.
    assert result["loss"] == pytest.approx(0.540271, abs=1e-6)
    assert result["accuracy"] == pytest.approx(0.5)
    # TP 1, FP 1, FN 1.
    assert result["precision"] == pytest.approx(0.5)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(0.5)
    # Positives 0.9, 0.4 vs negatives 0.2, 0.6: 0.9 wins twice, 0.4 once -> 3/4.
    assert result["auc"] == pytest.approx(0.75)
    # A column vector is accepted too.
    assert evaluation.binary_metrics(y, p[:, None]) == result


def test_binary_metrics_match_keras():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=200)
    p = rng.uniform(size=200).astype("float32")
    ours = evaluation.binary_metrics(y, p)
    truth = y.astype("float32")[:, None]
    for key, metric in (("loss", keras.metrics.BinaryCrossentropy()),
                        ("accuracy", keras.metrics.BinaryAccuracy()),
                        ("precision", keras.metrics.Precision()),
                        ("recall", keras.metrics.Recall())):
        metric.update_state(truth, p[:, None])
        assert ours[key] == pytest.approx(float(metric.result()), abs=1e-6), key


def test_binary_metrics_auc_is_nan_for_one_class():
    result = evaluation.binary_metrics(np.array([1, 1]), np.array([0.8, 0.3]))
    assert math.isnan(result["auc"])
    assert result["recall"] == pytest.approx(0.5)


def test_summarise_folds_mean_and_sample_std():
    rows = [{"a": 1.0, "b": 2.0, "name": "x"}, {"a": 3.0, "b": 2.0, "name": "y"}]
    # a: mean 2, sample std sqrt(((1-2)^2 + (3-2)^2) / (2-1)) = sqrt(2).
    assert evaluation.summarise_folds(rows, ["a", "b"]) == pytest.approx(
        {"a": 2.0, "a_std": math.sqrt(2), "b": 2.0, "b_std": 0.0})
    # Without keys, every numeric key is summarised and strings are skipped.
    assert set(evaluation.summarise_folds(rows)) == {"a", "a_std", "b", "b_std"}
    # One fold has no spread.
    assert evaluation.summarise_folds(rows[:1], ["a"]) == {"a": 1.0, "a_std": 0.0}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluation.original_metrics(HAND_Y, HAND_P, n_classes=4), r"shape \(2, 3\)"),
        (lambda: evaluation.original_metrics(HAND_Y[:1], HAND_P, n_classes=3), r"y_true"),
        (lambda: evaluation.original_metrics(np.array([0, 3]), HAND_P, n_classes=3),
         r"label 3 .*\[0, 3\)"),
        (lambda: evaluation.original_metrics(HAND_Y, HAND_P * 2, n_classes=3), r"probabilities"),
        (lambda: evaluation.original_metrics(HAND_Y, HAND_P * 0.9, n_classes=3),
         r"row 0 sums to 0.9"),
        (lambda: evaluation.original_metrics(np.eye(3)[HAND_Y], HAND_P, n_classes=3), r"one-hot"),
        (lambda: evaluation.standard_metrics(HAND_Y, HAND_P, labels=("a", "b")),
         r"len\(labels\)"),
        (lambda: evaluation.binary_metrics(np.array([0, 2]), np.array([0.1, 0.9])),
         r"label 2 .*\[0, 2\)"),
        (lambda: evaluation.binary_metrics(np.array([0, 1]), np.array([0.1, 1.5])),
         r"p_positive holds 1.5"),
        (lambda: evaluation.summarise_folds([], ["a"]), r"rows=\[\]"),
        (lambda: evaluation.summarise_folds([{"a": 1.0}], ["b"]), r"rows\[0\] has no key 'b'"),
    ],
)
def test_bad_inputs_raise_a_project_error_naming_them(call, message):
    with pytest.raises(ProjectError, match=message):
        call()


def _random_case(rng: np.random.Generator, *, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and softmax probabilities confident enough that some cells pass 0.5."""
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) * 2.0
    logits[np.arange(n), y] += 1.5  # better than chance, so precision and recall are not 0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, p / p.sum(axis=1, keepdims=True)


def test_difference_interval_matches_student_t():
    low, high = evaluation.difference_interval([0.02, -0.01, 0.06])
    mean, std = 0.07 / 3, np.std([0.02, -0.01, 0.06], ddof=1)
    half = 4.302652729911275 * std / np.sqrt(3)  # t(0.975, 2)
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert all(np.isnan(evaluation.difference_interval([0.1])))
    with pytest.raises(ConfigError, match="confidence"):
        evaluation.difference_interval([0.1, 0.2], confidence=1.5)


# ---------------------------------------------------------------------------------------------
# Paired comparisons over folds
# ---------------------------------------------------------------------------------------------

REFERENCE = ("plain", "none")


def test_paired_differences_pair_by_fold():
    deltas = evaluation.paired_differences(paired_fold_table(), reference=REFERENCE)
    row = deltas[(deltas["model"] == "fusion") & (deltas["gender_source"] == "predicted")]
    by_fold = row.set_index("fold").sort_index()
    np.testing.assert_allclose(by_fold["delta_uar"], [0.02, -0.01, 0.06], atol=1e-12)
    np.testing.assert_allclose(by_fold["delta_macro_f1"], [0.01, -0.05, 0.06], atol=1e-12)
    plain = deltas[deltas["model"] == "plain"]
    assert (plain[["delta_uar", "delta_macro_f1"]] == 0).all().all()


def test_summarise_paired_orders_rows_and_gives_the_interval():
    order = (("plain", "fusion"), ("none", "true", "predicted"))
    summary = evaluation.summarise_paired(paired_fold_table(), reference=REFERENCE, order=order,
                                          confidence=0.95)
    assert list(zip(summary["model"], summary["gender_source"])) == [
        ("plain", "none"), ("fusion", "true"), ("fusion", "predicted")]
    assert "gender_accuracy" not in summary.columns
    assert list(summary.columns[summary.columns.str.startswith("delta_uar")]) == [
        "delta_uar", "delta_uar_std", "delta_uar_low", "delta_uar_high"]
    row = summary.iloc[2]
    assert (row["delta_uar_low"], row["delta_uar_high"]) == pytest.approx(
        evaluation.difference_interval([0.02, -0.01, 0.06]))
    assert row["delta_uar"] == pytest.approx(np.mean([0.02, -0.01, 0.06]))
    unordered = evaluation.summarise_paired(paired_fold_table(), reference=REFERENCE)
    assert "delta_uar_low" not in unordered.columns
    assert len(unordered) == 3


def test_unpaired_folds_are_refused():
    table = paired_fold_table()
    missing = table[~((table["model"] == "fusion") & (table["gender_source"] == "true")
                      & (table["fold"] == 2))]
    with pytest.raises(ConfigError, match="paired"):
        evaluation.summarise_paired(missing, reference=REFERENCE)
    doubled = pd.concat([table, table.iloc[[0]]])
    with pytest.raises(ConfigError, match="twice"):
        evaluation.paired_differences(doubled, reference=REFERENCE)
    with pytest.raises(ConfigError, match="lacks"):
        evaluation.paired_differences(table.drop(columns="macro_f1"), reference=REFERENCE)
    with pytest.raises(ConfigError, match="reference"):
        evaluation.paired_differences(table[table["model"] != "plain"], reference=REFERENCE)


def test_pool_by_speaker_gives_each_row_its_speakers_mean():
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0], [0.0, 1.0]])
    pooled = evaluation.pool_by_speaker(probabilities, ["b", "b", "a", "b"])
    assert np.allclose(pooled, [[0.8 / 3, 2.2 / 3], [0.8 / 3, 2.2 / 3], [1.0, 0.0], [0.8 / 3, 2.2 / 3]])
    assert np.allclose(evaluation.pool_by_speaker(np.array([0.2, 0.6, 1.0]), [3, 3, 1]), [0.4, 0.4, 1.0])


@pytest.mark.parametrize("probabilities, speakers, message", [
    (np.zeros((3, 2)), [1, 2], "speakers has shape \\(2,\\); expected \\(3,\\)"),
    (np.zeros((2, 2, 2)), [1, 2], "must be numeric with shape"),
    (["a", "b"], [1, 2], "must be numeric with shape"),
])
def test_pool_by_speaker_refuses_mismatched_inputs(probabilities, speakers, message):
    with pytest.raises(ConfigError, match=message):
        evaluation.pool_by_speaker(probabilities, speakers)
