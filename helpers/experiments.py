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
from typing import Callable

import numpy as np
import pandas as pd

from helpers import config, evaluation, models, splits, training
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


@dataclasses.dataclass
class ProtocolResult:
    """All folds of one variant × protocol, and the model of the first fold."""

    variant: str
    protocol: str
    folds: list[FoldResult]
    model: object
    hyperparameters: dict

    def row(self) -> dict:
        """One Table 1 row: metric means (and ``*_std`` over folds for k-fold protocols)."""
        rows = [{k: fold.metrics[k] for k in TABLE1_METRICS} for fold in self.folds]
        summary = evaluation.summarise_folds(rows, keys=TABLE1_METRICS)
        row = {"variant": self.variant, "protocol": self.protocol, "folds": len(self.folds),
               "n_test": int(sum(len(f.split.test) for f in self.folds))}
        for key in TABLE1_METRICS:
            row[key] = summary[key]
            if len(self.folds) > 1:
                row[f"{key}_std"] = summary[f"{key}_std"]
        return row

    def confusion(self) -> np.ndarray:
        """Confusion matrix summed over folds (rows: true emotion)."""
        return np.sum([np.asarray(f.metrics["confusion"]) for f in self.folds], axis=0)


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


def normalization_stats(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of training features (scalars, float64 accumulation)."""
    return float(np.mean(x, dtype=np.float64)), float(np.std(x, dtype=np.float64))


def model_key(*, data_key: str, builder: Callable, hyperparameters: dict, split: splits.Split,
              profile: config.Profile, seed: int, extra_inputs: dict | None = None) -> str:
    """Model-cache key of one trained split: everything that determines its weights.

    Shared with the tuning sweep, so a trial's model is the cached model notebook 03 loads.
    """
    return training.training_key(
        data_key=data_key, builder=builder, hyperparameters=hyperparameters,
        train=split.train, validation=split.validation, epochs=profile.max_epochs,
        patience=profile.early_stopping_patience, batch_size=profile.batch_size, seed=seed,
        extra=sorted(extra_inputs) if extra_inputs else None,
        extra_values=[extra_inputs[k] for k in sorted(extra_inputs)] if extra_inputs else None,
    )


def train_split(x: np.ndarray, y: np.ndarray, split: splits.Split, *, hyperparameters: dict,
                profile: config.Profile, seed: int, data_key: str, force: bool = False,
                builder: Callable = models.build_emotion_cnn, extra_inputs: dict | None = None,
                cache_folder: str | Path | None = None) -> tuple[FoldResult, object]:
    """Train on ``split.train`` (early stopping on ``split.validation``), test on ``split.test``.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
    y : np.ndarray [shape=(n_items,)]
        Integer class labels.
    hyperparameters : dict
        Keyword arguments of ``builder`` (e.g. ``dropout_rate``, ``learning_rate``).
    data_key : str
        Identity of ``x`` (the feature cache key and variant); with the split indices and the
        hyperparameters it keys the model cache, so an unchanged rerun loads the model.
    extra_inputs : dict, optional
        ``{input_name: np.ndarray [shape=(n_items, ...)]}`` for multi-input models (fusion);
        they are fed beside the spectrogram, whose input is named ``"log_mel"``.

    Returns
    -------
    result : FoldResult
    model : keras.Model
        The trained (or cached) model.
    """
    n_classes = len(config.EMOTIONS)
    x_train = x[split.train]
    normalization = normalization_stats(x_train)

    def inputs(index):
        spectrogram = training.add_channel_axis(x[index])
        if not extra_inputs:
            return spectrogram
        return {"log_mel": spectrogram, **{k: v[index] for k, v in extra_inputs.items()}}

    one_hot = np.eye(n_classes, dtype=np.float32)[y]
    key = model_key(data_key=data_key, builder=builder, hyperparameters=hyperparameters,
                    split=split, profile=profile, seed=seed, extra_inputs=extra_inputs)
    input_shape = (x.shape[1], x.shape[2], 1)

    def build():
        return builder(input_shape, normalization=normalization, seed=seed, **hyperparameters)

    def fit(model):
        return training.fit_model(
            model, inputs(split.train), one_hot[split.train],
            x_val=inputs(split.validation), y_val=one_hot[split.validation],
            epochs=profile.max_epochs, batch_size=profile.batch_size,
            patience=profile.early_stopping_patience, min_delta=0.03, seed=seed)

    model, history, cached = training.train_or_load(key, build=build, fit=fit, force=force,
                                                     folder=cache_folder)
    probabilities = training.predict_proba(model, inputs(split.test))
    metrics = evaluate_emotion(y[split.test], probabilities)
    return FoldResult(split=split, metrics=metrics, history=history, y_true=y[split.test],
                      probabilities=probabilities, cached=cached), model


def evaluate_emotion(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Both metric families: the original's (binary-accuracy quirk) and the standard SER ones."""
    return {
        **evaluation.original_metrics(y_true, probabilities, n_classes=len(config.EMOTIONS)),
        **evaluation.standard_metrics(y_true, probabilities, labels=config.EMOTIONS),
    }


def run_protocol(x: np.ndarray, items: pd.DataFrame, *, variant: str, protocol: str,
                 profile: config.Profile, hyperparameters: dict, seed: int, data_key: str,
                 force: bool = False, builder: Callable = models.build_emotion_cnn,
                 extra_inputs: dict | None = None, progress: Callable[[str], None] | None = None,
                 split_list: list[splits.Split] | None = None) -> ProtocolResult:
    """Run every split of a protocol on one variant and collect the results.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_mels, n_frames)]
    items : pd.DataFrame
        The variant's item table, aligned with ``x``.
    split_list : list of Split, optional
        Use these splits instead of making them (to compare models on identical folds).
    progress : callable, optional
        Called with a one-line status after each split.
    """
    if len(x) != len(items):
        raise ConfigError(f"x has {len(x)} rows but items has {len(items)}")
    y = emotion_labels(items)
    split_list = split_list or make_splits(items, protocol=protocol, seed=seed, n_folds=profile.n_folds)
    folds, first_model = [], None
    for split in split_list:
        fold, model = train_split(x, y, split, hyperparameters=hyperparameters, profile=profile,
                                  seed=seed, data_key=f"{data_key}:{variant}", force=force,
                                  builder=builder, extra_inputs=extra_inputs)
        folds.append(fold)
        if first_model is None:
            first_model = model
        if progress is not None:
            epochs = len(fold.history.get("loss", []))
            progress(f"{variant:12s} {protocol:20s} {split.name:22s} "
                     f"{'cached' if fold.cached else f'{epochs} epochs'}: "
                     f"UAR {fold.metrics['uar']:.3f}, accuracy {fold.metrics['accuracy']:.3f}")
    return ProtocolResult(variant=variant, protocol=protocol, folds=folds, model=first_model,
                          hyperparameters=dict(hyperparameters))


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
    return training.save_model_with_sidecar(result.model, path, sidecar=sidecar)
