"""Vessel masks and an optic disc → one row of biomarkers, and the cohort table's columns.

The measurement step of the bundle's postprocessing (:class:`medvit.pvbm.transforms.VesselBiomarkersd`):
measurement region → geometry, fractals (and CRAE/CRVE with artery/vein masks) → a dict
in the CSV contract's column order (:func:`biomarker_columns`), with physical sizes when
the pixel size is known (given, or from the field of view's diameter).
"""

from __future__ import annotations

import math

import numpy as np

from medvit.errors import MedvitError
from medvit.pvbm.central_retinal import CRE_KEYS, central_retinal_equivalents
from medvit.pvbm.fovea import FOVEA_KEYS
from medvit.pvbm.fractal import MULTIFRACTAL_KEYS, multifractal_biomarkers
from medvit.pvbm.geometry import GEOMETRY_KEYS, geometric_biomarkers, vessel_skeleton
from medvit.pvbm.masks import VesselMasks
from medvit.pvbm.morphology import morphology_biomarkers, morphology_columns
from medvit.pvbm.photo import MIN_SIDE
from medvit.pvbm.regions import check_disc, measurement_region
from medvit.pvbm.vessels import field_of_view

DISC_KEYS = ("disc_x", "disc_y", "disc_radius")
BIOMARKER_KEYS = GEOMETRY_KEYS + MULTIFRACTAL_KEYS
# Columns with a physical size: name → (unit suffix, power of the pixel size in mm). The
# Hubbard equivalents are in µm already (their formulas are defined in µm).
PHYSICAL = {"disc_radius": ("_mm", 1), "area": ("_mm2", 2), "length": ("_mm", 1), "perimeter": ("_mm", 1)}
PHYSICAL_CRE = {"crae_knudtson": ("_mm", 1), "crve_knudtson": ("_mm", 1)}


#: What a run measures: ``all`` (default) adds the fovea and AutoMorph's per-zone measures to pvbm's
#: columns; ``pvbm`` keeps to pvbm's (and CRAE / CRVE / AVR with A/V masks), at pvbm-only speed.
MEASURES = ("all", "pvbm")


def biomarker_columns(av: bool = False, physical: bool = False, measures: str = "all") -> list[str]:
    """The CSV contract's result columns (after ``image, status, error``), in order; with ``av``
    (artery / vein masks given or classified) the artery / vein columns, ``avr`` and ``av_source``;
    with ``measures`` "all" the fovea's and AutoMorph's columns (:data:`MEASURES`)."""
    check_measures(measures)
    columns = [*DISC_KEYS, *BIOMARKER_KEYS]
    if av:
        columns += [*CRE_KEYS, "avr"]
        columns += [f"{vessel}_{key}" for vessel in ("artery", "vein") for key in BIOMARKER_KEYS]
    if physical:
        prefixes = ("", "artery_", "vein_") if av else ("",)
        columns += [f"{p}{key}{unit}" for p in prefixes for key, (unit, _) in PHYSICAL.items()
                    if not (p and key == "disc_radius")]
        if av:
            columns += [f"{key}{unit}" for key, (unit, _) in PHYSICAL_CRE.items()]
        columns += ["pixel_size_um"]
    extended = measures == "all"
    return (columns + ["disc_confidence", *(FOVEA_KEYS if extended else ()), "disc_source", "segmentation"]
            + (["av_source"] if av else []) + (morphology_columns(physical) if extended else []))


def check_measures(measures: str) -> None:
    if measures not in MEASURES:
        raise MedvitError(f"measures must be one of {', '.join(MEASURES)}, not {measures!r}")


def measure_masks(
    masks: VesselMasks,
    disc: tuple[float, float, float],
    definitions: str = "pvbm",
    roi_radius: float | None = None,
    fractal: dict | None = None,
    pixel_size_um: float | None = None,
    return_points: bool = False,
    region: str = "outside_disc",
    fov: np.ndarray | None = None,
    measures: str = "all",
):
    """Every biomarker of the given masks around the given disc (see :func:`biomarker_columns`),
    measured in ``region`` (:data:`medvit.pvbm.regions.REGIONS`: ``outside_disc``, PVBM's;
    AutoMorph's ``zone_b`` or ``zone_c``); CRAE / CRVE always in zone B; and AutoMorph's
    density, width, fractal dimension and tortuosities of the vessels in the field of view
    ``fov`` ((H, W) bool; None: the whole image) and zones B and C
    (:func:`~medvit.pvbm.morphology.morphology_biomarkers`) unless ``measures`` is "pvbm".

    Returns:
        dict of values (px, degrees, counts; mm when ``pixel_size_um``), and with
        ``return_points`` also the skeleton points of the all-vessel analysis.
    """
    check_measures(measures)
    x, y, r = disc
    shape = masks.vessels.shape
    check_disc(shape, x, y, r)
    region = measurement_region(shape, x, y, r, roi_radius, region)
    row: dict[str, float] = {"disc_x": float(x), "disc_y": float(y), "disc_radius": float(r)}
    points = None
    targets = [("", masks.vessels)]
    if masks.has_av:
        targets += [("artery_", masks.arteries), ("vein_", masks.veins)]
    skeletons = {}
    for prefix, mask in targets:
        measured = mask & region
        skeletons[prefix] = vessel_skeleton(mask)
        skeleton = skeletons[prefix] & region
        result = geometric_biomarkers(measured, skeleton, x, y, r, definitions, return_points=not prefix and return_points)
        if isinstance(result, tuple):
            result, points = result
        if measured.any():
            result.update(multifractal_biomarkers(measured, **(fractal or {})))
        else:
            result.update({key: math.nan for key in MULTIFRACTAL_KEYS})
        row.update({f"{prefix}{key}": value for key, value in result.items()})
    if masks.has_av:
        cre = central_retinal_equivalents(masks.arteries, masks.veins, x, y, r, pixel_size_um=pixel_size_um)
        row.update({key: cre[key] for key in CRE_KEYS})
        row["avr"] = arteriovenous_ratio(cre["crae_knudtson"], cre["crve_knudtson"])
    if pixel_size_um:
        row.update(physical_sizes(row, pixel_size_um))
    if measures == "all":
        row.update(morphology_biomarkers(masks.vessels, skeletons[""], (x, y, r), fov, pixel_size_um))
    return (row, points) if return_points else row


def arteriovenous_ratio(crae: float, crve: float) -> float:
    """AVR = CRAE / CRVE (Knudtson's, so unit-free); NaN unless both are measured."""
    return crae / crve if math.isfinite(crae) and math.isfinite(crve) and crve > 0 else math.nan


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


def pixel_size(photo: np.ndarray, fov: np.ndarray | None = None, pixel_size_um: float | None = None,
               fov_mm: float | None = None) -> float | None:
    """The pixel size (µm) to report sizes in: ``pixel_size_um`` if given, else from ``fov_mm``
    and the field of view (``fov``, (H, W) bool, or :func:`~medvit.pvbm.vessels.field_of_view`
    of ``photo``); None when neither is given."""
    if pixel_size_um or not fov_mm:
        return pixel_size_um or None
    return pixel_size_from_fov(fov if fov is not None else field_of_view(photo), fov_mm)


def units_note(pixel_size_um: float | None = None, fov_mm: float | None = None) -> str:
    """What the table's lengths are in, for the provenance: pixels, or also mm with a pixel size."""
    if pixel_size_um or fov_mm:
        scale = f"pixel_size_um {pixel_size_um:g}" if pixel_size_um else f"fov_mm {fov_mm:g} over the field of view's diameter"
        return (f"lengths in px, areas in px², curvatures in px⁻¹; the *_mm, *_mm2 and *_per_mm columns in mm, "
                f"mm² and mm⁻¹ ({scale}); crae/crve_hubbard in µm")
    return ("lengths in px, areas in px², curvatures and tortuosity densities in px⁻¹ (no pixel_size_um or "
            "fov_mm given: no *_mm columns, crae/crve_hubbard empty)")
