"""Does the speaker's gender help ``ours``? Gender fusion and per-gender normalisation, paired.

:mod:`helpers.fusion` runs the study on the reconstruction's CNN, whose fold-to-fold spread
swamps any effect. This module runs it on ``ours`` (a logistic regression on ComParE
functionals of clean speech), on notebook 03's speaker-independent folds, with the ``ours``
gender recipe predicting each fold's test clips after training on that fold's training actors
only. Rows (model, gender source), all tested on the same clips of every fold:

* ``ours`` / ``none``: the recipe as it is, single clip (the reference of every difference).
* ``ours + gender`` / ``true``, ``predicted``, ``predicted-probability``: the gender appended to
  the functionals as one more input (1 female, 0 male), trained with the true gender of the
  training actors; at test the actor's gender (an upper bound), the gender classifier's label
  (``p_female > 0.5``: deployable) or ``p_female`` itself.
* ``ours, per-gender normalisation`` / ``true``, ``predicted``: every clip's functionals
  standardised with the mean and standard deviation of its gender's *training* clips (the
  training actors' own gender; at test the true or the predicted gender). It needs no audio of
  the test speaker beyond the clip: a middle ground between single-clip and per-speaker.
* ``ours, per-speaker normalisation`` / ``none``: every actor's functionals standardised over
  that actor's own clips (notebook 03's speaker-adaptive mode; it uses the test speaker's
  unlabelled clips, so it needs enrollment audio).

The perturbed copies (speeds) go through the same transformation as the clips they copy, so
training and test-time speed averaging see what the model sees.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from helpers import config, evaluation, experiments, features, functionals, fusion, recipes, splits
from helpers import training
from helpers.errors import ProjectError
from helpers.gender import gender_labels

__all__ = ["OursFusionError", "ROWS", "REFERENCE", "OursFusionResult", "per_gender_standardise",
           "run_ours_fusion", "summarise"]

#: (model, gender source) in table order.
ROWS: tuple[tuple[str, str], ...] = (
    ("ours", "none"),
    ("ours + gender", "true"),
    ("ours + gender", "predicted"),
    ("ours + gender", "predicted-probability"),
    ("ours, per-gender normalisation", "true"),
    ("ours, per-gender normalisation", "predicted"),
    ("ours, per-speaker normalisation", "none"),
)
#: The row every other row is compared with.
REFERENCE: tuple[str, str] = ("ours", "none")
#: The models of :data:`ROWS`, in table order (each model's sources follow
#: :data:`helpers.fusion.GENDER_SOURCES`).
MODELS: tuple[str, ...] = tuple(dict.fromkeys(model for model, _ in ROWS))


class OursFusionError(ProjectError):
    """The study's inputs do not fit together."""


@dataclasses.dataclass(frozen=True)
class OursFusionResult:
    """Per fold and row: the test metrics; per fold: the gender classifier's."""

    fold_table: pd.DataFrame
    gender_table: pd.DataFrame
    seconds: float

    def record(self, summary: pd.DataFrame, split_list: Sequence[splits.Split]) -> dict:
        """A JSON-ready record for notebook 07's metrics file: ``summary`` (the table of
        :func:`summarise`), the fold and gender tables, the time and the folds' names."""
        return {"summary": summary.to_dict("records"),
                "folds": self.fold_table.to_dict("records"),
                "gender_folds": self.gender_table.to_dict("records"),
                "seconds": round(self.seconds, 1),
                "splits": [split.name for split in split_list]}


def per_gender_standardise(x: np.ndarray, *, train_rows: np.ndarray, train_female: np.ndarray,
                           female: np.ndarray) -> np.ndarray:
    """Standardise every row with the statistics of its gender's training rows.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_features)]
    train_rows : np.ndarray [shape=(n_train,)]
        Positions of the training rows (their statistics are the only ones used).
    train_female : np.ndarray [shape=(n_train,), dtype=bool]
        The training rows' gender (True: female).
    female : np.ndarray [shape=(n_items,), dtype=bool]
        The gender each row is standardised as (its true or its predicted gender).

    Returns
    -------
    np.ndarray [shape=(n_items, n_features), dtype=float32]

    Raises
    ------
    OursFusionError
        If the shapes disagree or a gender has no training rows.
    """
    x = np.asarray(x, dtype=np.float64)
    train_rows = np.asarray(train_rows)
    train_female = np.asarray(train_female, dtype=bool)
    female = np.asarray(female, dtype=bool)
    if x.ndim != 2 or len(female) != len(x) or len(train_female) != len(train_rows):
        raise OursFusionError(f"x {x.shape}, female {female.shape}, train_rows "
                              f"{train_rows.shape}, train_female {train_female.shape}: expected "
                              f"(n, d), (n,) and two arrays of one length")
    out = np.empty_like(x)
    for flag, name in ((True, "female"), (False, "male")):
        rows = train_rows[train_female == flag]
        if rows.size == 0:
            raise OursFusionError(f"no {name} training rows: per-gender statistics need both")
        mean = x[rows].mean(axis=0)
        std = x[rows].std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)
        out[female == flag] = (x[female == flag] - mean) / std
    return out.astype(np.float32)


def _with_gender(x: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(x, dtype=np.float32),
                           np.asarray(value, dtype=np.float32)[:, np.newaxis]], axis=1)


def run_ours_fusion(x: np.ndarray, items: pd.DataFrame, *, recipe: recipes.Recipe,
                    gender_x: np.ndarray, gender_recipe: recipes.Recipe,
                    split_list: Sequence[splits.Split], profile: config.Profile, seed: int,
                    data_key: str, gender_data_key: str, augmented: Sequence[np.ndarray] = (),
                    gender_augmented: Sequence[np.ndarray] = (), force: bool = False,
                    cache_folder=None,
                    progress: Callable[[str], None] | None = None) -> OursFusionResult:
    """Every row of :data:`ROWS` on every fold (models from the cache where trained before).

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_features)]
        ``recipe``'s functionals of the items (clean speech).
    items : pd.DataFrame
        Aligned with ``x``: ``actor``, ``gender``, ``emotion_code``.
    recipe, gender_recipe : helpers.recipes.Recipe
        ``ours`` emotion and gender, filled for the profile.
    gender_x : np.ndarray [shape=(n_items, n_gender_features)]
        ``gender_recipe``'s functionals of the same items.
    split_list : sequence of Split
        Notebook 03's speaker-independent folds.
    data_key, gender_data_key : str
        Identities of ``x`` and ``gender_x`` for the model cache.
    augmented, gender_augmented : sequence of np.ndarray
        The recipes' perturbed copies.

    Returns
    -------
    OursFusionResult

    Raises
    ------
    OursFusionError
        If the arrays do not align with ``items``.
    """
    for name, array in (("x", x), ("gender_x", gender_x)):
        if len(array) != len(items):
            raise OursFusionError(f"{name} has {len(array)} rows but items has {len(items)}")
    started = time.perf_counter()
    y = experiments.emotion_labels(items)
    female = gender_labels(items).astype(bool)
    speaker = [functionals.apply_mode(a, items, mode="speaker-adaptive") for a in (x, *augmented)]
    with_true = [_with_gender(a, female) for a in (x, *augmented)]
    rows, gender_rows = [], []
    common = dict(profile=profile, seed=seed, force=force, cache_folder=cache_folder)
    for index, split in enumerate(split_list):
        test = split.test
        # The gender classifier of this fold: trained on its training actors only (and its
        # validation actors, which an EM or L-BFGS fit reads as training data), never its test ones.
        gender = training.train_recipe(gender_recipe, gender_x, female.astype(np.int64), split,
                                       seed=seed, data_key=gender_data_key, force=force,
                                       cache_folder=cache_folder, augmented=gender_augmented)
        p_female = training.predict_recipe(gender.model, gender_recipe, gender_x, test,
                                           augmented=gender_augmented)[:, 0].astype(np.float64)
        predicted = p_female > evaluation.THRESHOLD
        gender_rows.append({"fold": index + 1, "split": split.name, "n_test": int(test.size),
                            "n_wrong": int(np.sum(predicted != female[test])),
                            "accuracy": float(np.mean(predicted == female[test])),
                            "from_cache": bool(gender.cached)})
        probabilities = {}
        plain, _ = experiments.train_split(x, y, split, data_key=data_key, recipe=recipe,
                                           augmented=list(augmented), **common)
        probabilities["ours", "none"] = plain.probabilities

        fused, model = experiments.train_split(with_true[0], y, split,
                                               data_key=features.data_key(data_key, "with-gender"),
                                               recipe=recipe, augmented=with_true[1:], **common)
        probabilities["ours + gender", "true"] = fused.probabilities
        for source, value in (("predicted", predicted), ("predicted-probability", p_female)):
            given = female.astype(np.float64)
            given[test] = value
            copies = [_with_gender(a, given) for a in (x, *augmented)]
            probabilities["ours + gender", source] = training.predict_recipe(
                model, recipe, copies[0], test, augmented=copies[1:])

        assigned = {"true": female, "predicted": female.copy()}
        assigned["predicted"][test] = predicted
        # Each gender's statistics from the rows the emotion model is fitted on.
        fitted = training.fitted_split(recipe, split)
        normalised = {source: [per_gender_standardise(a, train_rows=fitted.train,
                                                      train_female=female[fitted.train],
                                                      female=flags) for a in (x, *augmented)]
                      for source, flags in assigned.items()}
        by_gender, model = experiments.train_split(
            normalised["true"][0], y, split, data_key=features.data_key(data_key, "per-gender"),
            recipe=recipe, augmented=normalised["true"][1:], **common)
        probabilities["ours, per-gender normalisation", "true"] = by_gender.probabilities
        probabilities["ours, per-gender normalisation", "predicted"] = training.predict_recipe(
            model, recipe, normalised["predicted"][0], test, augmented=normalised["predicted"][1:])

        adaptive, _ = experiments.train_split(speaker[0], y, split,
                                              data_key=features.data_key(data_key, "speaker-adaptive"),
                                              recipe=recipe, augmented=speaker[1:], **common)
        probabilities["ours, per-speaker normalisation", "none"] = adaptive.probabilities

        for (model_name, source), value in probabilities.items():
            metrics = experiments.evaluate_emotion(y[test], value)
            rows.append({"fold": index + 1, "split": split.name, "model": model_name,
                         "gender_source": source, "n_test": int(test.size),
                         "accuracy": float(metrics["accuracy"]), "uar": float(metrics["uar"]),
                         "macro_f1": float(metrics["macro_f1"]),
                         "gender_accuracy": {"none": np.nan, "true": 1.0}.get(
                             source, gender_rows[-1]["accuracy"])})
        if progress is not None:
            by = {(r["model"], r["gender_source"]): r["uar"] for r in rows[-len(ROWS):]}
            progress(f"{split.name}: gender accuracy {gender_rows[-1]['accuracy']:.3f}; UAR ours "
                     f"{by[REFERENCE]:.3f}, + predicted gender "
                     f"{by['ours + gender', 'predicted']:.3f}, per-gender normalisation "
                     f"(predicted) {by['ours, per-gender normalisation', 'predicted']:.3f}, "
                     f"per-speaker {by['ours, per-speaker normalisation', 'none']:.3f}")
    return OursFusionResult(fold_table=pd.DataFrame(rows), gender_table=pd.DataFrame(gender_rows),
                            seconds=time.perf_counter() - started)


def summarise(fold_table: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Mean ± std per row, and the paired difference to ``ours`` with its Student-t interval.

    Returns
    -------
    pd.DataFrame
        One row per (model, gender source) in :data:`ROWS` order: ``folds``, ``uar``,
        ``uar_std``, ``macro_f1``, ``macro_f1_std``, ``delta_uar``, ``delta_uar_std``,
        ``delta_uar_low``, ``delta_uar_high`` (the interval), the same for macro-F1, and
        ``gender_accuracy``.
    """
    return evaluation.summarise_paired(fold_table, reference=REFERENCE, metrics=fusion.METRICS,
                                       order=(MODELS, fusion.GENDER_SOURCES),
                                       averaged=("gender_accuracy",), confidence=confidence)
