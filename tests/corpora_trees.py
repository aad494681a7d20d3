"""Tiny generated trees of the other emotion corpora (EmoDB, TESS, SAVEE, CREMA-D).

Like conftest's RAVDESS tree: short tone-plus-noise clips named by each corpus's own convention,
each clip's content seeded by its file name. The default trees hold one clip per speaker and
class (EmoDB's boredom included, so the dropped count can be checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conftest import write_clip

RATES = {"emodb": 16_000, "tess": 24_414, "savee": 44_100, "crema-d": 16_000}


def emodb_names(*, speakers: Sequence[str] = ("03", "08"), letters: str = "WLEAFTN") -> list[str]:
    """``SSTTTEV.wav`` names: every speaker says text a01 in every emotion letter, version a."""
    return [f"{speaker}a01{letter}a.wav" for speaker in speakers for letter in letters]


def tess_names(*, speakers: Sequence[str] = ("OAF", "YAF"),
               emotions: Sequence[str] = ("angry", "disgust", "fear", "happy", "neutral", "ps", "sad")) -> list[str]:
    """``SPEAKER_WORD_EMOTION.wav`` names in the upstream ``SPEAKER_emotion/`` folders."""
    return [f"{speaker}_{'pleasant_surprise' if emotion == 'ps' else emotion}/{speaker}_back_{emotion}.wav"
            for speaker in speakers for emotion in emotions]


def savee_names(*, speakers: Sequence[str] = ("DC", "KL"),
                codes: Sequence[str] = ("a", "d", "f", "h", "n", "sa", "su")) -> list[str]:
    """``AudioData/SPEAKER/CODE01.wav`` names, the upstream layout."""
    return [f"AudioData/{speaker}/{code}01.wav" for speaker in speakers for code in codes]


def crema_d_names(*, actors: Sequence[int] = (1001, 1002),
                  codes: Sequence[str] = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")) -> list[str]:
    """``AudioWAV/ACTOR_DFA_EMOTION_XX.wav`` names."""
    return [f"AudioWAV/{actor}_DFA_{code}_XX.wav" for actor in actors for code in codes]


NAMERS = {"emodb": emodb_names, "tess": tess_names, "savee": savee_names, "crema-d": crema_d_names}


def make_corpus_tree(root: str | Path, corpus: str, *, names: Sequence[str] | None = None,
                     duration_s: float = 0.6) -> list[Path]:
    """Write a tiny tree of ``corpus`` (default names: :data:`NAMERS`) and return its paths."""
    root = Path(root)
    names = NAMERS[corpus]() if names is None else names
    return sorted(write_clip(root / name, sample_rate=RATES[corpus], duration_s=duration_s)
                  for name in names)
