"""The embedded default data: a generated stand-in for RAVDESS and UrbanSound8K.

The project runs end to end without downloading anything: :func:`ensure_standin` generates,
once, a synthetic corpus in the two datasets' own layouts under ``config.STANDIN_DIR``.

* ``ravdess/Actor_01..Actor_24/03-01-EE-II-SS-RR-AA.wav``: 1440 clips of eSpeak NG text-to-speech,
  exactly RAVDESS's combinations of emotion, intensity, statement, repetition and actor, as
  48 kHz 16-bit mono WAV with silence before and after the speech. Each actor has its own voice
  variant (male variants for odd actors, female for even ones); each emotion is a prosodic
  caricature (speaking rate, pitch, pitch range, loudness, pauses, a little tremolo for fear),
  exaggerated further at "strong" intensity.
* ``urbansound8k/metadata/UrbanSound8K.csv`` and ``urbansound8k/audio/fold1/*.wav``: three
  procedurally synthesised clips for each of the ten UrbanSound8K classes, 44.1 kHz 16-bit.

The corpus only exercises the pipeline. It is robot speech whose "emotions" are rules written
here, so accuracy on it says nothing about recognising emotion in human speech
(``data/README.md`` says more).

Generation is deterministic: the same seed gives byte-identical files on the same library
versions. It is built in a temporary sibling folder and renamed into place, so an interrupted
run never leaves a tree that looks complete.

This package re-exports the public names of its modules, one concern each:

``espeak``  the eSpeak NG binding (ctypes, a fresh library instance per utterance)
``speech``  speech rendering: actor voices, emotion styles, RAVDESS takes
``noise``   noise synthesis: the ten UrbanSound8K classes
``tree``    tree building: both layouts written atomically and once, the ``STANDIN.json`` marker
``pcm``     the sample conventions speech and noise share (RMS level, 16-bit rounding)
``errors``  :class:`CorpusError`

``python -m helpers.standin [--root DIR] [--seed N] [--workers N] [--force]`` generates it by hand.
"""

from __future__ import annotations

from helpers.standin import espeak, noise, pcm, speech, tree
from helpers.standin.errors import CorpusError
from helpers.standin.espeak import available_variants, espeak_version, synthesize_speech
from helpers.standin.noise import NOISE_CLASSES
from helpers.standin.speech import (ACTOR_VOICES, EMOTION_STYLES, HELD_OUT_VARIANTS, ActorVoice,
                                    EmotionStyle, Take, actor_voice, ravdess_takes, render_take)
from helpers.standin.tree import (GENERATOR_VERSION, MARKER_NAME, ensure_standin,
                                  generate_standin, read_marker)

__all__ = [
    "ACTOR_VOICES",
    "EMOTION_STYLES",
    "HELD_OUT_VARIANTS",
    "GENERATOR_VERSION",
    "MARKER_NAME",
    "NOISE_CLASSES",
    "ActorVoice",
    "Take",
    "CorpusError",
    "EmotionStyle",
    "actor_voice",
    "available_variants",
    "ensure_standin",
    "espeak_version",
    "generate_standin",
    "ravdess_takes",
    "read_marker",
    "render_take",
    "synthesize_speech",
]
