"""The eSpeak NG binding: a fresh, private library instance per utterance, through ctypes.

:func:`synthesize_speech` turns text into samples with eSpeak NG (the library shipped by the
``espeakng-loader`` wheel); :func:`available_variants` and :func:`espeak_version` describe what
is installed. Each call loads its own copy of the library and unloads it afterwards, so the
samples are a pure function of the arguments, whatever was said before or in which process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from helpers.errors import is_int
from helpers.standin.errors import CorpusError

# eSpeak NG's own parameter ranges (speak_lib.h); values outside them are clamped silently by
# the library, so they are checked here instead.
RATE_RANGE = (80, 450)
PITCH_RANGE = (0, 100)
VOLUME_RANGE = (0, 200)


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
