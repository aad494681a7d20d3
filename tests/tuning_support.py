"""Tiny generated data for sweep tests (shared by the SQLite and PostgreSQL tests).

The narrow CNN they train is ``tests.factories.tiny_cnn``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import config

N_MELS, N_FRAMES = 12, 16
PROFILE = config.Profile("test", clips_per_actor=None, max_epochs=2, early_stopping_patience=1,
                         n_folds=2, batch_size=32, sweep_trials_per_stage=2)


def make_data(n_actors: int = 8, clips_per_emotion: int = 2, seed: int = 0):
    """Spectrogram-shaped arrays whose emotion is a bright mel band, and their item table."""
    rng = np.random.default_rng(seed)
    rows, arrays = [], []
    for actor in range(1, n_actors + 1):
        for code, emotion in enumerate(config.EMOTIONS, start=1):
            for k in range(clips_per_emotion):
                clip_id = f"a{actor:02d}-e{code}-{k}"
                image = rng.normal(0.0, 1.0, (N_MELS, N_FRAMES)).astype(np.float32)
                image[code % N_MELS] += 3.0
                arrays.append(image)
                rows.append({"actor": actor, "gender": "male" if actor % 2 else "female",
                             "emotion": emotion, "emotion_code": code, "clip_id": clip_id,
                             "variant": "clean"})
    return np.stack(arrays), pd.DataFrame(rows)


N_ACTORS, N_FEATURES = 12, 24


def make_functionals(seed: int = 0):
    """Functional-shaped rows whose emotion shifts a few columns, for 12 actors (6 F, 6 M)."""
    rng = np.random.default_rng(seed)
    rows, arrays = [], []
    for actor in range(1, N_ACTORS + 1):
        offset = rng.normal(0, 0.5, N_FEATURES)  # each speaker's own voice
        for code, emotion in enumerate(config.EMOTIONS, start=1):
            for take in range(2):
                vector = offset + rng.normal(0, 1.0, N_FEATURES)
                vector[code] += 2.5
                arrays.append(vector)
                rows.append({"actor": actor, "gender": "female" if actor % 2 == 0 else "male",
                             "emotion": emotion, "emotion_code": code,
                             "clip_id": f"{actor}-{code}-{take}"})
    return np.asarray(arrays, dtype=np.float32), pd.DataFrame(rows)
