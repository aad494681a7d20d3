"""Properties of every split protocol on generated RAVDESS-shaped tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from helpers import config
from helpers.errors import ProjectError
from tests.factories import RAVDESS_CLIPS, item_table, ravdess_clip_id
from helpers.splits import (
    Split,
    SplitError,
    clip_grouped_split,
    gender_split,
    gender_split_for_fold,
    original_split,
    speaker_folds,
    split_by_gender,
    subset_per_actor,
)


def make_manifest(actors=range(1, 25)) -> pd.DataFrame:
    """One row per recording, laid out like RAVDESS speech: 60 clips per actor."""
    return item_table(actors=actors, clips_per_emotion=RAVDESS_CLIPS, clip_id=ravdess_clip_id,
                      variants=None)


def make_aggregation(manifest: pd.DataFrame) -> pd.DataFrame:
    """Four noisy versions of every recording, as in the aggregation variant."""
    frames = [manifest.assign(variant=variant) for variant in config.NOISE_VARIANTS]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    return make_manifest()


@pytest.fixture(scope="module")
def aggregation(manifest) -> pd.DataFrame:
    return make_aggregation(manifest)


def assert_partition(split: Split, n_items: int) -> None:
    """The three parts are sorted, disjoint and together cover every item."""
    for part in split.parts().values():
        assert np.all(np.diff(part) > 0)
    joined = np.concatenate(list(split.parts().values()))
    assert np.array_equal(np.sort(joined), np.arange(n_items))


def split_actors(items: pd.DataFrame, split: Split) -> dict[str, set[int]]:
    return {part: set(items["actor"].iloc[idx]) for part, idx in split.parts().items()}


# ----------------------------------------------------------------------------------------------
# original_split
# ----------------------------------------------------------------------------------------------


def test_original_split_proportions_and_stratification(manifest):
    split = original_split(manifest, seed=1)
    assert_partition(split, len(manifest))
    sizes = split.sizes()
    assert sizes == {"train": 864, "validation": 288, "test": 288}
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    for emotion, n_emotion in manifest["emotion"].value_counts().items():
        for part, idx in split.parts().items():
            count = int((manifest["emotion"].iloc[idx] == emotion).sum())
            assert abs(count - fractions[part] * n_emotion) <= 1, (emotion, part, count)
    assert split.train_actors is None and not split.actor_based


def test_original_split_leaks_copies_in_aggregation(aggregation):
    # Documented behaviour: the random item split puts copies of one recording on both sides.
    split = original_split(aggregation, seed=0)
    train_clips = set(aggregation["clip_id"].iloc[split.train])
    test_clips = set(aggregation["clip_id"].iloc[split.test])
    assert train_clips & test_clips


def test_original_split_small_uneven_classes_stay_within_one():
    items = pd.DataFrame({"emotion": ["a"] * 7 + ["b"] * 11 + ["c"] * 3})
    split = original_split(items, seed=5, train=0.5, validation=0.25, test=0.25)
    assert_partition(split, len(items))
    fractions = {"train": 0.5, "validation": 0.25, "test": 0.25}
    for emotion, n_emotion in items["emotion"].value_counts().items():
        for part, idx in split.parts().items():
            count = int((items["emotion"].iloc[idx] == emotion).sum())
            assert abs(count - fractions[part] * n_emotion) <= 1
    for part, size in split.sizes().items():
        assert abs(size - fractions[part] * len(items)) <= 1.5


def test_original_split_unstratified_and_no_validation(manifest):
    split = original_split(manifest, seed=2, train=0.8, validation=0.0, test=0.2, stratify=None)
    assert split.sizes() == {"train": 1152, "validation": 0, "test": 288}


def test_original_split_is_seeded(manifest):
    first, again = original_split(manifest, seed=7), original_split(manifest, seed=7)
    other = original_split(manifest, seed=8)
    assert np.array_equal(first.test, again.test) and np.array_equal(first.train, again.train)
    assert not np.array_equal(first.test, other.test)


@pytest.mark.parametrize("kwargs, words", [
    ({"train": 0.6, "validation": 0.2, "test": 0.3}, "expected 1"),
    ({"train": 0.0, "validation": 0.5, "test": 0.5}, "train=0.0"),
    ({"train": 1.2, "validation": -0.1, "test": -0.1}, "must be in [0, 1]"),
    ({"train": float("nan"), "validation": 0.2, "test": 0.2}, "finite"),
    ({"stratify": "mood"}, "mood"),
])
def test_original_split_rejects_bad_arguments(manifest, kwargs, words):
    with pytest.raises(SplitError, match=re.escape(words)):
        original_split(manifest, seed=0, **kwargs)


def test_split_errors_are_project_errors(manifest):
    assert issubclass(SplitError, ProjectError) and issubclass(SplitError, ValueError)
    with pytest.raises(SplitError, match="seed=-1"):
        original_split(manifest, seed=-1)
    with pytest.raises(SplitError, match="no rows"):
        original_split(manifest.iloc[:0], seed=0)
    with pytest.raises(SplitError, match="DataFrame"):
        original_split(manifest.to_dict("list"), seed=0)
    with pytest.raises(SplitError, match="too small"):
        original_split(manifest.iloc[:2], seed=0)


# ----------------------------------------------------------------------------------------------
# clip_grouped_split
# ----------------------------------------------------------------------------------------------


def test_clip_grouped_split_keeps_copies_together(aggregation):
    split = clip_grouped_split(aggregation, seed=3)
    assert_partition(split, len(aggregation))
    clips = {part: set(aggregation["clip_id"].iloc[idx]) for part, idx in split.parts().items()}
    assert not clips["train"] & clips["validation"]
    assert not clips["train"] & clips["test"]
    assert not clips["validation"] & clips["test"]
    # 1440 recordings × 4 copies, split 864/288/288 recordings.
    assert split.sizes() == {"train": 3456, "validation": 1152, "test": 1152}
    recordings = aggregation.drop_duplicates("clip_id")
    for emotion, n_emotion in recordings["emotion"].value_counts().items():
        test_recordings = aggregation.iloc[split.test].drop_duplicates("clip_id")
        count = int((test_recordings["emotion"] == emotion).sum())
        assert abs(count - 0.2 * n_emotion) <= 1


def test_clip_grouped_split_is_seeded(aggregation):
    first = clip_grouped_split(aggregation, seed=11)
    again = clip_grouped_split(aggregation, seed=11)
    other = clip_grouped_split(aggregation, seed=12)
    assert np.array_equal(first.validation, again.validation)
    assert not np.array_equal(first.validation, other.validation)


def test_clip_grouped_split_needs_group_column(manifest):
    with pytest.raises(SplitError, match="recording"):
        clip_grouped_split(manifest, seed=0, group="recording")


# ----------------------------------------------------------------------------------------------
# speaker_folds
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_folds, per_gender", [(6, 2), (3, 4), (2, 6)])
def test_speaker_folds_are_disjoint_balanced_and_cover_every_actor(aggregation, n_folds,
                                                                   per_gender):
    folds = speaker_folds(aggregation, n_folds=n_folds, seed=4)
    assert len(folds) == n_folds
    assert [split.fold for split in folds] == list(range(n_folds))
    tested = []
    for split in folds:
        assert_partition(split, len(aggregation))
        actors = split_actors(aggregation, split)
        assert actors == {"train": set(split.train_actors),
                          "validation": set(split.validation_actors),
                          "test": set(split.test_actors)}
        assert not actors["train"] & actors["validation"]
        assert not actors["train"] & actors["test"]
        assert not actors["validation"] & actors["test"]
        test_genders = [("male" if a % 2 else "female") for a in split.test_actors]
        assert test_genders.count("female") == test_genders.count("male") == per_gender
        validation_genders = [("male" if a % 2 else "female") for a in split.validation_actors]
        assert validation_genders.count("female") == validation_genders.count("male") == 1
        tested.extend(split.test_actors)
    assert sorted(tested) == list(range(1, 25))


def test_speaker_folds_validation_count_and_seed(manifest):
    folds = speaker_folds(manifest, n_folds=6, seed=9, validation_actors=4)
    assert all(len(split.validation_actors) == 4 for split in folds)
    assert all(len(split.train_actors) == 16 for split in folds)
    again = speaker_folds(manifest, n_folds=6, seed=9, validation_actors=4)
    other = speaker_folds(manifest, n_folds=6, seed=10, validation_actors=4)
    assert [s.test_actors for s in folds] == [s.test_actors for s in again]
    assert [s.validation_actors for s in folds] == [s.validation_actors for s in again]
    assert [s.test_actors for s in folds] != [s.test_actors for s in other]
    assert folds[0].name == "speaker-fold-1"


def test_speaker_folds_on_a_subset_of_actors():
    items = make_manifest(actors=range(1, 9))  # 4 female, 4 male
    folds = speaker_folds(items, n_folds=2, seed=0)
    assert [len(split.test_actors) for split in folds] == [4, 4]
    assert all(len(split.validation_actors) == 2 and len(split.train_actors) == 2
               for split in folds)
    no_validation = speaker_folds(items, n_folds=4, seed=0, validation_actors=0)
    assert all(split.validation.size == 0 for split in no_validation)


def test_speaker_folds_errors_name_the_counts(manifest):
    with pytest.raises(SplitError, match=r"n_folds=5.*12 female and 12 male"):
        speaker_folds(manifest, n_folds=5, seed=0)
    unbalanced = make_manifest(actors=[1, 2, 3, 4, 6, 8])
    with pytest.raises(SplitError, match="4 female and 2 male"):
        speaker_folds(unbalanced, n_folds=2, seed=0)
    with pytest.raises(SplitError, match="validation_actors=3"):
        speaker_folds(manifest, seed=0, validation_actors=3)
    with pytest.raises(SplitError, match="validation_actors=20"):
        speaker_folds(manifest, n_folds=6, seed=0, validation_actors=20)
    with pytest.raises(SplitError, match="n_folds=1"):
        speaker_folds(manifest, n_folds=1, seed=0)
    mixed = manifest.copy()
    mixed.loc[0, "gender"] = "female"  # actor 1 is male elsewhere
    with pytest.raises(SplitError, match="not constant per actor"):
        speaker_folds(mixed, seed=0)


# ----------------------------------------------------------------------------------------------
# gender_split
# ----------------------------------------------------------------------------------------------


def test_gender_split_is_twelve_six_six_and_balanced(manifest):
    split = gender_split(manifest, seed=42)
    assert_partition(split, len(manifest))
    counts = {}
    for part in ("train", "validation", "test"):
        actors = getattr(split, f"{part}_actors")
        genders = ["male" if a % 2 else "female" for a in actors]
        counts[part] = (genders.count("female"), genders.count("male"))
    assert counts == {"train": (6, 6), "validation": (3, 3), "test": (3, 3)}
    actors = split_actors(manifest, split)
    assert not actors["train"] & actors["test"] and not actors["validation"] & actors["test"]
    assert split.sizes() == {"train": 720, "validation": 360, "test": 360}
    summary = split.summary(manifest)
    assert summary.loc["test", "female"] == summary.loc["test", "male"] == 180


def test_gender_split_is_seeded(manifest):
    first, again = gender_split(manifest, seed=1), gender_split(manifest, seed=1)
    other = gender_split(manifest, seed=2)
    assert first.test_actors == again.test_actors
    assert (first.test_actors, first.validation_actors) != (other.test_actors,
                                                            other.validation_actors)


def test_gender_split_errors(manifest):
    with pytest.raises(SplitError, match="n_validation=5"):
        gender_split(manifest, seed=0, n_validation=5, n_test=7)
    with pytest.raises(SplitError, match="= 22 must equal the number of actors"):
        gender_split(manifest, seed=0, n_train=10)
    small = make_manifest(actors=range(1, 7))
    split = gender_split(small, seed=0, n_train=2, n_validation=2, n_test=2)
    assert [len(a) for a in (split.train_actors, split.validation_actors,
                             split.test_actors)] == [2, 2, 2]


# ----------------------------------------------------------------------------------------------
# A fold's actors on another table, or one gender of them
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_folds", [2, 3, 6])
def test_gender_split_never_holds_test_actors(manifest, aggregation, n_folds):
    # Emotion folds on the aggregation table (four rows per recording), gender model on the
    # clean table: the gender model's training and validation rows hold no test actor.
    clean = manifest
    for split in speaker_folds(aggregation, n_folds=n_folds, seed=7):
        gender_split = gender_split_for_fold(clean, split)
        seen = np.concatenate([gender_split.train, gender_split.validation])
        seen_actors = set(clean["actor"].iloc[seen])
        assert not seen_actors & set(split.test_actors)
        assert set(clean["actor"].iloc[gender_split.test]) == set(split.test_actors)
        assert seen_actors == set(split.train_actors) | set(split.validation_actors)


def test_gender_split_needs_an_actor_split(manifest):
    random_split = original_split(manifest, seed=0)
    with pytest.raises(SplitError, match="actor-based"):
        gender_split_for_fold(manifest, random_split)


def test_split_by_gender_keeps_one_gender_for_training_and_every_test_item(manifest):
    items = manifest
    split = speaker_folds(items, n_folds=3, seed=1)[0]
    female = split_by_gender(items, split, gender="female")
    assert set(items["gender"].iloc[female.train]) == {"female"}
    assert set(items["gender"].iloc[female.validation]) == {"female"}
    np.testing.assert_array_equal(female.test, split.test)
    assert set(female.train_actors) == set(items["actor"].iloc[female.train])
    with pytest.raises(SplitError, match="gender="):
        split_by_gender(items, split, gender="other")


# ----------------------------------------------------------------------------------------------
# subset_per_actor
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 8, 13])
def test_subset_per_actor_counts_and_emotion_coverage(manifest, k):
    subset = subset_per_actor(manifest, clips_per_actor=k, seed=0)
    assert (subset.groupby("actor").size() == k).all()
    assert subset["actor"].nunique() == 24
    per_actor = subset.groupby("actor")["emotion"].value_counts().unstack(fill_value=0)
    per_actor = per_actor.reindex(columns=list(config.EMOTIONS), fill_value=0)
    # Round-robin: within an actor, emotion counts differ by at most one.
    assert (per_actor.max(axis=1) - per_actor.min(axis=1) <= 1).all()
    # Across actors, and within each gender, the emotions are covered evenly.
    for gender, frame in subset.groupby("gender"):
        totals = frame["emotion"].value_counts().reindex(list(config.EMOTIONS), fill_value=0)
        assert totals.max() - totals.min() <= 1, (gender, totals.to_dict())


def test_subset_per_actor_keeps_noisy_copies_together_and_is_seeded(aggregation):
    subset = subset_per_actor(aggregation, clips_per_actor=3, seed=5)
    assert len(subset) == 24 * 3 * 4
    assert (subset.groupby("clip_id").size() == 4).all()
    again = subset_per_actor(aggregation, clips_per_actor=3, seed=5)
    other = subset_per_actor(aggregation, clips_per_actor=3, seed=6)
    assert subset.equals(again)
    assert set(subset["clip_id"]) != set(other["clip_id"])
    # Rows keep their original order and index labels.
    assert subset.index.is_monotonic_increasing


def test_subset_per_actor_none_and_small_actors(manifest):
    assert subset_per_actor(manifest, clips_per_actor=None, seed=0).equals(manifest)
    everything = subset_per_actor(manifest, clips_per_actor=100, seed=0)
    assert len(everything) == len(manifest)
    with pytest.raises(SplitError, match="clips_per_actor=0"):
        subset_per_actor(manifest, clips_per_actor=0, seed=0)
    with pytest.raises(SplitError, match="clip_id"):
        subset_per_actor(manifest.drop(columns="clip_id"), clips_per_actor=2, seed=0)


def test_split_to_dict_and_overlap_check(manifest):
    split = gender_split(manifest, seed=0)
    record = split.to_dict()
    assert record["name"] == "gender" and len(record["test_actors"]) == 6
    assert record["test"] == split.test.tolist()
    short = split.to_dict(indices=False)
    assert short == {k: v for k, v in record.items() if k not in ("train", "validation", "test")}
    with pytest.raises(SplitError, match="disjoint"):
        Split("bad", train=np.array([0, 1]), validation=np.array([], dtype=int),
              test=np.array([1, 2]))
