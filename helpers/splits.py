"""Train/validation/test splits of a clip table: the original protocol and leak-free ones.

Every function takes an item table (a manifest with one row per recording, or a feature table
with one row per noisy version of a recording) and returns :class:`Split` objects holding
*positional* indices into that table, so ``items.iloc[split.train]`` and ``x[split.train]``
select the same rows. All functions are deterministic for a given ``seed``.

The protocols, from most to least optimistic:

* :func:`original_split` -- the study's random 60/20/20 split of items, stratified by emotion.
  It puts one speaker's clips (and, in the aggregation variant, the noisy copies of one
  recording) on both sides of the split.
* :func:`clip_grouped_split` -- the same proportions, but every row of one recording stays on
  one side. Speakers still appear on both sides.
* :func:`speaker_folds` -- k-fold cross-validation over actors with gender-balanced test and
  validation actors: nothing about a test speaker is seen in training.
* :func:`gender_split` -- the gender study's single 12/6/6 actor split with even gender counts.

Two functions carry an actor split further (the fusion study's): :func:`gender_split_for_fold`
puts a fold's actors on another item table, :func:`split_by_gender` keeps one gender's
training and validation items of a fold.

Why it is over 500 lines: every protocol shares the item-table checks and the actor and gender
helpers at the end of the file, the leak-free guarantees are easiest to read and test in one
place, and more than a third of it is docstrings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import config
from helpers import errors
from helpers.errors import ProjectError

__all__ = [
    "SplitError",
    "Split",
    "original_split",
    "clip_grouped_split",
    "speaker_folds",
    "gender_split",
    "gender_split_for_fold",
    "split_by_gender",
    "subset_per_actor",
]

PARTS: tuple[str, ...] = ("train", "validation", "test")


class SplitError(ProjectError):
    """A split cannot be made as asked: bad fractions, missing columns, unbalanced actors."""


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One train/validation/test partition of an item table.

    Attributes
    ----------
    name : str
        Protocol and fold, e.g. ``"speaker-fold-3"``.
    train, validation, test : np.ndarray [shape=(n_part,), dtype=int64]
        Sorted positional indices into the item table (use ``iloc``).
    fold : int or None
        Zero-based fold number for cross-validation splits.
    seed : int or None
        The seed that produced the split.
    train_actors, validation_actors, test_actors : tuple of int or None
        Sorted actor numbers of each part, for actor-based protocols; None otherwise.
    """

    name: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    fold: int | None = None
    seed: int | None = None
    train_actors: tuple[int, ...] | None = None
    validation_actors: tuple[int, ...] | None = None
    test_actors: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for part in PARTS:
            values = np.unique(np.asarray(getattr(self, part), dtype=np.int64))
            values.setflags(write=False)
            object.__setattr__(self, part, values)
        overlap = {
            (a, b): np.intersect1d(getattr(self, a), getattr(self, b)).size
            for i, a in enumerate(PARTS) for b in PARTS[i + 1:]
        }
        shared = {pair: n for pair, n in overlap.items() if n}
        if shared:
            raise SplitError(
                f"split {self.name!r}: parts share items {shared}; they must be disjoint"
            )

    @property
    def actor_based(self) -> bool:
        """True when the parts were chosen by actor (no speaker on two sides)."""
        return self.test_actors is not None

    def validation_in_training(self) -> Split:
        """This split with its validation part moved into its training part.

        For a fit that looks at no validation data (:data:`helpers.training.NO_VALIDATION_SOLVERS`):
        the validation actors would otherwise be left unused. The test part is unchanged.
        """
        if not self.validation.size:
            return self
        actors = self.train_actors
        if actors is not None or self.validation_actors:
            actors = tuple(sorted({*(actors or ()), *(self.validation_actors or ())}))
        return dataclasses.replace(
            self, train=np.concatenate([self.train, self.validation]), validation=np.empty(0, np.int64),
            train_actors=actors, validation_actors=() if self.validation_actors is not None else None)

    def sizes(self) -> dict[str, int]:
        """Number of items in each part."""
        return {part: int(getattr(self, part).size) for part in PARTS}

    def parts(self) -> dict[str, np.ndarray]:
        """The index arrays keyed by part name."""
        return {part: getattr(self, part) for part in PARTS}

    def to_dict(self, *, indices: bool = True) -> dict:
        """A JSON-ready description (indices and actor lists as plain lists).

        ``indices=False`` leaves the three index lists out: name, fold, seed and actors only.
        """
        out: dict = {"name": self.name, "fold": self.fold, "seed": self.seed}
        if indices:
            out.update({part: getattr(self, part).tolist() for part in PARTS})
        for part in PARTS:
            actors = getattr(self, f"{part}_actors")
            out[f"{part}_actors"] = None if actors is None else list(actors)
        return out

    def summary(self, items: pd.DataFrame, *, by: str = "gender") -> pd.DataFrame:
        """Count the items of each part by one column (e.g. gender or emotion).

        Parameters
        ----------
        items : pd.DataFrame
            The table the split indexes.
        by : str
            Column to count by.

        Returns
        -------
        pd.DataFrame
            One row per part, one column per value of ``by`` plus ``total``.

        Raises
        ------
        SplitError
            If ``by`` is not a column of ``items`` or the indices do not fit the table.
        """
        _require_columns(items, (by,), argument="items")
        n = len(items)
        for part in PARTS:
            indices = getattr(self, part)
            if indices.size and indices[-1] >= n:
                raise SplitError(
                    f"split {self.name!r} indexes row {int(indices[-1])} but items has {n} rows"
                )
        rows = {
            part: items[by].iloc[getattr(self, part)].value_counts().sort_index()
            for part in PARTS
        }
        table = pd.DataFrame(rows).T.fillna(0).astype(int)
        table.index.name = "part"
        table["total"] = table.sum(axis=1)
        return table


# ----------------------------------------------------------------------------------------------
# Item-level protocols
# ----------------------------------------------------------------------------------------------


def original_split(items: pd.DataFrame, *, seed: int, train: float = 0.6,
                   validation: float = 0.2, test: float = 0.2,
                   stratify: str | None = "emotion") -> Split:
    """Split items at random, stratified by emotion, as the original study did.

    Each emotion's items are shuffled and dealt to the parts so that every part's count of
    that emotion is within one item of ``fraction * n_emotion``; leftover items go to the
    parts that are furthest behind their overall target, so the totals stay close too.

    .. warning::
       This protocol leaks. The same speaker appears in training and test, and in the
       aggregation variant the four noisy copies of one recording land on different sides,
       so the test score partly measures recognising a recording already heard in training.
       It is kept to reproduce the reported numbers; use :func:`clip_grouped_split` or
       :func:`speaker_folds` for honest estimates.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table; needs the ``stratify`` column when one is given.
    seed : int
        Seed for the shuffles.
    train, validation, test : float
        Fractions of the items per part; non-negative, summing to 1, train and test > 0.
    stratify : str or None
        Column whose class proportions every part should keep; None for a plain random split.

    Returns
    -------
    Split
        Named ``"original"``, without actor lists.

    Raises
    ------
    SplitError
        If the table is empty, the column is missing, the fractions are invalid, or a part
        with a positive fraction would be empty.
    """
    _check_table(items, argument="items")
    fractions = _check_fractions(train=train, validation=validation, test=test)
    seed = _check_seed(seed)
    labels = _labels(items, stratify)
    rng = np.random.default_rng(seed)
    assignment = _stratified_assignment(labels, fractions, rng)
    parts = {part: np.flatnonzero(assignment == k) for k, part in enumerate(PARTS)}
    _check_nonempty(parts, fractions, name="original")
    return Split("original", **parts, seed=seed)


def clip_grouped_split(items: pd.DataFrame, *, seed: int, train: float = 0.6,
                       validation: float = 0.2, test: float = 0.2,
                       stratify: str | None = "emotion", group: str = "clip_id") -> Split:
    """Split items at random while keeping every row of one recording on the same side.

    The recordings (unique ``group`` values) are split with the same stratified dealing as
    :func:`original_split`, using each recording's label (its most common one if its rows
    disagree), and every row follows its recording. Proportions are therefore exact in
    recordings and close in rows. Speakers still appear on several sides.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table with ``group`` and (when given) ``stratify`` columns.
    seed : int
        Seed for the shuffles.
    train, validation, test : float
        Fractions of the recordings per part; non-negative, summing to 1, train and test > 0.
    stratify : str or None
        Column whose class proportions every part should keep; None for no stratification.
    group : str
        Column identifying a recording; identical for all its noisy versions.

    Returns
    -------
    Split
        Named ``"clip-grouped"``, without actor lists.

    Raises
    ------
    SplitError
        If the table is empty, a column is missing, the fractions are invalid, or a part with a
        positive fraction would be empty.
    """
    _check_table(items, argument="items")
    fractions = _check_fractions(train=train, validation=validation, test=test)
    seed = _check_seed(seed)
    _require_columns(items, (group,), argument="items")
    codes, groups = pd.factorize(items[group], sort=True)
    if (codes < 0).any():
        raise SplitError(f"items[{group!r}] has missing values; every row needs a {group}")
    row_labels = _labels(items, stratify)
    group_labels = (
        pd.DataFrame({"g": codes, "label": row_labels})
        .groupby("g")["label"]
        .agg(lambda values: values.value_counts().sort_index().idxmax())
        .reindex(range(len(groups)))
        .to_numpy()
    )
    rng = np.random.default_rng(seed)
    group_assignment = _stratified_assignment(group_labels, fractions, rng)
    assignment = group_assignment[codes]
    parts = {part: np.flatnonzero(assignment == k) for k, part in enumerate(PARTS)}
    _check_nonempty(parts, fractions, name="clip-grouped")
    return Split("clip-grouped", **parts, seed=seed)


# ----------------------------------------------------------------------------------------------
# Actor-level protocols
# ----------------------------------------------------------------------------------------------


def speaker_folds(items: pd.DataFrame, *, n_folds: int = 6, seed: int,
                  validation_actors: int = 2) -> list[Split]:
    """Cross-validation folds over actors with gender-balanced test and validation actors.

    Female and male actors are shuffled separately and dealt into ``n_folds`` test groups, so
    each test fold holds the same number of each (24 actors: 6 folds → 2F+2M, 3 folds → 4F+4M,
    2 folds → 6F+6M). For every fold, ``validation_actors // 2`` female and as many male actors
    are drawn from the remaining actors for validation; the rest train. No actor is in two
    parts of one split, and every actor is in exactly one test fold.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table with ``actor`` and ``gender`` columns (any subset of the actors).
    n_folds : int
        Number of folds, at least 2.
    seed : int
        Seed for dealing actors to folds and drawing validation actors.
    validation_actors : int
        Even number of validation actors per fold (half female, half male); 0 for none.

    Returns
    -------
    list of Split
        ``n_folds`` splits named ``"speaker-fold-<k>"`` (k from 1), with ``fold`` from 0.

    Raises
    ------
    SplitError
        If the columns are missing, an actor has two genders, the female and male counts differ
        or do not divide into ``n_folds``, or too few training actors would remain.
    """
    _check_table(items, argument="items")
    seed = _check_seed(seed)
    n_folds = _check_int(n_folds, name="n_folds", minimum=2)
    validation_actors = _check_int(validation_actors, name="validation_actors", minimum=0)
    if validation_actors % 2:
        raise SplitError(
            f"validation_actors={validation_actors} must be even (half female, half male)"
        )
    female, male = _actors_by_gender(items)
    n_female, n_male = len(female), len(male)
    if n_female != n_male or n_female % n_folds:
        raise SplitError(
            f"n_folds={n_folds}: cannot give every test fold equal female and male actors with "
            f"{n_female} female and {n_male} male actors; both counts must be equal and "
            f"divisible by n_folds"
        )
    per_fold = n_female // n_folds
    per_gender_validation = validation_actors // 2
    remaining = n_female - per_fold
    if per_gender_validation >= remaining:
        raise SplitError(
            f"validation_actors={validation_actors} leaves no training actors: each fold has "
            f"{remaining} female and {remaining} male non-test actors, so at most "
            f"{2 * (remaining - 1)} can validate"
        )
    rng = np.random.default_rng(seed)
    female = rng.permutation(female)
    male = rng.permutation(male)
    actor_column = _actor_column(items)
    splits = []
    for fold in range(n_folds):
        block = slice(fold * per_fold, (fold + 1) * per_fold)
        test_actors = np.concatenate([female[block], male[block]])
        rest_female = np.setdiff1d(female, female[block])
        rest_male = np.setdiff1d(male, male[block])
        validation = np.concatenate([
            rng.choice(rest_female, size=per_gender_validation, replace=False),
            rng.choice(rest_male, size=per_gender_validation, replace=False),
        ])
        train_actors = np.setdiff1d(np.concatenate([rest_female, rest_male]), validation)
        splits.append(_actor_split(f"speaker-fold-{fold + 1}", actor_column, seed=seed,
                                   fold=fold, train=train_actors, validation=validation,
                                   test=test_actors))
    return splits


#: The consecutive folds of the reference baselines: actors 1-4, 5-8, ..., 21-24 (2 F + 2 M each).
CONSECUTIVE_FOLDS: tuple[tuple[int, ...], ...] = tuple(tuple(range(a, a + 4)) for a in range(1, 25, 4))


def check_fold_definition(folds, *, source: str = "folds") -> list[list[int]]:
    """Validate a list of test-actor lists (e.g. read from a user's JSON file).

    Parameters
    ----------
    folds : object
        Should be a non-empty list of non-empty lists of actor numbers 1-24, no actor twice.
    source : str
        Where the definition came from, for the messages (e.g. the file name).

    Returns
    -------
    list of list of int

    Raises
    ------
    SplitError
        Naming the problem: not a list of lists, an empty fold, a value that is not a whole
        actor number, an actor outside 1-24, or an actor in two folds.
    """
    if not isinstance(folds, list) or not folds:
        raise SplitError(f"{source}: expected a non-empty JSON list of test-actor lists, e.g. "
                         f"[[1, 2, 3, 4], [5, 6, 7, 8]]; got {type(folds).__name__}")
    seen: dict[int, int] = {}
    checked = []
    for k, fold in enumerate(folds, start=1):
        if not isinstance(fold, list):
            raise SplitError(f"{source}: fold {k} is {fold!r}; expected a list of actor numbers")
        if not fold:
            raise SplitError(f"{source}: fold {k} is empty; every fold needs at least one test actor")
        actors = []
        for actor in fold:
            if not errors.is_int(actor):
                raise SplitError(f"{source}: fold {k} holds {actor!r}; expected whole actor numbers")
            if not 1 <= actor <= 24:
                raise SplitError(f"{source}: fold {k} holds actor {actor}; RAVDESS actors are 1-24")
            if int(actor) in seen:
                raise SplitError(f"{source}: actor {actor} is in fold {seen[int(actor)]} and fold "
                                 f"{k}; a test actor belongs to one fold")
            seen[int(actor)] = k
            actors.append(int(actor))
        checked.append(sorted(actors))
    return checked


def folds_from_test_actors(items: pd.DataFrame, test_actor_lists, *, seed: int,
                           validation_actors: int = 2) -> list[Split]:
    """Speaker-independent splits with the given test actors (e.g. published fold definitions).

    For every fold, the validation actors are drawn from that fold's *training* actors (half
    female, half male where both are left), seeded; the rest train.

    Parameters
    ----------
    items : pd.DataFrame
        Item table with ``actor`` (and ``gender``, or RAVDESS's odd = male convention).
    test_actor_lists : list of list of int
        Checked with :func:`check_fold_definition`.
    seed : int
    validation_actors : int
        Even number of validation actors per fold.

    Raises
    ------
    SplitError
        If the definition is malformed, a fold's test actors are not in ``items``, or too few
        training actors would remain.
    """
    _check_table(items, argument="items")
    seed = _check_seed(seed)
    folds = check_fold_definition(test_actor_lists)
    validation_actors = _check_int(validation_actors, name="validation_actors", minimum=0)
    female, male = _actors_by_gender(items)
    present = set(female) | set(male)
    actor_column = _actor_column(items)
    rng = np.random.default_rng(seed)
    result = []
    for k, test in enumerate(folds):
        missing = sorted(set(test) - present)
        if missing:
            raise SplitError(f"fold {k + 1}: test actors {missing} have no items in the table")
        rest = [np.setdiff1d(group, test) for group in (female, male)]
        per_gender = validation_actors // 2
        if any(len(group) <= per_gender for group in rest):
            raise SplitError(f"fold {k + 1}: too few training actors of each gender left for "
                             f"{validation_actors} validation actors")
        validation = np.concatenate([rng.choice(group, size=per_gender, replace=False)
                                     for group in rest])
        train = np.setdiff1d(np.concatenate(rest), validation)
        result.append(_actor_split(f"speaker-fold-{k + 1}", actor_column, seed=seed, fold=k,
                                   train=train, validation=validation, test=np.asarray(test)))
    return result


def gender_split(items: pd.DataFrame, *, seed: int, n_train: int = 12, n_validation: int = 6,
                 n_test: int = 6) -> Split:
    """The gender study's actor split: training, validation and test actors, each half female.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table with ``actor`` and ``gender`` columns.
    seed : int
        Seed for dealing actors to the parts.
    n_train, n_validation, n_test : int
        Actors per part; each even, summing to the number of actors in ``items``;
        ``n_validation`` may be 0.

    Returns
    -------
    Split
        Named ``"gender"``, with actor lists.

    Raises
    ------
    SplitError
        If the columns are missing, a count is odd or negative, the counts do not add up to the
        actors present, or there are not enough actors of one gender.
    """
    _check_table(items, argument="items")
    seed = _check_seed(seed)
    counts = {
        "n_train": _check_int(n_train, name="n_train", minimum=2),
        "n_validation": _check_int(n_validation, name="n_validation", minimum=0),
        "n_test": _check_int(n_test, name="n_test", minimum=2),
    }
    for name, value in counts.items():
        if value % 2:
            raise SplitError(f"{name}={value} must be even so the part is half female, half male")
    female, male = _actors_by_gender(items)
    total = sum(counts.values())
    if total != len(female) + len(male) or len(female) != len(male):
        raise SplitError(
            f"n_train + n_validation + n_test = {total} must equal the number of actors "
            f"({len(female)} female + {len(male)} male), with equal female and male counts"
        )
    rng = np.random.default_rng(seed)
    female = rng.permutation(female)
    male = rng.permutation(male)
    bounds = np.cumsum([0] + [value // 2 for value in counts.values()])
    chosen = {
        part: np.concatenate([female[bounds[k]:bounds[k + 1]], male[bounds[k]:bounds[k + 1]]])
        for k, part in enumerate(PARTS)
    }
    return _actor_split("gender", _actor_column(items), seed=seed, fold=None, **chosen)


# ----------------------------------------------------------------------------------------------
# A fold's actors on another table, or one gender of them
# ----------------------------------------------------------------------------------------------


def gender_split_for_fold(items: pd.DataFrame, split: Split) -> Split:
    """The same actors as an emotion fold, as a split of another item table.

    The gender classifier may be trained on a different variant (another item table) than the
    emotion models; its split keeps the emotion fold's actors in each part, so no test actor
    of the emotion fold is heard by the gender classifier.

    Parameters
    ----------
    items : pd.DataFrame [shape=(n_items, ...)]
        Item table with an ``actor`` column (e.g. the clean variant's).
    split : Split
        An actor-based emotion fold (from :func:`speaker_folds`).

    Returns
    -------
    Split
        Named ``"<split.name>-gender"``, indexing ``items``.

    Raises
    ------
    SplitError
        If ``split`` is not actor-based or ``items`` has no ``actor`` column.
    """
    if not isinstance(split, Split) or not split.actor_based:
        raise SplitError(f"split={getattr(split, 'name', split)!r} must be an actor-based split "
                         "(speaker-independent folds)")
    actors = _actor_column(items)
    parts = {part: np.flatnonzero(np.isin(actors, getattr(split, f"{part}_actors")))
             for part in PARTS}
    return Split(f"{split.name}-gender", **parts, fold=split.fold, seed=split.seed,
                 train_actors=split.train_actors, validation_actors=split.validation_actors,
                 test_actors=split.test_actors)


def split_by_gender(items: pd.DataFrame, split: Split, *, gender: str) -> Split:
    """Keep one gender's training and validation items of a fold; keep every test item.

    Parameters
    ----------
    items : pd.DataFrame
        The table ``split`` indexes, with ``gender`` and ``actor`` columns.
    split : Split
    gender : {"female", "male"}

    Returns
    -------
    Split
        Named ``"<split.name>-<gender>"``; its test part is ``split.test`` unchanged.

    Raises
    ------
    SplitError
        If ``gender`` is unknown or the gender has no training or validation items.
    """
    if gender not in config.GENDERS:
        raise SplitError(f"gender={gender!r} must be one of {config.GENDERS}")
    mask = _gender_column(items) == gender
    parts = {"train": split.train[mask[split.train]],
             "validation": split.validation[mask[split.validation]], "test": split.test}
    for part in ("train", "validation"):
        if parts[part].size == 0:
            raise SplitError(f"split {split.name!r} has no {gender} {part} items; a per-gender "
                             "model needs both")
    actor_column = _actor_column(items)
    actor_lists = {}
    for part in PARTS:
        actors = getattr(split, f"{part}_actors")
        if actors is not None and part != "test":
            own = set(actor_column[parts[part]].tolist())
            actors = tuple(a for a in actors if a in own)
        actor_lists[f"{part}_actors"] = actors
    return Split(f"{split.name}-{gender}", **parts, fold=split.fold, seed=split.seed,
                 **actor_lists)


# ----------------------------------------------------------------------------------------------
# Subsets for the smoke and quick profiles
# ----------------------------------------------------------------------------------------------


def subset_per_actor(manifest: pd.DataFrame, *, clips_per_actor: int | None,
                     seed: int) -> pd.DataFrame:
    """Keep ``clips_per_actor`` recordings of every actor, spread over the emotions.

    Each actor's recordings are dealt round-robin over the emotions (a seeded random order of
    recordings within each emotion). The emotion order is a seeded permutation, rotated by
    ``clips_per_actor`` for each successive actor of the same gender, so that with few clips
    per actor the emotions are still covered evenly across actors and equally for both genders.
    A recording is one ``clip_id``: all its noisy versions are kept together. Actors with fewer
    recordings keep them all.

    Parameters
    ----------
    manifest : pd.DataFrame [shape=(n_items, ...)]
        Table with ``actor``, ``emotion`` and ``clip_id`` columns (``gender`` is used when
        present, otherwise derived from the actor number: odd male, even female).
    clips_per_actor : int or None
        Recordings to keep per actor; None keeps everything.
    seed : int
        Seed for the emotion order and the choice of recordings.

    Returns
    -------
    pd.DataFrame
        The selected rows in their original order, with their original index; a copy of
        ``manifest`` when ``clips_per_actor`` is None.

    Raises
    ------
    SplitError
        If ``clips_per_actor`` is not a positive integer or None, or a column is missing.
    """
    if clips_per_actor is None:
        return manifest.copy()
    clips_per_actor = _check_int(clips_per_actor, name="clips_per_actor", minimum=1)
    seed = _check_seed(seed)
    _check_table(manifest, argument="manifest", columns=("actor", "emotion", "clip_id"))
    rng = np.random.default_rng(seed)
    clips = manifest.drop_duplicates("clip_id")[["actor", "emotion", "clip_id"]].copy()
    clips["actor"] = _actor_column(clips)
    clips["gender"] = _gender_column(manifest.drop_duplicates("clip_id"))
    known = [e for e in config.EMOTIONS if e in set(clips["emotion"])]
    extra = sorted(set(clips["emotion"]) - set(known), key=str)
    emotion_order = [(known + extra)[k] for k in rng.permutation(len(known) + len(extra))]
    n_emotions = len(emotion_order)
    chosen: list = []
    for gender in sorted(clips["gender"].unique(), key=str):
        actors = sorted(clips.loc[clips["gender"] == gender, "actor"].unique())
        for rank, actor in enumerate(actors):
            own = clips[clips["actor"] == actor]
            queues = {
                emotion: list(rng.permutation(own.loc[own["emotion"] == emotion, "clip_id"]
                                              .to_numpy()))
                for emotion in emotion_order
            }
            offset = (rank * clips_per_actor) % n_emotions
            order = emotion_order[offset:] + emotion_order[:offset]
            taken = 0
            while taken < clips_per_actor and any(queues.values()):
                for emotion in order:
                    if taken == clips_per_actor:
                        break
                    if queues[emotion]:
                        chosen.append(queues[emotion].pop(0))
                        taken += 1
    return manifest[manifest["clip_id"].isin(chosen)].copy()


# ----------------------------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------------------------


def _check_table(items, *, argument: str, columns: Sequence[str] = ()) -> None:
    if not isinstance(items, pd.DataFrame):
        raise SplitError(f"{argument} is a {type(items).__name__}; expected a pandas DataFrame")
    if items.empty:
        raise SplitError(f"{argument} has no rows; expected at least one item")
    _require_columns(items, columns, argument=argument)


def _require_columns(items: pd.DataFrame, columns: Sequence[str], *, argument: str) -> None:
    missing = [column for column in columns if column not in items.columns]
    if missing:
        raise SplitError(
            f"{argument} lacks column(s) {missing}; it has {list(map(str, items.columns))}"
        )


def _check_seed(seed) -> int:
    return _check_int(seed, name="seed", minimum=0)


def _check_int(value, *, name: str, minimum: int) -> int:
    return errors.check_int(value, name=name, minimum=minimum, error=SplitError)


def _check_fractions(*, train: float, validation: float, test: float) -> np.ndarray:
    values = {"train": train, "validation": validation, "test": test}
    for name, value in values.items():
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise SplitError(f"{name}={value!r} must be a finite fraction in [0, 1]")
        if not 0 <= value <= 1:
            raise SplitError(f"{name}={value} must be in [0, 1]")
    if train <= 0 or test <= 0:
        raise SplitError(f"train={train} and test={test} must both be > 0")
    total = train + validation + test
    if abs(total - 1) > 1e-6:
        raise SplitError(
            f"train + validation + test = {train} + {validation} + {test} = {total:g}; "
            f"expected 1"
        )
    return np.array([train, validation, test], dtype=float) / total


def _check_nonempty(parts: dict[str, np.ndarray], fractions: np.ndarray, *, name: str) -> None:
    for k, part in enumerate(PARTS):
        if fractions[k] > 0 and parts[part].size == 0:
            sizes = {p: int(v.size) for p, v in parts.items()}
            raise SplitError(
                f"{name} split: {part} part is empty with {part}={fractions[k]:g} and part sizes "
                f"{sizes}; the table is too small for these fractions"
            )


def _labels(items: pd.DataFrame, stratify: str | None) -> np.ndarray:
    if stratify is None:
        return np.zeros(len(items), dtype=np.int64)
    if not isinstance(stratify, str):
        raise SplitError(f"stratify={stratify!r} must be a column name or None")
    _require_columns(items, (stratify,), argument="items")
    column = items[stratify]
    if column.isna().any():
        raise SplitError(f"items[{stratify!r}] has missing values; cannot stratify by it")
    codes, _ = pd.factorize(column, sort=True)
    return codes.astype(np.int64)


def _stratified_assignment(labels: np.ndarray, fractions: np.ndarray,
                           rng: np.random.Generator) -> np.ndarray:
    """Part number (0 train, 1 validation, 2 test) for each element of ``labels``.

    Within each class every part gets the floor of its expected count; the leftover items go
    to parts with a fractional remainder, preferring the parts furthest behind their overall
    target (ties broken at random), so each class count is within one of its expectation and
    the totals are within about one item of theirs.
    """
    assignment = np.empty(len(labels), dtype=np.int64)
    expected_total = np.zeros(len(fractions))
    assigned_total = np.zeros(len(fractions))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        expected = len(members) * fractions
        counts = np.floor(expected + 1e-9).astype(np.int64)
        remainder = expected - counts
        expected_total += expected
        leftover = len(members) - int(counts.sum())
        if leftover > 0:
            eligible = np.flatnonzero(remainder > 1e-9)
            deficit = (expected_total - assigned_total - counts)[eligible]
            order = eligible[np.lexsort((rng.random(eligible.size), -deficit))]
            counts[order[:leftover]] += 1
        assigned_total += counts
        bounds = np.cumsum(np.concatenate([[0], counts]))
        for part in range(len(fractions)):
            assignment[members[bounds[part]:bounds[part + 1]]] = part
    return assignment


def _actor_column(items: pd.DataFrame) -> np.ndarray:
    _require_columns(items, ("actor",), argument="items")
    actors = items["actor"]
    if actors.isna().any():
        raise SplitError("items['actor'] has missing values; every row needs an actor number")
    values = actors.to_numpy()
    try:
        as_int = values.astype(np.int64)
    except (TypeError, ValueError) as error:
        raise SplitError(f"items['actor'] must hold integer actor numbers: {error}") from None
    if not np.array_equal(as_int, values.astype(float)):
        raise SplitError("items['actor'] must hold whole actor numbers")
    return as_int


def _gender_column(items: pd.DataFrame) -> np.ndarray:
    if "gender" in items.columns:
        return items["gender"].astype(str).str.lower().to_numpy()
    # RAVDESS convention: odd actor numbers are male, even are female.
    return np.where(_actor_column(items) % 2 == 1, "male", "female")


def _actors_by_gender(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted female and male actor numbers, checking each actor has one gender."""
    table = pd.DataFrame({"actor": _actor_column(items), "gender": _gender_column(items)})
    per_actor = table.drop_duplicates().groupby("actor")["gender"].agg(list)
    mixed = {int(actor): genders for actor, genders in per_actor.items() if len(genders) > 1}
    if mixed:
        raise SplitError(f"items['gender'] is not constant per actor: {mixed}")
    genders = per_actor.str[0]
    unknown = sorted(set(genders) - set(config.GENDERS))
    if unknown:
        raise SplitError(
            f"items['gender'] has values {unknown}; expected one of {list(config.GENDERS)}"
        )
    female = np.sort(genders.index[genders == "female"].to_numpy(dtype=np.int64))
    male = np.sort(genders.index[genders == "male"].to_numpy(dtype=np.int64))
    return female, male


def _actor_split(name: str, actor_column: np.ndarray, *, seed: int, fold: int | None,
                 train: np.ndarray, validation: np.ndarray, test: np.ndarray) -> Split:
    actors = {"train": train, "validation": validation, "test": test}
    indices = {part: np.flatnonzero(np.isin(actor_column, value)) for part, value in actors.items()}
    actor_lists = {f"{part}_actors": tuple(sorted(int(a) for a in value))
                   for part, value in actors.items()}
    return Split(name, **indices, fold=fold, seed=seed, **actor_lists)
