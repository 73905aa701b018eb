"""Write files whole or not at all: write to a temporary file beside the target, then rename.

``os.replace`` is atomic on POSIX and Windows when source and target are on the same file
system, which a sibling temporary file guarantees. A reader never sees half a file, and
a crash leaves the previous version (or nothing) in place.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

# Suffixes writers infer formats from; the temporary file keeps them.
_COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz", ".csv.gz")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for compound in _COMPOUND_SUFFIXES:
        if name.endswith(compound):
            return path.name[-len(compound):]
    return path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed to ``path``.

    The temporary file sits in the target's folder (created if missing) and keeps the
    target's suffix, so writers that pick a format from the extension still work. If
    the block raises, the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh unique name rather than mkstemp: the writer creates the file, so it gets
    # the usual permissions (mkstemp's are owner-only).
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{_suffix(target)}"
    try:
        yield tmp
        os.replace(tmp, target)
        written = _CASE_OUTPUTS.get()
        if written is not None:
            written.append(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# The files one case has written so far, while :func:`all_or_nothing` is open.
_CASE_OUTPUTS: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("case_outputs", default=None)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[list[Path]]:
    """Files written through :func:`atomic_path` inside the block are removed again if it
    fails: a case's outputs (a label map and its DICOM SEG, say) appear together or not at all.
    Yields the list of the files written so far."""
    written: list[Path] = []
    token = _CASE_OUTPUTS.set(written)
    try:
        yield written
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    finally:
        _CASE_OUTPUTS.reset(token)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
