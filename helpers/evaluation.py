"""Metrics as plain numpy / scikit-learn functions, and the original report's tables.

Two families of emotion metrics are computed side by side:

* :func:`original_metrics` reproduces what the original notebook reported. It compiled with
  ``metrics=["accuracy", AUC, Precision, Recall]`` on one-hot targets, and old Keras resolved
  ``"accuracy"`` to *binary* accuracy over the n x k one-hot cells. AUC, precision and recall
  are likewise computed over the flattened cells (threshold 0.5). These numbers are high for
  any 8-class model (predicting "no" for every cell already scores 7/8 = 0.875 binary
  accuracy), so they are kept only to compare with the report.
* :func:`standard_metrics` gives what SER papers report: top-1 ("weighted") accuracy,
  unweighted average recall (UAR), macro F1, the per-class report and the confusion matrix.

The binary-accuracy quirk can be checked on the report's own numbers. With one-hot targets every
example has exactly one positive cell, so over N examples and k classes TP + FN = N, recall
R = TP / N and precision P = TP / (TP + FP). Hence FN = N (1 - R), FP = N R (1/P - 1) and

    accuracy_binary = 1 - (FP + FN) / (k N) = 1 - ((1 - R) + R (1/P - 1)) / k.

Table 2 of the report satisfies this to three decimals for k = 8 (original model: P = 0.869,
R = 0.793 → 0.959; tuned: P = 0.911, R = 0.807 → 0.966), which confirms that its "accuracy" is
the binary one (see :func:`binary_accuracy_from_precision_recall`).

All inputs are checked; violations raise :class:`helpers.errors.ConfigError` (a
``ProjectError``/``ValueError``) naming the argument, the offending value and the expectation.

Why it is over 500 lines: it is the one home of every metric and summary statistic the
project reports, so notebooks, benchmarks and the report compute each number one way; about
40 % of it is docstrings and the input checks the metrics share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from helpers.errors import ConfigError, check_int

# Keras's backend epsilon: predictions are clipped to [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7
# Tolerance on each probability row summing to one.
SUM_TOLERANCE = 1e-3
# Decision threshold of Keras's BinaryAccuracy, Precision and Recall.
THRESHOLD = 0.5

# ---------------------------------------------------------------------------------------------
# The original report's numbers, typed from its tables (test sets, one run each).
# ---------------------------------------------------------------------------------------------

# Table 1: the original emotion CNN on each dataset variant. "accuracy_binary" is the report's
# "Accuracy" (binary accuracy over one-hot cells, see the module docstring) and "f1_original"
# its "F1-score" (2PR / (P + R) from the flattened-cell precision and recall). The reference
# work (Adebisi, 2020) reported only accuracy and F1 for the aggregation dataset; the missing
# values are None.
ORIGINAL_TABLE1: dict[str, dict[str, float | None]] = {
    "clean": {"loss": 0.710, "accuracy_binary": 0.944, "auc": 0.963, "f1_original": 0.744},
    "white": {"loss": 0.866, "accuracy_binary": 0.939, "auc": 0.943, "f1_original": 0.720},
    "urban": {"loss": 1.013, "accuracy_binary": 0.924, "auc": 0.924, "f1_original": 0.632},
    "white_urban": {"loss": 0.846, "accuracy_binary": 0.933, "auc": 0.951,
                    "f1_original": 0.676},
    "aggregation": {"loss": 0.607, "accuracy_binary": 0.959, "auc": 0.972,
                    "f1_original": 0.829},
    "aggregation_reference": {"loss": None, "accuracy_binary": 0.953, "auc": None,
                              "f1_original": 0.792},
}

# Table 2: the emotion CNN on the aggregation dataset before ("original": dropout and learning
# rate of the reference notebook, lr 0.002) and after ("tuned": dropout 0.25, lr 0.0022) the
# report's tuning. Keys follow the report's column names: "accuracy" here is the binary accuracy
# (``original_metrics``'s "accuracy_binary") and "f1" is ``original_metrics``'s "f1_original".
ORIGINAL_TABLE2: dict[str, dict[str, float]] = {
    "original": {"loss": 0.607, "accuracy": 0.959, "auc": 0.972, "precision": 0.869,
                 "recall": 0.793, "f1": 0.829},
    "tuned": {"loss": 0.470, "accuracy": 0.966, "auc": 0.982, "precision": 0.911,
              "recall": 0.807, "f1": 0.856},
}

# Table 3: the gender CNN on its six test speakers; keys as returned by ``binary_metrics``.
ORIGINAL_TABLE3: dict[str, float] = {
    "loss": 0.138, "accuracy": 0.944, "auc": 0.990, "precision": 0.965, "recall": 0.922,
    "f1": 0.943,
}


# ---------------------------------------------------------------------------------------------
# Emotion metrics
# ---------------------------------------------------------------------------------------------

def original_metrics(y_true: np.ndarray, probabilities: np.ndarray, *,
                     n_classes: int) -> dict[str, float]:
    """The original notebook's Keras metrics, computed with numpy and scikit-learn.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
        Integer class labels in ``[0, n_classes)``.
    probabilities : np.ndarray [shape=(n, n_classes)]
        Predicted class probabilities; each row sums to 1 (within 1e-3).
    n_classes : int
        Number of classes k (8 emotions).

    Returns
    -------
    dict
        ``loss``: mean categorical cross-entropy, with Keras's handling (rows rescaled to sum
        to 1, then clipped to [1e-7, 1 - 1e-7]).
        ``accuracy_binary``: Keras ``BinaryAccuracy`` (threshold 0.5) over the n x k one-hot
        cells, i.e. the fraction of cells predicted right: 1 - (FP + FN) / (n k).
        ``auc``: ROC AUC over the flattened cells (``sklearn.metrics.roc_auc_score``; Keras's
        ``AUC`` approximates the same area with 200 thresholds and differs by less than about
        0.01).
        ``precision``, ``recall``: Keras ``Precision``/``Recall`` (threshold 0.5, strict
        ``>``) over the flattened cells; 0 when undefined.
        ``f1_original``: 2PR / (P + R), 0 when P + R = 0.

    Raises
    ------
    ConfigError
        If the shapes disagree, a label is outside ``[0, n_classes)``, a probability is outside
        [0, 1] or not finite, or a row does not sum to 1.
    """
    _check_n_classes(n_classes)
    probabilities = _as_probabilities(probabilities, n_classes=n_classes)
    labels = _as_labels(y_true, n_classes=n_classes, n=probabilities.shape[0])
    one_hot = np.eye(n_classes, dtype=np.float64)[labels]

    rescaled = probabilities / probabilities.sum(axis=1, keepdims=True)
    clipped = np.clip(rescaled, EPSILON, 1.0 - EPSILON)
    loss = float(np.mean(-np.sum(one_hot * np.log(clipped), axis=1)))

    counts = one_hot_counts(labels, probabilities, n_classes=n_classes)
    precision = _safe_ratio(counts["tp"], counts["tp"] + counts["fp"])
    recall = _safe_ratio(counts["tp"], counts["tp"] + counts["fn"])
    return {
        "loss": loss,
        "accuracy_binary": (counts["tp"] + counts["tn"]) / one_hot.size,
        # Both cell classes are present whenever n_classes >= 2, so the AUC is defined.
        "auc": float(skm.roc_auc_score(one_hot.ravel(), probabilities.ravel())),
        "precision": precision,
        "recall": recall,
        "f1_original": f1_from_precision_recall(precision, recall),
    }


def one_hot_counts(y_true: np.ndarray, probabilities: np.ndarray, *, n_classes: int,
                   threshold: float = THRESHOLD) -> dict[str, int]:
    """Confusion counts over the n x k one-hot cells, as Keras's thresholded metrics see them.

    A cell is predicted positive when its probability is strictly greater than ``threshold``.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
        Integer class labels in ``[0, n_classes)``.
    probabilities : np.ndarray [shape=(n, n_classes)]
        Predicted class probabilities.
    n_classes : int
        Number of classes k.
    threshold : float
        Decision threshold in [0, 1).

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``tn`` (ints summing to n k).

    Raises
    ------
    ConfigError
        As :func:`original_metrics`, or if ``threshold`` is outside [0, 1).
    """
    _check_n_classes(n_classes)
    _check_threshold(threshold)
    probabilities = _as_probabilities(probabilities, n_classes=n_classes)
    labels = _as_labels(y_true, n_classes=n_classes, n=probabilities.shape[0])
    truth = np.eye(n_classes, dtype=bool)[labels]
    predicted = probabilities > threshold
    return {
        "tp": int(np.sum(truth & predicted)),
        "fp": int(np.sum(~truth & predicted)),
        "fn": int(np.sum(truth & ~predicted)),
        "tn": int(np.sum(~truth & ~predicted)),
    }


def binary_accuracy_from_precision_recall(precision: float, recall: float, *,
                                          n_classes: int) -> float:
    """The binary accuracy implied by one-hot precision and recall: 1 - (FP + FN) / (k N).

    Every example has exactly one positive cell, so FN = N (1 - R) and FP = N R (1/P - 1);
    see the module docstring. Used to check that the report's "accuracy" is the binary one.

    Parameters
    ----------
    precision, recall : float
        Cell-level precision P in (0, 1] and recall R in [0, 1].
    n_classes : int
        Number of classes k.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        If ``precision`` is not in (0, 1] or ``recall`` not in [0, 1].
    """
    _check_n_classes(n_classes)
    if not (isinstance(precision, (int, float)) and 0 < precision <= 1):
        raise ConfigError(f"precision={precision!r} must be in (0, 1]")
    if not (isinstance(recall, (int, float)) and 0 <= recall <= 1):
        raise ConfigError(f"recall={recall!r} must be in [0, 1]")
    errors_per_example = (1.0 - recall) + recall * (1.0 / precision - 1.0)
    return float(1.0 - errors_per_example / n_classes)


def standard_metrics(y_true: np.ndarray, probabilities: np.ndarray, *,
                     labels: Sequence[str]) -> dict:
    """Top-1 accuracy, UAR, macro F1, the per-class report and the confusion matrix.

    The predicted class is the arg-max of each row.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
        Integer class labels in ``[0, len(labels))``.
    probabilities : np.ndarray [shape=(n, len(labels))]
        Predicted class probabilities; each row sums to 1 (within 1e-3).
    labels : sequence of str
        Class names in label order (e.g. ``config.EMOTIONS``).

    Returns
    -------
    dict
        ``accuracy``: top-1 accuracy ("weighted accuracy" in SER papers).
        ``uar``: unweighted average recall (``balanced_accuracy_score``: the mean recall over
        the classes present in ``y_true``).
        ``macro_f1``: unweighted mean F1 over the classes present in ``y_true`` or in the
        predictions (scikit-learn's default; a class never seen nor predicted is left out).
        ``per_class``: ``classification_report(..., output_dict=True)`` keyed by class name,
        with every class of ``labels`` (zero-division results are 0).
        ``confusion``: confusion matrix as nested lists of ints
        ``[shape=(len(labels), len(labels))]``, rows = true class, columns = predicted.

    Raises
    ------
    ConfigError
        If ``labels`` is empty or has repeats, its length differs from the number of
        probability columns, or ``y_true``/``probabilities`` fail the checks of
        :func:`original_metrics`.
    """
    names = _check_label_names(labels)
    probabilities = _as_probabilities(probabilities, n_classes=len(names),
                                      columns_name="len(labels)")
    truth = _as_labels(y_true, n_classes=len(names), n=probabilities.shape[0])
    predicted = probabilities.argmax(axis=1)
    label_ids = list(range(len(names)))
    report = skm.classification_report(truth, predicted, labels=label_ids, target_names=names,
                                       output_dict=True, zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(truth, predicted)),
        "uar": float(skm.balanced_accuracy_score(truth, predicted)),
        "macro_f1": float(skm.f1_score(truth, predicted, average="macro", zero_division=0)),
        "per_class": _to_builtin(report),
        "confusion": skm.confusion_matrix(truth, predicted, labels=label_ids).tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Gender metrics
# ---------------------------------------------------------------------------------------------

def binary_metrics(y_true: np.ndarray, p_positive: np.ndarray, *,
                   threshold: float = THRESHOLD) -> dict[str, float]:
    """Metrics of a binary classifier (the gender CNN: positive = female).

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
        Labels in {0, 1}.
    p_positive : np.ndarray [shape=(n,) or (n, 1)]
        Predicted probability of the positive class, in [0, 1].
    threshold : float
        Decision threshold in [0, 1); a probability strictly above it predicts positive, as in
        Keras's ``BinaryAccuracy``, ``Precision`` and ``Recall``.

    Returns
    -------
    dict
        ``loss`` (mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7] as Keras
        does), ``accuracy``, ``auc`` (ROC; NaN when ``y_true`` holds one class only),
        ``precision``, ``recall``, ``f1`` (each 0 when undefined).

    Raises
    ------
    ConfigError
        If the shapes disagree, a label is not 0 or 1, or a probability is outside [0, 1] or
        not finite.
    """
    _check_threshold(threshold)
    scores = np.asarray(p_positive, dtype=np.float64) if _is_numeric(p_positive) else None
    if scores is None or scores.ndim not in (1, 2) or (scores.ndim == 2 and scores.shape[1] != 1):
        raise ConfigError(
            f"p_positive with shape {np.shape(p_positive)} must be numeric with shape (n,) or "
            "(n, 1)"
        )
    scores = scores.reshape(-1)
    if scores.size == 0:
        raise ConfigError("p_positive is empty; expected at least one prediction")
    _check_unit_interval("p_positive", scores)
    truth = _as_labels(y_true, n_classes=2, n=scores.size, n_name="len(p_positive)")

    clipped = np.clip(scores, EPSILON, 1.0 - EPSILON)
    loss = float(np.mean(-(truth * np.log(clipped) + (1 - truth) * np.log(1.0 - clipped))))
    predicted = (scores > threshold).astype(int)
    precision = float(skm.precision_score(truth, predicted, zero_division=0))
    recall = float(skm.recall_score(truth, predicted, zero_division=0))
    auc = (float(skm.roc_auc_score(truth, scores)) if np.unique(truth).size == 2
           else float("nan"))
    return {
        "loss": loss,
        "accuracy": float(np.mean(predicted == truth)),
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "f1": f1_from_precision_recall(precision, recall),
    }


def pool_by_speaker(probabilities: np.ndarray, speakers: Sequence) -> np.ndarray:
    """Each row replaced by the mean of its speaker's rows: one decision per speaker.

    The speaker-adaptive mode of gender. Standardising a speaker's features over that
    speaker's own clips (the emotion models' speaker-adaptive mode) removes what tells voices
    apart, gender included; a speaker's gender is instead the same on every clip, so averaging
    the model's probabilities over the speaker's unlabelled clips turns many noisy clip-level
    decisions into one. Like every speaker-adaptive score, it needs several recordings of the
    speaker (enrollment audio), and says nothing about a single clip.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n,) or (n, k)]
        Per-clip probabilities (or any per-clip scores to average).
    speakers : sequence [shape=(n,)]
        Speaker of each row (any hashable values).

    Returns
    -------
    np.ndarray
        Same shape and row order as ``probabilities``.

    Raises
    ------
    ConfigError
        If ``probabilities`` is not numeric with one or two dimensions, or ``speakers`` has
        another length.
    """
    values = np.asarray(probabilities, dtype=np.float64) if _is_numeric(probabilities) else None
    if values is None or values.ndim not in (1, 2):
        raise ConfigError(f"probabilities with shape {np.shape(probabilities)} must be numeric "
                          f"with shape (n,) or (n, k)")
    speakers = np.asarray(speakers)
    if speakers.shape != (len(values),):
        raise ConfigError(f"speakers has shape {speakers.shape}; expected ({len(values)},), one "
                          f"speaker per row of probabilities")
    means = pd.DataFrame(values.reshape(len(values), -1)).groupby(speakers).transform("mean")
    return means.to_numpy().reshape(values.shape)


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------

def summarise_folds(rows: Sequence[Mapping[str, float]],
                    keys: Sequence[str] | None = None) -> dict[str, float]:
    """Mean and sample standard deviation of each metric across folds.

    Parameters
    ----------
    rows : sequence of dict
        One dict of metrics per fold.
    keys : sequence of str or None
        Metrics to summarise; None takes every key whose value is a real number in all rows
        (in the first row's order).

    Returns
    -------
    dict
        For each key ``k``: ``k`` (the mean) and ``k_std`` (sample standard deviation,
        ddof = 1; 0.0 for a single fold). A NaN in any fold propagates to both.

    Raises
    ------
    ConfigError
        If ``rows`` is empty, a requested key is missing from a row, or a value is not a number.
    """
    rows = list(rows)
    if not rows:
        raise ConfigError("rows=[] must hold at least one fold's metrics")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigError(f"rows[{index}]={row!r} must be a dict of metrics")
    if keys is None:
        keys = [key for key in rows[0] if all(_is_real(row.get(key)) for row in rows)]
    elif isinstance(keys, str):
        raise ConfigError(f"keys={keys!r} must be a sequence of metric names, not one string")
    summary: dict[str, float] = {}
    for key in keys:
        values = []
        for index, row in enumerate(rows):
            if key not in row:
                raise ConfigError(f"rows[{index}] has no key {key!r}; its keys are {sorted(row)}")
            if not _is_real(row[key]):
                raise ConfigError(f"rows[{index}][{key!r}]={row[key]!r} must be a real number")
            values.append(float(row[key]))
        summary[key] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return summary


def f1_from_precision_recall(precision: float, recall: float) -> float:
    """Harmonic mean 2PR / (P + R); 0.0 when P + R = 0."""
    total = precision + recall
    return float(2.0 * precision * recall / total) if total > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Paired comparisons over folds
# ---------------------------------------------------------------------------------------------

#: The columns that name a compared row of a fold table (the fusion studies' model and the
#: source of its gender input).
PAIRED_KEYS: tuple[str, ...] = ("model", "gender_source")
#: The metrics compared when none are named.
PAIRED_METRICS: tuple[str, ...] = ("uar", "macro_f1")


def difference_interval(differences: Sequence[float], *, confidence: float = 0.95
                        ) -> tuple[float, float]:
    """Student-t confidence interval of the mean of paired per-fold differences.

    Parameters
    ----------
    differences : sequence of float [shape=(n_folds,)]
    confidence : float
        In (0, 1).

    Returns
    -------
    (low, high) : (float, float)
        NaN for fewer than two folds.

    Raises
    ------
    ConfigError
        If ``confidence`` is outside (0, 1) or a difference is not finite.
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence} must be in (0, 1)")
    values = np.asarray(differences, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"differences={values.tolist()} must be finite")
    if values.size < 2:
        return float("nan"), float("nan")
    half = (stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
            / np.sqrt(values.size))
    return float(values.mean() - half), float(values.mean() + half)


def paired_differences(fold_table: pd.DataFrame, *, reference: Sequence[str],
                       metrics: Sequence[str] = PAIRED_METRICS,
                       keys: Sequence[str] = PAIRED_KEYS) -> pd.DataFrame:
    """Per-fold differences of every model × gender source to the reference on the same fold.

    Parameters
    ----------
    fold_table : pd.DataFrame
        One row per fold × model × gender source with columns ``fold``, ``keys`` and each
        metric (as :meth:`helpers.fusion.FusionResult.fold_table` returns).
    reference : sequence of str
        The baseline's values of ``keys``, e.g. ``("plain", "none")``.
    metrics : sequence of str
    keys : sequence of str
        The columns that name a compared row (default ``model, gender_source``).

    Returns
    -------
    pd.DataFrame
        Columns ``fold``, ``keys`` and ``delta_<metric>`` (row − reference), one row per row
        of ``fold_table`` (the reference's own differences are 0).

    Raises
    ------
    ConfigError
        If a column is missing, a fold × model × source appears twice, or a model × source
        does not cover exactly the reference's folds (the comparison would not be paired).
    """
    keys, reference = list(keys), tuple(reference)
    _check_fold_table(fold_table, metrics, keys)
    if len(reference) != len(keys):
        raise ConfigError(f"reference={reference} must give one value for each of {keys}")
    is_reference = np.ones(len(fold_table), dtype=bool)
    for key, value in zip(keys, reference):
        is_reference &= (fold_table[key] == value).to_numpy()
    base = fold_table[is_reference].set_index("fold")[list(metrics)]
    if base.empty:
        raise ConfigError(f"fold_table has no rows for the reference {reference}")
    reference_folds = sorted(base.index)
    rows = []
    for name, group in fold_table.groupby(keys, sort=False):
        if sorted(group["fold"]) != reference_folds:
            raise ConfigError(f"{'/'.join(map(str, name))} has folds {sorted(group['fold'])} but "
                              f"the reference {reference} has {reference_folds}; they must be "
                              "paired")
        for _, row in group.iterrows():
            rows.append({"fold": row["fold"], **dict(zip(keys, name)),
                         **{f"delta_{m}": float(row[m] - base.loc[row["fold"], m])
                            for m in metrics}})
    return pd.DataFrame(rows)


def summarise_paired(fold_table: pd.DataFrame, *, reference: Sequence[str],
                     metrics: Sequence[str] = PAIRED_METRICS, keys: Sequence[str] = PAIRED_KEYS,
                     order: Sequence[Sequence[str]] = (), averaged: Sequence[str] = (),
                     confidence: float | None = None) -> pd.DataFrame:
    """Mean ± std over folds and the paired difference to the reference, per model × source.

    Parameters
    ----------
    fold_table : pd.DataFrame
        As :func:`paired_differences` takes.
    reference : sequence of str
    metrics : sequence of str
    keys : sequence of str
        As :func:`paired_differences` takes.
    order : sequence of sequence of str
        For each of ``keys``, its known values in table order: rows are sorted by the first
        key's rank, then the next's; values not listed come after the listed ones, in the
        order they first appear.
    averaged : sequence of str
        Further columns averaged over folds where ``fold_table`` has them (e.g.
        ``gender_accuracy``).
    confidence : float, optional
        Also give the Student-t interval of each mean paired difference at this level
        (:func:`difference_interval`).

    Returns
    -------
    pd.DataFrame
        One row per model × gender source: ``keys``, ``folds``, then for each metric
        ``<metric>``, ``<metric>_std`` (sample std over folds, ddof = 1), then for each metric
        ``delta_<metric>``, ``delta_<metric>_std`` (of the per-fold paired differences) and,
        with ``confidence``, ``delta_<metric>_low`` and ``delta_<metric>_high``; then the
        ``averaged`` columns present.

    Raises
    ------
    ConfigError
        As :func:`paired_differences`, or if ``order`` does not give one sequence per key.
    """
    keys = list(keys)
    if order and len(order) != len(keys):
        raise ConfigError(f"order has {len(order)} sequences; expected one for each of {keys}")
    deltas = paired_differences(fold_table, reference=reference, metrics=metrics, keys=keys)
    delta_groups = dict(list(deltas.groupby(keys, sort=False)))
    delta_keys = [f"delta_{m}" for m in metrics]
    rows = []
    for name, group in fold_table.groupby(keys, sort=False):
        own = delta_groups[name]
        values = summarise_folds(group[list(metrics)].to_dict("records"), keys=list(metrics))
        differences = summarise_folds(own[delta_keys].to_dict("records"), keys=delta_keys)
        row = {**dict(zip(keys, name)), "folds": int(len(group))}
        for metric in metrics:
            row[metric] = values[metric]
            row[f"{metric}_std"] = values[f"{metric}_std"]
        for metric in metrics:
            row[f"delta_{metric}"] = differences[f"delta_{metric}"]
            row[f"delta_{metric}_std"] = differences[f"delta_{metric}_std"]
            if confidence is not None:
                row[f"delta_{metric}_low"], row[f"delta_{metric}_high"] = difference_interval(
                    own[f"delta_{metric}"], confidence=confidence)
        for column in averaged:
            if column in group.columns:
                row[column] = float(group[column].mean())
        rows.append(row)
    summary = pd.DataFrame(rows)
    ranks = [f"_rank_{k}" for k in range(len(order))]
    for rank, key, known in zip(ranks, keys, order):
        position = {value: k for k, value in enumerate(known)}
        summary[rank] = summary[key].map(position).fillna(len(position))
    if ranks:
        summary = summary.sort_values(ranks, kind="stable").drop(columns=ranks)
    return summary.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------

def _as_probabilities(probabilities, *, n_classes: int,
                      columns_name: str = "n_classes") -> np.ndarray:
    """Return ``probabilities`` as float64 [shape=(n, n_classes)] after checking it."""
    if not _is_numeric(probabilities):
        raise ConfigError(
            f"probabilities of type {type(probabilities).__name__} must be a numeric array"
        )
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n_classes:
        raise ConfigError(
            f"probabilities with shape {array.shape} must have shape (n, {columns_name}) = "
            f"(n, {n_classes})"
        )
    if array.shape[0] == 0:
        raise ConfigError("probabilities has no rows; expected at least one example")
    _check_unit_interval("probabilities", array)
    sums = array.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > SUM_TOLERANCE:
        raise ConfigError(
            f"probabilities row {worst} sums to {sums[worst]:.6g}; every row must sum to 1 "
            f"within {SUM_TOLERANCE} (pass softmax outputs, not logits)"
        )
    return array


def _as_labels(y_true, *, n_classes: int, n: int, n_name: str = "len(probabilities)"
               ) -> np.ndarray:
    """Return ``y_true`` as int64 [shape=(n,)] after checking shape, type and range."""
    if not _is_numeric(y_true):
        raise ConfigError(f"y_true of type {type(y_true).__name__} must be an integer array")
    array = np.asarray(y_true)
    if array.ndim != 1 or array.shape[0] != n:
        raise ConfigError(
            f"y_true with shape {array.shape} must have shape (n,) with n = {n_name} = {n} "
            "(integer labels, not one-hot)"
        )
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    elif array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            bad = float(array[~(np.isfinite(array) & (array == np.round(array)))][0])
            raise ConfigError(f"y_true holds {bad}; labels must be whole numbers")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        raise ConfigError(f"y_true has dtype {array.dtype}; labels must be integers")
    out_of_range = (array < 0) | (array >= n_classes)
    if np.any(out_of_range):
        raise ConfigError(
            f"y_true holds label {int(array[out_of_range][0])} at index "
            f"{int(np.argmax(out_of_range))}; labels must be in [0, {n_classes})"
        )
    return array.astype(np.int64)


def _check_unit_interval(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        bad = float(array[~np.isfinite(array)][0])
        raise ConfigError(f"{name} holds {bad}; values must be finite")
    if np.any(array < 0) or np.any(array > 1):
        bad = float(array[(array < 0) | (array > 1)][0])
        raise ConfigError(f"{name} holds {bad}; probabilities must lie in [0, 1]")


def _check_label_names(labels) -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ConfigError(f"labels={labels!r} must be a sequence of class names")
    names = [str(label) for label in labels]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"labels={labels!r} must hold at least two distinct class names")
    return names


def _check_n_classes(n_classes) -> None:
    check_int(n_classes, name="n_classes", minimum=2)


def _check_threshold(threshold) -> None:
    if not (isinstance(threshold, (int, float)) and 0 <= threshold < 1):
        raise ConfigError(f"threshold={threshold!r} must be a number in [0, 1)")


def _is_numeric(values) -> bool:
    try:
        return np.asarray(values).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


def _is_real(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _safe_ratio(numerator: int, denominator: int) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0


def _to_builtin(value):
    """Turn numpy scalars inside nested dicts/lists into Python numbers (for JSON)."""
    if isinstance(value, Mapping):
        return {str(key): _to_builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _check_fold_table(fold_table: pd.DataFrame, metrics: Sequence[str], keys: Sequence[str]
                      ) -> None:
    if not isinstance(fold_table, pd.DataFrame):
        raise ConfigError(f"fold_table is a {type(fold_table).__name__}; expected a DataFrame")
    required = ["fold", *keys, *metrics]
    missing = [c for c in required if c not in fold_table.columns]
    if missing:
        raise ConfigError(f"fold_table lacks column(s) {missing}; it has {list(fold_table.columns)}")
    duplicated = fold_table.duplicated(["fold", *keys])
    if duplicated.any():
        first = fold_table[duplicated].iloc[0]
        raise ConfigError(f"fold_table has fold {first['fold']} of "
                          f"{'/'.join(str(first[k]) for k in keys)} twice")
