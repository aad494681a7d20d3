"""Every figure of helpers.plots on small generated tables: the panels, labels and lines it
draws, and a PNG written through io.save_figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config, io, plots  # noqa: E402
from tests.factories import item_table  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def manifest() -> pd.DataFrame:
    """Two actors (one male, one female), every emotion once each, durations 3 to 4.5 s."""
    items = item_table(actors=(1, 2), clips_per_emotion=1,
                       extra={"duration": lambda actor, code, take: 3.0 + 0.1 * (code - 1)})
    return items[["actor", "gender", "emotion", "duration"]]


def test_counts_one_panel_per_column_with_a_bar_per_value_in_emotion_order():
    fig = plots.plot_counts(manifest())
    emotion, gender, actor = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Clips per emotion", "Clips per gender",
                                                  "Clips per actor"]
    assert [t.get_text() for t in emotion.get_xticklabels()] == list(config.EMOTIONS)
    assert [p.get_height() for p in emotion.patches] == [2] * 8
    assert [t.get_text() for t in gender.get_xticklabels()] == ["female", "male"]
    assert [p.get_height() for p in actor.patches] == [8, 8]


def test_durations_mark_the_analysis_window():
    fig = plots.plot_durations(manifest(), window_s=(0.5, 3.5))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "duration (s)" and ax.get_ylabel() == "clips"
    assert sum(p.get_height() for p in ax.patches) == 16
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [0.5, 3.5]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["window start", "window end"]
    assert not plots.plot_durations(manifest()).axes[0].get_lines()


def test_waveform_and_logmel_one_column_per_signal_and_a_colour_bar():
    rate, hop = 1000, 10
    signals = {"clean": np.zeros(500), "white": np.ones(500)}
    logmels = {name: np.zeros((8, 50)) for name in signals}
    fig = plots.plot_waveform_and_logmel(signals, logmels, sample_rate=rate, hop_length=hop,
                                         title="one clip")
    assert len(fig.axes) == 5  # 2 x 2 panels (waveforms on top) and one colour bar
    assert [ax.get_title() for ax in fig.axes[:2]] == ["clean", "white"]
    waveform = fig.axes[0].get_lines()[0]
    assert waveform.get_xdata()[-1] == pytest.approx(499 / rate)
    assert list(fig.axes[2].images[0].get_extent()) == [0, 50 * hop / rate, 0, 8]
    assert fig.axes[4].get_ylabel() == "dB"
    assert fig._suptitle.get_text() == "one clip"


def test_snr_draws_each_variants_requested_level():
    snr = pd.DataFrame({"variant": ["white"] * 3 + ["urban"] * 3,
                        "requested_db": [15.0] * 3 + [10.0] * 3,
                        "measured_db": [15.0, 14.9, 15.1, 10.0, 9.9, 10.1]})
    (ax,) = plots.plot_snr(snr).axes
    assert [segment[0][1] for segment in ax.collections[-1].get_segments()] == [10.0]
    assert [c.get_segments()[0][0][1] for c in ax.collections if hasattr(c, "get_segments")] \
        == [15.0, 10.0]
    assert ax.get_ylabel() == "measured SNR (dB)"


def test_history_one_panel_per_metric_present_with_train_and_validation():
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.2, 0.4, 0.5]}
    fig = plots.plot_history(history, metrics=("loss", "accuracy", "auc"), title="curves")
    loss, accuracy = fig.axes  # "auc" is not in the history: no panel
    assert [line.get_label() for line in loss.get_lines()] == ["train", "validation"]
    assert list(loss.get_lines()[1].get_ydata()) == [1.1, 0.7, 0.6]
    assert list(loss.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert [line.get_label() for line in accuracy.get_lines()] == ["train"]
    assert loss.get_xlabel() == "epoch" and fig._suptitle.get_text() == "curves"


def test_confusion_is_row_normalised_unless_asked_for_counts():
    confusion = [[3, 1], [0, 0]]
    (ax,) = plots.plot_confusion(confusion, labels=["male", "female"], title="t").axes
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.00", "0.00"]  # an empty row: 0
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["male", "female"]
    (counts,) = plots.plot_confusion(confusion, labels=["male", "female"], normalize=False).axes
    assert [t.get_text() for t in counts.texts] == ["3", "1", "0", "0"]


def test_per_actor_accuracy_one_panel_per_split_and_the_overall_line():
    per_actor = pd.DataFrame({"split": ["a", "a", "b"], "actor": [2, 1, 3],
                              "gender": ["female", "male", "male"], "accuracy": [1.0, 0.5, 0.25],
                              "n_clips": [2, 6, 4]})
    first, second = plots.plot_per_actor_accuracy(per_actor).axes
    assert (first.get_title(), second.get_title()) == ("a", "b")
    assert [t.get_text() for t in first.get_xticklabels()] == ["1", "2"]  # sorted by actor
    assert [p.get_height() for p in first.patches[:2]] == [0.5, 1.0]
    assert first.get_lines()[0].get_ydata()[0] == pytest.approx((0.5 * 6 + 1.0 * 2) / 8)
    (single,) = plots.plot_per_actor_accuracy(per_actor.drop(columns="n_clips"), by=None).axes
    assert not single.get_lines() and len(single.get_xticklabels()) == 3


def test_paired_differences_one_panel_per_metric_and_one_row_per_model_and_source():
    deltas = pd.DataFrame([{"fold": fold, "model": "fusion", "gender_source": source,
                            "delta_uar": 0.01 * fold, "delta_macro_f1": -0.01 * fold}
                           for source in ("true", "predicted") for fold in (1, 2, 3)])
    fig = plots.plot_paired_differences(deltas, title="paired")
    assert len(fig.axes) == 2
    uar = fig.axes[0]
    assert len([t for t in uar.get_yticklabels() if t.get_text()]) == 2
    assert uar.get_xlabel().startswith("uar − baseline")
    assert [line.get_xdata()[0] for line in uar.get_lines() if line.get_color() == "tab:red"] == [0.0]


def test_emotion_predictions_mark_the_prediction_and_say_right_or_wrong():
    labels = ["neutral", "happy", "sad"]
    fig = plots.plot_emotion_predictions(
        [np.zeros((8, 20)), np.zeros((8, 20))], [np.array([0.1, 0.7, 0.2]), np.array([0.6, 0.3, 0.1])],
        labels=labels, truths=["happy", "sad"], titles=["a.wav", "b.wav"])
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["a.wav  true: happy, predicted: happy (right)",
                      "b.wav  true: sad, predicted: neutral (wrong)"]
    bars = [ax for ax in fig.axes if ax.patches][0].patches
    assert [bar.get_width() for bar in bars] == [0.1, 0.7, 0.2]
    assert bars[1].get_linewidth() == 2  # the true label is outlined


def test_gender_probabilities_bars_and_the_threshold():
    fig = plots.plot_gender_probabilities(["a", "b"], [0.2, 0.9], truths=["male", "female"])
    (ax,) = fig.axes
    assert [bar.get_width() for bar in ax.patches] == [0.2, 0.9]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a (male)", "b (female)"]
    assert any(list(line.get_xdata()) == [0.5, 0.5] for line in ax.get_lines())


def test_tuning_stage_two_panels_with_the_choice_and_the_reports_value():
    trials = pd.DataFrame({"protocol": ["original"] * 3, "state": ["complete", "complete", "pruned"],
                           "dropout": [0.1, 0.25, 0.5], "val_loss": [1.0, 0.8, 2.1],
                           "val_uar": [0.3, 0.4, 0.1]})
    loss, uar = plots.plot_tuning_stage(trials, parameter="dropout", reported=0.25).axes
    assert (loss.get_title(), uar.get_title()) == ("validation loss (objective)", "validation UAR")
    assert loss.get_xlabel() == "dropout"
    completed = loss.get_lines()[0]
    assert list(completed.get_xdata()) == [0.1, 0.25] and list(completed.get_ydata()) == [1.0, 0.8]
    star = [c for c in loss.collections if c.get_sizes().tolist() == [220]][0]
    assert star.get_offsets().tolist() == [[0.25, 0.8]]  # the lowest validation loss
    assert any(list(line.get_xdata()) == [0.25, 0.25] for line in uar.get_lines())


def test_fold_scores_bars_per_fold_and_model_with_the_chance_line(tmp_path):
    scores = pd.DataFrame({"model": ["ours", "ours", "original", "original"],
                           "fold": [1, 2, 1, 2], "uar": [0.6, 0.5, 0.3, 0.2]})
    fig = plots.plot_fold_scores(scores, chance=0.125, title="UAR per fold")
    (ax,) = fig.axes
    assert sorted(round(p.get_height(), 3) for p in ax.patches if p.get_height() > 0) \
        == [0.2, 0.3, 0.5, 0.6]
    assert ax.get_lines()[-1].get_ydata()[0] == 0.125
    assert ax.get_ylim() == (0, 1) and ax.get_title() == "UAR per fold"

    path = io.save_figure(fig, "fold_scores", folder=tmp_path)
    assert path == tmp_path / "fold_scores.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["fold_scores.png"]  # no temporary file left
