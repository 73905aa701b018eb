"""A fundus photograph through the PVBM pipeline with everything the page draws kept."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from medvit.bundle.workflow import bundle_component
from medvit.pvbm.cohort import bundle_dir, bundle_overrides
from medvit.pvbm.geometry import vessel_skeleton
from medvit.pvbm.masks import VesselMasks
from medvit.pvbm.overlay import COLOURS, display_photo, overlay_image
from medvit.pvbm.photo import channels_last, read_photo_rc
from medvit.pvbm.quality import FundusQuality, assess_fundus_photo

SKELETON_COLOUR = (0, 0, 0)  # drawn inside the vessels' tint


@dataclass
class FundusAnalysis:
    photo: np.ndarray  # (H, W, 3) in (row, col) order: uint8, or float in [0, 1]
    masks: VesselMasks
    disc: tuple[float, float, float]  # (x, y, radius) px
    points: dict  # skeleton points: start / end / intersection → (N, 2) (row, col)
    row: dict  # the biomarkers, as the CSV's row
    skeleton: np.ndarray | None = None  # (H, W) bool, the vessels' centre lines the geometry is measured on

    def picture(self, vessels: bool = True, points: bool = True, overlay: bool = True,
                skeleton: bool = False) -> np.ndarray:
        """(H, W, 3) uint8: the photo, or :func:`medvit.pvbm.overlay.overlay_image` (disc
        circle and zone B rings always, vessels and skeleton points when asked) with the
        skeleton's centre lines drawn over it."""
        if not overlay:
            return display_photo(self.photo)
        masks = self.masks if vessels else VesselMasks(np.zeros_like(self.masks.vessels))
        picture = overlay_image(self.photo, masks, self.disc, self.points if points else None)
        if skeleton and self.skeleton is not None:
            picture[self.skeleton] = SKELETON_COLOUR
        return picture


def analyse_photo(path: str | os.PathLike, segmentation: str = "classical", checkpoint: str | None = None,
                  classify_av: bool = False) -> FundusAnalysis:
    """The PVBM bundle's predictor on one photo (built once per process and settings), keeping
    the masks, disc and skeleton points to draw; with ``classify_av`` the vessels are split into
    arteries and veins from the photo (the bundle's ``classify_av``: CRAE, CRVE, AVR)."""
    overrides = bundle_overrides({"segmentation": segmentation, "checkpoint": checkpoint,
                                  "classify_av": bool(classify_av)})
    data = bundle_component(bundle_dir(), "predictor", **overrides).process(os.fspath(path))
    masks = data["masks"]
    return FundusAnalysis(channels_last(data["image"]), masks, data["disc"], data["points"], data["row"],
                          vessel_skeleton(masks.vessels))


def photo_quality(path: str | os.PathLike) -> tuple[np.ndarray, FundusQuality]:
    """The photo as the bundle reads it, (H, W, 3) uint8 to show, and whether it is a fundus
    photograph (the bundle's own check, :func:`medvit.pvbm.quality.assess_fundus_photo`, with
    its measures): the page shows a refused photo and why, without running the pipeline."""
    photo = read_photo_rc(path)
    return display_photo(photo), assess_fundus_photo(photo)


# units of the biomarker columns (medvit.pvbm.pipeline's CSV contract; "artery_" / "vein_" columns as theirs)
UNITS = {"disc_x": "px", "disc_y": "px", "disc_radius": "px", "area": "px²", "length": "px", "perimeter": "px",
         "tortuosity_index": "ratio", "median_tortuosity": "ratio", "median_branching_angle": "degrees",
         "start_points": "count", "end_points": "count", "intersection_points": "count", "D0": "dimension",
         "D1": "dimension", "D2": "dimension", "singularity_length": "dimension", "crae_knudtson": "px",
         "crve_knudtson": "px", "crae_hubbard": "µm", "crve_hubbard": "µm", "pixel_size_um": "µm", "avr": "ratio",
         "disc_confidence": "ratio", "fovea_x": "px", "fovea_y": "px", "fovea_darkness": "ratio",
         "disc_fovea_distance": "px", "disc_fovea_angle": "degrees"}
# AutoMorph's per-zone columns (medvit.pvbm.morphology): "<measure>_<zone>"
ZONE_UNITS = {"vessel_density": "ratio", "mean_width": "px", "fractal_dimension": "dimension",
              "tortuosity_distance": "ratio", "tortuosity_curvature": "1/px", "tortuosity_density": "1/px",
              "vessel_segments": "count"}
ZONE_SUFFIXES = ("_fov", "_zone_b", "_zone_c")


def biomarker_unit(name: str) -> str:
    """The unit of a biomarker column: px, px², 1/px, degrees, a count or a ratio; mm / mm² / 1/mm
    for the ``*_mm`` / ``*_mm2`` / ``*_per_mm`` columns written when the pixel size is known; ""
    for text columns."""
    if name.endswith("_mm2"):
        return "mm²"
    if name.endswith("_per_mm"):
        return "1/mm"
    if name.endswith("_mm"):
        return "mm"
    base = name.split("_", 1)[1] if name.startswith(("artery_", "vein_")) else name
    for suffix in ZONE_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in ZONE_UNITS:
            return ZONE_UNITS[name.removesuffix(suffix)]
    return UNITS.get(base, UNITS.get(name, ""))


def legend_entries(has_av: bool) -> list[tuple[str, tuple[int, int, int]]]:
    """(label, RGB) of what :meth:`FundusAnalysis.picture` draws, in its colours."""
    vessels = [("artery", COLOURS["artery"]), ("vein", COLOURS["vein"])] if has_av else [("vessel", COLOURS["vessel"])]
    return vessels + [("optic disc", COLOURS["disc"]), ("zone B rings (2r, 3r)", COLOURS["zone"]),
                      ("skeleton", SKELETON_COLOUR), ("start point", COLOURS["start"]), ("end point", COLOURS["end"]),
                      ("branch point", COLOURS["intersection"])]
