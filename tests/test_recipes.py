"""Recipes and the one training path: every task trains through ``training.train_recipe``."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest

from helpers import (config, experiments, functionals, gender, models, recipes, splits, training,
                     tuning, widgets)
from tests.factories import item_table, tiny_cnn

N_FEATURES = 24
PROFILE = config.Profile("test", clips_per_actor=None, max_epochs=2, early_stopping_patience=1,
                         n_folds=2, batch_size=32, gender_epochs=2, gender_steps_per_epoch=2)


def functional_items(*, n_actors: int = 8, clips_per_emotion: int = 3, seed: int = 0,
                     speaker_offset: float = 0.0):
    """Functionals-shaped vectors whose emotion is a raised feature, with a per-speaker offset."""
    rng = np.random.default_rng(seed)
    items = item_table(actors=range(1, n_actors + 1), clips_per_emotion=clips_per_emotion)
    vectors = []
    for actor, codes in items.groupby("actor", sort=False)["emotion_code"]:
        # Each speaker's offset is drawn before its clips, as the clips' own noise follows it.
        offset = speaker_offset * rng.normal(size=N_FEATURES)
        vector = rng.normal(size=(len(codes), N_FEATURES)) + offset
        vector[np.arange(len(codes)), codes.to_numpy()] += 4.0
        vector[:, 0] += 3.0 if actor % 2 == 0 else -3.0  # a "pitch" feature for gender
        vectors.append(vector)
    return np.concatenate(vectors).astype(np.float32), items


def tiny_mlp(input_shape, **kwargs):
    return models.build_functionals_mlp(input_shape, **{**kwargs, "hidden_units": 32,
                                                        "input_dropout": 0.0, "dropout_rate": 0.1})


def tiny_ours(task: str = "emotion", **changes) -> recipes.Recipe:
    return recipes.get_recipe(task, "ours", learning_rate=0.01).replace(
        **{"builder": tiny_mlp, "solver": "gradient", "class_weight": None, "epochs": 12, "ensemble": 1,
           "batch_size": 32,
           "monitor": "val_uar", "speed_perturbation": (), "channel_copies": 0, "level_db": None,
           **changes})


def linear_ours(task: str = "emotion", **changes) -> recipes.Recipe:
    """The real ``ours`` model (a logistic regression solved by L-BFGS), without copies; for
    gender the functionals model (``ours`` and ``ours-robust`` gender are frame GMMs)."""
    recipe = recipes.get_recipe("emotion", "ours") if task == "emotion" else recipes.functionals_gender()
    return recipe.replace(
        **{"speed_perturbation": (), "channel_copies": 0, "level_db": None, **changes})


@pytest.fixture
def spy(monkeypatch):
    """Record every call of the one training path, then train as usual."""
    calls = []
    real = training.train_recipe

    def recording(recipe, *args, **kwargs):
        calls.append(recipe)
        return real(recipe, *args, **kwargs)

    monkeypatch.setattr(training, "train_recipe", recording)
    return calls


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    return tmp_path / "models"


# ----------------------------------------------------------------------------------------------
# Recipes as data
# ----------------------------------------------------------------------------------------------


def test_recipes_hold_their_settings_and_refuse_unknown_ones():
    original = recipes.get_recipe("emotion", "original")
    assert original.builder is models.build_emotion_cnn
    assert (original.monitor, original.min_delta, original.features) == ("val_loss", 0.03, "log_mel")
    ours = recipes.get_recipe("emotion", "ours")
    assert (ours.monitor, ours.features, ours.normalization) == ("none", "compare", "per-feature")
    assert ours.speed_perturbation == (0.8, 0.9, 1.1, 1.2) == ours.test_time_speeds
    assert recipes.get_recipe("emotion", "ours-robust").speed_perturbation == recipes.ROBUST_SPEEDS
    assert recipes.get_recipe("gender", "ours").speed_perturbation == ()
    # Since session 25 ``ours`` emotion has ours-robust's trim, level and kind of multi-condition
    # copies; the two differ in their speeds and number of copies (and names) only.
    assert (ours.channel_copies, ours.trim_floor_db, ours.trim_after_chain) == (
        recipes.OURS_CHANNEL_COPIES, recipes.ROBUST_TRIM_FLOOR_DB, True)
    robust = recipes.get_recipe("emotion", "ours-robust")
    assert robust.channel_copies == recipes.ROBUST_CHANNEL_COPIES < recipes.OURS_CHANNEL_COPIES
    assert robust.replace(name="ours", speed_perturbation=ours.speed_perturbation,
                          test_time_speeds=ours.test_time_speeds, description=ours.description,
                          channel_copies=ours.channel_copies) == ours
    # The functionals gender model (a comparison) keeps the trim it was measured with.
    assert (recipes.functionals_gender().trim_floor_db, recipes.functionals_gender().trim_after_chain) == (None, False)
    with pytest.raises(recipes.RecipeError, match="speed_perturbation is for functionals"):
        recipes.get_recipe("emotion", "original").replace(speed_perturbation=(0.9,))
    filled = original.for_profile(PROFILE)
    assert (filled.epochs, filled.batch_size, filled.patience) == (2, 32, 1)
    assert dataclasses.replace(ours).params == ours.params
    with pytest.raises(recipes.RecipeError, match="recipe='mine'"):
        recipes.get_recipe("emotion", "mine")
    with pytest.raises(recipes.RecipeError, match="monitor='val_acc'"):
        ours.replace(monitor="val_acc")
    with pytest.raises(recipes.RecipeError, match="mode='adaptive'"):
        recipes.check_mode("adaptive")


def test_the_recipe_is_part_of_the_model_cache_key(model_cache):
    x, items = functional_items()
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    recipe = tiny_ours(epochs=2).for_profile(PROFILE)
    first = training.train_recipe(recipe, x, y, split, seed=0, data_key="t")
    again = training.train_recipe(recipe, x, y, split, seed=0, data_key="t")
    changed = training.train_recipe(recipe.replace(min_delta=0.01), x, y, split, seed=0, data_key="t")
    assert not first.cached and again.cached and not changed.cached


def test_transformed_inputs_under_the_same_data_key_are_not_served_from_the_cache(model_cache):
    # Speaker-adaptive mode standardises x per actor and, without perturbed copies, once found
    # the single-clip model in the cache under the same data key.
    x, items = functional_items()
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    recipe = linear_ours().for_profile(PROFILE)
    plain = training.train_recipe(recipe, x, y, split, seed=0, data_key="same")
    adapted = functionals.apply_mode(x, items, mode="speaker-adaptive")
    other = training.train_recipe(recipe, adapted, y, split, seed=0, data_key="same")
    assert not plain.cached and not other.cached
    assert not np.allclose(plain.normalization[0], other.normalization[0])


# ----------------------------------------------------------------------------------------------
# One training path: each task calls it
# ----------------------------------------------------------------------------------------------


def test_table1_trains_through_the_recipe_path(spy, model_cache):
    x, items = functional_items()
    result = experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                      profile=PROFILE, hyperparameters=None, seed=0,
                                      data_key="t", recipe=linear_ours())
    assert [r.name for r in spy] == ["ours", "ours"]
    assert result.row()["recipe"] == "ours" and result.row()["mode"] == "single-clip"


def test_gender_trains_through_the_recipe_path(spy, model_cache):
    x, items = functional_items()
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    result, model = gender.train_gender_split(x, items, split, hyperparameters={}, epochs=2,
                                              steps_per_epoch=None, seed=0, data_key="t",
                                              recipe=linear_ours("gender"))
    assert [(r.task, r.name) for r in spy] == [("gender", "functionals")]
    # L-BFGS reads no validation data: the result names the actors the model was fitted on.
    assert result.split.validation.size == 0 and result.split.test_actors == split.test_actors
    assert result.split.train_actors == tuple(sorted({*split.train_actors, *split.validation_actors}))
    # The "pitch" feature separates the genders: trained on two actors, the model gets clearly
    # more than chance (0.5) of the four unseen actors' clips right.
    assert result.metrics["accuracy"] > 0.65
    assert model.output_shape == (None, 1)


def test_original_gender_keeps_its_settings_on_the_path(spy, model_cache):
    rng = np.random.default_rng(0)
    _, items = functional_items(n_actors=8, clips_per_emotion=1)
    x = rng.normal(size=(len(items), 8, 12)).astype(np.float32)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    gender.train_gender_split(x, items, split, hyperparameters={"filters": 2, "dense_units": 4,
                                                                "pool_size": (2, 2)},
                              epochs=2, steps_per_epoch=2, batch_size=4, seed=0, data_key="t")
    (recipe,) = spy
    assert (recipe.name, recipe.epochs, recipe.steps_per_epoch, recipe.batch_size) == ("original", 2, 2, 4)
    assert recipe.patience == -1  # None: never stop early, keep the best epoch


def test_tuning_trials_train_through_the_recipe_path(spy, model_cache):
    rng = np.random.default_rng(0)
    _, items = functional_items(n_actors=8, clips_per_emotion=1)
    x = rng.normal(size=(len(items), 8, 12)).astype(np.float32)
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    trial = optuna.create_study().ask()
    tuning._train_trial(trial, x, y, split, parameter="dropout_rate", grid=(0.1,),
                        hyperparameters={"dropout_rate": 0.1, "learning_rate": 0.002},
                        profile=PROFILE, seed=0, data_key="t", builder=tiny_cnn, force=False,
                        cache_folder=None)
    (recipe,) = spy
    assert recipe.name == "original" and recipe.params["dropout_rate"] == 0.1
    assert recipe.min_delta == tuning.MIN_DELTA


def test_sliders_train_through_the_recipe_path_without_the_cache(spy, model_cache):
    rng = np.random.default_rng(0)
    _, items = functional_items(n_actors=8, clips_per_emotion=2)
    x = rng.normal(size=(len(items), 8, 12)).astype(np.float32)
    panel = widgets.TuningPanel({"clean": (x, items)}, variants=["clean"], variant="clean", builder=tiny_cnn,
                                epochs=1, auto_baseline=False)
    panel.train()
    assert [r.epochs for r in spy] == [1]
    assert not model_cache.exists() or not any(model_cache.rglob("*.keras"))


# ----------------------------------------------------------------------------------------------
# The ours recipe: monitor, ensemble, evaluation modes
# ----------------------------------------------------------------------------------------------


def test_ours_keeps_the_best_validation_uar_and_averages_its_ensemble(model_cache):
    x, items = functional_items()
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    recipe = tiny_ours(ensemble=2, epochs=8).with_hyperparameters(learning_rate=0.03)
    trained = training.train_recipe(recipe.for_profile(PROFILE), x, y, split, seed=3, data_key="t")
    assert len(trained.histories) == 2
    uar = trained.history["val_uar"]
    assert len(uar) == 8 and all(0.0 <= value <= 1.0 for value in uar)
    assert trained.best_epoch == int(np.argmax(uar)) + 1
    # The ensemble model is the mean of its members' outputs.
    inputs = training.recipe_inputs(tiny_ours(), x, split.test)
    members = [layer for layer in trained.model.layers if layer.name.startswith("member_")]
    assert len(members) == 2
    expected = np.mean([m.predict(inputs, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(trained.model.predict(inputs, verbose=0), expected, atol=1e-5)
    probabilities = training.predict_proba(trained.model, inputs)
    assert experiments.evaluate_emotion(y[split.test], probabilities)["uar"] > 0.5


def test_the_lbfgs_solver_reaches_the_minimum_that_gradient_steps_approach(model_cache):
    from sklearn.linear_model import LogisticRegression

    x, items = functional_items(clips_per_emotion=2, speaker_offset=0.5)
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    ours = recipes.get_recipe("emotion", "ours", l2=0.01).replace(
        speed_perturbation=(), channel_copies=0).for_profile(PROFILE)
    assert ours.solver == "lbfgs" and ours.params["hidden_units"] == 0
    solved = training.train_recipe(ours, x, y, split, seed=0, data_key="t")
    stepped = training.train_recipe(ours.replace(solver="gradient", class_weight=None, epochs=3), x, y, split,
                                    seed=0, data_key="t")
    assert not solved.cached and len(solved.history["loss"]) == 1
    # The solution is scikit-learn's on the same standardised rows (the split's training and
    # validation actors: L-BFGS reads no validation data), with C = 1 / (2 l2 n).
    fitted = solved.split.train
    assert fitted.size == split.train.size + split.validation.size
    mean, std = solved.normalization
    z = (x[fitted] - mean) / std
    reference = LogisticRegression(C=1 / (2 * 0.01 * fitted.size), max_iter=5000).fit(z, y[fitted])
    p = training.predict_proba(solved.model, x[split.test])
    np.testing.assert_allclose(p, reference.predict_proba((x[split.test] - mean) / std), atol=1e-3)
    # ... and a lower training loss (penalty included) than 3 epochs of gradient steps.
    assert solved.history["loss"][0] < stepped.history["loss"][-1]
    assert training.train_recipe(ours, x, y, split, seed=0, data_key="t").cached


def test_a_solver_that_reads_no_validation_data_fits_on_the_validation_actors_too(model_cache):
    x, items = functional_items(clips_per_emotion=2, speaker_offset=0.5)
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    assert split.validation.size and split.validation_actors
    ours = recipes.get_recipe("emotion", "ours", l2=0.01).replace(
        speed_perturbation=(), channel_copies=0).for_profile(PROFILE)

    solved = training.train_recipe(ours, x, y, split, seed=0, data_key="t")

    fitted = solved.split
    assert fitted.validation.size == 0 and fitted.validation_actors == ()
    assert fitted.train.tolist() == sorted([*split.train.tolist(), *split.validation.tolist()])
    assert fitted.train_actors == tuple(sorted({*split.train_actors, *split.validation_actors}))
    assert fitted.test.tolist() == split.test.tolist() and fitted.test_actors == split.test_actors
    # The same model as the merged split given explicitly (one cache key: the rows fitted) ...
    assert training.train_recipe(ours, x, y, split.validation_in_training(), seed=0, data_key="t").cached
    # ... and another than the training actors alone give.
    alone = dataclasses.replace(split, validation=np.empty(0, np.int64), validation_actors=())
    p_alone = training.predict_proba(training.train_recipe(ours, x, y, alone, seed=0, data_key="t").model,
                                     x[split.test])
    assert np.abs(training.predict_proba(solved.model, x[split.test]) - p_alone).max() > 1e-3
    # Gradient training stops on (or records) its validation actors: its split is the one given.
    stepped = training.train_recipe(tiny_ours(epochs=2).for_profile(PROFILE), x, y, split, seed=0, data_key="t")
    assert stepped.split is split and len(stepped.history["val_uar"]) == 2


def test_class_balanced_weights_give_scikit_learns_balanced_solution(model_cache):
    from sklearn.linear_model import LogisticRegression

    x, items = functional_items(clips_per_emotion=4, speaker_offset=0.5)
    y = experiments.emotion_labels(items)
    # Three of every four clips of the first emotion dropped: one class a quarter the others' size.
    keep = np.flatnonzero((y != 0) | (np.arange(len(y)) % 4 == 0))
    x, items, y = x[keep], items.iloc[keep].reset_index(drop=True), y[keep]
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    ours = recipes.get_recipe("emotion", "ours", l2=0.01).replace(
        speed_perturbation=(), channel_copies=0, test_time_speeds=()).for_profile(PROFILE)
    weighted = ours.replace(class_weight="balanced")

    solved = training.train_recipe(weighted, x, y, split, seed=0, data_key="t")
    plain = training.train_recipe(ours.replace(class_weight=None), x, y, split, seed=0, data_key="t")

    assert not plain.cached  # the weights are part of the model's cache key
    rows = solved.split.train
    mean, std = solved.normalization
    reference = LogisticRegression(C=1 / (2 * 0.01 * rows.size), class_weight="balanced", max_iter=5000).fit(
        (x[rows] - mean) / std, y[rows])
    test = (x[split.test] - mean) / std
    p = training.predict_proba(solved.model, x[split.test])
    np.testing.assert_allclose(p, reference.predict_proba(test), atol=1e-3)
    # The rare class gets more of the probability than without the weights.
    assert p[:, 0].mean() > training.predict_proba(plain.model, x[split.test])[:, 0].mean() + 0.01
    with pytest.raises(recipes.RecipeError, match="'balanced' only with solver='lbfgs'"):
        weighted.replace(solver="gradient")
    with pytest.raises(recipes.RecipeError, match="class_weight='inverse'"):
        ours.replace(class_weight="inverse")


def test_the_lbfgs_solve_runs_on_one_thread_and_names_it_in_the_cache_key(model_cache, monkeypatch):
    import threadpoolctl
    from sklearn.linear_model import LogisticRegression

    def pools():  # every BLAS and OpenMP library loaded, by file: its threads
        return {pool["filepath"]: pool["num_threads"] for pool in threadpoolctl.threadpool_info()}

    seen = []

    class Recording(LogisticRegression):
        def fit(self, *args, **kwargs):
            seen.append(pools())
            return super().fit(*args, **kwargs)

    monkeypatch.setattr("sklearn.linear_model.LogisticRegression", Recording)
    x, items = functional_items(clips_per_emotion=1)
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    ours = recipes.get_recipe("emotion", "ours").replace(
        speed_perturbation=(), channel_copies=0).for_profile(PROFILE)
    # What two threads give each library here (a 1-core machine may keep some at one).
    with threadpoolctl.threadpool_limits(limits=2):
        two = pools()
        # Whatever the pools were set to around it (SER_THREADS, the machine's cores).
        first = training.train_recipe(ours, x, y, split, seed=0, data_key="t")
    assert len(seen) == 1 and seen[0] and set(seen[0].values()) == {1}
    # A model solved on another thread count is another cache entry, not this one.
    monkeypatch.setattr(config, "LBFGS_THREADS", 2)
    other = training.train_recipe(ours, x, y, split, seed=0, data_key="t")
    assert not first.cached and not other.cached and len(seen) == 2
    assert seen[1] == {path: two[path] for path in seen[1]}
    # TensorFlow's thread count (SER_THREADS) does not solve it again: the solve does not use it.
    monkeypatch.setattr(config, "LBFGS_THREADS", 1)
    monkeypatch.setenv(config.TF_THREADS_ENV, "8")
    again = training.train_recipe(ours, x, y, split, seed=0, data_key="t")
    assert again.cached and len(seen) == 2


def test_the_lbfgs_solver_refuses_a_model_with_hidden_layers(model_cache):
    x, items = functional_items(clips_per_emotion=1)
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    with pytest.raises(training.TrainingError, match="have trainable weights"):
        training.train_recipe(tiny_ours(solver="lbfgs"), x, y, split, seed=0, data_key="t")
    with pytest.raises(recipes.RecipeError, match="solver"):
        recipes.get_recipe("emotion", "original").replace(solver="lbfgs")
    with pytest.raises(recipes.RecipeError, match="solver"):
        tiny_ours(solver="newton")


def test_speaker_adaptive_mode_standardises_each_speaker_over_their_own_clips():
    x, items = functional_items(speaker_offset=5.0)
    ours = recipes.get_recipe("emotion", "ours")
    same = experiments.prepare_inputs(x, items, recipe=ours, mode="single-clip")
    assert same is x
    adapted = experiments.prepare_inputs(x, items, recipe=ours, mode="speaker-adaptive")
    for actor, rows in items.groupby("actor").groups.items():
        np.testing.assert_allclose(adapted[rows].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(adapted[rows].std(axis=0), 1.0, atol=1e-4)
    with pytest.raises(experiments.ConfigError, match="log-mel"):
        experiments.prepare_inputs(x, items, recipe=recipes.get_recipe("emotion", "original"),
                                   mode="speaker-adaptive")


def test_speaker_adaptive_mode_removes_a_speaker_offset_that_single_clip_cannot(model_cache):
    # Each speaker's features are shifted by a large random offset: the speaker-adaptive mode
    # takes it away with the speaker's own statistics; the single-clip mode has to live with it.
    x, items = functional_items(speaker_offset=6.0, clips_per_emotion=3)
    scores = {}
    for mode in recipes.MODES:
        result = experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                          profile=PROFILE, hyperparameters=None, seed=0,
                                          data_key="t", recipe=linear_ours(), mode=mode)
        scores[mode] = result.row()["uar"]
        assert result.row()["mode"] == mode
    assert scores["speaker-adaptive"] > scores["single-clip"]


def test_speed_perturbed_copies_add_training_rows_only(model_cache):
    x, items = functional_items()
    y = experiments.emotion_labels(items)
    split = splits.speaker_folds(items, n_folds=2, seed=0)[0]
    recipe = tiny_ours(speed_perturbation=(1.1,), ensemble=1, monitor="none", epochs=2)
    copy = x + 0.1
    with pytest.raises(training.TrainingError, match="augmented holds 0 copies"):
        training.train_recipe(recipe, x, y, split, seed=0, data_key="t", cache=False)
    plain = training.train_recipe(recipe.replace(speed_perturbation=()), x, y, split, seed=0,
                                  data_key="t", cache=False)
    augmented = training.train_recipe(recipe, x, y, split, seed=0, data_key="t", cache=False,
                                      augmented=[copy])
    # Twice the training rows per epoch; validation and test rows are never perturbed.
    rate = augmented.train_samples_per_s * augmented.seconds
    assert rate == pytest.approx(2 * 2 * split.train.size, rel=0.01)
    assert plain.train_samples_per_s * plain.seconds == pytest.approx(2 * split.train.size, rel=0.01)
    assert augmented.best_epoch == 2  # monitor "none": the last epoch is kept


def test_ablation_changes_one_part_at_a_time():
    ours = recipes.get_recipe("emotion", "ours")
    variants = recipes.ablation(ours)
    assert variants["full recipe"] is ours
    assert variants["without speed perturbation"].speed_perturbation == ()
    assert variants["epoch of the best validation UAR, not the last"].monitor == "val_uar"
    gradient = variants["40 epochs of AdamW + cosine, not solved to convergence"]
    assert (ours.solver, gradient.solver) == ("lbfgs", "gradient")
    mlp = variants["MLP (256 GELU units, dropout) instead of linear"]
    assert mlp.params["hidden_units"] == 256 and mlp.speed_perturbation == ours.speed_perturbation
    assert mlp.solver == "gradient"  # only a linear model can be solved by L-BFGS
    assert variants["standardised functionals not clipped"].params["clip"] == 0.0
    assert variants["without multi-condition copies"].channel_copies == 0 < ours.channel_copies
    assert variants["without test-time speed averaging"].test_time_speeds == ()
    assert variants["without test-time speed averaging"].speed_perturbation == ours.speed_perturbation
    assert ours.class_weight == "balanced"
    assert variants["every clip weighing the same, not each class"].class_weight is None
    for name, variant in variants.items():
        changed = [field for field in ("speed_perturbation", "monitor", "hyperparameters", "ensemble",
                                       "test_time_speeds", "class_weight", "channel_copies")
                   if getattr(variant, field) != getattr(ours, field)]
        # Without training speeds there are no copies to average over at test either; the
        # stopping rule and the MLP apply to gradient steps (the solver is changed with them),
        # which take no class weights.
        expected = {"full recipe": 0, "without speed perturbation": 2,
                    "40 epochs of AdamW + cosine, not solved to convergence": 1,
                    "epoch of the best validation UAR, not the last": 2,
                    "MLP (256 GELU units, dropout) instead of linear": 2}.get(name, 1)
        assert len(changed) == expected, (name, changed)


def test_test_time_speeds_average_the_copies_probabilities_and_are_not_in_the_cache_key(model_cache):
    x, items = functional_items(clips_per_emotion=2)
    recipe = tiny_ours(speed_perturbation=(0.9, 1.1), test_time_speeds=(), monitor="none", epochs=2)
    averaged = recipe.replace(test_time_speeds=(1.1,))
    copies = [x - 0.05, x + 0.05]
    split = experiments.make_splits(items, protocol="speaker-independent", seed=0, n_folds=2)[0]
    y = experiments.emotion_labels(items)

    plain = training.train_recipe(recipe, x, y, split, seed=0, data_key="t", augmented=copies)
    again = training.train_recipe(averaged, x, y, split, seed=0, data_key="t", augmented=copies)
    assert again.cached  # the same training: test-time averaging is not part of the key

    p = training.predict_recipe(again.model, averaged, x, split.test, augmented=copies)
    p_clip = training.predict_proba(again.model, x[split.test])
    p_fast = training.predict_proba(again.model, copies[1][split.test])
    np.testing.assert_allclose(p, (p_clip + p_fast) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(training.predict_recipe(plain.model, recipe, x, split.test), p_clip)
    with pytest.raises(training.TrainingError, match="pass their copies"):
        training.predict_recipe(again.model, averaged, x, split.test)
    with pytest.raises(recipes.RecipeError, match="must be among"):
        recipe.replace(test_time_speeds=(1.2,))
    assert averaged.replace(speed_perturbation=(0.9,)).test_time_speeds == ()
    assert averaged.replace(speed_perturbation=(1.1,)).test_time_speeds == (1.1,)


def test_run_ablation_trains_each_variant_on_the_same_folds(model_cache):
    x, items = functional_items(clips_per_emotion=2)
    recipe = tiny_ours(speed_perturbation=(1.1,), monitor="none", epochs=2)
    table = experiments.run_ablation(x, items, recipe=recipe, profile=PROFILE, seed=0,
                                     data_key="t", augmented=[x + 0.05])
    assert table["variant"].tolist() == list(recipes.ablation(recipe))
    assert table["delta_uar"].iloc[0] == 0
    np.testing.assert_allclose(table["delta_uar"], table["uar"] - table["uar"].iloc[0])
    assert table["uar"].between(0, 1).all() and (table["mode"] == "single-clip").all()


def test_the_smoke_profile_drops_the_perturbed_copies_and_quick_keeps_them():
    ours = recipes.get_recipe("emotion", "ours")
    smoke = ours.for_profile(config.get_profile("smoke"))
    assert (smoke.speed_perturbation, smoke.test_time_speeds, smoke.channel_copies) == ((), (), 0)
    assert smoke.for_profile(config.get_profile("smoke")) == smoke  # applying it twice changes nothing
    quick = recipes.functionals_gender().for_profile(config.get_profile("quick"))
    assert quick.channel_copies == recipes.ROBUST_CHANNEL_COPIES
    assert ours.for_profile(config.get_profile("full")).test_time_speeds == recipes.OURS_SPEEDS
