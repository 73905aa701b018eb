"""Decode DICOM pixel data into values a model can use, with errors a person can act on.

Shared by the series reader and the single-image reader: decoding (with the missing
decoder named), the modality LUT (rescale slope/intercept), MONOCHROME1 inversion,
palette colour, and the display attributes (window, photometric interpretation).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError, first_line

PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def has_pixel_data(ds) -> bool:
    return any(tag in ds for tag in PIXEL_TAGS)


def decode_pixels(ds, path: str | os.PathLike) -> np.ndarray:
    """The stored pixel values of a dataset, as pydicom decodes them.

    Returns:
        array of shape (rows, cols), (rows, cols, 3), (frames, rows, cols) or
        (frames, rows, cols, 3); YBR colour is converted to RGB.

    Raises:
        ImageReadError: no pixel data, an unknown or unsupported transfer syntax, a
            compressed syntax whose decoder is not installed (naming what to install),
            or truncated / corrupt pixel data.
    """
    from pydicom.pixels import get_decoder

    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if not has_pixel_data(ds):
        sop = ds.get("SOPClassUID") or (file_meta.get("MediaStorageSOPClassUID") if file_meta is not None else None)
        name = getattr(sop, "name", str(sop)) if sop is not None else ""
        if "Image Storage" in name:  # an image object whose pixels were never reached
            encoded = f"; it says it is encoded as {syntax.name}" if syntax is not None and syntax.is_transfer_syntax else ""
            raise ImageReadError(path, f"is a {name} object but no pixel data could be read: the file is cut short "
                                       f"or damaged ({Path(path).stat().st_size} bytes{encoded})")
        what = f"a {name} object" if name else "no image"
        raise ImageReadError(path, f"has no pixel data ({what}, not an image)")
    if syntax is None:
        raise ImageReadError(path, "has no Transfer Syntax UID in its file meta, so its pixels cannot be decoded")
    if not syntax.is_transfer_syntax:
        raise ImageReadError(path, f"its Transfer Syntax UID {syntax} is not a transfer syntax: the pixels cannot be decoded")
    if syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            raise ImageReadError(path, f"pixel data compressed as '{syntax.name}', which pydicom cannot decode") from None
        if not decoder.is_available:
            needs = "; ".join(decoder.missing_dependencies)
            raise ImageReadError(
                path, f"pixel data compressed as '{syntax.name}' and no decoder for it is installed ({needs})"
            )
    if not syntax.is_compressed:
        check_pixel_length(ds, path)
    try:
        return ds.pixel_array
    except (ValueError, RuntimeError, AttributeError, TypeError, KeyError) as err:
        raise ImageReadError(path, f"cannot decode its pixel data ({syntax.name}): {first_line(err)}") from None


def check_pixel_length(ds, path: str | os.PathLike) -> None:
    """Native (uncompressed) pixel data must be as long as Rows × Columns × samples × frames ×
    BitsAllocated says: a header that does not describe its pixels (BitsAllocated 8 over 16-bit
    data) would otherwise be read as frames of garbage.

    Raises:
        ImageReadError: naming the file, the lengths and the attributes.
    """
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    samples, frames = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if not (rows and columns and bits) or "PixelData" not in ds:
        return
    expected = (rows * columns * samples * frames * bits + 7) // 8
    actual = len(ds.PixelData)
    if actual in (expected, expected + 1):  # one byte of padding to an even length
        return
    layout = f"Rows {rows} × Columns {columns} × SamplesPerPixel {samples} × frames {frames} at BitsAllocated {bits}"
    if actual < expected:
        raise ImageReadError(path, f"cannot decode its pixel data: PixelData holds {actual:,} bytes, less than expected "
                                   f"({layout} make {expected:,}): the file is cut short or its header is wrong")
    raise ImageReadError(path, f"PixelData holds {actual:,} bytes but {layout} make {expected:,}: "
                               "the header does not describe the pixels")


def stored_value_range(ds) -> tuple[float, float]:
    """The range the stored values can take, from BitsStored and PixelRepresentation."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0**bits - 1


def modality_values(ds, stored: np.ndarray) -> np.ndarray:
    """Apply the modality LUT (rescale slope / intercept, or a LUT sequence) to grey pixels.

    Integer data without a rescale stays integer; rescaled data becomes float32.
    """
    from pydicom.pixels import apply_modality_lut

    if "ModalityLUTSequence" not in ds and "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        return stored
    if "RescaleSlope" in ds and float(ds.RescaleSlope or 0) == 0 and "ModalityLUTSequence" not in ds:
        raise ImageReadError(ds.filename if isinstance(getattr(ds, "filename", None), str) else "DICOM image",
                             "RescaleSlope is 0: every pixel would get the same value (a damaged header)")
    values = apply_modality_lut(stored, ds)
    return values.astype(np.float32) if values.dtype.kind == "f" else values


def monochrome1_to_monochrome2(ds, values: np.ndarray) -> np.ndarray:
    """Invert MONOCHROME1 pixels (low = white) so that bright means dense, as in MONOCHROME2.

    The inversion maps the modality range onto itself: ``v -> lo + hi - v`` where
    [lo, hi] is the stored range after the rescale, so values stay in the same units.
    Returns float32 of the same shape.
    """
    lo, hi = (float(v) for v in modality_bounds(ds))
    return ((lo + hi) - values.astype(np.float64)).astype(np.float32)


def modality_bounds(ds) -> tuple[float, float]:
    """The stored value range mapped through the linear rescale (slope, intercept)."""
    lo, hi = stored_value_range(ds)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    a, b = lo * slope + intercept, hi * slope + intercept
    return min(a, b), max(a, b)


def to_values(ds, path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Pixels a model should see, and the photometric interpretation they now have.

    Grey images get the modality LUT and MONOCHROME1 inversion; palette colour is
    expanded to RGB; RGB / YBR come back as RGB.
    """
    from pydicom.pixels import apply_color_lut

    stored = decode_pixels(ds, path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric == "PALETTE COLOR":
        return apply_color_lut(stored, ds), "RGB"
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        return stored, "RGB"
    values = modality_values(ds, stored)
    if photometric == "MONOCHROME1":
        return monochrome1_to_monochrome2(ds, values), "MONOCHROME2"
    return values, photometric


def display_attributes(ds, inverted: bool = False) -> dict:
    """Modality, description and the first VOI window, for viewers and ``medvit info``.

    When a MONOCHROME1 image was inverted, the window centre is mirrored the same way.
    """
    center = _first_number(ds.get("WindowCenter"))
    width = _first_number(ds.get("WindowWidth"))
    if inverted and center is not None:
        lo, hi = modality_bounds(ds)
        center = lo + hi - center
    return {
        "modality": str(ds.get("Modality", "")) or None,
        "series_description": str(ds.get("SeriesDescription", "")).strip() or None,
        "window_center": center,
        "window_width": width,
    }


def _first_number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None
