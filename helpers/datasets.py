"""Find and label the datasets: RAVDESS speech (any layout, WAV or FLAC), the other emotion
corpora (EmoDB, TESS, SAVEE, CREMA-D; :mod:`helpers.other_corpora`) and UrbanSound8K noise.

Command line::

    python -m helpers.datasets manifest DIR [--corpus ravdess|emodb|tess|savee|crema-d]
                                            [--csv OUT] [--on-error raise|skip]
    python -m helpers.datasets download ravdess|urbansound8k [--to DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from helpers import audio, config, io, other_corpora
from helpers.errors import AudioError, DatasetError, ProjectError
from helpers.other_corpora import CorpusSpec, NotSpeechError

# The seven fields of a RAVDESS name, in order, with the values they may take.
RAVDESS_FIELDS: tuple[tuple[str, range], ...] = (
    ("modality", range(1, 4)),
    ("vocal_channel", range(1, 3)),
    ("emotion_code", range(1, 9)),
    ("intensity_code", range(1, 3)),
    ("statement", range(1, 3)),
    ("repetition", range(1, 3)),
    ("actor", range(1, 25)),
)

MANIFEST_COLUMNS = [
    "path", "clip_id", "actor", "gender", "emotion", "emotion_code", "intensity",
    "statement", "repetition", "duration", "sample_rate", "channels",
]

US8K_COLUMNS = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]


def parse_ravdess_name(path: str | os.PathLike) -> dict:
    """Parse a RAVDESS file name ``MM-VV-EE-II-SS-RR-AA.ext`` into labelled fields.

    Parameters
    ----------
    path : str or PathLike
        File path or name; only the stem is read.

    Returns
    -------
    dict
        ``modality, vocal_channel, emotion_code, intensity_code, statement, repetition,
        actor`` (ints), plus ``emotion``, ``intensity``, ``gender`` and ``clip_id``.

    Raises
    ------
    DatasetError
        If the stem does not have seven two-digit fields, a field is out of range, or the
        combination cannot occur (neutral with strong intensity). The message names the file
        and the field.
    """
    path = Path(path)
    parts = path.stem.split("-")
    if len(parts) != len(RAVDESS_FIELDS):
        raise DatasetError(
            f"{path}: file name has {len(parts)} dash-separated fields, expected 7 "
            "(MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-01-02-01-12)"
        )
    fields: dict = {}
    for (name, allowed), text in zip(RAVDESS_FIELDS, parts):
        if len(text) != 2 or not text.isdigit():
            raise DatasetError(f"{path}: field {name}={text!r} must be two digits")
        value = int(text)
        if value not in allowed:
            raise DatasetError(
                f"{path}: field {name}={text} is out of range, expected "
                f"{allowed.start:02d}..{allowed.stop - 1:02d}"
            )
        fields[name] = value
    if fields["emotion_code"] == 1 and fields["intensity_code"] == 2:
        raise DatasetError(f"{path}: field intensity=02 (strong) cannot occur with emotion=01 (neutral)")
    fields["emotion"] = config.EMOTIONS[fields["emotion_code"] - 1]
    fields["intensity"] = config.INTENSITIES[fields["intensity_code"]]
    fields["gender"] = "male" if fields["actor"] % 2 == 1 else "female"
    fields["clip_id"] = path.stem
    return fields


def _parse_ravdess_speech(path: Path) -> dict:
    """:func:`parse_ravdess_name`, refusing the song and video files as not speech."""
    fields = parse_ravdess_name(path)
    if fields["modality"] != 3 or fields["vocal_channel"] != 1:
        kind = "song" if fields["vocal_channel"] == 2 else "video"
        raise NotSpeechError(path, f"not audio-only speech ({kind})")
    return fields


#: Every corpus :func:`find_corpus` reads, by command-line name.
CORPORA: dict[str, CorpusSpec] = {
    "ravdess": CorpusSpec("ravdess", "RAVDESS", _parse_ravdess_speech, MANIFEST_COLUMNS,
                          "03-01-*.wav/.flac"),
    **other_corpora.SPECS,
}


def get_corpus(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` of a corpus name.

    Raises
    ------
    DatasetError
        If ``name`` is not a key of :data:`CORPORA`.
    """
    if name not in CORPORA:
        raise DatasetError(f"corpus={name!r} must be one of {', '.join(CORPORA)}")
    return CORPORA[name]


def find_ravdess(root: str | os.PathLike, *, on_error: str = "skip", read_info: bool = True,
                 feature_config: config.FeatureConfig | None = config.FEATURES,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Find the audio-only speech files of RAVDESS below ``root`` and label them.

    Works on the upstream zip layout (``Actor_01/…``), the common Kaggle double folder and a
    flat folder, at any depth, in every format libsndfile reads (``audio.AUDIO_SUFFIXES``, any
    letter case). Files without an audio suffix (``.DS_Store``, READMEs) are ignored. Every
    other file that cannot be used is listed in the second table with the reason: a hidden
    (AppleDouble ``._``) file, a name that does not parse, a video or song clip, a file that is
    unreadable, empty, header only, truncated, shorter than one analysis frame, all silent or
    non-finite, one whose features cannot be computed (it ends before the analysis window
    starts, or is silent within the window), and a second copy of a clip already found.

    Parameters
    ----------
    root : str or PathLike
        Folder to search.
    on_error : {"skip", "raise"}
        What to do with an audio file whose name does not parse or whose content cannot be
        used: skip it (listed with its reason, and a warning), or raise a
        :class:`DatasetError` naming the file and the problem (fail fast).
    read_info : bool
        Check each file's content (one decode) and read its duration, sample rate and
        channels. False lists the files by name only, with unknown facts and no checks.
    feature_config : config.FeatureConfig or None
        The analysis window that training reads (``audio.load_window``): a clip that cannot
        give features in it is skipped here, with its reason, rather than stopping the
        feature computation later. None checks the whole file only.

    Returns
    -------
    manifest : pd.DataFrame [shape=(n_files, len(MANIFEST_COLUMNS))]
        One row per usable speech file, sorted by actor and clip id.
    skipped : pd.DataFrame
        Columns ``path, reason``, in path order.

    Raises
    ------
    DatasetError
        If ``root`` is not a folder, ``on_error`` is invalid, a file cannot be used (with
        ``on_error="raise"``), or no usable speech file is found.
    """
    manifest, skipped, _ = find_corpus(root, corpus="ravdess", on_error=on_error, read_info=read_info,
                                       feature_config=feature_config)
    return manifest, skipped


def find_corpus(root: str | os.PathLike, *, corpus: str = "ravdess", on_error: str = "skip",
                read_info: bool = True, feature_config: config.FeatureConfig | None = config.FEATURES,
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Find and label the speech files of one corpus below ``root``, by its own file names.

    The rules of :func:`find_ravdess` hold for every corpus of :data:`CORPORA`: any layout and
    depth, every format libsndfile reads, unusable files skipped with their reason (or raised
    with ``on_error="raise"``). Emotions are mapped onto the RAVDESS label set by
    :data:`helpers.corpora.EMOTION_TABLE`; a clip of a class with no counterpart (EmoDB's
    boredom) is dropped and counted, not listed as unusable.

    Parameters
    ----------
    root : str or PathLike
    corpus : str
        A key of :data:`CORPORA` (``ravdess``, ``emodb``, ``tess``, ``savee``, ``crema-d``).
    on_error : {"skip", "raise"}
    read_info : bool
    feature_config : config.FeatureConfig or None
        See :func:`find_ravdess`.

    Returns
    -------
    manifest : pd.DataFrame [shape=(n_files, n_columns)]
        One row per usable clip, sorted by actor and clip id: :data:`MANIFEST_COLUMNS` for
        RAVDESS, :data:`helpers.corpora.CORPUS_COLUMNS` for the others (``actor`` is then the
        corpus's speaker id as a string, ``emotion`` the RAVDESS label, ``corpus_emotion`` the
        corpus's own class).
    skipped : pd.DataFrame
        Columns ``path, reason``, in path order.
    dropped : dict of str to int
        Clips left out because their class has no RAVDESS counterpart, per class.

    Raises
    ------
    DatasetError
        If ``corpus`` is unknown, ``root`` is not a folder, ``on_error`` is invalid, a file
        cannot be used (with ``on_error="raise"``), or no usable clip is found.
    """
    spec = get_corpus(corpus)
    root = Path(root).expanduser().resolve()
    if on_error not in ("raise", "skip"):
        raise DatasetError(f"on_error={on_error!r} must be 'raise' or 'skip'")
    if not root.is_dir():
        raise DatasetError(f"{spec.title} root {root} is not a folder")

    candidates, skipped, dropped = [], [], {}

    def skip(path: Path, reason: str) -> None:
        _skip_unusable(skipped, path, reason, on_error=on_error)

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in audio.AUDIO_SUFFIXES:
            continue
        if not audio.is_audio_name(path):
            skipped.append({"path": str(path), "reason": "hidden file (e.g. a macOS ._ AppleDouble copy)"})
            continue
        try:
            fields = spec.parse(path)
        except NotSpeechError as error:
            # Another part of the corpus (a song, a video): never an error.
            skipped.append({"path": str(path), "reason": error.reason})
            continue
        except DatasetError as error:
            # The message starts with the path; the reason is what follows it.
            skip(path, str(error)[len(str(path)) + 2:])
            continue
        if fields["emotion"] is None:
            dropped[fields["corpus_emotion"]] = dropped.get(fields["corpus_emotion"], 0) + 1
            continue
        candidates.append((path, fields))

    paths = [path for path, _ in candidates]
    facts = _check_files(paths, feature_config=feature_config) if read_info else {}
    rows, seen = [], {}
    for path, fields in candidates:
        fact = facts.get(path)
        if isinstance(fact, AudioError):
            skip(path, fact.reason)
            continue
        if fields["clip_id"] in seen:
            skipped.append({"path": str(path), "reason": f"duplicate of {seen[fields['clip_id']]}"})
            continue
        seen[fields["clip_id"]] = path
        row = {"path": str(path), **fields}
        if fact is not None:
            row.update(duration=fact.frames / fact.samplerate, sample_rate=fact.samplerate,
                       channels=fact.channels)
        else:
            row.update(duration=float("nan"), sample_rate=0, channels=0)
        rows.append(row)

    if not rows:
        raise DatasetError(
            f"no usable {spec.title} speech files ({spec.pattern}) found below {root}; "
            f"{len(skipped)} audio files were skipped"
            + (f", e.g. {skipped[0]['path']}: {skipped[0]['reason']}" if skipped else "")
            + (f"; {sum(dropped.values())} dropped (classes without a RAVDESS counterpart)" if dropped else "")
        )
    manifest = pd.DataFrame(rows)
    manifest = manifest.sort_values(["actor", "clip_id"], kind="stable").reset_index(drop=True)
    manifest = manifest[list(spec.columns)]
    skipped_table = pd.DataFrame(skipped, columns=["path", "reason"])
    return manifest, skipped_table.sort_values("path", kind="stable").reset_index(drop=True), dropped


def check_protocol(manifest: pd.DataFrame, skipped: pd.DataFrame | None = None, *,
                   actors: range = range(1, 25)) -> None:
    """Refuse a manifest that leaves the study's protocols without meaning.

    The speaker-independent folds put every actor in one test fold, so every actor needs
    clips of every emotion: an actor without clips, or without any clip of one emotion,
    would leave a fold that cannot be scored like the others.

    Raises
    ------
    DatasetError
        One message naming each actor that has no clips or misses an emotion, with the number
        of files skipped (the usual cause).
    """
    problems = []
    present = manifest.groupby("actor")["emotion"].agg(set) if len(manifest) else pd.Series(dtype=object)
    for actor in actors:
        if actor not in present.index:
            problems.append(f"actor {actor} has no usable clip")
            continue
        missing = [e for e in config.EMOTIONS if e not in present[actor]]
        if missing:
            problems.append(f"actor {actor} has no {'/'.join(missing)} clip")
    if problems:
        n_skipped = 0 if skipped is None else len(skipped)
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise DatasetError(
            f"the RAVDESS copy cannot support the study's protocols: {shown}. "
            f"{n_skipped} files were skipped as unusable (see the skipped table, or run "
            f"`python -m helpers.datasets manifest DIR`); restore them or use a complete copy"
        )


def _skip_unusable(skipped: list, path: Path, reason: str, *, on_error: str) -> None:
    """An unusable file: raise (``on_error="raise"``), or warn and add it to ``skipped``."""
    if on_error == "raise":
        raise DatasetError(f"{path}: {reason}")
    warnings.warn(f"skipping {path}: {reason}", stacklevel=3)
    skipped.append({"path": str(path), "reason": reason})


def _check_files(paths: list[Path], *, feature_config: config.FeatureConfig | None) -> dict:
    """Info or error of every path (threads: decoding releases the GIL).

    With a feature configuration, ``audio.check_window``: the file must also give features in
    that analysis window. Without, ``audio.check_audio`` of the whole file.
    """
    def one(path: Path):
        try:
            if feature_config is None:
                return audio.check_audio(path)
            return audio.check_window(path, feature_config=feature_config)
        except AudioError as error:
            return error

    return _per_path(one, paths)


def _file_digests(paths: list[Path]) -> dict[Path, str]:
    """Content digest of every path (threads: hashing releases the GIL)."""
    return _per_path(io.file_digest, paths)


def _per_path(function, paths: list[Path]) -> dict:
    """``{path: function(path)}`` on up to 4 threads (decoding and hashing release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return dict(zip(paths, pool.map(function, paths)))


def load_urbansound8k(root: str | os.PathLike, *, folds: int | list[int] | tuple[int, ...] | None = (1,),
                      classes: list[str] | tuple[str, ...] | None = None,
                      on_error: str = "skip") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``metadata/UrbanSound8K.csv``, select clips by fold and class, and check each file.

    A listed clip that is missing or cannot be used (the checks of ``audio.check_audio``:
    unreadable, empty, header only, truncated, too short, all silent) is skipped with its
    reason, like a bad RAVDESS file, or raises with ``on_error="raise"``. A duplicate is
    skipped with its reason in either case, as in RAVDESS: a row that lists a file again, or a
    file whose content equals that of a clip listed before it.

    Parameters
    ----------
    root : str or PathLike
        UrbanSound8K root holding ``metadata/`` and ``audio/foldN/``.
    folds : int or sequence of int or None
        Folds to keep; the original work used fold 1 only. None keeps every fold.
    classes : sequence of str or None
        Class names to keep (e.g. ``["street_music", "dog_bark"]``); None keeps all.
    on_error : {"skip", "raise"}

    Returns
    -------
    noise : pd.DataFrame
        The usable metadata rows selected, with an added ``path`` column.
    skipped : pd.DataFrame
        Columns ``path, reason``, in metadata order.

    Raises
    ------
    DatasetError
        If the metadata file is missing or lacks columns, the selection is empty (the message
        lists the folds and classes available), every selected clip is unusable, or one is
        (with ``on_error="raise"``).
    """
    if on_error not in ("raise", "skip"):
        raise DatasetError(f"on_error={on_error!r} must be 'raise' or 'skip'")
    root = Path(root)
    csv_path = root / "metadata" / "UrbanSound8K.csv"
    if not csv_path.is_file():
        raise DatasetError(f"UrbanSound8K metadata {csv_path} not found (expected metadata/UrbanSound8K.csv under the root)")
    table = pd.read_csv(csv_path)
    missing_columns = [c for c in US8K_COLUMNS if c not in table.columns]
    if missing_columns:
        raise DatasetError(f"{csv_path}: missing columns {missing_columns}")
    selected = table
    if folds is not None:
        fold_list = [folds] if isinstance(folds, int) else list(folds)
        selected = selected[selected["fold"].isin(fold_list)]
    if classes is not None:
        unknown = sorted(set(classes) - set(table["class"]))
        if unknown:
            raise DatasetError(f"classes={unknown} not in {csv_path}; available: {sorted(table['class'].unique())}")
        selected = selected[selected["class"].isin(list(classes))]
    if selected.empty:
        raise DatasetError(
            f"folds={folds}, classes={classes} select no clip in {csv_path}; "
            f"available folds {sorted(table['fold'].unique().tolist())}, "
            f"classes {sorted(table['class'].unique().tolist())}"
        )
    selected = selected.copy()
    selected["path"] = [str(root / "audio" / f"fold{fold}" / name)
                        for fold, name in zip(selected["fold"], selected["slice_file_name"])]
    paths = [Path(p) for p in selected["path"]]
    facts = _check_files(list(dict.fromkeys(p for p in paths if p.is_file())), feature_config=None)
    # A second copy of a clip's content under another name is a duplicate, as a second copy of a
    # RAVDESS clip is: it would weigh double in the noise bank. The first listed copy is kept.
    digests = _file_digests([path for path, fact in facts.items()
                             if audio.is_audio_name(path) and not isinstance(fact, AudioError)])
    skipped, keep, listed, first_copy = [], [], set(), {}
    for path in paths:
        keep.append(False)
        if path in listed:
            skipped.append({"path": str(path), "reason": f"listed again in {csv_path.name} (a duplicate row)"})
            continue
        listed.add(path)
        if not path.is_file():
            reason = f"listed in {csv_path.name} but missing"
        elif not audio.is_audio_name(path):
            reason = f"not an audio file name (expected one of {sorted(audio.AUDIO_SUFFIXES)})"
        elif isinstance(facts[path], AudioError):
            reason = facts[path].reason
        elif digests[path] in first_copy:
            skipped.append({"path": str(path), "reason": f"duplicate of {first_copy[digests[path]]}"})
            continue
        else:
            first_copy[digests[path]] = path
            keep[-1] = True
            continue
        _skip_unusable(skipped, path, reason, on_error=on_error)
    usable = selected[keep].reset_index(drop=True)
    if usable.empty:
        raise DatasetError(f"none of the {len(selected)} UrbanSound8K clips selected in {csv_path} "
                           f"can be used, e.g. {skipped[0]['path']}: {skipped[0]['reason']}")
    return usable, pd.DataFrame(skipped, columns=["path", "reason"])


def available_folds(root: str | os.PathLike) -> list[int]:
    """Folds present in an UrbanSound8K metadata file (for choosing a fold that has clips)."""
    csv_path = Path(root) / "metadata" / "UrbanSound8K.csv"
    if not csv_path.is_file():
        raise DatasetError(f"UrbanSound8K metadata {csv_path} not found")
    return sorted(pd.read_csv(csv_path, usecols=["fold"])["fold"].unique().tolist())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers.datasets", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    manifest_cmd = commands.add_parser("manifest", help="write a corpus's manifest as CSV")
    manifest_cmd.add_argument("root", help="corpus root (any layout)")
    manifest_cmd.add_argument("--corpus", choices=list(CORPORA), default="ravdess",
                              help="which corpus's file names to read (default: ravdess)")
    manifest_cmd.add_argument("--csv", help="output file (default: standard output)")
    manifest_cmd.add_argument("--on-error", choices=("raise", "skip"), default="skip",
                              help="skip (default): list unusable files with the reason and go on; "
                                   "raise: stop at the first one")
    download_cmd = commands.add_parser("download", help="download and verify a dataset")
    download_cmd.add_argument("args", nargs=argparse.REMAINDER, help="ravdess|urbansound8k [--to DIR]")
    args = parser.parse_args(argv)

    if args.command == "download":
        from helpers import download

        return download.main(args.args)
    try:
        manifest, skipped, dropped = find_corpus(args.root, corpus=args.corpus, on_error=args.on_error)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for row in skipped.itertuples():
        print(f"skipped {row.path}: {row.reason}", file=sys.stderr)
    for name, count in dropped.items():
        print(f"dropped {count} {name} clips: no RAVDESS counterpart", file=sys.stderr)
    if args.csv:
        try:
            with io.atomic_path(args.csv) as tmp:
                manifest.to_csv(tmp, index=False)
        except ProjectError as error:  # OutputError: --csv cannot be written, named
            print(f"error: --csv {error}", file=sys.stderr)
            return 2
        print(f"wrote {len(manifest)} rows to {args.csv}", file=sys.stderr)
    else:
        manifest.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
