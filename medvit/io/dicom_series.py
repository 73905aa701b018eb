"""A DICOM series folder → one volume, sorted by position and checked for gaps.

MONAI's ``PydicomReader`` stacks a folder's files in InstanceNumber order and averages
the z-distance between them; hospital exports mix several series in one folder, number
instances arbitrarily and drop slices. This reader groups files by SeriesInstanceUID,
refuses an ambiguous folder (listing its series), sorts slices along the slice normal,
and refuses mixed orientations, duplicate positions, gaps and uneven spacing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError, first_line
from medvit.io._capture import captured_warnings
from medvit.io.dicom_geometry import dicom_affine
from medvit.io.dicom_pixels import display_attributes, to_values
from medvit.io.meta import image_meta

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
HEADER_TAGS = [
    "SOPClassUID",
    "SeriesInstanceUID",
    "SeriesDescription",
    "SeriesNumber",
    "Modality",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "InstanceNumber",
]
ORIENTATION_TOLERANCE = 1e-3  # direction cosines
SPACING_TOLERANCE = 0.02  # relative deviation from the median slice distance
GAP_FACTOR = 1.5  # a distance this many times the median means missing slices


@dataclass
class SliceHeader:
    """What the geometry checks need from one file, read without its pixels."""

    path: Path
    series_uid: str
    description: str
    modality: str
    rows: int
    columns: int
    frames: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None


@dataclass
class SeriesSummary:
    """One series found in a folder, as listed to a user who must choose."""

    uid: str
    description: str
    modality: str
    slices: list[SliceHeader] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.uid}  {self.modality or '?'}  '{self.description}'  {len(self.slices)} slice(s)"


def list_series(folder: str | os.PathLike) -> list[SeriesSummary]:
    """Scan a folder (recursively) and group its DICOM image files by SeriesInstanceUID.

    Non-DICOM files, DICOMDIR indexes and DICOM objects without pixels (SR, RT plans) are
    ignored; a folder with none of the first kind left raises ImageReadError.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ImageReadError(folder, "no such file or folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ImageReadError(folder, "is an empty folder")
    headers, non_images, dicom_count = [], 0, 0
    with captured_warnings():
        for path in files:
            header = _read_header(path)
            if header is None:
                continue
            dicom_count += 1
            if header.rows and header.columns:
                headers.append(header)
            else:
                non_images += 1
    if dicom_count == 0:
        raise ImageReadError(folder, f"contains no DICOM files ({len(files)} other file(s))")
    if not headers:
        raise ImageReadError(folder, f"contains {dicom_count} DICOM file(s) but none is an image (no pixel data)")
    series: dict[str, SeriesSummary] = {}
    for header in headers:
        summary = series.setdefault(
            header.series_uid, SeriesSummary(header.series_uid, header.description, header.modality)
        )
        summary.slices.append(header)
    return list(series.values())


def _read_header(path: Path) -> SliceHeader | None:
    """The geometry header of one file; None for non-DICOM files and DICOMDIRs."""
    import pydicom
    from pydicom.misc import is_dicom

    if not is_dicom(path):
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=HEADER_TAGS)
    except Exception as err:  # pydicom raises many types for broken headers
        raise ImageReadError(path, f"unreadable DICOM header ({first_line(err)})") from None
    if str(ds.get("SOPClassUID", "")) == DICOMDIR_SOP_CLASS:
        return None
    try:
        header = SliceHeader(
            path=path,
            series_uid=str(ds.get("SeriesInstanceUID", "")) or "(no SeriesInstanceUID)",
            description=str(ds.get("SeriesDescription", "")).strip(),
            modality=str(ds.get("Modality", "")),
            rows=int(ds.get("Rows", 0) or 0),
            columns=int(ds.get("Columns", 0) or 0),
            frames=int(ds.get("NumberOfFrames", 1) or 1),
            position=_vector(ds.get("ImagePositionPatient"), 3),
            orientation=_vector(ds.get("ImageOrientationPatient"), 6),
            pixel_spacing=tuple(_vector(ds.get("PixelSpacing"), 2)) if "PixelSpacing" in ds else None,
        )
    except (TypeError, ValueError) as err:
        raise ImageReadError(path, f"invalid geometry attribute ({first_line(err)})") from None
    spacing = header.pixel_spacing
    if spacing is not None and not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ImageReadError(path, f"PixelSpacing {list(map(float, spacing))} is not a pixel size (must be > 0 mm): "
                                   "the series has no usable geometry")
    return header


def _vector(value, length: int) -> np.ndarray | None:
    if value is None or len(value) != length:
        return None
    return np.array([float(v) for v in value])


def choose_series(folder: str | os.PathLike, series: list[SeriesSummary], uid: str | None) -> SeriesSummary:
    """The one series to read: the only one, or the one whose UID is (or ends with) ``uid``."""
    if uid is not None:
        matches = [s for s in series if s.uid == uid] or [s for s in series if s.uid.endswith(uid)]
        if len(matches) != 1:
            raise ImageReadError(folder, f"no single series matches '{uid}'", [s.line() for s in series])
        return matches[0]
    if len(series) > 1:
        raise ImageReadError(
            folder,
            f"contains {len(series)} DICOM series; choose one (--series UID) or give a folder with one",
            [s.line() for s in series],
        )
    return series[0]


def sort_slices(folder: str | os.PathLike, slices: list[SliceHeader]) -> tuple[list[SliceHeader], np.ndarray | None]:
    """Order a series' slices along the slice normal and check they form a regular volume.

    Returns:
        the slices from lowest to highest position along the normal, and the mean step
        vector between consecutive slices (mm, LPS), or None for a single slice.

    Raises:
        ImageReadError: different image sizes or pixel spacings, multi-frame files, missing
            or mixed orientations, duplicate positions, missing slices (a gap of more than
            1.5 × the usual distance) or uneven spacing.
    """
    if any(s.frames > 1 for s in slices) and len(slices) > 1:
        raise ImageReadError(folder, "the series is stored as several multi-frame files; give one file at a time")
    sizes = {(s.rows, s.columns) for s in slices}
    if len(sizes) > 1:
        raise ImageReadError(folder, f"slices have different sizes: {sorted(sizes)}")
    spacings = {s.pixel_spacing for s in slices}
    if len(spacings) > 1:
        raise ImageReadError(folder, f"slices have different pixel spacings: {sorted(spacings, key=str)}")
    if len(slices) == 1:
        return slices, None
    missing = [s.path.name for s in slices if s.position is None or s.orientation is None]
    if missing:
        raise ImageReadError(
            folder,
            f"{len(missing)} slice(s) lack ImagePositionPatient/ImageOrientationPatient, so they cannot be ordered",
            missing[:5],
        )
    reference = slices[0].orientation
    odd = [s for s in slices if np.abs(s.orientation - reference).max() > ORIENTATION_TOLERANCE]
    if odd:
        kinds = {tuple(np.round(s.orientation, 3)) for s in slices}
        raise ImageReadError(
            folder,
            f"mixed orientations: {len(kinds)} different slice orientations in one series (localizer or projections?)",
            [f"{s.path.name}: {np.round(s.orientation, 3).tolist()}" for s in [slices[0], odd[0]]],
        )
    normal = np.cross(reference[:3], reference[3:])
    ordered = sorted(slices, key=lambda s: float(s.position @ normal))
    distances = np.diff([float(s.position @ normal) for s in ordered])
    _check_distances(folder, ordered, distances)
    step = (ordered[-1].position - ordered[0].position) / (len(ordered) - 1)
    return ordered, step


def _check_distances(folder, ordered: list[SliceHeader], distances: np.ndarray) -> None:
    duplicates = np.flatnonzero(distances < 1e-3)
    if duplicates.size:
        i = int(duplicates[0])
        raise ImageReadError(
            folder,
            f"{duplicates.size + 1} slices share a position (e.g. {ordered[i].path.name} and "
            f"{ordered[i + 1].path.name}): several echoes, phases or duplicate files in one series",
        )
    usual = float(np.median(distances))
    gaps = np.flatnonzero(distances > GAP_FACTOR * usual)
    if gaps.size:
        lines = [
            f"{distances[i]:.3g} mm between {ordered[i].path.name} and {ordered[i + 1].path.name} "
            f"(about {round(distances[i] / usual) - 1} slice(s) missing)"
            for i in gaps[:5]
        ]
        raise ImageReadError(folder, f"missing slices: gap(s) in a series whose slices are {usual:.3g} mm apart", lines)
    deviation = np.abs(distances - usual).max()
    if deviation > max(SPACING_TOLERANCE * usual, 1e-3):
        raise ImageReadError(
            folder,
            f"inconsistent slice spacing: distances between slices range from {distances.min():.4g} "
            f"to {distances.max():.4g} mm",
        )


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None) -> tuple[np.ndarray, dict]:
    """Read one DICOM series from a folder as a volume.

    Args:
        folder: a folder holding the series' files (searched recursively).
        series_uid: which series when the folder holds several (full UID or its ending).

    Returns:
        ``(array, meta)``: array of shape (columns, rows, slices) — MONAI's (x, y, z)
        order — holding modality values (e.g. Hounsfield units); ``meta["affine"]`` maps
        voxels to RAS millimetres; ``meta["spacing"]`` is (column, row, slice) spacing.
    """
    import pydicom

    series = choose_series(folder, list_series(folder), series_uid)
    ordered, step = sort_slices(folder, series.slices)
    planes, photometric, first = [], None, None
    with captured_warnings() as messages:
        for header in ordered:
            try:
                ds = pydicom.dcmread(header.path)
            except Exception as err:
                raise ImageReadError(header.path, f"unreadable DICOM file ({first_line(err)})") from None
            values, photometric = to_values(ds, header.path)
            if values.ndim != 2:
                raise ImageReadError(header.path, f"is not a grey single-frame slice (pixel array shape {values.shape})")
            planes.append(values.T)  # (rows, cols) -> (cols, rows): MONAI's x, y
            first = first if first is not None else ds
    array = np.stack(planes, axis=-1)
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
    affine = dicom_affine(ordered[0].orientation, ordered[0].position, ordered[0].pixel_spacing or (1.0, 1.0), step)
    meta = image_meta(
        folder,
        "dicom-series",
        array,
        affine,
        channel_last=False,
        photometric_interpretation=photometric,
        series_instance_uid=series.uid,
        slices=len(ordered),
        slice_files=[str(h.path) for h in ordered],
        slice_thickness=_float_or_none(first.get("SliceThickness")),
        warnings=messages,
        **display_attributes(first, inverted=str(first.get("PhotometricInterpretation", "")) == "MONOCHROME1"),
    )
    if ordered[0].pixel_spacing is None:
        meta["warnings"].append("no PixelSpacing: in-plane spacing set to 1 mm")
    return array, meta


def _float_or_none(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
