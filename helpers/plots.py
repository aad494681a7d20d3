"""Figures the notebooks show and save. Each function returns a matplotlib Figure.

Save them with :func:`helpers.io.save_figure`, which writes PNG atomically.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers import config


def plot_counts(manifest: pd.DataFrame, *, columns=("emotion", "gender", "actor")):
    """Bar charts of clip counts per value of each column."""
    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 3.5))
    for ax, column in zip(np.atleast_1d(axes), columns):
        order = list(config.EMOTIONS) if column == "emotion" else sorted(manifest[column].unique())
        order = [value for value in order if value in set(manifest[column])]
        sns.countplot(data=manifest, x=column, order=order, ax=ax, color="tab:blue")
        ax.set_title(f"Clips per {column}")
        ax.tick_params(axis="x", rotation=90 if column != "gender" else 0)
    fig.tight_layout()
    return fig


def plot_durations(manifest: pd.DataFrame, *, window_s: tuple[float, float] | None = None):
    """Histogram of clip durations, with the analysis window marked."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(manifest["duration"], bins=40, color="tab:blue")
    if window_s is not None:
        for edge, label in zip(window_s, ("window start", "window end")):
            ax.axvline(edge, color="tab:red", linestyle="--", label=label)
        ax.legend()
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("clips")
    ax.set_title("Clip durations")
    fig.tight_layout()
    return fig


def plot_waveform_and_logmel(signals: dict[str, np.ndarray], logmels: dict[str, np.ndarray], *,
                             sample_rate: int, hop_length: int, title: str = ""):
    """One column per named signal: waveform on top, log-mel (dB) below."""
    names = list(signals)
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 5), squeeze=False)
    for column, name in enumerate(names):
        y = signals[name]
        axes[0, column].plot(np.arange(y.size) / sample_rate, y, linewidth=0.5)
        axes[0, column].set_title(name)
        axes[0, column].set_xlabel("s")
        S = logmels[name]
        extent = (0, S.shape[1] * hop_length / sample_rate, 0, S.shape[0])
        image = axes[1, column].imshow(S, origin="lower", aspect="auto", extent=extent, cmap="magma")
        axes[1, column].set_xlabel("s")
        axes[1, column].set_ylabel("mel band")
    fig.colorbar(image, ax=axes[1, -1], label="dB")
    fig.tight_layout()
    if title:
        fig.suptitle(title)
    return fig


def plot_snr(snr: pd.DataFrame):
    """Measured against requested SNR per noisy variant."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.stripplot(data=snr, x="variant", y="measured_db", ax=ax, size=2, alpha=0.5)
    for index, (_, group) in enumerate(snr.groupby("variant", sort=False)):
        ax.hlines(group["requested_db"].iloc[0], index - 0.4, index + 0.4, color="tab:red")
    ax.set_ylabel("measured SNR (dB)")
    ax.set_title("Measured SNR per clip (red: requested)")
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], *, metrics=("loss", "accuracy"), title: str = ""):
    """Training curves: one panel per metric, train and validation."""
    metrics = [m for m in metrics if m in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(confusion, *, labels, title: str = "", normalize: bool = True):
    """Confusion matrix heatmap (rows: true class); row-normalised by default."""
    matrix = np.asarray(confusion, dtype=float)
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    fig, ax = plt.subplots(figsize=(0.7 * len(labels) + 2.5, 0.6 * len(labels) + 2))
    sns.heatmap(matrix, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues",
                xticklabels=labels, yticklabels=labels, ax=ax, cbar=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_per_actor_accuracy(per_actor: pd.DataFrame, *, by: str | None = "split",
                            title: str = ""):
    """Bars of accuracy per test actor, coloured by gender; one panel per value of ``by``.

    ``per_actor`` has columns ``actor``, ``gender`` and ``accuracy`` (and ``by`` when given),
    e.g. from :func:`helpers.gender.per_actor_accuracy`. A dashed line marks each panel's
    accuracy over all its clips when ``n_clips`` is present.
    """
    groups = list(per_actor.groupby(by, sort=False)) if by and by in per_actor else [("", per_actor)]
    widths = [max(3.0, 0.35 * frame["actor"].nunique() + 1.5) for _, frame in groups]
    fig, axes = plt.subplots(1, len(groups), figsize=(sum(widths), 3.5), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    colours = {"female": "tab:orange", "male": "tab:blue"}
    for ax, (name, frame) in zip(axes[0], groups):
        frame = frame.sort_values("actor")
        ax.bar([str(a) for a in frame["actor"]], frame["accuracy"],
               color=[colours.get(g, "tab:gray") for g in frame["gender"]])
        if "n_clips" in frame:
            overall = float(np.average(frame["accuracy"], weights=frame["n_clips"]))
            ax.axhline(overall, color="black", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("test actor")
        ax.set_ylabel("accuracy")
        ax.set_title(str(name))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    axes[0, -1].legend(handles, list(colours), loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_paired_differences(deltas: pd.DataFrame, *, metrics=("uar", "macro_f1"), title: str = ""):
    """Per-fold paired differences to a baseline, with their mean ± std, one panel per metric.

    Parameters
    ----------
    deltas : pd.DataFrame
        Columns ``fold``, ``model``, ``gender_source`` and ``delta_<metric>`` for each metric
        (as :func:`helpers.evaluation.paired_differences` returns); one row per fold × model × source.
    metrics : sequence of str
        Metrics to show.
    title : str
        Figure title.
    """
    labels = list(dict.fromkeys(f"{m} / {s}" for m, s in zip(deltas["model"], deltas["gender_source"])))
    rows = deltas.assign(label=[f"{m} / {s}" for m, s in zip(deltas["model"], deltas["gender_source"])])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 0.45 * len(labels) + 1.8),
                             squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        column = f"delta_{metric}"
        for position, label in enumerate(labels):
            values = rows.loc[rows["label"] == label, column].to_numpy(dtype=float)
            ax.scatter(values, np.full(values.size, position), color="tab:gray", s=14, alpha=0.7,
                       zorder=2)
            std = values.std(ddof=1) if values.size > 1 else 0.0
            ax.errorbar(values.mean(), position, xerr=std, fmt="o", color="tab:blue", capsize=3,
                        zorder=3)
        ax.axvline(0.0, color="tab:red", linewidth=1)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"{metric} − baseline (per fold; blue: mean ± std)")
    # The panels share the y axis, so one inversion puts the first row on top in all of them.
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_emotion_predictions(log_mels, probabilities, *, labels, truths=None, titles=None,
                             sample_rate: int = config.FEATURES.sample_rate,
                             hop_length: int = config.FEATURES.hop_length):
    """One row per clip: its log-mel (dB) on the left, the model's probabilities on the right.

    Parameters
    ----------
    log_mels : sequence of np.ndarray [shape=(n_mels, n_frames)]
        The (first) analysis window the model saw for each clip.
    probabilities : sequence of np.ndarray [shape=(n_labels,)]
    labels : sequence of str
        Label order of ``probabilities``.
    truths : sequence of str, optional
        True label per clip: its bar is outlined in black and the title says right or wrong.
    titles : sequence of str, optional
        One title per clip (e.g. the file name).
    """
    n = len(log_mels)
    fig, axes = plt.subplots(n, 2, figsize=(11, 2.6 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6, 1]})
    for row, (S, p) in enumerate(zip(log_mels, probabilities)):
        extent = (0, S.shape[1] * hop_length / sample_rate, 0, S.shape[0])
        image = axes[row, 0].imshow(S, origin="lower", aspect="auto", extent=extent, cmap="magma")
        axes[row, 0].set_ylabel("mel band")
        fig.colorbar(image, ax=axes[row, 0], label="dB")
        predicted = int(np.argmax(p))
        colors = ["tab:orange" if k == predicted else "tab:blue" for k in range(len(labels))]
        bars = axes[row, 1].barh(list(labels), p, color=colors)
        axes[row, 1].invert_yaxis()
        axes[row, 1].set_xlim(0, 1)
        title = titles[row] if titles is not None else ""
        if truths is not None:
            truth = truths[row]
            if truth in labels:
                bars[list(labels).index(truth)].set_edgecolor("black")
                bars[list(labels).index(truth)].set_linewidth(2)
            verdict = "right" if labels[predicted] == truth else "wrong"
            title = f"{title}  true: {truth}, predicted: {labels[predicted]} ({verdict})"
        else:
            title = f"{title}  predicted: {labels[predicted]}"
        axes[row, 0].set_title(title.strip(), loc="left", fontsize=9)
    axes[-1, 0].set_xlabel("s")
    axes[-1, 1].set_xlabel("probability (orange: predicted; outlined: true)")
    fig.tight_layout()
    return fig


def plot_gender_probabilities(names, p_female, *, truths=None, title: str = ""):
    """Horizontal bars of P(female) per clip, the 0.5 decision threshold marked.

    Parameters
    ----------
    names : sequence of str
    p_female : sequence of float
    truths : sequence of str, optional
        ``"male"``/``"female"`` per clip, shown in the labels.
    """
    p_female = np.asarray(p_female, dtype=float)
    labels = [f"{name} ({truth})" for name, truth in zip(names, truths)] if truths is not None \
        else list(names)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.5))
    colors = ["tab:red" if p >= 0.5 else "tab:blue" for p in p_female]
    ax.barh(labels, p_female, color=colors)
    ax.invert_yaxis()
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(female)  (red: predicted female; blue: predicted male)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_tuning_stage(trials: pd.DataFrame, *, parameter: str, reported: float | None = None,
                      log_x: bool = False, title: str = ""):
    """Validation loss and UAR against one searched hyperparameter, one line per protocol.

    ``trials`` has columns ``protocol``, ``state``, ``val_loss``, ``val_uar`` and
    ``parameter`` (e.g. ``tuning.SweepResult.trials_table()`` rows of one stage). Completed
    trials are filled circles joined by a line, pruned ones crosses (their last reported loss),
    each protocol's choice (lowest validation loss) a star; ``reported`` (the original's choice)
    is a dashed vertical line.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = dict(zip(sorted(trials["protocol"].unique()), sns.color_palette("tab10")))
    for protocol, group in trials.groupby("protocol", sort=True):
        group = group.sort_values(parameter)
        complete = group[group["state"] == "complete"]
        pruned = group[group["state"] == "pruned"]
        best = complete.loc[complete["val_loss"].idxmin()] if not complete.empty else None
        for ax, metric in zip(axes, ("val_loss", "val_uar")):
            colour = colours[protocol]
            ax.plot(complete[parameter], complete[metric], marker="o", color=colour, label=protocol)
            if metric == "val_loss" and not pruned.empty:
                ax.scatter(pruned[parameter], pruned[metric], marker="x", color=colour,
                           label=f"{protocol}: pruned")
            if best is not None:
                ax.scatter([best[parameter]], [best[metric]], marker="*", s=220, color=colour,
                           edgecolor="black", zorder=4)
    for ax, metric in zip(axes, ("validation loss (objective)", "validation UAR")):
        if reported is not None:
            ax.axvline(reported, color="grey", linestyle="--", linewidth=1, label="report's choice")
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(parameter.replace("_", " "))
        ax.set_title(metric)
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_fold_scores(scores: pd.DataFrame, *, metric: str = "uar", chance: float | None = None,
                     title: str = ""):
    """Per-fold scores of several recipes and modes, side by side.

    Parameters
    ----------
    scores : pd.DataFrame
        Long table with columns ``model`` (a label such as ``"ours, single-clip"``), ``fold``
        and ``metric``.
    chance : float, optional
        Drawn as a dashed line (UAR 0.125 for eight emotions).
    """
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * scores["fold"].nunique() + 3), 3.6))
    sns.barplot(data=scores, x="fold", y=metric, hue="model", ax=ax)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig
