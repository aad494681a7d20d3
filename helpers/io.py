"""Atomic writes for every result the project saves: JSON, tables, arrays, figures.

A run that fails half way must leave the last good results in place, so every file is written
to a temporary file in the same folder and then renamed over the target (``os.replace`` is
atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from helpers import config
from helpers.errors import OutputError

#: errno values that mean "this place cannot take the file": not writable, not a folder, full.
_WRITE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                           errno.ENOTDIR, errno.EEXIST, errno.EFBIG})


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.

    Raises
    ------
    helpers.errors.OutputError
        If the folder cannot be created or written, or the disk fills while writing; the
        message names ``target``, and the file already there (the last good result) stays.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.",
                                   suffix=suffix or target.suffix or ".tmp", dir=target.parent)
    except OSError as error:
        raise _output_error(target, error) from error
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as error:
        tmp_path.unlink(missing_ok=True)
        # Only an error about this write (the temporary file or the target), not one from
        # reading some other file inside the body, is blamed on the target.
        ours = error.filename is None or Path(error.filename) in (tmp_path, target)
        if error.errno in _WRITE_ERRNOS and ours:
            raise _output_error(target, error) from error
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _output_error(target: Path, error: OSError) -> OutputError:
    reason = error.strerror or str(error)
    return OutputError(f"{target}: cannot be written ({reason}); its folder must be a writable "
                       f"folder with free space; the file already there is kept")


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and write (then remove) a probe file in it.

    Raises
    ------
    helpers.errors.OutputError
        Naming the folder, if it cannot be created or written.
    """
    folder = Path(folder)
    with atomic_path(folder / ".write-probe") as probe:
        probe.write_bytes(b"")
    (folder / ".write-probe").unlink(missing_ok=True)
    return folder


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy scalars and paths are converted)."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_json_lines(target: str | os.PathLike, records) -> Path:
    """Write one JSON object per line (a benchmark's ``--output``), atomically."""
    return write_text(target, "".join(json.dumps(record) + "\n" for record in records))


def read_json(path: str | os.PathLike):
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_table(frame: pd.DataFrame, stem: str, *, folder: str | os.PathLike | None = None,
                float_format: str = "%.4f", markdown: bool = True) -> tuple[Path, Path | None]:
    """Write ``frame`` as ``<stem>.csv`` and (unless ``markdown=False``) ``<stem>.md`` atomically.

    Returns
    -------
    csv_path, md_path : Path (md_path is None without Markdown)
    """
    folder = Path(folder) if folder is not None else config.TABLES_DIR
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    if not markdown:
        return csv_path, None
    write_text(md_path, frame.to_markdown(index=False, floatfmt=float_format.strip("%")) + "\n")
    return csv_path, md_path


def save_npz(target: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Save arrays to ``target`` (``.npz``) atomically."""
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return Path(target)


def save_figure(fig, name: str, *, folder: str | os.PathLike | None = None, dpi: int = 120) -> Path:
    """Save a matplotlib figure as ``<folder>/<name>.png`` atomically and return the path."""
    folder = Path(folder) if folder is not None else config.FIGURES_DIR
    target = folder / f"{name}.png"
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return target


def file_digest(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """BLAKE2b digest (32 hex digits) of a file's contents."""
    return _hash_file(path, hashlib.blake2b(digest_size=16), chunk_size=chunk_size)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (model files and their sidecars, the shipped models' card)."""
    return _hash_file(path, hashlib.sha256())


def _hash_file(path: str | os.PathLike, digest, *, chunk_size: int = 1 << 20) -> str:
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers: recorded in every results file and
    hashed into every model-cache key (:func:`helpers.training.training_key`)."""
    import importlib.metadata as metadata

    versions = {"python": platform.python_version()}
    for name in ("numpy", "librosa", "soundfile", "soxr", "keras", "tensorflow-cpu", "tensorflow",
                 "scikit-learn", "pandas", "optuna"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def run_metadata(*, parameters: dict, data_fingerprint: str | None = None,
                 seed: int = config.SEED) -> dict:
    """The block every results JSON carries: parameters, seed, data fingerprint, versions."""
    return {
        "parameters": parameters,
        "seed": seed,
        "data_fingerprint": data_fingerprint,
        "versions": library_versions(),
    }
