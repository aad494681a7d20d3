"""Speaker-independent quality: the project's headline number, per recipe and evaluation mode.

    python -m benchmarks.quality --ravdess DIR [--task emotion|gender]
        [--recipes ours,original,compare,egemaps] [--folds FILE] [--precision auto|float32|bfloat16]
        [--ablation] [--seed 42] [--output FILE]

Every recipe is trained and tested on the same folds of test actors (default: the reference
baselines' consecutive folds 1-4, 5-8, ..., 21-24; ``--folds FILE`` takes a JSON list of
test-actor lists). Validation actors (2 per fold, 1 female + 1 male) always come from the
fold's training actors; a recipe whose solver reads no validation data (``ours`` and
``ours-robust``: L-BFGS, EM) and the scikit-learn baselines fit on them too (the recipes since
session 23), the reconstruction's CNNs stop on them. The test actors are touched once, for the
scores. Clean speech only.

It prints one JSON line per recipe and mode:
``task, recipe, mode, folds [{test_actors, uar, accuracy, macro_f1}], uar_mean, uar_std,
accuracy_mean, accuracy_std, macro_f1_mean, train_seconds, train_samples_per_s``
(std: population std over folds); the ``original`` lines add ``precision``.
``--ablation`` (``ours`` and ``ours-robust`` only) also trains every variant of
:func:`helpers.recipes.ablation` (the recipe with one part changed) on the same folds, from the
same functionals: those lines add ``variant`` (the full recipe's line is ``"full recipe"``) and
``delta_uar_mean`` (against the full recipe, same mode). ``--output FILE``
also writes them, one per line. ``--precision`` sets the compute precision of the
reconstruction's CNNs (default ``auto``: the project's, bfloat16 where the CPU has bfloat16
instructions; :func:`helpers.config.cnn_precision`), to check that it costs no accuracy; the
functionals recipes are unaffected.

Recipes: ``ours`` and ``original`` (:mod:`helpers.recipes`); ``compare`` and ``egemaps`` are the
classical openSMILE + scikit-learn baselines (:mod:`helpers.baselines`). Modes: ``single-clip``
for all. ``speaker-adaptive`` uses each test speaker's other (unlabelled) clips: for emotion,
each speaker's functionals are standardised over that speaker's own clips (functionals recipes
only); for gender, the single-clip model's probabilities are averaged over each test speaker's
clips (:func:`helpers.evaluation.pool_by_speaker`), every recipe, the reconstruction included
(standardising a speaker over their own clips removes gender itself: it scored 0.48). The
``original`` recipe is trained with the ``full`` profile on the clean log-mels (minutes per
fold on 2 cores: on the real RAVDESS early stopping ended it after 5-21 epochs of about 1,200
clips, 408 s in float32 and 235 s in bfloat16 for the 6 folds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks import arguments
from helpers import (baselines, config, crosscorpus, datasets, evaluation, experiments,
                     functionals, gender, io, recipes, splits)
from helpers.errors import ProjectError

ALL_RECIPES = ("ours", "ours-robust", "original", "compare", "egemaps")
#: The recipes ``--ablation`` takes (those :func:`helpers.recipes.ablation` has parts for, from
#: features the benchmark extracts once).
ABLATION_RECIPES = ("ours", "ours-robust")
#: ``--precision`` choices (the reconstruction's CNNs only).
PRECISIONS = ("float32", "bfloat16")


def read_folds(path: str | os.PathLike) -> list[list[int]]:
    """Read and check a ``--folds`` file: a JSON list of test-actor lists.

    Raises
    ------
    helpers.splits.SplitError
        If the file is missing, not JSON, or not a valid fold definition (the message names
        the file and the problem).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise splits.SplitError(f"--folds {path}: cannot be read ({error.strerror})") from None
    try:
        folds = json.loads(text)
    except json.JSONDecodeError as error:
        raise splits.SplitError(f"--folds {path}: not valid JSON ({error})") from None
    return splits.check_fold_definition(folds, source=f"--folds {path}")


def fold_scores(task: str, y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """UAR, accuracy and macro F1 of one fold (arg-max of the probabilities)."""
    labels = config.EMOTIONS if task == "emotion" else config.GENDERS
    metrics = evaluation.standard_metrics(y_true, probabilities, labels=labels)
    return {key: float(metrics[key]) for key in ("uar", "accuracy", "macro_f1")}


def summary(task: str, recipe: str, mode: str, folds: list[dict], seconds: float,
            samples_per_s: float | None) -> dict:
    """The benchmark's JSON line for one recipe and mode."""
    line = {"task": task, "recipe": recipe, "mode": mode, "folds": folds}
    for key in ("uar", "accuracy", "macro_f1"):
        values = np.array([fold[key] for fold in folds])
        line[f"{key}_mean"] = round(float(values.mean()), 6)
        if key != "macro_f1":
            line[f"{key}_std"] = round(float(values.std()), 6)
    line["train_seconds"] = round(seconds, 1)
    line["train_samples_per_s"] = None if samples_per_s is None else round(samples_per_s, 1)
    return line


def labels_for(task: str, items) -> np.ndarray:
    return experiments.emotion_labels(items) if task == "emotion" else gender.gender_labels(items)


def run_functionals_recipe(task: str, name: str, mode: str, x: np.ndarray, items, split_list, *,
                           seed: int, say, augmented=(), recipe: recipes.Recipe | None = None,
                           variant: str | None = None) -> dict:
    """A baseline (``compare``/``egemaps``) or ``ours`` on every fold, in one mode.

    ``recipe`` replaces the named recipe (an ablation variant: ``augmented`` must then hold
    the copies it takes, :func:`helpers.experiments.matching_copies`), and ``variant`` names it
    in the line and the progress messages.
    """
    y = labels_for(task, items)
    # Gender's speaker-adaptive mode pools the single-clip model's decisions (adapt_outputs).
    features_mode = mode if task == "emotion" else "single-clip"
    x = functionals.apply_mode(x, items, mode=features_mode)
    augmented = [functionals.apply_mode(copy, items, mode=features_mode) for copy in augmented]
    if recipe is None and name not in baselines.BASELINES:
        recipe = recipes.get_recipe(task, name)
    if recipe is not None:
        recipe = recipe.for_profile(config.get_profile("full"))
    label = name if variant is None else f"{name} [{variant}]"
    folds, seconds, samples = [], 0.0, 0.0
    for split in split_list:
        if recipe is None:
            probabilities, fit_seconds, rate = baselines.run_fold(x, y, split, task=task, seed=seed)
            n_samples, note = rate * fit_seconds, ""
        else:
            probabilities, fit_seconds, n_samples, note = train_fold(
                recipe, x, y, split, seed=seed, data_key=f"benchmark:{name}:{features_mode}",
                augmented=augmented)
        probabilities = adapt_outputs(task, mode, probabilities, items, split)
        scores = fold_scores(task, y[split.test], probabilities)
        # 6 digits (the means are taken of these): a reader rounding to 3 must not meet a value
        # already rounded to 4 (0.73047 -> 0.7305 -> 0.731).
        folds.append({"test_actors": list(split.test_actors), **{k: round(v, 6) for k, v in scores.items()}})
        seconds += fit_seconds
        samples += n_samples
        say(f"{task} {label} {mode} {split.name} test {list(split.test_actors)}: UAR {scores['uar']:.3f}, "
            f"accuracy {scores['accuracy']:.3f} ({fit_seconds:.0f} s{note})")
    line = summary(task, name, mode, folds, seconds, samples / seconds if seconds > 0 else None)
    return line if variant is None else {**line, "variant": variant}


def run_ablation(task: str, name: str, mode: str, x: np.ndarray, items, split_list, *,
                 seed: int, say, augmented=()) -> Iterator[dict]:
    """The recipe ``name`` and each of its ablation variants (:func:`helpers.recipes.ablation`)
    on every fold, in one mode: one line each, yielded as it is finished (a long run prints
    what it has), the full recipe's first, every line with ``variant`` and ``delta_uar_mean``
    (against the full recipe).

    ``augmented`` holds the full recipe's perturbed copies; each variant takes those it uses.
    """
    recipe = recipes.get_recipe(task, name)
    full = None
    for variant_name, variant in recipes.ablation(recipe).items():
        line = run_functionals_recipe(task, name, mode, x, items, split_list, seed=seed, say=say,
                                      augmented=experiments.matching_copies(recipe, variant, augmented),
                                      recipe=variant, variant=variant_name)
        full = line["uar_mean"] if full is None else full
        yield {**line, "delta_uar_mean": round(line["uar_mean"] - full, 6)}


def adapt_outputs(task: str, mode: str, probabilities: np.ndarray, items, split) -> np.ndarray:
    """A fold's test probabilities under an evaluation mode.

    Gender's ``speaker-adaptive`` averages them over each test speaker's clips
    (:func:`helpers.crosscorpus.gender_for_mode`, the rule the cross-corpus scores use);
    everything else is returned unchanged (emotion adapts its inputs instead).
    """
    if task == "gender":
        return crosscorpus.gender_for_mode(probabilities, items.iloc[split.test], mode)
    return probabilities


def train_fold(recipe: recipes.Recipe, x: np.ndarray, y: np.ndarray, split, *, seed: int,
               data_key: str, augmented=()) -> tuple[np.ndarray, float, float, str]:
    """Train a recipe on one fold and predict its test actors.

    Returns the test probabilities (two columns, male and female, for gender), the training
    seconds, the training samples seen and a note on the epochs run.
    """
    from helpers import training

    trained = training.train_recipe(recipe, x, y, split, seed=seed, data_key=data_key,
                                    augmented=augmented)
    probabilities = training.predict_recipe(trained.model, recipe, x, split.test, augmented=augmented)
    if recipe.task == "gender":
        probabilities = np.column_stack([1.0 - probabilities[:, 0], probabilities[:, 0]])
    samples = (trained.train_samples_per_s or 0.0) * trained.seconds
    return probabilities, trained.seconds, samples, f", {training.describe_fit(trained.history)}"


def run_original(task: str, run, split_list, *, seed: int, say,
                 modes: tuple[str, ...] = ("single-clip",), precision: str = "float32") -> list[dict]:
    """The reconstruction on the clean log-mels, ``full`` profile: one summary per mode.

    Emotion is scored single clip only (its speaker-adaptive mode standardises functionals);
    gender in each of ``modes`` from the same trained models (:func:`adapt_outputs`).
    ``precision="bfloat16"`` builds the CNNs with the builders' ``mixed_precision`` (bfloat16
    compute, float32 output layer; models of their own in the cache).
    """
    from helpers import pipeline

    feature_set = pipeline.load_features(run, seed=seed)
    x, items = feature_set.variant("clean")
    y = labels_for(task, items)
    splits_here = splits.folds_from_test_actors(items, [list(s.test_actors) for s in split_list],
                                                seed=seed)
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {PRECISIONS}")
    # Explicit either way: the builders' own default follows SER_PRECISION and the CPU.
    recipe = recipes.get_recipe(task, "original", mixed_precision=precision == "bfloat16").for_profile(
        config.get_profile("full"))
    modes = tuple(modes) if task == "gender" else ("single-clip",)
    folds, seconds, samples = {mode: [] for mode in modes}, 0.0, 0.0
    for split in splits_here:
        probabilities, fit_seconds, n_samples, note = train_fold(
            recipe, x, y, split, seed=seed, data_key=f"benchmark:original:{task}")
        for mode in modes:
            scores = fold_scores(task, y[split.test], adapt_outputs(task, mode, probabilities, items, split))
            folds[mode].append({"test_actors": list(split.test_actors),
                                **{k: round(v, 4) for k, v in scores.items()}})
            say(f"{task} original {mode} {split.name} test {list(split.test_actors)}: "
                f"UAR {scores['uar']:.3f} ({fit_seconds:.0f} s{note})")
        seconds += fit_seconds
        samples += n_samples
    return [{**summary(task, "original", mode, folds[mode], seconds, samples / seconds if seconds else None),
             "precision": precision} for mode in modes]


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", required=True, help="RAVDESS speech folder (any layout, WAV or FLAC)")
    parser.add_argument("--task", choices=recipes.TASKS, default="emotion")
    parser.add_argument("--recipes",
                        help=f"comma-separated, from {','.join(ALL_RECIPES)} (default: "
                             f"ours,compare,egemaps; with --ablation, ours)")
    parser.add_argument("--folds", help="JSON file: a list of test-actor lists, e.g. [[1,2,3,4],[5,6,7,8]]")
    parser.add_argument("--modes", default=",".join(recipes.MODES),
                        help="comma-separated evaluation modes (default: both)")
    parser.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto",
                        help="compute precision of the reconstruction's CNNs (default: the "
                             "project's, SER_PRECISION or bfloat16 where the CPU has it; the "
                             "functionals recipes are solved in float32 either way)")
    parser.add_argument("--ablation", action="store_true",
                        help=f"also train each variant of the recipe with one part changed "
                             f"({', '.join(ABLATION_RECIPES)} only)")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--output", help="also write the JSON lines to this file (atomically)")
    args = parser.parse_args(argv)
    if args.recipes is None:
        args.recipes = "ours" if args.ablation else "ours,compare,egemaps"
    args.recipe_list = arguments.name_list(parser, "--recipes", args.recipes, ALL_RECIPES)
    if args.ablation and set(args.recipe_list) - set(ABLATION_RECIPES):
        parser.error(f"--ablation takes --recipes from {ABLATION_RECIPES}; got {args.recipes!r}")
    args.mode_list = arguments.name_list(parser, "--modes", args.modes, recipes.MODES)
    return args


def resolve_precision(precision: str) -> str:
    """``auto`` → the CNN builders' default (:func:`helpers.config.cnn_precision`)."""
    return config.cnn_precision() if precision == "auto" else precision


def main(argv=None) -> int:
    args = parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        fold_definition = read_folds(args.folds) if args.folds else [list(f) for f in splits.CONSECUTIVE_FOLDS]
        manifest, _ = datasets.find_ravdess(args.ravdess)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items = manifest.reset_index(drop=True)
    try:
        split_list = splits.folds_from_test_actors(items, fold_definition, seed=args.seed)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    lines = []
    for name in args.recipe_list:
        if name == "original":
            from helpers import pipeline

            run = pipeline.load_run(profile="full", ravdess_dir=args.ravdess,
                                    noise_dir=os.environ.get("SER_NOISE_DIR", ""))
            for line in run_original(args.task, run, split_list, seed=args.seed, say=say,
                                     modes=tuple(args.mode_list),
                                     precision=resolve_precision(args.precision)):
                lines.append(line)
                print(json.dumps(line), flush=True)
            continue
        started = time.perf_counter()
        if name in ("ours", "ours-robust"):
            x, augmented = experiments.recipe_features(recipes.get_recipe(args.task, name), items)
        else:
            x, augmented = functionals.extract_for_items(items, feature_set=baselines.BASELINES[name]), []
        say(f"{name}: functionals of {len(items)} clips ({len(augmented)} perturbed copies): "
            f"{time.perf_counter() - started:.0f} s")
        for mode in args.mode_list:
            if args.ablation:
                for line in run_ablation(args.task, name, mode, x, items, split_list,
                                         seed=args.seed, say=say, augmented=augmented):
                    lines.append(line)
                    print(json.dumps(line), flush=True)
                continue
            lines.append(run_functionals_recipe(args.task, name, mode, x, items, split_list,
                                                seed=args.seed, say=say, augmented=augmented))
            print(json.dumps(lines[-1]), flush=True)
    if args.output:
        io.write_json_lines(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
