"""How the `ours` models hold up when the recording chain changes: level, rate, codec, room, noise.

    python -m benchmarks.robustness --ravdess DIR [--folds 1,2] [--conditions NAME,...]
        [--seed 42] [--output FILE]

For each chosen speaker-independent fold (default the first two of 1-4, 5-8, …, 21-24), the
``ours`` emotion and gender recipes are trained on the fold's training actors, exactly as the
quality benchmark trains them. Every test clip is then passed through each recording-chain
condition of :mod:`helpers.channel` (quieter, louder, 8 and 16 kHz, telephone band, MP3, Ogg,
a reverberant room, white noise) and predicted again, as the prediction command predicts (a
recipe with test-time speeds averages its probabilities over the clip at those speeds; before
session 16 this benchmark scored speed 1 alone). Conditions are seeded per clip, so two
runs give the same numbers. Those conditions hand the model a file at the clip's own rate (48 kHz);
the ``file-8k``, ``file-16k``, ``file-22k`` and ``file-44k`` conditions (:data:`FILE_RATES`) hand
it the same speech as a file at that sample rate, as users' own recordings come.

It prints one JSON line per condition (``clean`` first):
``condition, description, folds, emotion_uar, emotion_uar_drop, gender_accuracy,
gender_accuracy_drop, emotion_agreement`` (the fraction of clips whose predicted emotion is the
one predicted on the clean clip), pooled over the folds' test clips. ``--output FILE`` also
writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import soundfile

from helpers import (audio, channel, config, datasets, evaluation, experiments, functionals, gender,
                     io, recipes, splits, training)
from helpers.errors import ConfigError, ProjectError


#: Conditions that deliver the clip as a file at another sample rate (not in
#: :data:`helpers.channel.CONDITIONS`, whose draws make the training copies).
FILE_RATES: dict[str, int] = {"file-8k": 8_000, "file-16k": 16_000, "file-22k": 22_050,
                              "file-44k": 44_100}


def get_condition(name: str) -> channel.Condition:
    """A recording-chain condition of :mod:`helpers.channel`, or a ``FILE_RATES`` delivery."""
    if name in FILE_RATES:
        return channel.Condition(name, f"the same speech as a {FILE_RATES[name] / 1000:g} kHz file",
                                 lambda y, sr, rng: y)
    if name not in channel.CONDITIONS:
        raise ConfigError(f"--conditions: condition {name!r} is unknown; expected one of "
                          f"{[*channel.CONDITIONS, *FILE_RATES]}")
    return channel.get_condition(name)


def transformed_copies(paths: list[str], condition: channel.Condition, folder: Path, *, seed: int) -> list[str]:
    """Write each file as ``condition`` delivers it: a float WAV at the file's own rate, or at
    ``FILE_RATES[condition.name]`` for those conditions."""
    out = []
    for path in paths:
        rate = audio.audio_info(path).samplerate
        y = audio.load_audio(path, sample_rate=rate)
        rng = np.random.default_rng([seed, zlib.crc32(f"{condition.name}:{Path(path).name}".encode())])
        target = folder / f"{Path(path).stem}.wav"
        delivered, file_rate = condition.apply(y, rate, rng), FILE_RATES.get(condition.name, rate)
        delivered = audio.resample(delivered, native_rate=rate, sample_rate=file_rate)
        soundfile.write(target, delivered, file_rate, subtype="FLOAT")
        out.append(str(target))
    return out


def clean_inputs(recipe: recipes.Recipe, x: np.ndarray, augmented: list, rows: np.ndarray) -> list[np.ndarray]:
    """The clean test rows at speed 1, then at each of ``recipe.test_time_speeds`` (taken from
    ``augmented``, the copies of :func:`helpers.experiments.recipe_features`)."""
    return [x[rows], *(augmented[recipe.speed_perturbation.index(speed)][rows]
                       for speed in recipe.test_time_speeds)]


def probabilities(model, recipe: recipes.Recipe, at_speeds: list[np.ndarray]) -> np.ndarray:
    """The model's probabilities averaged over its inputs at speed 1 and at the recipe's
    test-time speeds, as :func:`helpers.training.predict_recipe` and the prediction command
    average them."""
    return np.mean([training.predict_proba(model, training.recipe_inputs(recipe, x, np.arange(len(x))))
                    for x in at_speeds], axis=0, dtype=np.float64)


def train_models(items, split, *, seed: int, features: dict):
    """The fold's ``ours`` emotion and gender models (trained on its training actors)."""
    trained = {}
    for task, (recipe, x, augmented) in features.items():
        labels = experiments.emotion_labels(items) if task == "emotion" else gender.gender_labels(items)
        trained[task] = training.train_recipe(recipe, x, labels, split, seed=seed,
                                              data_key=f"robustness:{task}", augmented=augmented)
    return trained


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", required=True, help="RAVDESS speech folder")
    parser.add_argument("--folds", default="1,2", help="which of the 6 consecutive folds (1-6), comma-separated")
    parser.add_argument("--conditions", default=",".join([*channel.CONDITIONS, *FILE_RATES]),
                        help=f"comma-separated, from {','.join([*channel.CONDITIONS, *FILE_RATES])}")
    parser.add_argument("--recipe", default="ours", choices=("ours", "ours-robust"),
                        help="the recipe of both models (default ours)")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--output", help="also write the JSON lines to this file")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        fold_numbers = [int(f) for f in args.folds.split(",") if f.strip()]
        if not fold_numbers or any(not 1 <= f <= len(splits.CONSECUTIVE_FOLDS) for f in fold_numbers):
            raise ValueError
    except ValueError:
        parser.error(f"--folds {args.folds!r}: expected numbers from 1 to {len(splits.CONSECUTIVE_FOLDS)}")
    try:
        conditions = [get_condition(c.strip()) for c in args.conditions.split(",") if c.strip()]
        manifest, _ = datasets.find_ravdess(args.ravdess)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items = manifest.reset_index(drop=True)
    features = {}
    for task in ("emotion", "gender"):
        recipe = recipes.get_recipe(task, args.recipe).for_profile(config.get_profile("full"))
        features[task] = (recipe, *experiments.recipe_features(recipe, items))
    split_list = splits.folds_from_test_actors(
        items, [list(splits.CONSECUTIVE_FOLDS[f - 1]) for f in fold_numbers], seed=args.seed)
    y_emotion = experiments.emotion_labels(items)
    y_gender = gender.gender_labels(items)
    pooled: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        for split in split_list:
            started = time.perf_counter()
            trained = train_models(items, split, seed=args.seed, features=features)
            test_paths = items["path"].iloc[split.test].tolist()
            # Each task's inputs at speed 1, then at each of its recipe's test-time speeds (whose
            # probabilities it averages, as `python -m helpers.predict` does).
            variants = {"clean": {task: clean_inputs(recipe, x, augmented, split.test)
                                  for task, (recipe, x, augmented) in features.items()}}
            for condition in conditions:
                folder = Path(tmp) / f"{split.name}-{condition.name}"
                folder.mkdir()
                copies = transformed_copies(test_paths, condition, folder, seed=args.seed)
                # Each task's recipe says what it takes: functionals (set, speech level) or
                # log-mel windows (the frame GMM of ``ours`` gender).
                variants[condition.name] = {
                    task: ([experiments.log_mel_windows(copies)] if recipe.features == "log_mel" else
                           [functionals.extract(copies, feature_set=recipe.features, **recipe.signal_options,
                                                speed=speed, cache_folder=Path(tmp) / "cache")
                            for speed in (1.0, *recipe.test_time_speeds)])
                    for task, (recipe, _, _) in features.items()}
            for name, inputs in variants.items():
                emotion, p_female = (probabilities(trained[task].model, features[task][0], inputs[task])
                                     for task in ("emotion", "gender"))
                p_female = p_female[:, 0]
                entry = pooled.setdefault(name, {"emotion": [], "p_female": [], "rows": []})
                entry["emotion"].append(emotion)
                entry["p_female"].append(p_female)
                entry["rows"].append(split.test)
            say(f"fold {list(split.test_actors)}: {len(conditions)} conditions in {time.perf_counter() - started:.0f} s")
    lines, clean = [], None
    for name, entry in pooled.items():
        rows = np.concatenate(entry["rows"])
        emotion = np.concatenate(entry["emotion"])
        p_female = np.concatenate(entry["p_female"])
        uar = float(evaluation.standard_metrics(y_emotion[rows], emotion, labels=config.EMOTIONS)["uar"])
        accuracy = float(np.mean((p_female > evaluation.THRESHOLD).astype(int) == y_gender[rows]))
        predicted = emotion.argmax(axis=1)
        if clean is None:
            clean = {"uar": uar, "accuracy": accuracy, "predicted": predicted}
        lines.append({
            "recipe": args.recipe, "condition": name,
            "description": "studio recording as released" if name == "clean" else get_condition(name).description,
            "folds": [list(s.test_actors) for s in split_list],
            # 6 digits: a reader rounding to 3 must not meet a value already rounded (0.7305).
            "emotion_uar": round(uar, 6), "emotion_uar_drop": round(clean["uar"] - uar, 6),
            "gender_accuracy": round(accuracy, 6), "gender_accuracy_drop": round(clean["accuracy"] - accuracy, 6),
            "emotion_agreement": round(float(np.mean(predicted == clean["predicted"])), 6),
        })
        print(json.dumps(lines[-1]), flush=True)
    if args.output:
        io.write_json_lines(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
