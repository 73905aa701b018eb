"""Where the viewer keeps uploads, for how long, and how much.

Each server process has one folder, ``<tmp>/medvit-viewer-uploads/<pid>/``, with one folder per
browser session. Folders of sessions that have ended are removed whenever a page runs, and
those of servers that are gone when a server starts. Every session has a quota for what its
uploads take on disk once extracted, and so has each upload (a small zip can expand to GBs).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from medvit.errors import MedvitError

MAX_UPLOAD_BYTES = 2 * 1024**3  # one upload, extracted: a DICOM series, a NIfTI volume
MAX_SESSION_BYTES = 4 * 1024**3  # all uploads of one browser session


def uploads_root() -> Path:
    """This server's uploads folder."""
    return Path(tempfile.gettempdir()) / "medvit-viewer-uploads" / str(os.getpid())


def session_folder(session_id: str) -> Path:
    """The private upload folder of one browser session (created on first use)."""
    folder = uploads_root() / "".join(c for c in session_id if c.isalnum() or c == "-")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def folder_bytes(folder: str | os.PathLike) -> int:
    """What the files under ``folder`` take, in bytes."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def check_session_quota(folder: str | os.PathLike, incoming: int, quota: int = MAX_SESSION_BYTES) -> int:
    """The bytes a session may still add; refuses an upload of ``incoming`` bytes that would not fit.

    Raises:
        MedvitError: the session's uploads would exceed ``quota``.
    """
    left = quota - folder_bytes(folder)
    if incoming > left:
        raise MedvitError(f"this upload ({incoming / 1024**2:.0f} MB) would take this session's uploads past "
                          f"{quota / 1024**3:.0f} GiB; reload the page to start a new session")
    return left


def remove_ended_sessions(is_active: Callable[[str], bool]) -> list[str]:
    """Delete the upload folders of this server's sessions that ``is_active`` says have ended."""
    root = uploads_root()
    removed = []
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.is_dir() and not is_active(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def remove_stale_servers() -> list[str]:
    """Delete the upload folders of viewer servers no longer running (at a server's start)."""
    parent = uploads_root().parent
    removed = []
    for folder in parent.iterdir() if parent.is_dir() else ():
        if folder.is_dir() and folder.name.isdigit() and not _running(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
