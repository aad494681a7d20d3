"""The other acted-emotion corpora: EmoDB, TESS, SAVEE and CREMA-D, by their own file names.

Each corpus names its files by its own convention; the parsers here read the speaker, the
corpus's own emotion class and what else the name holds, and map the emotion onto the RAVDESS
label set (:data:`helpers.config.EMOTIONS`) through one table, :data:`EMOTION_TABLE`:

============  =========================  =====================  =====================  ==================
RAVDESS       EmoDB (letter)             TESS (name token)      SAVEE (prefix)         CREMA-D (code)
============  =========================  =====================  =====================  ==================
neutral       N neutral                  neutral                n neutral              NEU neutral
calm          --                         --                     --                     --
happy         F Freude (happiness)       happy                  h happiness            HAP happy
sad           T Trauer (sadness)         sad                    sa sadness             SAD sad
angry         W Wut/Ärger (anger)        angry                  a anger                ANG anger
fearful       A Angst (fear)             fear                   f fear                 FEA fear
disgust       E Ekel (disgust)           disgust                d disgust              DIS disgust
surprised     --                         ps pleasant surprise   su surprise            --
(dropped)     L Langeweile (boredom)     --                     --                     --
============  =========================  =====================  =====================  ==================

A class with no RAVDESS counterpart (EmoDB's boredom) is dropped and counted by
:func:`helpers.datasets.find_corpus`. Speakers and genders come from each corpus's
documentation:

* **EmoDB** (Burkhardt et al. 2005), ``SSTTTEV.wav`` (``03a01Fa.wav``): speaker ``SS``, text
  ``TTT``, emotion letter ``E``, version ``V``. Ten actors: male 03, 10, 11, 12, 15; female
  08, 09, 13, 14, 16.
* **TESS** (Dupuis & Pichora-Fuller 2010), ``{OAF|YAF}_{word}_{emotion}.wav``
  (``OAF_back_angry.wav``, ``YAF_dog_ps.wav``): two female speakers, aged 64 (OAF) and 26 (YAF).
* **SAVEE** (Haq & Jackson 2009), ``AudioData/{DC,JE,JK,KL}/{code}{NN}.wav`` upstream, or
  ``{speaker}_{code}{NN}.wav`` flat: four male speakers; ``NN`` is 01-15 (neutral 01-30).
* **CREMA-D** (Cao et al. 2014), ``{actor}_{sentence}_{emotion}_{level}.wav``
  (``1001_DFA_ANG_XX.wav``): actors 1001-1091, whose sex is listed in the corpus's
  ``VideoDemographics.csv``; :data:`CREMA_D_FEMALE` holds that column (43 female, 48 male).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path

from helpers import config
from helpers.errors import DatasetError

#: Manifest columns of the corpora other than RAVDESS.
CORPUS_COLUMNS = [
    "path", "clip_id", "corpus", "actor", "gender", "emotion", "emotion_code", "corpus_emotion",
    "intensity", "duration", "sample_rate", "channels",
]

#: Each corpus's own class (as ``corpus_emotion`` names it) → the RAVDESS label, or None for a
#: class with no counterpart (dropped). The one mapping table; see the module docstring.
EMOTION_TABLE: dict[str, dict[str, str | None]] = {
    "emodb": {"neutral": "neutral", "happiness": "happy", "sadness": "sad", "anger": "angry",
              "fear": "fearful", "disgust": "disgust", "boredom": None},
    "tess": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
             "fear": "fearful", "disgust": "disgust", "pleasant surprise": "surprised"},
    "savee": {"neutral": "neutral", "happiness": "happy", "sadness": "sad", "anger": "angry",
              "fear": "fearful", "disgust": "disgust", "surprise": "surprised"},
    "crema-d": {"neutral": "neutral", "happy": "happy", "sad": "sad", "anger": "angry",
                "fear": "fearful", "disgust": "disgust"},
}

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                  "T": "sadness", "N": "neutral"}
EMODB_SPEAKERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                  "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
TESS_EMOTIONS = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
                 "fear": "fear", "disgust": "disgust", "ps": "pleasant surprise"}
TESS_SPEAKERS = {"OAF": "female", "YAF": "female"}
SAVEE_EMOTIONS = {"n": "neutral", "h": "happiness", "sa": "sadness", "a": "anger", "f": "fear",
                  "d": "disgust", "su": "surprise"}
SAVEE_SPEAKERS = {"DC": "male", "JE": "male", "JK": "male", "KL": "male"}
CREMA_D_EMOTIONS = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "anger",
                    "FEA": "fear", "DIS": "disgust"}
CREMA_D_SENTENCES = frozenset({"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA",
                               "ITS", "TSI", "WSI"})
CREMA_D_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
CREMA_D_ACTORS = range(1001, 1092)
#: The female actors of CREMA-D (``Sex`` column of the corpus's ``VideoDemographics.csv``); the
#: other 48 actors of 1001-1091 are male.
CREMA_D_FEMALE = frozenset({
    1002, 1003, 1004, 1006, 1007, 1008, 1009, 1010, 1012, 1013, 1018, 1020, 1021, 1024, 1025,
    1028, 1029, 1030, 1037, 1043, 1046, 1047, 1049, 1052, 1053, 1054, 1055, 1056, 1058, 1060,
    1061, 1063, 1072, 1073, 1074, 1075, 1076, 1078, 1079, 1082, 1084, 1089, 1091,
})

_EMODB_NAME = re.compile(r"^(\d{2})([ab]\d{2})([A-Za-z])([a-z])$")
_SAVEE_NAME = re.compile(r"^(?:([A-Za-z]{2})_)?(sa|su|[adfhn])(\d{2})$")
_CREMA_D_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


class NotSpeechError(DatasetError):
    """A file of the corpus that is not one of its speech clips (a RAVDESS song or video)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
    """How one corpus's files are found and labelled by :func:`helpers.datasets.find_corpus`.

    Attributes
    ----------
    name : str
        Command-line name (``--corpus``).
    title : str
        Name in messages.
    parse : callable
        ``parse(path) -> dict`` of the manifest's fields (``emotion`` None for a dropped
        class); raises :class:`DatasetError` naming the file and the field, or
        :class:`NotSpeechError` for a file of another kind.
    columns : list of str
        The manifest's columns.
    pattern : str
        The file-name convention, for messages.
    """

    name: str
    title: str
    parse: Callable[[Path], dict]
    columns: list[str]
    pattern: str


def _labelled(corpus: str, path: Path, *, actor: str, gender: str, corpus_emotion: str,
              clip_id: str, intensity: str = "unspecified") -> dict:
    emotion = EMOTION_TABLE[corpus][corpus_emotion]
    return {"clip_id": clip_id, "corpus": corpus, "actor": actor, "gender": gender,
            "emotion": emotion, "corpus_emotion": corpus_emotion, "intensity": intensity,
            "emotion_code": None if emotion is None else config.EMOTIONS.index(emotion) + 1}


def parse_emodb_name(path: str | os.PathLike) -> dict:
    """Parse an EmoDB name ``SSTTTEV`` (``03a01Fa.wav``).

    Returns
    -------
    dict
        The fields of :data:`CORPUS_COLUMNS` that a name gives (``emotion`` is None for
        boredom), plus ``text`` and ``version``.

    Raises
    ------
    DatasetError
        If the stem does not have the form, or the speaker or emotion letter is unknown; the
        message names the file and the field.
    """
    path = Path(path)
    match = _EMODB_NAME.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: file name is not an EmoDB name SSTTTEV "
                           f"(speaker, text, emotion, version; e.g. 03a01Fa)")
    speaker, text, letter, version = match.groups()
    if speaker not in EMODB_SPEAKERS:
        raise DatasetError(f"{path}: field speaker={speaker} is not an EmoDB speaker "
                           f"(expected one of {', '.join(EMODB_SPEAKERS)})")
    if letter not in EMODB_EMOTIONS:
        raise DatasetError(f"{path}: field emotion={letter!r} is not an EmoDB emotion letter "
                           f"(expected one of {''.join(EMODB_EMOTIONS)})")
    fields = _labelled("emodb", path, actor=speaker, gender=EMODB_SPEAKERS[speaker],
                       corpus_emotion=EMODB_EMOTIONS[letter], clip_id=path.stem)
    return {**fields, "text": text, "version": version}


def parse_tess_name(path: str | os.PathLike) -> dict:
    """Parse a TESS name ``{OAF|YAF}_{word}_{emotion}`` (``YAF_dog_ps.wav``; any letter case).

    ``ps`` (pleasant surprise; also spelt out as ``pleasant_surprise(d)``) is mapped to
    surprised.

    Raises
    ------
    DatasetError
        If the stem has fewer than three ``_``-separated parts, or the speaker or emotion is
        unknown; the message names the file and the field.
    """
    path = Path(path)
    stem = re.sub(r"_pleasant_surprised?$", "_ps", path.stem.lower())
    parts = stem.split("_")
    if len(parts) < 3 or not all(parts):
        raise DatasetError(f"{path}: file name is not a TESS name SPEAKER_WORD_EMOTION "
                           f"(e.g. OAF_back_angry)")
    speaker, word, token = parts[0].upper(), "_".join(parts[1:-1]), parts[-1]
    if speaker not in TESS_SPEAKERS:
        raise DatasetError(f"{path}: field speaker={parts[0]!r} is not a TESS speaker "
                           f"(expected OAF or YAF)")
    if token not in TESS_EMOTIONS:
        raise DatasetError(f"{path}: field emotion={token!r} is not a TESS emotion "
                           f"(expected one of {', '.join(TESS_EMOTIONS)})")
    fields = _labelled("tess", path, actor=speaker, gender=TESS_SPEAKERS[speaker],
                       corpus_emotion=TESS_EMOTIONS[token], clip_id=f"{speaker}_{word}_{token}")
    return {**fields, "word": word}


def parse_savee_name(path: str | os.PathLike) -> dict:
    """Parse a SAVEE name: ``{code}{NN}`` in a speaker folder (``DC/a01.wav``), or
    ``{speaker}_{code}{NN}`` (``DC_a01.wav``).

    Raises
    ------
    DatasetError
        If the stem does not have the form, the speaker (from the name or the folder) is not
        DC, JE, JK or KL, or the number is out of range; the message names the file and the
        field.
    """
    path = Path(path)
    match = _SAVEE_NAME.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: file name is not a SAVEE name [SPEAKER_]CODENN with a code "
                           f"of {', '.join(SAVEE_EMOTIONS)} (e.g. a01, DC_sa15)")
    speaker, code, number = match.groups()
    speaker = (speaker or path.parent.name).upper()
    if speaker not in SAVEE_SPEAKERS:
        raise DatasetError(f"{path}: field speaker={speaker!r} (from the "
                           f"{'name' if match.group(1) else 'folder'}) is not a SAVEE speaker "
                           f"(expected one of {', '.join(SAVEE_SPEAKERS)})")
    last = 30 if code == "n" else 15
    if not 1 <= int(number) <= last:
        raise DatasetError(f"{path}: field number={number} is out of range, expected 01..{last:02d}")
    return _labelled("savee", path, actor=speaker, gender=SAVEE_SPEAKERS[speaker],
                     corpus_emotion=SAVEE_EMOTIONS[code], clip_id=f"{speaker}_{code}{number}")


def parse_crema_d_name(path: str | os.PathLike) -> dict:
    """Parse a CREMA-D name ``{actor}_{sentence}_{emotion}_{level}`` (``1001_DFA_ANG_XX.wav``).

    Raises
    ------
    DatasetError
        If the stem does not have the form, or the actor, sentence, emotion or level is not
        one of the corpus's; the message names the file and the field.
    """
    path = Path(path)
    match = _CREMA_D_NAME.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: file name is not a CREMA-D name ACTOR_SENTENCE_EMOTION_LEVEL "
                           f"(e.g. 1001_DFA_ANG_XX)")
    actor, sentence, code, level = match.groups()
    if int(actor) not in CREMA_D_ACTORS:
        raise DatasetError(f"{path}: field actor={actor} is out of range, expected 1001..1091")
    for field, value, allowed in (("sentence", sentence, CREMA_D_SENTENCES),
                                  ("emotion", code, CREMA_D_EMOTIONS), ("level", level, CREMA_D_LEVELS)):
        if value not in allowed:
            raise DatasetError(f"{path}: field {field}={value} is not a CREMA-D {field} "
                               f"(expected one of {', '.join(sorted(allowed))})")
    fields = _labelled("crema-d", path, actor=actor,
                       gender="female" if int(actor) in CREMA_D_FEMALE else "male",
                       corpus_emotion=CREMA_D_EMOTIONS[code], clip_id=path.stem,
                       intensity=CREMA_D_LEVELS[level])
    return {**fields, "sentence": sentence}


#: The corpora besides RAVDESS, by command-line name.
SPECS: dict[str, CorpusSpec] = {
    "emodb": CorpusSpec("emodb", "EmoDB", parse_emodb_name, CORPUS_COLUMNS, "SSTTTEV.wav, e.g. 03a01Fa.wav"),
    "tess": CorpusSpec("tess", "TESS", parse_tess_name, CORPUS_COLUMNS, "OAF_back_angry.wav"),
    "savee": CorpusSpec("savee", "SAVEE", parse_savee_name, CORPUS_COLUMNS, "DC/a01.wav or DC_a01.wav"),
    "crema-d": CorpusSpec("crema-d", "CREMA-D", parse_crema_d_name, CORPUS_COLUMNS,
                          "1001_DFA_ANG_XX.wav"),
}
