"""The original's two-stage tuning of the emotion CNN, reproducible and resumable with Optuna.

The report tuned by trial and error on the aggregation variant: the dropout rate first, then
the learning rate, ending at dropout 0.25 and learning rate 0.0022 (Table 2). Here the same
two stages are a grid search each, stored as Optuna studies:

1. **dropout** over :data:`DROPOUT_GRID` with the original learning rate (0.002);
2. **learning rate** over :data:`LEARNING_RATE_GRID` (log-spaced around 0.002, including the
   report's 0.0022) with the best dropout of stage 1.

A profile with fewer trials per stage tries an evenly spread subset that keeps the untuned
values (:func:`sweep_grids`).

Every trial trains on the split's training part (early stopping on its validation part, as
everywhere in the project) and is scored on the validation part only: the objective is the
validation cross-entropy (``loss``) of the restored best weights; validation UAR, accuracy and
macro-F1 are stored beside it. The test part is never touched during the search; Table 2 is
made afterwards by :func:`table2`, which trains the original and the tuned hyperparameters
once each and tests them once.

The resumable-study machinery is :mod:`helpers.studies` (storage, study names, a grid stage
that re-queues failed values and waits for other workers); this module is the emotion search on
top of it. Studies live in SQLite under ``outputs/optuna/`` by default
(:func:`helpers.studies.default_storage_url`); any SQLAlchemy URL (PostgreSQL, MySQL) lets
several processes or machines share one study: each worker takes grid values no one has
started, and waits for the others before a stage's result is read. A study's name encodes the
data fingerprint, variant, protocol, stage and every setting that changes a trial's result, so
a changed dataset or profile starts a new study, an interrupted sweep continues where it
stopped (an interrupted trial runs again; one whose process was killed, once its heartbeat is
older than the grace period, or at once when the process was one of this sweep's own ``jobs``
workers), and a finished one is read back without training.

Hopeless trials are pruned: each epoch's validation loss is reported to Optuna and the
default pruner (:func:`default_pruner`) stops a trial whose validation loss, after a warm-up of
:data:`PRUNE_WARMUP_EPOCHS` epochs, is still no better than chance (the cross-entropy of a
uniform guess, ln 8): a diverged or stuck trial. A median rule (stop a trial worse than the
median of earlier ones at the same epoch) was tried first and dropped: on the real RAVDESS
every setting's validation loss sits on a plateau near 1.8 for 4–8 epochs and the curves cross
later, so it pruned settings on noise; at epoch 11 it would have pruned the eventual best
(dropout 0.25: loss 1.25 against a median of 1.02, final 0.36 against 0.46 and 0.60). Trials
that stop improving are ended anyway by the early stopping every trial uses.

Trial models go through the project's content-addressed model cache with the same key as
:func:`helpers.experiments.train_split`, so Table 2's models (and notebook 03's model with the
same hyperparameters) are loaded, not retrained.

The module is longer than most (about 800 lines) because it is one piece: the sweep's result
types, grids, trial and stage code, and Table 2 with the comparisons notebook 04 draws from it
(Table 2 trains on the sweep's split with its choice). The generic study machinery is already
out, in :mod:`helpers.studies`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import optuna
import pandas as pd

from helpers import (config, evaluation, experiments, features, models, parallel, recipes, splits,
                     studies, training)
from helpers import io as project_io
from helpers.errors import ProjectError, check_int

__all__ = [
    "TuningError",
    "DROPOUT_GRID",
    "LEARNING_RATE_GRID",
    "ORIGINAL_HYPERPARAMETERS",
    "REPORTED_TUNED_HYPERPARAMETERS",
    "STAGES",
    "TABLE2_ROWS",
    "StageResult",
    "SweepResult",
    "grid_subset",
    "sweep_grids",
    "default_pruner",
    "training_depth",
    "sweep_split",
    "validation_metrics",
    "run_sweep",
    "table2",
    "agreement",
    "json_records",
]

#: Stage 1: dropout rates tried with the original learning rate.
DROPOUT_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5)
#: Stage 2: learning rates tried with the best dropout; log-spaced around the original 0.002,
#: including the report's choice 0.0022.
LEARNING_RATE_GRID: tuple[float, ...] = (0.0005, 0.001, 0.0015, 0.002, 0.0022, 0.003, 0.004,
                                         0.006)
#: The model before tuning: notebook 03's hyperparameters (the reference notebook's learning
#: rate; the original's dropout before tuning is not reported, 0.25 is used).
ORIGINAL_HYPERPARAMETERS: dict[str, float] = {"dropout_rate": 0.25, "learning_rate": 0.002}
#: What the report's tuning chose.
REPORTED_TUNED_HYPERPARAMETERS: dict[str, float] = {"dropout_rate": 0.25, "learning_rate": 0.0022}
#: (stage name, hyperparameter) in search order.
STAGES: tuple[tuple[str, str], ...] = (("dropout", "dropout_rate"),
                                       ("learning_rate", "learning_rate"))
#: Row labels of Table 2.
TABLE2_ROWS: tuple[str, ...] = ("original", "tuned", "difference")

# Bump when the meaning of a trial changes, so old studies are not resumed by new code.
SEARCH_VERSION = 1
#: Early stopping's minimum improvement in every trial (the original's, as in notebook 03).
MIN_DELTA = recipes.original_emotion().min_delta  # the recipe's stopping rule, not a literal
#: Epochs a trial always runs before the pruner may stop it (capped at half a profile's epochs).
PRUNE_WARMUP_EPOCHS = 10
# The validation metric each trial is scored by (minimised) and reported per epoch.
OBJECTIVE = "val_loss"
VALIDATION_KEYS: tuple[str, ...] = ("loss", "accuracy", "uar", "macro_f1", "f1_original",
                                    "accuracy_binary")
# Table 2 maps the report's column names onto experiments.TABLE1_METRICS.
_PUBLISHED_KEYS = {"loss": "loss", "accuracy": "accuracy_binary", "auc": "auc",
                   "precision": "precision", "recall": "recall", "f1": "f1_original"}


class TuningError(ProjectError):
    """A sweep cannot run as asked: bad grids, settings or storage, or no usable trial."""


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class StageResult:
    """One stage of a sweep (one Optuna study).

    Attributes
    ----------
    stage : str
        ``"dropout"`` or ``"learning_rate"``.
    parameter : str
        The hyperparameter searched (``"dropout_rate"`` or ``"learning_rate"``).
    study_name : str
    grid : tuple of float
        The values tried.
    fixed : dict
        The other hyperparameters, held fixed.
    best_value : float
        The chosen value of ``parameter`` (lowest validation loss of the completed trials).
    best_score : float
        Its validation loss.
    trials : pd.DataFrame
        One row per trial: ``number``, ``state``, ``value`` of the parameter, ``val_loss`` (the
        objective; for a pruned trial its last reported loss), ``val_uar``, ``val_accuracy``,
        ``val_macro_f1``, ``epochs``, ``cached``, ``seconds``.
    new_trials : int
        Trials added to the study during this call (0 when it was already finished; with
        ``jobs``, not those a worker added before this process reached the stage).
    """

    stage: str
    parameter: str
    study_name: str
    grid: tuple[float, ...]
    fixed: dict
    best_value: float
    best_score: float
    trials: pd.DataFrame
    new_trials: int

    def to_dict(self) -> dict:
        """JSON-ready summary, trials included."""
        return {
            "stage": self.stage, "parameter": self.parameter, "study_name": self.study_name,
            "grid": list(self.grid), "fixed": dict(self.fixed), "best_value": self.best_value,
            "best_val_loss": self.best_score, "new_trials": self.new_trials,
            "trials": json_records(self.trials),
        }


@dataclasses.dataclass
class SweepResult:
    """Both stages of one protocol's sweep.

    Attributes
    ----------
    variant, protocol : str
    split : splits.Split
        The split searched on (its validation part scores the trials).
    stages : list of StageResult
    best : dict
        The chosen hyperparameters, ``{"dropout_rate": ..., "learning_rate": ...}``.
    seconds : float
        Wall time of this call.
    workers : int
        Processes that ran trials beside this one (``jobs - 1``; 0 when serial or read back).
    in_workers : dict
        Models those processes loaded and trained, ``{"cached": n, "trained": m}``.
    """

    variant: str
    protocol: str
    split: splits.Split
    stages: list[StageResult]
    best: dict
    seconds: float
    workers: int = 0
    in_workers: dict = dataclasses.field(default_factory=lambda: {"cached": 0, "trained": 0})

    @property
    def new_trials(self) -> int:
        """Trials run by this call, over both stages."""
        return sum(stage.new_trials for stage in self.stages)

    def stage(self, name: str) -> StageResult:
        """The stage called ``name``."""
        for stage in self.stages:
            if stage.stage == name:
                return stage
        raise TuningError(f"stage={name!r} must be one of {[s.stage for s in self.stages]}")

    def trials_table(self) -> pd.DataFrame:
        """Every trial of both stages, with ``protocol``, ``stage`` and ``parameter`` columns."""
        frames = [stage.trials.assign(protocol=self.protocol, stage=stage.stage,
                                      parameter=stage.parameter,
                                      dropout_rate=stage.fixed.get("dropout_rate", np.nan),
                                      learning_rate=stage.fixed.get("learning_rate", np.nan))
                  for stage in self.stages]
        table = pd.concat(frames, ignore_index=True)
        for stage in self.stages:
            rows = table["stage"] == stage.stage
            table.loc[rows, stage.parameter] = table.loc[rows, "value"]
        first = ["protocol", "stage", "parameter", "number", "state", "dropout_rate",
                 "learning_rate"]
        return table[first + [c for c in table.columns if c not in first and c != "value"]]

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "variant": self.variant, "protocol": self.protocol, "split": self.split.name,
            "split_sizes": self.split.sizes(),
            "validation_actors": (list(self.split.validation_actors)
                                  if self.split.validation_actors else None),
            "best": dict(self.best), "new_trials": self.new_trials,
            "seconds": round(self.seconds, 1), "workers": self.workers,
            "in_workers": dict(self.in_workers),
            "stages": {stage.stage: stage.to_dict() for stage in self.stages},
        }


# ----------------------------------------------------------------------------------------------
# Grids and splits
# ----------------------------------------------------------------------------------------------


def grid_subset(values: Sequence[float], n: int, *, include: float | None = None
                ) -> tuple[float, ...]:
    """``n`` values spread evenly over a sorted grid (all of it when ``n >= len(values)``).

    Parameters
    ----------
    values : sequence of float
        The full grid, distinct values.
    n : int
        How many to keep (the profile's ``sweep_trials_per_stage``).
    include : float, optional
        A value of the grid that must be kept (the untuned model's): it replaces the chosen
        value nearest to it (by grid position; the lower one on a tie).

    Returns
    -------
    tuple of float
        Sorted. Without ``include`` the smallest and largest values are kept when ``n >= 2``.

    Raises
    ------
    TuningError
        If ``values`` is empty or has repeats or non-finite values, ``n < 1``, or ``include``
        is not in ``values``.
    """
    grid = sorted(float(v) for v in values)
    if not grid or len(set(grid)) != len(grid) or not all(math.isfinite(v) for v in grid):
        raise TuningError(f"grid={list(values)!r} must hold distinct finite numbers")
    n = check_int(n, name="n", minimum=1, error=TuningError)
    if include is not None and studies.match_grid_value(include, grid) is None:
        raise TuningError(f"include={include!r} must be one of the grid's values {grid}")
    if n >= len(grid):
        return tuple(grid)
    if n == 1:
        index = [len(grid) // 2]
    else:
        index = list(np.unique(np.round(np.linspace(0, len(grid) - 1, n)).astype(int)))
    if include is not None:
        wanted = grid.index(studies.match_grid_value(include, grid))
        if wanted not in index:
            nearest = min(index, key=lambda i: (abs(i - wanted), i))
            index = sorted(set(index) - {nearest} | {wanted})
    return tuple(grid[i] for i in index)


def sweep_grids(n_trials: int, *, dropout_grid: Sequence[float] = DROPOUT_GRID,
                learning_rate_grid: Sequence[float] = LEARNING_RATE_GRID,
                start_learning_rate: float = ORIGINAL_HYPERPARAMETERS["learning_rate"]
                ) -> dict[str, tuple[float, ...]]:
    """The two stages' grids for ``n_trials`` values each.

    Each keeps the untuned model's value when its grid has it (dropout 0.25, learning rate
    ``start_learning_rate``): the original model is then a trial of stage 1, and stage 2's
    trial at the stage-1 learning rate is stage 1's best model, loaded from the model cache.

    Returns
    -------
    dict
        ``{"dropout_rate": (...), "learning_rate": (...)}``.
    """
    anchors = {"dropout_rate": ORIGINAL_HYPERPARAMETERS["dropout_rate"],
               "learning_rate": start_learning_rate}
    grids = {}
    for parameter, values in (("dropout_rate", dropout_grid),
                              ("learning_rate", learning_rate_grid)):
        sorted_values = sorted(float(v) for v in values)
        anchor = (anchors[parameter]
                  if studies.match_grid_value(anchors[parameter], sorted_values) else None)
        grids[parameter] = grid_subset(values, n_trials, include=anchor)
    return grids


def default_pruner(profile: config.Profile,
                   n_classes: int = len(config.EMOTIONS)) -> optuna.pruners.ThresholdPruner:
    """The sweep's pruner: stop a trial whose validation loss is no better than chance.

    Chance is ``ln(n_classes)``, the cross-entropy of a uniform guess. The rule applies after a
    warm-up of :data:`PRUNE_WARMUP_EPOCHS` epochs, or half of ``profile.max_epochs`` when that
    is less, and never under one epoch. A median rule is not used: on this task the validation
    curves of different settings cross after a long plateau (see the module's docstring).
    """
    warmup = max(1, min(PRUNE_WARMUP_EPOCHS, profile.max_epochs // 2))
    return optuna.pruners.ThresholdPruner(upper=math.log(n_classes), n_warmup_steps=warmup)


def sweep_split(items: pd.DataFrame, *, protocol: str, seed: int, n_folds: int,
                fold: int = 0) -> splits.Split:
    """The split a protocol's sweep searches on.

    ``original`` and ``clip-grouped`` have one split; for ``speaker-independent`` one fold
    (``fold``, default the first) is used to keep the cost of the search down: its training
    and validation actors are disjoint, and its test actors are never seen by the search.

    Raises
    ------
    TuningError
        If ``fold`` is not one of the protocol's folds.
    """
    split_list = experiments.make_splits(items, protocol=protocol, seed=seed, n_folds=n_folds)
    fold = check_int(fold, name="fold", minimum=0, error=TuningError)
    if fold >= len(split_list):
        raise TuningError(f"fold={fold!r} must be in [0, {len(split_list)}) for "
                          f"protocol={protocol!r}")
    return split_list[fold]


# ----------------------------------------------------------------------------------------------
# One trial
# ----------------------------------------------------------------------------------------------


def validation_metrics(model: keras.Model, x: np.ndarray, y: np.ndarray,
                       split: splits.Split) -> dict:
    """Both metric families on ``split.validation`` only (what the search may look at).

    Parameters
    ----------
    model : keras.Model
        A trained emotion model.
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
    y : np.ndarray [shape=(n_items,)]
        Integer emotion labels.
    split : splits.Split

    Returns
    -------
    dict
        As :func:`helpers.experiments.evaluate_emotion`, plus ``n_validation``.

    Raises
    ------
    TuningError
        If the split has no validation part.
    """
    if split.validation.size == 0:
        raise TuningError(f"split {split.name!r} has no validation items; the search needs them")
    probabilities = training.predict_proba(model, training.add_channel_axis(x[split.validation]))
    metrics = experiments.evaluate_emotion(y[split.validation], probabilities)
    metrics["n_validation"] = int(split.validation.size)
    return metrics


class _PruningCallback(keras.callbacks.Callback):
    """Report each epoch's validation loss to the trial; stop the trial when it is pruned, or
    when an earlier trial of a worker sharing the study holds its grid point (its twin)."""

    def __init__(self, trial: optuna.Trial, *, parameter: str, grid: Sequence[float],
                 monitor: str = OBJECTIVE):
        super().__init__()
        self.trial, self.parameter, self.grid, self.monitor = trial, parameter, grid, monitor

    def on_epoch_end(self, epoch, logs=None):
        studies.give_way(self.trial, self.parameter, self.grid)
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), step=int(epoch))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {epoch + 1}: {self.monitor} {float(value):.4f}")


def _train_trial(trial: optuna.Trial, x: np.ndarray, y: np.ndarray, split: splits.Split, *,
                 parameter: str, grid: Sequence[float], hyperparameters: dict,
                 profile: config.Profile, seed: int, data_key: str, builder: Callable,
                 force: bool, cache_folder) -> tuple[keras.Model, dict, bool]:
    # The trial's model is the one notebook 03 would train with the same settings: same recipe,
    # same cache key, so a tuned model is loaded rather than trained twice.
    recipe = experiments.emotion_recipe(profile, hyperparameters=hyperparameters, builder=builder)
    trained = training.train_recipe(recipe, x, y, split, seed=seed, data_key=data_key, force=force,
                                    cache_folder=cache_folder,
                                    callbacks=[_PruningCallback(trial, parameter=parameter,
                                                                grid=grid)])
    if trained.cached:
        # A cached model trained to the end; its curve still informs the pruner of later trials.
        for step, value in enumerate(trained.history.get(OBJECTIVE, [])):
            if math.isfinite(value):
                trial.report(float(value), step=step)
    return trained.model, trained.history, trained.cached


# ----------------------------------------------------------------------------------------------
# A stage: one study, a grid, resumable
# ----------------------------------------------------------------------------------------------


def _trials_frame(study: optuna.Study, parameter: str, grid: Sequence[float]) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        params = trial.system_attrs.get("fixed_params", trial.params)
        if parameter not in params or studies.DUPLICATE_OF in trial.user_attrs:
            continue
        attrs = trial.user_attrs
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else np.nan
        rows.append({
            "number": trial.number,
            "state": trial.state.name.lower(),
            "value": float(params[parameter]),
            "val_loss": float(trial.value) if trial.value is not None else np.nan,
            **{f"val_{k}": attrs.get(f"val_{k}", np.nan) for k in VALIDATION_KEYS if k != "loss"},
            "epochs": attrs.get("epochs", len(trial.intermediate_values)),
            "best_epoch": _best_epoch(trial.intermediate_values),
            "pruned_at_epoch": (max(trial.intermediate_values) + 1
                                if trial.state == optuna.trial.TrialState.PRUNED
                                and trial.intermediate_values else np.nan),
            "cached": attrs.get("cached", False),
            "seconds": seconds,
        })
    columns = ["number", "state", "value", "val_loss",
               *[f"val_{k}" for k in VALIDATION_KEYS if k != "loss"], "epochs", "best_epoch",
               "pruned_at_epoch", "cached", "seconds"]
    return pd.DataFrame(rows, columns=columns).sort_values("number", ignore_index=True)


def _best_epoch(losses: dict[int, float]) -> float:
    """1-based epoch whose weights early stopping kept, from a trial's reported losses (NaN if none).

    The same rule as the trials' early stopping (:func:`helpers.training.restored_epoch` with
    :data:`MIN_DELTA`); an epoch that reported no loss counts as no improvement.
    """
    if not losses:
        return np.nan
    series = [losses.get(step, np.nan) for step in range(max(losses) + 1)]
    return float(training.restored_epoch(series, MIN_DELTA))


# ----------------------------------------------------------------------------------------------
# The sweep
# ----------------------------------------------------------------------------------------------


def run_sweep(x: np.ndarray, items: pd.DataFrame, *, protocol: str, profile: config.Profile,
              seed: int, data_key: str, variant: str = "aggregation",
              storage: str | optuna.storages.BaseStorage | None = None,
              n_trials: int | None = None,
              dropout_grid: Sequence[float] = DROPOUT_GRID,
              learning_rate_grid: Sequence[float] = LEARNING_RATE_GRID,
              start_learning_rate: float = ORIGINAL_HYPERPARAMETERS["learning_rate"],
              fold: int = 0, split: splits.Split | None = None,
              builder: Callable = models.build_emotion_cnn,
              pruner: optuna.pruners.BasePruner | None = None, force: bool = False,
              max_attempts: int = 2, poll_s: float = 10.0, max_wait_s: float | None = 3600.0,
              cache_folder: str | Path | None = None,
              progress: Callable[[str], None] | None = None,
              jobs: int | None = None) -> SweepResult:
    """Run (or resume, or read back) the two-stage search of one protocol.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
        The variant's log-mels.
    items : pd.DataFrame
        The variant's item table, aligned with ``x``.
    protocol : str
        One of ``experiments.PROTOCOLS``; the search uses :func:`sweep_split`'s split.
    profile : config.Profile
        Epochs, patience and batch size of every trial; ``sweep_trials_per_stage`` sets how
        many grid values each stage tries (see :func:`sweep_grids`).
    seed : int
        Seed of the split, the weights and the shuffles; the same for every trial, so trials
        differ only in their hyperparameters.
    data_key : str
        Fingerprint of the features (``FeatureSet.key``); part of the study names and the
        model cache keys (as ``features.data_key(data_key, variant)``, as in notebook 03).
    variant : str
        The dataset variant ``x`` holds (the original tuned on ``"aggregation"``).
    storage : str, optuna storage or None
        Where the studies live: a SQLAlchemy URL, a storage object, or None/``""`` for
        SQLite under ``outputs/optuna/`` (:func:`helpers.studies.make_storage`).
    n_trials : int or None
        Grid values per stage; None for ``profile.sweep_trials_per_stage``.
    dropout_grid, learning_rate_grid : sequence of float
        The full grids of the two stages.
    start_learning_rate : float
        The learning rate held fixed while the dropout is searched (kept in stage 2's grid
        when that grid has it).
    fold : int
        Fold searched on under the speaker-independent protocol.
    split : splits.Split, optional
        Search on this split instead of :func:`sweep_split`'s.
    builder : callable
        Model builder taking ``dropout_rate`` and ``learning_rate`` keywords.
    pruner : optuna pruner, optional
        Default: :func:`default_pruner` (no better than chance after a warm-up of up to
        :data:`PRUNE_WARMUP_EPOCHS` epochs). Its settings are part of the study names.
    force : bool
        Delete this configuration's studies and retrain their models from scratch.
    max_attempts : int
        Failures after which a grid value is left out.
    poll_s, max_wait_s : float
        How often, and for how long at most (None: no limit), to wait for trials that another
        process is running.
    cache_folder : path-like, optional
        Model cache folder (default ``outputs/models/cache``).
    progress : callable, optional
        Called with a one-line status after each trial and stage.
    jobs : int, optional
        Trials trained at once: ``jobs - 1`` worker processes (:func:`helpers.parallel.alongside`)
        share the studies with this one, as workers on several machines would, and the result
        is the serial one (every grid value is trained once, with the same seed and threads, and
        each stage is decided when its whole grid is done). Default :func:`helpers.config.jobs`
        (``SER_JOBS``, 1). It pays on a machine with at least ``jobs`` × ``SER_THREADS`` cores.
        The search runs here alone when the storage is an object other processes cannot open
        (pass a URL) or with ``force`` (a worker could reopen a study that this process is about
        to delete); ``progress`` says so.

    Returns
    -------
    SweepResult

    Raises
    ------
    TuningError
        If the inputs disagree, a grid or setting is invalid, or a stage has no completed trial.
    helpers.studies.StudyError
        If the storage URL is not usable, or trials held by another process are still running
        after ``max_wait_s``.
    """
    if len(x) != len(items):
        raise TuningError(f"x has {len(x)} rows but items has {len(items)}; they must align")
    if protocol not in experiments.PROTOCOLS:
        raise TuningError(f"protocol={protocol!r} must be one of {experiments.PROTOCOLS}")
    max_attempts = check_int(max_attempts, name="max_attempts", minimum=1, error=TuningError)
    jobs = config.jobs() if jobs is None else check_int(jobs, name="jobs", minimum=1,
                                                        error=TuningError)
    n_trials = profile.sweep_trials_per_stage if n_trials is None else n_trials
    grids = sweep_grids(n_trials, dropout_grid=dropout_grid,
                        learning_rate_grid=learning_rate_grid,
                        start_learning_rate=start_learning_rate)
    if not all(0 <= v < 1 for v in grids["dropout_rate"]):
        raise TuningError(f"dropout_grid={list(dropout_grid)} must lie in [0, 1)")
    if not all(v > 0 for v in grids["learning_rate"]) or not start_learning_rate > 0:
        raise TuningError(f"learning rates {list(learning_rate_grid)} and start_learning_rate="
                          f"{start_learning_rate} must be > 0")
    start = time.perf_counter()
    y = experiments.emotion_labels(items)
    split = split if split is not None else sweep_split(items, protocol=protocol, seed=seed,
                                                        n_folds=profile.n_folds, fold=fold)
    if split.validation.size == 0:
        raise TuningError(f"split {split.name!r} has no validation items; the search needs them")
    storage_object = studies.as_storage(storage)
    model_data_key = features.data_key(data_key, variant)
    base_settings = {
        "version": SEARCH_VERSION, "objective": OBJECTIVE, "split": split.name,
        "train": config.stable_hash(split.train.tolist()),
        "validation": config.stable_hash(split.validation.tolist()),
        "epochs": profile.max_epochs, "patience": profile.early_stopping_patience,
        "batch_size": profile.batch_size, "seed": seed,
        "builder": f"{builder.__module__}.{builder.__qualname__}",
        # A library upgrade can change every trial's result, so it starts new studies.
        "versions": project_io.library_versions(),
    }
    pruner = pruner if pruner is not None else default_pruner(profile)
    base_settings["pruner"] = studies.describe_pruner(pruner)
    say = progress or (lambda message: None)
    shared_url = studies.shareable_url(storage, storage_object)
    workers = studies.worker_count(jobs, shared_url, storage_object, force=force, say=say,
                                   what="the sweep")
    if workers and _sweep_finished(storage_object, grids=grids, base_settings=base_settings,
                                   data_key=data_key, variant=variant, protocol=protocol,
                                   start_learning_rate=start_learning_rate):
        workers = 0
    worker_kwargs = dict(
        items=items, protocol=protocol, profile=profile, seed=seed, data_key=data_key,
        variant=variant, storage=shared_url, n_trials=n_trials,
        dropout_grid=tuple(dropout_grid), learning_rate_grid=tuple(learning_rate_grid),
        start_learning_rate=start_learning_rate, split=split, builder=builder, pruner=pruner,
        max_attempts=max_attempts, poll_s=poll_s, max_wait_s=max_wait_s,
        # This process's cache folder, not the one a fresh worker would derive.
        cache_folder=cache_folder if cache_folder is not None else config.model_cache_dir(),
        jobs=1)
    with parallel.alongside(_sweep_in_worker, x, worker_kwargs, workers=workers) as outcomes:
        results, fixed = _run_stages(x, y, split, grids=grids, base_settings=base_settings,
                                     data_key=data_key, variant=variant, protocol=protocol,
                                     storage_object=storage_object, seed=seed, pruner=pruner,
                                     start_learning_rate=start_learning_rate, profile=profile,
                                     model_data_key=model_data_key, builder=builder,
                                     force=force, cache_folder=cache_folder,
                                     max_attempts=max_attempts, poll_s=poll_s,
                                     max_wait_s=max_wait_s, progress=progress, say=say,
                                     lost=lambda: [studies.process_label(pid)
                                                   for pid in outcomes.exited()])
    in_workers = {"cached": 0, "trained": 0}
    names = [stage.study_name for stage in results]
    for k, outcome in enumerate(outcomes):
        if outcome["ok"]:
            in_workers = training.count_elsewhere(outcome["result"]["tally"], total=in_workers)
            if outcome["result"]["study_names"] != names:
                # Its settings described themselves otherwise after pickling (a pruner whose
                # description holds an address): it ran a sweep of its own, with the same result.
                warnings.warn(f"{protocol} sweep: worker {k + 1} used the studies "
                              f"{outcome['result']['study_names']}, this process {names}; it "
                              f"shared no trials", stacklevel=2)
        else:
            # The grid is complete without it: a value whose trial failed in the worker was
            # queued again and trained here (run_grid_stage), so the choice stands.
            message = (f"{protocol} sweep: worker {k + 1} of {workers} failed "
                       f"({outcome['error']}); its trials were run again in this process")
            warnings.warn(message, stacklevel=2)
            say(message)
    best_hyperparameters = {"dropout_rate": fixed["dropout_rate"],
                            "learning_rate": fixed["learning_rate"]}
    disagreeing = [outcome["result"]["best"] for outcome in outcomes
                   if outcome["ok"] and outcome["result"]["best"] != best_hyperparameters]
    if disagreeing:
        raise TuningError(f"{protocol} sweep: its workers chose {disagreeing}, this process "
                          f"{best_hyperparameters}; processes sharing a study must agree")
    return SweepResult(variant=variant, protocol=protocol, split=split, stages=results,
                       best=best_hyperparameters, seconds=time.perf_counter() - start,
                       workers=workers, in_workers=in_workers)


def _sweep_in_worker(x: np.ndarray, **kwargs) -> dict:
    """One worker of a shared sweep (:func:`helpers.parallel.alongside`): what it chose, and the
    models it loaded and trained (:func:`helpers.training.cache_tally`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = run_sweep(x, **kwargs)
    return {"best": result.best, "tally": training.cache_tally(),
            "study_names": [stage.study_name for stage in result.stages]}


def _run_stages(x, y, split, *, grids, base_settings, data_key, variant, protocol,
                storage_object, seed, pruner, start_learning_rate, profile, model_data_key,
                builder, force, cache_folder, max_attempts, poll_s, max_wait_s, progress, say,
                lost=None):
    """Both stages of :func:`run_sweep`, in order: their results and the chosen values."""
    fixed = {"learning_rate": float(start_learning_rate)}
    results = []
    for stage, parameter in STAGES:
        grid = grids[parameter]
        settings = _stage_settings(base_settings, stage, grid, fixed)
        name = studies.study_name(data_key=data_key, variant=variant, protocol=protocol,
                                  stage=stage, settings=settings)
        study = studies.open_study(
            name, storage=storage_object, direction="minimize",
            sampler=optuna.samplers.GridSampler({parameter: list(grid)}, seed=seed),
            pruner=pruner, force=force)
        study.set_user_attr("settings", {k: v for k, v in settings.items() if k != "versions"})
        study.set_user_attr("variant", variant)
        study.set_user_attr("protocol", protocol)
        objective = _objective(x, y, split, parameter=parameter, grid=grid, fixed=fixed,
                               profile=profile, seed=seed, data_key=model_data_key,
                               builder=builder, force=force, cache_folder=cache_folder,
                               say=say, label=f"{protocol} {stage}")
        status = studies.grid_status(study, parameter, grid)
        done_before = sum(s["done"] > 0 for s in status.values())
        if done_before:
            say(f"{protocol} {stage}: study {name} has {done_before}/{len(grid)} grid values "
                f"done; resuming" if done_before < len(grid) else
                f"{protocol} {stage}: study {name} is finished; reading it back")
        new = studies.run_grid_stage(study, parameter=parameter, grid=grid, objective=objective,
                                     max_attempts=max_attempts, poll_s=poll_s,
                                     max_wait_s=max_wait_s, progress=progress, lost=lost)
        trials = _trials_frame(study, parameter, grid)
        best = _best_trial(trials, name=name, parameter=parameter, grid=grid)
        results.append(StageResult(stage=stage, parameter=parameter, study_name=name, grid=grid,
                                   fixed=dict(fixed), best_value=float(best["value"]),
                                   best_score=float(best["val_loss"]), trials=trials,
                                   new_trials=new))
        say(f"{protocol} {stage}: best {parameter}={best['value']:g} "
            f"(validation loss {best['val_loss']:.4f}, UAR {best['val_uar']:.3f}); "
            f"{new} trials run now")
        fixed = {**fixed, parameter: float(best["value"])}
    return results, fixed


def _stage_settings(base_settings: dict, stage: str, grid: Sequence[float], fixed: dict) -> dict:
    """Everything a stage's study name holds: the sweep's settings, the stage, grid and fixed values."""
    return {**base_settings, "stage": stage, "grid": list(grid), "fixed": fixed}


def _best_trial(trials: pd.DataFrame, *, name: str, parameter: str,
                grid: Sequence[float]) -> pd.Series:
    """The completed trial with the lowest validation loss (a stage's choice)."""
    complete = trials[trials["state"] == "complete"]
    if complete.empty:
        raise TuningError(f"study {name!r}: no trial of {parameter} over {list(grid)} "
                          f"completed; nothing to choose from")
    return complete.loc[complete["val_loss"].idxmin()]


def _sweep_finished(storage_object, *, grids, base_settings, data_key, variant, protocol,
                    start_learning_rate) -> bool:
    """Whether both stages' studies exist with their whole grids done (a read-back needs no
    workers, and starting them would only cost their imports)."""
    fixed = {"learning_rate": float(start_learning_rate)}
    for stage, parameter in STAGES:
        grid = grids[parameter]
        name = studies.study_name(data_key=data_key, variant=variant, protocol=protocol,
                                  stage=stage,
                                  settings=_stage_settings(base_settings, stage, grid, fixed))
        study = studies.existing_study(name, storage_object)
        if study is None:
            return False
        if not all(s["done"] for s in studies.grid_status(study, parameter, grid).values()):
            return False
        trials = _trials_frame(study, parameter, grid)
        if (trials["state"] == "complete").sum() == 0:
            return False
        fixed = {**fixed, parameter: float(_best_trial(trials, name=name, parameter=parameter,
                                                        grid=grid)["value"])}
    return True


def _objective(x, y, split, *, parameter, grid, fixed, profile, seed, data_key, builder, force,
               cache_folder, say, label):
    def objective(trial: optuna.Trial) -> float:
        studies.mark_process(trial)  # a worker that dies has its trial failed at once
        if parameter == "learning_rate":
            value = trial.suggest_float(parameter, min(grid), max(grid), log=True)
        else:
            value = trial.suggest_float(parameter, min(grid), max(grid))
        studies.give_way(trial, parameter, grid)
        hyperparameters = {"dropout_rate": fixed.get("dropout_rate"),
                           "learning_rate": fixed.get("learning_rate"), parameter: float(value)}
        started = time.perf_counter()
        try:
            model, history, cached = _train_trial(
                trial, x, y, split, parameter=parameter, grid=grid,
                hyperparameters=hyperparameters, profile=profile, seed=seed, data_key=data_key,
                builder=builder, force=force, cache_folder=cache_folder)
            # A twin started by a worker sharing the study may have been invisible at the first
            # look (a model loaded from the cache has no epochs to look after).
            studies.give_way(trial, parameter, grid)
        except optuna.TrialPruned as pruned:
            say(f"{label}: trial {trial.number} {parameter}={value:g} pruned at {pruned}")
            raise
        metrics = validation_metrics(model, x, y, split)
        keras.backend.clear_session()
        epochs = len(history.get("loss", []))
        for key in VALIDATION_KEYS:
            trial.set_user_attr(f"val_{key}", float(metrics[key]))
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("cached", bool(cached))
        how = "cached" if cached else f"{epochs} epochs"
        say(f"{label}: trial {trial.number} {parameter}={value:g}: validation loss "
            f"{metrics['loss']:.4f}, UAR {metrics['uar']:.3f} ({how}, "
            f"{time.perf_counter() - started:.0f} s)")
        return float(metrics["loss"])

    return objective


# ----------------------------------------------------------------------------------------------
# Table 2 and the comparison of protocols
# ----------------------------------------------------------------------------------------------


def table2(x: np.ndarray, items: pd.DataFrame, sweep: SweepResult, *, profile: config.Profile,
           seed: int, data_key: str,
           original: dict = ORIGINAL_HYPERPARAMETERS, force: bool = False,
           builder: Callable = models.build_emotion_cnn,
           cache_folder: str | Path | None = None
           ) -> tuple[pd.DataFrame, dict[str, experiments.FoldResult], dict[str, keras.Model]]:
    """Original vs tuned model, each trained once and tested once on the sweep's test part.

    Parameters
    ----------
    x, items : as :func:`run_sweep`
    sweep : SweepResult
        Its split and chosen hyperparameters.
    original : dict
        The untuned hyperparameters (notebook 03's).
    profile, seed, data_key, force, builder, cache_folder : as :func:`run_sweep`

    Returns
    -------
    table : pd.DataFrame
        Rows ``original``, ``tuned``, ``difference`` (tuned minus original) with columns
        ``model, variant, protocol, split, n_test``, ``experiments.TABLE1_METRICS``,
        ``dropout_rate``/``dropout`` and ``learning_rate``, and ``published_*`` (the report's
        Table 2: ``loss, accuracy_binary, auc, precision, recall, f1_original``).
    folds : dict of str to FoldResult
        ``"original"`` and ``"tuned"`` (their histories draw the training curves).
    models : dict of str to keras.Model

    Raises
    ------
    TuningError
        If ``original`` lacks a hyperparameter.
    """
    missing = {"dropout_rate", "learning_rate"} - set(original)
    if missing:
        raise TuningError(f"original={original!r} lacks {sorted(missing)}")
    y = experiments.emotion_labels(items)
    folds, trained, rows = {}, {}, []
    for name, hyperparameters in (("original", original), ("tuned", sweep.best)):
        hyperparameters = {"dropout_rate": float(hyperparameters["dropout_rate"]),
                           "learning_rate": float(hyperparameters["learning_rate"])}
        fold, model = experiments.train_split(
            x, y, sweep.split, hyperparameters=hyperparameters, profile=profile, seed=seed,
            data_key=features.data_key(data_key, sweep.variant), force=force, builder=builder,
            cache_folder=cache_folder)
        folds[name], trained[name] = fold, model
        rows.append({"model": name, "variant": sweep.variant, "protocol": sweep.protocol,
                     "split": sweep.split.name, "n_test": int(sweep.split.test.size),
                     **{k: float(fold.metrics[k]) for k in experiments.TABLE1_METRICS},
                     "dropout": hyperparameters["dropout_rate"],
                     "learning_rate": hyperparameters["learning_rate"],
                     "epochs": len(fold.history.get("loss", []))})
    difference = {"model": "difference", "variant": sweep.variant, "protocol": sweep.protocol,
                  "split": sweep.split.name, "n_test": rows[0]["n_test"]}
    for key in (*experiments.TABLE1_METRICS, "dropout", "learning_rate", "epochs"):
        difference[key] = rows[1][key] - rows[0][key]
    rows.append(difference)
    table = pd.DataFrame(rows)
    published = _published_rows()
    table = table.merge(published, on="model", how="left")
    return table, folds, trained


def _published_rows() -> pd.DataFrame:
    reported = evaluation.ORIGINAL_TABLE2
    rows = []
    for name in TABLE2_ROWS:
        if name == "difference":
            values = {k: reported["tuned"][k] - reported["original"][k] for k in _PUBLISHED_KEYS}
        else:
            values = reported[name]
        rows.append({"model": name, **{f"published_{ours}": round(values[theirs], 6)
                                       for theirs, ours in _PUBLISHED_KEYS.items()}})
    return pd.DataFrame(rows)


def agreement(sweeps: Sequence[SweepResult]) -> dict:
    """Do the protocols choose the same values, and do they match the report's choice?

    Returns
    -------
    dict
        ``chosen`` (protocol → hyperparameters), ``agree`` (parameter → bool: every protocol
        chose the same value), ``grid_steps_apart`` (parameter → largest distance between the
        protocols' choices, in steps of that stage's grid), ``matches_report`` (protocol →
        parameter → bool, against dropout 0.25 / learning rate 0.0022).
    """
    if not sweeps:
        raise TuningError("sweeps=[] must hold at least one sweep")
    chosen = {s.protocol: dict(s.best) for s in sweeps}
    agree, steps = {}, {}
    for stage_name, parameter in STAGES:
        values = [s.best[parameter] for s in sweeps]
        agree[parameter] = all(math.isclose(v, values[0], rel_tol=1e-9) for v in values)
        grid = list(sweeps[0].stage(stage_name).grid)
        matched = [studies.match_grid_value(v, grid) for v in values]
        positions = [grid.index(m) for m in matched if m is not None]
        steps[parameter] = (max(positions) - min(positions)) if len(positions) == len(values) \
            else None
    matches = {s.protocol: {p: math.isclose(s.best[p], REPORTED_TUNED_HYPERPARAMETERS[p],
                                            rel_tol=1e-9) for p in s.best} for s in sweeps}
    return {"chosen": chosen, "agree": agree, "grid_steps_apart": steps,
            "matches_report": matches}


def training_depth(trials: pd.DataFrame, *, early_epoch: int = 2) -> pd.DataFrame:
    """How far the completed trials trained before their best validation loss, per protocol.

    Early stopping keeps each trial's best weights; when most trials have their lowest
    validation loss within the first ``early_epoch`` epochs, the search compares barely trained
    models and its choice says little about the hyperparameters.

    Parameters
    ----------
    trials : pd.DataFrame
        Rows of :meth:`SweepResult.trials_table` (``protocol``, ``state``, ``best_epoch``).
    early_epoch : int
        A best epoch at or before this one counts as early.

    Returns
    -------
    pd.DataFrame
        One row per protocol: ``n_complete``, ``median_best_epoch``, ``best_by_early_epoch``
        (trials whose best epoch is at most ``early_epoch``) and ``barely_trained`` (more than
        half of them are).
    """
    missing = {"protocol", "state", "best_epoch"} - set(trials.columns)
    if missing:
        raise TuningError(f"trials lacks columns {sorted(missing)}")
    rows = []
    for protocol, group in trials[trials["state"] == "complete"].groupby("protocol", sort=False):
        best = group["best_epoch"].dropna()
        early = int((best <= early_epoch).sum())
        rows.append({"protocol": protocol, "n_complete": len(group),
                     "median_best_epoch": float(best.median()) if len(best) else np.nan,
                     "best_by_early_epoch": early, "barely_trained": early > len(group) / 2})
    return pd.DataFrame(rows, columns=["protocol", "n_complete", "median_best_epoch",
                                       "best_by_early_epoch", "barely_trained"])


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of ``frame`` as JSON-ready dicts (NaN becomes None, numpy scalars Python numbers)."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 v.item() if isinstance(v, np.generic) else v)
             for k, v in row.items()} for row in frame.to_dict(orient="records")]
