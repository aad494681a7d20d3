"""Tiny generated data for sweep tests (shared by the SQLite and PostgreSQL tests).

The narrow CNN they train is ``tests.factories.tiny_cnn``.
"""

from __future__ import annotations

import numpy as np

from helpers import config
from tests.factories import item_table

N_MELS, N_FRAMES = 12, 16
PROFILE = config.Profile("test", clips_per_actor=None, max_epochs=2, early_stopping_patience=1,
                         n_folds=2, batch_size=32, sweep_trials_per_stage=2)


def make_data(n_actors: int = 8, clips_per_emotion: int = 2, seed: int = 0):
    """Spectrogram-shaped arrays whose emotion is a bright mel band, and their item table."""
    rng = np.random.default_rng(seed)
    items = item_table(actors=range(1, n_actors + 1), clips_per_emotion=clips_per_emotion)
    codes = items["emotion_code"].to_numpy()
    arrays = rng.normal(0.0, 1.0, (len(items), N_MELS, N_FRAMES)).astype(np.float32)
    arrays[np.arange(len(items)), codes % N_MELS] += 3.0
    return arrays, items


N_ACTORS, N_FEATURES = 12, 24


def make_functionals(seed: int = 0):
    """Functional-shaped rows whose emotion shifts a few columns, for 12 actors (6 F, 6 M)."""
    rng = np.random.default_rng(seed)
    items = item_table(actors=range(1, N_ACTORS + 1), clips_per_emotion=2,
                       clip_id="{actor}-{code}-{take}", variants=None)
    arrays = []
    for _, codes in items.groupby("actor", sort=False)["emotion_code"]:
        offset = rng.normal(0, 0.5, N_FEATURES)  # each speaker's own voice, drawn before its clips
        vector = offset + rng.normal(0, 1.0, (len(codes), N_FEATURES))
        vector[np.arange(len(codes)), codes.to_numpy()] += 2.5
        arrays.append(vector)
    return np.concatenate(arrays).astype(np.float32), items
