"""Finding the 2D image files of a cohort folder (fundus photos, chest X-rays)."""

from __future__ import annotations

import os
from pathlib import Path

from medvit.errors import MedvitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
DICOM_MAGIC_OFFSET = 128


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(DICOM_MAGIC_OFFSET + 4)[DICOM_MAGIC_OFFSET:] == b"DICM"


def list_image_files(folder: str | os.PathLike, exclude: tuple[str | os.PathLike | None, ...] = (),
                     what: str = "images") -> list[Path]:
    """Image files under ``folder`` (recursively), sorted: by suffix, and DICOM files without one
    (as PACS exports name them); hidden files and files under ``exclude`` folders skipped.

    Raises:
        MedvitError: ``folder`` is not a folder or holds no image (``what`` names them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MedvitError(f"{folder}: not a folder of {what}")
    skip = [Path(e).resolve() for e in exclude if e]
    images = [
        p for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and not any(s in p.resolve().parents for s in skip)
        and (p.suffix.lower() in IMAGE_SUFFIXES or (not p.suffix and _is_dicom(p)))
    ]
    if not images:
        raise MedvitError(f"{folder}: no {what} ({', '.join(IMAGE_SUFFIXES)} or DICOM files) found")
    return images
