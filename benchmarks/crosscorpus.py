"""Cross-corpus quality: train on all of RAVDESS, test on speech from other corpora.

    python -m benchmarks.crosscorpus --ravdess DIR --test NAME:DIR [--test NAME:DIR ...]
        [--recipes ours,compare,egemaps,original,ours-robust] [--modes single-clip,speaker-adaptive]
        [--seed 42] [--output FILE]
    python -m benchmarks.crosscorpus --test NAME:DIR [...] --shipped [--output FILE]

NAME is a corpus of :mod:`helpers.other_corpora` (``emodb``, ``tess``, ``savee``,
``crema-d``). Each recipe is trained on every RAVDESS clip (the ``ours`` recipes through
:func:`helpers.pretrained.train_shipped`, the one path the shipped models were trained on; the
``compare`` and ``egemaps`` baselines through :func:`helpers.baselines.make_classifier`), once per
mode, and tested on each corpus; ``--shipped`` tests the models in ``models/`` instead and needs
no RAVDESS. Scores are over the classes each corpus shares with RAVDESS, calm counted as neutral
(:mod:`helpers.crosscorpus`): UAR, accuracy, per-class recall, the confusion matrix, and gender
accuracy (speaker-adaptive: the single-clip P(female) averaged over each test speaker's clips).

``original`` is the reconstruction: the log-mel CNNs of :func:`helpers.recipes.original_emotion`
and :func:`helpers.recipes.original_gender` (``full`` profile, as the other recipes), each
trained through :func:`helpers.training.train_recipe` on the clean log-mels of
:func:`ravdess_log_mels` (on 2 cores about 5 minutes: 16 epochs of the emotion CNN in 256 s and
15 of the gender CNN in 13 s, measured on the real RAVDESS). Its stopping rule (early stopping
on validation loss for emotion, best validation epoch kept for gender) needs validation actors:
two RAVDESS actors, one female and one male, drawn by ``--seed`` (:func:`validation_split`), are
held out of its training for that and nothing else. The test corpora are never used for
training, selection or stopping. Each test file is predicted as ``python -m helpers.predict``
predicts it (:class:`helpers.predict.Predictor` through
:func:`helpers.crosscorpus.evaluate_predictor`): resampled to the training sample rate, 3 s
windows from 0.5 s (from 0 s in a file shorter than 2 s), zero-padded, the training-set
normalisation inside the model, window scores averaged. It is scored in single-clip mode only:
the project standardises functionals per speaker, never log-mels
(:func:`helpers.experiments.prepare_inputs` refuses it), so its ``speaker-adaptive`` scores are
``null`` and ``modes_not_scored`` says why.

Progress and a readable table go to standard error; the last line printed for each recipe is one
JSON object: ``recipe, source, train_clips, train_seconds, validation_actors, modes_not_scored,
corpora {NAME: {corpus, root, n_clips, n_speakers, skipped, skipped_examples, dropped, modes
{MODE: {classes, uar, accuracy, per_class_recall, confusion, gender_accuracy} or null}}}``
(``validation_actors``: null for the recipes trained on every clip; ``modes_not_scored``:
``{MODE: reason}``, empty when every mode asked was scored). The ``original`` line adds
``epochs {emotion, gender: {run, best}}``. ``--output FILE`` also writes the lines.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import arguments
from helpers import (audio, baselines, config, crosscorpus, datasets, evaluation, experiments,
                     features, functionals, io, predict, pretrained, recipes, splits)
from helpers.errors import ProjectError, is_int

ALL_RECIPES = ("ours", "ours-robust", "original", "compare", "egemaps")
DEFAULT_RECIPES = "ours,compare,egemaps,original"
#: RAVDESS actors held out of the ``original`` recipe's training for its stopping rule (half
#: female, half male), as many as each fold of the speaker-independent protocol holds out.
VALIDATION_ACTORS = 2
#: Why the log-mel CNNs get no speaker-adaptive scores (the line's ``modes_not_scored``).
LOG_MEL_NOT_ADAPTIVE = ("speaker-adaptive standardises each speaker's functionals; the project "
                        "has no per-speaker standardisation of log-mels "
                        "(helpers.experiments.prepare_inputs refuses it), so the log-mel CNNs "
                        "are scored in single-clip mode only")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crosscorpus",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", help="RAVDESS speech folder to train on (not read with --shipped)")
    parser.add_argument("--test", action="append", default=[], metavar="NAME:DIR",
                        help=f"a test corpus, NAME one of {', '.join(crosscorpus.other_corpora.SPECS)}; repeatable")
    parser.add_argument("--recipes", help=f"comma-separated, from {','.join(ALL_RECIPES)} (default: "
                                          f"{DEFAULT_RECIPES}; original, the reconstruction's log-mel "
                                          f"CNNs, scores single-clip only)")
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
    args.recipe_list = arguments.name_list(parser, "--recipes", args.recipes or DEFAULT_RECIPES, ALL_RECIPES)
    args.mode_list = arguments.name_list(parser, "--modes", args.modes, recipes.MODES)
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
    if recipe.features == "log_mel":
        return experiments.log_mel_windows(items["path"].tolist()), [], recipe
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
        # Gender is trained single clip only; its speaker-adaptive scores pool those decisions
        # per speaker (helpers.crosscorpus.gender_for_mode).
        for mode in (modes if task == "emotion" else ("single-clip",)):

            def adapt(x, items, mode=mode):
                return predict.speaker_standardised(x, items["actor"]) if mode == "speaker-adaptive" else x

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
        p_female = outputs[corpus]["single-clip"]["gender"]
        for mode in modes:
            modes_scored[mode] = crosscorpus.score(
                items, outputs[corpus][mode]["emotion"], corpus=corpus,
                p_female=crosscorpus.gender_for_mode(p_female, items, mode))
        corpora[corpus] = {**facts, "modes": modes_scored}
    return {"recipe": name, "source": "trained on all of RAVDESS", "train_clips": len(train_items),
            "train_seconds": round(seconds, 1), "validation_actors": None, "modes_not_scored": {},
            "corpora": corpora}


def validation_split(items: pd.DataFrame, *, seed: int, n_validation: int = VALIDATION_ACTORS) -> splits.Split:
    """Every RAVDESS actor trains but ``n_validation``, which only stop training; no test part.

    The validation actors are half female, half male, drawn with ``seed`` as
    :func:`helpers.splits.folds_from_test_actors` draws a fold's (female first, then male).

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items,)]
        RAVDESS manifest rows (``actor``, ``gender``).
    seed : int
    n_validation : int
        Even number of validation actors.

    Returns
    -------
    helpers.splits.Split
        Positional indices into ``items``, with actor lists (``test_actors`` empty).

    Raises
    ------
    helpers.splits.SplitError
        If ``n_validation`` is not even and positive, or a gender has too few actors to leave
        one in training.
    """
    if not (is_int(n_validation, minimum=1) and n_validation % 2 == 0):
        raise splits.SplitError(f"n_validation={n_validation!r} must be a positive even number "
                                f"(half female, half male)")
    per_actor = items.groupby("actor")["gender"].first()
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for gender in ("female", "male"):
        actors = np.sort(per_actor.index[per_actor == gender].to_numpy(dtype=np.int64))
        if len(actors) <= n_validation // 2:
            raise splits.SplitError(f"RAVDESS has {len(actors)} {gender} actors; holding out "
                                    f"n_validation={n_validation} (half {gender}) would leave none "
                                    f"to train on")
        held.extend(int(a) for a in rng.choice(actors, size=n_validation // 2, replace=False))
    is_validation = items["actor"].isin(held).to_numpy()
    return splits.Split(name="ravdess-less-validation-actors", train=np.flatnonzero(~is_validation),
                        validation=np.flatnonzero(is_validation), test=np.array([], dtype=np.int64),
                        seed=seed, train_actors=tuple(sorted(int(a) for a in set(per_actor.index) - set(held))),
                        validation_actors=tuple(sorted(held)), test_actors=())


def ravdess_log_mels(items: pd.DataFrame, *, feature_config: config.FeatureConfig = config.FEATURES,
                     max_workers: int = 4) -> np.ndarray:
    """The clean log-mel of every clip, as the log-mel CNNs are trained on it.

    The calls :func:`helpers.features.build_features` makes for its clean variant
    (:func:`helpers.audio.load_window`, then :func:`helpers.features.log_mel`), without the three
    noisy versions, which this benchmark does not use.

    Returns
    -------
    S_db : np.ndarray [shape=(n_items, n_mels, n_frames), dtype=float32]

    Raises
    ------
    helpers.errors.AudioError
        If a clip's analysis window cannot be read (``datasets.find_ravdess`` skips those).
    """
    def one(path: str) -> np.ndarray:
        return features.log_mel(audio.load_window(path, feature_config=feature_config),
                                feature_config=feature_config)

    # Threads, as build_features: decoding, resampling and the FFT release the GIL.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_workers) as pool:
        return np.stack(list(pool.map(one, items["path"].astype(str))))


def original_sidecar(recipe: recipes.Recipe, items: pd.DataFrame, split: splits.Split, *,
                     seed: int) -> dict:
    """What a model of the ``original`` recipe trained here needs beside it to be predicted."""
    from helpers import gender

    record = {"task": recipe.task,
              "labels": list(config.EMOTIONS if recipe.task == "emotion" else gender.LABELS),
              "feature_config": config.FEATURES.to_dict(), "features": recipe.features,
              "mode": "single-clip", "recipe": recipe.describe(),
              "dataset": f"RAVDESS speech ({len(items)} clips of {items['actor'].nunique()} actors)",
              "train_actors": list(split.train_actors), "validation_actors": list(split.validation_actors),
              "test_actors": None, "seed": seed}
    if recipe.task == "gender":
        record.update(positive_label=gender.POSITIVE_LABEL, threshold=evaluation.THRESHOLD,
                      output="p_female: sigmoid probability that the speaker is female")
    return record


def run_original(train_items: pd.DataFrame, test_sets: dict, *, modes, seed: int, say) -> dict:
    """The reconstruction's log-mel CNNs, trained on RAVDESS and scored on every test corpus.

    Both CNNs train on every RAVDESS clip but those of the validation actors
    (:func:`validation_split`), which only stop training; the test corpora are read after
    training, through the prediction command's path (see the module docstring).
    """
    from helpers import gender, model_files, predict, training

    not_scored = {mode: LOG_MEL_NOT_ADAPTIVE for mode in modes if mode != "single-clip"}
    split = validation_split(train_items, seed=seed)
    line = {"recipe": "original",
            "source": f"trained on all of RAVDESS but validation actors {list(split.validation_actors)}, "
                      f"which only stop training",
            "train_clips": int(split.train.size), "train_seconds": 0.0,
            "validation_actors": list(split.validation_actors), "modes_not_scored": not_scored}
    if "single-clip" not in modes:
        say("original: none of the modes asked is one a log-mel CNN is scored in; nothing trained")
        return {**line, "epochs": None,
                "corpora": {corpus: {**facts, "modes": {mode: None for mode in modes}}
                            for corpus, (_, facts) in test_sets.items()}}
    started = time.perf_counter()
    x = ravdess_log_mels(train_items)
    say(f"original: log-mels of {len(train_items)} RAVDESS clips {x.shape[1:]} in "
        f"{time.perf_counter() - started:.0f} s; training actors {list(split.train_actors)}, "
        f"validation actors {list(split.validation_actors)}")
    seconds, epochs, paths = 0.0, {}, {}
    with tempfile.TemporaryDirectory(prefix="crosscorpus-original-") as folder:
        for task in recipes.TASKS:
            recipe = recipes.get_recipe(task, "original").for_profile(config.get_profile("full"))
            labels = experiments.emotion_labels(train_items) if task == "emotion" else gender.gender_labels(train_items)
            trained = training.train_recipe(recipe, x, labels, split, seed=seed,
                                            data_key=f"crosscorpus:original:{task}", cache=False)
            seconds += trained.seconds
            epochs[task] = {"run": len(trained.history.get("loss", [])), "best": trained.best_epoch}
            say(f"original {task}: {training.describe_fit(trained.history)}, best validation epoch "
                f"{trained.best_epoch}, {trained.seconds:.0f} s")
            paths[task], _ = model_files.save_model_with_sidecar(
                trained.model, Path(folder) / f"{task}_original",
                sidecar=original_sidecar(recipe, train_items, split, seed=seed))
        predictor = predict.Predictor.load(paths["emotion"], paths["gender"])
        results = crosscorpus.evaluate_predictor(
            predictor, {corpus: facts["root"] for corpus, (_, facts) in test_sets.items()}, say=say)
    for result in results.values():
        result["modes"] = {mode: result["modes"][mode] for mode in modes}
    return {**line, "train_seconds": round(seconds, 1), "epochs": epochs, "corpora": results}


def run_shipped(corpora: dict, *, modes, say) -> dict:
    """The shipped models (``models/``) on every test corpus."""
    from helpers import predict

    started = time.perf_counter()
    predictor = predict.Predictor.load(pretrained.shipped_model("emotion"), pretrained.shipped_model("gender"))
    say(predictor.describe())
    results = crosscorpus.evaluate_predictor(predictor, corpora, say=say)
    for result in results.values():
        result["modes"] = {mode: result["modes"][mode] for mode in modes}
    not_scored = {mode: LOG_MEL_NOT_ADAPTIVE for mode in modes
                  if mode != "single-clip" and predictor.emotion.features == "log_mel"}
    return {"recipe": f"shipped ({pretrained.SHIPPED_RECIPE})", "source": "models/ (trained on all of RAVDESS)",
            "train_clips": None, "train_seconds": 0.0, "test_seconds": round(time.perf_counter() - started, 1),
            "validation_actors": None, "modes_not_scored": not_scored, "corpora": results}


def show(line: dict, say) -> None:
    """The readable table of one recipe's line, on standard error."""
    table = crosscorpus.summary_table(line["corpora"])
    say(f"\n{line['recipe']} ({line['source']}):\n{table.to_string(index=False)}")
    for mode, reason in line["modes_not_scored"].items():
        say(f"{mode}: not scored ({reason})")
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
                run = run_original if name == "original" else functools.partial(run_recipe, name)
                lines.append(run(train_items, test_sets, modes=args.mode_list, seed=args.seed, say=say))
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
