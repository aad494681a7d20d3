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
  study through one storage (:func:`helpers.studies.make_storage`), and a rerun resumes it
  (an untuned trial that failed is queued again).
- **Outer folds side by side.** With ``jobs`` > 1 worker processes search every ``jobs``-th
  outer fold in the same storage and this process reads their studies back: each fold's study
  has its own seeded sampler, so the result is the serial one.
- **Tested once.** :func:`table2_ours` trains the untuned and the tuned recipe of each outer fold
  on that fold's training actors (the same split and cache key as notebook 03, so the untuned
  models are loaded) and tests each once on the fold's test actors. The difference is paired by
  fold, with a Student-t interval.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import optuna
import pandas as pd

from helpers import (config, evaluation, experiments, parallel, recipes, splits, studies,
                     training, tuning)
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
    #: Worker processes that searched outer folds beside this one (``jobs - 1``; 0 when serial
    #: or read back), and the models they loaded and trained.
    workers: int = 0
    in_workers: dict = dataclasses.field(default_factory=lambda: {"cached": 0, "trained": 0})

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
                "seconds": round(self.seconds, 1), "workers": self.workers,
                "in_workers": dict(self.in_workers), "folds": [f.to_dict() for f in self.folds]}


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
                   progress: Callable[[str], None] | None = None,
                   jobs: int | None = None) -> OursSweep:
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
    cache_folder : path, optional
        The model cache (default :func:`helpers.config.model_cache_dir`).
    progress : callable, optional
        Called with a one-line status after each trial and fold.
    jobs : int, optional
        Outer folds searched at once: ``jobs - 1`` worker processes
        (:func:`helpers.parallel.alongside`) each search every ``jobs``-th fold in the same
        storage, and this process reads their studies back. Each fold's study is its own (its own
        seeded sampler, trials in the same order), so the result is the serial one. A failed
        worker's folds are resumed here (the trial it was running failed, the untuned trial
        queued again if it was that one), as any interrupted search: a fresh sampler then
        proposes the rest, so such a fold can differ from a serial run's. The models a failed
        worker trained are not in the tally. Default :func:`helpers.config.jobs` (``SER_JOBS``,
        1); serial with ``force``, a storage other processes cannot open, every study already
        finished, copies of another dtype than ``x``, or a recipe builder defined in
        ``__main__``.

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
    jobs = config.jobs() if jobs is None else check_int(jobs, name="jobs", minimum=1,
                                                         error=OursSearchError)
    if not split_list:
        raise OursSearchError("split_list is empty; pass the outer speaker-independent folds")
    augmented = [np.asarray(copy) for copy in augmented]
    for k, copy in enumerate(augmented):
        if copy.shape != np.shape(x):
            raise OursSearchError(f"augmented[{k}] has shape {copy.shape}; every perturbed copy "
                                  f"must have the shape of x, {np.shape(x)}")
    started = time.perf_counter()
    y = experiments.emotion_labels(items)
    storage_object = studies.as_storage(storage)
    say = progress or (lambda message: None)
    plans = [_plan_fold(items, outer, recipe=recipe, seed=seed, data_key=data_key,
                        n_inner=n_inner) for outer in split_list]
    shared_url = studies.shareable_url(storage, storage_object)
    workers = min(studies.worker_count(jobs, shared_url, storage_object, force=force, say=say,
                                       what="the search of ours"), len(plans) - 1)
    # Finished trials per fold before any worker starts: what was run now is counted from it.
    done_at_start = [_finished_count(storage_object, plan["name"]) for plan in plans]
    if workers and all(done >= n_trials for done in done_at_start):
        workers = 0  # a read-back: workers would only import TensorFlow
    alone = None
    if workers and any(copy.dtype != np.asarray(x).dtype for copy in augmented):
        # One array carries x and its copies to the workers; a mixed dtype would change them.
        alone = "x and its perturbed copies differ in dtype"
    elif workers and getattr(recipe.builder, "__module__", None) == "__main__":
        alone = (f"the recipe's builder {recipe.builder.__qualname__} is defined in __main__, "
                 f"where a worker process cannot import it")
    if alone:
        say(f"jobs={jobs}: the search of ours runs in this process alone ({alone})")
        workers = 0
    processes = workers + 1
    search = dict(recipe=recipe, seed=seed, data_key=data_key, n_trials=n_trials,
                  storage_object=storage_object, force=force, cache_folder=cache_folder, say=say)
    folds: dict[int, OuterFold] = {}
    # The workers' inputs: x and its copies in one array, written once for them all.
    shared = np.stack([x, *augmented]) if workers else np.empty(0)
    worker_kwargs = dict(items=items, recipe=recipe, split_list=list(split_list), seed=seed,
                         data_key=data_key, n_trials=n_trials, n_inner=n_inner,
                         storage=shared_url, jobs=1,
                         # This process's cache folder, not the one a fresh worker would derive.
                         cache_folder=cache_folder if cache_folder is not None
                         else config.model_cache_dir())
    per_worker = [{"fold_numbers": list(range(k, len(plans), processes))}
                  for k in range(1, processes)]
    with parallel.alongside(_search_in_worker, shared, worker_kwargs, workers=workers,
                            per_worker=per_worker) as outcomes:
        for index in range(0, len(plans), processes):
            folds[index] = _search_fold(x, y, plans[index], augmented=augmented, **search)
    del shared
    worker_seconds: dict[str, float] = {}
    in_workers = {"cached": 0, "trained": 0}
    for k, outcome in enumerate(outcomes):
        mine = [plans[index]["name"] for index in per_worker[k]["fold_numbers"]]
        if outcome["ok"]:
            in_workers = training.count_elsewhere(outcome["result"]["tally"], total=in_workers)
            worker_seconds.update(outcome["result"]["seconds"])
            if sorted(outcome["result"]["seconds"]) != sorted(mine):
                # Its settings described themselves otherwise after pickling: it searched
                # studies of its own, and its folds are searched here.
                warnings.warn(f"search of ours: worker {k + 1} searched the studies "
                              f"{sorted(outcome['result']['seconds'])}, not {sorted(mine)}; "
                              f"its outer folds are searched in this process", stacklevel=2)
            continue
        # Its folds' studies are resumed here: the trials it finished count, the one it was
        # running is failed now (its heartbeat would fail it only after the grace period),
        # and the rest run here.
        for name in mine:
            study = studies.existing_study(name, storage_object)
            if study is not None:
                studies.fail_trials_of(study, studies.process_label(outcome["pid"]))
        message = (f"search of ours: worker {k + 1} of {workers} failed ({outcome['error']}); "
                   f"its outer folds are searched in this process")
        warnings.warn(message, stacklevel=2)
        say(message)
    for index, plan in enumerate(plans):
        if index in folds:
            continue
        fold = _search_fold(x, y, plan, augmented=augmented, **search)
        # Read back or resumed here: what was run now is counted from the start, and a fold
        # a worker searched took the worker's time.
        fold = dataclasses.replace(
            fold, new_trials=_finished_count(storage_object, plan["name"]) - done_at_start[index],
            seconds=worker_seconds.get(plan["name"], fold.seconds))
        folds[index] = fold
    return OursSweep(folds=[folds[index] for index in range(len(plans))], n_trials=n_trials,
                     n_inner=len(plans[-1]["inner"]), seconds=time.perf_counter() - started,
                     workers=workers, in_workers=in_workers)


def _plan_fold(items, outer, *, recipe, seed, data_key, n_inner) -> dict:
    """An outer fold's inner folds and study name (what identifies its search)."""
    inner = inner_splits(items, outer, seed=seed)[:n_inner]
    untuned = {name: float(recipe.params[name]) for name in SEARCHED}
    settings = {
        "version": SEARCH_VERSION, "objective": "mean inner validation UAR",
        "recipe": {k: v for k, v in recipe.describe().items() if k != "hyperparameters"},
        "untuned": untuned, "l2_range": list(L2_RANGE), "clip_choices": list(CLIP_CHOICES),
        "outer_train": config.stable_hash(outer.train.tolist()),
        "outer_test": config.stable_hash(outer.test.tolist()),
        "inner": [config.stable_hash(s.test.tolist()) for s in inner],
        "seed": seed, "versions": project_io.library_versions(),
    }
    name = studies.study_name(data_key=data_key, variant="clean", protocol="speaker-independent",
                              stage=f"ours-{outer.name}", settings=settings)
    return {"outer": outer, "inner": inner, "untuned": untuned, "name": name}


_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _finished_count(storage_object, name: str) -> int:
    """Finished (complete or pruned) trials of the study ``name``; 0 where there is none."""
    study = studies.existing_study(name, storage_object)
    return 0 if study is None else len(study.get_trials(deepcopy=False, states=_FINISHED))


def _search_fold(x, y, plan, *, recipe, seed, data_key, n_trials, augmented, storage_object,
                 force, cache_folder, say) -> OuterFold:
    """Run (or resume, or read back) one outer fold's study and take its choice."""
    fold_started = time.perf_counter()
    outer, name, untuned = plan["outer"], plan["name"], plan["untuned"]
    study = studies.open_study(
        name, storage=storage_object, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0), force=force)
    # A trial whose process was killed stops sending heartbeats; after the grace period it
    # is marked failed, so that it neither counts nor lingers as running.
    studies.fail_stale_trials(study)
    done_before = len(study.get_trials(deepcopy=False, states=_FINISHED))
    # The untuned values are trial 0 of a new study, and queued again when that trial failed
    # (its process killed or its worker failing): Optuna's skip_if_exists would also skip over
    # a failed trial, and the search would go on without the untuned values.
    if done_before < n_trials and not any(
            trial.user_attrs.get("untuned")
            for trial in study.get_trials(deepcopy=False, states=(*_FINISHED, *studies.ACTIVE))):
        study.enqueue_trial(untuned, user_attrs={"untuned": True})
    label = f"ours {outer.name}"
    if done_before:
        say(f"{label}: study {name} has {done_before}/{n_trials} trials done; "
            f"{'reading it back' if done_before >= n_trials else 'resuming'}")
    objective = _objective(x, y, plan["inner"], recipe=recipe, seed=seed, data_key=data_key,
                           augmented=augmented, force=force, cache_folder=cache_folder,
                           say=say, label=label)
    if done_before < n_trials:
        with np.errstate(all="ignore"):
            study.optimize(objective, n_trials=n_trials - done_before, gc_after_trial=True,
                           callbacks=[optuna.study.MaxTrialsCallback(n_trials,
                                                                     states=_FINISHED)])
    trials = _trials_frame(study)
    complete = trials[trials["state"] == "complete"]
    if complete.empty:
        raise OursSearchError(f"study {name!r}: no trial completed; nothing to choose from")
    best = complete.loc[complete["val_uar"].idxmax()]
    untuned_rows = complete[complete["untuned"]]
    fold = OuterFold(
        split=outer, study_name=name, untuned=untuned,
        chosen={k: float(best[k]) for k in SEARCHED},
        untuned_validation_uar=float(untuned_rows["val_uar"].iloc[0])
        if len(untuned_rows) else float("nan"),
        chosen_validation_uar=float(best["val_uar"]), trials=trials,
        new_trials=len(study.get_trials(deepcopy=False, states=_FINISHED)) - done_before,
        seconds=time.perf_counter() - fold_started)
    say(f"{label}: chose l2={best['l2']:.5g}, clip={best['clip']:g} (validation UAR "
        f"{best['val_uar']:.3f}; untuned {fold.untuned_validation_uar:.3f})")
    return fold


def _search_in_worker(shared: np.ndarray, *, split_list, fold_numbers, **kwargs) -> dict:
    """One worker of a parallel search (:func:`helpers.parallel.alongside`): the outer folds
    ``fold_numbers`` of ``split_list``, searched serially; what each ran, and the models it
    loaded and trained (:func:`helpers.training.cache_tally`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = run_ours_sweep(shared[0], split_list=[split_list[i] for i in fold_numbers],
                           augmented=list(shared[1:]), **kwargs)
    return {"seconds": {fold.study_name: fold.seconds for fold in sweep.folds},
            "tally": training.cache_tally()}


def _objective(x, y, inner, *, recipe, seed, data_key, augmented, force, cache_folder, say, label):
    def objective(trial: optuna.Trial) -> float:
        values = {"l2": trial.suggest_float("l2", *L2_RANGE, log=True),
                  "clip": trial.suggest_categorical("clip", CLIP_CHOICES)}
        candidate = recipe.with_hyperparameters(**values)
        studies.mark_process(trial)
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
