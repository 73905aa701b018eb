"""One entry point for every format: decide what a path is from its content, read it.

:func:`read_image` returns ``(array, meta)`` with numpy only, so that ``medvit info``
starts without torch or MONAI; :func:`medvit.io.load_image` turns the same result into a
channel-first ``MetaTensor`` for bundles.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError
from medvit.io.meta import channel_count, spacing_from_affine

DICOM_MAGIC_OFFSET = 128
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_USER_BLOCK = 512  # MATLAB v7.3 files are HDF5 after a 512-byte MATLAB header


def image_kind(path: str | os.PathLike) -> str:
    """What medvit will read ``path`` as: "dicom-series", "image-stack", "nifti", "dicom-image" or "photo".

    Decided by content (DICOM preamble, image signatures), by suffix only for NIfTI and for a
    folder holding only PNG / JPEG / TIFF / BMP files (a stack of B-scans, "image-stack").

    Raises:
        ImageReadError: missing path, empty file, or a file of no supported kind.
    """
    from medvit.io.nifti import is_nifti_path
    from medvit.io.photo import PHOTO_SUFFIXES

    from medvit.io.image_stack import is_image_stack

    path = Path(path)
    if path.is_dir():
        return "image-stack" if is_image_stack(path) else "dicom-series"
    if not path.exists():
        raise ImageReadError(path, "no such file or folder")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "is an empty file")
    if is_nifti_path(path):
        return "nifti"
    with open(path, "rb") as fh:
        head = fh.read(HDF5_USER_BLOCK + len(HDF5_SIGNATURE))
    if head.startswith(HDF5_SIGNATURE) or head[HDF5_USER_BLOCK:].startswith(HDF5_SIGNATURE) or head.startswith(b"MATLAB"):
        raise ImageReadError(path, "is an HDF5 / MATLAB file (e.g. k-space: fastMRI .h5, CMRxRecon .mat), not an "
                                   "image: the CMRxRecon bundle and medvit.io.FastMRIKSpace read k-space files")
    if head[DICOM_MAGIC_OFFSET:DICOM_MAGIC_OFFSET + 4] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom"):
        return "dicom-image"
    if _pillow_identifies(path) or path.suffix.lower() in PHOTO_SUFFIXES:
        return "photo"
    raise ImageReadError(path, "not a supported image (NIfTI, DICOM file or series folder, PNG/JPEG/TIFF)")


def _pillow_identifies(path: Path) -> bool:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        # Pillow warns (on stderr) about very large images as it opens them: read_photo records it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path):
                return True
    except Image.DecompressionBombError:
        return True  # an image all the same: read_photo refuses it, naming the size
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def read_image(path: str | os.PathLike, series_uid: str | None = None) -> tuple[np.ndarray, dict]:
    """Read any supported image as ``(array, meta)`` (see :mod:`medvit.io.meta`).

    Args:
        path: a NIfTI file, a DICOM file, a folder holding one DICOM series, a folder of B-scan
            images (PNG / TIFF ...; stacked in name order), or a photo.
        series_uid: for a folder with several series, which one (UID or its ending).
    """
    kind = image_kind(path)
    if kind == "dicom-series":
        from medvit.io.dicom_series import read_dicom_series

        return read_dicom_series(path, series_uid)
    if kind == "image-stack":
        from medvit.io.image_stack import read_image_stack

        return read_image_stack(path)
    if kind == "nifti":
        from medvit.io.nifti import read_nifti

        return read_nifti(path)
    if kind == "dicom-image":
        from medvit.io.dicom_image import read_dicom_image

        return read_dicom_image(path)
    from medvit.io.photo import read_photo

    return read_photo(path)


def describe(path: str | os.PathLike, series_uid: str | None = None) -> dict:
    """What medvit reads from ``path`` and will feed a bundle, as plain JSON-able values.

    ``shape`` is channel-first, as bundles receive it: (C, X, Y[, Z]).
    """
    array, meta = read_image(path, series_uid)
    channels = channel_count(array, meta)
    spatial = [int(v) for v in meta["spatial_shape"]]
    spacing = spacing_from_affine(meta["affine"], min(len(spatial), 3))
    finite = array[np.isfinite(array)] if array.dtype.kind in "fc" else array
    non_finite = int(array.size - finite.size)
    info = {
        "path": os.fspath(path),
        "kind": meta["kind"],
        "shape": [channels, *spatial],
        "channels": channels,
        "spatial_shape": spatial,
        "spacing": [round(float(v), 6) for v in spacing],
        "spacing_unit": meta.get("spacing_unit", "mm"),
        "orientation": _axcodes(meta) if len(spatial) == 3 and meta.get("space") else None,
        "modality": meta.get("modality"),
        "series_description": meta.get("series_description"),
        "photometric_interpretation": meta.get("photometric_interpretation"),
        "dtype": str(array.dtype),
        "value_range": [_number(finite.min()), _number(finite.max())] if finite.size and array.dtype.kind != "c" else None,
        "non_finite_values": non_finite,
        "window_center": meta.get("window_center"),
        "window_width": meta.get("window_width"),
    }
    for key in ("slices", "series_instance_uid", "frames", "inverted_monochrome1", "spacing_source"):
        if key in meta:
            info[key] = meta[key]
    info["warnings"] = list(meta.get("warnings", []))
    if non_finite:
        info["warnings"].append(f"{non_finite} of {array.size} values are NaN or infinite: the bundles refuse it")
    return info


def _axcodes(meta: dict) -> str:
    from nibabel.orientations import aff2axcodes

    return "".join(aff2axcodes(meta["affine"]))


def _number(value) -> float | int:
    value = value.item()
    return round(value, 6) if isinstance(value, float) else value
