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
