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
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import functools
import multiprocessing
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import soxr
from scipy import signal

from helpers import config, io
from helpers.errors import ProjectError, check_int, is_int

__all__ = [
    "ACTOR_VOICES",
    "EMOTION_STYLES",
    "HELD_OUT_VARIANTS",
    "GENERATOR_VERSION",
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

# Bump whenever a change alters the generated files, so that existing trees are regenerated.
GENERATOR_VERSION = 1
MARKER_NAME = "STANDIN.json"

SPEECH_SAMPLE_RATE = 48_000  # RAVDESS's rate
NOISE_SAMPLE_RATE = 44_100  # the most common rate in UrbanSound8K
N_ACTORS = 24
NOISE_CLIPS_PER_CLASS = 3

US8K_COLUMNS: tuple[str, ...] = (
    "slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class",
)
NOISE_CLASSES: tuple[str, ...] = (
    "air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
    "engine_idling", "gun_shot", "jackhammer", "siren", "street_music",
)

# eSpeak NG's own parameter ranges (speak_lib.h); values outside them are clamped silently by
# the library, so they are checked here instead.
RATE_RANGE = (80, 450)
PITCH_RANGE = (0, 100)
VOLUME_RANGE = (0, 200)


class CorpusError(ProjectError):
    """The stand-in corpus cannot be generated or a synthesis argument is out of range."""


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
# eSpeak NG through ctypes
# --------------------------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on missing data
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 2, 3, 4, 7
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


class _Espeak:
    """A freshly loaded, initialised eSpeak NG instance, for one utterance.

    eSpeak keeps state between utterances that no API call resets (the phase of its pitch
    flutter, a glottal-cycle counter, an automatic gain), so in a long-lived instance a clip
    depends on everything said before it. Loading a private copy of the library for every
    utterance and unloading it afterwards (a few milliseconds, mostly eSpeak reading its voice
    list) makes each call a pure function of its arguments: the corpus is then byte-identical
    whatever the order, subset or process.
    """

    def __init__(self, library: Path, data_path: Path) -> None:
        self.lib = ctypes.CDLL(str(library))
        try:
            self._initialize(data_path)
        except BaseException:
            # A half-initialised instance left loaded would share its state with the next load.
            _unload_library(self.lib._handle)
            raise

    def _initialize(self, data_path: Path) -> None:
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Terminate.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                                 str(data_path).encode(), _INITIALIZE_DONT_EXIT)
        if self.sample_rate <= 0:
            raise CorpusError(f"eSpeak NG failed to initialise with data at {data_path} "
                              f"(code {self.sample_rate})")
        self.version = lib.espeak_Info(None).decode()
        # Initialisation seeds eSpeak's noise generator from the clock, and breathy variants
        # also draw on the C library's rand(): fix both so that breath noise repeats.
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # eSpeak NG >= 1.51
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(0)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).srand(ctypes.c_uint(0))
        self._chunks: list[bytes] = []
        # The callback object must stay referenced for as long as the library may call it.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n_samples: int, events) -> int:
        if n_samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, n_samples * 2))
        return 0  # 0 asks eSpeak to continue

    def synthesize(self, text: str, voice_name: str, parameters: dict[int, int]) -> np.ndarray:
        code = self.lib.espeak_SetVoiceByName(voice_name.encode())
        if code != 0:
            raise CorpusError(f"voice={voice_name!r} is not an eSpeak NG voice (error code "
                              f"{code}); expected a language voice such as 'en-us'")
        for parameter, value in parameters.items():
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        code = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if code != 0:
            raise CorpusError(f"eSpeak NG failed to synthesise text={text!r} (error code {code})")
        return np.frombuffer(b"".join(self._chunks), dtype=np.int16)

    def close(self) -> None:
        self.lib.espeak_Terminate()
        handle = self.lib._handle
        del self.lib
        _unload_library(handle)


def _unload_library(handle: int) -> None:
    import _ctypes

    unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")
    unload(handle)


_ESPEAK_LOCK = threading.Lock()  # one loaded instance at a time: loads of one path share state
_PRIVATE_LIBRARY: Path | None = None


def _private_library() -> Path:
    """A copy of the eSpeak NG library that nothing else in the process has loaded.

    If another package had loaded the wheel's library, unloading ours would not unload it and
    its state would survive between utterances; a private copy is unloaded for certain.
    """
    global _PRIVATE_LIBRARY
    if _PRIVATE_LIBRARY is None or not _PRIVATE_LIBRARY.is_file():
        import espeakng_loader

        source = Path(espeakng_loader.get_library_path())
        if not source.is_file():
            raise CorpusError(f"the eSpeak NG library {source} from espeakng-loader is missing; "
                              f"reinstall espeakng-loader")
        folder = Path(tempfile.mkdtemp(prefix="ser-espeak-"))
        target = folder / f"private-{source.name}"
        shutil.copyfile(source, target)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _PRIVATE_LIBRARY = target
    return _PRIVATE_LIBRARY


@contextlib.contextmanager
def _fresh_espeak() -> Iterator[_Espeak]:
    """Load, initialise, yield and unload one eSpeak NG instance."""
    import espeakng_loader

    with _ESPEAK_LOCK:
        try:
            engine = _Espeak(_private_library(), Path(espeakng_loader.get_data_path()))
        except OSError as error:
            raise CorpusError(f"cannot load the eSpeak NG library: {error}") from error
        try:
            yield engine
        finally:
            engine.close()


def espeak_version() -> str:
    """Version string of the eSpeak NG library in use, e.g. ``"1.52.0"``."""
    with _fresh_espeak() as engine:
        return engine.version


@functools.lru_cache(maxsize=1)
def available_variants() -> tuple[str, ...]:
    """Names of the voice variants in eSpeak NG's data folder (``voices/!v/``), sorted."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return tuple(sorted(path.name for path in folder.iterdir() if path.is_file()))


def synthesize_speech(text: str, *, voice: str = "en-us", variant: str | None = None,
                      rate_wpm: int = 160, pitch: int = 50, pitch_range: int = 50,
                      volume: int = 100, word_gap: int = 0) -> tuple[np.ndarray, int]:
    """Speak ``text`` with eSpeak NG and return the samples.

    Parameters
    ----------
    text : str
        What to say; punctuation shapes the intonation (``?`` rises, ``!`` is emphatic).
    voice : str
        eSpeak NG language voice, e.g. ``"en-us"`` or ``"en-gb"``.
    variant : str or None
        Voice variant from :func:`available_variants` (e.g. ``"m3"``, ``"f2"``); the corpus's
        are in ``ACTOR_VOICES``, unused ones in ``HELD_OUT_VARIANTS``. None keeps the voice's own.
    rate_wpm : int
        Speaking rate in words per minute, 80..450.
    pitch, pitch_range : int
        Base pitch and pitch range on eSpeak's 0..100 scale (50 is the voice's default).
    volume : int
        Amplitude, 0..200 (100 is the default; above ~130 eSpeak's output may clip).
    word_gap : int
        Extra pause between words in units of 10 ms, 0 or more.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1], including eSpeak's own short silences at both ends. The same
        arguments give the same samples (each call loads a fresh eSpeak instance).
    sample_rate : int
        The synthesiser's rate (22050 Hz).

    Raises
    ------
    CorpusError
        If ``text`` is empty, ``voice`` or ``variant`` is unknown, or a number is out of range.
    """
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"text={text!r} must be a non-empty string")
    if not isinstance(voice, str) or not voice or "+" in voice:
        raise CorpusError(f"voice={voice!r} must be a language voice name such as 'en-us' "
                          f"(pass the variant separately)")
    if variant is not None and variant not in available_variants():
        raise CorpusError(f"variant={variant!r} is not an eSpeak NG voice variant; expected one "
                          f"of {', '.join(available_variants())}")
    for name, value, (low, high) in (("rate_wpm", rate_wpm, RATE_RANGE),
                                     ("pitch", pitch, PITCH_RANGE),
                                     ("pitch_range", pitch_range, PITCH_RANGE),
                                     ("volume", volume, VOLUME_RANGE)):
        if not is_int(value, minimum=low) or value > high:
            raise CorpusError(f"{name}={value!r} must be an integer in {low}..{high}")
    if not is_int(word_gap, minimum=0):
        raise CorpusError(f"word_gap={word_gap!r} must be an integer >= 0 (units of 10 ms)")

    voice_name = f"{voice}+{variant}" if variant else voice
    parameters = {_PARAM_RATE: rate_wpm, _PARAM_VOLUME: volume, _PARAM_PITCH: pitch,
                  _PARAM_RANGE: pitch_range, _PARAM_WORDGAP: word_gap}
    with _fresh_espeak() as engine:
        samples = engine.synthesize(text, voice_name, parameters)
        sample_rate = engine.sample_rate
    if samples.size == 0:
        raise CorpusError(f"eSpeak NG produced no audio for text={text!r} "
                          f"with voice={voice_name!r}")
    return samples.astype(np.float32) / np.float32(32768.0), sample_rate


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
    speech, rate_in = synthesize_speech(
        text, variant=voice.variant, rate_wpm=int(np.clip(round(rate), *RATE_RANGE)),
        pitch=int(np.clip(round(pitch), *PITCH_RANGE)),
        pitch_range=int(np.clip(round(pitch_range), *PITCH_RANGE)),
        volume=ESPEAK_VOLUME, word_gap=int(round(word_gap)))
    speech = _trim_silence(speech, sample_rate=rate_in)
    if style.tremolo > 0:
        t = np.arange(speech.size) / rate_in
        depth = min(scale * style.tremolo, 0.6)
        rate_hz = rng.uniform(5.0, 6.5)
        speech = speech * (1.0 - depth * 0.5 * (1.0 + np.sin(2 * np.pi * rate_hz * t)))
    speech = soxr.resample(speech.astype(np.float32), rate_in, SPEECH_SAMPLE_RATE, quality="HQ")
    speech *= 10 ** (level_dbfs / 20) / max(_rms(speech), 1e-9)

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
    return _to_int16(clip)


def _trim_silence(y: np.ndarray, *, sample_rate: int, threshold: float = 2e-3,
                  margin_s: float = 0.015) -> np.ndarray:
    """Cut eSpeak's own leading and trailing near-silence, keeping a short margin."""
    loud = np.flatnonzero(np.abs(y) > threshold)
    if loud.size == 0:
        return y
    margin = int(margin_s * sample_rate)
    return y[max(loud[0] - margin, 0):loud[-1] + margin + 1]


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def _to_int16(y: np.ndarray) -> np.ndarray:
    # Rounding here (instead of leaving it to libsndfile) pins the exact bytes written.
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)


def _write_actor(folder: str, actor: int, seed: int) -> int:
    """Render and write the 60 clips of one actor into ``folder``; runs in a worker process."""
    actor_dir = Path(folder) / f"Actor_{actor:02d}"
    actor_dir.mkdir(parents=True, exist_ok=True)
    takes = ravdess_takes(actor)
    for take in takes:
        sf.write(actor_dir / take.file_name, render_take(take, seed=seed), SPEECH_SAMPLE_RATE,
                 subtype="PCM_16", format="WAV")
    return len(takes)


# --------------------------------------------------------------------------------------------
# The UrbanSound8K-layout noise set
# --------------------------------------------------------------------------------------------

def _colored_noise(rng: np.random.Generator, n: int, *, exponent: float) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    y = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return y / max(_rms(y), 1e-12)


def _band(y: np.ndarray, low: float | None, high: float | None, *, sr: int,
          order: int = 4) -> np.ndarray:
    """Butterworth band-, low- or high-pass filter (zero phase)."""
    if low and high:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=sr, output="sos")
    elif low:
        sos = signal.butter(order, low, btype="highpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, high, btype="lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, y)


def _harmonics(freq: np.ndarray, *, sr: int, n_harmonics: int, tilt: float = 1.0) -> np.ndarray:
    """Sum of harmonics of a time-varying frequency, amplitude 1/k**tilt, below Nyquist."""
    phase = 2 * np.pi * np.cumsum(freq) / sr
    y = np.zeros_like(freq)
    for k in range(1, n_harmonics + 1):
        audible = (k * freq) < sr / 2
        y += audible * np.sin(k * phase) / k ** tilt
    return y


def _envelope(n: int, starts: Sequence[int], lengths: Sequence[int], *, sr: int,
              attack_s: float = 0.01, release_s: float = 0.03) -> np.ndarray:
    """Sum of trapezoid envelopes (on/off segments with short ramps)."""
    env = np.zeros(n)
    for start, length in zip(starts, lengths):
        stop = min(start + length, n)
        if stop <= start:
            continue
        segment = np.ones(stop - start)
        attack = min(int(attack_s * sr), segment.size // 2)
        release = min(int(release_s * sr), segment.size // 2)
        if attack:
            segment[:attack] = np.linspace(0, 1, attack)
        if release:
            segment[-release:] = np.linspace(1, 0, release)
        env[start:stop] = np.maximum(env[start:stop], segment)
    return env


def _decay(n: int, tau_s: float, *, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau_s * sr))


def _air_conditioner(rng, n, sr):
    t = np.arange(n) / sr
    rumble = _band(_colored_noise(rng, n, exponent=1.5), None, 2500, sr=sr)
    mains = rng.choice([50.0, 60.0])
    hum = sum(np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) / k
              for k in (1, 2, 3, 4))
    blade = 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(8, 20) * t)  # fan blade pass
    return rumble * blade + 0.3 * hum


def _car_horn(rng, n, sr):
    f0 = rng.uniform(380, 480)
    tones = np.full(n, f0)
    # Two tones a major third apart, as in most real car horns.
    horn = _harmonics(tones, sr=sr, n_harmonics=12, tilt=0.7) \
        + _harmonics(tones * 1.26, sr=sr, n_harmonics=12, tilt=0.7)
    n_honks = int(rng.integers(1, 4))
    starts = np.sort(rng.integers(int(0.05 * sr), int(0.6 * n), n_honks))
    lengths = rng.integers(int(0.25 * sr), int(1.0 * sr), n_honks)
    traffic = _band(_colored_noise(rng, n, exponent=1.0), None, 3000, sr=sr)
    return horn * _envelope(n, starts, lengths, sr=sr) + 0.05 * traffic


def _children_playing(rng, n, sr):
    t = np.arange(n) / sr
    y = 0.4 * _band(_colored_noise(rng, n, exponent=1.0), 300, 3500, sr=sr)  # distant babble
    for _ in range(int(rng.integers(3, 6))):
        # A child's voice: high f0 that glides, syllables at 3-6 per second, a formant band.
        f0 = rng.uniform(260, 420) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t
                                                         + rng.uniform(0, 2 * np.pi)))
        voice = _band(_harmonics(f0, sr=sr, n_harmonics=14, tilt=1.0), 400, rng.uniform(2500, 4500),
                      sr=sr, order=2)
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)), 0, None)
        phrase = _envelope(n, [int(rng.integers(0, n // 2))], [int(rng.integers(n // 4, n))],
                           sr=sr, attack_s=0.1, release_s=0.2)
        y += rng.uniform(0.4, 1.0) * voice * syllables * phrase
    return y


def _dog_bark(rng, n, sr):
    y = 0.02 * _colored_noise(rng, n, exponent=1.0)
    position = int(rng.uniform(0.05, 0.3) * sr)
    for _ in range(int(rng.integers(2, 5))):
        length = int(rng.uniform(0.12, 0.25) * sr)
        if position + length >= n:
            break
        # A bark: a fast falling pitch with a noisy, bright onset.
        f0 = np.linspace(rng.uniform(550, 750), rng.uniform(280, 380), length)
        tone = _harmonics(f0, sr=sr, n_harmonics=10, tilt=0.8)
        rasp = _band(rng.standard_normal(length), 500, 3000, sr=sr, order=2)
        env = _envelope(length, [0], [length], sr=sr, attack_s=0.005, release_s=0.08) \
            * _decay(length, 0.12, sr=sr)
        y[position:position + length] += (tone + 0.6 * rasp) * env
        position += length + int(rng.uniform(0.2, 0.6) * sr)
    return y


def _drilling(rng, n, sr):
    t = np.arange(n) / sr
    motor = rng.uniform(180, 320) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t))
    whine = _harmonics(motor, sr=sr, n_harmonics=30, tilt=0.5)
    grind = _band(rng.standard_normal(n), 2000, 7000, sr=sr)
    n_runs = int(rng.integers(1, 3))
    starts = np.sort(rng.integers(0, n // 2, n_runs))
    lengths = rng.integers(n // 3, n, n_runs)
    return (whine + 0.5 * grind) * _envelope(n, starts, lengths, sr=sr, attack_s=0.15,
                                             release_s=0.2)


def _engine_idling(rng, n, sr):
    firing = rng.uniform(22, 38)  # ignition pulses per second at idle
    period = sr / firing
    y = np.zeros(n)
    pulse_len = int(0.04 * sr)
    pulse = _band(rng.standard_normal(pulse_len), None, 600, sr=sr, order=2) \
        * _decay(pulse_len, 0.008, sr=sr) \
        * _envelope(pulse_len, [0], [pulse_len], sr=sr, attack_s=0.002, release_s=0.005)
    position = 0.0
    while position < n - pulse_len:
        start = int(position)
        y[start:start + pulse_len] += pulse * rng.uniform(0.7, 1.0)
        position += period * rng.uniform(0.95, 1.05)  # idling engines are not quite regular
    rumble = _band(_colored_noise(rng, n, exponent=2.0), None, 400, sr=sr)
    return y / max(_rms(y), 1e-12) + 0.3 * rumble


def _gun_shot(rng, n, sr):
    y = 0.005 * _colored_noise(rng, n, exponent=1.0)
    tail = int(0.6 * sr)
    reverb = rng.standard_normal(tail) * _decay(tail, rng.uniform(0.08, 0.2), sr=sr)
    for _ in range(int(rng.integers(1, 4))):
        start = int(rng.uniform(0.05, 0.6) * n)
        length = min(int(0.25 * sr), n - start)
        crack = rng.standard_normal(length) * _decay(length, rng.uniform(0.01, 0.03), sr=sr)
        boom = _band(rng.standard_normal(length), None, 300, sr=sr, order=2) \
            * _decay(length, 0.06, sr=sr)
        shot = np.zeros(n)
        shot[start:start + length] = crack + 2.0 * boom
        y += shot + 0.05 * signal.fftconvolve(shot, reverb)[:n]
    return y


def _jackhammer(rng, n, sr):
    rate = rng.uniform(18, 28)  # blows per second
    hit_len = int(0.03 * sr)
    ring_t = np.arange(hit_len) / sr
    ring_freqs = rng.uniform([900, 2300, 3900], [1400, 2900, 4700])  # inharmonic, like steel
    ring = sum(np.sin(2 * np.pi * f * ring_t) for f in ring_freqs)
    hit = (rng.standard_normal(hit_len) + 0.8 * ring) * _decay(hit_len, 0.006, sr=sr)
    y = np.zeros(n)
    for start in np.arange(0, n - hit_len, sr / rate).astype(int):
        y[start:start + hit_len] += hit * rng.uniform(0.7, 1.0)
    n_runs = int(rng.integers(1, 3))
    starts = np.sort(rng.integers(0, n // 2, n_runs))
    lengths = rng.integers(int(0.8 * sr), n, n_runs)
    compressor = _band(_colored_noise(rng, n, exponent=1.5), None, 800, sr=sr)
    return y * _envelope(n, starts, lengths, sr=sr, attack_s=0.02, release_s=0.05) \
        + 0.15 * compressor


def _siren(rng, n, sr):
    t = np.arange(n) / sr
    if rng.random() < 0.5:  # wail: a slow sweep
        sweep = np.sin(2 * np.pi * t / rng.uniform(2.5, 4.5) + rng.uniform(0, 2 * np.pi))
        freq = rng.uniform(900, 1100) + rng.uniform(300, 450) * sweep
    else:  # yelp: a fast sweep
        sweep = np.sin(2 * np.pi * t / rng.uniform(0.25, 0.4))
        freq = rng.uniform(1000, 1200) + rng.uniform(350, 500) * sweep
    tone = _harmonics(freq, sr=sr, n_harmonics=5, tilt=1.2)
    approach = np.linspace(rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0), n)  # passing vehicle
    traffic = _band(_colored_noise(rng, n, exponent=1.0), None, 2000, sr=sr)
    return tone * approach + 0.1 * traffic


def _street_music(rng, n, sr):
    beat = 60.0 / rng.uniform(90, 130)
    scale = rng.uniform(196, 262) * 2 ** (np.array([0, 2, 4, 7, 9, 12]) / 12)  # pentatonic
    y = 0.05 * _band(_colored_noise(rng, n, exponent=1.0), 200, 4000, sr=sr)  # street around
    note_len = int(beat * sr)
    note_t = np.arange(note_len) / sr
    kick_t = np.arange(int(0.15 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(np.linspace(150, 50, kick_t.size)) / sr) \
        * _decay(kick_t.size, 0.05, sr=sr)
    hat_len = int(0.05 * sr)
    for index, start in enumerate(np.arange(0, n - note_len, note_len // 2).astype(int)):
        if index % 2 == 0:  # a plucked note on every beat
            freq = np.full(note_len, rng.choice(scale))
            note = _harmonics(freq, sr=sr, n_harmonics=8, tilt=1.3) * np.exp(-note_t / 0.35) \
                * _envelope(note_len, [0], [note_len], sr=sr, attack_s=0.002, release_s=0.02)
            y[start:start + note_len] += 0.6 * note
            if index % 4 == 0:
                y[start:start + kick.size] += kick
        else:  # a hi-hat between beats
            hat = _band(rng.standard_normal(hat_len), 6000, None, sr=sr, order=2)
            y[start:start + hat_len] += 0.3 * hat * _decay(hat_len, 0.01, sr=sr)
    return y


_NOISE_MAKERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "air_conditioner": _air_conditioner, "car_horn": _car_horn,
    "children_playing": _children_playing, "dog_bark": _dog_bark, "drilling": _drilling,
    "engine_idling": _engine_idling, "gun_shot": _gun_shot, "jackhammer": _jackhammer,
    "siren": _siren, "street_music": _street_music,
}
# Short events are often short clips in UrbanSound8K; the others are mostly full 4 s slices.
_NOISE_DURATIONS_S: dict[str, tuple[float, float]] = {
    "car_horn": (1.2, 4.0), "dog_bark": (1.5, 4.0), "gun_shot": (0.8, 2.5),
}


def _render_noise(class_id: int, index: int, *, seed: int) -> np.ndarray:
    """Synthesise clip ``index`` of class ``class_id``.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (n, 2), dtype=int16]
        The clip at ``NOISE_SAMPLE_RATE``; the last clip of each class is stereo.
    """
    rng = np.random.default_rng([seed, 2, class_id, index])
    name = NOISE_CLASSES[class_id]
    low, high = _NOISE_DURATIONS_S.get(name, (4.0, 4.0))
    duration_s = round(float(rng.uniform(low, high)), 3) if high > low else high
    n = int(round(duration_s * NOISE_SAMPLE_RATE))
    y = _NOISE_MAKERS[name](rng, n, NOISE_SAMPLE_RATE)
    # Short ramps at the ends, so that tiling a clip to a longer length does not click.
    ramp = min(int(0.01 * NOISE_SAMPLE_RATE), n // 4)
    y[:ramp] *= np.linspace(0, 1, ramp)
    y[-ramp:] *= np.linspace(1, 0, ramp)
    y *= 10 ** (rng.uniform(-26, -18) / 20) / max(_rms(y), 1e-12)
    if index == NOISE_CLIPS_PER_CLASS - 1:
        # A share of UrbanSound8K is stereo: the right channel here is slightly delayed and
        # quieter, like a second microphone, so code that mixes to mono has something to do.
        delay = int(rng.integers(5, 40))
        right = np.concatenate([np.zeros(delay), y[:-delay]]) * rng.uniform(0.7, 0.95)
        y = np.stack([y, right], axis=1)
    peak = np.max(np.abs(y))
    if peak > 0.95:
        y *= 0.95 / peak
    return _to_int16(y)


def _write_noise_set(folder: Path, *, seed: int) -> int:
    """Write ``audio/fold1/*.wav`` and ``metadata/UrbanSound8K.csv``; return the clip count."""
    audio_dir = folder / "audio" / "fold1"
    audio_dir.mkdir(parents=True)
    (folder / "metadata").mkdir()
    rows = []
    for class_id, class_name in enumerate(NOISE_CLASSES):
        rng = np.random.default_rng([seed, 3, class_id])
        # As in the real set, several slices can come from one freesound recording (one fsID,
        # slice numbers counting up, start times increasing): here the first two of a class.
        fs_ids = rng.choice(np.arange(10_000, 200_000), 2, replace=False)
        saliences = rng.integers(1, 3, size=2)  # 1 foreground, 2 background, per recording
        start = 0.0
        for index in range(NOISE_CLIPS_PER_CLASS):
            clip = _render_noise(class_id, index, seed=seed)
            recording = 0 if index < 2 else 1
            slice_id = index if recording == 0 else 0
            if slice_id == 0:
                start = float(rng.uniform(0, 90))
            name = f"{int(fs_ids[recording])}-{class_id}-0-{slice_id}.wav"
            sf.write(audio_dir / name, clip, NOISE_SAMPLE_RATE, subtype="PCM_16", format="WAV")
            end = start + clip.shape[0] / NOISE_SAMPLE_RATE
            rows.append({"slice_file_name": name, "fsID": int(fs_ids[recording]),
                         "start": round(start, 6), "end": round(end, 6),
                         "salience": int(saliences[recording]), "fold": 1,
                         "classID": class_id, "class": class_name})
            start = end + float(rng.uniform(0.0, 2.0))
    table = pd.DataFrame(rows, columns=list(US8K_COLUMNS))
    table.to_csv(folder / "metadata" / "UrbanSound8K.csv", index=False)
    return len(rows)


# --------------------------------------------------------------------------------------------
# Generation, atomically and once
# --------------------------------------------------------------------------------------------

def generate_standin(root: Path = config.STANDIN_DIR, *, seed: int = config.SEED,
                     force: bool = False, actors: Sequence[int] | None = None,
                     workers: int = 1) -> Path:
    """Generate the stand-in corpus into ``root/ravdess/`` and ``root/urbansound8k/``.

    The tree is built in a temporary sibling folder and renamed into place, with the marker
    ``root/STANDIN.json`` (generator version, seed, actors, file counts) written last. If a
    complete tree with the same version, seed and actors is already there, nothing is done.

    Parameters
    ----------
    root : path-like
        Destination folder; it may be missing, empty, or an earlier stand-in tree.
    seed : int
        Non-negative seed; the same seed gives byte-identical files.
    force : bool
        Regenerate even if a matching complete tree exists.
    actors : sequence of int or None
        Actor numbers to generate (default all 24). A subset is for tests and quick looks; its
        marker records the subset, so a later full request regenerates.
    workers : int
        Worker processes. 1 (the default) renders in this process: 20-25 s for the full
        corpus on a 2-core machine. More start spawned processes (each loads its own eSpeak),
        which in a script needs the usual ``if __name__ == "__main__":`` guard; they help
        only on idle cores. The files do not depend on it.

    Returns
    -------
    root : Path

    Raises
    ------
    CorpusError
        If an argument is out of range, or ``root`` holds something that is not a stand-in tree
        (it is never deleted then).
    """
    root = Path(root).expanduser().resolve()
    check_int(seed, name="seed", minimum=0, error=CorpusError)
    actor_list = _check_actors(actors)
    check_int(workers, name="workers", minimum=1, error=CorpusError)

    root.parent.mkdir(parents=True, exist_ok=True)
    with _generation_lock(root):
        if not force and _is_complete(root, seed=seed, actors=actor_list):
            return root
        if root.exists() and (not root.is_dir() or (not (root / MARKER_NAME).is_file()
                                                    and any(root.iterdir()))):
            raise CorpusError(f"root={root} exists and is not a stand-in corpus (no "
                              f"{MARKER_NAME}); refusing to replace it: pass an empty or new "
                              f"folder")
        _remove_stale_builds(root)
        build = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
        build.chmod(0o755)  # mkdtemp makes it private; the corpus is ordinary readable data
        try:
            n_speech = _write_corpus(build, actors=actor_list, seed=seed, workers=int(workers))
            n_noise = len(NOISE_CLASSES) * NOISE_CLIPS_PER_CLASS
            io.write_json(build / MARKER_NAME, _marker(seed=seed, actors=actor_list,
                                                       n_speech=n_speech, n_noise=n_noise))
            _swap_into_place(build, root)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return root


def ensure_standin(root: Path = config.STANDIN_DIR, *,
                   seed: int = config.SEED) -> tuple[Path, Path]:
    """Return the stand-in's RAVDESS and noise roots, generating the corpus first if needed.

    Returns
    -------
    ravdess_root, noise_root : Path
        ``root/ravdess`` and ``root/urbansound8k``.

    Raises
    ------
    CorpusError
        As :func:`generate_standin`.
    """
    # Every clip is a pure function of its name and the seed: the workers change only the time.
    root = generate_standin(root, seed=seed, workers=max(1, min(os.cpu_count() or 1, 4)))
    return root / "ravdess", root / "urbansound8k"


def _check_actors(actors: Sequence[int] | None) -> list[int]:
    if actors is None:
        return list(range(1, N_ACTORS + 1))
    try:
        actor_list = sorted({int(actor) for actor in actors})
    except (TypeError, ValueError) as error:
        raise CorpusError(f"actors={actors!r} must be a sequence of integers in 1..{N_ACTORS}") \
            from error
    if not actor_list or actor_list[0] < 1 or actor_list[-1] > N_ACTORS:
        raise CorpusError(f"actors={actors!r} must be a non-empty sequence of integers in "
                          f"1..{N_ACTORS}")
    return actor_list


def _write_corpus(build: Path, *, actors: list[int], seed: int, workers: int) -> int:
    """Write ``build/ravdess`` and ``build/urbansound8k``; return the number of speech clips."""
    speech_dir, noise_dir = build / "ravdess", build / "urbansound8k"
    speech_dir.mkdir()
    if workers == 1:
        n_speech = sum(_write_actor(str(speech_dir), actor, seed) for actor in actors)
        _write_noise_set(noise_dir, seed=seed)
        return n_speech
    # Spawned, not forked: forking a process that runs threads (Jupyter, TensorFlow) can
    # deadlock. Every clip is a pure function of its name and the seed, so the files do not
    # depend on which worker renders them.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(actors) + 1),
                                                mp_context=context) as pool:
        noise = pool.submit(_write_noise_set, noise_dir, seed=seed)
        speech = [pool.submit(_write_actor, str(speech_dir), actor, seed) for actor in actors]
        n_speech = sum(future.result() for future in speech)
        noise.result()
    return n_speech


def _marker(*, seed: int, actors: list[int], n_speech: int, n_noise: int) -> dict:
    return {
        "generator": "helpers.corpus.generate_standin",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "actors": actors,
        "counts": {"ravdess": n_speech, "urbansound8k": n_noise},
        "sample_rates": {"ravdess": SPEECH_SAMPLE_RATE, "urbansound8k": NOISE_SAMPLE_RATE},
        "espeak_ng": espeak_version(),
        "note": "Synthetic text-to-speech stand-in for RAVDESS and procedural noise for "
                "UrbanSound8K. It exercises the pipeline; results on it say nothing about "
                "emotion recognition in human speech. See data/README.md.",
    }


def read_marker(root: Path = config.STANDIN_DIR) -> dict | None:
    """The stand-in's ``STANDIN.json`` as a dict, or None if missing or unreadable."""
    try:
        marker = io.read_json(Path(root) / MARKER_NAME)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_complete(root: Path, *, seed: int, actors: list[int]) -> bool:
    """True if ``root`` holds a finished tree of this generator version, seed and actors."""
    marker = read_marker(root)
    if marker is None or marker.get("version") != GENERATOR_VERSION \
            or marker.get("seed") != seed or marker.get("actors") != actors:
        return False
    counts = marker.get("counts", {})
    # Counting files is cheap (about 1500) and catches a tree someone has pruned by hand.
    n_speech = sum(1 for _ in (root / "ravdess").glob("Actor_*/*.wav"))
    n_noise = sum(1 for _ in (root / "urbansound8k").glob("audio/fold*/*.wav"))
    return (n_speech == counts.get("ravdess") == 60 * len(actors)
            and n_noise == counts.get("urbansound8k")
            and (root / "urbansound8k" / "metadata" / "UrbanSound8K.csv").is_file())


@contextlib.contextmanager
def _generation_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock so that two processes never build the same tree at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent generation is then unguarded
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_builds(root: Path) -> None:
    # Under the lock no other build is running, so any leftover build folder is from a run
    # that was killed.
    for pattern in (f".{root.name}.building-*", f".{root.name}.old-*"):
        for stale in root.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def _swap_into_place(build: Path, root: Path) -> None:
    """Rename ``build`` to ``root``, moving an existing ``root`` aside first and deleting it."""
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / root.name)
    try:
        os.replace(build, root)
    except BaseException:
        if old is not None:
            os.replace(old / root.name, root)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m helpers.corpus [--root DIR] [--seed N] [--workers N]
    [--force]``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m helpers.corpus",
                                     description="Generate the synthetic stand-in corpus.")
    parser.add_argument("--root", type=Path, default=config.STANDIN_DIR,
                        help=f"destination folder (default {config.STANDIN_DIR})")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        root = generate_standin(args.root, seed=args.seed, force=args.force, workers=args.workers)
    except CorpusError as error:
        parser.error(str(error))
    marker = read_marker(root) or {}
    print(f"{root}: {marker.get('counts')} (seed {marker.get('seed')}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
