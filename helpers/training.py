"""Fit, cache and apply Keras models the way the original study trained them.

* :func:`fit_model` -- Keras's training with the study's early stopping (``val_loss`` must
  improve by at least 0.03 within 3 epochs; the best weights are restored), seeded and
  deterministic; :func:`run_epochs` is ``fit``'s epoch loop fed with NumPy batches.
* :func:`solve_logistic` -- the converged alternative for a model that is a penalised logistic
  regression: scikit-learn's L-BFGS minimises the same loss and penalty as ``fit`` would.
* :func:`training_key` and :func:`train_or_load` -- a content-addressed model cache: the same
  data, builder, hyperparameters, seed and library versions give the same key, and a cached
  model is loaded instead of retrained.
* :func:`train_recipe` -- the one training path: a recipe trained on a split, through the cache.
* :func:`predict_proba` and :func:`add_channel_axis` -- small helpers around prediction.

Saving and loading a model with its sidecar, and the cache's file layout, are
:mod:`helpers.model_files`.

Why it is over 900 lines: fitting, the content-addressed model cache and
:func:`train_recipe` are one path whose cache key must cover everything the fit reads, so they
stay together; over a third of the file is docstrings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import keras
import numpy as np
import pandas as pd
import threadpoolctl

from helpers import config, frame_gmm, model_files, models
from helpers import io as project_io
from helpers import errors
from helpers.errors import TrainingError, is_int

__all__ = [
    "TrainingError",
    "make_early_stopping",
    "fit_model",
    "run_epochs",
    "solve_logistic",
    "describe_fit",
    "training_key",
    "train_or_load",
    "cache_tally",
    "describe_cache_tally",
    "predict_proba",
    "add_channel_axis",
]

#: Model inputs: one array, or several for a multi-input (fusion) model.
Inputs = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray]]

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Names the gradient-training loop in the model cache key (see :func:`train_recipe`).
FIT_LOOP = "run_epochs-1"
#: Solvers that fit to convergence and read no validation data (L-BFGS, EM): :func:`train_recipe`
#: fits them on a split's validation actors too (until session 23 those actors were left unused,
#: while the scikit-learn baselines fitted on them).
NO_VALIDATION_SOLVERS = ("lbfgs", "gmm")


def fitted_split(recipe, split):
    """The split :func:`train_recipe` fits ``recipe`` on: ``split`` itself, or for a solver in
    :data:`NO_VALIDATION_SOLVERS` ``split`` with its validation part moved into training
    (:meth:`helpers.splits.Split.validation_in_training`)."""
    return split.validation_in_training() if recipe.solver in NO_VALIDATION_SOLVERS else split

# Models this process loaded from the cache and trained (`train_or_load` counts them), so a
# notebook's last line can say how much of its work was reused.
_TALLY = {"cached": 0, "trained": 0}


# ----------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------


def make_early_stopping(*, patience: int = 3, min_delta: float = 0.03,
                        monitor: str = "val_loss") -> keras.callbacks.EarlyStopping:
    """The original study's early stopping: stop when ``monitor`` stalls, keep the best weights.

    Parameters
    ----------
    patience : int
        Epochs without an improvement of at least ``min_delta`` before training stops.
    min_delta : float
        Smallest decrease of ``monitor`` that counts as an improvement.
    monitor : str
        Logged quantity to watch: minimised, except ``val_uar`` (maximised).

    Returns
    -------
    keras.callbacks.EarlyStopping
        With ``restore_best_weights=True``: after training, the model holds the weights of the
        epoch with the best ``monitor`` value (Keras 3 restores them also when training runs
        all its epochs without stopping early).

    Raises
    ------
    TrainingError
        If ``patience`` is negative or ``min_delta`` is negative or not finite.
    """
    patience = _check_int(patience, name="patience", minimum=0)
    if not np.isfinite(min_delta) or min_delta < 0:
        raise TrainingError(f"min_delta={min_delta} must be finite and >= 0")
    mode = "max" if monitor == "val_uar" else "min"
    return keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, min_delta=float(min_delta),
                                         patience=patience, restore_best_weights=True)


def restored_epoch(val_losses: Sequence[float], min_delta: float, *, mode: str = "min") -> int | None:
    """One-based epoch whose weights early stopping (``restore_best_weights``) keeps.

    As Keras's ``EarlyStopping``: the first epoch, then each epoch whose value beats the best so
    far by more than ``min_delta`` (lower in ``min`` mode, higher in ``max`` mode; a NaN never
    does). None without values.
    """
    if len(val_losses) == 0:
        return None
    sign = -1.0 if mode == "max" else 1.0
    best_index, best = 0, sign * float(val_losses[0])
    for index, value in enumerate(val_losses[1:], start=1):
        if sign * value < best - min_delta:
            best_index, best = index, sign * float(value)
    return best_index + 1


class ValidationUAR(keras.callbacks.Callback):
    """Log ``val_uar`` (unweighted average recall on the validation data) after every epoch.

    Keras has no UAR metric; this callback computes it from the model's predictions and writes
    it into the epoch's logs, so that early stopping, the history and any later callback see it.
    A one-column output is thresholded at 0.5 (binary), a wider one is arg-maxed.
    """

    def __init__(self, x_val: Inputs, y_val: np.ndarray, *, batch_size: int = 256):
        super().__init__()
        self.x_val = _as_inputs(x_val)
        y_val = np.asarray(y_val)
        self.y_val = (np.argmax(y_val, axis=1) if y_val.ndim == 2 and y_val.shape[1] > 1
                      else np.rint(y_val.reshape(len(y_val))).astype(np.int64))
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        output = predict_proba(self.model, self.x_val, batch_size=self.batch_size)
        predicted = (output[:, 0] >= 0.5).astype(np.int64) if output.shape[1] == 1 else output.argmax(1)
        recalls = [np.mean(predicted[self.y_val == label] == label) for label in np.unique(self.y_val)]
        logs["val_uar"] = float(np.mean(recalls))


def fit_model(model: keras.Model, x_train: Inputs, y_train: np.ndarray, *,
              x_val: Inputs | None, y_val: np.ndarray | None, epochs: int,
              batch_size: int = 50, patience: int = 3, min_delta: float = 0.03, seed: int,
              verbose: int = 0, callbacks: Sequence[keras.callbacks.Callback] = (),
              steps_per_epoch: int | None = None,
              monitor: str = "val_loss") -> dict[str, list[float]]:
    """Train a compiled model with the study's early stopping, reproducibly.

    ``keras.utils.set_random_seed(seed)`` is called first, and each epoch's order comes from a
    NumPy generator seeded with ``seed``, so the epoch shuffles (and dropout) repeat from run
    to run on the same machine and library versions. The epochs run in :func:`run_epochs`
    (``fit``'s loop, fed with NumPy batches).

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    x_train : np.ndarray [shape=(n_train, ...)] or list/tuple/dict of such arrays
        Training inputs; several arrays for a multi-input (e.g. fusion) model.
    y_train : np.ndarray [shape=(n_train,) or (n_train, n_classes)]
        Training targets.
    x_val, y_val : like ``x_train``, ``y_train``, or None
        Validation data. With both None the model trains for ``epochs`` epochs without
        early stopping.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Items per gradient step (50 in the original emotion model).
    patience, min_delta : int, float
        Early-stopping settings, see :func:`make_early_stopping`.
    seed : int
        Seed for weight-independent randomness in training (shuffles, dropout).
    verbose : int
        Keras verbosity (0 silent).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks, run after the early stopping.
    steps_per_epoch : int or None
        Gradient steps per epoch (the gender study used 8); None for one pass over the data.
        When given, each epoch draws `steps_per_epoch` batches from an endless seeded stream
        of shuffled passes, continuing where the previous epoch stopped.
    monitor : str
        What early stopping watches: ``"val_loss"`` (minimised) or ``"val_uar"`` (maximised,
        computed by :class:`ValidationUAR` before early stopping runs); ``"none"`` trains every
        epoch and keeps the last weights (``val_uar`` is still logged).

    Returns
    -------
    dict of str to list of float
        Every logged metric per epoch, training (``loss``, ``accuracy``, ...) and validation
        (``val_loss``, ...), as plain floats; its length is the number of epochs run.

    Raises
    ------
    TrainingError
        If the model is not compiled, a setting is out of range, only one of ``x_val`` and
        ``y_val`` is given, or inputs and targets disagree in length.
    """
    if not isinstance(model, keras.Model):
        raise TrainingError(f"model is a {type(model).__name__}; expected a keras.Model")
    if not getattr(model, "compiled", False):
        raise TrainingError(f"model {model.name!r} is not compiled; call model.compile() first")
    epochs = _check_int(epochs, name="epochs", minimum=1)
    batch_size = _check_int(batch_size, name="batch_size", minimum=1)
    seed = _check_int(seed, name="seed", minimum=0)
    if steps_per_epoch is not None:
        steps_per_epoch = _check_int(steps_per_epoch, name="steps_per_epoch", minimum=1)
    n_train = _check_inputs(x_train, y_train, name="x_train")
    if (x_val is None) != (y_val is None):
        raise TrainingError(
            f"x_val is {'None' if x_val is None else 'given'} but y_val is "
            f"{'None' if y_val is None else 'given'}; pass both or neither"
        )
    all_callbacks = list(callbacks)
    validation_data = None
    if x_val is not None:
        _check_inputs(x_val, y_val, name="x_val")
        validation_data = (_as_inputs(x_val), np.asarray(y_val))
        if monitor != "none":
            all_callbacks.insert(0, make_early_stopping(patience=patience, min_delta=min_delta,
                                                        monitor=monitor))
        if monitor in ("val_uar", "none"):
            all_callbacks.insert(0, ValidationUAR(x_val, y_val))
    keras.utils.set_random_seed(seed)
    _apply_run_eagerly(model)
    inputs, targets = _as_inputs(x_train), np.asarray(y_train)
    if steps_per_epoch is None:
        batches = _ShuffledPasses(inputs, targets, n_items=n_train, batch_size=batch_size,
                                  seed=seed)
    else:
        # Fixed-size epochs draw their batches from a seeded endless stream of permutations,
        # like the image generators the gender study used.
        batches = _EpochBatches(inputs, targets, n_items=n_train, batch_size=batch_size,
                                steps=steps_per_epoch, seed=seed)
    history = run_epochs(model, batches, epochs=epochs, validation_data=validation_data,
                         validation_batch_size=batch_size, callbacks=all_callbacks,
                         verbose=verbose)
    return _history_dict(history)


def run_epochs(model: keras.Model, batches, *, epochs: int,
               validation_data: tuple | None = None, validation_batch_size: int = 50,
               callbacks: Sequence[keras.callbacks.Callback] = (),
               verbose: int = 0) -> keras.callbacks.History:
    """Keras ``fit``'s epoch loop, fed with NumPy batches from this thread.

    The same steps, callbacks, logs and history as Keras's ``fit`` taking the same batches
    (for batches in stored order, ``model.fit(x, y, shuffle=False)``; tested): each epoch
    resets the metrics, takes ``len(batches)`` training steps (``batches[step]`` is an
    ``(inputs, targets)`` pair; ``batches.on_epoch_end()`` after the last), logs the metrics of
    the whole epoch, then the validation metrics as ``val_*``. (Handed a ``PyDataset``, ``fit``
    itself fetches two batches and ends an epoch before training, to learn the shapes; this loop
    does not, so every epoch sees its own batches.)

    Why not ``fit`` itself: ``fit`` pulls each batch from a ``tf.data`` iterator, and on 2-core
    CPUs its epochs ran either at full speed or at half speed (one core idle), by chance from
    epoch to epoch, on an AMD EPYC and an Intel Xeon alike; the same steps fed with NumPy arrays
    from the calling thread ran at full speed every epoch (the reconstruction's emotion CNN on
    RAVDESS, 1,080 clips an epoch: 2.6-2.8 s against 2.6-5.2 s; see "The epoch loop" in the
    README's Benchmarks section). Validation is fed the same way.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    batches : object with ``__len__``, ``__getitem__(step)`` and ``on_epoch_end()``
        The training batches of one epoch (a ``keras.utils.PyDataset`` is such an object).
    epochs : int
        Maximum number of epochs; a callback may stop earlier (``model.stop_training``).
    validation_data : (inputs, targets) or None
        Scored after every epoch, ``validation_batch_size`` items at a time.
    callbacks : sequence of keras.callbacks.Callback
        Called as ``fit`` calls them.
    verbose : int
        0 silent, otherwise Keras's progress bar.

    Returns
    -------
    keras.callbacks.History
        ``model.history``, as ``fit`` returns it.
    """
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=verbose != 0, verbose=verbose,
        epochs=epochs, steps=len(batches), model=model)
    # Builds the optimizer and metric variables before the step is traced, as fit() and
    # train_on_batch() do (Keras's own hook; there is no public one).
    model._maybe_symbolic_build(data_batch=tuple(batches[0]) + (None,))
    model.make_train_function()
    model.stop_training = False
    callback_list.on_train_begin()
    epoch_logs = None
    for epoch in range(epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step in range(len(batches)):
            callback_list.on_train_batch_begin(step)
            logs = model.train_function(iter([tuple(batches[step])]))
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        batches.on_epoch_end()
        epoch_logs = _metric_values(model)
        if validation_data is not None:
            epoch_logs.update({f"val_{name}": value for name, value in
                               _evaluate(model, *validation_data,
                                         batch_size=validation_batch_size).items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=epoch_logs)
    return model.history


def _metric_values(model: keras.Model) -> dict[str, float]:
    return {str(name): float(np.asarray(value))
            for name, value in model.get_metrics_result().items()}


def _evaluate(model: keras.Model, x: Inputs, y: np.ndarray, *, batch_size: int) -> dict[str, float]:
    """``model.evaluate`` fed with NumPy batches from this thread (see :func:`run_epochs`)."""
    model.make_test_function()
    model.reset_metrics()
    n = _n_samples(x, name="x_val")
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        model.test_function(iter([(_take_rows(x, rows), y[rows])]))
    return _metric_values(model)


def describe_fit(history: Mapping[str, Sequence[float]]) -> str:
    """How a model was fitted, for progress lines: ``"12 epochs"``, ``"L-BFGS, 130 iterations"``
    or ``"EM, 40 iterations"`` (the frame GMM)."""
    if "em_iterations" in history:
        return f"EM, {int(history['em_iterations'][-1])} iterations"
    if "iterations" in history:
        return f"L-BFGS, {int(history['iterations'][-1])} iterations"
    epochs = len(history.get("loss", []))
    return f"{epochs} epoch{'' if epochs == 1 else 's'}"


#: Iteration cap of :func:`solve_logistic` (scikit-learn's L-BFGS; it stops earlier on its
#: tolerance, a few hundred iterations on the real RAVDESS).
LBFGS_MAX_ITER = 2000


def solve_logistic(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, *,
                   class_weight: str | None = None) -> dict[str, list[float]]:
    """Fit a model whose only trainable layer is its output ``Dense``, to convergence.

    The model must be a (penalised) logistic regression: fixed preprocessing layers (the
    normalisation, dropout, which does nothing at inference), then one softmax or sigmoid
    ``Dense`` layer with an optional ``keras.regularizers.L2`` on its kernel. Its loss in Keras
    is the mean cross-entropy plus ``l2 * ||W||²``; scikit-learn's ``LogisticRegression``
    minimises ``C * sum(cross-entropy) + ||W||² / 2``, the same objective with
    ``C = 1 / (2 * l2 * n)`` (no penalty when ``l2`` is 0). Its L-BFGS solves it to tolerance,
    where minibatch epochs stop wherever their number, rate and batch size leave them. The
    solution is written into the layer's kernel and bias.

    Parameters
    ----------
    model : keras.Model
        Built (e.g. by :func:`helpers.models.build_functionals_mlp` with ``hidden_units=0``).
    x_train : np.ndarray [shape=(n, n_features)]
    y_train : np.ndarray [shape=(n, n_classes) one-hot, or (n, 1) 0/1 for a sigmoid output]
    class_weight : None or "balanced"
        ``"balanced"`` weighs each row by ``n / (n_classes_present * n_rows_of_its_class)``
        (scikit-learn's ``class_weight="balanced"``; the weights average 1, so the penalty
        keeps its strength).

    Returns
    -------
    dict
        A one-entry history: ``loss`` (the Keras loss of the solution, penalty included, every
        row weighing the same) and
        ``iterations`` (L-BFGS iterations used) and ``solve_seconds``.

    Raises
    ------
    TrainingError
        If another layer than the output has trainable weights, the output is not a ``Dense``
        layer, or its penalty is not L2.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    output = model.layers[-1]
    if not isinstance(output, keras.layers.Dense):
        raise TrainingError(f"model {model.name!r}: solve_logistic needs a Dense output layer; "
                            f"found {type(output).__name__}")
    others = [layer.name for layer in model.layers[:-1] if layer.trainable_weights]
    if others:
        raise TrainingError(f"model {model.name!r}: solve_logistic fits a logistic regression, "
                            f"but layers {others} before the output have trainable weights")
    regularizer = output.kernel_regularizer
    if regularizer is not None and not isinstance(regularizer, keras.regularizers.L2):
        raise TrainingError(f"model {model.name!r}: solve_logistic handles an L2 penalty; "
                            f"found {type(regularizer).__name__}")
    l2 = float(regularizer.l2) if regularizer is not None else 0.0
    features = keras.Model(model.inputs, output.input)
    # float32 throughout: scikit-learn's L-BFGS keeps the input's dtype, and its matrix products
    # (most of the solve) take half the time of float64's.
    z = np.asarray(features.predict(np.asarray(x_train, dtype=np.float32), batch_size=1024,
                                    verbose=0), dtype=np.float32)
    y_train = np.asarray(y_train)
    labels = y_train[:, 0].astype(np.int64) if y_train.shape[1] == 1 else y_train.argmax(1)
    n = len(z)
    started = time.perf_counter()
    # scikit-learn >= 1.8 spells "no penalty" C = inf.
    solver = LogisticRegression(C=1.0 / (2.0 * l2 * n) if l2 > 0 else np.inf,
                                max_iter=LBFGS_MAX_ITER, class_weight=class_weight)
    # The solve on config.LBFGS_THREADS (one) thread, whatever SER_THREADS says: its weights then
    # do not depend on the machine's cores (1 and 2 threads took 161 and 167 iterations on a
    # real fold, weights up to 0.036 apart), and processes solving side by side (--jobs) take a
    # core each.
    with threadpoolctl.threadpool_limits(limits=config.LBFGS_THREADS), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        solver.fit(z, labels)
    solve_seconds = time.perf_counter() - started
    if y_train.shape[1] != 1 and len(solver.classes_) != y_train.shape[1]:
        # A class absent from the training rows: give it the lowest score of every row.
        coef = np.zeros((y_train.shape[1], z.shape[1]))
        intercept = np.full(y_train.shape[1], -1e4)
        coef[solver.classes_] = solver.coef_
        intercept[solver.classes_] = solver.intercept_
    else:
        coef, intercept = solver.coef_, solver.intercept_
    output.set_weights([coef.T.astype(np.float32), intercept.astype(np.float32)])
    if model.optimizer is not None and not model.optimizer.built:
        # Saved and reloaded like a model trained by steps (the same optimizer variables).
        model.optimizer.build(model.trainable_variables)
    # The objective at the solution, from the layer inputs already computed (no second pass
    # through the model): mean cross-entropy (log-sum-exp form) plus the penalty.
    logits = (z @ coef.T.astype(np.float32)).astype(np.float64) + intercept
    if y_train.shape[1] == 1:
        margin = np.where(labels == 1, logits[:, 0], -logits[:, 0])
        loss = float(np.mean(np.logaddexp(0.0, -margin)))
    else:
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        loss = float(np.mean(log_norm - logits[np.arange(n), labels]))
    loss += l2 * float(np.sum(np.square(coef, dtype=np.float64)))
    return {"loss": [float(loss)], "iterations": [float(np.max(solver.n_iter_))],
            "solve_seconds": [solve_seconds]}


def _take_rows(x, rows):
    """Rows of one input array, or of each array of a multi-input (list or dict) input."""
    if isinstance(x, dict):
        return {k: v[rows] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return tuple(v[rows] for v in x)
    return x[rows]


class _ShuffledPasses(keras.utils.PyDataset):
    """One pass over the items per epoch, in a fresh seeded order each epoch (as ``fit`` with
    ``shuffle=True``: the last batch of an epoch holds the remainder)."""

    def __init__(self, x, y: np.ndarray, *, n_items: int, batch_size: int, seed: int) -> None:
        super().__init__()
        self._x, self._y = x, y
        self._n_items, self._batch_size = n_items, batch_size
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(n_items)

    def __len__(self) -> int:
        return -(-self._n_items // self._batch_size)

    def __getitem__(self, step: int):
        rows = self._order[int(step) * self._batch_size:(int(step) + 1) * self._batch_size]
        return _take_rows(self._x, rows), self._y[rows]

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(self._n_items)


class _EpochBatches(keras.utils.PyDataset):
    """``steps`` batches per epoch from an endless, seeded stream of shuffled passes.

    A batch is a pure function of (epoch counter, step), so the order in which batches are
    asked for does not change which items each step sees.
    """

    def __init__(self, x, y: np.ndarray, *, n_items: int, batch_size: int, steps: int,
                 seed: int) -> None:
        super().__init__()
        self._x, self._y = x, y
        self._n_items, self._batch_size, self._steps = n_items, batch_size, steps
        self._rng = np.random.default_rng(seed)
        self._stream = np.empty(0, dtype=np.int64)
        self._epoch = 0

    def __len__(self) -> int:
        return self._steps

    def __getitem__(self, step: int):
        start = (self._epoch * self._steps + int(step)) * self._batch_size
        stop = start + self._batch_size
        while self._stream.size < stop:
            self._stream = np.concatenate([self._stream, self._rng.permutation(self._n_items)])
        rows = self._stream[start:stop]
        return _take_rows(self._x, rows), self._y[rows]

    def on_epoch_end(self) -> None:
        self._epoch += 1


# ----------------------------------------------------------------------------------------------
# Content-addressed model cache
# ----------------------------------------------------------------------------------------------


def training_key(*, tensorflow_threads: bool = True, **parts: Any) -> str:
    """Hash everything that determines a trained model into a short file-name-safe key.

    Arrays are hashed by dtype, shape and bytes (fast, no copy when contiguous); pandas
    objects by their values and labels; callables by module and qualified name (pass the
    builder function); dataclasses, mappings, sequences and JSON scalars by value. The
    library versions the results files record (:func:`helpers.io.library_versions`: Python,
    NumPy, Keras, TensorFlow and the rest) are always included, so a library upgrade retrains;
    so is TensorFlow's thread count when it is not the pinned default
    (:data:`helpers.config.DEFAULT_THREADS`), unless ``tensorflow_threads`` is false.

    Parameters
    ----------
    tensorflow_threads : bool
        Whether TensorFlow computes the training (Keras's gradient steps), so that its thread
        count shapes the weights. False for a model fitted by another library (scikit-learn's
        L-BFGS solve and EM: they name their own threads in ``parts`` where those matter).
    **parts
        Named ingredients, e.g. ``x=x_train, y=y_train, builder=build_emotion_cnn,
        hyperparameters={...}, epochs=200, seed=42``. Order does not matter.

    Returns
    -------
    str
        32 hexadecimal digits.

    Raises
    ------
    TrainingError
        If no parts are given or a part has a type that cannot be hashed reproducibly.
    """
    if not parts:
        raise TrainingError("training_key() got no parts; pass the data and settings to hash")
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(parts):
        digest.update(f"\x00part:{name}\x00".encode())
        _update_digest(digest, parts[name], path=name)
    digest.update(b"\x00versions\x00")
    # The libraries that shape the numbers: the same list the results files record.
    _update_digest(digest, project_io.library_versions(), path="versions")
    # TensorFlow splits a training's sums by thread: another thread count is another model. The
    # pinned default (helpers.config.pin_threads) adds nothing, so older cache entries stay valid.
    threads = os.environ.get(config.TF_THREADS_ENV) or f"all {os.cpu_count()} cores"
    if tensorflow_threads and threads != str(config.DEFAULT_THREADS):
        digest.update(f"\x00threads:{threads}\x00".encode())
    return digest.hexdigest()


def train_or_load(key: str, *, build: Callable[[], keras.Model],
                  fit: Callable[[keras.Model], Mapping[str, list] | keras.callbacks.History],
                  folder: str | os.PathLike | None = None,
                  force: bool = False) -> tuple[keras.Model, dict[str, list[float]], bool]:
    """Load the model cached under ``key``, or build, fit and cache it.

    Parameters
    ----------
    key : str
        Cache key, usually from :func:`training_key`; letters, digits, ``_``, ``.``, ``-``.
    build : callable () -> keras.Model
        Makes a fresh compiled model. Always called (building is cheap): the model's
        architecture, from :func:`helpers.model_files.architecture_digest`, is part of the
        cache entry's name.
    fit : callable (model) -> dict
        Trains the model in place and returns its history (a dict of per-epoch lists, e.g.
        from :func:`fit_model`, or a Keras ``History``); only called on a cache miss.
    folder : path-like or None
        Cache folder; None for :func:`helpers.config.model_cache_dir`.
    force : bool
        Retrain and overwrite even when a cached model exists.

    Returns
    -------
    model : keras.Model
    history : dict of str to list of float
    cached : bool
        True when the model was loaded from the cache, False when it was trained now.

    Raises
    ------
    TrainingError
        If ``key`` is not file-name safe, ``build`` does not return a Keras model, or ``fit``
        does not return a history.

    Notes
    -----
    The model (``<key>-<architecture>.keras``) and history
    (``<key>-<architecture>.history.json``) are each written atomically
    (:func:`helpers.model_files.write_cache_entry`); a cache entry counts only when both exist.
    An entry that fails to load is reported with a warning and retrained.
    """
    if not isinstance(key, str) or not _KEY_PATTERN.match(key):
        raise TrainingError(
            f"key={key!r} must be a non-empty string of letters, digits, '_', '.' or '-'"
        )
    folder = Path(folder) if folder is not None else config.model_cache_dir()
    # The fresh model's architecture is part of the entry's name, so a change to a builder
    # (a layer added or removed, a width, an initializer, the optimizer) retrains instead of
    # reusing a model trained with the old code under the same data and hyperparameters.
    model = build()
    if not isinstance(model, keras.Model):
        raise TrainingError(f"build() returned a {type(model).__name__}; expected a keras.Model")
    model_path, history_path = model_files.cache_entry_paths(folder, key, model)
    if not force:
        try:
            entry = model_files.read_cache_entry(model_path, history_path)
        except Exception as error:  # noqa: BLE001 -- any unreadable entry is simply retrained
            warnings.warn(f"{model_path}: cached model could not be loaded ({error}); retraining",
                          stacklevel=2)
        else:
            if entry is not None:
                _TALLY["cached"] += 1
                model, history = entry
                return model, history, True
    history = fit(model)
    if isinstance(history, keras.callbacks.History):
        history = _history_dict(history)
    if not isinstance(history, Mapping):
        raise TrainingError(
            f"fit(model) returned a {type(history).__name__}; expected a dict of per-epoch lists"
        )
    history = {str(k): [float(v) for v in values] for k, values in history.items()}
    model_files.write_cache_entry(model, history, model_path, history_path)
    _TALLY["trained"] += 1
    return model, history, False


def cache_tally(*, reset: bool = False) -> dict[str, int]:
    """How many models :func:`train_or_load` loaded (``cached``) and trained in this process.

    Parameters
    ----------
    reset : bool
        Start counting again from zero after reading.
    """
    counts = dict(_TALLY)
    if reset:
        _TALLY.update(cached=0, trained=0)
    return counts


def count_as_trained(n: int = 1) -> None:
    """Count ``n`` models that worker processes trained (:mod:`helpers.parallel`) and this
    process then loaded from the cache as trained, not as reused."""
    if not 0 <= n <= _TALLY["cached"]:
        raise TrainingError(f"count_as_trained: n={n!r}, but {_TALLY['cached']} models were "
                            f"loaded from the cache to recount")
    _TALLY["cached"] -= n
    _TALLY["trained"] += n


def count_elsewhere(counts: Mapping[str, int], *,
                    total: Mapping[str, int] | None = None) -> dict[str, int]:
    """Add what another process loaded and trained for this one (a shared sweep's workers,
    :func:`helpers.tuning.run_sweep`, :func:`helpers.ours_search.run_ours_sweep`), so that the
    notebook's tally counts every model once.

    Returns
    -------
    dict
        ``total`` (the workers' counts so far; None for none) plus ``counts``.

    Raises
    ------
    TrainingError
        If ``counts`` is not a ``{"cached": n, "trained": m}`` of whole numbers >= 0.
    """
    if set(counts) != {"cached", "trained"} or not all(is_int(v, minimum=0)
                                                        for v in counts.values()):
        raise TrainingError(f"counts={dict(counts)!r} must be {{'cached': n, 'trained': m}} with "
                            f"whole numbers >= 0")
    total = total if total is not None else {"cached": 0, "trained": 0}
    summed = {key: int(total[key]) + int(counts[key]) for key in _TALLY}
    for key in _TALLY:
        _TALLY[key] += int(counts[key])
    return summed


def describe_cache_tally() -> str:
    """``"models: 12 from the cache, 3 trained"``, for a notebook's progress line."""
    counts = cache_tally()
    return f"models: {counts['cached']} from the cache, {counts['trained']} trained"


@dataclasses.dataclass
class TrainedModel:
    """What :func:`train_recipe` returns for one split.

    Attributes
    ----------
    model : keras.Model
        The trained model; for an ensemble recipe, one model averaging its members.
    history : dict of str to list of float
        The first member's per-epoch history.
    histories : list of dict
        Every member's history.
    cached : bool
        True when every member came from the model cache.
    best_epoch : int or None
        One-based epoch whose weights the first member kept.
    normalization : tuple
        The training-set statistics the model's input layer applies.
    seconds : float
        Wall time of training (or loading) all members.
    train_samples_per_s : float or None
        Training items times epochs run, per second of training (None when cached).
    split : helpers.splits.Split or None
        The split the model was fitted on: the one given, or, for a solver that looks at no
        validation data (:data:`NO_VALIDATION_SOLVERS`), that split with its validation actors
        moved into training.
    """

    model: keras.Model
    history: dict
    histories: list
    cached: bool
    best_epoch: int | None
    normalization: tuple
    seconds: float
    train_samples_per_s: float | None = None
    split: Any = None


def recipe_inputs(recipe, x: np.ndarray, rows: np.ndarray, *,
                  extra_inputs: Mapping[str, np.ndarray] | None = None) -> Inputs:
    """The model inputs of some rows, as a recipe's builder expects them.

    Log-mel spectrograms get a channel axis (and, with ``extra_inputs``, become the
    ``"log_mel"`` entry of a dict beside the extra inputs); functionals are used as they are.
    """
    if recipe.features == "log_mel":
        spectrogram = add_channel_axis(x[rows])
        if not extra_inputs:
            return spectrogram
        return {"log_mel": spectrogram, **{k: v[rows] for k, v in extra_inputs.items()}}
    return np.asarray(x[rows], dtype=np.float32)


def predict_recipe(model: keras.Model, recipe, x: np.ndarray, rows: np.ndarray, *,
                   augmented: Sequence[np.ndarray] = (),
                   extra_inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """A trained recipe's probabilities for some rows, as the recipe evaluates them.

    With ``recipe.test_time_speeds`` the probabilities are averaged over each row and its
    copies at those speeds (taken from ``augmented``, the copies of
    :func:`helpers.experiments.recipe_features`, speeds first).

    Raises
    ------
    TrainingError
        If the recipe averages over speeds and ``augmented`` does not hold their copies.
    """
    probabilities = predict_proba(model, recipe_inputs(recipe, x, rows, extra_inputs=extra_inputs))
    if not recipe.test_time_speeds:
        return probabilities
    if len(augmented) < len(recipe.speed_perturbation):
        raise TrainingError(f"recipe {recipe.name!r} averages over speeds {recipe.test_time_speeds} "
                            f"at test; pass their copies as augmented (got {len(augmented)})")
    copies = [np.asarray(augmented[recipe.speed_perturbation.index(speed)])
              for speed in recipe.test_time_speeds]
    outputs = [probabilities] + [predict_proba(model, recipe_inputs(recipe, copy, rows)) for copy in copies]
    return np.mean(outputs, axis=0, dtype=np.float64).astype(probabilities.dtype)


def normalization_statistics(recipe, x_train: np.ndarray) -> tuple:
    """Training-set statistics for a recipe's input normalisation.

    ``scalar``: one mean and std over every value (float64 accumulation); ``per-feature``: a
    mean and std per column, with a std of 1 for constant columns.
    """
    if recipe.normalization == "scalar":
        return float(np.mean(x_train, dtype=np.float64)), float(np.std(x_train, dtype=np.float64))
    mean = np.mean(x_train, axis=0, dtype=np.float64)
    std = np.std(x_train, axis=0, dtype=np.float64)
    return mean, np.where(std > 1e-8, std, 1.0)


def train_recipe(recipe, x: np.ndarray, labels: np.ndarray, split, *, seed: int, data_key: str,
                 force: bool = False, cache_folder: str | os.PathLike | None = None,
                 callbacks: Sequence[keras.callbacks.Callback] = (), cache: bool = True,
                 extra_inputs: Mapping[str, np.ndarray] | None = None,
                 augmented: Sequence[np.ndarray] = ()) -> TrainedModel:
    """Train a recipe on ``split.train``, stopping on ``split.validation`` (a solver that reads no
    validation data fits on both): the one training path.

    Every task trains through here: Table 1 (:mod:`helpers.experiments`), the tuning sweep,
    the sliders, gender, fusion and the quality benchmark. The recipe says everything about how
    (:class:`helpers.recipes.Recipe`); settings it leaves to the run profile must be filled
    first (:meth:`~helpers.recipes.Recipe.for_profile`).

    Parameters
    ----------
    recipe : helpers.recipes.Recipe
        With ``epochs``, ``batch_size`` and ``patience`` set.
    x : np.ndarray [shape=(n_items, n_mels, n_frames) or (n_items, n_features)]
        Log-mel spectrograms or functionals, as ``recipe.features`` says.
    labels : np.ndarray [shape=(n_items,)]
        Integer classes (emotion) or 0/1 (gender, 1 = female).
    split : helpers.splits.Split
        Positional indices into ``x``; with an empty validation part training runs every epoch.
        A recipe whose solver reads no validation data (L-BFGS, EM: :data:`NO_VALIDATION_SOLVERS`)
        is fitted on the training and validation parts together (``TrainedModel.split``).
    seed : int
        Seed of the first ensemble member (member ``k`` uses ``seed + k``).
    data_key : str
        Identity of ``x``; with the split, the recipe and the seed it keys the model cache.
    force : bool
        Retrain even when cached.
    cache_folder : path-like or None
        Model cache folder (None: :func:`train_or_load`'s default).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks for the (first member's) training, e.g. a pruner or a live plot.
    cache : bool
        False trains without reading or writing the cache (the sliders' quick trials).
    extra_inputs : dict, optional
        ``{input_name: array}`` fed beside the spectrogram (fusion).
    augmented : sequence of np.ndarray [shape=(n_items, n_features)]
        Perturbed copies of ``x`` (row for row; the recipe's ``speed_perturbation``): their
        *training* rows are added to the training data. The normalisation statistics come from
        the unperturbed training rows only.

    Returns
    -------
    TrainedModel

    Raises
    ------
    TrainingError
        If the recipe's epochs, batch size or patience are unset, ``x`` and ``labels`` differ in
        length, or ``x`` does not have the shape the recipe's features need.
    """
    for field in ("epochs", "batch_size", "patience"):
        if getattr(recipe, field) is None:
            raise TrainingError(f"recipe {recipe.name!r}: {field} is unset; call "
                                f"recipe.for_profile(profile) first")
    x = np.asarray(x)
    labels = np.asarray(labels)
    if len(x) != len(labels):
        raise TrainingError(f"x has {len(x)} rows but labels has {len(labels)}; expected equal")
    expected_ndim = 3 if recipe.features == "log_mel" else 2
    if x.ndim != expected_ndim:
        raise TrainingError(f"x has shape {x.shape}; recipe {recipe.name!r} takes "
                            f"{recipe.features} features of {expected_ndim} dimensions")
    # Nothing stops on, or is chosen by, the validation actors of an L-BFGS or EM fit: they join
    # the training ones (left out, they were data thrown away; the baselines always fitted on both).
    split = fitted_split(recipe, split)
    params = recipe.params
    if recipe.task == "gender" or params.get("n_classes") == 1:
        targets = labels.astype(np.float32)[:, np.newaxis]
    else:
        n_classes = params.get("n_classes", len(config.EMOTIONS))
        targets = np.eye(n_classes, dtype=np.float32)[labels]
    normalization = normalization_statistics(recipe, x[split.train])
    input_shape = (x.shape[1], x.shape[2], 1) if recipe.features == "log_mel" else (x.shape[1],)
    has_validation = split.validation.size > 0
    patience = recipe.epochs if recipe.patience < 0 else recipe.patience
    if recipe.schedule == "cosine":
        n_rows = split.train.size * (1 + recipe.n_copies)
        steps = recipe.steps_per_epoch or int(np.ceil(n_rows / recipe.batch_size))
        params["decay_steps"] = int(recipe.epochs * steps)
    x_train = recipe_inputs(recipe, x, split.train, extra_inputs=extra_inputs)
    y_train = targets[split.train]
    if len(augmented) != recipe.n_copies:
        raise TrainingError(f"augmented holds {len(augmented)} copies; recipe {recipe.name!r} "
                            f"asks for {recipe.n_copies} (speeds {recipe.speed_perturbation}, "
                            f"{recipe.channel_copies} multi-condition copies)")
    for copy in augmented:
        if np.shape(copy) != x.shape:
            raise TrainingError(f"an augmented copy has shape {np.shape(copy)}; expected {x.shape}")
        x_train = np.concatenate([x_train, recipe_inputs(recipe, np.asarray(copy), split.train)])
        y_train = np.concatenate([y_train, targets[split.train]])
    n_train = len(y_train)
    x_val = recipe_inputs(recipe, x, split.validation, extra_inputs=extra_inputs) if has_validation else None
    started = time.perf_counter()
    members, histories, cached_all, samples = [], [], True, 0
    for member in range(recipe.ensemble):
        member_seed = seed + member

        def build(member_seed=member_seed):
            return recipe.builder(input_shape, normalization=normalization, seed=member_seed,
                                  **params)

        def fit(model, member_seed=member_seed, member=member):
            if recipe.solver == "lbfgs":
                return solve_logistic(model, x_train, y_train, class_weight=recipe.class_weight)
            if recipe.solver == "gmm":
                return frame_gmm.fit_frame_gmm(model, x_train, y_train, seed=member_seed)
            return fit_model(
                model, x_train, y_train,
                x_val=x_val, y_val=targets[split.validation] if has_validation else None,
                epochs=recipe.epochs, batch_size=recipe.batch_size, patience=patience,
                min_delta=recipe.min_delta, seed=member_seed,
                steps_per_epoch=recipe.steps_per_epoch, monitor=recipe.monitor,
                callbacks=callbacks if member == 0 else ())

        if cache:
            # The training rows themselves are hashed, not only named by ``data_key``: a caller
            # that transforms ``x`` (per-speaker or per-gender standardisation) under the same
            # key once got the untransformed model back from the cache.
            key = training_key(
                task=recipe.task, recipe=recipe.replace(test_time_speeds=()), data_key=data_key,
                train=split.train, train_inputs=x[split.train],
                augmented=[np.asarray(copy)[split.train] for copy in augmented],
                validation=split.validation, seed=member_seed,
                # Gradient training's epoch loop (run_epochs; before it, Keras's fit with its
                # own tf.data shuffle: other batches, other models). L-BFGS names its thread
                # count (solves on SER_THREADS threads gave other weights); EM keeps its key.
                # Only gradient training computes in TensorFlow: another SER_THREADS solves no
                # L-BFGS or EM model again.
                tensorflow_threads=recipe.solver == "gradient",
                **({"fit_loop": FIT_LOOP} if recipe.solver == "gradient" else {}),
                **({"solve_threads": config.LBFGS_THREADS} if recipe.solver == "lbfgs" else {}),
                extra=sorted(extra_inputs) if extra_inputs else None,
                extra_values=[extra_inputs[k] for k in sorted(extra_inputs)] if extra_inputs else None)
            model, history, cached = train_or_load(key, build=build, fit=fit, force=force,
                                                   folder=cache_folder)
        else:
            model = build()
            history, cached = fit(model), False
        cached_all = cached_all and cached
        if not cached:
            per_step = recipe.batch_size if recipe.steps_per_epoch else None
            run = len(history.get("loss", []))
            samples += run * (recipe.steps_per_epoch * per_step if per_step else n_train)
        members.append(model)
        histories.append(history)
    seconds = time.perf_counter() - started
    monitored = histories[0].get(recipe.monitor, [])
    best_epoch = (len(histories[0].get("loss", [])) or None if recipe.monitor == "none"
                  else restored_epoch(monitored, recipe.min_delta, mode=recipe.mode_of_monitor))
    return TrainedModel(
        model=models.build_ensemble(members), history=histories[0], histories=histories,
        cached=cached_all, best_epoch=best_epoch,
        normalization=normalization, seconds=seconds,
        train_samples_per_s=None if cached_all or seconds <= 0 else samples / seconds, split=split)


# ----------------------------------------------------------------------------------------------
# Prediction helpers
# ----------------------------------------------------------------------------------------------


#: Set to ``1`` to run Keras training and prediction step by step, without compiling them into
#: graphs. Results are the same; on the tiny data of the test suite (and the ``smoke`` runs it
#: makes) it is about 2.5 times faster, because tracing a graph costs more than it saves there.
RUN_EAGERLY_ENV = "SER_RUN_EAGERLY"


def _apply_run_eagerly(model: keras.Model) -> None:
    if os.environ.get(RUN_EAGERLY_ENV) == "1":
        model.run_eagerly = True


def predict_proba(model: keras.Model, x: Inputs, *, batch_size: int = 256) -> np.ndarray:
    """The model's output probabilities for a batch of inputs.

    Parameters
    ----------
    model : keras.Model
        A model whose last layer is a softmax or sigmoid.
    x : np.ndarray [shape=(n, ...)] or list/tuple/dict of such arrays
        Inputs with a leading batch axis, also for a single example (``n = 1``).
    batch_size : int
        Items per forward pass.

    Returns
    -------
    np.ndarray [shape=(n, n_outputs), dtype=float32]
        One row per input (``n_outputs`` is 1 for a sigmoid output).

    Raises
    ------
    TrainingError
        If ``batch_size`` is not positive or ``x`` is empty.
    """
    batch_size = _check_int(batch_size, name="batch_size", minimum=1)
    n = _n_samples(x, name="x")
    if n == 0:
        raise TrainingError("x has 0 items; expected at least one")
    _apply_run_eagerly(model)
    x = _as_inputs(x)
    # predict_on_batch, fed from this thread, rather than predict's tf.data iterator: the same
    # numbers, steadier and faster on small CPUs (see run_epochs).
    outputs = []
    for start in range(0, n, batch_size):
        output = model.predict_on_batch(_take_rows(x, slice(start, start + batch_size)))
        if isinstance(output, (list, tuple, dict)):
            raise TrainingError(
                f"model {model.name!r} has {len(output)} outputs; predict_proba expects one"
            )
        outputs.append(np.asarray(output, dtype=np.float32))
    return np.concatenate(outputs)


def add_channel_axis(x: np.ndarray) -> np.ndarray:
    """Add the trailing channel axis a 2-D convolution expects.

    Parameters
    ----------
    x : np.ndarray [shape=(n, n_mels, n_frames)]
        A batch of log-mel spectrograms. An array that already has a trailing channel axis of
        size 1 is returned unchanged.

    Returns
    -------
    np.ndarray [shape=(n, n_mels, n_frames, 1)]
        A view of ``x``.

    Raises
    ------
    TrainingError
        If ``x`` is not 3-D (or 4-D with one channel).
    """
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        return x
    if x.ndim != 3:
        raise TrainingError(
            f"x has shape {x.shape}; expected (n, n_mels, n_frames)"
        )
    return x[..., np.newaxis]


# ----------------------------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------------------------


def _check_int(value, *, name: str, minimum: int) -> int:
    return errors.check_int(value, name=name, minimum=minimum, error=TrainingError)


def _as_inputs(x: Inputs):
    """Arrays as Keras wants them: a list for several positional inputs."""
    if isinstance(x, Mapping):
        return {str(k): np.asarray(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v) for v in x]
    return np.asarray(x)


def _n_samples(x: Inputs, *, name: str) -> int:
    if isinstance(x, Mapping):
        arrays = {f"{name}[{k!r}]": v for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        arrays = {f"{name}[{k}]": v for k, v in enumerate(x)}
    else:
        arrays = {name: x}
    if not arrays:
        raise TrainingError(f"{name} holds no arrays; expected at least one input")
    lengths = {}
    for label, value in arrays.items():
        shape = np.shape(value)
        if len(shape) == 0:
            raise TrainingError(f"{label} is a scalar; expected an array with a batch axis")
        lengths[label] = shape[0]
    if len(set(lengths.values())) > 1:
        raise TrainingError(f"{name}: inputs differ in length {lengths}; expected one batch size")
    return next(iter(lengths.values()))


def _check_inputs(x: Inputs, y, *, name: str) -> int:
    n = _n_samples(x, name=name)
    y_name = name.replace("x_", "y_", 1)
    n_y = np.shape(y)[0] if np.ndim(y) else None
    if n_y != n:
        raise TrainingError(f"{y_name} has {n_y} items but {name} has {n}; expected equal")
    if n == 0:
        raise TrainingError(f"{name} has 0 items; expected at least one")
    return n


def _history_dict(history: keras.callbacks.History) -> dict[str, list[float]]:
    return {str(k): [float(v) for v in values] for k, values in history.history.items()}


def _update_digest(digest, value, *, path: str) -> None:
    """Feed a canonical, type-tagged encoding of ``value`` into ``digest``."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            digest.update(f"objarray{value.shape}".encode())
            _update_digest(digest, value.tolist(), path=path)
            return
        digest.update(f"ndarray:{value.dtype.str}:{value.shape}:".encode())
        digest.update(np.ascontiguousarray(value).data)
    elif isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        digest.update(f"pandas:{type(value).__name__}:{value.shape}:".encode())
        if isinstance(value, pd.DataFrame):
            _update_digest(digest, [str(c) for c in value.columns], path=path)
            _update_digest(digest, [str(t) for t in value.dtypes], path=path)
        hashed = pd.util.hash_pandas_object(value, index=not isinstance(value, pd.Index))
        digest.update(np.ascontiguousarray(hashed.to_numpy()).data)
    elif isinstance(value, np.generic):
        _update_digest(digest, value.item(), path=path)
    elif value is None or isinstance(value, (bool, int, float, str)):
        digest.update(f"json:{json.dumps(value)}".encode())
    elif isinstance(value, Path):
        digest.update(f"path:{value.as_posix()}".encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(f"dataclass:{type(value).__qualname__}:".encode())
        # A recipe leaves out the fields added since caches existed while they hold their default.
        record = value.cache_record() if hasattr(value, "cache_record") else dataclasses.asdict(value)
        _update_digest(digest, record, path=path)
    elif isinstance(value, Mapping):
        digest.update(f"mapping:{len(value)}:".encode())
        for k in sorted(value, key=str):
            digest.update(f"key:{k}:".encode())
            _update_digest(digest, value[k], path=f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        digest.update(f"sequence:{len(value)}:".encode())
        for k, item in enumerate(value):
            _update_digest(digest, item, path=f"{path}[{k}]")
    elif callable(value):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if module is None or qualname is None or "<lambda>" in qualname:
            raise TrainingError(
                f"training_key part {path}={value!r}: callables must be named module-level "
                f"functions or classes"
            )
        digest.update(f"callable:{module}.{qualname}".encode())
    else:
        raise TrainingError(
            f"training_key part {path} is a {type(value).__name__}; expected arrays, pandas "
            f"objects, JSON values, dataclasses, mappings, sequences or named functions"
        )
