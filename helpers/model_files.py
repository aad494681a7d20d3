"""A model and its sidecar on disk: written as one unit, read back and checked.

* :func:`save_model_with_sidecar` / :func:`load_model_with_sidecar` -- a ``.keras`` model with a
  JSON sidecar holding what is needed to use it (feature configuration, label order). The
  sidecar records the model file's SHA-256, so a model and a sidecar that were not written
  together are refused when read back.
* :func:`architecture_digest` -- a short hash of a compiled model's configuration, which names
  the entries of the content-addressed model cache.
* :func:`cache_entry_paths`, :func:`read_cache_entry` and :func:`write_cache_entry` -- the
  model cache's file layout (``<key>-<architecture>.keras`` beside
  ``<key>-<architecture>.history.json``); :func:`helpers.training.train_or_load` decides when
  an entry is read or written.
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from helpers import io as project_io
from helpers.errors import TrainingError

__all__ = [
    "ModelFileError",
    "SIDECAR_REQUIRED_KEYS",
    "architecture_digest",
    "save_model_with_sidecar",
    "load_model_with_sidecar",
    "cache_entry_paths",
    "read_cache_entry",
    "write_cache_entry",
]

#: Keys a model sidecar must hold for the model to be usable on new audio.
SIDECAR_REQUIRED_KEYS: tuple[str, ...] = ("feature_config", "labels")


class ModelFileError(TrainingError):
    """A saved model or its sidecar is missing or incomplete."""


# ----------------------------------------------------------------------------------------------
# Saved models with a sidecar
# ----------------------------------------------------------------------------------------------


def save_model_with_sidecar(model: keras.Model, path: str | os.PathLike, *,
                            sidecar: Mapping[str, Any]) -> tuple[Path, Path]:
    """Save ``model`` as ``<name>.keras`` and its description as ``<name>.json``, atomically.

    Parameters
    ----------
    model : keras.Model
        The model to save.
    path : path-like
        Target; ``<name>.keras`` or just ``<name>``.
    sidecar : mapping
        What a user of the model needs: at least ``feature_config`` (a dict or a
        :class:`helpers.config.FeatureConfig`) and ``labels`` (the output order). Dataclasses,
        numpy values and paths are converted to JSON. ``trainable_params``, ``input_shape``
        and ``created`` (UTC, ISO 8601) are added, and for a model on openSMILE functionals
        (``features`` other than ``"log_mel"``) how they were computed
        (``functionals``, :func:`helpers.functionals.describe`).

    Returns
    -------
    model_path, sidecar_path : Path

    Raises
    ------
    ModelFileError
        If ``sidecar`` lacks a required key.
    TrainingError
        If ``model`` is not a Keras model.
    """
    if not isinstance(model, keras.Model):
        raise TrainingError(f"model is a {type(model).__name__}; expected a keras.Model")
    model_path, sidecar_path = _model_paths(path)
    missing = [key for key in SIDECAR_REQUIRED_KEYS if key not in sidecar]
    if missing:
        raise ModelFileError(
            f"sidecar for {model_path} lacks required key(s) {missing}; "
            f"expected {list(SIDECAR_REQUIRED_KEYS)}"
        )
    record = {key: _jsonable(value) for key, value in sidecar.items()}
    if record.get("features", "log_mel") != "log_mel":
        # How the functionals were computed: prediction refuses a model trained on others.
        from helpers import functionals

        record.setdefault("functionals", functionals.describe())
    record["trainable_params"] = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    record["input_shape"] = _jsonable(_input_shape(model))
    record["created"] = _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds")
    # One unit: the sidecar names the model file's SHA-256, and loading checks it. A run that
    # dies between the two writes leaves a new model beside an old sidecar; that pair is then
    # refused instead of being trusted.
    _save_keras(model, model_path)
    record["model_sha256"] = project_io.file_sha256(model_path)
    project_io.write_json(sidecar_path, record)
    return model_path, sidecar_path


def load_model_with_sidecar(path: str | os.PathLike, *,
                            compile: bool = True) -> tuple[keras.Model, dict]:
    """Load a model saved by :func:`save_model_with_sidecar` together with its sidecar.

    Parameters
    ----------
    path : path-like
        ``<name>.keras`` or ``<name>``.
    compile : bool
        Passed to ``keras.saving.load_model``.

    Returns
    -------
    model : keras.Model
    sidecar : dict

    Raises
    ------
    ModelFileError
        If the ``.keras`` file or the ``.json`` sidecar is missing, the sidecar is not valid
        JSON, or it lacks ``feature_config`` or ``labels``; if the sidecar's ``model_sha256``
        is not the model file's (the two were not written together); or if the ``.keras``
        file is empty or not a readable Keras model.
    """
    model_path, sidecar_path = _model_paths(path)
    for part, file in (("model", model_path), ("sidecar", sidecar_path)):
        if not file.is_file():
            raise ModelFileError(
                f"{file}: {part} file not found; save_model_with_sidecar writes both "
                f"{model_path.name} and {sidecar_path.name}"
            )
    try:
        sidecar = project_io.read_json(sidecar_path)
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{sidecar_path}: not valid JSON ({error})") from None
    if not isinstance(sidecar, dict):
        raise ModelFileError(
            f"{sidecar_path}: expected a JSON object, got {type(sidecar).__name__}"
        )
    missing = [key for key in SIDECAR_REQUIRED_KEYS if key not in sidecar]
    if missing:
        raise ModelFileError(
            f"{sidecar_path}: sidecar lacks required key(s) {missing}; "
            f"expected {list(SIDECAR_REQUIRED_KEYS)}"
        )
    if model_path.stat().st_size == 0:
        raise ModelFileError(f"{model_path}: empty file; expected a Keras model (.keras)")
    expected = sidecar.get("model_sha256")  # absent in sidecars written before it was added
    if expected is not None and project_io.file_sha256(model_path) != expected:
        raise ModelFileError(
            f"{model_path}: does not match its sidecar {sidecar_path.name} (SHA-256 differs: "
            f"the model was replaced or damaged without its sidecar); save both again with "
            f"save_model_with_sidecar")
    try:
        model = keras.saving.load_model(model_path, compile=compile)
    except Exception as error:  # noqa: BLE001 -- Keras raises many kinds for a damaged file
        raise ModelFileError(f"{model_path}: not a readable Keras model "
                             f"({type(error).__name__}: {str(error)[:200]})") from error
    return model, sidecar


# ----------------------------------------------------------------------------------------------
# The content-addressed model cache's files
# ----------------------------------------------------------------------------------------------


def architecture_digest(model: keras.Model) -> str:
    """Short hash of a compiled model's serialised configuration (layers and compile settings).

    Two builds from the same code and arguments give the same digest; any change to a layer,
    an initializer seed, the normalisation constants, the optimizer settings, the loss or the
    metrics gives another. Weights are not included.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    str
        8 hexadecimal digits.
    """
    description = json.loads(model.to_json())
    optimizer = (description.get("compile_config") or {}).get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        # Keras numbers optimizer names per process ("adam", "adam_1", ...): not architecture.
        optimizer["config"].pop("name", None)
    # Unnamed layers get per-process numbered names too ("dense", "dense_3"); replace every
    # layer name by its position so that only the structure counts.
    aliases = {layer.name: f"<layer {k}>" for k, layer in enumerate(model.layers)}
    aliases[model.name] = "<model>"
    text = json.dumps(_replace_names(description, aliases), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def cache_entry_paths(folder: str | os.PathLike, key: str, model: keras.Model) -> tuple[Path, Path]:
    """Where the model cache keeps the entry of ``key`` for a model built like ``model``.

    The model's architecture (:func:`architecture_digest`) is part of the name, so a change to
    a builder (a layer added or removed, a width, an initializer, the optimizer) gives another
    entry instead of the model trained with the old code under the same key.

    Parameters
    ----------
    folder : path-like
        The cache folder.
    key : str
        The cache key (:func:`helpers.training.training_key`).
    model : keras.Model
        A freshly built model; only its configuration is read.

    Returns
    -------
    model_path, history_path : Path
        ``<folder>/<key>-<architecture>.keras`` and ``<folder>/<key>-<architecture>.history.json``.
    """
    stem = f"{key}-{architecture_digest(model)}"
    folder = Path(folder)
    return folder / f"{stem}.keras", folder / f"{stem}.history.json"


def read_cache_entry(model_path: Path, history_path: Path) -> tuple[keras.Model, dict] | None:
    """The cached model and its training history, or None when the entry is incomplete.

    An entry counts only when both files exist. Errors of an unreadable file propagate (the
    caller decides whether to retrain).
    """
    if not (model_path.is_file() and history_path.is_file()):
        return None
    return keras.saving.load_model(model_path), project_io.read_json(history_path)


def write_cache_entry(model: keras.Model, history: Mapping[str, list[float]], model_path: Path,
                      history_path: Path) -> None:
    """Write a cache entry: the model first, then its history, each atomically.

    A run that dies between the two leaves an entry without a history, which
    :func:`read_cache_entry` does not count.
    """
    _save_keras(model, model_path)
    project_io.write_json(history_path, history)


# ----------------------------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------------------------


def _replace_names(value, aliases: Mapping[str, str]):
    """Copy of a JSON value with every string equal to a key of ``aliases`` replaced."""
    if isinstance(value, str):
        return aliases.get(value, value)
    if isinstance(value, list):
        return [_replace_names(item, aliases) for item in value]
    if isinstance(value, dict):
        return {key: _replace_names(item, aliases) for key, item in value.items()}
    return value


def _save_keras(model: keras.Model, target: Path) -> None:
    # Keras insists on the .keras suffix, which atomic_path keeps on the temporary file.
    with project_io.atomic_path(target, suffix=".keras") as tmp:
        model.save(tmp, overwrite=True)


def _model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix == ".keras" else path
    return base.with_name(base.name + ".keras"), base.with_name(base.name + ".json")


def _input_shape(model: keras.Model):
    inputs = model.inputs if getattr(model, "inputs", None) else None
    if inputs is None:
        return None
    shapes = [list(tensor.shape) for tensor in inputs]
    return shapes[0] if len(shapes) == 1 else shapes


def _jsonable(value):
    """Convert dataclasses, numpy values, paths and tuples to plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
