"""The command line ``python -m helpers.predict``: arguments, output and exit status.

One concern: the command around :class:`helpers.predict.Predictor`, which does all the
finding, loading and predicting. ``python -m helpers.predict`` (the documented form) and
``python -m helpers.predict_cli`` run :func:`main`::

    python -m helpers.predict FILE_OR_FOLDER... [--json] [--emotion-model NAME_OR_PATH]
                              [--gender-model NAME_OR_PATH | --no-gender] [--models-dir DIR]
                              [--max-duration SECONDS] [--hop SECONDS] [--calm-as-neutral]
                              [--speakers one|folder|LIST.csv]

A folder is walked recursively for audio files. The default output is a table; ``--json``
prints a list with one object per file (``path``, ``ok``, and either ``error`` or
``emotion``, ``emotion_probabilities``, ``gender``, ``p_female``, ``windows``, ``mode``,
``speaker``). The exit status is 0 when every file was predicted, 1 when at least one failed
(the others are still predicted), 2 for a usage error or when no model is found or a model
cannot be loaded.

``--speakers`` says who speaks in which file and predicts in the speaker-adaptive mode
(:meth:`helpers.predict.Predictor.predict_speakers`): ``one`` (every file is one speaker),
``folder`` (each folder holds one speaker's files) or a CSV file with the columns ``path`` and
``speaker`` (paths absolute or relative to the CSV's folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from helpers import config, predict
from helpers.errors import ProjectError

__all__ = ["format_table", "main", "speaker_lookup"]

#: The ``--speakers`` values that are not a CSV file.
SPEAKER_MODES = ("one", "folder")


def speaker_lookup(spec: str, files: Sequence[Path]) -> Callable[[Path], str]:
    """Who speaks in each file, from ``--speakers``: ``one``, ``folder`` or a CSV file.

    Parameters
    ----------
    spec : str
        ``"one"`` (every file is one speaker), ``"folder"`` (a file's folder is its speaker) or
        the path of a CSV file with the columns ``path`` and ``speaker`` (a path absolute or
        relative to the CSV's folder).
    files : sequence of Path
        The usable files to be predicted: each must have a speaker (a file the CSV does not
        list gets None).

    Returns
    -------
    callable
        A file's path to its speaker.

    Raises
    ------
    helpers.predict.PredictionError
        If ``spec`` is neither a mode nor a readable CSV with those columns, a row gives a file
        a second speaker, or one of ``files`` is not in the CSV (the message names up to five).
    """
    if spec == "one":
        return lambda path: "one"
    if spec == "folder":
        # The folder the path names (not where a link points: annexed files live elsewhere).
        return lambda path: os.path.dirname(os.path.abspath(path))
    table_path = Path(spec).expanduser()
    if not table_path.is_file():
        raise predict.PredictionError(f"--speakers {spec!r} must be one of {', '.join(SPEAKER_MODES)} "
                                      f"or a CSV file with the columns path and speaker (no such file)")
    try:
        table = pd.read_csv(table_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise predict.PredictionError(f"--speakers {str(table_path)!r} is not a readable CSV file: {error}") from None
    missing = {"path", "speaker"} - set(table.columns)
    if missing:
        raise predict.PredictionError(f"--speakers {str(table_path)!r} has the columns {list(table.columns)}; "
                                      f"expected path and speaker")
    blank = table[(table["path"].str.strip() == "") | (table["speaker"].str.strip() == "")]
    if len(blank):
        raise predict.PredictionError(f"--speakers {str(table_path)!r}: row {int(blank.index[0]) + 2} has an "
                                      f"empty path or speaker")
    speakers: dict[Path, str] = {}
    for row, (path, speaker) in enumerate(zip(table["path"], table["speaker"].str.strip()), start=2):
        key = (table_path.parent / Path(path.strip()).expanduser()).resolve()
        if speakers.setdefault(key, speaker) != speaker:
            raise predict.PredictionError(f"--speakers {str(table_path)!r}: row {row} gives {path} the speaker "
                                          f"{speaker!r}, an earlier row {speakers[key]!r}")
    unlisted = [str(f) for f in files if Path(f).resolve() not in speakers]
    if unlisted:
        raise predict.PredictionError(f"--speakers {str(table_path)!r} does not list {len(unlisted)} of the "
                                      f"files: {', '.join(unlisted[:5])}")
    return lambda path: speakers.get(Path(path).resolve())


def format_table(predictions: Sequence[predict.Prediction], *, gender_available: bool = True) -> str:
    """The command's readable table: one line per file, failures with their reason."""
    lines = []
    adaptive = any(p.mode == "speaker-adaptive" for p in predictions)
    header = ["file", "emotion", "p", "runner-up", "gender", "p_female", "windows"] + ["speaker"] * adaptive
    rows = []
    for p in predictions:
        if not p.ok:
            rows.append([p.path, f"FAILED: {p.error}"])
            continue
        ranked = sorted(p.emotion_probabilities.items(), key=lambda kv: -kv[1])
        runner = f"{ranked[1][0]} {ranked[1][1]:.2f}" if len(ranked) > 1 else ""
        rows.append([p.path, p.emotion, f"{ranked[0][1]:.2f}", runner,
                     p.gender or "-", "-" if p.p_female is None else f"{p.p_female:.2f}",
                     str(p.windows)] + [str(p.speaker)] * adaptive)
    width = max([len(header[0])] + [len(r[0]) for r in rows])
    widths = [width] + [max([len(header[i])] + [len(r[i]) for r in rows if len(r) > 2])
                        for i in range(1, len(header))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    n_failed = sum(not p.ok for p in predictions)
    lines.append("")
    lines.append(f"{len(predictions)} file{'s' * (len(predictions) != 1)}: "
                 f"{len(predictions) - n_failed} predicted, {n_failed} failed")
    if not gender_available:
        lines.append("gender is not predicted (--no-gender)")
    if adaptive:
        lines.extend(predict.speaker_notes(predictions))
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict",
        description="Predict the emotion (8 classes) and the speaker's gender of audio files "
                    "with the models saved by the notebooks.",
        epilog="Exit status: 0 every file predicted, 1 some file failed, 2 usage error or no model.")
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER",
                        help="audio files (any format libsndfile reads) or folders, walked recursively")
    parser.add_argument("--json", action="store_true", help="print JSON (a list, one object per file)")
    parser.add_argument("--emotion-model", metavar="NAME_OR_PATH",
                        help="emotion model: a .keras path or a name in the models folder, e.g. "
                             "emotion_ours (default: this checkout's newest model trained on real "
                             "data, else the shipped models/emotion_ours.keras)")
    parser.add_argument("--gender-model", metavar="NAME_OR_PATH",
                        help="gender model (default: this checkout's newest real-data gender model, "
                             "else the shipped models/gender_ours.keras)")
    parser.add_argument("--no-gender", action="store_true", help="do not predict gender")
    parser.add_argument("--calm-as-neutral", action="store_true",
                        help="report calm as neutral (probabilities added), as most other corpora have no calm")
    parser.add_argument("--models-dir", metavar="DIR", help=f"where models are looked for (default {config.MODELS_DIR})")
    parser.add_argument("--max-duration", type=float, default=predict.MAX_DURATION_S, metavar="SECONDS",
                        help=f"refuse files longer than this (default {predict.MAX_DURATION_S:g}; 0 for no limit)")
    parser.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                        help="seconds between analysis windows of a long file (default: one window)")
    parser.add_argument("--speakers", metavar="one|folder|LIST.csv",
                        help="predict with each speaker's own statistics (speaker-adaptive; needs an "
                             "emotion model of functionals, e.g. the shipped one, and at least "
                             f"{predict.MIN_SPEAKER_FILES} files per speaker, better {predict.FEW_SPEAKER_FILES} "
                             "or more of several emotions): one (all files one speaker), folder (one "
                             "speaker per folder) or a CSV with the columns path and speaker (a CSV "
                             "file named one or folder: give it as ./one or ./folder)")
    args = parser.parse_args(argv)
    if args.max_duration < 0:
        parser.error(f"--max-duration {args.max_duration} must be >= 0")
    if args.hop is not None and not args.hop > 0:
        parser.error(f"--hop {args.hop} must be > 0")
    if args.no_gender and args.gender_model:
        parser.error("--no-gender and --gender-model exclude each other")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 all predicted, 1 some failed, 2 no model)."""
    try:
        args = _parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before Keras imports TensorFlow
    info = sys.stderr if args.json else sys.stdout
    max_duration = args.max_duration or None
    try:
        # Resolve model files before anything slow, so a missing model is reported at once;
        # load them only when some file can be predicted.
        emotion_path, gender_path = predict.resolve_models(
            args.emotion_model, args.gender_model, use_gender=not args.no_gender,
            models_dir=args.models_dir)
        entries = predict.collect_audio_files(args.paths)
        speaker_of = (speaker_lookup(args.speakers, [p for p, reason in entries if reason is None])
                      if args.speakers is not None else None)
        predictor = None
        if any(reason is None for _, reason in entries):
            predictor = predict.Predictor.from_files(emotion_path, gender_path, hop_s=args.hop,
                                                     max_duration_s=max_duration,
                                                     calm_as_neutral=args.calm_as_neutral)
            if speaker_of is not None:
                predictor.check_speaker_adaptive()  # before any file is predicted
            print(predictor.describe(), file=info, flush=True)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if predictor is not None:
        predictions = predictor.predict_paths(args.paths, speaker_of=speaker_of)
    else:
        predictions = [predict.Prediction(path=str(p), ok=False, error=reason) for p, reason in entries]
    if args.json:
        # The table shows failures with their reasons; with JSON on stdout, say them on stderr.
        for prediction in predictions:
            if not prediction.ok:
                print(f"error: {prediction.message}", file=sys.stderr)
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        print(file=info)
        print(format_table(predictions, gender_available=gender_path is not None))
    return 1 if any(not p.ok for p in predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
