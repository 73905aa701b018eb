"""Measurement regions around the optic disc.

Distances are measured from the disc centre (x, y) = (column, row) in pixels. The
regions follow PVBM: vessels inside the disc (d ≤ r) are not measured, an optional
ROI radius bounds the geometry and fractal analysis (PVBM's fixed 600 px is tuned to
1444² disc-centred photos, so medvit's default is the whole field of view), and the
central retinal equivalents use zone B, 2r < d ≤ 3r. AutoMorph's zones are region options
for every biomarker (:data:`REGIONS`): zone B, 0.5-1 disc diameters from the disc margin
(2r < d ≤ 3r), and zone C, 0.5-2 disc diameters from it (2r < d ≤ 5r).
"""

from __future__ import annotations

import numpy as np

from medvit.errors import MedvitError


def disc_distance(shape: tuple[int, int], disc_x: float, disc_y: float) -> np.ndarray:
    """Euclidean distance (px) of every pixel from the disc centre; (H, W) float64."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return np.hypot(rows - disc_y, cols - disc_x)


def check_disc(shape: tuple[int, int], disc_x: float, disc_y: float, disc_radius: float) -> None:
    """Raise MedvitError unless the disc centre lies in the image and the radius is positive."""
    height, width = shape
    if not (np.isfinite(disc_radius) and disc_radius > 0):
        raise MedvitError(f"optic disc radius must be positive, got {disc_radius}")
    if disc_radius > max(height, width) / 2:  # a disc is about a tenth of the field of view across
        raise MedvitError(f"optic disc radius {disc_radius:g} px is larger than half the {width}×{height} image: "
                          "not a disc (a radius in another unit?)")
    if not (0 <= disc_x < width and 0 <= disc_y < height):
        raise MedvitError(f"optic disc centre ({disc_x:.0f}, {disc_y:.0f}) lies outside the {width}×{height} image")


#: Measurement regions by name → (inner, outer) distance from the disc centre in disc radii:
#: ``outside_disc`` (PVBM's, the default: d > r), AutoMorph's ``zone_b`` and ``zone_c``.
REGIONS = {"outside_disc": (1.0, None), "zone_b": (2.0, 3.0), "zone_c": (2.0, 5.0)}


def measurement_region(
    shape: tuple[int, int], disc_x: float, disc_y: float, disc_radius: float, roi_radius: float | None = None,
    region: str = "outside_disc",
) -> np.ndarray:
    """Pixels where geometry and fractals are measured: the ``region`` of :data:`REGIONS`
    (inner radius < d ≤ outer radius), and d ≤ roi_radius when given; (H, W) bool."""
    check_disc(shape, disc_x, disc_y, disc_radius)
    if region not in REGIONS:
        raise MedvitError(f"unknown measurement region {region!r}; expected one of {', '.join(REGIONS)}")
    inner, outer = REGIONS[region]
    distance = disc_distance(shape, disc_x, disc_y)
    region = distance > inner * disc_radius
    if outer is not None:
        region &= distance <= outer * disc_radius
    if roi_radius is not None:
        region &= distance <= roi_radius
    return region


def zone_b(shape: tuple[int, int], disc_x: float, disc_y: float, disc_radius: float) -> np.ndarray:
    """Zone B of the central retinal equivalents: 2r < d ≤ 3r; (H, W) bool."""
    return measurement_region(shape, disc_x, disc_y, disc_radius, region="zone_b")


def zone_c(shape: tuple[int, int], disc_x: float, disc_y: float, disc_radius: float) -> np.ndarray:
    """AutoMorph's zone C: 2r < d ≤ 5r (0.5-2 disc diameters from the margin); (H, W) bool."""
    return measurement_region(shape, disc_x, disc_y, disc_radius, region="zone_c")
