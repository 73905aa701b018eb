"""A fundus photograph through the PVBM pipeline with everything the page draws kept."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

SKELETON_COLOUR = (0, 0, 0)  # drawn inside the vessels' tint


@dataclass
class FundusAnalysis:
    photo: np.ndarray  # (H, W, 3) in (row, col) order
    masks: object  # medvit.pvbm.masks.VesselMasks
    disc: tuple[float, float, float]  # (x, y, radius) px
    points: dict  # skeleton points: start / end / intersection → (N, 2) (row, col)
    row: dict  # the biomarkers, as the CSV's row
    skeleton: np.ndarray | None = None  # (H, W) bool, the vessels' centre lines the geometry is measured on

    def picture(self, vessels: bool = True, points: bool = True, overlay: bool = True,
                skeleton: bool = False) -> np.ndarray:
        """(H, W, 3) uint8: the photo, or :func:`medvit.pvbm.overlay.overlay_image` (disc
        circle and zone B rings always, vessels and skeleton points when asked) with the
        skeleton's centre lines drawn over it."""
        from medvit.pvbm.masks import VesselMasks
        from medvit.pvbm.overlay import overlay_image

        if not overlay:
            return np.asarray(self.photo[..., :3], dtype=np.uint8)
        masks = self.masks if vessels else VesselMasks(np.zeros_like(self.masks.vessels))
        picture = overlay_image(self.photo, masks, self.disc, self.points if points else None)
        if skeleton and self.skeleton is not None:
            picture[self.skeleton] = SKELETON_COLOUR
        return picture


def analyse_photo(path: str | os.PathLike, segmentation: str = "classical", checkpoint: str | None = None) -> FundusAnalysis:
    """Segment, find the disc and measure, as :func:`medvit.pvbm.pipeline.measure_fundus`
    does for the bundle, keeping the masks and skeleton points to draw."""
    from medvit.pvbm.geometry import vessel_skeleton
    from medvit.pvbm.optic_disc import detect_optic_disc
    from medvit.pvbm.pipeline import measure_masks, read_photo_rc, segment

    photo = read_photo_rc(path)
    masks, fov = segment(photo, segmentation, checkpoint)
    disc = detect_optic_disc(photo, vessels=masks.vessels, fov=fov)
    row, points = measure_masks(masks, disc, return_points=True)
    return FundusAnalysis(photo, masks, disc, points or {}, row, vessel_skeleton(masks.vessels))
