"""AutoMorph's vessel morphology per zone: vessel density, mean width, box-counting fractal
dimension, and the tortuosities of :mod:`medvit.pvbm.tortuosity`.

AutoMorph (Zhou et al. 2022, TVST) reports these over the whole image and in zones B and C
around the optic disc (:data:`medvit.pvbm.regions.REGIONS`). Here, per zone
(:data:`ZONES`: ``fov``, the field of view, disc included; ``zone_b``, 2r < d ≤ 3r; ``zone_c``,
2r < d ≤ 5r; the zones cut to the field of view), for a vessel mask V and its skeleton S:

- ``vessel_density``: |V ∩ zone| / |zone| (dimensionless; AutoMorph divides by the whole
  image, here by the zone's pixels in the field of view, so the black surround does not count).
- ``mean_width``: |V ∩ zone| / length(S ∩ zone), px (``_mm`` with a pixel size): the average
  vessel calibre. The skeleton's length counts an edge step as 1 and a diagonal step as √2
  (AutoMorph counts skeleton pixels, which makes diagonal vessels ~40 % wider).
- ``fractal_dimension``: box-counting (Minkowski-Bouligand) dimension of V ∩ zone, cropped to
  the zone's bounding box, as AutoMorph computes it: boxes of side ε = 2^k (from the largest
  power of 2 not above the shorter side down to 4 px) on a grid from the top-left corner; N(ε)
  counts the boxes that are partly, not wholly, vessel (0 < mass < ε², like pvbm's occupancy
  filter); the dimension is minus the slope of log N(ε) against log ε.
- the tortuosities of :func:`medvit.pvbm.tortuosity.tortuosity_biomarkers` on the skeleton
  segments inside the zone (means over segments, and the segment count).
"""

from __future__ import annotations

import math

import numpy as np

from medvit.pvbm.regions import REGIONS, check_disc, disc_distance
from medvit.pvbm.tortuosity import TORTUOSITY_KEYS, skeleton_paths, split_by_region, tortuosity_biomarkers

ZONES = ("fov", "zone_b", "zone_c")
MORPHOLOGY_KEYS = ("vessel_density", "mean_width", "fractal_dimension", *TORTUOSITY_KEYS)
# measures with a physical size: name → (unit suffix, power of the pixel size in mm)
PHYSICAL_MORPHOLOGY = {"mean_width": ("_mm", 1), "tortuosity_curvature": ("_per_mm", -1),
                       "tortuosity_density": ("_per_mm", -1)}
SMALLEST_BOX = 4  # AutoMorph: box sides 2^n ... 2^2


def morphology_columns(physical: bool = False) -> list[str]:
    """The columns of :func:`morphology_biomarkers`: ``<measure>_<zone>``, then with a pixel size
    the ``<measure>_<zone><unit>`` ones."""
    columns = [f"{key}_{zone}" for zone in ZONES for key in MORPHOLOGY_KEYS]
    if physical:
        columns += [f"{key}_{zone}{unit}" for zone in ZONES for key, (unit, _) in PHYSICAL_MORPHOLOGY.items()]
    return columns


def skeleton_length(skeleton: np.ndarray) -> float:
    """Length (px) of a skeleton (H, W) bool: 1 per pair of edge neighbours, √2 per pair of
    diagonal neighbours that do not share an edge neighbour (a corner is walked along its edges)."""
    s = np.pad(np.asarray(skeleton, dtype=bool), 1)
    edges = np.count_nonzero(s[1:, :] & s[:-1, :]) + np.count_nonzero(s[:, 1:] & s[:, :-1])
    top_left, top_right, bottom_left, bottom_right = s[:-1, :-1], s[:-1, 1:], s[1:, :-1], s[1:, 1:]
    # the diagonal pairs of each 2×2 block, counted where neither other corner of the block is set
    diagonal = (np.count_nonzero(top_left & bottom_right & ~top_right & ~bottom_left)
                + np.count_nonzero(top_right & bottom_left & ~top_left & ~bottom_right))
    return float(edges + math.sqrt(2) * diagonal)


def vessel_density(mask: np.ndarray, region: np.ndarray) -> float:
    """Share of the region's pixels that are vessel; mask and region (H, W) bool. NaN for an empty region."""
    size = np.count_nonzero(region)
    return np.count_nonzero(mask & region) / size if size else math.nan


def mean_vessel_width(mask: np.ndarray, skeleton: np.ndarray, region: np.ndarray) -> float:
    """Vessel area / skeleton length in the region, px; (H, W) bool arrays. NaN without skeleton."""
    length = skeleton_length(skeleton & region)
    return np.count_nonzero(mask & region) / length if length > 0 else math.nan


def box_counting_dimension(mask: np.ndarray) -> float:
    """AutoMorph's box-counting fractal dimension of a mask (H, W) bool (see the module docstring);
    NaN when fewer than two box sizes have a partly filled box or the mask is under 8 px a side."""
    mask = np.asarray(mask, dtype=bool)
    top = int(math.floor(math.log2(min(mask.shape)))) if min(mask.shape) >= 2 * SMALLEST_BOX else 0
    sizes = 2 ** np.arange(top, 1, -1)
    rows, cols = np.nonzero(mask)  # once: every box size bins the same pixels
    counts = np.array([np.count_nonzero((masses > 0) & (masses < size * size))
                       for size in sizes for masses in [box_masses_of(rows, cols, mask.shape, int(size))]],
                      dtype=np.float64)
    used = counts > 0
    if used.sum() < 2:
        return math.nan
    slope = np.polyfit(np.log(sizes[used]), np.log(counts[used]), 1)[0]
    return float(-slope)


def box_masses_of(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    """Vessel pixels per size×size box of the grid :func:`medvit.pvbm.fractal.box_masses` uses
    (anchored at the top-left, partial last row / column), from the pixels' (row, col) arrays."""
    grid = (-(-shape[0] // size), -(-shape[1] // size))
    return np.bincount((rows // size) * grid[1] + cols // size, minlength=grid[0] * grid[1]).reshape(grid)


def zone_masks(shape: tuple[int, int], disc: tuple[float, float, float], fov: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
    """:data:`ZONES` → (H, W) bool masks, each within the field of view ``fov`` (None: the whole image)."""
    x, y, r = disc
    check_disc(shape, x, y, r)
    inside = np.ones(shape, bool) if fov is None else np.asarray(fov, dtype=bool)
    distance = disc_distance(shape, x, y)  # once for both zones
    zones = {"fov": inside}
    for zone in ZONES[1:]:
        inner, outer = REGIONS[zone]
        zones[zone] = (distance > inner * r) & (distance <= outer * r) & inside
    return zones


def morphology_biomarkers(
    mask: np.ndarray,
    skeleton: np.ndarray,
    disc: tuple[float, float, float],
    fov: np.ndarray | None = None,
    pixel_size_um: float | None = None,
) -> dict[str, float]:
    """Vessel density, mean width, fractal dimension and tortuosities in every zone.

    Args:
        mask: (H, W) bool vessel mask.
        skeleton: (H, W) bool skeleton of the whole mask (cut to each zone here).
        disc: optic disc (x, y, radius), px.
        fov: (H, W) bool field of view; None: the whole image.
        pixel_size_um: adds the :data:`PHYSICAL_MORPHOLOGY` columns.

    Returns:
        dict with :func:`morphology_columns` (px, px⁻¹, counts; mm, mm⁻¹ with a pixel size).
    """
    mask = np.asarray(mask, dtype=bool)
    skeleton = np.asarray(skeleton, dtype=bool)
    paths = skeleton_paths(skeleton)  # walked once, cut to each zone
    row: dict[str, float] = {}
    for zone, region in zone_masks(mask.shape, disc, fov).items():
        values = {
            "vessel_density": vessel_density(mask, region),
            "mean_width": mean_vessel_width(mask, skeleton, region),
            "fractal_dimension": box_counting_dimension(_crop(mask & region, region)),
            **tortuosity_biomarkers(split_by_region(paths, region)),
        }
        row.update({f"{key}_{zone}": value for key, value in values.items()})
    if pixel_size_um:
        mm = pixel_size_um / 1000.0
        row.update({f"{key}_{zone}{unit}": row[f"{key}_{zone}"] * mm**power
                    for zone in ZONES for key, (unit, power) in PHYSICAL_MORPHOLOGY.items()})
    return row


def _crop(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``image`` cut to the bounding box of ``region`` (both (H, W)); empty region: unchanged."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if not len(rows):
        return image
    return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
