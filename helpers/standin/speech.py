"""Speech rendering: the stand-in's RAVDESS actors, emotion styles and takes, as 48 kHz clips.

Each of the 24 actors has an eSpeak NG voice variant (male for odd actors, female for even
ones, as in RAVDESS) and each emotion a prosodic caricature (:data:`EMOTION_STYLES`).
:func:`render_take` turns one RAVDESS file name (a :class:`Take`) into its clip, a pure function
of the take and the seed. Writing the clips into a tree is :mod:`helpers.standin.tree`'s work.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import soxr

from helpers import config
from helpers.errors import check_int, is_int
from helpers.standin import espeak, pcm
from helpers.standin.errors import CorpusError

SPEECH_SAMPLE_RATE = 48_000  # RAVDESS's rate
N_ACTORS = 24


# --------------------------------------------------------------------------------------------
# Voices and emotion styles
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ActorVoice:
    """How one stand-in actor sounds: an eSpeak NG voice variant plus a base pitch and rate.

    The variants already differ in formants and pitch; the per-actor pitch and rate offsets
    spread the actors further so no two share a neutral delivery.
    """

    actor: int
    variant: str  # a file name in espeak-ng-data/voices/!v/
    pitch: int  # eSpeak pitch parameter (0..100, 50 is the variant's own pitch)
    rate_wpm: int  # neutral speaking rate in words per minute

    @property
    def gender(self) -> str:
        """``"male"`` for odd actor numbers, ``"female"`` for even ones, as in RAVDESS."""
        return config.GENDERS[(self.actor + 1) % 2]


# Variants were chosen from their voice files and a measured median pitch (about 80-110 Hz for
# the male ones, 170-265 Hz for the female ones): adult voices of the right gender, without
# robot effects (long echo, ring modulation), and not clipping at eSpeak's default volume
# (antonio, Gene and steph2 do).
ACTOR_VOICES: tuple[ActorVoice, ...] = (
    ActorVoice(1, "m1", 52, 150), ActorVoice(2, "f1", 50, 160),
    ActorVoice(3, "m2", 46, 165), ActorVoice(4, "f2", 54, 145),
    ActorVoice(5, "m3", 50, 140), ActorVoice(6, "f3", 46, 170),
    ActorVoice(7, "m4", 56, 158), ActorVoice(8, "f4", 52, 150),
    ActorVoice(9, "m5", 44, 152), ActorVoice(10, "f5", 48, 142),
    ActorVoice(11, "m6", 54, 168), ActorVoice(12, "Alicia", 50, 155),
    ActorVoice(13, "m7", 48, 146), ActorVoice(14, "Andrea", 44, 165),
    ActorVoice(15, "m8", 58, 160), ActorVoice(16, "Annie", 56, 148),
    ActorVoice(17, "travis", 50, 170), ActorVoice(18, "anika", 46, 152),
    ActorVoice(19, "gustave", 42, 156), ActorVoice(20, "belinda", 52, 138),
    ActorVoice(21, "Michael", 46, 144), ActorVoice(22, "linda", 58, 162),
    ActorVoice(23, "quincy", 56, 162), ActorVoice(24, "steph", 50, 156),
)

# Plausible adult variants that no actor uses: a voice for an out-of-domain check
# (two male, two female).
HELD_OUT_VARIANTS: tuple[str, ...] = ("Mike", "Denis", "aunty", "shelby")


def actor_voice(actor: int) -> ActorVoice:
    """Return the voice of stand-in actor ``actor`` (1..24).

    Raises
    ------
    CorpusError
        If ``actor`` is not an integer in 1..24.
    """
    if not is_int(actor, minimum=1) or actor > N_ACTORS:
        raise CorpusError(f"actor={actor!r} must be an integer in 1..{N_ACTORS}")
    return ACTOR_VOICES[int(actor) - 1]


@dataclasses.dataclass(frozen=True)
class EmotionStyle:
    """One emotion's deviation from the actor's neutral delivery at "normal" intensity.

    "Strong" intensity multiplies every deviation by ``STRONG_FACTOR``. These are textbook
    caricatures (sad is slow, low, flat and quiet; angry is loud with a wide pitch range),
    not measurements of how people speak.
    """

    rate: float  # relative change of the speaking rate (-0.2 is 20 % slower)
    pitch: float  # change of eSpeak's pitch parameter (0..100 scale)
    pitch_range: float  # change of eSpeak's pitch-range parameter (0..100 scale)
    gain_db: float  # change of the speech level in dB
    word_gap: float  # extra pause between words, in units of 10 ms
    tremolo: float  # depth of a 5-6.5 Hz amplitude tremolo (0 = none)
    punctuation: str  # sentence end, which sets eSpeak's intonation contour


EMOTION_STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle(0.00, 0, 0, 0.0, 0, 0.00, "."),
    "calm": EmotionStyle(-0.10, -5, -18, -3.0, 1, 0.00, "."),
    "happy": EmotionStyle(0.10, 10, 20, 3.0, 0, 0.00, "!"),
    "sad": EmotionStyle(-0.20, -9, -22, -6.0, 3, 0.00, "."),
    "angry": EmotionStyle(0.08, 6, 22, 5.0, 0, 0.00, "!"),
    "fearful": EmotionStyle(0.18, 15, -12, -1.0, 0, 0.22, "."),
    "disgust": EmotionStyle(-0.18, -10, 12, 1.0, 5, 0.00, "."),
    "surprised": EmotionStyle(0.00, 18, 28, 3.0, 1, 0.00, "?"),
}
STRONG_FACTOR = 1.8

# Level of the neutral delivery (RMS of the speech segment), chosen so that the loudest style
# (angry, strong) still peaks below full scale.
NEUTRAL_LEVEL_DBFS = -28.0
NOISE_FLOOR_DBFS = -72.0  # a faint room tone: real recordings are never digital silence
ESPEAK_VOLUME = 70  # below eSpeak's default so its own output never clips; level is set later

# --------------------------------------------------------------------------------------------
# The RAVDESS-layout speech set
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Take:
    """One RAVDESS file: the varying fields of its name (modality 03 and channel 01 are fixed).

    Raises
    ------
    CorpusError
        If a field is outside RAVDESS's set (neutral has only normal intensity).
    """

    emotion: int  # 1..8, the index into config.EMOTIONS plus one
    intensity: int  # 1 normal, 2 strong
    statement: int  # 1 or 2, the key of config.STATEMENTS
    repetition: int  # 1 or 2
    actor: int  # 1..24

    def __post_init__(self) -> None:
        for name, low, high in (("emotion", 1, len(config.EMOTIONS)), ("intensity", 1, 2),
                                ("statement", 1, 2), ("repetition", 1, 2),
                                ("actor", 1, N_ACTORS)):
            value = getattr(self, name)
            if not is_int(value, minimum=low) or value > high:
                raise CorpusError(f"{name}={value!r} must be an integer in {low}..{high}")
        if self.emotion == 1 and self.intensity != 1:
            raise CorpusError(f"intensity={self.intensity} is not in RAVDESS for emotion=1 "
                              f"(neutral); expected 1")

    @property
    def file_name(self) -> str:
        return (f"03-01-{self.emotion:02d}-{self.intensity:02d}-{self.statement:02d}-"
                f"{self.repetition:02d}-{self.actor:02d}.wav")


def ravdess_takes(actor: int) -> list[Take]:
    """The 60 RAVDESS combinations of one actor: 8 emotions, 2 intensities (neutral only normal),
    2 statements, 2 repetitions.

    Raises
    ------
    CorpusError
        If ``actor`` is not in 1..24.
    """
    actor_voice(actor)  # validates the number
    return [Take(emotion, intensity, statement, repetition, int(actor))
            for emotion in range(1, len(config.EMOTIONS) + 1)
            for intensity in ((1,) if emotion == 1 else (1, 2))
            for statement in (1, 2)
            for repetition in (1, 2)]


def _take_rng(seed: int, take: Take) -> np.random.Generator:
    # The stream depends on the seed and every field of the name, so each file can be rebuilt
    # alone, in any order or process, and the two repetitions differ. The leading 1 separates
    # speech streams from noise streams.
    return np.random.default_rng([seed, 1, take.actor, take.emotion, take.intensity,
                                  take.statement, take.repetition])


def render_take(take: Take, *, seed: int = config.SEED) -> np.ndarray:
    """Synthesise one RAVDESS-style clip at 48 kHz.

    Parameters
    ----------
    take : Take
        Which file: emotion, intensity, statement, repetition and actor.
    seed : int
        Non-negative seed; with ``take`` it fixes the per-take jitter, so the result is
        the same in any process and order.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=int16]
        The clip: leading silence (0.3-0.8 s), speech, trailing silence, over a faint noise
        floor; 2.9-5.3 s in all.

    Raises
    ------
    CorpusError
        If ``take`` is not a :class:`Take` or ``seed`` is negative.
    """
    if not isinstance(take, Take):
        raise CorpusError(f"take={take!r} must be a Take")
    check_int(seed, name="seed", minimum=0, error=CorpusError)
    rng = _take_rng(seed, take)
    voice = actor_voice(take.actor)
    style = EMOTION_STYLES[config.EMOTIONS[take.emotion - 1]]
    scale = STRONG_FACTOR if take.intensity == 2 else 1.0

    # Jitter keeps repetitions apart; it is small next to the emotion deviations.
    rate = voice.rate_wpm * (1.0 + scale * style.rate) * rng.uniform(0.96, 1.04)
    pitch = voice.pitch + scale * style.pitch + rng.uniform(-3.0, 3.0)
    pitch_range = 50 + scale * style.pitch_range + rng.uniform(-5.0, 5.0)
    word_gap = scale * style.word_gap + rng.uniform(0.0, 1.0)
    level_dbfs = NEUTRAL_LEVEL_DBFS + scale * style.gain_db + rng.uniform(-1.0, 1.0)

    text = config.STATEMENTS[take.statement] + style.punctuation
    speech, rate_in = espeak.synthesize_speech(
        text, variant=voice.variant, rate_wpm=int(np.clip(round(rate), *espeak.RATE_RANGE)),
        pitch=int(np.clip(round(pitch), *espeak.PITCH_RANGE)),
        pitch_range=int(np.clip(round(pitch_range), *espeak.PITCH_RANGE)),
        volume=ESPEAK_VOLUME, word_gap=int(round(word_gap)))
    speech = _trim_silence(speech, sample_rate=rate_in)
    if style.tremolo > 0:
        t = np.arange(speech.size) / rate_in
        depth = min(scale * style.tremolo, 0.6)
        rate_hz = rng.uniform(5.0, 6.5)
        speech = speech * (1.0 - depth * 0.5 * (1.0 + np.sin(2 * np.pi * rate_hz * t)))
    speech = soxr.resample(speech.astype(np.float32), rate_in, SPEECH_SAMPLE_RATE, quality="HQ")
    speech *= 10 ** (level_dbfs / 20) / max(pcm.rms(speech), 1e-9)

    lead_s = rng.uniform(0.3, 0.8)
    trail_s = rng.uniform(0.6, 1.4)
    speech_s = speech.size / SPEECH_SAMPLE_RATE
    # Keep the total inside RAVDESS's range by lengthening or shortening the trailing silence.
    total_s = float(np.clip(lead_s + speech_s + trail_s, 2.9, 5.3))
    total_s = max(total_s, lead_s + speech_s + 0.25)
    n_total = int(round(total_s * SPEECH_SAMPLE_RATE))
    start = int(round(lead_s * SPEECH_SAMPLE_RATE))

    clip = rng.standard_normal(n_total) * 10 ** (NOISE_FLOOR_DBFS / 20)
    clip[start:start + speech.size] += speech
    peak = np.max(np.abs(clip))
    if peak > 0.99:  # never clip; only the loudest strong takes of a few voices reach this
        clip *= 0.99 / peak
    return pcm.to_int16(clip)


def _trim_silence(y: np.ndarray, *, sample_rate: int, threshold: float = 2e-3,
                  margin_s: float = 0.015) -> np.ndarray:
    """Cut eSpeak's own leading and trailing near-silence, keeping a short margin."""
    loud = np.flatnonzero(np.abs(y) > threshold)
    if loud.size == 0:
        return y
    margin = int(margin_s * sample_rate)
    return y[max(loud[0] - margin, 0):loud[-1] + margin + 1]
