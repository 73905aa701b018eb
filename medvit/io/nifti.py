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
        except FileNotFoundError:
            raise ImageReadError(path, "no such file") from None
        except (nib.filebasedimages.ImageFileError, EOFError, OSError, ValueError) as err:
            raise ImageReadError(path, f"not a readable NIfTI file ({first_line(err)})") from None
        check_header(img, path)
        try:
            array = np.asanyarray(img.dataobj)
        except FileNotFoundError:
            raise ImageReadError(path, "no such file") from None
        except (nib.filebasedimages.ImageFileError, EOFError, OSError, ValueError) as err:
            raise ImageReadError(path, f"not a readable NIfTI file ({first_line(err)})") from None
        except MemoryError:
            raise ImageReadError(path, f"{'x'.join(map(str, img.shape))} voxels do not fit in this machine's memory") from None
    if array.ndim < 2 or array.ndim > 4:
        raise ImageReadError(path, f"has {array.ndim} dimensions; medvit reads 2D, 3D or 3D+channel NIfTI")
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



def check_header(img, path: str | os.PathLike) -> None:
    """Refuse, before any voxel is read, what the header makes unusable: a zero-size axis, a
    singular affine (an axis of zero length: no geometry), more voxels than the file holds.

    Raises:
        ImageReadError: naming the file and the header's fault.
    """
    shape = tuple(int(n) for n in img.shape)
    if 0 in shape:
        raise ImageReadError(path, f"has a zero-size axis (shape {shape}): no voxels")
    linear = np.asarray(img.affine, dtype=float)[:3, :3]
    if not np.isfinite(linear).all() or abs(np.linalg.det(linear)) < 1e-12:
        raise ImageReadError(path, "its affine (sform / qform) is singular or not finite: a voxel axis has no "
                                   "length or direction, so the image has no usable geometry")
    needed = int(np.prod(shape, dtype=np.float64)) * img.get_data_dtype().itemsize
    if not os.fspath(path).lower().endswith(".gz"):
        available = os.path.getsize(path) - int(img.header.get("vox_offset", 0))
        if needed > available:
            raise ImageReadError(path, f"the header declares {'x'.join(map(str, shape))} {img.get_data_dtype()} "
                                       f"voxels ({needed / 1e9:,.1f} GB) but the file holds {max(available, 0):,} "
                                       "bytes of them: the header is damaged or the file cut short")


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
