"""Tuning ``ours`` for voices it has never heard: a nested, speaker-independent Optuna search.

The reconstruction's sweep (:mod:`helpers.tuning`) is the original's Table 2: a grid over one
split. This module tunes the ``ours`` emotion recipe so that the choice carries over to new
speakers, and tests that claim honestly:

- **Nested by actor.** For every outer fold of the speaker-independent protocol the search sees
  only the actors outside its test group. Those actors are dealt into inner groups of the same
  size and gender balance (:func:`inner_splits`); a trial trains on all but one inner group and
  is scored on it, for ``n_inner`` inner groups, and its objective is the mean **validation
  UAR** over them. The outer test actors are never seen by the search; each outer fold gets its
  own study and its own choice.
- **What is searched.** ``ours`` is a logistic regression solved to convergence by L-BFGS: it has
  no hidden layer to drop units from and no learning rate or epochs. What regularises it, and
  what the ablation showed to matter, is the strength of the L2 penalty (``l2``, log-uniform over
  :data:`L2_RANGE`) and how far the standardised functionals are clipped (``clip``, one of
  :data:`CLIP_CHOICES`).
- **Optuna's own machinery.** A seeded TPE sampler proposes the values; the untuned values are
  always trial 0 (so the search can keep them); a median pruner stops a trial whose running
  mean after an inner fold is below the median of earlier trials at the same fold; the trial
  count is capped with :class:`optuna.study.MaxTrialsCallback`, so several processes may share a
  study through one storage (:func:`helpers.studies.make_storage`), and a rerun resumes it.
- **Tested once.** :func:`table2_ours` trains the untuned and the tuned recipe of each outer fold
  on that fold's training actors (the same split and cache key as notebook 03, so the untuned
  models are loaded) and tests each once on the fold's test actors. The difference is paired by
  fold, with a Student-t interval.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import optuna
import pandas as pd

from helpers import config, evaluation, experiments, recipes, splits, studies, training, tuning
from helpers import io as project_io
from helpers.errors import ProjectError, check_int

__all__ = [
    "OursSearchError",
    "L2_RANGE",
    "CLIP_CHOICES",
    "SEARCHED",
    "OuterFold",
    "OursSweep",
    "inner_splits",
    "run_ours_sweep",
    "table2_ours",
]

#: Bump when the meaning of a trial changes, so old studies are not resumed by new code.
SEARCH_VERSION = 2  # 2: functionals analysed at 16 kHz and solved in float32 (session 12)
#: The L2 penalty's range (``ours``: 0.004, scikit-learn's C = 0.1 on about 1,150 clips).
L2_RANGE: tuple[float, float] = (3e-4, 3e-2)
#: Clip limits of the standardised functionals, in standard deviations. No clip is not offered:
#: on the real RAVDESS it scored the same as ±5 on validation actors (issue 12's screen) and made
#: each L-BFGS solve 2.5-4x slower (a few functionals lie millions of deviations out).
CLIP_CHOICES: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0, 20.0)
#: The hyperparameters the search varies.
SEARCHED: tuple[str, ...] = ("l2", "clip")


class OursSearchError(ProjectError):
    """The search's inputs or settings are not usable."""


@dataclasses.dataclass(frozen=True)
class OuterFold:
    """The search of one outer fold: its study, its trials and its choice."""

    split: splits.Split
    study_name: str
    untuned: dict
    chosen: dict
    untuned_validation_uar: float
    chosen_validation_uar: float
    trials: pd.DataFrame
    new_trials: int
    seconds: float

    def to_dict(self) -> dict:
        return {"split": self.split.name, "test_actors": list(self.split.test_actors or ()),
                "study_name": self.study_name, "untuned": self.untuned, "chosen": self.chosen,
                "untuned_validation_uar": self.untuned_validation_uar,
                "chosen_validation_uar": self.chosen_validation_uar,
                "trials": tuning.json_records(self.trials), "new_trials": self.new_trials,
                "seconds": round(self.seconds, 1)}


@dataclasses.dataclass(frozen=True)
class OursSweep:
    """Every outer fold's search."""

    folds: list[OuterFold]
    n_trials: int
    n_inner: int
    seconds: float

    @property
    def new_trials(self) -> int:
        return sum(fold.new_trials for fold in self.folds)

    def trials_table(self) -> pd.DataFrame:
        """All trials, one row each, with the outer fold they belong to."""
        return pd.concat([fold.trials.assign(outer_fold=fold.split.name) for fold in self.folds],
                         ignore_index=True)

    def chosen_table(self) -> pd.DataFrame:
        """Per outer fold: the chosen values and the validation UAR of untuned and chosen."""
        return pd.DataFrame([{"outer_fold": fold.split.name,
                              **{f"chosen_{k}": fold.chosen[k] for k in SEARCHED},
                              "untuned_validation_uar": fold.untuned_validation_uar,
                              "chosen_validation_uar": fold.chosen_validation_uar,
                              "trials": len(fold.trials), "new_trials": fold.new_trials,
                              "seconds": round(fold.seconds, 1)} for fold in self.folds])

    def to_dict(self) -> dict:
        return {"n_trials": self.n_trials, "n_inner": self.n_inner,
                "seconds": round(self.seconds, 1), "folds": [f.to_dict() for f in self.folds]}


def inner_splits(items: pd.DataFrame, outer: splits.Split, *, seed: int) -> list[splits.Split]:
    """Inner folds over the actors outside an outer fold's test group.

    The non-test actors are dealt into groups of the outer test group's size and gender balance
    (:func:`helpers.splits.speaker_folds` on those actors), or into two halves where groups of
    that size would be fewer than two. Inner fold ``j`` trains on every
    non-test actor outside group ``j`` and validates on group ``j`` (its ``test`` part; its
    ``validation`` part is empty). Indices are positions in ``items``.

    Raises
    ------
    OursSearchError
        If the outer split is not actor-based or its non-test actors cannot be dealt into
        gender-balanced groups.
    """
    if not outer.actor_based:
        raise OursSearchError(f"outer split {outer.name!r} is not actor-based; the search needs "
                              f"speaker-independent folds")
    outside = np.setdiff1d(np.arange(len(items)), outer.test)
    rest = items.iloc[outside].reset_index(drop=True)
    n_actors = rest["actor"].nunique()
    group = max(1, len(outer.test_actors))
    # Groups of the test group's size where that leaves at least two; otherwise two halves
    # (two outer folds: the non-test actors are as many as the test actors).
    n_groups = max(2, n_actors // group)
    try:
        folds = splits.speaker_folds(rest, n_folds=n_groups, seed=seed, validation_actors=0)
    except splits.SplitError as error:
        raise OursSearchError(f"outer split {outer.name!r}: no gender-balanced inner folds "
                              f"({error})") from error
    return [splits.Split(name=f"{outer.name}-inner-{j + 1}", train=outside[fold.train],
                         validation=np.empty(0, np.int64), test=outside[fold.test], fold=j,
                         seed=seed, train_actors=fold.train_actors, validation_actors=(),
                         test_actors=fold.test_actors)
            for j, fold in enumerate(folds)]


def _uar(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    return float(evaluation.standard_metrics(y_true, probabilities,
                                             labels=config.EMOTIONS)["uar"])


def run_ours_sweep(x: np.ndarray, items: pd.DataFrame, *, recipe: recipes.Recipe,
                   split_list: Sequence[splits.Split], seed: int, data_key: str,
                   n_trials: int, n_inner: int, augmented: Sequence[np.ndarray] = (),
                   storage: str | optuna.storages.BaseStorage | None = None,
                   force: bool = False, cache_folder=None,
                   progress: Callable[[str], None] | None = None) -> OursSweep:
    """Search ``l2`` and ``clip`` of ``recipe`` inside every outer fold (or read the studies back).

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_features)]
        The recipe's functionals (:func:`helpers.experiments.recipe_features`).
    items : pd.DataFrame
        Item table aligned with ``x`` (``actor``, ``gender``, ``emotion_code``).
    recipe : helpers.recipes.Recipe
        The untuned ``ours`` recipe, filled for the run profile.
    split_list : sequence of Split
        The outer speaker-independent folds (notebook 03's).
    seed : int
        Seed of the inner folds, the sampler and the models.
    data_key : str
        Identity of ``x`` (as in notebook 03's ``run_protocol``: ``feature_set.data_key("clean")``); keys the
        model cache and the study names.
    n_trials : int
        Finished (complete or pruned) trials per outer fold, the untuned trial included.
    n_inner : int
        Inner folds each trial is scored on (at most the number of inner groups).
    augmented : sequence of np.ndarray
        The recipe's perturbed copies of ``x``.
    storage : str, optuna storage or None
        Where the studies live (:func:`helpers.studies.as_storage`), as
        :func:`helpers.tuning.run_sweep`.
    force : bool
        Delete this configuration's studies and retrain their models.
    progress : callable, optional
        Called with a one-line status after each trial and fold.

    Returns
    -------
    OursSweep

    Raises
    ------
    OursSearchError
        If the inputs disagree, the recipe is not solved by L-BFGS, or a count is not positive.
    """
    if len(x) != len(items):
        raise OursSearchError(f"x has {len(x)} rows but items has {len(items)}; they must align")
    if recipe.solver != "lbfgs" or recipe.features == "log_mel":
        raise OursSearchError(f"recipe {recipe.name!r} (solver {recipe.solver!r}, features "
                              f"{recipe.features!r}): this search tunes a functionals recipe "
                              f"solved by L-BFGS; the CNN is tuned by helpers.tuning.run_sweep")
    for name, value in (("n_trials", n_trials), ("n_inner", n_inner)):
        check_int(value, name=name, minimum=1, error=OursSearchError)
    if not split_list:
        raise OursSearchError("split_list is empty; pass the outer speaker-independent folds")
    started = time.perf_counter()
    y = experiments.emotion_labels(items)
    storage_object = studies.as_storage(storage)
    untuned = {name: float(recipe.params[name]) for name in SEARCHED}
    say = progress or (lambda message: None)
    folds = []
    for outer in split_list:
        fold_started = time.perf_counter()
        inner = inner_splits(items, outer, seed=seed)[:n_inner]
        settings = {
            "version": SEARCH_VERSION, "objective": "mean inner validation UAR",
            "recipe": {k: v for k, v in recipe.describe().items() if k != "hyperparameters"},
            "untuned": untuned, "l2_range": list(L2_RANGE), "clip_choices": list(CLIP_CHOICES),
            "outer_train": config.stable_hash(outer.train.tolist()),
            "outer_test": config.stable_hash(outer.test.tolist()),
            "inner": [config.stable_hash(s.test.tolist()) for s in inner],
            "seed": seed, "versions": project_io.library_versions(),
        }
        name = studies.study_name(data_key=data_key, variant="clean",
                                  protocol="speaker-independent", stage=f"ours-{outer.name}",
                                  settings=settings)
        study = studies.open_study(
            name, storage=storage_object, direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0), force=force)
        # A trial whose process was killed stops sending heartbeats; after the grace period it
        # is marked failed, so that it neither counts nor lingers as running.
        studies.fail_stale_trials(study)
        # The untuned values are trial 0 of a new study; Optuna skips the enqueue when the
        # study already holds a trial with them (run, running or waiting).
        study.enqueue_trial(untuned, user_attrs={"untuned": True}, skip_if_exists=True)
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        done_before = len(study.get_trials(deepcopy=False, states=finished))
        label = f"ours {outer.name}"
        if done_before:
            say(f"{label}: study {name} has {done_before}/{n_trials} trials done; "
                f"{'reading it back' if done_before >= n_trials else 'resuming'}")
        objective = _objective(x, y, inner, recipe=recipe, seed=seed, data_key=data_key,
                               augmented=augmented, force=force, cache_folder=cache_folder,
                               say=say, label=label)
        if done_before < n_trials:
            with np.errstate(all="ignore"):
                study.optimize(objective, n_trials=n_trials - done_before, gc_after_trial=True,
                               callbacks=[optuna.study.MaxTrialsCallback(n_trials,
                                                                         states=finished)])
        trials = _trials_frame(study)
        complete = trials[trials["state"] == "complete"]
        if complete.empty:
            raise OursSearchError(f"study {name!r}: no trial completed; nothing to choose from")
        best = complete.loc[complete["val_uar"].idxmax()]
        untuned_rows = complete[complete["untuned"]]
        folds.append(OuterFold(
            split=outer, study_name=name, untuned=untuned,
            chosen={k: float(best[k]) for k in SEARCHED},
            untuned_validation_uar=float(untuned_rows["val_uar"].iloc[0])
            if len(untuned_rows) else float("nan"),
            chosen_validation_uar=float(best["val_uar"]), trials=trials,
            new_trials=len(study.get_trials(deepcopy=False, states=finished)) - done_before,
            seconds=time.perf_counter() - fold_started))
        say(f"{label}: chose l2={best['l2']:.5g}, clip={best['clip']:g} (validation UAR "
            f"{best['val_uar']:.3f}; untuned {folds[-1].untuned_validation_uar:.3f})")
    return OursSweep(folds=folds, n_trials=n_trials, n_inner=len(inner),
                     seconds=time.perf_counter() - started)


def _objective(x, y, inner, *, recipe, seed, data_key, augmented, force, cache_folder, say, label):
    def objective(trial: optuna.Trial) -> float:
        values = {"l2": trial.suggest_float("l2", *L2_RANGE, log=True),
                  "clip": trial.suggest_categorical("clip", CLIP_CHOICES)}
        candidate = recipe.with_hyperparameters(**values)
        trial_started = time.perf_counter()
        scores = []
        for step, split in enumerate(inner):
            trained = training.train_recipe(candidate, x, y, split, seed=seed, data_key=data_key,
                                            force=force, cache_folder=cache_folder,
                                            augmented=augmented)
            probabilities = training.predict_recipe(trained.model, candidate, x, split.test,
                                                    augmented=augmented)
            scores.append(_uar(y[split.test], probabilities))
            trial.report(float(np.mean(scores)), step=step)
            if step < len(inner) - 1 and trial.should_prune():
                say(f"{label}: trial {trial.number} l2={values['l2']:.5g} clip={values['clip']:g} "
                    f"pruned after inner fold {step + 1} (UAR {np.mean(scores):.3f})")
                raise optuna.TrialPruned(f"inner fold {step + 1}: UAR {np.mean(scores):.4f}")
        trial.set_user_attr("inner_uar", [round(s, 6) for s in scores])
        say(f"{label}: trial {trial.number} l2={values['l2']:.5g} clip={values['clip']:g}: "
            f"validation UAR {np.mean(scores):.3f} ({', '.join(f'{s:.3f}' for s in scores)}; "
            f"{time.perf_counter() - trial_started:.0f} s)")
        return float(np.mean(scores))

    return objective


def _trials_frame(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if not set(SEARCHED) <= set(trial.params):
            continue
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else np.nan
        rows.append({"number": trial.number, "state": trial.state.name.lower(),
                     "l2": float(trial.params["l2"]), "clip": float(trial.params["clip"]),
                     "val_uar": float(trial.value) if trial.value is not None else np.nan,
                     "inner_folds": len(trial.intermediate_values),
                     "untuned": bool(trial.user_attrs.get("untuned", False)),
                     "seconds": seconds})
    columns = ["number", "state", "l2", "clip", "val_uar", "inner_folds", "untuned", "seconds"]
    return pd.DataFrame(rows, columns=columns).sort_values("number", ignore_index=True)


def table2_ours(x: np.ndarray, items: pd.DataFrame, sweep: OursSweep, *, recipe: recipes.Recipe,
                profile: config.Profile, seed: int, data_key: str,
                augmented: Sequence[np.ndarray] = (), force: bool = False, cache_folder=None,
                confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Untuned against tuned ``ours``, each trained once per outer fold and tested once.

    Returns
    -------
    rows : pd.DataFrame
        Table 2's ``ours`` rows: ``untuned``, ``tuned`` (means over the outer folds, with
        ``*_std``) and ``difference`` (mean paired difference, with ``ci_low``/``ci_high``, the
        untuned UAR's fold-to-fold std as ``spread`` and ``beats_spread``: whether the mean
        difference exceeds it).
    per_fold : pd.DataFrame
        One row per outer fold: its chosen values and both test UARs.
    """
    y = experiments.emotion_labels(items)
    results, per_fold = {"untuned": [], "tuned": []}, []
    for fold in sweep.folds:
        record = {"outer_fold": fold.split.name, **{f"chosen_{k}": fold.chosen[k] for k in SEARCHED}}
        for name, values in (("untuned", fold.untuned), ("tuned", fold.chosen)):
            result, _ = experiments.train_split(
                x, y, fold.split, profile=profile, seed=seed, data_key=data_key, force=force,
                recipe=recipe.with_hyperparameters(**values), augmented=augmented,
                cache_folder=cache_folder)
            results[name].append(result)
            record[f"{name}_test_uar"] = float(result.metrics["uar"])
        record["difference"] = record["tuned_test_uar"] - record["untuned_test_uar"]
        per_fold.append(record)
    per_fold = pd.DataFrame(per_fold)
    rows = []
    for name in ("untuned", "tuned"):
        row = experiments.ProtocolResult(variant="clean", protocol="speaker-independent",
                                         folds=results[name], model=None, hyperparameters={},
                                         recipe="ours").row()
        row["model"] = name
        if name == "untuned":
            row.update({k: sweep.folds[0].untuned[k] for k in SEARCHED})
        rows.append(row)
    difference = {"recipe": "ours", "mode": "single-clip", "variant": "clean",
                  "protocol": "speaker-independent", "folds": len(per_fold),
                  "n_test": rows[0]["n_test"], "model": "difference"}
    for key in experiments.TABLE1_METRICS:
        difference[key] = rows[1][key] - rows[0][key]
    low, high = evaluation.difference_interval(per_fold["difference"], confidence=confidence)
    spread = float(rows[0].get("uar_std", np.nan))
    difference.update({"ci_low": low, "ci_high": high, "spread": spread,
                       "beats_spread": bool(abs(difference["uar"]) > spread)
                       if np.isfinite(spread) else False})
    rows.append(difference)
    table = pd.DataFrame(rows)
    front = ["model", "recipe", "mode", "variant", "protocol", "folds", "n_test"]
    return table[front + [c for c in table.columns if c not in front]], per_fold
