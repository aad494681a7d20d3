"""Small builders the tests share, so that each exists once.

``tiny_cnn`` is the emotion CNN with two narrow blocks: the same code path as the real model
(:func:`helpers.models.build_emotion_cnn`) at a fraction of the cost. It is a module-level
function, so a builder recorded by its ``module.qualname`` (tuning's study settings, the model
cache key) names the same thing in every test and in ``sweep_worker.py``'s processes.
``paired_fold_table`` is a fusion study's fold table with hand-picked numbers, for the paired
comparisons (tests/test_evaluation.py) and the fusion table (tests/test_fusion.py).
``item_table`` is a RAVDESS-like item table (actor, gender, emotion, clip id, variant): the one
builder behind every test's generated corpus, each asking for the shape it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from helpers import config, models

#: Recordings per emotion of one RAVDESS speech actor: neutral has no strong intensity, so it
#: has 1 intensity x 2 statements x 2 repetitions, every other emotion 2 x 2 x 2.
RAVDESS_CLIPS = {emotion: 4 if emotion == "neutral" else 8 for emotion in config.EMOTIONS}


def ravdess_clip_id(actor: int, code: int, take: int) -> str:
    """The RAVDESS name of an actor's ``take``-th recording (from 0) of emotion ``code``.

    Takes count through intensity, statement and repetition in RAVDESS's order, so takes 0 and 1
    are the two repetitions of normal intensity, statement 1.
    """
    intensity, statement, repetition = take // 4 + 1, take // 2 % 2 + 1, take % 2 + 1
    return f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"


def _fill(template: str | Callable[[int, int, int], object], actor: int, code: int,
          take: int) -> object:
    if callable(template):
        return template(actor, code, take)
    return template.format(actor=actor, code=code, take=take)


def item_table(*, actors: Iterable[int] = range(1, 9),
               emotions: Sequence[str] = config.EMOTIONS,
               clips_per_emotion: int | Mapping[str, int] = 2,
               clips_per_actor: int | None = None,
               clip_id: str | Callable[[int, int, int], str] = "a{actor:02d}-e{code}-{take}",
               variants: Sequence[str] | None = ("clean",),
               extra: Mapping[str, str | Callable[[int, int, int], object]] | None = None,
               ) -> pd.DataFrame:
    """A RAVDESS-like item table: odd actors male, even female, one row per recording and variant.

    Rows run variant, actor, emotion, take (outermost first). Each actor records every emotion
    ``clips_per_emotion`` times (a number, or a number per emotion); with ``clips_per_actor``
    instead, each actor records that many clips and clip ``take`` of actor ``actor`` has emotion
    ``emotions[(actor + take) % len(emotions)]``, so the emotions rotate over the actors.
    ``clip_id`` and the values of ``extra`` (more columns) are format strings with the fields
    ``actor``, ``code`` (the emotion's code, from 1 in ``config.EMOTIONS``) and ``take`` (from 0),
    or functions of those three (an ``extra`` function may return any value, a number say).
    ``variants=None`` leaves out the variant column.
    """
    extra = dict(extra or {})
    rows = []
    for variant in (None,) if variants is None else variants:
        for actor in actors:
            if clips_per_actor is None:
                counts = (clips_per_emotion if isinstance(clips_per_emotion, Mapping)
                          else dict.fromkeys(emotions, clips_per_emotion))
                recordings = [(emotion, take) for emotion in emotions
                              for take in range(counts[emotion])]
            else:
                recordings = [(emotions[(actor + take) % len(emotions)], take)
                              for take in range(clips_per_actor)]
            for emotion, take in recordings:
                code = config.EMOTIONS.index(emotion) + 1
                row = {"actor": actor, "gender": "male" if actor % 2 else "female",
                       "emotion": emotion, "emotion_code": code,
                       "clip_id": _fill(clip_id, actor, code, take)}
                if variant is not None:
                    row["variant"] = variant
                row.update({name: _fill(value, actor, code, take) for name, value in extra.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def tiny_cnn(input_shape, *, normalization=None, seed=0, dropout_rate=0.25,
             learning_rate=0.002):
    """The emotion CNN with two narrow blocks: the same code path, a fraction of the cost."""
    return models.build_emotion_cnn(input_shape, filters=(4, 8), dense_units=16,
                                    dropout_rate=dropout_rate, learning_rate=learning_rate,
                                    normalization=normalization, seed=seed)


#: Set by a test to a folder, it makes :func:`tiny_cnn_meeting_a_worker` wait for a worker.
WORKER_MEETING_ENV = "SER_TEST_WORKER_MEETING"
#: Set beside it, a worker's build fails once it has been seen (``"exit"``: the worker dies).
WORKER_FAILS_ENV = "SER_TEST_WORKER_FAILS"


def tiny_cnn_meeting_a_worker(input_shape, **kwargs):
    """``tiny_cnn``; with :data:`WORKER_MEETING_ENV` set to a folder, the parent's builds wait there
    until a worker process (:mod:`helpers.parallel`) has begun a build of its own.

    So a test of a shared sweep knows that the worker trained (or, with :data:`WORKER_FAILS_ENV`,
    failed) a trial, however slowly it started: a tiny sweep would otherwise be over before a
    spawned process has imported TensorFlow. :data:`WORKER_FAILS_ENV` set to ``"exit"``: the
    worker dies in its build instead (as if killed: no report, its trial left running).
    """
    import multiprocessing
    import os
    import time
    from pathlib import Path

    folder = os.environ.get(WORKER_MEETING_ENV)
    if folder:
        seen = Path(folder) / "worker-built"
        if multiprocessing.parent_process() is not None:  # a spawned worker
            seen.touch()
            if os.environ.get(WORKER_FAILS_ENV) == "exit":
                os._exit(3)
            if os.environ.get(WORKER_FAILS_ENV):
                raise RuntimeError("the worker's build fails, as the test asked")
        else:
            deadline = time.monotonic() + 300
            while not seen.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker began a build within 300 s ({seen})")
                time.sleep(0.05)
    return tiny_cnn(input_shape, **kwargs)


def functionals_model_failing_in_a_worker(input_shape, **kwargs):
    """``ours``' model (:func:`helpers.models.build_functionals_mlp`), whose build fails in a
    spawned worker process (:mod:`helpers.parallel`) while :data:`WORKER_FAILS_ENV` is set: a
    parallel search's test of a worker that fails on its first trial. Set to ``"exit"``, the
    worker dies at once instead (as if killed: no report, its trial left running)."""
    import multiprocessing
    import os

    how = os.environ.get(WORKER_FAILS_ENV)
    if how and multiprocessing.parent_process() is not None:
        if how == "exit":
            os._exit(3)
        raise RuntimeError("the worker's build fails, as the test asked")
    return models.build_functionals_mlp(input_shape, **kwargs)


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
