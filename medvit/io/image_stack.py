"""A folder of 2D images read as one volume: OCT B-scans exported one PNG / TIFF per slice.

Devices and viewers export an OCT cube as ``bscan_000.png, bscan_001.png, ...``; the files
are ordered by the numbers in their names (``2`` before ``10``) and stacked along the last
axis: (x, y, slice), x across the B-scan, y along the A-scan (depth). Colour exports are
converted to grey. Units are pixels (no spacing is stored in such files).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError
from medvit.io.meta import image_meta
from medvit.io.photo import PHOTO_SUFFIXES, read_photo

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def stack_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder`` in slice order (numbers in names compared as numbers)."""
    def natural(path: Path):
        return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]

    return sorted((p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in PHOTO_SUFFIXES), key=natural)


def is_image_stack(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds only images (PNG, JPEG, TIFF, BMP) and no sub-folders: a B-scan stack."""
    entries = [p for p in Path(folder).iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES for p in entries)


def grey(array: np.ndarray) -> np.ndarray:
    """(x, y) grey as is; (x, y, 3|4) colour -> grey (luma; the first channel when all are equal)."""
    if array.ndim == 2:
        return array
    if np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2]):
        return array[..., 0]
    return array[..., :3].astype(np.float32) @ LUMA


def read_image_stack(folder: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a folder of B-scans as a volume.

    Returns:
        ``(array, meta)``: array (x, y, n_slices), the files' dtype (float32 when colour was
        converted); meta ``kind == "image-stack"``, ``slices`` (the file names in order),
        identity affine in pixels.

    Raises:
        ImageReadError: naming the folder (no images) or the file (unreadable, other size).
    """
    files = stack_files(folder)
    if not files:
        raise ImageReadError(folder, f"holds no B-scan images ({', '.join(PHOTO_SUFFIXES)})")
    slices = []
    for path in files:
        array, _ = read_photo(path)
        array = grey(array)
        if slices and array.shape != slices[0].shape:
            raise ImageReadError(path, f"B-scan of size {array.shape} in a stack of {slices[0].shape} images "
                                       f"(the first is {files[0].name})")
        slices.append(array)
    dtype = np.result_type(*[s.dtype for s in slices])
    volume = np.stack(slices, axis=-1).astype(dtype, copy=False)
    meta = image_meta(folder, "image-stack", volume, np.eye(4), channel_last=False, space=None, modality="OPT",
                      spacing_unit="pixel", slices=[p.name for p in files])
    return volume, meta
