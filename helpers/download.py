"""Download the real corpora (RAVDESS speech, UrbanSound8K) from their official Zenodo records.

`pooch <https://www.fatiando.org/pooch/>`_ (a librosa dependency) fetches each archive: it checks
the MD5 from our registry on a temporary file and renames the file into place only if it
matches. Ours are the downloader pooch calls (:func:`fetch_resumable`: pooch's own starts every
download from byte 0, which a dropped connection 5 GB into UrbanSound8K makes costly) and the
unpacking, which refuses unsafe members and renames the tree into place only once it is counted,
so the destination is either absent or a complete, verified tree.

Run it as ``python -m helpers.download ravdess [--to DIR]`` (or through
``python -m helpers.datasets download``, which calls :func:`main`).
"""

from __future__ import annotations

import argparse
import dataclasses
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

import pooch
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
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-\d+|\*)/(\d+)$")


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
    instead of 206 sent the whole file, so ``path`` is rewritten from byte 0; a 416 whose total
    equals the size on disk means the file is already complete. pooch's ``HTTPDownloader``
    covers none of this (it sends no Range header and truncates its output), which is why
    :func:`download_dataset` hands pooch this function as its downloader.

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
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            raise DownloadError(f"GET {url} failed: {exc}") from exc
        with response:
            # Content-Range is "bytes <start>-<end>/<total>" on a 206, "bytes */<total>" on a 416.
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
            start = int(match[1]) if match and match[1] else None
            total = int(match[2]) if match else None
            status = response.status_code
            if status == 416 and have:
                if total != have:  # the partial file is longer than (or unrelated to) the remote
                    path.unlink()
                    continue
                mode = None  # already complete
            elif status >= 400:
                raise DownloadError(f"GET {url} failed: HTTP {status} {response.reason}".rstrip())
            elif status == 206 and start != have:
                path.unlink()  # a range we did not ask for cannot be appended safely
                continue
            elif status == 206:
                mode = "ab"
            elif status == 200:
                # The server ignored Range (or there was nothing to resume): the body is the
                # whole file, so the partial bytes are discarded rather than duplicated.
                have, mode = 0, "wb"
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
            else:
                raise DownloadError(f"GET {url} failed: unexpected HTTP {status} "
                                    f"{response.reason}".rstrip())
            # Refusing up front saves a long download of something that is not the archive.
            if total is not None and expected_bytes is not None and total != expected_bytes:
                raise DownloadError(f"GET {url}: the server announces {total} bytes, "
                                    f"expected {expected_bytes}")
            if mode is None:
                return path
            size = have
            with open(path, mode) as handle, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=description or path.name, file=sys.stderr, disable=not progress,
                    leave=False) as bar:
                try:
                    for chunk in response.iter_content(chunk_size=chunk_size):
                        size += handle.write(chunk)
                        bar.update(len(chunk))
                except requests.RequestException as exc:
                    raise DownloadError(f"GET {url} stopped after {size} bytes ({exc}); "
                                        f"run again to resume from {path}") from exc
        # The announced total, when there is one, already equals expected_bytes (checked above).
        wanted = expected_bytes if total is None else total
        if wanted is not None and size != wanted:
            raise DownloadError(f"GET {url} ended after {size} of {wanted} bytes; "
                                f"run again to resume from {path}")
        return path
    raise DownloadError(f"GET {url} failed: the server could not resume {path} and a clean "
                        f"restart did not succeed either")


def extract_archive(archive: str | os.PathLike, folder: str | os.PathLike, *,
                    progress: bool = True) -> Path:
    """Unpack a zip or tar(.gz) archive into ``folder``, refusing members that would escape it.

    The format is read from the file's content, not its name.

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
    bar = tqdm(desc=f"extract {archive.name}", unit="file", file=sys.stderr,
               disable=not progress, leave=False)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                for info in bundle.infolist():
                    _check_member_name(info.filename, archive)
                    bundle.extract(info, folder)
                    bar.update(1)
        elif tarfile.is_tarfile(archive):
            # The "data" filter (Python >= 3.11.4) is a second line of defence behind the name
            # checks: it also drops permissions such as setuid that a dataset never needs.
            data_filter = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            with tarfile.open(archive, mode="r:*") as bundle:
                # Streaming member by member avoids decompressing a 6 GB tar twice.
                for member in bundle:
                    _check_member_name(member.name, archive)
                    if not (member.isfile() or member.isdir()):
                        raise DownloadError(f"{archive}: member {member.name!r} is a link or "
                                            f"special file; refusing to extract it")
                    bundle.extract(member, folder, **data_filter)
                    bar.update(1)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DownloadError(f"{archive} is not a readable archive: {exc}") from exc
    finally:
        bar.close()
    return folder


def _check_member_name(name: str, archive: Path) -> None:
    """Refuse a member path that is absolute or climbs out of the extraction folder."""
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in parts:
        raise DownloadError(f"{archive}: member {name!r} has an absolute path or '..'; "
                            f"refusing to extract an archive that writes outside its folder")


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

    The archive is fetched by :func:`retrieve_archive` beside the destination (resumed from a
    ``.part`` file, checked against its known size and MD5), unpacked into a temporary folder
    beside the destination, verified, and renamed into place. The archive is removed once the
    tree is in place, and also when it proves bad (a rerun could only repeat the failure); a
    network failure keeps the ``.part`` file so a rerun resumes, and a run stopped while
    unpacking keeps the checked archive, which pooch then reuses without downloading it again.

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

    archive = retrieve_archive(url, destination.parent / _archive_name(url, source),
                               expected_bytes=archive_bytes, md5=archive_md5,
                               chunk_size=chunk_size, timeout=timeout, progress=progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".extracting",
                                    dir=destination.parent))
    try:
        try:
            extract_archive(archive, staging, progress=progress)
            root = staging
            if source.top_folder and (staging / source.top_folder).is_dir():
                root = staging / source.top_folder
            _VERIFIERS[source.name](root, expected_files=expected_files)
        except DownloadError:
            # The archive itself is wrong, so keeping it could only reproduce this failure.
            archive.unlink(missing_ok=True)
            raise
        # Checked again: another process may have filled the destination during the download.
        _refuse_existing(destination)
        if destination.is_dir():
            destination.rmdir()
        os.replace(root, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    return destination


def retrieve_archive(url: str, archive: str | os.PathLike, *,
                     expected_bytes: int | None = None, md5: str | None = None,
                     chunk_size: int = DEFAULT_CHUNK_SIZE, timeout: float = DEFAULT_TIMEOUT_S,
                     progress: bool = True) -> Path:
    """Fetch ``url`` to ``archive`` with pooch, resuming ``<archive>.part``; return ``archive``.

    pooch skips the download when ``archive`` is already there with the right MD5 (or with
    ``md5=None``: a file of that name is then trusted), replaces one with another MD5, and
    checks the MD5 of a download before renaming it into place.

    Raises
    ------
    DownloadError
        As :func:`fetch_resumable` does, or if the MD5 differs (the message names the URL, the
        archive and both digests; pooch has deleted the download).
    """
    archive = Path(archive)
    part = archive.with_name(f"{archive.name}.part")

    def resume_into(url: str, output_file: str, _pooch: object) -> None:
        # pooch downloads into a temporary file of its own before checking it; ours resumes a
        # .part file that outlives a failed run, so the finished .part becomes that file.
        fetch_resumable(url, part, expected_bytes=expected_bytes, chunk_size=chunk_size,
                        timeout=timeout, progress=progress, description=archive.name)
        os.replace(part, output_file)

    # Our progress bar and final line say what pooch's log would (it would also suggest a
    # SHA256 for the caller to pin, which means nothing to someone running the command).
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        return Path(pooch.retrieve(url, known_hash=f"md5:{md5.lower()}" if md5 else None,
                                   fname=archive.name, path=archive.parent,
                                   downloader=resume_into))
    except DownloadError:
        raise
    except ValueError as exc:  # pooch's hash mismatch; it has deleted the download
        got = re.search(r"but got ([0-9a-fA-F]+)", str(exc))
        actual = got[1] if got else f"not {md5} ({exc})"
        raise DownloadError(f"{url}: archive {archive.name} MD5 is {actual}, "
                            f"expected {md5}") from exc
    finally:
        logger.setLevel(level)


def _archive_name(url: str, source: DatasetSource) -> str:
    """Name the archive after the URL's file, so a mirror never resumes another's bytes."""
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
