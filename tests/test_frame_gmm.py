"""The ``ours`` gender model (frame GMMs on log-mel cepstra), on tiny generated log-mels."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from helpers import (audio, channel, config, experiments, features, frame_gmm, recipes,  # noqa: E402
                     splits, training)
from helpers.errors import ConfigError, TrainingError  # noqa: E402
from tests.conftest import write_clip  # noqa: E402
from tests.factories import item_table, ravdess_clip_id  # noqa: E402

SHAPE = (16, 30)
SMALL = {"n_components": 2, "n_cepstra": 6}


def make_items():
    table = item_table(actors=range(1, 9), emotions=config.EMOTIONS[:4], clips_per_emotion=1,
                       clip_id=ravdess_clip_id)
    return table[["actor", "gender", "clip_id", "variant"]].reset_index(drop=True)


def make_logmels(items, *, seed: int = 0) -> np.ndarray:
    """Noise around -60 dB, a loud band (high for women, low for men) in the middle 20 frames,
    and the last 4 frames at -100 dB (zero padding)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-60.0, 3.0, size=(len(items), *SHAPE)).astype(np.float32)
    female = (items["gender"] == "female").to_numpy()
    x[female, 9:13, 4:24] += 40.0 + rng.normal(0, 2.0, (female.sum(), 4, 20))
    x[~female, 2:6, 4:24] += 40.0 + rng.normal(0, 2.0, ((~female).sum(), 4, 20))
    x[:, :, -4:] = -100.0
    return x


def recipe(**changes):
    # `quick` keeps the response copies (`smoke` drops them, as every recipe's perturbed copies).
    return recipes.get_recipe("gender", "ours", **SMALL).for_profile(config.get_profile("quick")).replace(**changes)


def test_the_frames_are_the_speech_frames_without_the_level():
    x = make_logmels(make_items())[0]
    frames = frame_gmm.cepstral_frames(x, n_cepstra=6, floor_db=20.0)
    assert frames.shape == (20, 6)  # the 20 loud frames; the quiet and padded ones are left out
    louder = frame_gmm.cepstral_frames(x + 17.0, n_cepstra=6, floor_db=20.0)
    np.testing.assert_allclose(louder, frames, atol=1e-3)  # a gain moves coefficient 0 only
    assert len(frame_gmm.cepstral_frames(x, n_cepstra=6, floor_db=200.0)) == SHAPE[1]
    basis = frame_gmm.dct_matrix(16, 6)
    np.testing.assert_allclose(basis @ basis.T, np.eye(6), atol=1e-12)  # orthonormal rows
    with pytest.raises(ConfigError, match=r"expected \(n_mels, n_frames\)"):
        frame_gmm.cepstral_frames(np.zeros(5))


def test_mean_normalised_frames_do_not_see_a_fixed_microphone_response():
    x = make_logmels(make_items())[0]
    response = np.linspace(-8.0, 6.0, SHAPE[0]) + 3.0 * np.sin(np.arange(SHAPE[0]))
    coloured = channel.apply_response(x, response)
    plain = frame_gmm.cepstral_frames(x, n_cepstra=6, floor_db=20.0)
    assert np.abs(frame_gmm.cepstral_frames(coloured, n_cepstra=6, floor_db=20.0) - plain).max() > 1.0
    normalised = frame_gmm.cepstral_frames(x, n_cepstra=6, floor_db=20.0, mean_normalise=True)
    np.testing.assert_allclose(normalised.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(frame_gmm.cepstral_frames(coloured, n_cepstra=6, floor_db=20.0,
                                                         mean_normalise=True), normalised, atol=1e-3)


def test_a_range_floor_keeps_bands_a_codec_emptied_from_moving_the_frames():
    x = make_logmels(make_items())[0]  # loudest value about -13 dB, background about -60 dB
    emptied = x.copy()
    emptied[12:, 4:24:2] = -100.0  # the top bands of every other speech frame, as a lossy codec does
    options = {"n_cepstra": 6, "floor_db": 20.0}
    plain = frame_gmm.cepstral_frames(x, **options)
    moved = np.abs(frame_gmm.cepstral_frames(emptied, **options) - plain).max()
    floored = frame_gmm.cepstral_frames(x, **options, range_db=50.0)
    assert floored.shape == plain.shape  # the floor does not decide which frames are speech
    kept = np.abs(frame_gmm.cepstral_frames(emptied, **options, range_db=50.0) - floored).max()
    assert moved > 40.0 and kept < moved / 5
    # A floor below every value changes nothing.
    np.testing.assert_allclose(frame_gmm.cepstral_frames(x, **options, range_db=200.0), plain, atol=1e-5)
    with pytest.raises(ConfigError, match="range_db=20.0 must be None or a number of dB above"):
        frame_gmm.build_frame_gmm(SHAPE, floor_db=20.0, range_db=20.0)


def test_low_band_cepstra_see_the_harmonics_that_the_envelope_cepstra_smooth_over():
    x = make_logmels(make_items())[0]
    options = {"n_cepstra": 6, "floor_db": 20.0}
    plain = frame_gmm.cepstral_frames(x, **options)
    both = frame_gmm.cepstral_frames(x, **options, low_bands=8, low_cepstra=5)
    assert both.shape == (plain.shape[0], 11)
    np.testing.assert_allclose(both[:, :6], plain, atol=1e-4)  # the envelope's rows come first
    rows = frame_gmm.projection(16, 6, 8, 5)
    np.testing.assert_array_equal(rows[6:, 8:], 0.0)  # the low rows see the lowest 8 bands only
    np.testing.assert_allclose(rows[6:, :8] @ rows[6:, :8].T, np.eye(5), atol=1e-12)
    # Harmonics 2 bands apart among the lowest bands (a ripple of +-6 dB): the envelope's 6
    # cepstra over 16 bands barely move, the low bands' own cepstra do.
    comb = x.copy()
    comb[:8, 4:24] += 6.0 * np.where(np.arange(8) % 2 == 0, 1.0, -1.0)[:, np.newaxis]
    moved = np.abs(frame_gmm.cepstral_frames(comb, **options, low_bands=8, low_cepstra=7) - frame_gmm.cepstral_frames(
        x, **options, low_bands=8, low_cepstra=7)).max(axis=0)
    assert moved[6:].max() > 10.0 and moved[:6].max() < moved[6:].max() / 3
    for bad, message in (({"low_bands": 8}, "must be given together"),
                         ({"low_bands": 17, "low_cepstra": 3}, "at most n_mels=16"),
                         ({"low_bands": 8, "low_cepstra": 8}, "low_cepstra=8 below low_bands"),
                         ({"low_bands": 1, "low_cepstra": 1}, "low_bands")):
        with pytest.raises(ConfigError, match=message):
            frame_gmm.build_frame_gmm(SHAPE, n_cepstra=6, **bad)


@pytest.mark.parametrize("mean_normalise, range_db, low_bands", [
    (False, None, None), (True, None, None), (True, 50.0, None), (True, 50.0, 8)])
def test_the_keras_score_is_the_mixtures_mean_log_likelihood_ratio(mean_normalise, range_db, low_bands):
    items = make_items()
    x = make_logmels(items)
    x[::3, 12:, 4:24:2] = -100.0  # emptied bands in some windows: the floor must act alike
    female = (items["gender"] == "female").to_numpy().astype(int)
    options = {"n_cepstra": 6, "floor_db": 20.0, "mean_normalise": mean_normalise, "range_db": range_db,
               "low_bands": low_bands, "low_cepstra": None if low_bands is None else 4}
    model = frame_gmm.build_frame_gmm(SHAPE, n_components=2, **options)
    history = frame_gmm.fit_frame_gmm(model, x, female, seed=3)
    assert history["em_iterations"][0] >= 1 and np.isfinite(history["loss"][0])
    # The same mixtures fitted by scikit-learn directly (same frames, same seeds).
    mixtures = []
    for gender in (0, 1):
        frames = np.concatenate([frame_gmm.cepstral_frames(x[k], **options)
                                 for k in np.flatnonzero(female == gender)])
        mixtures.append(GaussianMixture(2, covariance_type="diag", max_iter=frame_gmm.EM_MAX_ITER,
                                        random_state=3 + gender).fit(frames.astype(np.float64)))
    expected = np.array([mixtures[1].score(f) - mixtures[0].score(f) for f in
                         (frame_gmm.cepstral_frames(w, **options) for w in x)])
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    logit = np.log(p) - np.log1p(-p)
    # (Beyond a logit of 10 the float32 sigmoid's 1 - p holds too few digits to compare.)
    np.testing.assert_allclose(np.clip(logit, -10, 10), np.clip(expected, -10, 10), rtol=1e-3, atol=1e-3)
    if not mean_normalise:  # (the tiny voices differ only in their mean band: normalised away)
        assert ((p > 0.5) == female.astype(bool)).all()


def test_map_adaptation_moves_each_background_mean_by_the_frames_it_is_responsible_for():
    rng = np.random.default_rng(0)
    background = GaussianMixture(2, covariance_type="diag", random_state=0).fit(
        np.concatenate([rng.normal(-3, 1, (300, 2)), rng.normal(3, 1, (300, 2))]))
    frames = rng.normal(-3, 1, (200, 2)) + np.array([0.5, -0.5])  # near one component only
    near = int(np.argmin(np.abs(background.means_[:, 0] + 3)))
    barely = frame_gmm.map_adapted(background, frames, relevance=1e-6)
    responsibility = background.predict_proba(frames)[:, near]
    np.testing.assert_allclose(barely.means_[near], responsibility @ frames / responsibility.sum(), rtol=1e-6)
    stiff = frame_gmm.map_adapted(background, frames, relevance=1e9)
    np.testing.assert_allclose(stiff.means_, background.means_, atol=1e-4)
    # With a usual relevance the near mean moves most of the way, the far one (next to no
    # responsibility) stays where it was.
    usual = frame_gmm.map_adapted(background, frames, relevance=16.0)
    assert np.abs(usual.means_[near] - background.means_[near]).max() > 0.3
    np.testing.assert_allclose(usual.means_[1 - near], background.means_[1 - near], atol=1e-2)
    for adapted in (barely, stiff, usual):
        np.testing.assert_array_equal(adapted.weights_, background.weights_)
        np.testing.assert_array_equal(adapted.covariances_, background.covariances_)
    with pytest.raises(ConfigError, match="relevance=0 must be None"):
        frame_gmm.build_frame_gmm(SHAPE, relevance=0)


def test_the_map_adapted_model_scores_with_one_background_and_two_sets_of_means():
    items = make_items()
    x = make_logmels(items)
    female = (items["gender"] == "female").to_numpy().astype(int)
    options = {"n_cepstra": 6, "floor_db": 20.0, "range_db": 50.0}
    # One Gaussian: the background lies between the genders and each adapted mean moves to one.
    # (With a component per gender, as these separable voices would get, means-only adaptation
    # leaves both models the background: real frames share their components across genders.)
    model = frame_gmm.build_frame_gmm(SHAPE, n_components=1, relevance=4.0, **options)
    frame_gmm.fit_frame_gmm(model, x, female, seed=3)
    _, means, log_variances, log_weights = model.get_layer("frame_gmm").get_weights()
    np.testing.assert_array_equal(log_variances[0], log_variances[1])
    np.testing.assert_array_equal(log_weights[0], log_weights[1])
    assert np.abs(means[0] - means[1]).max() > 1.0
    # The same mixtures made directly: one background on both genders' frames, then MAP means.
    frames = [np.concatenate([frame_gmm.cepstral_frames(x[k], **options) for k in np.flatnonzero(female == g)])
              for g in (0, 1)]
    background = GaussianMixture(1, covariance_type="diag", max_iter=frame_gmm.EM_MAX_ITER,
                                 random_state=3).fit(np.concatenate(frames).astype(np.float64))
    adapted = [frame_gmm.map_adapted(background, f.astype(np.float64), 4.0) for f in frames]
    expected = np.array([adapted[1].score(f) - adapted[0].score(f) for f in
                         (frame_gmm.cepstral_frames(w, **options) for w in x)])
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    np.testing.assert_allclose(np.clip(np.log(p) - np.log1p(-p), -15, 15), np.clip(expected, -15, 15),
                               rtol=1e-3, atol=1e-3)
    assert ((p > 0.5) == female.astype(bool)).all()


def test_the_training_path_fits_it_caches_it_and_reloads_the_same_model(tmp_path):
    items = make_items()
    x = make_logmels(items)
    y = (items["gender"] == "female").to_numpy().astype(np.int64)
    split = splits.speaker_folds(items, n_folds=4, seed=0)[0]
    ours = recipe()
    assert ours.solver == "gmm" and ours.features == "log_mel" and ours.channel_copies == 2
    copies = [channel.response_copy(x, copy=k, fmin=0.0, fmax=8_000.0) for k in range(2)]
    with pytest.raises(TrainingError, match="augmented holds 0 copies"):
        training.train_recipe(ours, x, y, split, seed=1, data_key="tiny", cache_folder=tmp_path)
    first = training.train_recipe(ours, x, y, split, seed=1, data_key="tiny", cache_folder=tmp_path,
                                  augmented=copies)
    p = training.predict_recipe(first.model, ours, x, split.test)[:, 0]
    assert not first.cached and ((p > 0.5) == y[split.test].astype(bool)).all()
    assert training.describe_fit(first.history).startswith("EM, ")
    again = training.train_recipe(ours, x, y, split, seed=1, data_key="tiny", cache_folder=tmp_path,
                                  augmented=copies)
    assert again.cached
    np.testing.assert_allclose(training.predict_recipe(again.model, ours, x, split.test)[:, 0], p, rtol=1e-6)
    # Another size of mixture is another model.
    other = training.train_recipe(ours.with_hyperparameters(n_components=1), x, y, split, seed=1,
                                  data_key="tiny", cache_folder=tmp_path, augmented=copies)
    assert not other.cached
    # Without the response copies the mixtures learn from fewer frames: another model.
    clean = training.train_recipe(ours.replace(channel_copies=0), x, y, split, seed=1,
                                  data_key="tiny", cache_folder=tmp_path)
    assert not clean.cached
    assert not np.allclose(clean.model.get_layer("frame_gmm").get_weights()[1],
                           first.model.get_layer("frame_gmm").get_weights()[1])


def test_ours_robust_trains_caches_and_reloads_with_its_floor_and_map_adaptation(tmp_path):
    items = make_items()
    x = make_logmels(items)
    x[::2, 12:, 4:24:2] = -100.0  # bands a codec emptied, in half the windows
    y = (items["gender"] == "female").to_numpy().astype(np.float32)
    split = splits.speaker_folds(items, n_folds=4, seed=0)[0]
    # One Gaussian (see test_the_map_adapted_model_scores_with_one_background_and_two_sets_of_means),
    # and no mean normalisation: the tiny voices differ only in their mean band.
    robust = recipes.get_recipe("gender", "ours-robust", n_components=1, n_cepstra=6, range_db=50.0,
                                mean_normalise=False, fuse_unnormalised=False, low_bands=8,
                                low_cepstra=4).for_profile(config.get_profile("quick"))
    first = training.train_recipe(robust, x, y, split, seed=1, data_key="tiny", cache_folder=tmp_path)
    layer = first.model.get_layer("frame_gmm")
    assert (layer.range_db, layer.relevance) == (50.0, recipes.OURS_ROBUST_GENDER_HYPERPARAMETERS["relevance"])
    p = training.predict_recipe(first.model, robust, x, split.test)[:, 0]
    assert ((p > 0.5) == y[split.test].astype(bool)).all()
    again = training.train_recipe(robust, x, y, split, seed=1, data_key="tiny", cache_folder=tmp_path)
    assert again.cached
    reloaded = again.model.get_layer("frame_gmm")
    assert (reloaded.range_db, reloaded.relevance) == (layer.range_db, layer.relevance)
    assert (reloaded.low_bands, reloaded.low_cepstra) == (layer.low_bands, layer.low_cepstra) == (8, 4)
    np.testing.assert_allclose(training.predict_recipe(again.model, robust, x, split.test)[:, 0], p, rtol=1e-6)
    # The floor, the adaptation and the low bands are part of the model: any changed, another model.
    for change in ({"range_db": 70.0}, {"relevance": 16.0}, {"low_cepstra": 3}):
        assert not training.train_recipe(robust.with_hyperparameters(**change), x, y, split, seed=1,
                                         data_key="tiny", cache_folder=tmp_path).cached


def test_the_fused_model_scores_the_mean_of_the_normalised_and_unnormalised_ratios(tmp_path):
    items = make_items()
    x = make_logmels(items)
    x[1::2, :, 4:24] += np.linspace(-6.0, 6.0, SHAPE[0])[:, np.newaxis]  # a tilt: normalised away
    female = (items["gender"] == "female").to_numpy().astype(int)
    options = {"n_components": 2, "n_cepstra": 6, "floor_db": 20.0, "range_db": 50.0, "relevance": 4.0}
    fused = frame_gmm.build_frame_gmm(SHAPE, mean_normalise=True, fuse_unnormalised=True, **options)
    history = frame_gmm.fit_frame_gmm(fused, x, female, seed=3)
    # Each path is the single model it would be on its own (same frames, same seed).
    singles = {}
    for normalise in (True, False):
        singles[normalise] = frame_gmm.build_frame_gmm(SHAPE, mean_normalise=normalise, **options)
        frame_gmm.fit_frame_gmm(singles[normalise], x, female, seed=3)
    for name, normalise in (("frame_gmm", True), ("frame_gmm_unnormalised", False)):
        layer = fused.get_layer(name)
        assert layer.mean_normalise is normalise
        for got, expected in zip(layer.get_weights(), singles[normalise].get_layer("frame_gmm").get_weights()):
            np.testing.assert_array_equal(got, expected)

    def ratio(model, layer):
        # The log-likelihood ratio before the sigmoid (a saturated probability hides it).
        return training.keras.Model(model.input, model.get_layer(layer).output).predict(x, verbose=0)[:, 0]

    fused_ratio = ratio(fused, "mean_ratio")
    np.testing.assert_allclose(fused_ratio, (ratio(singles[True], "frame_gmm") + ratio(singles[False], "frame_gmm")) / 2,
                               rtol=1e-5, atol=1e-4)
    assert not np.allclose(ratio(singles[True], "frame_gmm"), ratio(singles[False], "frame_gmm"), atol=0.1)

    def logit(model):
        p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
        return np.clip(np.log(p) - np.log1p(-p), -10, 10)

    np.testing.assert_allclose(logit(fused), np.clip(fused_ratio, -10, 10), atol=2e-3)
    assert np.isfinite(history["loss"][0]) and history["em_iterations"][0] >= 1
    # Saved and loaded as one model.
    path = tmp_path / "fused.keras"
    fused.save(path)
    np.testing.assert_allclose(logit(training.keras.models.load_model(path)), logit(fused), atol=1e-6)
    with pytest.raises(ConfigError, match="fuse_unnormalised=True needs mean_normalise=True"):
        frame_gmm.build_frame_gmm(SHAPE, fuse_unnormalised=True, **options)


def test_a_fit_that_fails_in_a_later_layer_writes_no_layer(monkeypatch):
    items = make_items()
    x = make_logmels(items)
    female = (items["gender"] == "female").to_numpy().astype(int)
    fused = frame_gmm.build_frame_gmm(SHAPE, mean_normalise=True, fuse_unnormalised=True,
                                      n_components=2, n_cepstra=6, floor_db=20.0)
    before = [w.copy() for w in fused.get_layer("frame_gmm").get_weights()]
    real, fitted = frame_gmm._fit_layer, []

    def second_fails(layer, *args, **kwargs):
        if fitted:
            raise TrainingError("the second layer's EM failed")
        fitted.append(layer.name)
        return real(layer, *args, **kwargs)

    monkeypatch.setattr(frame_gmm, "_fit_layer", second_fails)
    with pytest.raises(TrainingError, match="second layer"):
        frame_gmm.fit_frame_gmm(fused, x, female, seed=0)
    assert fitted == ["frame_gmm"]  # the first layer was fitted, and not written
    for got, expected in zip(fused.get_layer("frame_gmm").get_weights(), before):
        np.testing.assert_array_equal(got, expected)


def test_the_fit_refuses_what_it_cannot_fit():
    items = make_items()
    x = make_logmels(items)
    model = frame_gmm.build_frame_gmm(SHAPE, **SMALL)
    with pytest.raises(TrainingError, match="no female training window"):
        frame_gmm.fit_frame_gmm(model, x, np.zeros(len(x)), seed=0)
    with pytest.raises(TrainingError, match="needs at least n_components=40"):
        frame_gmm.fit_frame_gmm(frame_gmm.build_frame_gmm(SHAPE, n_components=40, n_cepstra=6),
                                x[:2], np.array([0, 1]), seed=0)
    with pytest.raises(TrainingError, match="no FrameGMMScore layer"):
        frame_gmm.fit_frame_gmm(training.keras.Sequential([training.keras.Input((3,))]), x, x[:, 0, 0], seed=0)
    with pytest.raises(ConfigError, match="n_classes=8"):
        frame_gmm.build_frame_gmm(SHAPE, n_classes=8)
    with pytest.raises(ConfigError, match="n_mels > n_cepstra=19"):
        frame_gmm.build_frame_gmm((16, 30, 1))


def test_the_recipes_ours_and_ours_robust_are_frame_gmms_and_only_ours_robust_mean_normalises():
    ours = recipes.get_recipe("gender", "ours")
    assert (ours.solver, ours.features, ours.builder) == ("gmm", "log_mel", frame_gmm.build_frame_gmm)
    assert "mean_normalise" not in dict(ours.hyperparameters)
    robust = recipes.get_recipe("gender", "ours-robust")
    assert (robust.solver, robust.features, robust.builder, robust.channel_copies) == (
        "gmm", "log_mel", frame_gmm.build_frame_gmm, 0)
    assert dict(robust.hyperparameters) == {**recipes.OURS_GENDER_HYPERPARAMETERS,
                                            **recipes.OURS_ROBUST_GENDER_HYPERPARAMETERS}
    # The functionals model that was ``ours-robust`` gender until session 15 stays for comparison.
    old = recipes.functionals_gender()
    assert (old.solver, old.features, old.channel_copies) == ("lbfgs", "compare", recipes.ROBUST_CHANNEL_COPIES)
    with pytest.raises(recipes.RecipeError, match="solver='gmm' fits the gender frame mixtures"):
        recipes.get_recipe("emotion", "original").replace(solver="gmm")
    variants = recipes.ablation(ours)
    assert list(variants) == ["full recipe", "32 Gaussians per gender, not 64",
                              "every frame of the window, not only speech",
                              "clean windows only, no response copies"]
    assert variants["clean windows only, no response copies"].channel_copies == 0
    assert ours.for_profile(config.get_profile("smoke")).channel_copies == 0
    assert ours.for_profile(config.get_profile("full")).channel_copies == recipes.OURS_GENDER_RESPONSE_COPIES
    assert all(v.solver == "gmm" for v in variants.values())
    robust_variants = recipes.ablation(robust)
    assert list(robust_variants) == ["full recipe", "32 Gaussians per gender, not 64",
                                     "every frame of the window, not only speech",
                                     "mean-normalised frames alone"]
    assert robust_variants["mean-normalised frames alone"].params["fuse_unnormalised"] is False
    assert robust.params["fuse_unnormalised"] is True and robust.params["mean_normalise"] is True


def test_recipe_features_gives_a_log_mel_recipe_each_files_training_window(tmp_path):
    paths = [write_clip(tmp_path / f"clip{k}.wav", duration_s=1.0 + 0.5 * k) for k in range(3)]
    items = item_table(actors=[1], emotions=config.EMOTIONS[:3], clips_per_emotion=1,
                       clip_id=ravdess_clip_id).assign(path=[str(p) for p in paths])
    x, copies = experiments.recipe_features(recipes.get_recipe("gender", "ours"), items)
    assert x.shape == (3, config.FEATURES.n_mels, config.FEATURES.n_frames)
    for k, path in enumerate(paths):
        np.testing.assert_array_equal(x[k], features.log_mel(audio.load_window(path)))
    # Its copies: the same windows through the recipe's random microphone responses.
    assert len(copies) == recipes.OURS_GENDER_RESPONSE_COPIES
    for k, copy in enumerate(copies):
        np.testing.assert_array_equal(copy, channel.response_copy(x, copy=k, fmin=0.0, fmax=8_000.0))
    # A caller that has the clean log-mels of the items (a notebook's feature set) passes them.
    given, _ = experiments.recipe_features(recipes.get_recipe("gender", "ours"), items, log_mels=x[::-1])
    np.testing.assert_array_equal(given, x[::-1])
    with pytest.raises(ConfigError, match="log_mels has 2 rows but items has 3"):
        experiments.recipe_features(recipes.get_recipe("gender", "ours"), items, log_mels=x[:2])
    with pytest.raises(ConfigError, match="paths is empty"):
        experiments.log_mel_windows([])
