"""Worker tasks for :func:`helpers.parallel.alongside`'s own tests, in a module that imports no
TensorFlow: a spawned worker imports the module its task lives in, and ``tests.factories``
(Keras models) would cost each worker several seconds of imports before it does anything."""

from __future__ import annotations

import time

import numpy as np


def shape_after_a_nap(x: np.ndarray, *, seconds: float) -> tuple[int, ...]:
    """Sleep, then return ``x.shape``."""
    time.sleep(seconds)
    return tuple(x.shape)
