"""Cross-corpus quality: train on all of RAVDESS, test on speech from other corpora.

    python -m benchmarks.crosscorpus --ravdess DIR --test NAME:DIR [--test NAME:DIR ...]
        [--recipes ours,ours-robust,compare,egemaps] [--modes single-clip,speaker-adaptive]
        [--seed 42] [--output FILE]
    python -m benchmarks.crosscorpus --test NAME:DIR [...] --shipped [--output FILE]

NAME is a corpus of :mod:`helpers.other_corpora` (``emodb``, ``tess``, ``savee``,
``crema-d``). Each recipe is trained on every RAVDESS clip (the ``ours`` recipes through
:func:`helpers.pretrained.train_shipped`, the one path the shipped models were trained on; the
``compare`` and ``egemaps`` baselines through :func:`helpers.baselines.make_classifier`), once per
mode, and tested on each corpus; ``--shipped`` tests the models in ``models/`` instead and needs
no RAVDESS. Scores are over the classes each corpus shares with RAVDESS, calm counted as neutral
(:mod:`helpers.crosscorpus`): UAR, accuracy, per-class recall, the confusion matrix, and gender
accuracy (single clip).

Progress and a readable table go to standard error; the last line printed for each recipe is one
JSON object: ``recipe, source, train_clips, train_seconds, corpora {NAME: {corpus, root,
n_clips, n_speakers, skipped, skipped_examples, dropped, modes {MODE: {classes, uar, accuracy,
per_class_recall, confusion, gender_accuracy} or null}}}``. ``--output FILE`` also writes the
lines. The reconstruction (``original``, log-mel CNNs) is not offered: it is trained on cached
RAVDESS log-mels and scored on held-out actors by notebooks 03 and 05.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import (baselines, config, crosscorpus, datasets, experiments, functionals, io,
                     pretrained, recipes)
from helpers.errors import ProjectError

ALL_RECIPES = ("ours", "ours-robust", "compare", "egemaps")
DEFAULT_RECIPES = "ours,compare,egemaps"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crosscorpus",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", help="RAVDESS speech folder to train on (not read with --shipped)")
    parser.add_argument("--test", action="append", default=[], metavar="NAME:DIR",
                        help=f"a test corpus, NAME one of {', '.join(crosscorpus.other_corpora.SPECS)}; repeatable")
    parser.add_argument("--recipes", help=f"comma-separated, from {','.join(ALL_RECIPES)} (default: {DEFAULT_RECIPES})")
    parser.add_argument("--shipped", action="store_true", help="test the shipped models in models/; train nothing")
    parser.add_argument("--modes", default=",".join(recipes.MODES), help="comma-separated evaluation modes (default: both)")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--output", help="also write the JSON lines to this file (atomically)")
    args = parser.parse_args(argv)
    if not args.test:
        parser.error("--test NAME:DIR is required (at least one test corpus)")
    try:
        args.corpora = {}
        for text in args.test:
            name, path = crosscorpus.parse_corpus_argument(text, argument="--test")
            if name in args.corpora:
                parser.error(f"--test {text!r}: corpus {name!r} is given twice")
            args.corpora[name] = path
    except crosscorpus.CrossCorpusError as error:
        parser.error(str(error))
    if args.shipped and args.recipes:
        parser.error(f"--recipes {args.recipes!r} and --shipped exclude each other: --shipped tests "
                     f"the shipped models, --recipes trains recipes")
    args.recipe_list = [r.strip() for r in (args.recipes or DEFAULT_RECIPES).split(",") if r.strip()]
    unknown = sorted(set(args.recipe_list) - set(ALL_RECIPES))
    if unknown or not args.recipe_list:
        parser.error(f"--recipes {args.recipes!r}: unknown {unknown}; expected names from {ALL_RECIPES}")
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad_modes = sorted(set(args.mode_list) - set(recipes.MODES))
    if bad_modes or not args.mode_list:
        parser.error(f"--modes {args.modes!r}: unknown {bad_modes}; expected names from {recipes.MODES}")
    if not args.shipped:
        if not args.ravdess:
            parser.error("--ravdess DIR is required to train (or pass --shipped to test the shipped models)")
        if not Path(args.ravdess).expanduser().is_dir():
            parser.error(f"--ravdess {args.ravdess!r} is not a folder")
    return args


def task_features(task: str, name: str, items: pd.DataFrame, *, train: bool):
    """A recipe's features of a task for an item table, and the copies it needs.

    Training gets every perturbed copy the recipe trains on; a test corpus only the speed copies
    its test-time averaging reads (:func:`helpers.training.predict_recipe`).
    """
    if name in baselines.BASELINES:
        return functionals.extract_for_items(items, feature_set=baselines.BASELINES[name]), [], None
    recipe = recipes.get_recipe(task, name).for_profile(config.get_profile("full"))
    if train:
        x, copies = experiments.recipe_features(recipe, items)
        return x, copies, recipe
    kwargs = {"feature_set": recipe.features, **recipe.signal_options}
    return (functionals.extract_for_items(items, **kwargs),
            [functionals.extract_for_items(items, speed=speed, **kwargs) for speed in recipe.speed_perturbation],
            recipe)


def fit_and_predict(task: str, name: str, train_items: pd.DataFrame, x_train: np.ndarray, copies,
                    tests: dict, *, seed: int) -> tuple[dict, float]:
    """Train one recipe on every RAVDESS clip and return each test corpus's output.

    ``tests`` maps a corpus name to ``(x, copies, recipe)`` of :func:`task_features`. Returns
    ``{corpus: probabilities}`` (emotion: ``(n, 8)``; gender: P(female), ``(n,)``) and the
    training seconds.
    """
    from helpers import gender, training

    started = time.perf_counter()
    if name in baselines.BASELINES:
        y = experiments.emotion_labels(train_items) if task == "emotion" else gender.gender_labels(train_items)
        model = baselines.make_classifier(task, seed=seed).fit(x_train, y)
        outputs = {corpus: model.predict_proba(x) for corpus, (x, _, _) in tests.items()}
        if task == "emotion" and model.classes_.size != len(config.EMOTIONS):
            # A tiny training set can lack a class: put each column where it belongs.
            outputs = {corpus: _full_columns(p, model.classes_) for corpus, p in outputs.items()}
    else:
        recipe = next(iter(tests.values()))[2]
        trained = pretrained.train_shipped(recipe, x_train, train_items, augmented=copies, seed=seed)
        outputs = {corpus: training.predict_recipe(trained.model, recipe, x, np.arange(len(x)), augmented=test_copies)
                   for corpus, (x, test_copies, _) in tests.items()}
    seconds = time.perf_counter() - started
    if task == "gender":
        outputs = {corpus: (p[:, 1] if p.shape[1] == 2 else p[:, 0]) for corpus, p in outputs.items()}
    return outputs, seconds


def _full_columns(probabilities: np.ndarray, classes: np.ndarray) -> np.ndarray:
    full = np.zeros((len(probabilities), len(config.EMOTIONS)))
    full[:, classes] = probabilities
    return full


def run_recipe(name: str, train_items: pd.DataFrame, test_sets: dict, *, modes, seed: int, say) -> dict:
    """Train a recipe on RAVDESS in each mode and score it on every test corpus."""
    outputs: dict = {}
    seconds = 0.0
    for task in ("emotion", "gender"):
        x_train, copies, _ = task_features(task, name, train_items, train=True)
        tests = {corpus: task_features(task, name, items, train=False) for corpus, (items, _) in test_sets.items()}
        say(f"{name} {task}: features of {len(train_items)} RAVDESS clips ({len(copies)} copies) "
            f"and {sum(len(items) for items, _ in test_sets.values())} test clips")
        for mode in modes:
            if task == "gender" and mode != "single-clip":
                continue  # gender is scored in single-clip mode only (see helpers.crosscorpus)

            def adapt(x, items, mode=mode):
                return crosscorpus.speaker_standardised(x, items) if mode == "speaker-adaptive" else x

            mode_tests = {corpus: (adapt(x, test_sets[corpus][0]),
                                   [adapt(copy, test_sets[corpus][0]) for copy in test_copies], recipe)
                          for corpus, (x, test_copies, recipe) in tests.items()}
            result, fit_seconds = fit_and_predict(
                task, name, train_items, adapt(x_train, train_items),
                [adapt(copy, train_items) for copy in copies], mode_tests, seed=seed)
            seconds += fit_seconds
            say(f"{name} {task} {mode}: trained in {fit_seconds:.0f} s")
            for corpus, output in result.items():
                outputs.setdefault(corpus, {}).setdefault(mode, {})[task] = output
    corpora = {}
    for corpus, (items, facts) in test_sets.items():
        modes_scored = {}
        for mode in modes:
            output = outputs[corpus].get(mode, {})
            modes_scored[mode] = crosscorpus.score(items, output["emotion"], corpus=corpus,
                                                   p_female=output.get("gender"))
        corpora[corpus] = {**facts, "modes": modes_scored}
    return {"recipe": name, "source": "trained on all of RAVDESS", "train_clips": len(train_items),
            "train_seconds": round(seconds, 1), "corpora": corpora}


def run_shipped(corpora: dict, *, modes, say) -> dict:
    """The shipped models (``models/``) on every test corpus."""
    from helpers import predict

    started = time.perf_counter()
    predictor = predict.Predictor.load(pretrained.shipped_model("emotion"), pretrained.shipped_model("gender"))
    say(predictor.describe())
    results = crosscorpus.evaluate_predictor(predictor, corpora, say=say)
    for result in results.values():
        result["modes"] = {mode: result["modes"][mode] for mode in modes}
    return {"recipe": f"shipped ({pretrained.SHIPPED_RECIPE})", "source": "models/ (trained on all of RAVDESS)",
            "train_clips": None, "train_seconds": 0.0, "test_seconds": round(time.perf_counter() - started, 1),
            "corpora": results}


def show(line: dict, say) -> None:
    """The readable table of one recipe's line, on standard error."""
    table = crosscorpus.summary_table(line["corpora"])
    say(f"\n{line['recipe']} ({line['source']}):\n{table.to_string(index=False)}")
    for corpus, result in line["corpora"].items():
        if result["dropped"] or result["skipped"]:
            say(f"{corpus}: dropped {result['dropped'] or 'none'}, {result['skipped']} files skipped")


def main(argv=None) -> int:
    args = parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    lines = []
    try:
        if args.shipped:
            lines.append(run_shipped(args.corpora, modes=args.mode_list, say=say))
            show(lines[-1], say)
            print(json.dumps(lines[-1]), flush=True)
        else:
            manifest, _ = datasets.find_ravdess(args.ravdess)
            train_items = manifest.reset_index(drop=True)
            test_sets = {name: crosscorpus.load_test_corpus(name, path) for name, path in args.corpora.items()}
            for name in args.recipe_list:
                lines.append(run_recipe(name, train_items, test_sets, modes=args.mode_list,
                                        seed=args.seed, say=say))
                show(lines[-1], say)
                print(json.dumps(lines[-1]), flush=True)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output:
        io.write_json_lines(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
