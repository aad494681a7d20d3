"""Gender fusion and per-gender normalisation on ``ours``, on tiny generated functionals."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, experiments, fusion_ours, recipes, splits  # noqa: E402
from tests.tuning_support import make_functionals  # noqa: E402

PROFILE = config.get_profile("smoke")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    x, items = make_functionals(seed=4)
    female = (items["gender"] == "female").to_numpy()
    rng = np.random.default_rng(5)
    # The gender recipe's functionals carry a clear gender cue: every fold's classifier is right.
    gender_x = rng.normal(0, 1, (len(items), 6)).astype(np.float32)
    gender_x[:, 0] += np.where(female, 4.0, -4.0)
    emotion = recipes.get_recipe("emotion", "ours").replace(
        speed_perturbation=(), test_time_speeds=(), channel_copies=0).for_profile(PROFILE)
    # The functionals gender model: these are functionals.
    gender = recipes.functionals_gender().replace(
        speed_perturbation=(), test_time_speeds=(), channel_copies=0, level_db=None
    ).for_profile(PROFILE)
    split_list = splits.speaker_folds(items, n_folds=3, seed=1)[:2]
    cache = tmp_path_factory.mktemp("cache")
    result = fusion_ours.run_ours_fusion(
        x, items, recipe=emotion, gender_x=gender_x, gender_recipe=gender, split_list=split_list,
        profile=PROFILE, seed=2, data_key="tiny", gender_data_key="tiny-gender",
        cache_folder=cache)
    return {"x": x, "items": items, "result": result, "recipe": emotion, "splits": split_list,
            "cache": cache}


def test_per_gender_standardisation_uses_only_the_training_rows_of_each_gender():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (40, 5))
    female = np.arange(40) % 2 == 0
    train = np.arange(30)
    out = fusion_ours.per_gender_standardise(x, train_rows=train, train_female=female[train],
                                             female=female)
    for flag in (True, False):
        rows = train[female[train] == flag]
        assert np.allclose(out[rows].mean(axis=0), 0, atol=1e-5)
        assert np.allclose(out[rows].std(axis=0), 1, atol=1e-5)
    moved = x.copy()
    moved[35] += 100.0  # a test row: the statistics do not change
    again = fusion_ours.per_gender_standardise(moved, train_rows=train,
                                               train_female=female[train], female=female)
    assert np.allclose(np.delete(again, 35, axis=0), np.delete(out, 35, axis=0), atol=1e-5)
    # A row standardised as the other gender uses that gender's statistics.
    swapped = female.copy()
    swapped[35] = not swapped[35]
    other = fusion_ours.per_gender_standardise(x, train_rows=train, train_female=female[train],
                                               female=swapped)
    assert not np.allclose(other[35], out[35])
    with pytest.raises(fusion_ours.OursFusionError, match="no female training rows"):
        fusion_ours.per_gender_standardise(x, train_rows=train[~female[train]],
                                           train_female=female[train][~female[train]],
                                           female=female)


def test_every_row_is_measured_on_every_fold_and_the_reference_is_plain_ours(study):
    table = study["result"].fold_table
    assert len(table) == len(fusion_ours.ROWS) * 2
    assert list(zip(table["model"], table["gender_source"]))[:len(fusion_ours.ROWS)] == \
        list(fusion_ours.ROWS)
    gender = study["result"].gender_table
    assert list(gender["accuracy"]) == [1.0, 1.0]
    # With every gender predicted right, predicted and true gender give the same answers.
    by = table.set_index(["fold", "model", "gender_source"])["uar"]
    for fold in (1, 2):
        assert by[fold, "ours + gender", "predicted"] == by[fold, "ours + gender", "true"]
        assert by[fold, "ours, per-gender normalisation", "predicted"] == \
            by[fold, "ours, per-gender normalisation", "true"]
    y = experiments.emotion_labels(study["items"])
    plain, _ = experiments.train_split(study["x"], y, study["splits"][0], profile=PROFILE, seed=2,
                                       data_key="tiny", recipe=study["recipe"],
                                       cache_folder=study["cache"])
    assert by[1, "ours", "none"] == pytest.approx(plain.metrics["uar"])


def test_summary_pairs_every_row_with_ours_and_gives_an_interval(study):
    summary = fusion_ours.summarise(study["result"].fold_table)
    assert list(zip(summary["model"], summary["gender_source"])) == list(fusion_ours.ROWS)
    reference = summary.iloc[0]
    assert reference["delta_uar"] == 0 and reference["delta_uar_std"] == 0
    for row in summary.itertuples():
        assert row.delta_uar_low <= row.delta_uar <= row.delta_uar_high or row.delta_uar_std == 0

    # Notebook 07's metrics record of the study.
    result = study["result"]
    record = result.record(summary, study["splits"])
    for key, table in (("summary", summary), ("folds", result.fold_table),
                       ("gender_folds", result.gender_table)):
        pd.testing.assert_frame_equal(pd.DataFrame(record[key]), table)  # NaN compares equal here
    assert record["splits"] == [split.name for split in study["splits"]]
    assert record["seconds"] == round(result.seconds, 1) > 0
