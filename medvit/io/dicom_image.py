"""A single DICOM file → an image: CR/DX/SC radiographs and photos, grey or colour, or a
multi-frame file as a stack.

MONAI's ``PydicomReader`` applies the rescale but leaves MONOCHROME1 stored values
as they are (so bone comes out dark) and ignores ImagerPixelSpacing, the spacing
projection radiographs carry; this reader handles both and names a missing decoder.
"""

from __future__ import annotations

import os

import numpy as np

from medvit.errors import ImageReadError, first_line
from medvit.io._capture import captured_warnings
from medvit.io.dicom_geometry import dicom_affine
from medvit.io.dicom_pixels import display_attributes, to_values
from medvit.io.meta import image_meta


def read_dicom_image(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read one DICOM file.

    Returns:
        ``(array, meta)``: array of shape (columns, rows) for grey, (columns, rows, 3) for
        colour, or (columns, rows, frames[, 3]) for multi-frame files — MONAI's (x, y)
        order. Grey values are modality values (rescale applied) with MONOCHROME1 inverted
        so that bright means dense; ``meta["inverted_monochrome1"]`` records it.
        ``meta["spacing_source"]`` says which attribute gave the pixel spacing.
    """
    import pydicom

    with captured_warnings() as messages:
        ds = _read_dataset(path)
        values, photometric = to_values(ds, path)
    stored_photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    colour = int(ds.get("SamplesPerPixel", 1)) > 1 or stored_photometric == "PALETTE COLOR"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        # (frames, rows, cols[, 3]) -> (cols, rows, frames[, 3])
        array = np.moveaxis(values, 0, 2).swapaxes(0, 1)
    else:
        array = values.swapaxes(0, 1)
    spacing, source = _pixel_spacing(ds)
    orientation = ds.get("ImageOrientationPatient")
    position = ds.get("ImagePositionPatient")
    affine = dicom_affine(
        np.array([float(v) for v in orientation]) if orientation is not None and len(orientation) == 6 else None,
        np.array([float(v) for v in position]) if position is not None and len(position) == 3 else None,
        spacing,
    )
    if frames > 1:
        affine[2, 2] = _float(ds.get("SpacingBetweenSlices")) or _float(ds.get("SliceThickness")) or 1.0
    inverted = stored_photometric == "MONOCHROME1"
    meta = image_meta(
        path,
        "dicom-image",
        array,
        affine,
        channel_last=colour,
        space="RAS" if orientation is not None else None,
        photometric_interpretation=photometric,
        stored_photometric_interpretation=stored_photometric,
        inverted_monochrome1=inverted,
        frames=frames,
        spacing_source=source,
        warnings=messages,
        **display_attributes(ds, inverted=inverted),
    )
    return array, meta


def _pixel_spacing(ds) -> tuple[tuple[float, float], str]:
    """(row, column) spacing in mm and the attribute it came from ("none": 1 pixel). A value
    that is not a size (0, negative) is passed over, and the source says so."""
    invalid = []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                spacing = (float(value[0]), float(value[1]))
            except (TypeError, ValueError):
                continue
            if all(np.isfinite(s) and s > 0 for s in spacing):
                return spacing, keyword
            invalid.append(f"{keyword} {list(spacing)} is not a pixel size")
    return (1.0, 1.0), "; ".join(invalid + ["none"]) if invalid else "none"


def _float(value) -> float | None:
    try:
        return float(value) or None
    except (TypeError, ValueError):
        return None


def _read_dataset(path):
    """The whole dataset; files without the 'DICM' preamble (old exports) are read forcibly."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(os.fspath(path))
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except InvalidDicomError:
        pass
    except Exception as err:  # pydicom raises many types for broken files
        raise ImageReadError(path, f"not a readable DICOM file ({first_line(err)})") from None
    try:
        ds = pydicom.dcmread(os.fspath(path), force=True)
    except Exception as err:
        raise ImageReadError(path, f"not a readable DICOM file ({first_line(err)})") from None
    if "Rows" not in ds:
        raise ImageReadError(path, "not a DICOM image (no 'DICM' preamble and no image attributes)")
    if "TransferSyntaxUID" not in ds.file_meta:
        # Without file meta the encoding is the one pydicom detected while reading.
        ds.file_meta.TransferSyntaxUID = _detected_syntax(ds)
    return ds


def _detected_syntax(ds):
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if not ds.is_little_endian:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
