"""The field's classical baselines: openSMILE functionals with a scikit-learn classifier.

As in ``shared/reference/baselines.md``: ``StandardScaler`` + ``LogisticRegression(C=0.1)`` for
emotion, ``StandardScaler`` + RBF ``SVC(C=10)`` (Platt-scaled) for gender, both fixed beforehand and never
tuned on the test folds; trained on all non-test actors (nothing is tuned, so the validation
actors train too). Both evaluation modes apply, as for the ``ours`` recipe
(:func:`helpers.functionals.apply_mode`): ``single-clip`` on the functionals as extracted,
``speaker-adaptive`` on each actor's functionals z-scored over that actor's own clips (needs
unlabelled audio of the test speaker).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from helpers import recipes, splits
from helpers.errors import ProjectError

#: Baseline names → openSMILE feature set.
BASELINES: dict[str, str] = {"compare": "compare", "egemaps": "egemaps"}
EMOTION_C = 0.1
GENDER_C = 10.0


class BaselineError(ProjectError):
    """A baseline's inputs are not what it accepts."""


def make_classifier(task: str, *, seed: int):
    """The baseline's unfitted scikit-learn pipeline for a task.

    Raises
    ------
    BaselineError
        If ``task`` is not ``"emotion"`` or ``"gender"``.
    """
    if task == "emotion":
        return make_pipeline(StandardScaler(), LogisticRegression(C=EMOTION_C, max_iter=3000))
    if task == "gender":
        # Platt-scaled probabilities from 5-fold cross-validated decision values, the classifier
        # itself fitted on all the rows (what ``SVC(probability=True)`` did before scikit-learn
        # 1.9 deprecated it).
        svm = SVC(C=GENDER_C, kernel="rbf", random_state=seed)
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, method="sigmoid", cv=5,
                                                                      ensemble=False))
    raise BaselineError(f"task={task!r} must be one of {recipes.TASKS}")


def run_fold(x: np.ndarray, labels: np.ndarray, split: splits.Split, *, task: str,
             seed: int) -> tuple[np.ndarray, float, float]:
    """Fit on the split's training and validation actors, predict its test actors.

    Parameters
    ----------
    x : np.ndarray [shape=(n_items, n_features)]
        Functionals (already per-speaker standardised for the speaker-adaptive mode).
    labels : np.ndarray [shape=(n_items,)]
        Integer emotions, or 0/1 genders (1 = female).

    Returns
    -------
    probabilities : np.ndarray [shape=(n_test, n_classes)]
        For gender, two columns (male, female).
    seconds : float
        Fitting time.
    samples_per_s : float
        Training items fitted per second.

    Raises
    ------
    BaselineError
        If ``x`` is not 2-D or its length differs from ``labels``.
    """
    x = np.asarray(x)
    if x.ndim != 2 or len(x) != len(labels):
        raise BaselineError(f"x has shape {x.shape} and labels {np.shape(labels)}; expected "
                            f"(n_items, n_features) and (n_items,)")
    rows = np.concatenate([split.train, split.validation])
    started = time.perf_counter()
    classifier = make_classifier(task, seed=seed).fit(x[rows], labels[rows])
    seconds = time.perf_counter() - started
    return classifier.predict_proba(x[split.test]), seconds, len(rows) / max(seconds, 1e-9)
