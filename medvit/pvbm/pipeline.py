"""One fundus photograph → one row of biomarkers: the per-case function of the cohort runner.

photo → vessel mask (classical, a network, or the user's mask) → optic disc (detected or
the user's) → measurement region → geometry, fractals (and CRAE/CRVE with artery/vein
masks) → a dict in the CSV contract's column order, optionally an overlay PNG.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from medvit.pvbm.central_retinal import CRE_KEYS
from medvit.pvbm.fractal import MULTIFRACTAL_KEYS
from medvit.pvbm.geometry import GEOMETRY_KEYS, geometric_biomarkers, vessel_skeleton
from medvit.pvbm.masks import VesselMasks, find_mask, read_vessel_masks
from medvit.pvbm.regions import check_disc, measurement_region
from medvit.errors import MedvitError

DISC_KEYS = ("disc_x", "disc_y", "disc_radius")
BIOMARKER_KEYS = GEOMETRY_KEYS + MULTIFRACTAL_KEYS
MIN_SIDE = 64  # px: smaller photos hold no measurable vessel tree
# Columns with a physical size: name → (unit suffix, power of the pixel size in mm). The
# Hubbard equivalents are in µm already (their formulas are defined in µm).
PHYSICAL = {"disc_radius": ("_mm", 1), "area": ("_mm2", 2), "length": ("_mm", 1), "perimeter": ("_mm", 1)}
PHYSICAL_CRE = {"crae_knudtson": ("_mm", 1), "crve_knudtson": ("_mm", 1)}


def biomarker_columns(av: bool = False, physical: bool = False) -> list[str]:
    """The CSV contract's result columns (after ``image, status, error``), in order."""
    columns = [*DISC_KEYS, *BIOMARKER_KEYS]
    if av:
        columns += list(CRE_KEYS)
        columns += [f"{vessel}_{key}" for vessel in ("artery", "vein") for key in BIOMARKER_KEYS]
    if physical:
        prefixes = ("", "artery_", "vein_") if av else ("",)
        columns += [f"{p}{key}{unit}" for p in prefixes for key, (unit, _) in PHYSICAL.items()
                    if not (p and key == "disc_radius")]
        if av:
            columns += [f"{key}{unit}" for key, (unit, _) in PHYSICAL_CRE.items()]
        columns += ["pixel_size_um"]
    return columns + ["disc_source", "segmentation"]


def read_photo_rc(path: str | os.PathLike) -> np.ndarray:
    """A fundus photograph as (H, W, 3) or (H, W) in (row, col) order, checked for size and content."""
    from medvit.io import read_image

    array, _ = read_image(path)
    photo = np.swapaxes(array, 0, 1)
    if min(photo.shape[:2]) < MIN_SIDE:
        raise MedvitError(f"{path}: image is {photo.shape[1]}×{photo.shape[0]} px, too small for vessel analysis")
    if not np.any(photo):
        raise MedvitError(f"{path}: image is entirely black")
    return photo


@functools.lru_cache(maxsize=8)
def _disc_overrides(csv_path: str) -> dict:
    from medvit.pvbm.optic_disc import read_disc_overrides

    return read_disc_overrides(csv_path)


def find_disc_override(csv_path: str | None, image_path: str | os.PathLike) -> tuple[float, float, float] | None:
    """The user's (x, y, radius) for this image from the disc CSV, by file name or stem."""
    if not csv_path:
        return None
    table = _disc_overrides(str(csv_path))
    path = Path(image_path)
    for key in (path.name, path.stem):
        if key in table:
            return table[key]
    return None


def segment(
    photo: np.ndarray, method: str, checkpoint: str | None = None, network: dict | None = None
) -> tuple[VesselMasks, np.ndarray | None]:
    """Vessel masks of a photo and its field of view (None when not computed).

    ``network``: keyword arguments of :func:`medvit.pvbm.network.vessel_unet` for the
    checkpoint's architecture (default: the bundle's)."""
    from medvit.pvbm.vessels import field_of_view, vessel_mask

    if method == "classical":
        if photo.ndim != 3:
            raise MedvitError("vessel segmentation needs a colour fundus photograph (got a grey image)")
        fov = field_of_view(photo)
        return VesselMasks(vessel_mask(photo, fov=fov)), fov
    if method == "network":
        from medvit.pvbm.network import network_vessel_masks

        return network_vessel_masks(photo, checkpoint, network), None
    raise MedvitError(f"unknown segmentation method '{method}' (classical or network)")


def measure_masks(
    masks: VesselMasks,
    disc: tuple[float, float, float],
    definitions: str = "pvbm",
    roi_radius: float | None = None,
    fractal: dict | None = None,
    pixel_size_um: float | None = None,
    return_points: bool = False,
):
    """Every biomarker of the given masks around the given disc (see :func:`biomarker_columns`).

    Returns:
        dict of values (px, degrees, counts; mm when ``pixel_size_um``), and with
        ``return_points`` also the skeleton points of the all-vessel analysis.
    """
    from medvit.pvbm.fractal import multifractal_biomarkers

    x, y, r = disc
    shape = masks.vessels.shape
    check_disc(shape, x, y, r)
    region = measurement_region(shape, x, y, r, roi_radius)
    row: dict[str, float] = {"disc_x": float(x), "disc_y": float(y), "disc_radius": float(r)}
    points = None
    targets = [("", masks.vessels)]
    if masks.has_av:
        targets += [("artery_", masks.arteries), ("vein_", masks.veins)]
    for prefix, mask in targets:
        measured = mask & region
        skeleton = vessel_skeleton(mask) & region
        result = geometric_biomarkers(measured, skeleton, x, y, r, definitions, return_points=not prefix and return_points)
        if isinstance(result, tuple):
            result, points = result
        if measured.any():
            result.update(multifractal_biomarkers(measured, **(fractal or {})))
        else:
            result.update({key: math.nan for key in MULTIFRACTAL_KEYS})
        row.update({f"{prefix}{key}": value for key, value in result.items()})
    if masks.has_av:
        from medvit.pvbm.central_retinal import central_retinal_equivalents

        cre = central_retinal_equivalents(masks.arteries, masks.veins, x, y, r, pixel_size_um=pixel_size_um)
        row.update({key: cre[key] for key in CRE_KEYS})
    if pixel_size_um:
        row.update(physical_sizes(row, pixel_size_um))
    return (row, points) if return_points else row


def physical_sizes(row: dict, pixel_size_um: float) -> dict[str, float]:
    """The ``*_mm`` / ``*_mm2`` columns of the pixel-valued ones, and the pixel size used."""
    mm = pixel_size_um / 1000.0
    out = {}
    for name, value in row.items():
        for key, (unit, power) in {**PHYSICAL, **PHYSICAL_CRE}.items():
            if name == key or (name.endswith(f"_{key}") and name.split("_", 1)[0] in ("artery", "vein")):
                out[f"{name}{unit}"] = value * mm**power
    out["pixel_size_um"] = float(pixel_size_um)
    return out


def pixel_size_from_fov(fov: np.ndarray, fov_mm: float) -> float:
    """Pixel size (µm) from the field of view's diameter in mm and its mask (H, W) bool."""
    diameter_px = 2.0 * math.sqrt(fov.sum() / math.pi)
    if diameter_px < MIN_SIDE:
        raise MedvitError("field of view too small to derive the pixel size from --fov-mm")
    return fov_mm * 1000.0 / diameter_px


def measure_fundus(
    path: str,
    *,
    masks_dir: str | None = None,
    disc_csv: str | None = None,
    segmentation: str = "classical",
    checkpoint: str | None = None,
    network: dict | None = None,
    definitions: str = "pvbm",
    roi_radius: float | None = None,
    pixel_size_um: float | None = None,
    fov_mm: float | None = None,
    fractal: dict | None = None,
    overlay_dir: str | None = None,
    root: str | None = None,
) -> dict:
    """The cohort runner's per-image function: one photo → one row of biomarkers.

    Args:
        path: the fundus photograph (PNG/JPEG/TIFF/DICOM).
        masks_dir: folder of precomputed vessel or A/V masks, matched by file stem
            (then no segmentation runs).
        disc_csv: CSV ``image, x, y, radius`` overriding disc detection per image.
        segmentation: "classical" (no weights) or "network" (needs ``checkpoint``).
        network: the network's settings (see :func:`segment`).
        definitions: "pvbm" or "corrected" (see :mod:`medvit.pvbm.geometry`).
        roi_radius: bound the measurement region at this distance (px) from the disc centre.
        pixel_size_um / fov_mm: physical scale, directly or from the field of view's
            diameter; adds the ``*_mm`` columns and enables the Hubbard formulas.
        fractal: settings of :func:`medvit.pvbm.fractal.multifractal_biomarkers`.
        overlay_dir: write ``<stem>_overlay.png`` there (mask, disc, zone B, skeleton points),
            in the sub-folders the photo has under ``root`` (so equal names never clash).
        root: the cohort folder (for the overlay's sub-folder).
    """
    photo = read_photo_rc(path)
    fov = None
    if masks_dir:
        masks = read_vessel_masks(find_mask(masks_dir, path), photo.shape[:2])
        method = "masks"
    else:
        masks, fov = segment(photo, segmentation, checkpoint, network)
        method = segmentation
    disc = find_disc_override(disc_csv, path)
    disc_source = "override"
    if disc is None:
        from medvit.pvbm.optic_disc import detect_optic_disc

        disc = detect_optic_disc(photo, vessels=masks.vessels, fov=fov)
        disc_source = "detected"
    if fov_mm and not pixel_size_um:
        from medvit.pvbm.vessels import field_of_view

        pixel_size_um = pixel_size_from_fov(fov if fov is not None else field_of_view(photo), fov_mm)
    row, points = measure_masks(masks, disc, definitions, roi_radius, fractal, pixel_size_um, return_points=True)
    row["disc_source"] = disc_source
    row["segmentation"] = method
    if overlay_dir:
        from medvit.pvbm.overlay import write_overlay

        relative = Path(os.path.relpath(path, root)) if root else Path(Path(path).name)
        target = Path(overlay_dir) / relative.parent / f"{relative.stem}_overlay.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_overlay(target, photo, masks, disc, points)
    return row
