"""Download the real corpora (RAVDESS speech, UrbanSound8K) from their official Zenodo records.

The download is resumable: bytes land in ``<archive>.part`` beside the destination and a rerun
asks the server for the rest with an HTTP Range request. The archive is unpacked into a
temporary folder beside the destination, checked (file counts and layout), and only then renamed
into place, so the destination is either absent or a complete, verified tree.

Run it as ``python -m helpers.download ravdess [--to DIR]`` (or through
``python -m helpers.datasets download``, which calls :func:`main`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import requests
from tqdm import tqdm

from helpers import audio, config
from helpers.errors import ProjectError


class DownloadError(ProjectError):
    """A dataset could not be downloaded, unpacked or verified; the message says what and where."""


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where one corpus comes from and what a good copy of it looks like.

    Attributes
    ----------
    name : str
        Registry key, also the command-line name.
    url : str
        The official download address.
    archive_name : str
        File name of the archive behind ``url``.
    archive_bytes : int or None
        Size of the official archive; checked against what the server announces.
    archive_md5 : str or None
        MD5 of the official archive as published on its Zenodo record.
    url_env_var : str
        Environment variable that replaces ``url`` (a mirror serving the same archive).
    dir_name : str
        Default destination folder under ``config.DATA_DIR``.
    top_folder : str or None
        The archive's single top-level folder, removed so the destination itself is the root.
    expected_files : int
        Number of audio files a complete copy holds.
    """

    name: str
    url: str
    archive_name: str
    archive_bytes: int | None
    archive_md5: str | None
    url_env_var: str
    dir_name: str
    top_folder: str | None
    expected_files: int


# Sizes and MD5s are the ones Zenodo lists for these files (records 1188976 and 1203745); the
# same values are pinned independently by other loaders (e.g. mirdata for UrbanSound8K).
SOURCES: dict[str, DatasetSource] = {
    "ravdess": DatasetSource(
        name="ravdess",
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        archive_name="Audio_Speech_Actors_01-24.zip",
        archive_bytes=208_468_073,
        archive_md5="bc696df654c87fed845eb13823edef8a",
        url_env_var="SER_RAVDESS_URL",
        dir_name="ravdess",
        top_folder=None,  # the zip holds Actor_01/ ... Actor_24/ at its top level
        expected_files=1440,  # 24 actors x 60 speech clips
    ),
    "urbansound8k": DatasetSource(
        name="urbansound8k",
        url="https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz?download=1",
        archive_name="UrbanSound8K.tar.gz",
        archive_bytes=6_023_741_708,
        archive_md5="9aa69802bbf37fb986f71ec1483a196e",
        url_env_var="SER_URBANSOUND8K_URL",
        dir_name="urbansound8k",
        top_folder="UrbanSound8K",
        expected_files=8732,
    ),
}

# RAVDESS names: modality-channel-emotion-intensity-statement-repetition-actor; 03-01 is
# audio-only speech, the only part of the corpus this project uses. The stem only: the suffix
# may be any of audio.AUDIO_SUFFIXES, in any letter case.
RAVDESS_SPEECH_STEM = re.compile(r"^03-01-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$")

DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_TIMEOUT_S = 30.0
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


def get_source(name: str) -> DatasetSource:
    """Return the registry entry for ``name``.

    Raises
    ------
    DownloadError
        If ``name`` is not a key of ``SOURCES``.
    """
    if name not in SOURCES:
        raise DownloadError(f"dataset={name!r} must be one of {sorted(SOURCES)}")
    return SOURCES[name]


def fetch_resumable(url: str, path: str | os.PathLike, *,
                    expected_bytes: int | None = None,
                    chunk_size: int = DEFAULT_CHUNK_SIZE,
                    timeout: float = DEFAULT_TIMEOUT_S,
                    progress: bool = True,
                    description: str | None = None) -> Path:
    """Download ``url`` into ``path``, continuing from whatever ``path`` already holds.

    A non-empty ``path`` is resumed with ``Range: bytes=<size>-``. A server that answers 200
    instead of 206 sent the whole file, so ``path`` is truncated and rewritten from byte 0; a
    416 whose total equals the size on disk means the file is already complete.

    Parameters
    ----------
    url : str
        HTTP(S) address of the file.
    path : path-like
        Partial-download file (conventionally ``*.part``); created if missing.
    expected_bytes : int, optional
        Known size of the file; a server announcing another size is refused before any data
        is written.
    chunk_size : int
        Bytes read from the socket per write.
    timeout : float
        Seconds to wait for the connection and for each chunk.
    progress : bool
        Show a tqdm byte counter on stderr.
    description : str, optional
        Label of the progress bar; the file name by default.

    Returns
    -------
    Path
        ``path``, now holding the whole file.

    Raises
    ------
    DownloadError
        On an HTTP error status (the message names the URL and the status), a network failure
        (``path`` is kept so a rerun resumes), or a size that disagrees with the server's or
        ``expected_bytes``.
    """
    if chunk_size <= 0:
        raise DownloadError(f"chunk_size={chunk_size} must be positive")
    if not timeout > 0:
        raise DownloadError(f"timeout={timeout} must be positive")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    # At most two rounds: a resume attempt, then (if the server cannot resume) a clean restart.
    for _ in range(2):
        have = path.stat().st_size if path.exists() else 0
        # Identity encoding: a server that gzips the body on the fly would otherwise hand
        # requests a stream it silently decompresses, corrupting a .tar.gz and the byte counts.
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            raise DownloadError(f"GET {url} failed: {exc}") from exc
        with response:
            if response.status_code == 416 and have:
                total = _content_range(response.headers.get("Content-Range"))[2]
                if total == have:
                    _check_size(url, total, expected_bytes)
                    return path
                # The partial file is longer than (or unrelated to) the remote file.
                path.unlink()
                continue
            if response.status_code >= 400:
                raise DownloadError(f"GET {url} failed: HTTP {response.status_code} "
                                    f"{response.reason}".rstrip())
            if response.status_code == 206:
                start, _end, total = _content_range(response.headers.get("Content-Range"))
                if start != have:
                    # A range we did not ask for cannot be appended safely: start again.
                    path.unlink()
                    continue
                mode = "ab"
            elif response.status_code == 200:
                # The server ignored Range (or there was nothing to resume): the body is the
                # whole file, so the partial bytes are discarded rather than duplicated.
                have = 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            else:
                raise DownloadError(f"GET {url} failed: unexpected HTTP {response.status_code} "
                                    f"{response.reason}".rstrip())
            _check_size(url, total, expected_bytes)
            written = _stream_to_file(response, path, mode=mode, have=have, total=total,
                                      chunk_size=chunk_size, progress=progress,
                                      description=description or path.name, url=url)
        size = have + written
        if total is not None and size != total:
            raise DownloadError(f"GET {url} ended after {size} of {total} bytes; "
                                f"run again to resume from {path}")
        if expected_bytes is not None and size != expected_bytes:
            raise DownloadError(f"GET {url} gave {size} bytes, expected {expected_bytes}")
        return path
    raise DownloadError(f"GET {url} failed: the server could not resume {path} and a clean "
                        f"restart did not succeed either")


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """Parse ``Content-Range: bytes a-b/total`` (or ``bytes */total``) into ``(a, b, total)``."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None, None, None
    start, end, total = match.groups()
    return (int(start) if start else None, int(end) if end else None,
            int(total) if total and total != "*" else None)


def _check_size(url: str, total: int | None, expected_bytes: int | None) -> None:
    # Refusing up front saves a long download of something that is not the expected archive.
    if total is not None and expected_bytes is not None and total != expected_bytes:
        raise DownloadError(f"GET {url}: the server announces {total} bytes, "
                            f"expected {expected_bytes}")


def _stream_to_file(response: requests.Response, path: Path, *, mode: str, have: int,
                    total: int | None, chunk_size: int, progress: bool, description: str,
                    url: str) -> int:
    """Append (``mode="ab"``) or write the response body to ``path``; return bytes written."""
    written = 0
    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
               desc=description, file=sys.stderr, disable=not progress, leave=False)
    try:
        with open(path, mode) as handle:
            for chunk in response.iter_content(chunk_size=chunk_size):
                handle.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except requests.RequestException as exc:
        raise DownloadError(f"GET {url} stopped after {have + written} bytes ({exc}); "
                            f"run again to resume from {path}") from exc
    finally:
        bar.close()
    return written


def file_md5(path: str | os.PathLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> str:
    """MD5 hex digest of a file, the checksum Zenodo publishes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: str | os.PathLike, folder: str | os.PathLike, *,
                    progress: bool = True) -> Path:
    """Unpack a zip or tar(.gz) archive into ``folder``, refusing members that would escape it.

    The format is read from the file's content, not its name (downloads end in ``.part``).

    Parameters
    ----------
    archive : path-like
        Zip or (compressed) tar file.
    folder : path-like
        Target folder, created if missing. On an error it may hold part of the archive; the
        caller extracts into a temporary folder and removes it.
    progress : bool
        Show a tqdm member counter on stderr.

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    DownloadError
        If the archive is unreadable or holds a member with an absolute path, a ``..``
        component, or (tar) a link, device or other non-regular entry.
    """
    archive, folder = Path(archive), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    label = f"extract {archive.name.removesuffix('.part')}"
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                members = bundle.infolist()
                for info in tqdm(members, desc=label, unit="file",
                                 file=sys.stderr, disable=not progress, leave=False):
                    _check_member_name(info.filename, archive)
                    bundle.extract(info, folder)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, mode="r:*") as bundle, \
                    tqdm(desc=label, unit="file", file=sys.stderr,
                         disable=not progress, leave=False) as bar:
                # Streaming member by member avoids decompressing a 6 GB tar twice.
                for member in bundle:
                    _check_member_name(member.name, archive)
                    if not (member.isfile() or member.isdir()):
                        raise DownloadError(f"{archive}: member {member.name!r} is a link or "
                                            f"special file; refusing to extract it")
                    _extract_tar_member(bundle, member, folder)
                    bar.update(1)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DownloadError(f"{archive} is not a readable archive: {exc}") from exc
    return folder


def _check_member_name(name: str, archive: Path) -> None:
    """Refuse a member path that is absolute or climbs out of the extraction folder."""
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in parts:
        raise DownloadError(f"{archive}: member {name!r} has an absolute path or '..'; "
                            f"refusing to extract an archive that writes outside its folder")


def _extract_tar_member(bundle: tarfile.TarFile, member: tarfile.TarInfo, folder: Path) -> None:
    # The "data" filter (Python >= 3.11.4) is a second line of defence behind the name checks:
    # it also drops permissions such as setuid that a dataset never needs.
    if hasattr(tarfile, "data_filter"):
        bundle.extract(member, folder, filter="data")
    else:  # pragma: no cover - older 3.11 patch releases
        bundle.extract(member, folder)


def verify_ravdess(root: str | os.PathLike, *, expected_files: int = 1440) -> int:
    """Check that ``root`` holds exactly ``expected_files`` RAVDESS speech clips.

    Files count when named like ``03-01-EE-II-SS-RR-AA`` with a suffix the manifest accepts
    (``audio.AUDIO_SUFFIXES``, any letter case: ``.wav``, ``.flac``, …), anywhere below
    ``root``; hidden files (macOS ``._`` copies) do not count, and a clip found twice (the
    same name in two folders or two formats) counts once, as the manifest keeps it once.

    Returns
    -------
    int
        The number of speech files found.

    Raises
    ------
    DownloadError
        If the count differs; the message gives both numbers.
    """
    found = len({path.stem for path in Path(root).rglob("*")
                 if audio.is_audio_name(path) and RAVDESS_SPEECH_STEM.match(path.stem)
                 and path.is_file()})
    if found != expected_files:
        raise DownloadError(f"RAVDESS archive holds {found} speech files named like "
                            f"03-01-EE-II-SS-RR-AA.wav (or another audio suffix), "
                            f"expected {expected_files}")
    return found


def verify_urbansound8k(root: str | os.PathLike, *, expected_files: int = 8732) -> int:
    """Check that ``root`` is an UrbanSound8K tree with ``expected_files`` audio clips.

    The tree must hold ``metadata/UrbanSound8K.csv`` and the clips under ``audio/fold*/``
    (hidden files such as ``.DS_Store`` are not clips).

    Returns
    -------
    int
        The number of audio clips found.

    Raises
    ------
    DownloadError
        If the metadata file is missing or the clip count differs; the message says what was
        found and what was expected.
    """
    root = Path(root)
    found = sum(1 for path in root.glob("audio/fold*/*")
                if path.is_file() and audio.is_audio_name(path))
    problems = []
    if not (root / "metadata" / "UrbanSound8K.csv").is_file():
        problems.append("metadata/UrbanSound8K.csv is missing")
    if found != expected_files:
        problems.append(f"found {found} audio clips under audio/fold*/, "
                        f"expected {expected_files}")
    if problems:
        raise DownloadError("UrbanSound8K archive: " + "; ".join(problems))
    return found


_VERIFIERS = {"ravdess": verify_ravdess, "urbansound8k": verify_urbansound8k}


def download_dataset(name: str, *, to: str | os.PathLike | None = None,
                     url: str | None = None,
                     expected_files: int | None = None,
                     archive_bytes: int | None = None,
                     archive_md5: str | None = None,
                     chunk_size: int = DEFAULT_CHUNK_SIZE,
                     timeout: float = DEFAULT_TIMEOUT_S,
                     progress: bool = True) -> Path:
    """Download, unpack and verify one corpus into a folder that must not already hold data.

    The archive is fetched to ``<archive>.part`` beside the destination (resumed if present),
    checked against its known size and MD5, unpacked into a temporary folder beside the
    destination, verified, and renamed into place. The ``.part`` file is removed once the tree
    is in place, and also when the archive proves bad (a rerun could only repeat the failure);
    it is kept after a network failure so a rerun resumes.

    Parameters
    ----------
    name : {"ravdess", "urbansound8k"}
        Registry key in ``SOURCES``.
    to : path-like, optional
        Destination folder; ``config.DATA_DIR / "ravdess"`` or ``... / "urbansound8k"`` by
        default. It may exist only as an empty folder.
    url : str, optional
        Download address; by default the environment variable named in the registry
        (``SER_RAVDESS_URL``, ``SER_URBANSOUND8K_URL``), else the official Zenodo address.
    expected_files : int, optional
        Audio files a complete copy holds; the registry's count (1440 or 8732) by default.
    archive_bytes, archive_md5 : optional
        Size and MD5 the archive must have. By default the registry's values are checked when
        the address is the official one or an environment mirror of it, and nothing is
        checked when ``url`` is given.
    chunk_size : int
        Bytes per read from the network.
    timeout : float
        Seconds to wait for the connection and for each chunk.
    progress : bool
        Show tqdm progress bars on stderr.

    Returns
    -------
    Path
        The destination folder, now a verified tree.

    Raises
    ------
    DownloadError
        If the destination already holds data, the download fails (HTTP status, network,
        size or MD5), the archive holds unsafe members, or the unpacked tree is not the
        expected one (nothing is left at the destination then).
    """
    source = get_source(name)
    if url is None:
        url = os.environ.get(source.url_env_var) or source.url
        if archive_bytes is None:
            archive_bytes = source.archive_bytes
        if archive_md5 is None:
            archive_md5 = source.archive_md5
    expected_files = source.expected_files if expected_files is None else expected_files
    if expected_files < 0:
        raise DownloadError(f"expected_files={expected_files} must be >= 0")
    destination = Path(to if to is not None else config.DATA_DIR / source.dir_name)
    destination = destination.expanduser().absolute()
    _refuse_existing(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)

    part = destination.parent / f"{_archive_name(url, source)}.part"
    fetch_resumable(url, part, expected_bytes=archive_bytes, chunk_size=chunk_size,
                    timeout=timeout, progress=progress, description=source.archive_name)

    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".extracting",
                                    dir=destination.parent))
    try:
        try:
            if archive_md5 is not None:
                actual = file_md5(part)
                if actual != archive_md5.lower():
                    raise DownloadError(f"{url}: archive MD5 is {actual}, expected {archive_md5}")
            extract_archive(part, staging, progress=progress)
            root = staging
            if source.top_folder and (staging / source.top_folder).is_dir():
                root = staging / source.top_folder
            _VERIFIERS[source.name](root, expected_files=expected_files)
        except DownloadError:
            # The archive itself is wrong, so resuming it could only reproduce this failure.
            part.unlink(missing_ok=True)
            raise
        # Checked again: another process may have filled the destination during the download.
        _refuse_existing(destination)
        if destination.is_dir():
            destination.rmdir()
        os.replace(root, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    part.unlink(missing_ok=True)
    return destination


def _archive_name(url: str, source: DatasetSource) -> str:
    """Name the partial file after the URL's file, so a mirror never resumes another's bytes."""
    candidate = PurePosixPath(unquote(urlparse(url).path)).name
    return candidate if candidate and candidate not in {".", ".."} else source.archive_name


def _refuse_existing(destination: Path) -> None:
    if destination.is_dir():
        if any(destination.iterdir()):
            raise DownloadError(f"{destination} already exists and is not empty; remove it or "
                                f"choose another destination with --to")
    elif destination.exists():
        raise DownloadError(f"{destination} already exists and is not a folder")


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Command line: ``download ravdess|urbansound8k [--to DIR] [--url URL] [--quiet]``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name, e.g. ``["ravdess", "--to", "data/ravdess"]``;
        ``sys.argv[1:]`` by default.
    prog : str, optional
        Program name shown in usage and error lines.

    Returns
    -------
    int
        0 on success; 1 on a download, archive or verification error (one line on stderr, no
        traceback); 2 on bad arguments; 130 when interrupted (the ``.part`` file is kept).
    """
    parser = argparse.ArgumentParser(
        prog=prog or "python -m helpers.download",
        description="Download, unpack and verify a dataset from its official Zenodo record.")
    parser.add_argument("dataset", choices=sorted(SOURCES), help="which corpus to download")
    parser.add_argument("--to", metavar="DIR", default=None,
                        help="destination folder (default: data/<dataset>); must be absent "
                             "or empty")
    parser.add_argument("--url", default=None,
                        help="download from this address instead (a mirror); size and MD5 "
                             "are then not checked")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits on --help and on bad arguments; a caller embedding main() wants a code.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        destination = download_dataset(args.dataset, to=args.to, url=args.url,
                                       progress=not args.quiet)
    except (ProjectError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; run again to resume the download", file=sys.stderr)
        return 130
    print(f"{args.dataset}: verified tree at {destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
