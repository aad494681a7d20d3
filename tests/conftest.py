"""Shared fixtures: tiny RAVDESS and UrbanSound8K trees generated in a temporary folder.

The generators write short tone-plus-noise clips named by each corpus's convention, so the
tests exercise the real file finding, header reading, decoding and resampling code on files
that take milliseconds to make. Every clip's content is seeded by its file name: two trees
made with the same arguments are byte-identical, and different clips differ.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

# Keras steps run eagerly in the tests (and in the smoke runs they start, which inherit the
# environment): on their tiny data that is about 2.5x faster than tracing graphs. A few tests
# opt back into graphs (the `graph_mode` fixture) so the compiled path stays covered.
os.environ.setdefault("SER_RUN_EAGERLY", "1")
# The CNNs compute in float32 in the tests whatever the CPU (the default is bfloat16 where the
# CPU has it): results must not depend on the machine. Tests of the switch set it themselves.
os.environ["SER_PRECISION"] = "float32"

# One session-wide smoke run shared by every notebook test module (defined here, not imported
# into each module: a fixture imported into several modules is instantiated once per module).
import notebook_support  # noqa: E402
from notebook_support import smoke_run  # noqa: E402,F401


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (``pyproject.toml``): one worker more than the cores this process may use,
    unless ``PYTEST_XDIST_AUTO_NUM_WORKERS`` says otherwise (as pytest-xdist reads it).

    Many tests wait on something other than the CPU (a spawned worker importing TensorFlow, a
    notebook kernel starting, a database server): on a 2-core machine a third worker can fill
    those gaps. Measured on a 2-core VM whose speed drifted by 10 % or more within the session
    (session 21): the whole suite 639 and 726 s with 2 workers, 597-731 s (mean 646) with 3;
    suggestive, not conclusive.
    ``--maxprocesses`` still caps the count.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores + 1


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "beside_chain: a long test that compares its own notebook run with the "
                   "session's smoke run (notebook_support.chain_tables); queued right after it")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Keep the notebook chain on one worker, and start it first.

    Under pytest-xdist (``-n``, with ``--dist loadgroup``) every test that uses the session's
    smoke run is one group, so the notebooks run once, in order, in one process, while the
    other tests share the remaining workers. It is the longest serial stretch of the suite, so
    it is moved to the front of the queue, followed by the ``beside_chain`` tests: the next
    worker starts them at once, and they run their own notebooks while the chain runs.
    """
    chain = [item for item in items if "smoke_run" in getattr(item, "fixturenames", ())]
    # The last notebook the collected chain tests need: the first of them runs the whole chain
    # in one run_all.py call (test_notebooks_foundation.py needs 01-03).
    numbers = [match.group(1) for item in chain
               if (match := re.search(r"test_notebook_(\d\d)", item.nodeid))]
    if any("test_notebooks_foundation" in item.nodeid for item in chain):
        numbers.append("03")
    notebook_support.CHAIN_THROUGH["number"] = max(numbers) if numbers else None
    for item in chain:
        item.add_marker(pytest.mark.xdist_group("smoke_chain"))
    in_chain = {id(item) for item in chain}
    beside = [item for item in items
              if id(item) not in in_chain and item.get_closest_marker("beside_chain")]
    first = in_chain | {id(item) for item in beside}
    others = [item for item in items if id(item) not in first]
    items[:] = chain + beside + others


RAVDESS_RATE = 48_000  # the sample rate of the real RAVDESS speech files
US8K_RATE = 22_050
US8K_CLASS_IDS = {
    "air_conditioner": 0, "car_horn": 1, "children_playing": 2, "dog_bark": 3, "drilling": 4,
    "engine_idling": 5, "gun_shot": 6, "jackhammer": 7, "siren": 8, "street_music": 9,
}
KAGGLE_FOLDER = "audio_speech_actors_01-24"  # the second top folder of the Kaggle copy


def ravdess_name(*, emotion: int = 1, intensity: int = 1, statement: int = 1, repetition: int = 1,
                 actor: int = 1, modality: int = 3, vocal_channel: int = 1, ext: str = ".wav") -> str:
    """A RAVDESS file name ``MM-VV-EE-II-SS-RR-AA.ext`` (defaults: audio-only speech, neutral)."""
    fields = (modality, vocal_channel, emotion, intensity, statement, repetition, actor)
    return "-".join(f"{value:02d}" for value in fields) + ext


def name_seed(name: str) -> int:
    """A stable seed derived from a file name, so each clip's content is reproducible."""
    return zlib.crc32(name.encode())


def tone_noise(n_samples: int, sample_rate: int, *, frequency: float, seed: int,
               channels: int = 1, amplitude: float = 0.3, noise_level: float = 0.02) -> np.ndarray:
    """A sine plus a little white noise, ``[shape=(n_samples,) or (n_samples, channels)]``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    columns = []
    for channel in range(channels):
        # Each channel has its own frequency, so a stereo file is not two copies of one signal.
        tone = amplitude * np.sin(2 * np.pi * frequency * (1 + 0.25 * channel) * t)
        columns.append(tone + noise_level * rng.standard_normal(n_samples))
    y = np.stack(columns, axis=1).astype(np.float32)
    return y[:, 0] if channels == 1 else y


def write_clip(path: str | Path, *, sample_rate: int = RAVDESS_RATE, duration_s: float = 1.5,
               channels: int = 1, subtype: str | None = None, format: str | None = None,
               frequency: float | None = None, seed: int | None = None) -> Path:
    """Write a tone-plus-noise clip; its frequency and noise are seeded by the file name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = name_seed(path.name) if seed is None else seed
    frequency = 200.0 + seed % 600 if frequency is None else frequency
    y = tone_noise(int(round(duration_s * sample_rate)), sample_rate, frequency=frequency,
                   seed=seed, channels=channels)
    soundfile.write(str(path), y, sample_rate, subtype=subtype, format=format)
    return path


def make_ravdess_tree(root: str | Path, *, actors: Sequence[int] = (1, 2),
                      emotions: Sequence[int] = (1, 5), intensities: Sequence[int] = (1,),
                      statements: Sequence[int] = (1,), repetitions: Sequence[int] = (1,),
                      ext: str | Sequence[str] = ".wav", layout: str = "upstream",
                      sample_rate: int = RAVDESS_RATE, duration_s: float = 1.5,
                      channels: int = 1) -> list[Path]:
    """Write a tiny RAVDESS speech tree and return the paths written, sorted.

    Parameters
    ----------
    layout : {"upstream", "flat", "kaggle"}
        ``upstream``: ``root/Actor_01/…`` as in the official zip; ``flat``: every file directly
        in ``root``; ``kaggle``: the upstream tree under ``root`` and a second copy of it under
        ``root/audio_speech_actors_01-24/`` (the Kaggle download's double folder).
    ext : str or sequence of str
        File suffix; a sequence is cycled over the clips (e.g. ``(".wav", ".flac")``).

    The neutral emotion (01) has no strong intensity, so that combination is never written.
    """
    root = Path(root)
    if layout not in ("upstream", "flat", "kaggle"):
        raise ValueError(f"layout={layout!r} must be 'upstream', 'flat' or 'kaggle'")
    suffixes = [ext] if isinstance(ext, str) else list(ext)
    written: list[Path] = []
    index = 0
    for actor in actors:
        for emotion in emotions:
            for intensity in intensities:
                if emotion == 1 and intensity == 2:
                    continue
                for statement in statements:
                    for repetition in repetitions:
                        name = ravdess_name(emotion=emotion, intensity=intensity,
                                            statement=statement, repetition=repetition,
                                            actor=actor, ext=suffixes[index % len(suffixes)])
                        index += 1
                        folders = {"upstream": [root / f"Actor_{actor:02d}"],
                                   "flat": [root],
                                   "kaggle": [root / f"Actor_{actor:02d}",
                                              root / KAGGLE_FOLDER / f"Actor_{actor:02d}"]}[layout]
                        for folder in folders:
                            written.append(write_clip(folder / name, sample_rate=sample_rate,
                                                      duration_s=duration_s, channels=channels))
    return sorted(written)


def write_unusable_clips(folder: str | Path, *, actor: int = 1) -> dict[str, str]:
    """Write one RAVDESS speech file of every unusable kind into ``folder``.

    The names are statement-2 clips of ``actor``, so they never collide with a tree written by
    :func:`make_ravdess_tree` with its default statement. Returns ``{file name: expected
    start of its skip reason}``. The last two kinds pass every check of the whole file but
    cannot give features: the clip ends before the analysis window starts
    (``config.FEATURES.offset_s``, 0.5 s), or it is silent within the window.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def name(emotion: int) -> str:
        return ravdess_name(emotion=emotion, statement=2, actor=actor)

    (folder / name(2)).write_bytes(b"")
    header_only = write_clip(folder / name(3), duration_s=0.5)
    with open(header_only, "r+b") as handle:  # keep the 44-byte header, drop every frame
        handle.truncate(44)
    truncated = write_clip(folder / name(4), duration_s=1.0)
    truncated.write_bytes(truncated.read_bytes()[:20_000])
    soundfile.write(str(folder / name(6)), np.zeros(RAVDESS_RATE, dtype=np.float32), RAVDESS_RATE)
    write_clip(folder / name(7), duration_s=0.01)
    (folder / name(8)).write_bytes(b"RIFF\x00\x00\x00\x00garbage, not a wave file" * 4)
    # 0.3 s: longer than one FFT frame (64 ms at 16 kHz), shorter than the window's 0.5 s offset.
    write_clip(folder / name(1), duration_s=0.3)
    # Signal in the first 0.4 s only: the window from 0.5 s to 3.5 s is digital silence.
    speech_then_silence = tone_noise(int(1.5 * RAVDESS_RATE), RAVDESS_RATE, frequency=300.0, seed=5)
    speech_then_silence[int(0.4 * RAVDESS_RATE):] = 0.0
    soundfile.write(str(folder / name(5)), speech_then_silence, RAVDESS_RATE)
    return {
        name(2): "empty file", name(3): "header only", name(4): "truncated", name(6): "all-silent",
        name(7): "too short", name(8): "not a readable audio file",
        name(1): "too short: 0.300 s ends before the window offset 0.5 s",
        name(5): "all-silent: the analysed window has no signal",
    }


def make_us8k_tree(root: str | Path, *, folds: Sequence[int] = (1, 2),
                   classes: Sequence[str] = ("dog_bark", "street_music"), clips_per_class: int = 1,
                   sample_rate: int = US8K_RATE, duration_s: float = 0.5) -> pd.DataFrame:
    """Write a tiny UrbanSound8K tree (``metadata/UrbanSound8K.csv``, ``audio/foldN/``).

    Returns the metadata table written (with the real columns, in the real order).
    """
    root = Path(root)
    rows = []
    for fold in folds:
        for class_name in classes:
            class_id = US8K_CLASS_IDS[class_name]
            for occurrence in range(clips_per_class):
                fs_id = 1000 * fold + 10 * class_id + occurrence
                name = f"{fs_id}-{class_id}-{occurrence}-0.wav"
                write_clip(root / "audio" / f"fold{fold}" / name, sample_rate=sample_rate,
                           duration_s=duration_s, frequency=2_000.0 + 300 * class_id + 50 * fold)
                rows.append({"slice_file_name": name, "fsID": fs_id, "start": 0.0,
                             "end": duration_s, "salience": 1, "fold": fold,
                             "classID": class_id, "class": class_name})
    table = pd.DataFrame(rows, columns=["slice_file_name", "fsID", "start", "end", "salience",
                                        "fold", "classID", "class"])
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return table


@pytest.fixture
def ravdess_root(tmp_path: Path) -> Path:
    """Four 1.5 s clips: actors 1 (male) and 2 (female), neutral and angry, ``Actor_XX/`` layout."""
    root = tmp_path / "ravdess"
    make_ravdess_tree(root)
    return root


@pytest.fixture
def us8k_root(tmp_path: Path) -> Path:
    """Four 0.5 s noise clips: folds 1 and 2, one dog bark and one street music clip each."""
    root = tmp_path / "urbansound8k"
    make_us8k_tree(root)
    return root


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty feature cache folder inside the test's temporary folder."""
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


@pytest.fixture
def graph_mode(monkeypatch):
    """Run Keras as users do: training and prediction compiled into graphs."""
    monkeypatch.delenv("SER_RUN_EAGERLY", raising=False)
