"""Small builders the tests share, so that each exists once.

``tiny_cnn`` is the emotion CNN with two narrow blocks: the same code path as the real model
(:func:`helpers.models.build_emotion_cnn`) at a fraction of the cost. It is a module-level
function, so a builder recorded by its ``module.qualname`` (tuning's study settings, the model
cache key) names the same thing in every test and in ``sweep_worker.py``'s processes.
``paired_fold_table`` is a fusion study's fold table with hand-picked numbers, for the paired
comparisons (tests/test_evaluation.py) and the fusion table (tests/test_fusion.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import models


def tiny_cnn(input_shape, *, normalization=None, seed=0, dropout_rate=0.25,
             learning_rate=0.002):
    """The emotion CNN with two narrow blocks: the same code path, a fraction of the cost."""
    return models.build_emotion_cnn(input_shape, filters=(4, 8), dense_units=16,
                                    dropout_rate=dropout_rate, learning_rate=learning_rate,
                                    normalization=normalization, seed=seed)


def paired_fold_table() -> pd.DataFrame:
    """Three folds: plain, fusion with true and with predicted gender."""
    values = {
        ("plain", "none"): ([0.40, 0.50, 0.60], [0.30, 0.45, 0.50]),
        ("fusion", "true"): ([0.45, 0.52, 0.70], [0.35, 0.45, 0.55]),
        ("fusion", "predicted"): ([0.42, 0.49, 0.66], [0.31, 0.40, 0.56]),
    }
    rows = []
    for (model, source), (uar, f1) in values.items():
        for fold in range(3):
            rows.append({"fold": fold + 1, "model": model, "gender_source": source,
                         "uar": uar[fold], "macro_f1": f1[fold],
                         "gender_accuracy": {"none": np.nan, "true": 1.0}.get(source, 0.9)})
    # Shuffle the rows: pairing must go by fold, not by position.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
