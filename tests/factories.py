"""Small builders the tests share, so that each exists once.

``tiny_cnn`` is the emotion CNN with two narrow blocks: the same code path as the real model
(:func:`helpers.models.build_emotion_cnn`) at a fraction of the cost. It is a module-level
function, so a builder recorded by its ``module.qualname`` (tuning's study settings, the model
cache key) names the same thing in every test and in ``sweep_worker.py``'s processes.
"""

from __future__ import annotations

from helpers import models


def tiny_cnn(input_shape, *, normalization=None, seed=0, dropout_rate=0.25,
             learning_rate=0.002):
    """The emotion CNN with two narrow blocks: the same code path, a fraction of the cost."""
    return models.build_emotion_cnn(input_shape, filters=(4, 8), dense_units=16,
                                    dropout_rate=dropout_rate, learning_rate=learning_rate,
                                    normalization=normalization, seed=seed)
