"""Dataset download against a loopback HTTP server: resume, safe extraction, verification.

No test touches the internet: a ThreadingHTTPServer on 127.0.0.1 serves small archives built
here in the real corpora's layouts, and every request carries a short timeout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import wave
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import config, download
from helpers.download import DownloadError

TIMEOUT_S = 5.0
RAVDESS_NAMES = ("03-01-01-01-01-01-01.wav", "03-01-05-02-01-02-01.wav",
                 "03-01-08-02-02-01-01.wav")


def tiny_wav(n_samples: int = 800) -> bytes:
    """A short silent 16-bit mono WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16_000)
        handle.writeframes(b"\x00\x00" * n_samples)
    return buffer.getvalue()


def ravdess_zip(members: dict[str, bytes] | None = None) -> bytes:
    """A zip in RAVDESS's layout: three speech clips in ``Actor_01/`` and one unrelated file."""
    if members is None:
        members = {f"Actor_01/{name}": tiny_wav() for name in RAVDESS_NAMES}
        members["Actor_01/readme.txt"] = b"not a speech file"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, data in members.items():
            bundle.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def urbansound_tar(members: dict[str, bytes] | None = None) -> bytes:
    """A tar.gz in UrbanSound8K's layout under its ``UrbanSound8K/`` top folder."""
    if members is None:
        members = {
            "UrbanSound8K/metadata/UrbanSound8K.csv": b"slice_file_name,fold,classID,class\n",
            "UrbanSound8K/audio/fold1/100032-3-0-0.wav": tiny_wav(),
            "UrbanSound8K/audio/fold2/100263-2-0-117.wav": tiny_wav(),
            "UrbanSound8K/audio/fold2/.DS_Store": b"\x00",
            "UrbanSound8K/UrbanSound8K_README.txt": b"readme",
        }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ArchiveServer:
    """Files served over loopback HTTP, with a record of the requests' headers."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, str]] = []
        self.ignore_range = False
        self.cut_after: int | None = None  # bytes of the body sent before hanging up
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT_S  # bounds each socket read, so a stuck client cannot hang a test

            def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches on
                server.requests.append({"path": self.path, **dict(self.headers)})
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                total = len(body)
                requested = self.headers.get("Range")
                if requested and not server.ignore_range:
                    start_text, _, end_text = requested.removeprefix("bytes=").partition("-")
                    start = int(start_text)
                    end = int(end_text) if end_text else total - 1
                    if start >= total:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{total}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    chunk = body[start:end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
                else:
                    chunk = body
                    self.send_response(200)
                self.send_header("Content-Length", str(len(chunk)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.cut_after is not None:  # a dropped connection, once
                    chunk, server.cut_after = chunk[:server.cut_after], None
                    self.close_connection = True
                self.wfile.write(chunk)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
                pass  # keep pytest's output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=TIMEOUT_S)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> ArchiveServer:
    instance = ArchiveServer()
    request.addfinalizer(instance.stop)
    instance.files["/ravdess.zip"] = ravdess_zip()
    instance.files["/UrbanSound8K.tar.gz"] = urbansound_tar()
    return instance


def fetch(name: str, server: ArchiveServer, destination: Path, path: str, **kwargs) -> Path:
    kwargs.setdefault("expected_files", 3 if name == "ravdess" else 2)
    return download.download_dataset(name, to=destination, url=server.url(path),
                                     timeout=TIMEOUT_S, progress=False, chunk_size=256,
                                     **kwargs)


def leftovers(folder: Path) -> list[str]:
    """Temporary folders, archives and partial files a finished run should not leave behind
    (pooch's own temporary downloads are named ``tmp*``)."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".part", ".extracting", ".zip", ".tar.gz"))
                  or p.name.startswith("tmp"))


def test_ravdess_download_gives_a_verified_tree(server, tmp_path):
    destination = fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip")

    assert destination == tmp_path / "ravdess"
    found = sorted(p.name for p in destination.rglob("03-01-*.wav"))
    assert found == sorted(RAVDESS_NAMES)
    assert (destination / "Actor_01" / RAVDESS_NAMES[0]).read_bytes() == tiny_wav()
    assert leftovers(tmp_path) == []
    assert "Range" not in server.requests[0]


def test_urbansound8k_tar_top_folder_is_normalised(server, tmp_path):
    destination = fetch("urbansound8k", server, tmp_path / "urbansound8k",
                        "/UrbanSound8K.tar.gz")

    assert (destination / "metadata" / "UrbanSound8K.csv").is_file()
    assert (destination / "audio" / "fold2" / "100263-2-0-117.wav").is_file()
    assert not (destination / "UrbanSound8K").exists()
    assert leftovers(tmp_path) == []


def test_empty_destination_folder_is_accepted(server, tmp_path):
    (tmp_path / "ravdess").mkdir()
    destination = fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip")
    assert len(list(destination.rglob("03-01-*.wav"))) == 3


def test_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    body = server.files["/ravdess.zip"]
    half = len(body) // 2
    (tmp_path / "ravdess.zip.part").write_bytes(body[:half])

    destination = fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip",
                        archive_bytes=len(body))

    assert [r.get("Range") for r in server.requests] == [f"bytes={half}-"]
    assert sorted(p.name for p in destination.rglob("03-01-*.wav")) == sorted(RAVDESS_NAMES)
    assert leftovers(tmp_path) == []


def test_resume_with_md5_checks_the_joined_file(server, tmp_path):
    body = server.files["/ravdess.zip"]
    part = tmp_path / "ravdess.zip.part"
    part.write_bytes(body[:100])
    expected_md5 = hashlib.md5(body).hexdigest()

    fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip", archive_md5=expected_md5)
    assert server.requests[0]["Range"] == "bytes=100-"


def test_complete_partial_file_is_not_downloaded_again(server, tmp_path):
    # An earlier run finished the download but was stopped while unpacking.
    body = server.files["/ravdess.zip"]
    (tmp_path / "ravdess.zip.part").write_bytes(body)

    fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip")

    assert [r.get("Range") for r in server.requests] == [f"bytes={len(body)}-"]
    assert len(list((tmp_path / "ravdess").rglob("03-01-*.wav"))) == 3


def test_dropped_connection_keeps_the_part_file_and_a_rerun_resumes(server, tmp_path):
    body = server.files["/ravdess.zip"]
    server.cut_after = 1000

    with pytest.raises(DownloadError, match="run again to resume") as caught:
        fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip",
              archive_md5=hashlib.md5(body).hexdigest())
    assert server.url("/ravdess.zip") in str(caught.value)
    kept = (tmp_path / "ravdess.zip.part").read_bytes()
    assert 0 < len(kept) <= 1000 and body.startswith(kept)
    assert leftovers(tmp_path) == ["ravdess.zip.part"]

    fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip",
          archive_md5=hashlib.md5(body).hexdigest())
    assert [r.get("Range") for r in server.requests] == [None, f"bytes={len(kept)}-"]
    assert leftovers(tmp_path) == []


def test_checked_archive_from_a_run_stopped_while_unpacking_is_reused(server, tmp_path):
    # pooch finds the archive with the right MD5 and downloads nothing.
    body = server.files["/ravdess.zip"]
    (tmp_path / "ravdess.zip").write_bytes(body)

    destination = fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip",
                        archive_md5=hashlib.md5(body).hexdigest())

    assert server.requests == []
    assert len(list(destination.rglob("03-01-*.wav"))) == 3
    assert leftovers(tmp_path) == []


def test_corrupt_resumed_archive_fails_its_md5_and_is_not_kept(server, tmp_path):
    body = server.files["/ravdess.zip"]
    (tmp_path / "ravdess.zip.part").write_bytes(b"\xff" * 100)  # not the archive's first bytes

    with pytest.raises(DownloadError,
                       match=r"ravdess\.zip MD5 is [0-9a-f]{32}, expected") as caught:
        fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip",
              archive_md5=hashlib.md5(body).hexdigest())

    assert server.url("/ravdess.zip") in str(caught.value)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "ravdess").exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "ravdess.zip.part").write_bytes(b"stale bytes from another attempt")

    destination = fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip")

    assert server.requests[0]["Range"] == "bytes=32-"
    assert sorted(p.name for p in destination.rglob("03-01-*.wav")) == sorted(RAVDESS_NAMES)


def test_fetch_resumable_restart_leaves_exactly_the_remote_file(server, tmp_path):
    server.ignore_range = True
    part = tmp_path / "file.part"
    part.write_bytes(b"x" * 10)

    download.fetch_resumable(server.url("/ravdess.zip"), part, timeout=TIMEOUT_S,
                             progress=False)

    assert part.read_bytes() == server.files["/ravdess.zip"]


def test_refuses_to_overwrite_an_existing_tree(server, tmp_path):
    destination = tmp_path / "ravdess"
    destination.mkdir()
    (destination / "keep.txt").write_text("user data")

    with pytest.raises(DownloadError, match="already exists and is not empty") as caught:
        fetch("ravdess", server, destination, "/ravdess.zip")

    assert str(destination) in str(caught.value)
    assert (destination / "keep.txt").read_text() == "user data"
    assert server.requests == []  # refused before any download


def test_wrong_count_leaves_no_destination(server, tmp_path):
    with pytest.raises(DownloadError, match=r"holds 3 speech files.*expected 4"):
        fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip", expected_files=4)

    assert not (tmp_path / "ravdess").exists()
    assert leftovers(tmp_path) == []


def test_verify_ravdess_counts_every_accepted_suffix_once_per_clip(tmp_path):
    """The count follows audio.AUDIO_SUFFIXES, as the manifest does: FLAC, AIFF, OGG and
    upper-case suffixes count; hidden copies, other suffixes, songs and repeats do not."""
    counted = {"Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-02-01-01-01-01.flac",
               "Actor_01/03-01-03-01-01-01-01.WAV", "Actor_01/03-01-04-01-01-01-01.Flac",
               "Actor_02/03-01-05-01-01-01-02.aiff", "Actor_02/03-01-06-01-01-01-02.ogg",
               "Actor_02/03-01-07-01-01-01-02.mp3"}
    ignored = {"Actor_01/._03-01-05-01-01-01-01.wav",  # a macOS AppleDouble copy
               "Actor_01/03-01-06-01-01-01-01.txt",  # a transcript, not audio
               "Actor_01/03-02-03-01-01-01-01.flac",  # a song
               "Actor_01/03-01-07-01-01-01-01.wav.part",  # an unfinished download
               "copy/Actor_01/03-01-01-01-01-01-01.flac"}  # a clip already counted
    for name in counted | ignored:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(tiny_wav())
    (tmp_path / "Actor_02" / "03-01-08-01-01-01-02.wav").mkdir()  # a folder, not a file

    assert download.verify_ravdess(tmp_path, expected_files=len(counted)) == len(counted)
    with pytest.raises(DownloadError, match=rf"holds {len(counted)} speech files.*expected 1440"):
        download.verify_ravdess(tmp_path)


def test_urbansound8k_without_metadata_fails_verification(server, tmp_path):
    server.files["/UrbanSound8K.tar.gz"] = urbansound_tar(
        {"UrbanSound8K/audio/fold1/1-1-0-0.wav": tiny_wav()})

    with pytest.raises(DownloadError) as caught:
        fetch("urbansound8k", server, tmp_path / "urbansound8k", "/UrbanSound8K.tar.gz")

    message = str(caught.value)
    assert "metadata/UrbanSound8K.csv is missing" in message
    assert "found 1 audio clips under audio/fold*/, expected 2" in message
    assert not (tmp_path / "urbansound8k").exists()


def test_http_404_names_url_and_status(server, tmp_path):
    url = server.url("/missing.zip")
    with pytest.raises(DownloadError) as caught:
        download.download_dataset("ravdess", to=tmp_path / "ravdess", url=url,
                                  timeout=TIMEOUT_S, progress=False)

    assert url in str(caught.value)
    assert "HTTP 404" in str(caught.value)
    assert not (tmp_path / "ravdess").exists()


def test_announced_size_mismatch_is_refused_before_download(server, tmp_path):
    with pytest.raises(DownloadError, match="announces .* bytes, expected 12345"):
        fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip", archive_bytes=12345)
    assert not (tmp_path / "ravdess.zip.part").exists()


def test_md5_mismatch_discards_the_archive(server, tmp_path):
    with pytest.raises(DownloadError, match="MD5 is [0-9a-f]{32}, expected 0{32}"):
        fetch("ravdess", server, tmp_path / "ravdess", "/ravdess.zip", archive_md5="0" * 32)
    assert not (tmp_path / "ravdess").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("member", ["../evil.wav", "/tmp/evil.wav", "Actor_01/../../evil.wav",
                                    "C:\\evil.wav"])
def test_zip_member_escaping_the_folder_is_rejected(server, tmp_path, member):
    server.files["/ravdess.zip"] = ravdess_zip({member: b"payload",
                                                "Actor_01/03-01-01-01-01-01-01.wav": tiny_wav()})
    sandbox = tmp_path / "sandbox"

    with pytest.raises(DownloadError, match="absolute path or '..'") as caught:
        fetch("ravdess", server, sandbox / "ravdess", "/ravdess.zip", expected_files=1)

    assert repr(member) in str(caught.value)
    assert not (sandbox / "ravdess").exists()
    assert not (tmp_path / "evil.wav").exists()
    assert leftovers(sandbox) == []


@pytest.mark.parametrize("member", ["UrbanSound8K/../../evil.wav", "/evil.wav"])
def test_tar_member_escaping_the_folder_is_rejected(server, tmp_path, member):
    server.files["/UrbanSound8K.tar.gz"] = urbansound_tar({member: b"payload"})
    sandbox = tmp_path / "sandbox"

    with pytest.raises(DownloadError, match="absolute path or '..'"):
        fetch("urbansound8k", server, sandbox / "urbansound8k", "/UrbanSound8K.tar.gz")

    assert not (sandbox / "urbansound8k").exists()
    assert not (tmp_path / "evil.wav").exists()


def test_tar_symlink_is_rejected(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        link = tarfile.TarInfo("UrbanSound8K/audio")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        bundle.addfile(link)
    archive = tmp_path / "links.tar.gz"
    archive.write_bytes(buffer.getvalue())

    with pytest.raises(DownloadError, match="link or special file"):
        download.extract_archive(archive, tmp_path / "out", progress=False)


def test_unreadable_archive_is_reported(tmp_path):
    archive = tmp_path / "junk.part"
    archive.write_bytes(b"this is not an archive")
    with pytest.raises(DownloadError, match="neither a zip nor a tar"):
        download.extract_archive(archive, tmp_path / "out", progress=False)


def test_default_destination_and_environment_url(server, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("SER_RAVDESS_URL", server.url("/ravdess.zip"))
    # The registry's size and MD5 describe the real archive; the test archive is smaller.
    monkeypatch.setitem(download.SOURCES, "ravdess", dataclasses.replace(
        download.SOURCES["ravdess"], expected_files=3, archive_bytes=None, archive_md5=None))

    destination = download.download_dataset("ravdess", timeout=TIMEOUT_S, progress=False)

    assert destination == tmp_path / "data" / "ravdess"
    assert len(list(destination.rglob("03-01-*.wav"))) == 3


def test_environment_mirror_is_checked_against_the_registry_size(server, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("SER_RAVDESS_URL", server.url("/ravdess.zip"))
    with pytest.raises(DownloadError, match="expected 208468073"):
        download.download_dataset("ravdess", to=tmp_path / "ravdess", timeout=TIMEOUT_S,
                                  progress=False)


def test_unknown_dataset_is_rejected():
    with pytest.raises(DownloadError, match="dataset='esc50' must be one of"):
        download.download_dataset("esc50")


def test_main_succeeds_and_reports_the_tree(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(download.SOURCES, "ravdess", dataclasses.replace(
        download.SOURCES["ravdess"], expected_files=3))

    status = download.main(["ravdess", "--to", str(tmp_path / "ravdess"),
                            "--url", server.url("/ravdess.zip"), "--quiet"])

    assert status == 0
    assert "verified tree" in capsys.readouterr().out
    assert len(list((tmp_path / "ravdess").rglob("03-01-*.wav"))) == 3


def test_main_failure_is_one_line_without_traceback(server, tmp_path, capsys):
    status = download.main(["ravdess", "--to", str(tmp_path / "ravdess"),
                            "--url", server.url("/missing.zip"), "--quiet"])

    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert "HTTP 404" in err and "Traceback" not in err


def test_main_rejects_an_unknown_dataset_with_status_2(capsys):
    assert download.main(["esc50"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_module_runs_as_a_script_and_refuses_overwrite(tmp_path):
    destination = tmp_path / "ravdess"
    destination.mkdir()
    (destination / "keep.txt").write_text("user data")
    env = {**os.environ, "PYTHONPATH": str(config.PROJECT_ROOT)}

    completed = subprocess.run(
        [sys.executable, "-m", "helpers.download", "ravdess", "--to", str(destination)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)

    assert completed.returncode == 1
    assert str(destination) in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stderr.count("\n") == 1
