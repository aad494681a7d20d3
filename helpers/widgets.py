"""An interactive panel to try a dropout rate and a learning rate and watch the model train.

:class:`TuningPanel` shows sliders for the dropout rate (0 to 0.7) and the learning rate (log
scale, 1e-4 to 1e-2), an epoch slider, a recipe menu, a dataset-variant menu and a **Train**
button. Pressing the button trains on a small, fixed subset of the chosen variant (sized to take
well under a minute on a laptop CPU), redraws the loss and accuracy curves after every epoch,
and puts the result beside the tuned baseline trained on the same subset.

Two recipes (when the panel is given functionals for ``ours``):

- ``original``: the reconstructed emotion CNN on log-mels of the chosen variant, with the
  sliders' dropout (dense block) and learning rate (Adam), early stopping as everywhere.
- ``ours``: the ``ours`` model (a logistic regression on ComParE functionals of clean speech)
  trained by AdamW steps for the epoch slider's epochs, so that its curve can be watched: the
  dropout slider sets its input dropout, the learning-rate slider AdamW's rate. The ``ours``
  of the tables is solved by L-BFGS instead, which has neither.

Only the core ipywidgets controls and an ``Output`` holding a matplotlib figure are used, so
the panel works in JupyterLab, the classic notebook and Colab. On Colab, whose built-in widget
manager predates ipywidgets 8 (which ``requirements.txt`` installs), displaying the panel first
switches Colab to its ipywidgets-8 widget manager (``google.colab.output
.enable_custom_widget_manager``). Without a front end (papermill, tests) the panel is built all
the same, and :meth:`TuningPanel.train` or
``panel.train_button.click()`` runs a trial from Python.

Why it is over 500 lines: the panel is one stateful object (its controls, the figure redrawn
after every epoch, the recipe switch and the baseline trained beside each trial) whose methods
share that state, and about a quarter of the file is docstrings.
"""

from __future__ import annotations

import dataclasses
import html
import math
import sys
import time
from collections.abc import Callable, Mapping

import ipywidgets
import keras
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from helpers import config, experiments, models, recipes, splits, training, tuning
from helpers.errors import ProjectError, check_int

__all__ = ["PanelError", "PanelRun", "TuningPanel", "RECIPES"]

#: The recipes the panel can train.
RECIPES = ("original", "ours")
#: ``ours`` trained by gradient steps before any tuning: no input dropout, its AdamW rate.
OURS_BASELINE = {"dropout_rate": 0.0,
                 "learning_rate": recipes.OURS_EMOTION_HYPERPARAMETERS["learning_rate"]}

DROPOUT_RANGE = (0.0, 0.7)
LEARNING_RATE_RANGE = (1e-4, 1e-2)
RESULT_KEYS = ("loss", "accuracy", "uar", "macro_f1")


class PanelError(ProjectError):
    """The panel's data or settings are not usable."""


@dataclasses.dataclass
class PanelRun:
    """One training run of the panel.

    Attributes
    ----------
    variant : str
    hyperparameters : dict
        Exactly what the model was built with: ``dropout_rate`` and ``learning_rate``.
    epochs : int
        The epochs asked for (early stopping may end training sooner).
    history : dict of str to list of float
        Per-epoch training and validation metrics.
    metrics : dict
        ``loss``, ``accuracy``, ``uar``, ``macro_f1`` on the subset's held-out part.
    seconds : float
        Training and evaluation wall time.
    model : keras.Model
    """

    variant: str
    hyperparameters: dict
    epochs: int
    history: dict
    metrics: dict
    seconds: float
    model: keras.Model = dataclasses.field(repr=False)
    recipe: str = "original"

    def row(self, label: str) -> dict:
        return {"model": label, "recipe": self.recipe,
                "dropout": self.hyperparameters["dropout_rate"],
                "learning_rate": self.hyperparameters["learning_rate"],
                "epochs run": len(self.history.get("loss", [])),
                **{k: self.metrics[k] for k in RESULT_KEYS}, "seconds": round(self.seconds, 1)}


class _LiveHistory(keras.callbacks.Callback):
    """Append each epoch's logs to the panel's history and redraw its plot."""

    def __init__(self, panel: "TuningPanel"):
        super().__init__()
        self.panel = panel

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.panel.history.setdefault(str(key), []).append(float(value))
        self.panel._epoch_done(epoch)


class TuningPanel:
    """Sliders for dropout and learning rate, a Train button and a live training plot.

    Parameters
    ----------
    data : FeatureSet or mapping
        A :class:`helpers.features.FeatureSet` (anything with ``.variant(name)`` returning
        ``(X, items)``), or a mapping ``{variant: (X, items)}`` with
        ``X [shape=(n_items, n_mels, n_frames)]`` and an item table with ``clip_id``,
        ``actor`` and ``emotion_code`` columns.
    baseline : dict
        The tuned hyperparameters (``dropout_rate``, ``learning_rate``): the sliders start
        there, and a model with them, trained on the same subset, is shown for comparison.
    reference : dict, optional
        Metrics of the tuned model on the full data (e.g. Table 2's ``tuned`` row), shown as a
        third line of the results for context.
    variant : str
        The variant selected at first.
    variants : sequence of str, optional
        Choices of the variant menu; default every variant ``data`` has.
    epochs : int
        The epoch slider's starting value.
    max_epochs : int
        The epoch slider's maximum.
    max_items : int
        At most this many items (all versions of a recording count) form the subset; it is
        split 60/20/20 by recording into training, validation (early stopping) and held-out
        parts.
    auto_baseline : bool
        Train the baseline on the subset (once per variant and epoch count) when the user's
        settings differ from it, so the comparison is always on the same data.
    seed : int
    batch_size, patience : int
        Training settings passed to :func:`helpers.training.fit_model`.
    builder : callable
        Model builder taking ``dropout_rate``, ``learning_rate``, ``normalization``, ``seed``.
    functionals : (np.ndarray, pd.DataFrame), optional
        ``(X [shape=(n_items, n_features)], items)``: the ``ours`` recipe's functionals of clean
        speech. With them the recipe menu offers ``ours``.
    ours_baseline : dict
        ``ours``'s baseline for the sliders (input dropout and AdamW learning rate).

    Attributes
    ----------
    dropout, learning_rate, epochs : ipywidgets sliders
    recipe, variant : ipywidgets.Dropdown
    train_button : ipywidgets.Button
    status : ipywidgets.HTML
    plot_output : ipywidgets.Output
    results : ipywidgets.HTML
    widget : ipywidgets.VBox
        The whole panel (displaying the panel displays this).
    history : dict of str to list of float
        The current run's per-epoch logs, growing while it trains.
    epoch_log : list of int
        Number of epochs in ``history`` at each plot update (one entry per epoch).
    runs : list of PanelRun
        Every run of the user's settings.
    last_hyperparameters : dict or None
        Hyperparameters, variant and epochs of the latest run.
    last_model : keras.Model or None
    baselines : dict
        ``(recipe, variant, epochs) → PanelRun`` of the recipe's baseline on the subset.

    Raises
    ------
    PanelError
        If ``data`` offers no variant, the settings are out of range, or the baseline lacks a
        hyperparameter.
    """

    def __init__(self, data, *,
                 baseline: Mapping[str, float] = tuning.REPORTED_TUNED_HYPERPARAMETERS,
                 reference: Mapping[str, float] | None = None, variant: str = "aggregation",
                 variants=None, epochs: int = 8, max_epochs: int = 30, max_items: int = 320,
                 auto_baseline: bool = True, seed: int = config.SEED, batch_size: int = 32,
                 patience: int = 3, builder: Callable = models.build_emotion_cnn,
                 functionals: tuple[np.ndarray, pd.DataFrame] | None = None,
                 ours_baseline: Mapping[str, float] = OURS_BASELINE):
        self._data = data
        self._functionals = functionals
        if variants is None:
            variants = list(data) if isinstance(data, Mapping) else list(config.VARIANTS)
        variants = list(variants)
        if not variants or variant not in variants:
            raise PanelError(f"variant={variant!r} must be one of variants={variants}")
        for name, given in (("baseline", baseline), ("ours_baseline", ours_baseline)):
            missing = {"dropout_rate", "learning_rate"} - set(given)
            if missing:
                raise PanelError(f"{name}={dict(given)!r} lacks {sorted(missing)}")
        if functionals is not None and (len(functionals) != 2 or np.ndim(functionals[0]) != 2
                                        or len(functionals[0]) != len(functionals[1])):
            raise PanelError("functionals must be (X [shape=(n_items, n_features)], items) "
                             "with one item row per row of X")
        for name, value, low in (("epochs", epochs, 1), ("max_epochs", max_epochs, epochs),
                                 ("max_items", max_items, 10), ("batch_size", batch_size, 1),
                                 ("patience", patience, 0)):
            check_int(value, name=name, minimum=low, error=PanelError)
        self.baseline_hyperparameters = {"dropout_rate": float(baseline["dropout_rate"]),
                                         "learning_rate": float(baseline["learning_rate"])}
        self.recipe_baselines = {
            "original": self.baseline_hyperparameters,
            "ours": {"dropout_rate": float(ours_baseline["dropout_rate"]),
                     "learning_rate": float(ours_baseline["learning_rate"])}}
        self.reference = dict(reference) if reference is not None else None
        self.max_items, self.seed = int(max_items), int(seed)
        self.batch_size, self.patience = int(batch_size), int(patience)
        self.builder, self.auto_baseline = builder, bool(auto_baseline)

        self.dropout = ipywidgets.FloatSlider(
            value=_clip(self.baseline_hyperparameters["dropout_rate"], *DROPOUT_RANGE),
            min=DROPOUT_RANGE[0], max=DROPOUT_RANGE[1], step=0.05, description="dropout",
            readout_format=".2f", continuous_update=False)
        self.learning_rate = ipywidgets.FloatLogSlider(
            value=_clip(self.baseline_hyperparameters["learning_rate"], *LEARNING_RATE_RANGE),
            base=10, min=math.log10(LEARNING_RATE_RANGE[0]),
            max=math.log10(LEARNING_RATE_RANGE[1]), step=0.01, description="learning rate",
            readout_format=".2e", continuous_update=False, style={"description_width": "initial"})
        self.epochs = ipywidgets.IntSlider(value=int(epochs), min=1, max=int(max_epochs),
                                           description="epochs", continuous_update=False)
        self.variant = ipywidgets.Dropdown(options=variants, value=variant, description="variant")
        self.recipe = ipywidgets.Dropdown(
            options=list(RECIPES) if functionals is not None else ["original"], value="original",
            description="recipe")
        self.recipe.observe(self._on_recipe, names="value")
        self.train_button = ipywidgets.Button(description="Train", button_style="primary",
                                              icon="play", tooltip="train with these settings")
        self.status = ipywidgets.HTML(value="Set the sliders and press <b>Train</b>.")
        self.plot_output = ipywidgets.Output()
        self.results = ipywidgets.HTML()
        self.widget = ipywidgets.VBox([
            ipywidgets.HBox([self.dropout, self.learning_rate]),
            ipywidgets.HBox([self.epochs, self.recipe, self.variant, self.train_button]),
            self.status, self.plot_output, self.results,
        ])
        self.train_button.on_click(self._on_click)

        self.history: dict[str, list[float]] = {}
        self.epoch_log: list[int] = []
        self.runs: list[PanelRun] = []
        self.baselines: dict[tuple[str, str, int], PanelRun] = {}
        self.last_hyperparameters: dict | None = None
        self.last_model: keras.Model | None = None
        self.last_error: Exception | None = None
        self._subsets: dict[tuple[str, str], tuple[np.ndarray, pd.DataFrame, splits.Split]] = {}
        self._figure = Figure(figsize=(9, 3.2))
        self._axes = self._figure.subplots(1, 2)
        self._current_baseline: PanelRun | None = None

    # ------------------------------------------------------------------------------------------
    # Display
    # ------------------------------------------------------------------------------------------

    @property
    def figure(self) -> Figure:
        """The live loss/accuracy figure (e.g. to save it with ``io.save_figure``)."""
        return self._figure

    def _ipython_display_(self):
        from IPython.display import display

        _enable_colab_widgets()
        display(self.widget)

    def display(self) -> None:
        """Show the panel (same as putting it last in a cell)."""
        self._ipython_display_()

    # ------------------------------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------------------------------

    def subset(self, variant: str, recipe: str = "original"
               ) -> tuple[np.ndarray, pd.DataFrame, splits.Split]:
        """The panel's fixed subset of a variant and its recording-grouped 60/20/20 split.

        Whole recordings are kept (every noisy version of one recording together) and spread
        over actors and emotions (:func:`helpers.splits.subset_per_actor`), so that no version
        of a held-out recording is trained on. ``recipe="ours"`` takes the functionals of
        clean speech (``variant`` is then ignored).

        Returns
        -------
        X : np.ndarray [shape=(n_subset, n_mels, n_frames) or (n_subset, n_features)]
        items : pd.DataFrame
        split : splits.Split
        """
        if recipe == "ours":
            if self._functionals is None:
                raise PanelError("recipe 'ours' needs the panel's functionals "
                                 "(TuningPanel(..., functionals=(X, items)))")
            variant = "clean"
        key = (recipe, variant)
        if key not in self._subsets:
            if recipe == "ours":
                x, items = self._functionals
            elif isinstance(self._data, Mapping):
                if variant not in self._data:
                    raise PanelError(f"variant={variant!r} is not in the data; it has "
                                     f"{sorted(self._data)}")
                x, items = self._data[variant]
            else:
                x, items = self._data.variant(variant)
            x, items = np.asarray(x), items.reset_index(drop=True)
            if len(x) != len(items):
                raise PanelError(f"variant {variant!r}: X has {len(x)} rows but items has "
                                 f"{len(items)}")
            recordings = items.drop_duplicates("clip_id")
            versions = max(1, len(items) // max(1, len(recordings)))
            n_actors = max(1, recordings["actor"].nunique())
            per_actor = max(1, (self.max_items // versions) // n_actors)
            chosen = splits.subset_per_actor(recordings, clips_per_actor=per_actor, seed=self.seed)
            keep = items["clip_id"].isin(set(chosen["clip_id"])).to_numpy()
            x, items = x[keep], items[keep].reset_index(drop=True)
            split = splits.clip_grouped_split(items, seed=self.seed)
            self._subsets[key] = (x, items, split)
        return self._subsets[key]

    # ------------------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------------------

    def settings(self) -> dict:
        """The controls' values: ``dropout_rate``, ``learning_rate``, ``epochs``, ``variant``,
        ``recipe`` (``variant`` is ``"clean"`` for ``ours``)."""
        recipe = str(self.recipe.value)
        return {"dropout_rate": float(self.dropout.value),
                "learning_rate": float(self.learning_rate.value),
                "epochs": int(self.epochs.value),
                "variant": "clean" if recipe == "ours" else str(self.variant.value),
                "recipe": recipe}

    def train(self) -> PanelRun:
        """Train with the sliders' values, updating the plot every epoch; return the run.

        Raises
        ------
        PanelError
            If the chosen variant's subset cannot be split.
        """
        settings = self.settings()
        hyperparameters = {"dropout_rate": settings["dropout_rate"],
                           "learning_rate": settings["learning_rate"]}
        variant, epochs, recipe = settings["variant"], settings["epochs"], settings["recipe"]
        baseline = self.recipe_baselines[recipe]
        self.train_button.disabled = True
        try:
            x, items, split = self._checked_subset(variant, recipe)
            key = (recipe, variant, epochs)
            is_baseline = self._same(hyperparameters, baseline)
            # The baseline's curves are drawn beside the user's only when they differ from it.
            self._current_baseline = None if is_baseline else self.baselines.get(key)
            self.history, self.epoch_log = {}, []
            self.last_hyperparameters = {**hyperparameters, "epochs": epochs, "variant": variant,
                                         "recipe": recipe}
            what = ("the CNN" if recipe == "original"
                    else "<code>ours</code> (functionals, AdamW steps; dropout on its inputs)")
            self._say(f"Training {what} on {split.train.size} items of <i>{variant}</i> "
                      f"(dropout {hyperparameters['dropout_rate']:.2f}, learning rate "
                      f"{hyperparameters['learning_rate']:.2e}, up to {epochs} epochs)...")
            run = self._fit(x, items, split, variant=variant, hyperparameters=hyperparameters,
                            epochs=epochs, live=True, recipe=recipe)
            self.runs.append(run)
            self.last_model = run.model
            if is_baseline:
                self.baselines.setdefault(key, run)
            elif key not in self.baselines and self.auto_baseline:
                self._say("Training the tuned baseline on the same subset for comparison...")
                self.baselines[key] = self._fit(x, items, split, variant=variant,
                                                hyperparameters=baseline, epochs=epochs,
                                                live=False, recipe=recipe)
            self._current_baseline = None if is_baseline else self.baselines.get(key)
            self._redraw()
            self._show_results(run)
            stopped = len(run.history.get("loss", [])) < epochs
            # The result line repeats the settings, so it still says what was trained after
            # the sliders have moved on.
            self._say(f"Done in {run.seconds:.0f} s with dropout "
                      f"{hyperparameters['dropout_rate']:.2f}, learning rate "
                      f"{hyperparameters['learning_rate']:.2e}, {recipe}, <i>{variant}</i>: "
                      f"held-out UAR {run.metrics['uar']:.3f}, "
                      f"accuracy {run.metrics['accuracy']:.3f}"
                      + (" (stopped early: validation loss stalled; best weights kept)"
                         if stopped else ""))
            return run
        finally:
            self.train_button.disabled = False

    def click(self) -> None:
        """Press the Train button from Python."""
        self.train_button.click()

    def _on_click(self, _button) -> None:
        self.last_error = None
        try:
            self.train()
        except Exception as error:  # noqa: BLE001 -- shown in the panel instead of lost in a log
            self.last_error = error
            self._say(f"<span style='color:#b00'>Training failed: "
                      f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</span>")

    def _on_recipe(self, change) -> None:
        # Each recipe starts from its own baseline; ``ours`` trains on clean speech only.
        baseline = self.recipe_baselines[change["new"]]
        self.dropout.value = _clip(baseline["dropout_rate"], *DROPOUT_RANGE)
        self.learning_rate.value = _clip(baseline["learning_rate"], *LEARNING_RATE_RANGE)
        self.variant.disabled = change["new"] == "ours"

    def _checked_subset(self, variant, recipe="original"):
        try:
            return self.subset(variant, recipe)
        except splits.SplitError as error:
            raise PanelError(f"variant {variant!r}: the subset of at most {self.max_items} "
                             f"items cannot be split ({error}); raise max_items") from None

    def _fit(self, x, items, split, *, variant, hyperparameters, epochs, live,
             recipe="original") -> PanelRun:
        started = time.perf_counter()
        y = experiments.emotion_labels(items)
        # The sliders' quick trials are uncached. `original`: the reconstruction with the
        # panel's settings. `ours`: its model trained by AdamW for the chosen epochs (no
        # perturbed copies, and unweighted: gradient steps take no class weights), with the dropout
        # slider on its inputs.
        if recipe == "ours":
            used = recipes.ours_emotion(input_dropout=hyperparameters["dropout_rate"],
                                        learning_rate=hyperparameters["learning_rate"]).replace(
                solver="gradient", class_weight=None, epochs=epochs, batch_size=self.batch_size,
                speed_perturbation=(), test_time_speeds=(), channel_copies=0, level_db=None)
        else:
            used = recipes.original_emotion().replace(
                builder=self.builder, hyperparameters=dict(hyperparameters), epochs=epochs,
                batch_size=self.batch_size, patience=self.patience)
        trained = training.train_recipe(used, x, y, split, seed=self.seed, data_key=variant,
                                        cache=False,
                                        callbacks=[_LiveHistory(self)] if live else ())
        model, history = trained.model, trained.history
        probabilities = training.predict_recipe(model, used, x, split.test)
        metrics = experiments.evaluate_emotion(y[split.test], probabilities)
        return PanelRun(variant=variant, hyperparameters=dict(hyperparameters), epochs=epochs,
                        history=history, metrics={k: float(metrics[k]) for k in RESULT_KEYS},
                        seconds=time.perf_counter() - started, model=model, recipe=recipe)

    @staticmethod
    def _same(a: dict, b: dict) -> bool:
        return all(math.isclose(a[k], b[k], rel_tol=1e-6)
                   for k in ("dropout_rate", "learning_rate"))

    # ------------------------------------------------------------------------------------------
    # Plot and results
    # ------------------------------------------------------------------------------------------

    def _epoch_done(self, epoch: int) -> None:
        self.epoch_log.append(len(self.history.get("loss", [])))
        self._redraw()

    def _redraw(self) -> None:
        for ax, metric in zip(self._axes, ("loss", "accuracy")):
            ax.clear()
            values = self.history.get(metric, [])
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", color="tab:blue", label="train")
            if f"val_{metric}" in self.history:
                ax.plot(epochs, self.history[f"val_{metric}"], marker="o", color="tab:orange",
                        label="validation")
            baseline = self._current_baseline
            if baseline is not None and f"val_{metric}" in baseline.history:
                curve = baseline.history[f"val_{metric}"]
                ax.plot(np.arange(1, len(curve) + 1), curve, linestyle="--", color="grey",
                        label="tuned baseline (validation)")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # no epoch 1.5
            ax.set_title(metric if metric == "loss" else "accuracy (top-1)")
            ax.set_xlim(0.5, max(int(self.epochs.value), len(values), 1) + 0.5)
            ax.legend(fontsize="small")
        self._figure.tight_layout()
        if _in_ipython():
            from IPython.display import display

            with self.plot_output:
                self.plot_output.clear_output(wait=True)
                display(self._figure)

    def results_table(self, run: PanelRun | None = None) -> pd.DataFrame:
        """The latest run beside the baseline on the same subset (and the reference)."""
        run = run or (self.runs[-1] if self.runs else None)
        if run is None:
            return pd.DataFrame(columns=["model", "recipe", "dropout", "learning_rate",
                                         *RESULT_KEYS])
        rows = [run.row("your settings (subset, held-out part)")]
        baseline = self.baselines.get((run.recipe, run.variant, run.epochs))
        if baseline is not None:
            rows.append(baseline.row("tuned baseline (same subset)" if run.recipe == "original"
                                     else "ours's defaults (same subset)"))
        if self.reference is not None and run.recipe == "original":
            dropout = self.reference.get("dropout", self.reference.get("dropout_rate"))
            rows.append({"model": "tuned model, full data (Table 2, test)", "recipe": "original",
                         "dropout": dropout,
                         "learning_rate": self.reference.get("learning_rate"),
                         **{k: self.reference.get(k) for k in RESULT_KEYS}})
        return pd.DataFrame(rows)

    def _show_results(self, run: PanelRun) -> None:
        self.results.value = self.results_table(run).to_html(
            index=False, float_format="{:.4g}".format, na_rep="", justify="left")

    def _say(self, message: str) -> None:
        self.status.value = message


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


def _enable_colab_widgets() -> None:
    """On Colab, use its widget manager for ipywidgets 8.

    Elsewhere (JupyterLab, the classic notebook, papermill) this does nothing. An older Colab
    runtime without the switch keeps its built-in manager.
    """
    if "google.colab" not in sys.modules:
        return
    try:
        from google.colab import output
    except ImportError:
        return
    enable = getattr(output, "enable_custom_widget_manager", None)
    if enable is not None:
        enable()


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
