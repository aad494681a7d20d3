"""Give the emotion classifier the speaker's gender, and measure whether it helps.

The original report proposed (section 3.3), and never built, a fusion: the gender classifier's
prediction as metadata for the emotion classifier. This module builds it and an alternative,
and compares both with the plain emotion CNN on identical speaker-independent folds:

* ``plain``: the emotion CNN of notebook 03 (no gender; gender source ``none``).
* ``fusion``: :func:`helpers.models.build_emotion_fusion_cnn`, the spectrogram branch joined
  with a small gender embedding. It is trained with the *true* gender of the training actors
  and tested with three gender sources: ``true`` (an upper bound: a perfect gender
  classifier), ``predicted`` (the gender classifier's label, ``p_female > 0.5``: the honest,
  deployable result) and ``predicted-probability`` (``p_female`` itself).
* ``per-gender``: two emotion CNNs, one trained on the female and one on the male training
  actors; a test clip goes to the model of its gender (``true``), of its predicted gender
  (``predicted``) or to both, weighted by ``p_female`` (``predicted-probability``).

The gender classifier that predicts a fold's test clips is the report's gender CNN trained,
for that fold, on the fold's training actors only (its validation actors keep the best
epoch), so it never hears a test actor. It predicts each test item from the same spectrogram
the emotion model sees (a noisy copy in the aggregation variant), as a deployed system would.

Results are per fold; :func:`summarise_fusion` turns them into mean ± std and paired
differences to the plain model on the same fold (same actors, same seed).

Why it is over 500 lines: it is one study whose steps read each other's result types (the
gender classifier of a fold, the fusion run, its summary, description and saved model), and
about 40 % of it is docstrings; the splits and paired statistics it uses live in
:mod:`helpers.splits` and :mod:`helpers.evaluation`, the study on ``ours`` in
:mod:`helpers.fusion_ours`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import (config, evaluation, experiments, features, model_files, models, recipes,
                     splits, training)
from helpers.errors import ProjectError
from helpers.gender import gender_labels, train_gender_split

__all__ = [
    "FusionError",
    "MODELS",
    "GENDER_SOURCES",
    "REFERENCE",
    "METRICS",
    "GenderFold",
    "FusionFold",
    "FusionResult",
    "predict_gender_for_fold",
    "run_fusion",
    "summarise_fusion",
    "describe_fusion",
    "save_fusion_model",
]

#: The models compared, in table order.
MODELS: tuple[str, ...] = ("plain", "fusion", "per-gender")
#: Where the gender a model is given comes from, in table order.
GENDER_SOURCES: tuple[str, ...] = ("none", "true", "predicted", "predicted-probability")
#: The row every other row is compared with.
REFERENCE: tuple[str, str] = ("plain", "none")
#: The metrics summarised and differenced.
METRICS: tuple[str, ...] = ("uar", "macro_f1")

#: Below this share of changed predictions when the gender input is flipped, the conclusion
#: says that the fusion model makes little use of gender.
LITTLE_USE = 0.05


class FusionError(ProjectError):
    """Fusion inputs are inconsistent: arrays and tables of other lengths, leaking splits."""


# ----------------------------------------------------------------------------------------------
# Results containers
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class GenderFold:
    """The gender classifier of one fold and its predictions for the fold's test items.

    Attributes
    ----------
    split_name : str
        The emotion fold, e.g. ``"speaker-fold-1"``.
    trained_on_actors : tuple of int
        Every actor whose audio the gender model saw (training and validation actors).
    test_actors : tuple of int
        The fold's test actors; disjoint from ``trained_on_actors``.
    p_female : np.ndarray [shape=(n_test,)]
        Predicted probability of female for each test item, in the emotion split's order.
    y_true : np.ndarray [shape=(n_test,)]
        True gender (1 = female, 0 = male).
    metrics : dict
        :func:`helpers.evaluation.binary_metrics` on the test items.
    history : dict
    cached : bool
    """

    split_name: str
    trained_on_actors: tuple[int, ...]
    test_actors: tuple[int, ...]
    p_female: np.ndarray
    y_true: np.ndarray
    metrics: dict
    history: dict
    cached: bool

    @property
    def predicted(self) -> np.ndarray:
        """Predicted labels (1 = female), ``p_female > 0.5``."""
        return (self.p_female > evaluation.THRESHOLD).astype(np.float32)


@dataclasses.dataclass
class FusionFold:
    """Every model × gender source evaluated on one fold's test items.

    Attributes
    ----------
    split : splits.Split
    gender : GenderFold
    y_true : np.ndarray [shape=(n_test,)]
        Emotion labels of the test items.
    probabilities : dict of (str, str) to np.ndarray [shape=(n_test, 8)]
        Emotion probabilities keyed by ``(model, gender_source)``.
    metrics : dict of (str, str) to dict
        :func:`helpers.experiments.evaluate_emotion` of each entry of ``probabilities``.
    flip_changed : float
        Share of test items whose predicted emotion changes when the fusion model is given the
        opposite of the true gender: how much the model uses its gender input at all.
    flip_shift : float
        Mean total-variation distance between the fusion model's probabilities with the true
        and with the opposite gender (0: gender ignored; 1: completely different outputs).
    """

    split: splits.Split
    gender: GenderFold
    y_true: np.ndarray
    probabilities: dict
    metrics: dict
    flip_changed: float = float("nan")
    flip_shift: float = float("nan")


@dataclasses.dataclass
class FusionResult:
    """The folds of one fusion experiment and what was trained.

    Attributes
    ----------
    variant : str
        The dataset variant the emotion models used.
    gender_variant : str
        The variant the gender classifiers were trained on.
    folds : list of FusionFold
    hyperparameters : dict
        Emotion CNN hyperparameters (shared by every emotion model).
    gender_hyperparameters : dict
    fusion_model : keras.Model
        The first fold's fusion model.
    fusion_history : dict
        The first fold's fusion training history.
    """

    variant: str
    gender_variant: str
    folds: list
    hyperparameters: dict
    gender_hyperparameters: dict
    fusion_model: object
    fusion_history: dict

    def fold_table(self) -> pd.DataFrame:
        """One row per fold × model × gender source.

        Returns
        -------
        pd.DataFrame
            Columns ``fold, split, model, gender_source, n_test, accuracy, uar, macro_f1,
            gender_accuracy`` (the share of test items whose gender input was right; NaN for
            ``none``).
        """
        rows = []
        for index, fold in enumerate(self.folds):
            correct = float(np.mean(fold.gender.predicted == fold.gender.y_true))
            for (model, source), metrics in fold.metrics.items():
                rows.append({
                    "fold": index + 1, "split": fold.split.name, "model": model,
                    "gender_source": source, "n_test": int(len(fold.y_true)),
                    "accuracy": metrics["accuracy"], "uar": metrics["uar"],
                    "macro_f1": metrics["macro_f1"],
                    "gender_accuracy": {"none": np.nan, "true": 1.0}.get(source, correct),
                })
        return pd.DataFrame(rows)

    def gender_table(self) -> pd.DataFrame:
        """The gender classifier of each fold: its actors and its metrics on the test items.

        Returns
        -------
        pd.DataFrame
            Columns ``fold, split, test_actors, trained_on_actors`` (space-separated actor
            numbers), ``n_test, n_wrong, accuracy, auc, f1, epochs``, and the fusion model's
            ``fusion_flip_changed`` and ``fusion_flip_shift`` (see :class:`FusionFold`).
        """
        rows = []
        for index, fold in enumerate(self.folds):
            gender = fold.gender
            rows.append({
                "fold": index + 1, "split": gender.split_name,
                "test_actors": " ".join(map(str, gender.test_actors)),
                "trained_on_actors": " ".join(map(str, gender.trained_on_actors)),
                "n_test": int(len(gender.y_true)),
                "n_wrong": int(np.sum(gender.predicted != gender.y_true)),
                **{key: gender.metrics[key] for key in ("accuracy", "auc", "f1")},
                "epochs": len(gender.history.get("loss", [])),
                "from_cache": bool(gender.cached),
                "fusion_flip_changed": fold.flip_changed,
                "fusion_flip_shift": fold.flip_shift,
            })
        return pd.DataFrame(rows)

    def error_cost(self) -> dict:
        """What the gender classifier's mistakes cost the fusion model.

        Returns
        -------
        dict
            ``gender_accuracy`` and ``gender_accuracy_std`` over folds; ``n_test`` and
            ``n_wrong`` (test items whose predicted gender was wrong, all folds);
            ``uar_cost``, ``macro_f1_cost`` with ``*_std``: the paired per-fold difference
            fusion(true gender) − fusion(predicted gender); ``accuracy_on_wrong_true`` and
            ``accuracy_on_wrong_predicted``: the fusion model's emotion accuracy on the
            wrongly gendered items when given the true and the predicted gender (NaN when
            there are none); ``flip_changed`` and ``flip_shift``: the fusion model's
            sensitivity to its gender input (see :class:`FusionFold`), over all test items.
        """
        table = self.fold_table()
        fusion = table[table["model"] == "fusion"].pivot(index="fold", columns="gender_source")
        accuracy = [float(np.mean(f.gender.predicted == f.gender.y_true)) for f in self.folds]
        summary = evaluation.summarise_folds([{"gender_accuracy": a} for a in accuracy])
        cost = {"gender_accuracy": summary["gender_accuracy"],
                "gender_accuracy_std": summary["gender_accuracy_std"],
                "n_test": int(sum(len(f.y_true) for f in self.folds)),
                "n_wrong": int(sum(np.sum(f.gender.predicted != f.gender.y_true)
                                   for f in self.folds))}
        for metric in METRICS:
            per_fold = (fusion[metric]["true"] - fusion[metric]["predicted"]).to_numpy()
            values = evaluation.summarise_folds([{"cost": float(v)} for v in per_fold])
            cost[f"{metric}_cost"] = values["cost"]
            cost[f"{metric}_cost_std"] = values["cost_std"]
        for source in ("true", "predicted"):
            hits, total = 0, 0
            for fold in self.folds:
                wrong = fold.gender.predicted != fold.gender.y_true
                predicted = fold.probabilities["fusion", source].argmax(axis=1)
                hits += int(np.sum(predicted[wrong] == fold.y_true[wrong]))
                total += int(np.sum(wrong))
            cost[f"accuracy_on_wrong_{source}"] = hits / total if total else float("nan")
        sizes = np.array([len(f.y_true) for f in self.folds], dtype=np.float64)
        for key in ("flip_changed", "flip_shift"):
            values = np.array([getattr(f, key) for f in self.folds], dtype=np.float64)
            cost[key] = float(np.sum(values * sizes) / np.sum(sizes))
        return cost


# ----------------------------------------------------------------------------------------------
# The gender classifier of one fold
# ----------------------------------------------------------------------------------------------


def predict_gender_for_fold(x_gender: np.ndarray, gender_items: pd.DataFrame,
                            x_test: np.ndarray, test_items: pd.DataFrame, split: splits.Split, *,
                            profile: config.Profile, seed: int, data_key: str,
                            recipe: recipes.Recipe | None = None, force: bool = False,
                            cache_folder: str | Path | None = None) -> GenderFold:
    """Train the gender CNN on a fold's training actors and predict its test items.

    Parameters
    ----------
    x_gender : np.ndarray [shape=(n_gender_items, n_mels, n_frames)]
        Log-mels the gender classifier trains on (any variant).
    gender_items : pd.DataFrame [shape=(n_gender_items, ...)]
        Their item table (``actor``, ``gender``).
    x_test : np.ndarray [shape=(n_test, n_mels, n_frames)]
        The emotion fold's test items, in ``split.test`` order.
    test_items : pd.DataFrame [shape=(n_test, ...)]
        Their item table.
    split : splits.Split
        The emotion fold (actor-based); its actors decide who trains the gender model.
    profile : config.Profile
        Fills the default recipe's epochs and steps (``gender_epochs``,
        ``gender_steps_per_epoch``).
    seed : int
    data_key : str
        Identity of ``x_gender`` (feature cache key and variant) for the model cache.
    recipe : helpers.recipes.Recipe, optional
        The gender recipe; default notebook 05's, ``recipes.original_gender()`` filled for
        ``profile``. With the same recipe, data key and folds, notebook 05's cached models are
        loaded instead of trained again.
    force : bool
        Retrain even when cached.
    cache_folder : path-like, optional
        Model cache folder (default ``config.MODELS_DIR / "cache"``).

    Returns
    -------
    GenderFold

    Raises
    ------
    FusionError
        If the arrays and tables disagree in length, a test actor would be in the gender
        model's training or validation data, or a training part is empty.
    helpers.splits.SplitError
        If ``split`` is not actor-based (:func:`helpers.splits.gender_split_for_fold`).
    """
    recipe = recipe or recipes.original_gender().for_profile(profile)
    if len(x_gender) != len(gender_items) or len(x_test) != len(test_items):
        raise FusionError(f"x_gender ({len(x_gender)}) / x_test ({len(x_test)}) must match "
                          f"gender_items ({len(gender_items)}) / test_items ({len(test_items)})")
    gender_split = splits.gender_split_for_fold(gender_items, split)
    seen = np.concatenate([gender_split.train, gender_split.validation])
    trained_on = tuple(sorted(int(a) for a in gender_items["actor"].iloc[seen].unique()))
    leaked = sorted(set(trained_on) & set(int(a) for a in test_items["actor"]))
    if leaked:
        raise FusionError(f"split {split.name!r}: test actors {leaked} are in the gender "
                          "classifier's training or validation data")
    if gender_split.train.size == 0:
        raise FusionError(f"split {split.name!r} selects no training items of gender_items")
    # One training routine for every gender model in the project (notebook 05's); the fold's
    # test actors are its test part, so they are never trained or validated on.
    fold_result, model = train_gender_split(
        x_gender, gender_items, gender_split, hyperparameters=recipe.params, epochs=recipe.epochs,
        steps_per_epoch=recipe.steps_per_epoch, seed=seed, data_key=data_key, recipe=recipe,
        force=force, cache_folder=cache_folder)
    p_female = training.predict_proba(model, training.add_channel_axis(x_test))[:, 0]
    y_test = gender_labels(test_items).astype(np.float32)
    return GenderFold(split_name=split.name, trained_on_actors=trained_on,
                      test_actors=tuple(sorted(int(a) for a in test_items["actor"].unique())),
                      p_female=p_female.astype(np.float64), y_true=y_test,
                      metrics=evaluation.binary_metrics(y_test.astype(np.int64), p_female),
                      history=fold_result.history, cached=fold_result.cached)


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------


def run_fusion(x: np.ndarray, items: pd.DataFrame, *, variant: str, plain: experiments.ProtocolResult,
               profile: config.Profile, hyperparameters: dict, seed: int, data_key: str,
               x_gender: np.ndarray | None = None, gender_items: pd.DataFrame | None = None,
               gender_variant: str | None = None, gender_recipe: recipes.Recipe | None = None,
               force: bool = False, cache_folder: str | Path | None = None,
               progress: Callable[[str], None] | None = None, jobs: int | None = None) -> FusionResult:
    """Train the fusion and per-gender models on the plain model's folds and evaluate them all.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
        Log-mels of the emotion variant.
    items : pd.DataFrame [shape=(n_items, ...)]
        Its item table (``actor``, ``gender``, ``emotion_code``).
    variant : str
        The variant's name (part of the model cache key, as in notebook 03).
    plain : experiments.ProtocolResult
        The plain emotion model on the speaker-independent folds of ``x``
        (:func:`helpers.experiments.run_protocol`); its folds are the folds used here.
    profile : config.Profile
    hyperparameters : dict
        Emotion CNN hyperparameters (the plain model's; shared by the fusion and per-gender
        models so that only the gender input differs).
    seed : int
    data_key : str
        The feature cache key (the variant is appended, as ``run_protocol`` does).
    x_gender, gender_items : optional
        Data the gender classifiers train on; default ``x`` and ``items``.
    gender_variant : str, optional
        Name of the gender data's variant; default ``variant``.
    gender_recipe : helpers.recipes.Recipe, optional
        The gender classifiers' recipe; default notebook 05's (see
        :func:`predict_gender_for_fold`).
    force : bool
        Retrain even when cached.
    cache_folder : path-like, optional
        Model cache folder for the new models.
    progress : callable, optional
        Called with a status line after each fold.
    jobs : int, optional
        Train up to this many of the fusion and per-gender CNNs at once in worker processes
        first (:mod:`helpers.parallel`; the same numbers). Default :func:`helpers.config.jobs`.

    Returns
    -------
    FusionResult

    Raises
    ------
    FusionError
        If ``plain`` is not a speaker-independent result on the same table.
    """
    if len(x) != len(items):
        raise FusionError(f"x has {len(x)} rows but items has {len(items)}")
    if plain.protocol != "speaker-independent" or plain.variant != variant:
        raise FusionError(f"plain is {plain.variant}/{plain.protocol}; expected "
                          f"{variant}/speaker-independent")
    if x_gender is None:
        x_gender, gender_items, gender_variant = x, items, variant
    elif gender_items is None or gender_variant is None:
        raise FusionError("x_gender needs gender_items and gender_variant")
    y = experiments.emotion_labels(items)
    true_gender = gender_labels(items).astype(np.float32)
    gender_recipe = gender_recipe or recipes.original_gender().for_profile(profile)
    emotion_key = features.data_key(data_key, variant)
    common = dict(hyperparameters=hyperparameters, profile=profile, seed=seed,
                  data_key=emotion_key, force=force, cache_folder=cache_folder)
    fusion_input = {"builder": models.build_emotion_fusion_cnn,
                    "extra_inputs": {"gender": true_gender[:, np.newaxis]}}
    for plain_fold in plain.folds:
        if not plain_fold.split.actor_based or plain_fold.split.test.max(initial=-1) >= len(items):
            raise FusionError(f"plain fold {plain_fold.split.name!r} does not index this item table")
    jobs = config.jobs() if jobs is None else jobs
    if jobs > 1:
        from helpers import parallel

        # Every CNN below, trained side by side into the cache first; the loop then loads them.
        calls = []
        for plain_fold in plain.folds:
            calls.append({"y": y, "split": plain_fold.split, **fusion_input, **common})
            calls.extend({"y": y, "split": splits.split_by_gender(items, plain_fold.split, gender=name),
                          **common} for name in config.GENDERS)
        trained_in_workers = sum(not r["cached"] for r in parallel.train_splits(x, calls, jobs=jobs))
        common["force"] = False
    folds, fusion_model, fusion_history = [], None, None
    for plain_fold in plain.folds:
        split = plain_fold.split
        test_items = items.iloc[split.test]
        gender = predict_gender_for_fold(
            x_gender, gender_items, x[split.test], test_items, split, profile=profile, seed=seed,
            data_key=features.data_key(data_key, gender_variant), recipe=gender_recipe,
            force=force, cache_folder=cache_folder)
        probabilities = {("plain", "none"): plain_fold.probabilities}

        fused, model = experiments.train_split(x, y, split, **fusion_input, **common)
        spectrogram = training.add_channel_axis(x[split.test])
        probabilities["fusion", "true"] = fused.probabilities
        for source, value in (("predicted", gender.predicted),
                              ("predicted-probability", gender.p_female)):
            probabilities["fusion", source] = training.predict_proba(model, {
                "log_mel": spectrogram, "gender": value.astype(np.float32)[:, np.newaxis]})
        # How much does the model use its gender input at all? Give it the opposite gender.
        flipped = training.predict_proba(model, {
            "log_mel": spectrogram, "gender": (1.0 - gender.y_true).astype(np.float32)[:, np.newaxis]})
        flip_changed = float(np.mean(flipped.argmax(axis=1) != fused.probabilities.argmax(axis=1)))
        flip_shift = float(np.mean(0.5 * np.abs(flipped - fused.probabilities).sum(axis=1)))
        if fusion_model is None:
            fusion_model, fusion_history = model, fused.history

        by_gender = {}
        for name in config.GENDERS:
            result, _ = experiments.train_split(
                x, y, splits.split_by_gender(items, split, gender=name), **common)
            by_gender[name] = result.probabilities
        for source, weight in (("true", gender.y_true), ("predicted", gender.predicted),
                               ("predicted-probability", gender.p_female)):
            weight = np.asarray(weight, dtype=np.float64)[:, np.newaxis]
            probabilities["per-gender", source] = (
                weight * by_gender["female"] + (1.0 - weight) * by_gender["male"])

        metrics = {key: experiments.evaluate_emotion(y[split.test], value)
                   for key, value in probabilities.items()}
        folds.append(FusionFold(split=split, gender=gender, y_true=y[split.test],
                                probabilities=probabilities, metrics=metrics,
                                flip_changed=flip_changed, flip_shift=flip_shift))
        if progress is not None:
            progress(f"{split.name}: gender accuracy {gender.metrics['accuracy']:.3f}; UAR plain "
                     f"{metrics['plain', 'none']['uar']:.3f}, fusion (predicted gender) "
                     f"{metrics['fusion', 'predicted']['uar']:.3f}, fusion (true gender) "
                     f"{metrics['fusion', 'true']['uar']:.3f}, per-gender (predicted) "
                     f"{metrics['per-gender', 'predicted']['uar']:.3f}")
    if jobs > 1:
        training.count_as_trained(trained_in_workers)
    return FusionResult(variant=variant, gender_variant=gender_variant, folds=folds,
                        hyperparameters=dict(hyperparameters),
                        gender_hyperparameters=dict(gender_recipe.params),
                        fusion_model=fusion_model, fusion_history=fusion_history)


# ----------------------------------------------------------------------------------------------
# Paired comparison
# ----------------------------------------------------------------------------------------------


def summarise_fusion(fold_table: pd.DataFrame, *, reference: tuple[str, str] = REFERENCE,
                     metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean ± std over folds and the paired difference to the reference, per model × source.

    :func:`helpers.evaluation.summarise_paired` with this study's reference, row order
    (``MODELS`` × ``GENDER_SOURCES``, unknown ones last) and ``gender_accuracy`` column.

    Parameters
    ----------
    fold_table : pd.DataFrame
        As :func:`helpers.evaluation.paired_differences` takes; a ``gender_accuracy`` column
        is averaged too.
    reference : (str, str)
    metrics : sequence of str

    Returns
    -------
    pd.DataFrame
        One row per model × gender source (known models and sources first, in
        ``MODELS`` × ``GENDER_SOURCES`` order): ``model, gender_source, folds``, then for each
        metric ``<metric>``, ``<metric>_std`` (sample std over folds, ddof = 1),
        ``delta_<metric>``, ``delta_<metric>_std`` (of the per-fold paired differences), and
        ``gender_accuracy`` when present.

    Raises
    ------
    helpers.errors.ConfigError
        As :func:`helpers.evaluation.paired_differences`.
    """
    return evaluation.summarise_paired(fold_table, reference=reference, metrics=metrics,
                                       order=(MODELS, GENDER_SOURCES),
                                       averaged=("gender_accuracy",))


def describe_fusion(fold_table: pd.DataFrame, cost: dict, *, confidence: float = 0.95) -> str:
    """The conclusion in words, with every number taken from the results.

    Parameters
    ----------
    fold_table : pd.DataFrame
        As :meth:`FusionResult.fold_table` returns.
    cost : dict
        As :meth:`FusionResult.error_cost` returns.
    confidence : float
        Level of the intervals quoted for the mean paired differences.

    Returns
    -------
    str
        Markdown: one paragraph per comparison (fusion with predicted gender, fusion with
        true gender, per-gender models with predicted gender) and one on the gender errors.
    """
    deltas = evaluation.paired_differences(fold_table, reference=REFERENCE)
    n_folds = int(deltas["fold"].nunique())
    level = f"{round(100 * confidence)} %"

    def effect(model: str, source: str, metric: str) -> tuple[str, str]:
        values = deltas[(deltas["model"] == model) & (deltas["gender_source"] == source)]
        values = values[f"delta_{metric}"].to_numpy()
        low, high = evaluation.difference_interval(values, confidence=confidence)
        std = values.std(ddof=1) if values.size > 1 else 0.0
        text = f"{_signed(values.mean())} ± {std:.3f}"
        if np.isnan(low):
            return text, "undecided (one fold gives no interval)"
        interval = f"{level} interval of the mean {_signed(low)} to {_signed(high)}"
        if low > 0:
            return text, f"helps ({interval})"
        if high < 0:
            return text, f"hurts ({interval})"
        return text, f"no clear effect ({interval}, which includes zero)"

    def sentence(model: str, source: str, label: str) -> str:
        uar, verdict = effect(model, source, "uar")
        f1, f1_verdict = effect(model, source, "macro_f1")
        return (f"**{label}** against the plain model on the same folds: UAR {uar}, macro-F1 "
                f"{f1} (mean ± std of the paired per-fold differences over {n_folds} folds). "
                f"On UAR: {verdict}; on macro-F1: {f1_verdict}.")

    paragraphs = [
        sentence("fusion", "predicted", "Fusion with the predicted gender (deployable)"),
        sentence("fusion", "true", "Fusion with the true gender (upper bound)"),
        sentence("per-gender", "predicted",
                 "Separate emotion models per gender, routed by the predicted gender"),
        (f"**The gender classifier's errors.** It was right on {cost['gender_accuracy']:.1%} "
         f"± {cost['gender_accuracy_std']:.1%} of the test items per fold ({cost['n_wrong']} of "
         f"{cost['n_test']} wrong). Giving the fusion model the true instead of the predicted "
         f"gender changes UAR by {_signed(cost['uar_cost'])} ± {cost['uar_cost_std']:.3f} and "
         f"macro-F1 by {_signed(cost['macro_f1_cost'])} ± {cost['macro_f1_cost_std']:.3f}: that is "
         "what the errors cost."
         + ("" if not cost["n_wrong"] else
            f" On the wrongly gendered items alone, the fusion model's emotion accuracy is "
            f"{cost['accuracy_on_wrong_true']:.3f} with the true and "
            f"{cost['accuracy_on_wrong_predicted']:.3f} with the predicted gender.")),
    ]
    if np.isfinite(cost.get("flip_changed", np.nan)):
        use = (f"**Does the fusion model use gender?** Given the opposite of the true gender, "
               f"it changes its predicted emotion on {cost['flip_changed']:.1%} of the test "
               f"items (mean probability shift, total variation, {cost['flip_shift']:.3f}).")
        if cost["flip_changed"] < LITTLE_USE:
            use += (" It makes little use of its gender input, so most of its difference to "
                    "the plain model comes from training variation (its own initialisation "
                    "and trajectory), not from the gender information; a wrong gender costs "
                    "correspondingly little.")
        paragraphs.append(use)
    return "\n\n".join(paragraphs)


def save_fusion_model(result: FusionResult, path: str | Path, *,
                      feature_config: config.FeatureConfig, data_fingerprint: str,
                      noise_config: dict | None = None, extra: dict | None = None
                      ) -> tuple[Path, Path]:
    """Save the first fold's fusion model with a sidecar describing both inputs.

    Returns
    -------
    model_path, sidecar_path : Path
    """
    fold = result.folds[0]
    sidecar = {
        "task": "emotion-fusion",
        "labels": list(config.EMOTIONS),
        "inputs": {"log_mel": "log-mel spectrogram (n_mels, n_frames, 1) in dB",
                   "gender": "shape (1,): 1.0 female, 0.0 male; trained on true gender, used "
                             "with the gender classifier's label (p_female > 0.5)"},
        "gender_labels": list(config.GENDERS),
        "feature_config": feature_config.to_dict(),
        "variant": result.variant,
        "protocol": "speaker-independent",
        "split": fold.split.name,
        "test_actors": list(fold.split.test_actors or ()),
        "hyperparameters": result.hyperparameters,
        "data_fingerprint": data_fingerprint,
        "noise_config": noise_config,
        "metrics": {f"{source}_gender": {m: fold.metrics["fusion", source][m]
                                         for m in ("accuracy", "uar", "macro_f1")}
                    for source in ("true", "predicted")},
        "epochs_trained": len(result.fusion_history.get("loss", [])),
        **(extra or {}),
    }
    return model_files.save_model_with_sidecar(result.fusion_model, path, sidecar=sidecar)


def _signed(value: float) -> str:
    """``+0.012`` / ``-0.034``; a value that rounds to zero is ``+0.000``, never ``-0.000``."""
    return f"{round(float(value), 3) + 0.0:+.3f}"
