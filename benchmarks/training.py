"""Benchmark: training and inference throughput of a recipe, and where its training time goes.

It times, in one process, on generated inputs of the real shapes (a log-mel of 64 x 151 for
``original``, 6,373 ComParE functionals for ``ours``) and labels:

* **project**: the project's one training path (:func:`helpers.training.train_recipe`): the
  recipe's normalisation, validation every epoch, its stopping rule and callbacks, its epochs
  run by :func:`helpers.training.run_epochs` (NumPy batches fed from the calling thread);
* **reference**: a plain ``model.fit`` on in-memory numpy arrays of the same model, for the
  same number of epochs, without validation or callbacks;
* **input pipeline**: the time to produce the project's batches alone (the seeded shuffled
  passes, or the seeded batch stream of fixed-size epochs), without a model;
* **inference**: the project's prediction (:func:`helpers.training.predict_proba`, batches of
  256) on the test rows.

The report splits the project's time into the input pipeline, the forward/backward pass (the
reference minus its own batching) and callbacks and validation (the rest). ``ours`` is solved
by L-BFGS (no epochs): its forward/backward share is the solve, and its reference is the
recipe's own epochs of plain minibatch steps (``speedup_vs_reference`` is the ratio of the times
to a trained model). The last line printed is one
JSON object with the keys ``recipe``, ``precision``, ``train_samples_per_s``,
``reference_samples_per_s``, ``speedup_vs_reference`` and ``inference_samples_per_s``.

    python -m benchmarks.training [--recipe original|ours] [--precision float32|bfloat16]
                                  [--items N] [--epochs N]

Speed targets live here, never in timed tests. Numbers depend on the CPU and its load: run it
on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

#: Generated input shapes of each recipe: (log-mel bands, frames) or (functionals,).
SHAPES = {"original": (64, 151), "ours": (6373,)}


def make_data(recipe_name: str, n_items: int, *, seed: int = 0):
    """Inputs, labels and an item table of ``n_items`` generated clips over 12 actors."""
    import pandas as pd

    from helpers import config

    rng = np.random.default_rng(seed)
    x = rng.normal(-40.0 if recipe_name == "original" else 0.0, 15.0,
                   size=(n_items, *SHAPES[recipe_name])).astype(np.float32)
    labels = np.arange(n_items) % len(config.EMOTIONS)
    actors = 1 + (np.arange(n_items) // len(config.EMOTIONS)) % 12
    items = pd.DataFrame({"actor": actors, "gender": np.where(actors % 2, "male", "female"),
                          "emotion_code": labels + 1,
                          "emotion": [config.EMOTIONS[k] for k in labels],
                          "clip_id": [f"c{k}" for k in range(n_items)], "variant": "clean"})
    return x, labels, items


def time_input_pipeline(x: np.ndarray, y: np.ndarray, recipe, *, epochs: int, seed: int) -> float:
    """Seconds to produce every training batch of ``epochs`` epochs, without a model."""
    from helpers import training

    started = time.perf_counter()
    if recipe.steps_per_epoch:
        batches = training._EpochBatches(x, y, n_items=len(y), batch_size=recipe.batch_size,
                                         steps=recipe.steps_per_epoch, seed=seed)
    else:
        batches = training._ShuffledPasses(x, y, n_items=len(y), batch_size=recipe.batch_size,
                                           seed=seed)
    for _ in range(epochs):
        for step in range(len(batches)):
            batches[step]
        batches.on_epoch_end()
    return time.perf_counter() - started


def run(recipe_name: str, *, precision: str, n_items: int, epochs: int | None, seed: int,
        say=print) -> dict:
    """Time one recipe; returns the JSON record (see the module docstring)."""
    import keras

    from helpers import config, recipes, splits, training

    recipe = recipes.get_recipe("emotion", recipe_name).for_profile(config.get_profile("full"))
    changes = {"speed_perturbation": (), "channel_copies": 0}
    if recipe_name == "original":
        # The full profile's 200 epochs with patience: a fixed number here, without stopping.
        changes.update(epochs=epochs or 3, patience=-1)
    elif epochs:
        changes["epochs"] = epochs
    recipe = recipe.replace(**changes)
    if precision == "bfloat16" and recipe.features != "log_mel":
        raise SystemExit("--precision bfloat16 applies to the log-mel CNN (--recipe original)")
    if recipe.features == "log_mel":
        # Explicit either way: the builders' own default follows SER_PRECISION and the CPU.
        recipe = recipe.with_hyperparameters(mixed_precision=precision == "bfloat16")
    x, labels, items = make_data(recipe_name, n_items, seed=seed)
    split = training.fitted_split(recipe, splits.speaker_folds(items, n_folds=6, seed=seed)[0])
    n_train = split.train.size
    say(f"{recipe_name} ({recipe.solver}), {precision}: {n_train} training items of shape "
        f"{x.shape[1:]}, {len(split.validation)} validation, {len(split.test)} test")

    with tempfile.TemporaryDirectory() as cache:
        trained = training.train_recipe(recipe, x, labels, split, seed=seed, data_key="benchmark",
                                        cache_folder=cache, force=True)
    epochs_run = len(trained.history["loss"])
    project_s = trained.seconds
    project_rate = trained.train_samples_per_s
    say(f"project: {project_s:.1f} s, {epochs_run} epoch(s), {project_rate:.0f} samples/s")

    # The reference: the same model, plain fit on numpy arrays, same epochs, nothing else.
    x_train = training.recipe_inputs(recipe, x, split.train)
    targets = np.eye(len(config.EMOTIONS), dtype=np.float32)[labels[split.train]]
    normalization = training.normalization_statistics(recipe, x[split.train])
    params = recipe.params
    params.pop("decay_steps", None)
    model = recipe.builder(x_train.shape[1:], normalization=normalization, seed=seed, **params)
    reference_epochs = epochs_run if recipe.solver == "gradient" else (epochs or recipe.epochs)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model.fit(x_train, targets, epochs=reference_epochs, batch_size=recipe.batch_size, verbose=0)
    reference_s = time.perf_counter() - started
    reference_rate = reference_epochs * n_train / reference_s
    say(f"reference (plain model.fit, {reference_epochs} epochs): {reference_s:.1f} s, "
        f"{reference_rate:.0f} samples/s")

    input_s = time_input_pipeline(x_train, targets, recipe, epochs=epochs_run, seed=seed)
    x_test = training.recipe_inputs(recipe, x, split.test)
    training.predict_proba(trained.model, x_test[:8])  # trace once
    started = time.perf_counter()
    training.predict_proba(trained.model, x_test, batch_size=256)
    inference_rate = len(x_test) / (time.perf_counter() - started)

    if recipe.solver == "gradient":
        compute_s = max(0.0, reference_s * epochs_run / reference_epochs - input_s)
    else:
        compute_s = float(trained.history.get("solve_seconds", [project_s])[0])
    other_s = max(0.0, project_s - input_s - compute_s)
    say("where the project's training time goes:")
    for part, seconds in (("input pipeline (batching)", input_s),
                          ("forward/backward pass" if recipe.solver == "gradient"
                           else "L-BFGS solve", compute_s),
                          ("callbacks, validation, set-up", other_s)):
        say(f"  {part:32s} {seconds:7.2f} s  {100 * seconds / max(project_s, 1e-9):5.1f} %")
    say(f"inference: {inference_rate:.0f} samples/s")
    return {"recipe": recipe_name, "precision": precision, "solver": recipe.solver,
            "n_train": int(n_train), "epochs": int(epochs_run),
            "train_samples_per_s": round(float(project_rate), 1),
            "reference_samples_per_s": round(float(reference_rate), 1),
            # Time to a trained model: for gradient steps both runs do the same epochs (so this
            # is also the ratio of samples/s); an L-BFGS recipe is compared with its own
            # recipe's epochs of plain minibatch steps.
            "speedup_vs_reference": round(float(reference_s / project_s), 3),
            "inference_samples_per_s": round(float(inference_rate), 1),
            # Milliseconds kept: on small inputs a solve takes a tenth of a second, and
            # hundredths would make the ratio of the printed times disagree with the speed-up.
            "seconds": {"project": round(project_s, 3), "reference": round(reference_s, 3),
                        "input_pipeline": round(input_s, 3), "compute": round(compute_s, 3),
                        "callbacks_validation_setup": round(other_s, 3)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=sorted(SHAPES), default="original")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="compute precision of the log-mel CNN (default float32, the "
                             "comparison point; the project itself uses bfloat16 where the CPU "
                             "has it, see helpers.models)")
    parser.add_argument("--items", type=int, default=720,
                        help="generated clips (default 720: 480 training items)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: 3 for original; the recipe's own for ours)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.items < 96:
        parser.error(f"--items {args.items}: expected at least 96 (8 per actor over 12 actors)")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: expected at least 1")
    record = run(args.recipe, precision=args.precision, n_items=args.items, epochs=args.epochs,
                 seed=args.seed)
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
