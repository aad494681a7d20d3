"""Speaker gender classification: train the gender CNN on actor splits and summarise it.

The gender CNN (:func:`helpers.models.build_gender_cnn`) reads the same log-mel spectrograms as
the emotion model and outputs ``P(female)``: label 1 is ``"female"``, label 0 ``"male"``
(the order of ``config.GENDERS``). Every split used here is by actor, so no test speaker is
heard in training:

* :func:`train_gender_split` -- train (or load from the model cache) on one split's training
  actors, keep the epoch with the lowest validation loss, predict the test actors.
* :func:`run_gender_folds` -- the same over a list of splits (the report's single 12/6/6
  split, or k-fold over actors).
* :func:`fold_predictions`, :func:`out_of_fold_predictions`, :func:`per_actor_accuracy`,
  :func:`table3`, :func:`confusion` -- what the notebook reports: per-clip and per-actor
  results, and Table 3 beside the report's values.
* :func:`gender_sidecar` -- what a saved gender model needs beside it to be used on new audio.

Why it is over 500 lines: about half of it is docstrings, and every function serves the one
gender study of notebook 05, from training a split to the records of its metrics file; the
builder lives in :mod:`helpers.models` and the actor splits in :mod:`helpers.splits`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config, evaluation, experiments, models, recipes, splits, training
from helpers.errors import ProjectError

__all__ = [
    "GenderError",
    "LABELS",
    "POSITIVE_LABEL",
    "TABLE3_METRICS",
    "GenderFoldResult",
    "gender_labels",
    "train_gender_split",
    "run_gender_folds",
    "fold_predictions",
    "out_of_fold_predictions",
    "per_actor_accuracy",
    "table3",
    "confusion",
    "gender_sidecar",
]

#: Output order of the gender model: index 1 (the sigmoid's positive class) is female.
LABELS: tuple[str, ...] = config.GENDERS
POSITIVE_LABEL: str = "female"
#: Table 3's metrics, as returned by :func:`helpers.evaluation.binary_metrics`.
TABLE3_METRICS: tuple[str, ...] = ("loss", "accuracy", "auc", "precision", "recall", "f1")


class GenderError(ProjectError):
    """Gender labels, splits or results are not what the function accepts."""


@dataclasses.dataclass
class GenderFoldResult:
    """What training and testing on one actor split produced.

    Attributes
    ----------
    split : splits.Split
    metrics : dict
        :func:`helpers.evaluation.binary_metrics` on the test actors.
    history : dict of str to list of float
        Per-epoch training and validation metrics.
    test_items : pd.DataFrame
        The test rows of the item table (``clip_id``, ``actor``, ``gender``, ...), in the
        order of ``y_true`` and ``p_female``.
    y_true : np.ndarray [shape=(n_test,), dtype=int64]
        1 for female, 0 for male.
    p_female : np.ndarray [shape=(n_test,), dtype=float32]
        The model's output.
    best_epoch : int or None
        One-based epoch whose weights the model keeps (lowest validation loss); None without
        validation actors (the last epoch is kept).
    normalization : (float, float)
        Training-set mean and standard deviation of the log-mels, built into the model.
    cached : bool
        True when the model came from the cache.
    seconds : float
        Wall time of training (or loading) and predicting.
    """

    split: splits.Split
    metrics: dict
    history: dict
    test_items: pd.DataFrame
    y_true: np.ndarray
    p_female: np.ndarray
    best_epoch: int | None
    normalization: tuple[float, float]
    cached: bool
    seconds: float

    def summary(self) -> dict:
        """A JSON-ready record: split actors, metrics, epochs, best epoch, time."""
        return {
            "split": self.split.name,
            "fold": self.split.fold,
            "train_actors": _actor_list(self.split.train_actors),
            "validation_actors": _actor_list(self.split.validation_actors),
            "test_actors": _actor_list(self.split.test_actors),
            "n_train": int(self.split.train.size),
            "n_validation": int(self.split.validation.size),
            "n_test": int(self.split.test.size),
            "metrics": {key: self.metrics[key] for key in TABLE3_METRICS},
            "confusion": confusion(self.y_true, self.p_female),
            "epochs": len(self.history.get("loss", [])),
            "best_epoch": self.best_epoch,
            "normalization": _normalization_record(self.normalization),
            "cached": self.cached,
            "seconds": round(self.seconds, 2),
        }


def gender_labels(items: pd.DataFrame) -> np.ndarray:
    """Binary gender labels of an item table: 1 for female, 0 for male.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Table with a ``gender`` column holding ``"male"`` or ``"female"``.

    Returns
    -------
    np.ndarray [shape=(n_items,), dtype=int64]

    Raises
    ------
    GenderError
        If ``items`` is not a DataFrame, lacks ``gender``, or holds another value.
    """
    if not isinstance(items, pd.DataFrame) or "gender" not in items.columns:
        raise GenderError(
            f"items must be a DataFrame with a 'gender' column; got {type(items).__name__}"
            + (f" with columns {list(items.columns)}" if isinstance(items, pd.DataFrame) else "")
        )
    values = items["gender"].astype(str).str.lower()
    unknown = sorted(set(values) - set(LABELS))
    if unknown:
        raise GenderError(f"items['gender'] holds {unknown}; expected only {list(LABELS)}")
    return (values == POSITIVE_LABEL).to_numpy(dtype=np.int64)


def train_gender_split(x: np.ndarray, items: pd.DataFrame, split: splits.Split, *,
                       hyperparameters: Mapping, epochs: int, steps_per_epoch: int | None,
                       batch_size: int = 16, seed: int, data_key: str,
                       patience: int | None = None, min_delta: float = 0.0,
                       force: bool = False, cache_folder: str | Path | None = None,
                       builder: Callable = models.build_gender_cnn,
                       recipe: recipes.Recipe | None = None,
                       augmented: Sequence[np.ndarray] = (),
                       ) -> tuple[GenderFoldResult, object]:
    """Train the gender CNN on a split's training actors and test it on its test actors.

    Each epoch draws ``steps_per_epoch`` batches of ``batch_size`` clips from a seeded stream
    of shuffled passes over the training actors (the report: 15 epochs of 8 steps of 16). The
    validation actors are scored after every epoch and the weights of the epoch with the
    lowest validation loss are kept; with ``patience`` None training never stops early.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
        Log-mel spectrograms aligned with ``items``.
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table with ``gender``, ``actor`` and ``clip_id``.
    split : splits.Split
        An actor split of ``items`` (positional indices).
    hyperparameters : mapping
        Keyword arguments of ``builder`` (``filters``, ``dense_units``, ``dropout_rate``,
        ``learning_rate``, ...).
    epochs : int
        Epochs to train.
    steps_per_epoch : int or None
        Gradient steps per epoch; None for one pass over the training clips.
    batch_size : int
        Clips per step.
    seed : int
        Seeds the weights, the batch stream and dropout.
    data_key : str
        Identity of ``x`` (e.g. the feature cache key and variant); with the split, the
        settings and the seed it keys the model cache.
    patience : int or None
        Epochs without a validation-loss improvement of ``min_delta`` before stopping early;
        None: ``epochs`` (never stop early, still keep the best epoch).
    min_delta : float
        Smallest validation-loss decrease that counts as an improvement.
    force : bool
        Retrain even when a cached model exists.
    cache_folder : path-like or None
        Model cache folder; None for :func:`helpers.training.train_or_load`'s default.
    builder : callable
        Model builder (``build_gender_cnn``).
    recipe : helpers.recipes.Recipe, optional
        Train with this recipe (e.g. ``ours`` on functionals) instead of the original recipe
        built from the settings above, which are then ignored.
    augmented : sequence of np.ndarray
        The recipe's perturbed copies of ``x`` (:func:`helpers.experiments.recipe_features`).

    Returns
    -------
    result : GenderFoldResult
    model : keras.Model
        The trained (or cached) model.

    Raises
    ------
    GenderError
        If ``x`` and ``items`` disagree in length, ``x`` is not 3-D, the split indexes rows
        outside the table, or the training or test part is empty or holds one gender only.
    """
    x = np.asarray(x)
    if x.ndim != (3 if recipe is None or recipe.features == "log_mel" else 2):
        raise GenderError(f"x has shape {x.shape}; expected (n_items, n_mels, n_frames) log-mels, "
                          f"or (n_items, n_features) functionals for a functionals recipe")
    if len(x) != len(items):
        raise GenderError(f"x has {len(x)} rows but items has {len(items)}; expected equal")
    for column in ("actor", "clip_id"):
        if column not in items.columns:
            raise GenderError(f"items lacks column {column!r}; it has {list(items.columns)}")
    y = gender_labels(items)
    for part in splits.PARTS:
        indices = getattr(split, part)
        if indices.size and indices[-1] >= len(items):
            raise GenderError(
                f"split {split.name!r}: {part} index {int(indices[-1])} is outside the table of "
                f"{len(items)} rows"
            )
    for part in ("train", "test"):
        present = np.unique(y[getattr(split, part)])
        if present.size != 2:
            raise GenderError(
                f"split {split.name!r}: {part} part holds gender(s) "
                f"{[LABELS[v] for v in present]}; expected both {list(LABELS)}"
            )
    if recipe is None:
        recipe = recipes.original_gender().replace(
            builder=builder, hyperparameters=dict(hyperparameters), epochs=epochs,
            steps_per_epoch=steps_per_epoch, batch_size=batch_size,
            patience=-1 if patience is None else patience, min_delta=min_delta)
    trained = training.train_recipe(recipe, x, y, split, seed=seed, data_key=data_key,
                                    force=force, cache_folder=cache_folder, augmented=augmented)
    model, history, cached = trained.model, trained.history, trained.cached
    p_female = training.predict_recipe(model, recipe, x, split.test, augmented=augmented)[:, 0]
    seconds = trained.seconds
    normalization = trained.normalization
    metrics = evaluation.binary_metrics(y[split.test], p_female)
    result = GenderFoldResult(
        split=trained.split, metrics=metrics, history=history,
        test_items=items.iloc[split.test].reset_index(drop=True), y_true=y[split.test],
        p_female=p_female.astype(np.float32), best_epoch=trained.best_epoch,
        normalization=normalization, cached=cached, seconds=seconds,
    )
    return result, model


def run_gender_folds(x: np.ndarray, items: pd.DataFrame, split_list: Sequence[splits.Split], *,
                     progress: Callable[[str], None] | None = None, keep_models: bool = False,
                     **settings) -> tuple[list[GenderFoldResult], list]:
    """Run :func:`train_gender_split` on every split of a list.

    Parameters
    ----------
    x, items :
        As :func:`train_gender_split`.
    split_list : sequence of splits.Split
        E.g. ``[splits.gender_split(...)]`` or ``splits.speaker_folds(...)``.
    progress : callable, optional
        Called with a one-line status after each split.
    keep_models : bool
        Return every trained model; otherwise only the first split's (the others are
        released to save memory, and stay in the model cache).
    **settings
        Keyword arguments of :func:`train_gender_split`.

    Returns
    -------
    results : list of GenderFoldResult
    models : list of keras.Model
        Every model with ``keep_models``, else the first one only.

    Raises
    ------
    GenderError
        If ``split_list`` is empty, or as :func:`train_gender_split`.
    """
    split_list = list(split_list)
    if not split_list:
        raise GenderError("split_list is empty; expected at least one split")
    results, kept = [], []
    for split in split_list:
        result, model = train_gender_split(x, items, split, **settings)
        results.append(result)
        if keep_models or not kept:
            kept.append(model)
        if progress is not None:
            state = "cached" if result.cached else training.describe_fit(result.history)
            progress(f"{split.name:16s} test actors {_actor_list(split.test_actors)}: {state}, "
                     f"best epoch {result.best_epoch}, accuracy {result.metrics['accuracy']:.3f}, "
                     f"AUC {result.metrics['auc']:.3f} ({result.seconds:.1f} s)")
    return results, kept


def fold_predictions(result: GenderFoldResult, *, threshold: float = evaluation.THRESHOLD
                     ) -> pd.DataFrame:
    """One row per test clip of a split: who spoke, the truth and the prediction.

    Parameters
    ----------
    result : GenderFoldResult
    threshold : float
        Decision threshold in [0, 1); ``p_female`` strictly above it predicts female.

    Returns
    -------
    pd.DataFrame
        Columns ``clip_id, actor, fold, p_female, gender, predicted, correct``; ``fold`` is
        the split's zero-based fold number (-1 for a split that is not a fold).

    Raises
    ------
    GenderError
        If ``threshold`` is outside [0, 1).
    """
    _check_threshold(threshold)
    predicted = np.where(result.p_female > threshold, POSITIVE_LABEL, LABELS[0])
    return pd.DataFrame({
        "clip_id": result.test_items["clip_id"].to_numpy(),
        "actor": result.test_items["actor"].to_numpy(dtype=np.int64),
        "fold": -1 if result.split.fold is None else int(result.split.fold),
        "p_female": result.p_female.astype(np.float64),
        "gender": result.test_items["gender"].to_numpy(),
        "predicted": predicted,
        "correct": predicted == result.test_items["gender"].to_numpy(),
    })


def out_of_fold_predictions(results: Sequence[GenderFoldResult], *,
                            expected_clips: Sequence[str] | None = None) -> pd.DataFrame:
    """Every clip predicted by the fold model that did not train on (or validate with) its actor.

    Parameters
    ----------
    results : sequence of GenderFoldResult
        One per fold of a k-fold over actors.
    expected_clips : sequence of str, optional
        Clip ids that must each be predicted exactly once (e.g. every clip of the item table).

    Returns
    -------
    pd.DataFrame
        :func:`fold_predictions` of all folds, sorted by ``clip_id``.

    Raises
    ------
    GenderError
        If ``results`` is empty, a clip is predicted twice, a test actor of one fold was a
        training or validation actor of the same fold, or an expected clip is missing.
    """
    results = list(results)
    if not results:
        raise GenderError("results is empty; expected one GenderFoldResult per fold")
    for result in results:
        seen = set(result.split.train_actors or ()) | set(result.split.validation_actors or ())
        leaked = sorted(seen & set(result.split.test_actors or ()))
        if leaked or not result.split.actor_based:
            raise GenderError(
                f"split {result.split.name!r} is not a clean actor split (actors {leaked} on "
                "both sides); out-of-fold predictions need test actors unseen in training"
            )
    table = pd.concat([fold_predictions(result) for result in results], ignore_index=True)
    repeated = table["clip_id"][table["clip_id"].duplicated()].unique().tolist()
    if repeated:
        raise GenderError(
            f"clips {repeated[:5]} are predicted by more than one fold; each clip must be in "
            "exactly one test fold"
        )
    if expected_clips is not None:
        missing = sorted(set(expected_clips) - set(table["clip_id"]))
        if missing:
            raise GenderError(
                f"{len(missing)} clips have no out-of-fold prediction, e.g. {missing[:5]}; the "
                "folds must test every actor"
            )
    return table.sort_values("clip_id", kind="stable").reset_index(drop=True)


def kfold_record(results: Sequence[GenderFoldResult], oof_predictions: pd.DataFrame, *,
                 n_folds: int, seed: int, oof_file: str) -> dict:
    """The k-fold study of notebook 05 for its metrics file.

    Parameters
    ----------
    results : sequence of GenderFoldResult
        One per fold (each given as :meth:`GenderFoldResult.summary`).
    oof_predictions : pd.DataFrame
        :func:`out_of_fold_predictions` of ``results``: the pooled metrics and confusion
        matrix are computed from it.
    n_folds, seed : int
        The arguments of the ``splits.speaker_folds`` call that made the folds.
    oof_file : str
        The file name the predictions were written to.

    Returns
    -------
    dict
        ``n_folds``, ``folds``, ``pooled_metrics``, ``pooled_confusion``, ``oof_predictions``
        and ``fold_source``.
    """
    y_true = (oof_predictions["gender"] == POSITIVE_LABEL).to_numpy()
    p_female = oof_predictions["p_female"].to_numpy()
    return {
        "n_folds": n_folds,
        "folds": [result.summary() for result in results],
        "pooled_metrics": evaluation.binary_metrics(y_true, p_female),
        "pooled_confusion": confusion(y_true, p_female),
        "oof_predictions": oof_file,
        "fold_source": f"splits.speaker_folds(clean items, n_folds={n_folds}, seed={seed}); "
                       "fold = zero-based Split.fold",
    }


def per_actor_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of each test actor: errors cluster by speaker.

    Parameters
    ----------
    predictions : pd.DataFrame
        Rows from :func:`fold_predictions` (``actor``, ``gender``, ``fold``, ``p_female``,
        ``correct``).

    Returns
    -------
    pd.DataFrame
        One row per actor, sorted by actor: ``actor, gender, fold, n_clips, n_errors,
        accuracy, mean_p_female``.

    Raises
    ------
    GenderError
        If a column is missing or the table is empty.
    """
    _check_predictions(predictions, ("actor", "gender", "fold", "p_female", "correct"))
    grouped = predictions.groupby("actor", sort=True)
    table = pd.DataFrame({
        "gender": grouped["gender"].first(),
        "fold": grouped["fold"].first(),
        "n_clips": grouped.size(),
        "n_errors": grouped["correct"].apply(lambda c: int((~c.astype(bool)).sum())),
        "accuracy": grouped["correct"].mean(),
        "mean_p_female": grouped["p_female"].mean(),
    }).reset_index()
    return table


def speaker_adaptive_accuracy(predictions: pd.DataFrame) -> float:
    """Accuracy when each speaker gets one decision: the mean ``p_female`` of their clips.

    The gender models' speaker-adaptive mode (:func:`helpers.evaluation.pool_by_speaker`, as
    ``benchmarks.quality`` scores it): it needs several unlabelled clips of the speaker. Each
    clip counts once, so a speaker judged wrongly costs all of their clips.

    Raises
    ------
    GenderError
        If a column is missing or the table is empty.
    """
    _check_predictions(predictions, ("actor", "gender", "p_female"))
    pooled = evaluation.pool_by_speaker(predictions["p_female"].to_numpy(dtype=np.float64),
                                        predictions["actor"].to_numpy())
    truth = predictions["gender"].to_numpy() == POSITIVE_LABEL
    return float(np.mean((pooled > evaluation.THRESHOLD) == truth))


def _check_predictions(predictions, needed: Sequence[str]) -> None:
    """Raise :class:`GenderError` unless ``predictions`` is a non-empty table with ``needed``."""
    if not isinstance(predictions, pd.DataFrame) or predictions.empty:
        raise GenderError("predictions must be a non-empty DataFrame from fold_predictions()")
    missing = [column for column in needed if column not in predictions.columns]
    if missing:
        raise GenderError(f"predictions lacks column(s) {missing}; it has {list(predictions.columns)}")


def table3(original: GenderFoldResult, folds: Sequence[GenderFoldResult], *,
           published: Mapping[str, float] = evaluation.ORIGINAL_TABLE3,
           ours: Sequence[GenderFoldResult] = ()) -> pd.DataFrame:
    """Table 3: the report's split and the k-fold mean ± std, beside the report's values.

    Parameters
    ----------
    original : GenderFoldResult
        The result on the report's 12/6/6 actor split.
    folds : sequence of GenderFoldResult
        The k-fold results.
    published : mapping
        The report's Table 3 (``evaluation.ORIGINAL_TABLE3``).
    ours : sequence of GenderFoldResult
        The ``ours`` recipe's k-fold results on the same folds, for a third row.

    Returns
    -------
    pd.DataFrame
        Rows ``original-split`` and ``k-fold`` (recipe ``original``), and ``k-fold`` of recipe
        ``ours`` when given; columns ``recipe, split, folds, n_test``, the six metrics, their
        ``*_std`` (0 for the single split) and ``published_*``.

    Raises
    ------
    GenderError
        If ``folds`` is empty or ``published`` lacks a metric.
    """
    folds = list(folds)
    if not folds:
        raise GenderError("folds is empty; expected at least one k-fold result")
    missing = [key for key in TABLE3_METRICS if key not in published]
    if missing:
        raise GenderError(f"published lacks {missing}; expected keys {list(TABLE3_METRICS)}")
    rows = [
        {"recipe": "original", "split": "original-split", "folds": 1,
         "n_test": int(original.split.test.size),
         **{key: original.metrics[key] for key in TABLE3_METRICS},
         **{f"{key}_std": 0.0 for key in TABLE3_METRICS}},
        _kfold_row(folds, recipe="original"),
    ]
    if ours:
        rows.append(_kfold_row(list(ours), recipe="ours"))
    table = pd.DataFrame(rows)
    for key in TABLE3_METRICS:
        table[f"published_{key}"] = float(published[key])
    return table


def _kfold_row(folds: Sequence[GenderFoldResult], *, recipe: str) -> dict:
    summary = evaluation.summarise_folds([f.metrics for f in folds], keys=TABLE3_METRICS)
    return {"recipe": recipe, "split": "k-fold", "folds": len(folds),
            "n_test": int(sum(f.split.test.size for f in folds)),
            **{key: summary[key] for key in TABLE3_METRICS},
            **{f"{key}_std": summary[f"{key}_std"] for key in TABLE3_METRICS}}


def confusion(y_true: np.ndarray, p_female: np.ndarray, *,
              threshold: float = evaluation.THRESHOLD) -> list[list[int]]:
    """2 x 2 confusion counts, rows = true gender, columns = predicted, order ``LABELS``.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
        1 for female, 0 for male.
    p_female : np.ndarray [shape=(n,)]
        Predicted probability of female.
    threshold : float
        Decision threshold in [0, 1).

    Returns
    -------
    list of list of int [shape=(2, 2)]

    Raises
    ------
    GenderError
        If the lengths differ or ``threshold`` is outside [0, 1).
    """
    _check_threshold(threshold)
    truth = np.asarray(y_true).reshape(-1).astype(np.int64)
    predicted = (np.asarray(p_female, dtype=np.float64).reshape(-1) > threshold).astype(np.int64)
    if truth.shape != predicted.shape:
        raise GenderError(
            f"y_true has {truth.size} items but p_female has {predicted.size}; expected equal"
        )
    counts = np.zeros((2, 2), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts.tolist()


def gender_sidecar(result: GenderFoldResult, *, hyperparameters: Mapping,
                   feature_config: config.FeatureConfig, data_fingerprint: str,
                   training_settings: Mapping, extra: Mapping | None = None) -> dict:
    """The sidecar a saved gender model carries: how to feed it and what it says.

    Parameters
    ----------
    result : GenderFoldResult
        The split the model was trained on.
    hyperparameters : mapping
        Builder arguments.
    feature_config : config.FeatureConfig
        The log-mel front end the model expects.
    data_fingerprint : str
        Feature cache key of the training data.
    training_settings : mapping
        Epochs, steps per epoch, batch size, seed, ...
    extra : mapping, optional
        Anything else to record (profile, data source).

    Returns
    -------
    dict
        With ``task``, ``labels``, ``positive_label``, ``output``, ``threshold``,
        ``feature_config``, ``variant``, the split's actors, ``hyperparameters``,
        ``training``, ``data_fingerprint``, ``metrics``.
    """
    return {
        "task": "gender",
        "labels": list(LABELS),
        "positive_label": POSITIVE_LABEL,
        "output": "p_female: sigmoid probability that the speaker is female",
        "threshold": evaluation.THRESHOLD,
        "feature_config": feature_config.to_dict(),
        "variant": "clean",
        "split": result.split.name,
        "train_actors": _actor_list(result.split.train_actors),
        "validation_actors": _actor_list(result.split.validation_actors),
        "test_actors": _actor_list(result.split.test_actors),
        "hyperparameters": dict(hyperparameters),
        "training": {**dict(training_settings), "best_epoch": result.best_epoch,
                     "epochs_trained": len(result.history.get("loss", [])),
                     "normalization": _normalization_record(result.normalization)},
        "data_fingerprint": data_fingerprint,
        "metrics": {key: result.metrics[key] for key in TABLE3_METRICS},
        **dict(extra or {}),
    }


# ----------------------------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------------------------


def _normalization_record(normalization) -> list | str:
    """The input statistics for a JSON record: the scalar pair, or a note for per-feature ones."""
    if all(np.ndim(value) == 0 for value in normalization):
        return [float(value) for value in normalization]
    return f"per-feature mean and std over {np.size(normalization[0])} features (in the model)"


def _actor_list(actors) -> list[int] | None:
    return None if actors is None else [int(a) for a in actors]


def _check_threshold(threshold) -> None:
    if not (isinstance(threshold, (int, float)) and 0 <= threshold < 1):
        raise GenderError(f"threshold={threshold!r} must be a number in [0, 1)")
