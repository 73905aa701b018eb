"""The viewer's hardening holds wherever it starts; uploads are bounded and cleaned up; the browser
never gets a traceback (issue 17, items 6-8)."""

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from medvit.errors import MedvitError
from medvit.viewer import uploads
from medvit.viewer.studies import MAX_ZIP_BYTES, save_upload

ROOT = Path(__file__).resolve().parents[1]


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                found.append(address)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc (Linux)")
def test_medvit_viewer_listens_on_localhost_only_when_started_elsewhere(tmp_path):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "medvit.cli", "viewer", "--port", str(port)], cwd=tmp_path,
                               start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not _listening(port) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.3)
        addresses = _listening(port)
        loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
        assert addresses, process.stdout.read1().decode() if process.poll() is not None else "not listening"
        assert set(addresses) <= loopback, f"listening on {addresses}"
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def test_the_flags_carry_no_error_details_and_no_usage_stats():
    from medvit.viewer.launch import hardened_flags

    flags = dict(zip(hardened_flags()[::2], hardened_flags()[1::2]))
    assert flags["--client.showErrorDetails"] == "none" and flags["--server.address"] == "localhost"
    assert flags["--browser.gatherUsageStats"] == "false"


def test_an_unexpected_error_is_one_line_in_the_browser_and_logged_on_the_server(tmp_path):
    from streamlit.testing.v1 import AppTest

    script = tmp_path / "page.py"
    script.write_text(
        "import zipfile\n"
        "from medvit.viewer import widgets as w\n"
        "with w.readable_errors():\n"
        "    raise zipfile.BadZipFile('Bad CRC-32 for file slice_001.dcm')\n"
    )
    app = AppTest.from_file(str(script)).run(timeout=60)
    assert not app.exception
    assert [e.value for e in app.error] == ["Cannot open this: BadZipFile: Bad CRC-32 for file slice_001.dcm"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_with_a_bad_crc_is_refused_and_leaves_nothing(tmp_path):
    data = bytearray(_zip({"series/a.dcm": b"A" * 5000, "series/b.dcm": bytes(range(256)) * 40}))
    data[data.index(bytes(range(256))[:4]) if bytes(range(256))[:4] in data else 60] ^= 0xFF
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        assert zf.testzip() is not None  # the archive really is damaged
    with pytest.raises(MedvitError, match="study.zip: a damaged zip archive"):
        save_upload("study.zip", bytes(data), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("declared", [MAX_ZIP_BYTES + 1, 3_500 * 1024**2])
def test_a_zip_bomb_is_refused_before_extraction(tmp_path, declared):
    """The example (3.6 MB expanding to 3.5 GiB) and one byte over the cap, as a zip's directory declares them."""
    archive = bytearray(_zip({"big.raw": b"\0" * 1024}))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        start = archive.index(signature) + offset
        archive[start:start + 4] = declared.to_bytes(4, "little")
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
        assert zf.infolist()[0].file_size == declared
    with pytest.raises(MedvitError, match="bomb.zip: expands to .* MB, more than the 2,048 MB"):
        save_upload("bomb.zip", bytes(archive), tmp_path)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_a_session_has_a_quota(tmp_path):
    (tmp_path / "earlier.nii").write_bytes(b"\0" * 1000)
    assert uploads.check_session_quota(tmp_path, 500, quota=2000) == 1000
    with pytest.raises(MedvitError, match="past 0 GiB; reload the page"):
        uploads.check_session_quota(tmp_path, 1500, quota=2000)
    with pytest.raises(MedvitError, match="more than the 0 MB an upload may take"):
        save_upload("series.zip", _zip({"a.dcm": b"\1" * 4096}), tmp_path / "new", max_bytes=1000)


def test_a_very_long_upload_name_is_shortened_not_an_error(tmp_path):
    saved = save_upload("x" * 300 + ".nii.gz", b"\x1f\x8b not really", tmp_path)
    assert saved.name.endswith(".nii.gz") and len(saved.name) <= 100 and saved.parent == tmp_path


def test_uploads_of_ended_sessions_and_gone_servers_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads.tempfile, "gettempdir", lambda: str(tmp_path))
    alive, ended = uploads.session_folder("alive-1"), uploads.session_folder("ended-2")
    (ended / "scan.nii").write_bytes(b"1")
    assert uploads.remove_ended_sessions(lambda sid: sid == "alive-1") == ["ended-2"]
    assert alive.is_dir() and not ended.exists()
    gone = tmp_path / "medvit-viewer-uploads" / "999999999"
    gone.mkdir()
    assert uploads.remove_stale_servers() == ["999999999"] and uploads.uploads_root().is_dir()
