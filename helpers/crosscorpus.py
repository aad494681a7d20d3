"""Cross-corpus scores: models trained on RAVDESS, tested on speech from other corpora.

A test corpus (:mod:`helpers.other_corpora`) shares only some of RAVDESS's eight classes. The
scores here are over those **shared classes**: the model's probabilities of calm are added to
neutral (no other corpus has calm), the columns of classes the corpus lacks are left out and the
rest renormalised, so a model is never marked wrong for answering a class the corpus cannot
hold. Two modes, as within RAVDESS (:data:`helpers.recipes.MODES`):

* ``single-clip``: the clip alone, as ``python -m helpers.predict`` works.
* ``speaker-adaptive``: each test speaker's functionals standardised over that speaker's own
  clips (:func:`helpers.functionals.per_speaker_standardise`), which needs unlabelled
  enrollment audio of the speaker. A model trained in this mode (``benchmarks.crosscorpus``
  without ``--shipped``) saw standardised training speakers too. A single-clip model (the
  shipped ones, :func:`evaluate_predictor`) is scored by
  :meth:`helpers.predict.Predictor.predict_speakers`, what ``python -m helpers.predict
  --speakers`` runs: the standardised values mapped back into its training scale, ``mean + std
  * z`` with its own normalisation layer's statistics (the same speaker-level correction,
  applied to a model that was not trained for it).

Gender is never standardised per speaker (that removes what tells voices apart, gender
included): its speaker-adaptive accuracy averages the single-clip P(female) over each test
speaker's clips (:func:`gender_for_mode`; :meth:`helpers.predict.Predictor.predict_speakers` for
the shipped models), one decision per speaker from unlabelled audio.

The benchmark (``python -m benchmarks.crosscorpus``) and notebook 06 call these functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config, datasets, evaluation, functionals, other_corpora
from helpers.errors import ProjectError

class CrossCorpusError(ProjectError):
    """A cross-corpus request cannot be run: a bad corpus name, folder or argument."""


def parse_corpus_argument(text: str, *, argument: str = "--test") -> tuple[str, Path]:
    """Read one ``NAME:DIR`` (``emodb:/data/emodb``) into the corpus name and its folder.

    Raises
    ------
    CrossCorpusError
        If the text has no ``:``, the name is not a corpus other than RAVDESS, or the folder
        does not exist; the message names ``argument`` and the value.
    """
    name, separator, folder = str(text).partition(":")
    name = name.strip().lower()
    if not separator or not name or not folder.strip():
        raise CrossCorpusError(f"{argument} {text!r} must be NAME:DIR, e.g. emodb:/data/emodb")
    if name not in other_corpora.SPECS:
        raise CrossCorpusError(f"{argument} {text!r}: unknown corpus {name!r}; expected one of "
                               f"{', '.join(other_corpora.SPECS)}")
    path = Path(folder.strip()).expanduser()
    if not path.is_dir():
        raise CrossCorpusError(f"{argument} {text!r}: {path} is not a folder")
    return name, path.resolve()


def parse_corpus_list(text: str, *, argument: str = "CROSS_CORPUS") -> dict[str, Path]:
    """Read ``"emodb:DIR,tess:DIR"`` (notebook 06's ``CROSS_CORPUS``) into ``{name: folder}``.

    An empty text gives an empty dict.

    Raises
    ------
    CrossCorpusError
        As :func:`parse_corpus_argument`, or if a corpus is named twice.
    """
    corpora: dict[str, Path] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, path = parse_corpus_argument(part, argument=argument)
        if name in corpora:
            raise CrossCorpusError(f"{argument} {text!r} names corpus {name!r} twice")
        corpora[name] = path
    return corpora


def shared_classes(corpus: str) -> tuple[str, ...]:
    """The RAVDESS classes a corpus has (in ``config.EMOTIONS`` order; calm never)."""
    mapped = set(other_corpora.EMOTION_TABLE[corpus].values()) - {None}
    return tuple(label for label in config.EMOTIONS if label in mapped)


def score(items: pd.DataFrame, probabilities: np.ndarray, *, corpus: str,
          p_female: np.ndarray | None = None) -> dict:
    """Scores of one mode on one test corpus, over its shared classes.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n,)]
        The corpus's manifest rows (``emotion``, ``gender``).
    probabilities : np.ndarray [shape=(n, 8)]
        Emotion probabilities in ``config.EMOTIONS`` order.
    corpus : str
    p_female : np.ndarray [shape=(n,)], optional
        P(female) per clip; adds ``gender_accuracy`` (threshold 0.5).

    Returns
    -------
    dict
        ``uar``, ``accuracy``, ``per_class_recall`` ({class: recall}), ``confusion`` (rows
        true, columns predicted, in ``classes`` order), ``classes``, ``gender_accuracy``.

    Raises
    ------
    CrossCorpusError
        If the shapes disagree or ``items`` holds a class outside the shared ones.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(items), len(config.EMOTIONS)):
        raise CrossCorpusError(f"probabilities have shape {probabilities.shape}; expected "
                               f"({len(items)}, {len(config.EMOTIONS)})")
    classes = shared_classes(corpus)
    merged = probabilities.copy()
    merged[:, config.EMOTIONS.index("neutral")] += merged[:, config.EMOTIONS.index("calm")]
    kept = merged[:, [config.EMOTIONS.index(label) for label in classes]]
    totals = kept.sum(axis=1, keepdims=True)
    # A clip whose whole probability lies on classes the corpus lacks (a model sure of
    # "surprised" on EmoDB) keeps the order of its tiny shared probabilities; if they underflowed
    # to zero, it has no answer among the shared classes (uniform: counted as the first).
    kept = np.where(totals > 0, kept / np.where(totals > 0, totals, 1.0), 1.0 / len(classes))
    unknown = sorted(set(items["emotion"]) - set(classes))
    if unknown:
        raise CrossCorpusError(f"items hold emotions {unknown} outside {corpus}'s shared classes {classes}")
    truth = np.array([classes.index(label) for label in items["emotion"]])
    metrics = evaluation.standard_metrics(truth, kept, labels=classes)
    present = set(items["emotion"])
    result = {"classes": list(classes), "uar": round(float(metrics["uar"]), 4),
              "accuracy": round(float(metrics["accuracy"]), 4),
              "per_class_recall": {label: (round(float(metrics["per_class"][label]["recall"]), 4)
                                           if label in present else None) for label in classes},
              "confusion": metrics["confusion"], "gender_accuracy": None}
    if p_female is not None:
        predicted = np.where(np.asarray(p_female) > evaluation.THRESHOLD, "female", "male")
        result["gender_accuracy"] = round(float(np.mean(predicted == items["gender"].to_numpy())), 4)
    return result


def gender_for_mode(p_female: np.ndarray | None, items: pd.DataFrame, mode: str) -> np.ndarray | None:
    """Single-clip gender probabilities under an evaluation mode.

    ``speaker-adaptive`` averages them over each speaker's clips (``items["actor"]``,
    :func:`helpers.evaluation.pool_by_speaker`); ``single-clip`` (and ``None``) pass through.
    ``p_female`` is P(female) per clip ``[shape=(n,)]``, or any per-clip probabilities
    ``[shape=(n, k)]`` (``benchmarks.quality`` passes male and female columns).
    """
    if p_female is None or mode == "single-clip":
        return p_female
    return evaluation.pool_by_speaker(p_female, items["actor"].to_numpy())


def load_test_corpus(name: str, root: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """A test corpus's manifest, and what was left out of it.

    Returns
    -------
    items : pd.DataFrame
    facts : dict
        ``corpus, root, n_clips, n_speakers, skipped`` (count), ``skipped_examples`` (up to 5
        ``path: reason``), ``dropped`` ({class: count}).

    Raises
    ------
    helpers.errors.DatasetError
        If the folder holds no usable clip of the corpus.
    """
    # Scored through the prediction command's windows, which read a short clip from its start:
    # only the whole file is checked, not the training window.
    items, skipped, dropped = datasets.find_corpus(root, corpus=name, feature_config=None)
    facts = {"corpus": name, "root": str(root), "n_clips": len(items),
             "n_speakers": int(items["actor"].nunique()), "skipped": len(skipped),
             "skipped_examples": [f"{r.path}: {r.reason}" for r in skipped.head(5).itertuples()],
             "dropped": dict(dropped)}
    return items.reset_index(drop=True), facts


def evaluate_predictor(predictor, corpora: Mapping[str, str | os.PathLike], *,
                       say: Callable[[str], None] = lambda message: None) -> dict[str, dict]:
    """Score a :class:`helpers.predict.Predictor`'s models on each test corpus.

    Single clip runs exactly what ``python -m helpers.predict`` runs on each file; the
    speaker-adaptive mode (functionals emotion models only) is described in the module
    docstring.

    Parameters
    ----------
    predictor : helpers.predict.Predictor
    corpora : mapping of str to path
        ``{corpus name: folder}`` (:func:`parse_corpus_list`).
    say : callable
        Progress messages.

    Returns
    -------
    dict of str to dict
        Per corpus: the facts of :func:`load_test_corpus` plus ``modes``: ``{mode: scores of
        :func:`score`, or None when the mode does not apply}``.

    Raises
    ------
    CrossCorpusError
        If a corpus name is unknown.
    helpers.errors.DatasetError
        If a folder holds no usable clip.
    """
    results = {}
    for name, root in corpora.items():
        if name not in other_corpora.SPECS:
            raise CrossCorpusError(f"corpus={name!r} must be one of {', '.join(other_corpora.SPECS)}")
        items, facts = load_test_corpus(name, root)
        say(f"{name}: {facts['n_clips']} clips of {facts['n_speakers']} speakers "
            f"({facts['skipped']} skipped, dropped {facts['dropped'] or 'none'})")
        functionals_model = predictor.emotion.features != "log_mel"
        if functionals_model:
            # Extract every file's functionals in parallel through the cache first: prediction
            # then reads them from there, file by file.
            predictor.features_for(items, None)
            if predictor.gender is not None and predictor.gender.features != "log_mel":
                functionals.extract_for_items(items, feature_set=predictor.gender.features,
                                              **predictor.gender.signal_options)
        predictions = predictor.predict_files(items["path"].tolist())
        failed = [p.message for p in predictions if not p.ok]
        if failed:
            raise CrossCorpusError(f"{len(failed)} {name} files could not be predicted: {'; '.join(failed[:3])}")
        probabilities = _probabilities(predictions)
        p_female = (np.array([p.p_female for p in predictions]) if predictor.gender is not None else None)
        modes = {"single-clip": score(items, probabilities, corpus=name, p_female=p_female),
                 "speaker-adaptive": None}
        if functionals_model:
            # What `python -m helpers.predict --speakers` runs, with the corpus's speakers.
            adapted = predictor.predict_speakers(items["path"].tolist(), items["actor"].tolist(),
                                                 single=predictions)
            kept = np.array([p.ok for p in adapted])
            if not kept.all():
                # A speaker with a single clip has no statistics of its own: scored single clip only.
                say(f"{name}: speaker-adaptive scores leave out {int((~kept).sum())} clips: "
                    f"{next(p.error for p in adapted if not p.ok)}")
            adapted = [p for p in adapted if p.ok]
            if adapted:
                modes["speaker-adaptive"] = score(
                    items[kept].reset_index(drop=True), _probabilities(adapted), corpus=name,
                    p_female=(np.array([p.p_female for p in adapted]) if predictor.gender is not None else None))
        results[name] = {**facts, "modes": modes}
    return results


def _probabilities(predictions) -> np.ndarray:
    """Each prediction's probabilities in ``config.EMOTIONS`` order ``[shape=(n, 8)]`` (calm 0
    where the predictor reports it as neutral)."""
    return np.array([[p.emotion_probabilities.get(label, 0.0) for label in config.EMOTIONS]
                     for p in predictions])


def summary_table(results: Mapping[str, dict]) -> pd.DataFrame:
    """One row per corpus and mode: clips, classes, UAR, accuracy, gender accuracy, recalls."""
    rows = []
    for name, result in results.items():
        for mode, scores in result["modes"].items():
            if scores is None:
                continue
            rows.append({"corpus": name, "mode": mode, "clips": result["n_clips"],
                         "speakers": result["n_speakers"], "classes": len(scores["classes"]),
                         "chance_uar": round(1 / len(scores["classes"]), 3),
                         "uar": scores["uar"], "accuracy": scores["accuracy"],
                         "gender_accuracy": scores["gender_accuracy"],
                         **{f"recall_{label}": recall for label, recall in scores["per_class_recall"].items()}})
    return pd.DataFrame(rows)


def confusion_table(result: dict, *, mode: str = "single-clip") -> pd.DataFrame:
    """One corpus's confusion matrix in one mode: rows true class, columns predicted."""
    scores = result["modes"].get(mode)
    if scores is None:
        raise CrossCorpusError(f"mode={mode!r} was not scored for corpus {result['corpus']!r}")
    classes = scores["classes"]
    return pd.DataFrame(scores["confusion"], index=pd.Index(classes, name="true"),
                        columns=pd.Index(classes, name="predicted"))
