"""The sliders' panel driven from Python: set the sliders, press Train, check what trained."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import ipywidgets  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, features, tuning, widgets  # noqa: E402
from tests.factories import item_table, tiny_cnn  # noqa: E402

N_MELS, N_FRAMES = 12, 16


@pytest.fixture(scope="module")
def feature_set():
    """A FeatureSet of 8 actors x 8 emotions x 2 recordings in the four noise versions."""
    rng = np.random.default_rng(0)
    clips = item_table(actors=range(1, 9), clips_per_emotion=2, variants=None,
                       extra={"path": "/x/{actor}-{code}-{take}"})
    values = rng.normal(0.0, 1.0, (len(config.NOISE_VARIANTS), len(clips), N_MELS, N_FRAMES))
    for index, code in enumerate(clips["emotion_code"]):
        values[:, index, code % N_MELS] += 3.0
    return features.FeatureSet(features=values.astype(np.float32), clips=clips,
                               snr=pd.DataFrame(), key="tiny")


@pytest.fixture
def panel(feature_set):
    return widgets.TuningPanel(feature_set,
                               baseline={"dropout_rate": 0.25, "learning_rate": 0.0022},
                               reference={"dropout": 0.25, "learning_rate": 0.0022, "uar": 0.9},
                               variant="aggregation", epochs=2, max_items=160, builder=tiny_cnn,
                               batch_size=16, seed=3)


def test_panel_has_the_controls_the_issue_asks_for(panel):
    assert isinstance(panel.dropout, ipywidgets.FloatSlider)
    assert (panel.dropout.min, panel.dropout.max) == (0.0, 0.7)
    assert isinstance(panel.learning_rate, ipywidgets.FloatLogSlider)
    slider = panel.learning_rate
    assert (slider.base, slider.min, slider.max) == (10, -4, -2)
    assert isinstance(panel.epochs, ipywidgets.IntSlider)
    assert list(panel.variant.options) == list(config.VARIANTS)
    assert isinstance(panel.train_button, ipywidgets.Button)
    # The sliders start at the tuned values.
    assert panel.dropout.value == 0.25 and panel.learning_rate.value == pytest.approx(0.0022)
    assert isinstance(panel.widget, ipywidgets.VBox)


def test_pressing_train_trains_with_exactly_the_sliders_values(panel):
    panel.dropout.value = 0.35
    panel.learning_rate.value = 0.0031
    panel.epochs.value = 3
    panel.variant.value = "clean"
    panel.train_button.click()

    assert panel.last_error is None, panel.status.value
    assert panel.last_hyperparameters == {"dropout_rate": 0.35, "learning_rate": 0.0031,
                                          "epochs": 3, "variant": "clean", "recipe": "original"}
    model = panel.last_model
    dropout_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropout_layers] == [0.35]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.0031)
    run = panel.runs[-1]
    assert run.variant == "clean" and run.epochs == 3
    assert run.hyperparameters == {"dropout_rate": 0.35, "learning_rate": 0.0031}

    # The plot was updated after every epoch, with one more point each time.
    assert panel.epoch_log == [1, 2, 3]
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert len(panel.history[key]) == 3
    loss_axes = panel.figure.axes[0]
    assert len(loss_axes.lines[0].get_xdata()) == 3

    # The tuned baseline was trained on the same subset for the comparison.
    baseline = panel.baselines[("original", "clean", 3)]
    assert baseline.hyperparameters == {"dropout_rate": 0.25, "learning_rate": 0.0022}
    table = panel.results_table()
    assert list(table["model"]) == ["your settings (subset, held-out part)",
                                    "tuned baseline (same subset)",
                                    "tuned model, full data (Table 2, test)"]
    assert "UAR" in panel.status.value and "uar" in panel.results.value


def test_default_settings_are_the_baseline_and_train_once(panel):
    run = panel.train()
    assert run.hyperparameters == {"dropout_rate": 0.25, "learning_rate": 0.0022}
    assert len(panel.runs) == 1
    assert panel.baselines[("original", "aggregation", 2)] is run
    assert panel.epoch_log == [1, 2]


def test_recipe_menu_offers_ours_only_with_functionals(panel, feature_set):
    assert list(panel.recipe.options) == ["original"]
    with pytest.raises(widgets.PanelError, match="functionals"):
        panel.subset("clean", "ours")


def test_ours_trains_on_functionals_with_the_sliders_values(feature_set):
    clips = feature_set.clips
    rng = np.random.default_rng(1)
    functionals = rng.normal(0.0, 1.0, (len(clips), 20)).astype(np.float32)
    functionals[np.arange(len(clips)), clips["emotion_code"].to_numpy()] += 3.0
    panel = widgets.TuningPanel(feature_set, variant="aggregation", epochs=2, max_items=160,
                                builder=tiny_cnn, batch_size=16, seed=3,
                                functionals=(functionals, clips.assign(variant="clean")))
    assert list(panel.recipe.options) == list(widgets.RECIPES)
    panel.recipe.value = "ours"
    # The sliders move to ours's own starting point, and the variant menu is off.
    assert panel.dropout.value == 0.0
    assert panel.learning_rate.value == pytest.approx(widgets.OURS_BASELINE["learning_rate"])
    assert panel.variant.disabled
    panel.dropout.value = 0.3
    panel.learning_rate.value = 0.005
    panel.epochs.value = 3
    panel.train_button.click()
    assert panel.last_error is None, panel.status.value
    assert panel.last_hyperparameters == {"dropout_rate": 0.3, "learning_rate": 0.005,
                                          "epochs": 3, "variant": "clean", "recipe": "ours"}
    model = panel.last_model
    assert model.input_shape == (None, 20)  # the functionals, not a spectrogram
    dropout_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropout_layers][0] == 0.3  # on the inputs
    schedule = model.optimizer._learning_rate  # ours decays AdamW's rate from the slider's
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.initial_learning_rate == pytest.approx(0.005)
    assert panel.epoch_log == [1, 2, 3]  # trained by gradient steps: one redraw per epoch
    assert ("ours", "clean", 3) in panel.baselines
    assert list(panel.results_table()["recipe"]) == ["ours", "ours"]
    panel.recipe.value = "original"
    assert panel.dropout.value == 0.25 and not panel.variant.disabled


def test_subset_keeps_every_version_of_a_recording_on_one_side(panel):
    x, items, split = panel.subset("aggregation")
    assert len(x) == len(items) <= 160
    assert set(items["variant"]) == set(config.NOISE_VARIANTS)
    sides = {part: set(items.iloc[index]["clip_id"]) for part, index in split.parts().items()}
    assert not sides["train"] & sides["test"] and not sides["train"] & sides["validation"]
    assert panel.subset("aggregation")[0] is x  # made once per variant


def test_failures_are_shown_in_the_panel(feature_set):
    x, items = feature_set.variant("clean")
    panel = widgets.TuningPanel({"clean": (x, items)}, variants=["clean", "white"],
                                variant="clean", epochs=1, builder=tiny_cnn)
    panel.variant.value = "white"
    panel.click()
    assert isinstance(panel.last_error, widgets.PanelError)
    assert "white" in panel.status.value and "failed" in panel.status.value
    assert not panel.train_button.disabled


@pytest.mark.parametrize("kwargs, match", [
    ({"variant": "nope"}, "variant="),
    ({"baseline": {"dropout_rate": 0.2}}, "baseline="),
    ({"epochs": 0}, "epochs="),
    ({"max_items": 5}, "max_items="),
])
def test_bad_settings_are_refused(feature_set, kwargs, match):
    with pytest.raises(widgets.PanelError, match=match):
        widgets.TuningPanel(feature_set, builder=tiny_cnn, **kwargs)


def test_default_baseline_is_the_reported_choice(feature_set):
    panel = widgets.TuningPanel(feature_set, builder=tiny_cnn)
    assert panel.baseline_hyperparameters == tuning.REPORTED_TUNED_HYPERPARAMETERS


def test_displaying_on_colab_switches_on_its_ipywidgets_8_manager(feature_set, monkeypatch):
    import sys
    import types

    calls = []
    google, colab, output = (types.ModuleType(n) for n in
                             ("google", "google.colab", "google.colab.output"))
    output.enable_custom_widget_manager = lambda: calls.append("enabled")
    colab.output = output
    google.colab = colab
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    panel = widgets.TuningPanel(feature_set, builder=tiny_cnn)

    panel.display()  # not on Colab: nothing switched
    assert calls == [] and shown == [panel.widget]

    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    panel.display()
    assert calls == ["enabled"] and shown == [panel.widget, panel.widget]

    del output.enable_custom_widget_manager  # an older Colab runtime: displayed all the same
    panel.display()
    assert calls == ["enabled"] and len(shown) == 3
