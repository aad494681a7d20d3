"""The models shipped with the project: built from RAVDESS by one command, checked by their card.

Command line::

    python -m helpers.pretrained build --ravdess DIR [--output FOLDER] [--seed 42]
    python -m helpers.pretrained verify [--folder FOLDER]

``build`` trains the ``ours`` emotion and gender recipes (:mod:`helpers.recipes`) on every clip
of a RAVDESS copy, cross-validates the same recipes on the 6 speaker-independent folds for the
card's numbers, and writes ``emotion_ours.keras``/``.json``, ``gender_ours.keras``/``.json`` and
``MODEL_CARD.md`` into the folder (default :data:`SHIPPED_DIR`, the tracked ``models/``). The
same data, seed and pinned libraries give the same bytes: the Keras archives are written with
fixed time stamps and the sidecars without a creation time. Files are replaced only when the
whole build has succeeded.

``verify`` checks every file the card lists against its SHA-256; prediction does the same
before it loads a shipped model (:func:`check_shipped`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import channel, config, evaluation, io, recipes, splits
from helpers.errors import ProjectError

#: Where the shipped models live (tracked in git).
SHIPPED_DIR = config.SHIPPED_MODELS_DIR
CARD_NAME = "MODEL_CARD.md"
#: Model name (file stem) per task.
MODEL_NAMES: dict[str, str] = {"emotion": "emotion_ours", "gender": "gender_ours"}
REBUILD_COMMAND = "python -m helpers.pretrained build --ravdess DIR"
#: The recipe of the shipped models: made for other microphones (helpers.recipes).
SHIPPED_RECIPE = "ours-robust"
#: Fixed time stamp of every member of a shipped ``.keras`` archive (the zip format's epoch).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_HASH_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|\s*`([0-9a-f]{64})`\s*\|\s*$")


class ShippedModelError(ProjectError):
    """A shipped model file is missing, corrupt, or does not match its card."""


# ----------------------------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------------------------


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (:func:`helpers.io.file_sha256`)."""
    return io.file_sha256(path)


def card_hashes(folder: str | Path = SHIPPED_DIR) -> dict[str, tuple[int, str]]:
    """``{file name: (bytes, sha256)}`` from the card's file table.

    Raises
    ------
    ShippedModelError
        If the card is missing or lists no files.
    """
    card = Path(folder) / CARD_NAME
    try:
        text = card.read_text(encoding="utf-8")
    except OSError as error:
        raise ShippedModelError(f"{card}: the model card cannot be read ({error.strerror}); "
                                f"rebuild the shipped models with `{REBUILD_COMMAND}`") from None
    rows = {m.group(1): (int(m.group(2)), m.group(3))
            for m in map(_HASH_ROW.match, text.splitlines()) if m}
    if not rows:
        raise ShippedModelError(f"{card}: no file table with SHA-256 sums; rebuild the shipped "
                                f"models with `{REBUILD_COMMAND}`")
    return rows


def check_shipped(folder: str | Path = SHIPPED_DIR, *, names: Sequence[str] | None = None) -> list[Path]:
    """Check shipped files against the card; return the paths checked.

    Parameters
    ----------
    folder : path
    names : sequence of str, optional
        Only these files (e.g. one model and its sidecar); default every file the card lists.

    Raises
    ------
    ShippedModelError
        If a file is missing, not listed, or its size or SHA-256 differs from the card's; the
        message names the file and the command that rebuilds it.
    """
    folder = Path(folder)
    listed = card_hashes(folder)
    checked = []
    for name in (names if names is not None else sorted(listed)):
        path = folder / name
        if name not in listed:
            raise ShippedModelError(f"{path}: not listed in {folder / CARD_NAME}; rebuild the "
                                    f"shipped models with `{REBUILD_COMMAND}`")
        size, expected = listed[name]
        if not path.is_file():
            raise ShippedModelError(f"{path}: missing; restore it from git (`git checkout -- "
                                    f"{path.name}`) or rebuild with `{REBUILD_COMMAND}`")
        actual = sha256(path)
        if path.stat().st_size != size or actual != expected:
            raise ShippedModelError(f"{path}: does not match its model card (SHA-256 {actual[:12]}…, "
                                    f"card {expected[:12]}…): the file is corrupt or was changed; "
                                    f"restore it from git or rebuild with `{REBUILD_COMMAND}`")
        checked.append(path)
    return checked


def shipped_model(task: str, folder: str | Path = SHIPPED_DIR) -> Path:
    """The checked shipped ``.keras`` file for ``task`` (its sidecar checked too).

    Raises
    ------
    ShippedModelError
        As :func:`check_shipped`.
    """
    name = MODEL_NAMES[task]
    check_shipped(folder, names=[f"{name}.keras", f"{name}.json"])
    return (Path(folder) / f"{name}.keras").resolve()


def is_shipped(path: str | Path, folder: str | Path = SHIPPED_DIR) -> bool:
    """True when ``path`` is a file of the shipped-models folder."""
    return Path(path).resolve().parent == Path(folder).resolve()


# ----------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------


def deterministic_archive(path: str | Path) -> None:
    """Rewrite a ``.keras`` archive so that its bytes depend on the model only.

    Keras stamps each zip member with the current time and ``metadata.json`` with the save
    date; both are replaced by fixed values. Member order and contents stay as saved.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    rewritten = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(rewritten, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            if name == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata, sort_keys=True).encode()
            elif name == "config.json":
                data = json.dumps(_renumber_shared_objects(json.loads(data))).encode()
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    rewritten.replace(path)


def _renumber_shared_objects(config_tree):
    """Replace Keras's ``shared_object_id`` values (``id()`` of Python objects, different in
    every process) by 1, 2, … in order of first appearance: the same sharing, stable bytes."""
    numbers: dict = {}

    def walk(node):
        if isinstance(node, dict):
            return {key: (numbers.setdefault(value, len(numbers) + 1) if key == "shared_object_id"
                          and value is not None else walk(value)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return walk(config_tree)


def _labels(task: str, items: pd.DataFrame) -> np.ndarray:
    from helpers import experiments, gender

    return experiments.emotion_labels(items) if task == "emotion" else gender.gender_labels(items)


def _probabilities(task: str, output: np.ndarray) -> np.ndarray:
    if task == "gender":
        return np.column_stack([1.0 - output[:, 0], output[:, 0]])
    return output


def cross_validate(recipe: recipes.Recipe, x: np.ndarray, items: pd.DataFrame, *,
                   augmented: Sequence[np.ndarray] = (), seed: int = config.SEED,
                   folds: Sequence[Sequence[int]] = splits.CONSECUTIVE_FOLDS,
                   say: Callable[[str], None] = lambda message: None) -> dict:
    """The recipe's numbers on speaker-independent folds, single clip (as prediction runs).

    Returns
    -------
    dict
        ``folds`` (test actors, UAR, accuracy, macro F1 per fold), ``uar_mean``, ``uar_std``,
        ``accuracy_mean``, ``accuracy_std``, ``per_class`` (pooled out-of-fold precision,
        recall, F1 and support per class), ``confusion`` (pooled), ``train_seconds``.
    """
    from helpers import training

    task = recipe.task
    labels = config.EMOTIONS if task == "emotion" else config.GENDERS
    y = _labels(task, items)
    pooled = np.zeros((len(items), len(labels)))
    # Stored to 6 digits, and the means from the unrounded values: the model card rounds them
    # to 3, and a value already rounded to 4 can round otherwise (0.73047 -> 0.7305 -> 0.731).
    rows, exact, seconds = [], [], 0.0
    for split in splits.folds_from_test_actors(items, [list(f) for f in folds], seed=seed):
        trained = training.train_recipe(recipe, x, y, split, seed=seed, data_key=f"pretrained:{task}",
                                        augmented=augmented)
        output = training.predict_recipe(trained.model, recipe, x, split.test, augmented=augmented)
        pooled[split.test] = _probabilities(task, output)
        metrics = evaluation.standard_metrics(y[split.test], pooled[split.test], labels=labels)
        exact.append({key: float(metrics[key]) for key in ("uar", "accuracy")})
        rows.append({"test_actors": list(split.test_actors),
                     **{key: round(float(metrics[key]), 6) for key in ("uar", "accuracy", "macro_f1")}})
        seconds += trained.seconds
        say(f"{task} fold {list(split.test_actors)}: UAR {metrics['uar']:.3f}, accuracy {metrics['accuracy']:.3f}")
    overall = evaluation.standard_metrics(y, pooled, labels=labels)
    result = {"folds": rows, "train_seconds": round(seconds, 1), "confusion": overall["confusion"],
              "per_class": {label: {k: round(float(overall["per_class"][label][k]), 6)
                                    for k in ("precision", "recall", "f1-score", "support")}
                            for label in labels}}
    for key in ("uar", "accuracy"):
        values = np.array([row[key] for row in exact])
        result[f"{key}_mean"], result[f"{key}_std"] = round(float(values.mean()), 6), round(float(values.std()), 6)
    return result


def train_shipped(recipe: recipes.Recipe, x: np.ndarray, items: pd.DataFrame, *,
                  augmented: Sequence[np.ndarray] = (), seed: int = config.SEED):
    """``recipe`` trained on every item (no validation, no test)."""
    from helpers import training

    import keras

    task = recipe.task
    # Fresh layer-name counters: the saved model's names then do not depend on what this
    # process built before (the cross-validation), so every build writes the same bytes.
    keras.utils.clear_session()
    everyone = splits.Split(name="all-actors", train=np.arange(len(items)), validation=np.array([], dtype=int),
                            test=np.array([], dtype=int), seed=seed,
                            train_actors=tuple(sorted(int(a) for a in items["actor"].unique())))
    return training.train_recipe(recipe, x, _labels(task, items), everyone, seed=seed,
                                 data_key=f"pretrained:{task}:all", cache=False, augmented=augmented)


def sidecar(task: str, recipe: recipes.Recipe, items: pd.DataFrame, *, seed: int,
            numbers: dict, data_fingerprint: str) -> dict:
    """What a shipped model's ``.json`` says (no creation time: builds are byte-identical)."""
    from helpers import gender

    record = {
        "task": task,
        "labels": list(config.EMOTIONS if task == "emotion" else gender.LABELS),
        "feature_config": config.FEATURES.to_dict(),
        "features": recipe.features,
        "mode": "single-clip",
        "recipe": recipe.describe(),
        "data": "real",
        "dataset": "RAVDESS speech (1440 clips of 24 actors)" if len(items) == 1440 else
                   f"RAVDESS speech ({len(items)} clips of {items['actor'].nunique()} actors)",
        "shipped": True,
        "train_actors": sorted(int(a) for a in items["actor"].unique()),
        "test_actors": None,
        "seed": seed,
        "data_fingerprint": data_fingerprint,
        "cross_validation": {k: numbers[k] for k in ("uar_mean", "uar_std", "accuracy_mean", "accuracy_std")},
        "licence": "CC BY-NC-SA 4.0 (the weights follow the RAVDESS licence; see MODEL_CARD.md)",
    }
    if task == "gender":
        record.update(positive_label=gender.POSITIVE_LABEL, threshold=evaluation.THRESHOLD,
                      output="p_female: sigmoid probability that the speaker is female")
    return record


def _save(model, path: Path, record: dict) -> None:
    from helpers import model_files

    model_path, sidecar_path = model_files.save_model_with_sidecar(model, path, sidecar=record)
    deterministic_archive(model_path)
    saved = json.loads(sidecar_path.read_text(encoding="utf-8"))
    saved.pop("created", None)
    saved["model_sha256"] = io.file_sha256(model_path)  # of the archive as rewritten
    io.write_text(sidecar_path, json.dumps(saved, indent=2, sort_keys=True) + "\n")
    for written in (model_path, sidecar_path):
        written.chmod(0o644)  # tracked files: readable by everyone, like the rest of the checkout


def data_fingerprint(items: pd.DataFrame) -> str:
    """A short hash of the training clips' contents (order-independent)."""
    digests = sorted(io.file_digest(p) for p in items["path"])
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


def build(ravdess_dir: str | Path, *, folder: str | Path = SHIPPED_DIR, seed: int = config.SEED,
          folds: Sequence[Sequence[int]] = splits.CONSECUTIVE_FOLDS, profile: str = "full",
          say: Callable[[str], None] = print) -> dict:
    """Train, cross-validate and write the shipped models and their card into ``folder``.

    ``folds`` (test actors of each cross-validation fold) and ``profile`` (``full``: the
    recipe's own epochs) are for tests on tiny generated trees; the shipped models use the
    defaults.

    Returns
    -------
    dict
        ``{task: cross-validation numbers}`` plus ``files`` (name → SHA-256).

    Raises
    ------
    ProjectError
        If the data cannot be read; ``folder`` is left as it was.
    """
    from helpers import datasets, experiments

    started = time.perf_counter()
    manifest, _ = datasets.find_ravdess(ravdess_dir)
    items = manifest.reset_index(drop=True)
    fingerprint = data_fingerprint(items)
    say(f"{len(items)} clips of {items['actor'].nunique()} actors (data {fingerprint})")
    folder = Path(folder)
    results: dict = {"seed": seed, "n_clips": len(items), "data_fingerprint": fingerprint}
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder.parent if folder.parent.is_dir() else None) as tmp:
        build_dir = Path(tmp)
        for task in ("emotion", "gender"):
            recipe = recipes.get_recipe(task, SHIPPED_RECIPE).for_profile(config.get_profile(profile))
            x, augmented = experiments.recipe_features(recipe, items)
            what = "log-mel windows" if recipe.features == "log_mel" else f"{recipe.features} functionals"
            say(f"{task}: {what} of {len(items)} clips, {len(augmented)} perturbed copies")
            numbers = cross_validate(recipe, x, items, augmented=augmented, seed=seed, folds=folds, say=say)
            say(f"{task}: cross-validated UAR {numbers['uar_mean']:.3f} ± {numbers['uar_std']:.3f}, "
                f"accuracy {numbers['accuracy_mean']:.3f} ± {numbers['accuracy_std']:.3f}")
            trained = train_shipped(recipe, x, items, augmented=augmented, seed=seed)
            _save(trained.model, build_dir / MODEL_NAMES[task],
                  sidecar(task, recipe, items, seed=seed, numbers=numbers, data_fingerprint=fingerprint))
            results[task] = numbers
        files = sorted(p.name for p in build_dir.iterdir() if p.suffix in (".keras", ".json"))
        results["files"] = {name: sha256(build_dir / name) for name in files}
        results["build_seconds"] = round(time.perf_counter() - started, 1)
        (build_dir / CARD_NAME).write_text(model_card(results, {n: (build_dir / n).stat().st_size for n in files}),
                                           encoding="utf-8")
        folder.mkdir(parents=True, exist_ok=True)
        # Every file is complete in the build folder; each replaces its old version atomically.
        for name in files + [CARD_NAME]:
            (build_dir / name).replace(folder / name)
    say(f"wrote {', '.join(files + [CARD_NAME])} to {folder} in {time.perf_counter() - started:.0f} s")
    return results


def _table(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(row) + " |" for row in [rows[0], ["---"] * len(rows[0]), *rows[1:]])


def model_card(results: dict, sizes: dict[str, int]) -> str:
    """The text of ``MODEL_CARD.md`` for a build's results."""
    from helpers import functionals

    emotion, gender_numbers = results["emotion"], results["gender"]
    gender_settings = dict(recipes.get_recipe("gender", SHIPPED_RECIPE).hyperparameters)
    emotion_recipe = recipes.get_recipe("emotion", SHIPPED_RECIPE)
    low_bands_text = ""
    if gender_settings.get("low_bands"):
        band_hz = channel.mel_band_frequencies(config.FEATURES.n_mels, fmin=config.FEATURES.fmin,
                                               fmax=config.FEATURES.fmax)
        low_bands_text = (f" and 1-{gender_settings['low_cepstra']} of the lowest "
                          f"{gender_settings['low_bands']} bands alone (centred up to "
                          f"{band_hz[gender_settings['low_bands'] - 1]:.0f} Hz, where a voice's "
                          f"harmonics, its pitch, show)")
    fused_text = ""
    if gender_settings.get("fuse_unnormalised"):
        fused_text = (", averaged with that of a second background mixture, MAP-adapted the same "
                      "way, over the same frames without the mean subtracted (the mean of a short "
                      "window's cepstra depends on its words; each view covers the other's weakness)")
    fold_rows = [["test actors", "emotion UAR", "emotion accuracy", "gender accuracy"]]
    for e, g in zip(emotion["folds"], gender_numbers["folds"]):
        fold_rows.append([", ".join(map(str, e["test_actors"])), f"{e['uar']:.3f}", f"{e['accuracy']:.3f}",
                          f"{g['accuracy']:.3f}"])
    fold_rows.append(["**mean ± std**", f"**{emotion['uar_mean']:.3f} ± {emotion['uar_std']:.3f}**",
                      f"{emotion['accuracy_mean']:.3f} ± {emotion['accuracy_std']:.3f}",
                      f"**{gender_numbers['accuracy_mean']:.3f} ± {gender_numbers['accuracy_std']:.3f}**"])
    class_rows = [["class", "precision", "recall", "F1", "clips"]]
    for numbers in (emotion, gender_numbers):
        for label, row in numbers["per_class"].items():
            class_rows.append([label, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                               f"{row['f1-score']:.3f}", str(int(row["support"]))])
    file_rows = [["file", "bytes", "sha256"]] + [
        [f"`{name}`", str(sizes[name]), f"`{digest}`"] for name, digest in results["files"].items()]
    total = sum(sizes.values())
    return f"""# Model card: the shipped `ours` models

Generated by `{REBUILD_COMMAND}` (seed {results['seed']}, data fingerprint
`{results['data_fingerprint']}`); do not edit by hand. `python -m helpers.predict` uses these
models when this checkout has not trained its own on real data, and checks every file against
the SHA-256 sums at the end of this card before it loads it.

## What they are
Both follow the recipe `{SHIPPED_RECIPE}` (`helpers/recipes.py`), made for other microphones.
- **Emotion**: every recording, in training and in prediction, is first trimmed of its leading
  and trailing silence (frames {recipes.ROBUST_TRIM_DB:g} dB below its loudest, or less than
  {recipes.ROBUST_TRIM_FLOOR_DB:g} dB above the recording's noise floor), resampled to {functionals.ANALYSIS_RATE / 1000:g} kHz
  and scaled to one speech level ({recipes.ROBUST_LEVEL_DB:g} dBFS over its loudest 30 % of 25 ms
  frames), so neither the silence around the speech (also under steady noise), nor the file's
  sample rate, nor the gain of a microphone changes its features. openSMILE ComParE 2016 functionals (6,373 per clip), standardised
  per feature and clipped to ±5 standard deviations, go into an L2-penalised logistic
  regression: a Keras model whose weights scikit-learn's L-BFGS solved to convergence.
  Training adds {recipes.ROBUST_CHANNEL_COPIES} multi-condition copies of every clip: each at a
  random speed (0.9, 1 or 1.1) through a random recording chain of `helpers/channel.py` (8 or
  16 kHz band limit, telephone band, MP3, Ogg Vorbis, a reverberant room, white noise) or none,
  trimmed {"after the chain, as a recording is at prediction" if emotion_recipe.trim_after_chain else "before the chain"}.
- **Gender**: the {config.FEATURES.duration_s:g} s log-mel window every log-mel model of the project
  takes (from {config.FEATURES.offset_s:g} s, at {config.FEATURES.sample_rate / 1000:g} kHz), every band raised to at least
  {gender_settings['range_db']:g} dB below the window's loudest value (so that bands a lossy codec emptied do
  not count); its speech frames (within {gender_settings['floor_db']:g} dB of the loudest) as cepstra
  1-{gender_settings['n_cepstra']} of all bands{low_bands_text}, less the window's mean speech
  cepstrum, so that a microphone's or room's
  colouring (the same dB added to a band in every frame) and its gain change nothing. One
  background mixture of {gender_settings['n_components']} diagonal Gaussians is fitted by EM to both genders'
  frames, and its means are MAP-adapted to each gender's (relevance {gender_settings['relevance']:g}); P(female)
  is the logistic function of the mean frame log-likelihood ratio{fused_text} (`helpers/frame_gmm.py`, one
  Keras model).
- **`emotion_ours`**: 8 emotions (neutral, calm, happy, sad, angry, fearful, disgust,
  surprised); also trained on copies of every clip played at 0.9x and 1.1x speed, and it
  averages its probabilities over the clip played at 1, 0.9 and 1.1x speed.
- **`gender_ours`**: P(female), one sigmoid output.
- Both work on **one clip at a time** (no enrollment audio of the speaker), at any sample rate,
  from any format libsndfile reads; given several recordings of each speaker,
  `python -m helpers.predict --speakers one|folder|LIST.csv` uses each speaker's own statistics
  (speaker-adaptive; see the README).

## Training data
The speech subset of RAVDESS: {results['n_clips']} clips of 24 professional North-American
actors (12 female, 12 male), acted, English, two fixed sentences, recorded in one studio at
48 kHz. Livingstone SR, Russo FA (2018) *The Ryerson Audio-Visual Database of Emotional Speech
and Song (RAVDESS)*. PLoS ONE 13(5): e0196391. https://doi.org/10.1371/journal.pone.0196391.
Zenodo: https://doi.org/10.5281/zenodo.1188976.

## Licence
RAVDESS is released under CC BY-NC-SA 4.0. Weights trained on it are, on the conservative
reading, a derivative of the data: **these model files are distributed under CC BY-NC-SA 4.0**
(attribution as above, non-commercial, share-alike), separately from the licence of the code.

## How well they work (speaker-independent cross-validation)
The same recipe trained on the other 20 actors (the fold's 2 validation actors included: its
solvers, L-BFGS and EM, read no validation data) and tested on
4 unseen actors, for each of the 6 folds 1-4, 5-8, …, 21-24 (`python -m benchmarks.quality`);
single clip, clean studio speech. The shipped models are trained on all 24 actors.

{_table(fold_rows)}

Per class, pooled over the 6 folds' test actors:

{_table(class_rows)}

Chance is 0.125 UAR for emotion and 0.5 for gender. These are numbers on **unseen actors of the
same studio**. Off it they drop: see `python -m benchmarks.robustness` (other levels, sample
rates, codecs, rooms, noise) and `python -m benchmarks.crosscorpus --shipped --test emodb:DIR`.
On a re-processed copy of the German EmoDB (2 s clips at 22.05 kHz, the 6 classes it shares
with RAVDESS, chance 0.167) the README's section "Other corpora" lists what each version of
these models scored, one clip at a time and speaker-adaptively (measured with
`benchmarks.crosscorpus --shipped`, not by this build).

## What they are not for
- Spontaneous or conversational speech: RAVDESS is acted, with exaggerated, prototypical
  emotions in two neutral sentences.
- Other languages and accents, children's or elderly voices: none are in the training data.
- Gender is predicted as the binary label RAVDESS records for its actors; it says nothing about
  anyone's gender identity.
- Any decision about a person: clinical, employment, education, security or legal. An emotion
  label from a voice is a weak, culture-dependent guess.

## Files
{_table(file_rows)}

Total {total / 1e6:.2f} MB.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.pretrained",
                                     description="Build or verify the shipped models.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="train the shipped models from a RAVDESS copy")
    build_parser.add_argument("--ravdess", required=True, metavar="DIR", help="RAVDESS speech folder")
    build_parser.add_argument("--output", default=str(SHIPPED_DIR), metavar="FOLDER",
                              help=f"where to write the models and card (default {SHIPPED_DIR})")
    build_parser.add_argument("--seed", type=int, default=config.SEED)
    verify_parser = commands.add_parser("verify", help="check the shipped files against the card")
    verify_parser.add_argument("--folder", default=str(SHIPPED_DIR), metavar="FOLDER")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.ravdess, folder=args.output, seed=args.seed,
                  say=lambda message: print(message, file=sys.stderr, flush=True))
        else:
            for path in check_shipped(args.folder):
                print(f"ok  {path}")
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
