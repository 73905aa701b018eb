"""NIfTI (``.nii``, ``.nii.gz``) with nibabel, laid out as MONAI's ``NibabelReader`` lays it out."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from medvit.errors import ImageReadError, first_line
from medvit.io._capture import captured_warnings
from medvit.io.meta import image_meta

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a NIfTI file.

    Returns:
        ``(array, meta)``: array of shape (X, Y, Z) or (X, Y, Z, C) in the file's voxel
        order, with scaling (``scl_slope``/``scl_inter``) applied; ``meta["affine"]`` is the
        file's best affine (sform, else qform) in RAS millimetres. A 4th axis is treated as
        channels, as MONAI does.
    """
    import nibabel as nib

    if os.fspath(path).lower().endswith(".gz"):
        check_gzip_stream(path)
    with captured_warnings() as messages:
        try:
            img = nib.load(os.fspath(path))
            array = np.asanyarray(img.dataobj)
        except FileNotFoundError:
            raise ImageReadError(path, "no such file") from None
        except (nib.filebasedimages.ImageFileError, EOFError, OSError, ValueError) as err:
            raise ImageReadError(path, f"not a readable NIfTI file ({first_line(err)})") from None
    if array.ndim < 2 or array.ndim > 4:
        raise ImageReadError(path, f"has {array.ndim} dimensions; medvit reads 2D, 3D or 3D+channel NIfTI")
    if array.size == 0:
        raise ImageReadError(path, "contains no voxels")
    channel_last = array.ndim == 4
    meta = image_meta(
        path,
        "nifti",
        array,
        img.affine,
        channel_last=channel_last,
        modality=None,
        series_description=_description(img.header),
        warnings=messages,
    )
    return array, meta



def check_gzip_stream(path: str | os.PathLike, chunk: int = 1 << 22) -> None:
    """Decompress a gzip file to its end, so that its CRC-32 and length are checked.

    nibabel (like any reader that seeks) reads only the bytes it needs and never reaches the
    trailer, so a damaged stream would give wrong voxels silently.

    Raises:
        ImageReadError: a bad CRC, a wrong length, a stream cut short or not gzip at all.
    """
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(chunk):
                pass
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ImageReadError(path, f"not a readable NIfTI file: its gzip stream is damaged ({first_line(err)}); "
                                 "the file is corrupt or cut short") from None


def _description(header) -> str | None:
    try:
        text = header["descrip"].item().decode("ascii", "replace").strip("\x00 ")
    except (KeyError, AttributeError, ValueError):
        return None
    return text or None
