"""The gender helpers: labels, training on actor splits, out-of-fold predictions, Table 3.

Training runs on tiny generated log-mels (16 mel bands x 24 frames) in which female clips carry
their energy in the upper bands, so a small gender CNN learns the task in a few steps.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import keras  # noqa: E402

from helpers import config, evaluation, gender, model_files, models, splits  # noqa: E402
from helpers.errors import ProjectError  # noqa: E402
from tests.factories import item_table, ravdess_clip_id  # noqa: E402

SMALL = {"filters": 4, "dense_units": 8, "dropout_rate": 0.5, "learning_rate": 0.01}
SHAPE = (16, 24)
CLIPS_PER_ACTOR = 4


def make_items(actors=range(1, 9)) -> pd.DataFrame:
    """A clean-variant item table: odd actors male, even female, a few clips each."""
    table = item_table(actors=actors, emotions=config.EMOTIONS[:CLIPS_PER_ACTOR],
                       clips_per_emotion=1, clip_id=ravdess_clip_id)
    return table[["actor", "gender", "clip_id", "variant"]]


def make_logmels(items: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
    """Log-mels in dB: noise around -60 dB plus a band at -20 dB, high for female, low for male."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-60.0, 5.0, size=(len(items), *SHAPE)).astype(np.float32)
    female = (items["gender"] == "female").to_numpy()
    x[female, 10:14, :] += 40.0
    x[~female, 2:6, :] += 40.0
    return x


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return make_items()


@pytest.fixture(scope="module")
def logmels(items) -> np.ndarray:
    return make_logmels(items)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("gender_cache")


def settings(cache, **overrides) -> dict:
    values = dict(hyperparameters=SMALL, epochs=3, steps_per_epoch=2, batch_size=8, seed=0,
                  data_key="tiny:clean", cache_folder=cache)
    values.update(overrides)
    return values


@pytest.fixture(scope="module")
def kfold(items, logmels, cache):
    folds = splits.speaker_folds(items, n_folds=2, seed=3)
    results, kept = gender.run_gender_folds(logmels, items, folds, **settings(cache))
    return folds, results, kept


# ----------------------------------------------------------------------------------------------
# The builder: the report's layer stack and parameter count
# ----------------------------------------------------------------------------------------------


def test_gender_cnn_is_the_reports_layer_stack_with_a_pinned_parameter_count():
    model = models.build_gender_cnn()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 1 and kinds.count("MaxPooling2D") == 1
    assert [layer.units for layer in model.layers if type(layer).__name__ == "Dense"] == [256, 1]
    assert model.get_layer("conv").activation.__name__ == "relu"
    assert model.get_layer("p_female").activation.__name__ == "sigmoid"
    assert model.get_layer("dropout").rate == pytest.approx(0.5)
    # 64 3x3 filters, 4x5 pooling of (64, 151) → 16 x 30 x 64 = 30,720 flattened values.
    expected = (3 * 3 * 64 + 64) + (16 * 30 * 64 * 256 + 256) + (256 + 1)
    assert models.count_trainable_params(model) == expected == 7_865_473
    assert abs(expected / models.ORIGINAL_GENDER_PARAMS - 1) < 0.01
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.001)


# ----------------------------------------------------------------------------------------------
# Labels and splits
# ----------------------------------------------------------------------------------------------


def test_gender_labels_put_female_at_one(items):
    labels = gender.gender_labels(items)
    assert labels.dtype == np.int64
    assert labels.tolist() == [0 if a % 2 else 1 for a in items["actor"]]
    assert gender.LABELS[1] == gender.POSITIVE_LABEL == "female"
    bad = items.assign(gender=["other"] + list(items["gender"].iloc[1:]))
    with pytest.raises(gender.GenderError, match=r"\['other'\]"):
        gender.gender_labels(bad)
    with pytest.raises(ProjectError, match="'gender' column"):
        gender.gender_labels(items.drop(columns="gender"))


def test_gender_split_with_the_same_seed_is_the_same_split_in_every_part(items):
    table = make_items(range(1, 25))
    first, again = splits.gender_split(table, seed=7), splits.gender_split(table, seed=7)
    for part in splits.PARTS:
        np.testing.assert_array_equal(getattr(first, part), getattr(again, part))
        assert getattr(first, f"{part}_actors") == getattr(again, f"{part}_actors")
    # Every item is in exactly one part, and the parts' actors are disjoint and cover all 24.
    assert sum(first.sizes().values()) == len(table)
    actors = [set(getattr(first, f"{part}_actors")) for part in splits.PARTS]
    assert set().union(*actors) == set(range(1, 25))
    assert sum(len(a) for a in actors) == 24


def test_actor_folds_do_not_depend_on_the_rows_of_the_table():
    # The out-of-fold predictions are matched to emotion folds by fold number: the same actors
    # must land in the same folds for the clean table, the aggregation table and a subset.
    clean = make_items(range(1, 25))
    aggregation = pd.concat([clean.assign(variant=v) for v in config.NOISE_VARIANTS],
                            ignore_index=True)
    subset = clean.groupby("actor").head(1).sample(frac=1.0, random_state=0)
    reference = splits.speaker_folds(clean, n_folds=6, seed=42)
    for table in (aggregation, subset):
        other = splits.speaker_folds(table, n_folds=6, seed=42)
        assert [s.test_actors for s in other] == [s.test_actors for s in reference]
        assert [s.validation_actors for s in other] == [s.validation_actors for s in reference]


# ----------------------------------------------------------------------------------------------
# Training on a split
# ----------------------------------------------------------------------------------------------


def test_training_on_a_split_learns_and_reports_the_test_actors(items, logmels, cache):
    split = splits.gender_split(items, seed=0, n_train=4, n_validation=2, n_test=2)
    result, model = gender.train_gender_split(logmels, items, split, **settings(cache, epochs=4))
    assert result.p_female.shape == (len(split.test),)
    assert np.all((result.p_female >= 0) & (result.p_female <= 1))
    assert result.y_true.tolist() == gender.gender_labels(items.iloc[split.test]).tolist()
    assert set(result.test_items["actor"]) == set(split.test_actors)
    assert set(result.metrics) >= set(gender.TABLE3_METRICS)
    assert result.metrics["accuracy"] == 1.0  # the bands separate the genders completely
    assert len(result.history["loss"]) == 4 and len(result.history["val_loss"]) == 4
    assert result.best_epoch == int(np.argmin(result.history["val_loss"])) + 1
    assert not result.cached
    # The model carries its normalisation: raw dB values in, probabilities out.
    mean, std = result.normalization
    assert mean == pytest.approx(float(np.mean(logmels[split.train], dtype=np.float64)))
    assert std == pytest.approx(float(np.std(logmels[split.train], dtype=np.float64)))
    layer = model.get_layer("normalization")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mean), mean, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.variance), std**2, rtol=1e-5)
    standardised = keras.ops.convert_to_numpy(layer(logmels[split.train][..., np.newaxis]))
    assert abs(float(standardised.mean())) < 1e-3 and float(standardised.std()) == pytest.approx(1.0, abs=1e-3)
    summary = result.summary()
    assert summary["test_actors"] == list(split.test_actors)
    assert np.sum(summary["confusion"]) == len(split.test)

    again, _ = gender.train_gender_split(logmels, items, split, **settings(cache, epochs=4))
    assert again.cached
    np.testing.assert_allclose(again.p_female, result.p_female, atol=1e-6)


def test_training_rejects_bad_inputs(items, logmels, cache):
    split = splits.gender_split(items, seed=0, n_train=4, n_validation=2, n_test=2)
    with pytest.raises(gender.GenderError, match="x has 31 rows but items has 32"):
        gender.train_gender_split(logmels[:-1], items, split, **settings(cache))
    with pytest.raises(gender.GenderError, match="expected \\(n_items, n_mels, n_frames\\)"):
        gender.train_gender_split(logmels[..., None], items, split, **settings(cache))
    males = items[items["gender"] == "male"].reset_index(drop=True)
    one_sided = splits.Split("males", train=np.arange(8), validation=np.array([], dtype=int),
                             test=np.arange(8, 16))
    with pytest.raises(gender.GenderError, match="train part holds gender"):
        gender.train_gender_split(logmels[:16], males, one_sided, **settings(cache))
    with pytest.raises(gender.GenderError, match="split_list is empty"):
        gender.run_gender_folds(logmels, items, [], **settings(cache))


# ----------------------------------------------------------------------------------------------
# Out-of-fold predictions, per-actor accuracy, Table 3
# ----------------------------------------------------------------------------------------------


def test_out_of_fold_predictions_cover_every_clip_once(items, kfold):
    folds, results, kept = kfold
    assert len(kept) == 1  # only the first fold's model is kept by default
    table = gender.out_of_fold_predictions(results, expected_clips=items["clip_id"])
    assert len(table) == len(items) and table["clip_id"].is_unique
    assert list(table.columns[:4]) == ["clip_id", "actor", "fold", "p_female"]
    for split in folds:
        fold_actors = set(table.loc[table["fold"] == split.fold, "actor"])
        assert fold_actors == set(split.test_actors)
        assert not fold_actors & (set(split.train_actors) | set(split.validation_actors))
    with pytest.raises(gender.GenderError, match="more than one fold"):
        gender.out_of_fold_predictions(results + results[:1])
    with pytest.raises(gender.GenderError, match="have no out-of-fold prediction"):
        gender.out_of_fold_predictions(results[:1], expected_clips=items["clip_id"])
    with pytest.raises(gender.GenderError, match="results is empty"):
        gender.out_of_fold_predictions([])

    record = gender.kfold_record(results, table, n_folds=2, seed=3, oof_file="oof.csv")
    assert record["n_folds"] == 2 and record["oof_predictions"] == "oof.csv"
    assert record["folds"] == [result.summary() for result in results]
    assert np.sum(record["pooled_confusion"]) == len(items)
    y_true = (table["gender"] == "female").to_numpy()
    assert record["pooled_metrics"] == evaluation.binary_metrics(y_true, table["p_female"].to_numpy())
    assert "n_folds=2, seed=3" in record["fold_source"]


def test_per_actor_accuracy_counts_errors_per_speaker():
    predictions = pd.DataFrame({
        "actor": [1, 1, 1, 2, 2], "gender": ["male"] * 3 + ["female"] * 2, "fold": [0] * 5,
        "p_female": [0.9, 0.2, 0.1, 0.8, 0.7], "correct": [False, True, True, True, True],
    })
    table = gender.per_actor_accuracy(predictions)
    assert table["actor"].tolist() == [1, 2]
    assert table["n_clips"].tolist() == [3, 2] and table["n_errors"].tolist() == [1, 0]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 1.0])
    assert table["mean_p_female"].tolist() == pytest.approx([0.4, 0.75])
    with pytest.raises(gender.GenderError, match=r"lacks column\(s\) \['correct'\]"):
        gender.per_actor_accuracy(predictions.drop(columns="correct"))


def test_speaker_adaptive_accuracy_gives_each_speaker_one_decision():
    predictions = pd.DataFrame({
        "actor": [1, 1, 1, 2, 2, 3], "gender": ["male"] * 3 + ["female"] * 2 + ["female"],
        "p_female": [0.9, 0.2, 0.1, 0.8, 0.7, 0.3],
    })
    # Actor 1 (mean 0.4) and 2 (0.75) are right on every clip, actor 3 (0.3) wrong: 5 of 6 clips,
    # where the clips alone score 4 of 6.
    assert gender.speaker_adaptive_accuracy(predictions) == pytest.approx(5 / 6)
    with pytest.raises(gender.GenderError, match=r"lacks column\(s\) \['p_female'\]"):
        gender.speaker_adaptive_accuracy(predictions.drop(columns="p_female"))


def test_confusion_rows_are_true_gender():
    matrix = gender.confusion(np.array([0, 0, 1, 1, 1]), np.array([0.2, 0.7, 0.9, 0.6, 0.1]))
    assert matrix == [[1, 1], [1, 2]]
    with pytest.raises(gender.GenderError, match="threshold=1.5"):
        gender.confusion(np.array([0]), np.array([0.2]), threshold=1.5)
    with pytest.raises(gender.GenderError, match="y_true has 2 items but p_female has 1"):
        gender.confusion(np.array([0, 1]), np.array([0.2]))


def test_table3_rows_columns_and_published_values(items, logmels, cache, kfold):
    _, results, _ = kfold
    original, _ = gender.train_gender_split(
        logmels, items, splits.gender_split(items, seed=0, n_train=4, n_validation=2, n_test=2),
        **settings(cache))
    table = gender.table3(original, results)
    assert table["split"].tolist() == ["original-split", "k-fold"]
    for key in gender.TABLE3_METRICS:
        assert {key, f"{key}_std", f"published_{key}"} <= set(table.columns)
        assert (table[f"published_{key}"] == evaluation.ORIGINAL_TABLE3[key]).all()
    summary = evaluation.summarise_folds([r.metrics for r in results])
    row = table.iloc[1]
    assert row["accuracy"] == pytest.approx(summary["accuracy"])
    assert row["accuracy_std"] == pytest.approx(summary["accuracy_std"])
    assert row["n_test"] == len(items) and row["folds"] == 2
    assert table.iloc[0]["n_test"] == original.split.test.size
    with pytest.raises(gender.GenderError, match="folds is empty"):
        gender.table3(original, [])


def test_sidecar_round_trips_with_the_model(tmp_path, kfold):
    _, results, kept = kfold
    sidecar = gender.gender_sidecar(results[0], hyperparameters=SMALL,
                                    feature_config=config.FEATURES, data_fingerprint="abc",
                                    training_settings={"epochs": 3, "batch_size": 8})
    model_files.save_model_with_sidecar(kept[0], tmp_path / "gender.keras", sidecar=sidecar)
    model, loaded = model_files.load_model_with_sidecar(tmp_path / "gender.keras")
    assert loaded["task"] == "gender" and loaded["labels"] == ["male", "female"]
    assert loaded["positive_label"] == "female"
    assert loaded["test_actors"] == list(results[0].split.test_actors)
    assert loaded["training"]["best_epoch"] == results[0].best_epoch
    assert config.FeatureConfig.from_dict(loaded["feature_config"]) == config.FEATURES
    assert loaded["metrics"]["accuracy"] == pytest.approx(results[0].metrics["accuracy"])
    assert model.output_shape == (None, 1)
