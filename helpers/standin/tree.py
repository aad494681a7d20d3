"""Tree building: the stand-in written once, atomically, in RAVDESS's and UrbanSound8K's layouts.

:func:`ensure_standin` (what the pipeline calls) and :func:`generate_standin` render every
speech take (:mod:`helpers.standin.speech`) and noise clip (:mod:`helpers.standin.noise`) into
a temporary sibling folder, write the UrbanSound8K metadata table and the ``STANDIN.json``
marker, and rename the folder into place, under a lock; :func:`read_marker` reads the marker.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import soundfile as sf

from helpers import config, io
from helpers.errors import check_int
from helpers.standin import espeak, noise, speech
from helpers.standin.errors import CorpusError

# Bump whenever a change alters the generated files, so that existing trees are regenerated.
GENERATOR_VERSION = 1
MARKER_NAME = "STANDIN.json"

US8K_COLUMNS: tuple[str, ...] = (
    "slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class",
)


# --------------------------------------------------------------------------------------------
# The two datasets' layouts
# --------------------------------------------------------------------------------------------

def _write_actor(folder: str, actor: int, seed: int) -> int:
    """Render and write the 60 clips of one actor into ``folder``; runs in a worker process."""
    actor_dir = Path(folder) / f"Actor_{actor:02d}"
    actor_dir.mkdir(parents=True, exist_ok=True)
    takes = speech.ravdess_takes(actor)
    for take in takes:
        sf.write(actor_dir / take.file_name, speech.render_take(take, seed=seed),
                 speech.SPEECH_SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(takes)


def _write_noise_set(folder: Path, *, seed: int) -> int:
    """Write ``audio/fold1/*.wav`` and ``metadata/UrbanSound8K.csv``; return the clip count."""
    audio_dir = folder / "audio" / "fold1"
    audio_dir.mkdir(parents=True)
    (folder / "metadata").mkdir()
    rows = []
    for class_id, class_name in enumerate(noise.NOISE_CLASSES):
        rng = np.random.default_rng([seed, 3, class_id])
        # As in the real set, several slices can come from one freesound recording (one fsID,
        # slice numbers counting up, start times increasing): here the first two of a class.
        fs_ids = rng.choice(np.arange(10_000, 200_000), 2, replace=False)
        saliences = rng.integers(1, 3, size=2)  # 1 foreground, 2 background, per recording
        start = 0.0
        for index in range(noise.NOISE_CLIPS_PER_CLASS):
            clip = noise.render_noise(class_id, index, seed=seed)
            recording = 0 if index < 2 else 1
            slice_id = index if recording == 0 else 0
            if slice_id == 0:
                start = float(rng.uniform(0, 90))
            name = f"{int(fs_ids[recording])}-{class_id}-0-{slice_id}.wav"
            sf.write(audio_dir / name, clip, noise.NOISE_SAMPLE_RATE, subtype="PCM_16",
                     format="WAV")
            end = start + clip.shape[0] / noise.NOISE_SAMPLE_RATE
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
            n_noise = len(noise.NOISE_CLASSES) * noise.NOISE_CLIPS_PER_CLASS
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
    return config.standin_dirs(root)


def _check_actors(actors: Sequence[int] | None) -> list[int]:
    if actors is None:
        return list(range(1, speech.N_ACTORS + 1))
    try:
        actor_list = sorted({int(actor) for actor in actors})
    except (TypeError, ValueError) as error:
        raise CorpusError(f"actors={actors!r} must be a sequence of integers in "
                          f"1..{speech.N_ACTORS}") from error
    if not actor_list or actor_list[0] < 1 or actor_list[-1] > speech.N_ACTORS:
        raise CorpusError(f"actors={actors!r} must be a non-empty sequence of integers in "
                          f"1..{speech.N_ACTORS}")
    return actor_list


def _write_corpus(build: Path, *, actors: list[int], seed: int, workers: int) -> int:
    """Write ``build/ravdess`` and ``build/urbansound8k``; return the number of speech clips."""
    speech_dir, noise_dir = config.standin_dirs(build)
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
        noise_set = pool.submit(_write_noise_set, noise_dir, seed=seed)
        actor_sets = [pool.submit(_write_actor, str(speech_dir), actor, seed) for actor in actors]
        n_speech = sum(future.result() for future in actor_sets)
        noise_set.result()
    return n_speech


def _marker(*, seed: int, actors: list[int], n_speech: int, n_noise: int) -> dict:
    return {
        "generator": "helpers.standin.generate_standin",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "actors": actors,
        "counts": {"ravdess": n_speech, "urbansound8k": n_noise},
        "sample_rates": {"ravdess": speech.SPEECH_SAMPLE_RATE,
                         "urbansound8k": noise.NOISE_SAMPLE_RATE},
        "espeak_ng": espeak.espeak_version(),
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
    speech_dir, noise_dir = config.standin_dirs(root)
    n_speech = sum(1 for _ in speech_dir.glob("Actor_*/*.wav"))
    n_noise = sum(1 for _ in noise_dir.glob("audio/fold*/*.wav"))
    return (n_speech == counts.get("ravdess") == 60 * len(actors)
            and n_noise == counts.get("urbansound8k")
            and (noise_dir / "metadata" / "UrbanSound8K.csv").is_file())


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
