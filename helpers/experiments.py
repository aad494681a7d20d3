"""Train and test the emotion CNN on one variant under one evaluation protocol.

Protocols, one code path:

- ``original``: a random 60/20/20 split of the variant's items, stratified by emotion, as the
  original work did. It leaks: the same actor is on both sides, and in the aggregation variant
  the noisy copies of one recording are spread over train and test.
- ``clip-grouped``: every version of one recording on the same side (actors still shared).
- ``speaker-independent``: k-fold over actors, each test fold gender-balanced, validation actors
  taken from the training actors; reported as mean ± std over folds.

Splits are made on the variant's item table, whose rows carry ``clip_id`` and ``actor``, so the
grouping holds for every noisy version of a clip: no test actor's audio, clean or noisy,
reaches training under the speaker-independent protocol. Each clip's noise is seeded by its
own identity, so building the variants before or after the split gives the same arrays.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from helpers import channel, config, evaluation, features, functionals, model_files, recipes, splits, training
from helpers.errors import ConfigError

PROTOCOLS: tuple[str, ...] = ("original", "clip-grouped", "speaker-independent")
TABLE1_METRICS: tuple[str, ...] = (
    "loss", "accuracy_binary", "auc", "precision", "recall", "f1_original",
    "accuracy", "uar", "macro_f1",
)


@dataclasses.dataclass
class FoldResult:
    """What one trained split produced."""

    split: splits.Split
    metrics: dict
    history: dict
    y_true: np.ndarray
    probabilities: np.ndarray
    cached: bool
    seconds: float = 0.0
    train_samples_per_s: float | None = None


@dataclasses.dataclass
class ProtocolResult:
    """All folds of one variant × protocol, and the model of the first fold."""

    variant: str
    protocol: str
    folds: list[FoldResult]
    model: object
    hyperparameters: dict
    recipe: str = "original"
    mode: str = "single-clip"

    def row(self) -> dict:
        """One Table 1 row: metric means (and ``*_std`` over folds for k-fold protocols)."""
        rows = [{k: fold.metrics[k] for k in TABLE1_METRICS} for fold in self.folds]
        summary = evaluation.summarise_folds(rows, keys=TABLE1_METRICS)
        row = {"recipe": self.recipe, "mode": self.mode, "variant": self.variant,
               "protocol": self.protocol, "folds": len(self.folds),
               "n_test": int(sum(len(f.split.test) for f in self.folds))}
        for key in TABLE1_METRICS:
            row[key] = summary[key]
            if len(self.folds) > 1:
                row[f"{key}_std"] = summary[f"{key}_std"]
        return row

    def confusion(self) -> np.ndarray:
        """Confusion matrix summed over folds (rows: true emotion)."""
        return np.sum([np.asarray(f.metrics["confusion"]) for f in self.folds], axis=0)

    def record(self, *, detailed: bool = True) -> dict:
        """A JSON-ready record for a metrics file: the Table 1 row, the summed confusion
        matrix and the epochs each fold ran; ``detailed`` adds each fold's per-class metrics
        and its split (``Split.to_dict``)."""
        record: dict = {"row": self.row()}
        if detailed:
            record["per_class"] = [fold.metrics["per_class"] for fold in self.folds]
        record["confusion"] = self.confusion().tolist()
        if detailed:
            record["splits"] = [fold.split.to_dict() if hasattr(fold.split, "to_dict")
                                else fold.split.name for fold in self.folds]
        record["epochs"] = [len(fold.history.get("loss", [])) for fold in self.folds]
        return record


def make_splits(items: pd.DataFrame, *, protocol: str, seed: int, n_folds: int) -> list[splits.Split]:
    """The splits of a protocol over a variant's item table.

    Raises
    ------
    ConfigError
        If ``protocol`` is not one of ``PROTOCOLS``.
    """
    if protocol == "original":
        return [splits.original_split(items, seed=seed)]
    if protocol == "clip-grouped":
        return [splits.clip_grouped_split(items, seed=seed)]
    if protocol == "speaker-independent":
        return splits.speaker_folds(items, n_folds=n_folds, seed=seed)
    raise ConfigError(f"protocol={protocol!r} must be one of {PROTOCOLS}")


def emotion_labels(items: pd.DataFrame) -> np.ndarray:
    """Integer emotion labels (0..7, in ``config.EMOTIONS`` order) of an item table."""
    return items["emotion_code"].to_numpy(dtype=np.int64) - 1


def emotion_recipe(profile: config.Profile, *, hyperparameters: dict | None = None,
                   builder: Callable | None = None,
                   recipe: recipes.Recipe | None = None) -> recipes.Recipe:
    """The recipe one emotion split trains with, filled in for a run profile.

    ``recipe`` defaults to the reconstruction (``original``); ``hyperparameters`` and
    ``builder``, when given, replace the recipe's (a tuning trial, a test's tiny model).
    """
    recipe = recipe or recipes.original_emotion()
    if builder is not None:
        recipe = recipe.replace(builder=builder)
    if hyperparameters is not None:
        recipe = recipe.replace(hyperparameters=dict(hyperparameters))
    return recipe.for_profile(profile)


def train_split(x: np.ndarray, y: np.ndarray, split: splits.Split, *, hyperparameters: dict | None = None,
                profile: config.Profile, seed: int, data_key: str, force: bool = False,
                builder: Callable | None = None, extra_inputs: dict | None = None,
                cache_folder: str | Path | None = None,
                recipe: recipes.Recipe | None = None,
                augmented: list[np.ndarray] | tuple = ()) -> tuple[FoldResult, object]:
    """Train on ``split.train`` (stopping on ``split.validation``), test on ``split.test``.

    A recipe whose solver reads no validation data (L-BFGS) fits on both parts
    (:func:`helpers.training.train_recipe`); the result's ``split`` is the one fitted.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames) or (n_items, n_features)]
        Log-mel spectrograms, or functionals for a recipe that takes them.
    y : np.ndarray [shape=(n_items,)]
        Integer class labels.
    hyperparameters : dict, optional
        Keyword arguments of the recipe's builder (e.g. ``dropout_rate``, ``learning_rate``);
        default: the recipe's own.
    data_key : str
        Identity of ``x`` (the feature cache key and variant); with the split indices and the
        recipe it keys the model cache, so an unchanged rerun loads the model.
    extra_inputs : dict, optional
        ``{input_name: np.ndarray [shape=(n_items, ...)]}`` for multi-input models (fusion);
        they are fed beside the spectrogram, whose input is named ``"log_mel"``.
    recipe : helpers.recipes.Recipe, optional
        How to train (default: ``original``); see :func:`emotion_recipe`.
    augmented : sequence of np.ndarray
        Speed-perturbed copies of ``x`` for the recipe's ``speed_perturbation``
        (:func:`recipe_features`).

    Returns
    -------
    result : FoldResult
    model : keras.Model
        The trained (or cached) model.
    """
    recipe = emotion_recipe(profile, hyperparameters=hyperparameters, builder=builder, recipe=recipe)
    trained = training.train_recipe(recipe, x, y, split, seed=seed, data_key=data_key, force=force,
                                    cache_folder=cache_folder, extra_inputs=extra_inputs,
                                    augmented=augmented)
    probabilities = training.predict_recipe(trained.model, recipe, x, split.test, augmented=augmented,
                                           extra_inputs=extra_inputs)
    metrics = evaluate_emotion(y[split.test], probabilities)
    return FoldResult(split=trained.split, metrics=metrics, history=trained.history, y_true=y[split.test],
                      probabilities=probabilities, cached=trained.cached,
                      seconds=trained.seconds,
                      train_samples_per_s=trained.train_samples_per_s), trained.model


def recipe_features(recipe: recipes.Recipe, items: pd.DataFrame, *, max_workers: int | None = None,
                    progress=None, log_mels: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The inputs a recipe takes for an item table, and its perturbed copies.

    Functionals are extracted through the per-file content cache
    (:func:`helpers.functionals.extract`); a log-mel recipe (the frame GMM of ``ours`` gender)
    gets each file's clean log-mel window: ``log_mels`` when the caller has them (a feature
    set's clean variant, row for row with ``items``: the notebooks), else computed
    (:func:`log_mel_windows`); its copies are those windows through random microphone and room
    responses (``recipe.channel_copies`` of them, :func:`helpers.channel.response_copy`).

    Returns
    -------
    x : np.ndarray [shape=(n_items, n_features) or (n_items, n_mels, n_frames)]
    augmented : list of np.ndarray [shape like ``x``]
        One per speed of ``recipe.speed_perturbation``, then one per multi-condition copy
        (``recipe.channel_copies``); empty for none.
    """
    if recipe.features == "log_mel":
        if log_mels is None:
            log_mels = log_mel_windows(items["path"].tolist(), progress=progress)
        elif len(log_mels) != len(items):
            raise ConfigError(f"log_mels has {len(log_mels)} rows but items has {len(items)}; "
                              f"expected the clean log-mels of items, row for row")
        log_mels = np.asarray(log_mels)
        return log_mels, [channel.response_copy(log_mels, copy=copy, fmin=config.FEATURES.fmin,
                                                fmax=config.FEATURES.fmax)
                          for copy in range(recipe.channel_copies)]
    kwargs = {"feature_set": recipe.features, "max_workers": max_workers, "progress": progress,
              **recipe.signal_options}
    x = functionals.extract_for_items(items, **kwargs)
    return x, ([functionals.extract_for_items(items, speed=speed, **kwargs)
                for speed in recipe.speed_perturbation]
               + [functionals.extract_for_items(items, condition_copy=copy,
                                                trim_after_chain=recipe.trim_after_chain, **kwargs)
                  for copy in range(recipe.channel_copies)])


def log_mel_windows(paths: Sequence, *, feature_config: config.FeatureConfig = config.FEATURES,
                    progress=None, chunk: int = 64) -> np.ndarray:
    """The clean log-mel window of each file, as the feature builder and prediction make it:
    ``features.log_mel(audio.load_window(path))``, in order.

    Raises
    ------
    ConfigError
        If ``paths`` is empty.
    helpers.errors.AudioError
        If a file cannot be read or its window is silent (the message names the file).
    """
    from helpers import audio

    paths = list(paths)
    if not paths:
        raise ConfigError("paths is empty; expected at least one audio file")
    windows = []
    for start in range(0, len(paths), chunk):
        signals = np.stack([audio.load_window(path, feature_config=feature_config)
                            for path in paths[start:start + chunk]])
        windows.append(features.log_mel(signals, feature_config=feature_config))
        if progress is not None:
            progress(min(start + chunk, len(paths)), len(paths))
    return np.concatenate(windows)


def prepare_inputs(x: np.ndarray, items: pd.DataFrame, *, recipe: recipes.Recipe,
                   mode: str) -> np.ndarray:
    """A recipe's inputs under an evaluation mode.

    ``single-clip`` leaves ``x`` as it is. ``speaker-adaptive`` z-scores each actor's
    functionals over that actor's own items (training and test actors alike): it uses the test
    speaker's unlabelled audio, so it stands for a deployment with enrollment recordings.

    Raises
    ------
    ConfigError
        If ``mode`` is unknown, or speaker-adaptive is asked of a log-mel recipe.
    """
    if mode not in recipes.MODES:
        raise ConfigError(f"mode={mode!r} must be one of {recipes.MODES}")
    if mode == "speaker-adaptive" and recipe.features == "log_mel":
        raise ConfigError(f"mode='speaker-adaptive' needs a functionals recipe; recipe "
                          f"{recipe.name!r} takes log-mel spectrograms")
    return functionals.apply_mode(x, items, mode=mode)


def evaluate_emotion(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Both metric families: the original's (binary-accuracy quirk) and the standard SER ones."""
    return {
        **evaluation.original_metrics(y_true, probabilities, n_classes=len(config.EMOTIONS)),
        **evaluation.standard_metrics(y_true, probabilities, labels=config.EMOTIONS),
    }


def run_protocol(x: np.ndarray, items: pd.DataFrame, *, variant: str, protocol: str,
                 profile: config.Profile, hyperparameters: dict | None, seed: int, data_key: str,
                 force: bool = False, builder: Callable | None = None,
                 extra_inputs: dict | None = None, progress: Callable[[str], None] | None = None,
                 split_list: list[splits.Split] | None = None,
                 recipe: recipes.Recipe | None = None, mode: str = "single-clip",
                 augmented: list[np.ndarray] | tuple = (), jobs: int | None = None) -> ProtocolResult:
    """Run every split of a protocol on one variant and collect the results.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames) or (n_items, n_features)]
        Log-mel spectrograms, or functionals for a recipe that takes them.
    items : pd.DataFrame
        The variant's item table, aligned with ``x``.
    recipe : helpers.recipes.Recipe, optional
        How to train (default: ``original``).
    mode : str
        ``"single-clip"`` or ``"speaker-adaptive"``: every actor's functionals standardised
        over that actor's own items first (:func:`prepare_inputs`).
    augmented : sequence of np.ndarray
        Speed-perturbed copies of ``x`` for the recipe (:func:`recipe_features`).
    split_list : list of Split, optional
        Use these splits instead of making them (to compare models on identical folds).
    progress : callable, optional
        Called with a one-line status after each split.
    jobs : int, optional
        Train up to this many splits at once in worker processes (:mod:`helpers.parallel`),
        then score them here as a serial run would: the same numbers. Default
        :func:`helpers.config.jobs` (``SER_JOBS``, 1).
    """
    if len(x) != len(items):
        raise ConfigError(f"x has {len(x)} rows but items has {len(items)}")
    y = emotion_labels(items)
    used = emotion_recipe(profile, recipe=recipe)
    x = prepare_inputs(x, items, recipe=used, mode=mode)
    augmented = [prepare_inputs(copy, items, recipe=used, mode=mode) for copy in augmented]
    split_list = split_list or make_splits(items, protocol=protocol, seed=seed, n_folds=profile.n_folds)
    common = {"hyperparameters": hyperparameters, "profile": profile, "seed": seed,
              "data_key": features.data_key(data_key, variant), "builder": builder,
              "extra_inputs": extra_inputs, "recipe": recipe, "augmented": augmented}
    jobs = config.jobs() if jobs is None else jobs
    in_workers = [None] * len(split_list)
    if jobs > 1 and len(split_list) > 1:
        from helpers import parallel

        in_workers = parallel.train_splits(
            x, [{"y": y, "split": split, "force": force, **common} for split in split_list], jobs=jobs)
    folds, first_model = [], None
    for split, worker in zip(split_list, in_workers):
        # A model a worker trained is in the cache now: load it (force would train it again).
        fold, model = train_split(x, y, split, force=force and worker is None, **common)
        if worker is not None and not worker["cached"]:
            fold = dataclasses.replace(fold, cached=False, seconds=worker["seconds"],
                                       train_samples_per_s=worker["train_samples_per_s"])
            training.count_as_trained()
        folds.append(fold)
        if first_model is None:
            first_model = model
        if progress is not None:
            progress(f"{variant:12s} {protocol:20s} {split.name:22s} "
                     f"{'cached' if fold.cached else training.describe_fit(fold.history)}: "
                     f"UAR {fold.metrics['uar']:.3f}, accuracy {fold.metrics['accuracy']:.3f}")
    used = emotion_recipe(profile, hyperparameters=hyperparameters, builder=builder, recipe=recipe)
    return ProtocolResult(variant=variant, protocol=protocol, folds=folds, model=first_model,
                          hyperparameters=used.params, recipe=used.name, mode=mode)


def results_record(results: dict, ours_results: dict | None = None) -> dict:
    """Notebook 03's results for its metrics file, one :meth:`ProtocolResult.record` a run.

    Parameters
    ----------
    results : dict of (variant, protocol) to ProtocolResult
        The reconstruction's runs, keyed ``"variant/protocol"`` in the record (detailed).
    ours_results : dict of (protocol, mode) to ProtocolResult, optional
        The ``ours`` runs, keyed ``"ours/protocol/mode"`` (without per-class metrics and splits).

    Returns
    -------
    dict
    """
    record = {f"{variant}/{protocol}": result.record()
              for (variant, protocol), result in results.items()}
    record.update({f"ours/{protocol}/{mode}": result.record(detailed=False)
                   for (protocol, mode), result in (ours_results or {}).items()})
    return record


def save_protocol_model(result: ProtocolResult, path: str | Path, *, feature_config: config.FeatureConfig,
                        data_fingerprint: str, noise_config: dict | None = None,
                        extra: dict | None = None) -> tuple[Path, Path]:
    """Save the first fold's model with the sidecar that prediction code needs."""
    fold = result.folds[0]
    sidecar = {
        "task": "emotion",
        "labels": list(config.EMOTIONS),
        "feature_config": feature_config.to_dict(),
        "variant": result.variant,
        "protocol": result.protocol,
        "split": fold.split.name,
        "test_actors": list(fold.split.test_actors) if fold.split.test_actors else None,
        "hyperparameters": result.hyperparameters,
        "data_fingerprint": data_fingerprint,
        "noise_config": noise_config,
        "metrics": {k: fold.metrics[k] for k in TABLE1_METRICS},
        "epochs_trained": len(fold.history.get("loss", [])),
        **(extra or {}),
    }
    return model_files.save_model_with_sidecar(result.model, path, sidecar=sidecar)


def matching_copies(recipe: recipes.Recipe, variant: recipes.Recipe, augmented: Sequence[np.ndarray]) -> list:
    """The perturbed copies ``variant`` takes, out of those made for ``recipe`` (its speeds and
    its first multi-condition copies)."""
    speeds = list(recipe.speed_perturbation)
    chosen = [augmented[speeds.index(speed)] for speed in variant.speed_perturbation]
    return chosen + list(augmented[len(speeds): len(speeds) + variant.channel_copies])


def run_ablation(x: np.ndarray, items: pd.DataFrame, *, recipe: recipes.Recipe,
                 profile: config.Profile, seed: int, data_key: str, mode: str = "single-clip",
                 augmented: list[np.ndarray] | tuple = (), force: bool = False,
                 progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Speaker-independent UAR of a recipe and of each variant with one part taken out.

    The variants come from :func:`helpers.recipes.ablation`; all are trained on the same folds.

    Returns
    -------
    pd.DataFrame
        One row per variant: ``variant, mode, uar, uar_std, accuracy, macro_f1,
        delta_uar`` (against the full recipe) and ``seconds`` (training, all folds).
    """
    rows = []
    for name, variant in recipes.ablation(recipe).items():
        result = run_protocol(x, items, variant="clean", protocol="speaker-independent",
                              profile=profile, hyperparameters=None, seed=seed,
                              data_key=data_key, force=force, recipe=variant, mode=mode,
                              augmented=matching_copies(recipe, variant, augmented))
        row = result.row()
        rows.append({"variant": name, "mode": mode, "uar": row["uar"], "uar_std": row["uar_std"],
                     "accuracy": row["accuracy"], "macro_f1": row["macro_f1"],
                     "seconds": round(sum(f.seconds for f in result.folds), 1)})
        if progress is not None:
            progress(f"ablation {name:40s} UAR {row['uar']:.3f} ± {row['uar_std']:.3f}")
    table = pd.DataFrame(rows)
    table.insert(4, "delta_uar", table["uar"] - table["uar"].iloc[0])
    return table
