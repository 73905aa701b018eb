"""Geometric vascular biomarkers (PVBM's geometry analysis), from a vessel mask and its skeleton.

Definitions (pixels; see :func:`geometric_biomarkers`):

- area: number of vessel pixels in the measurement region.
- length: Σ arc length of the skeleton segments (1 per straight step, √2 per diagonal).
- tortuosity_index: Σ arc / Σ chord over the segments.
- median_tortuosity: median of arc / chord per segment.
- median_branching_angle: median angle (degrees) at intersections between child
  branches, each branch's direction taken from the intersection to its 30th pixel.
- start_points: trees entering near the disc (one per skeleton component of ≥ 50 px
  whose pixel nearest the disc centre lies within 100 px + r).
- end_points / intersection_points: distinct pixels where the walk ended / split.
- perimeter: length of the skeletonised vessel border (PVBM 2.x; 3.x dropped it).

Two definition sets: ``"pvbm"`` reproduces PVBM 3.0.1.8 including the revisiting of
pixels its walk does (so cohort numbers compare with studies that used it), without its
failures (no recursion limit, arccos clipped); ``"corrected"`` walks each pixel once.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from medvit.pvbm.skeleton_graph import OFFSETS, STEP, pixel_graph, prune_spurs, start_points, walk_segments
from medvit.errors import MedvitError

DEFINITIONS = ("pvbm", "corrected")
GEOMETRY_KEYS = (
    "area",
    "length",
    "perimeter",
    "tortuosity_index",
    "median_tortuosity",
    "median_branching_angle",
    "start_points",
    "end_points",
    "intersection_points",
)


def vessel_skeleton(mask: np.ndarray) -> np.ndarray:
    """Skeleton of a vessel mask, (H, W) bool (scikit-image's skeletonize, as PVBM uses)."""
    return skeletonize(np.asarray(mask, dtype=bool))


def geometric_biomarkers(
    mask: np.ndarray,
    skeleton: np.ndarray,
    disc_x: float,
    disc_y: float,
    disc_radius: float,
    definitions: str = "pvbm",
    return_points: bool = False,
) -> dict[str, float] | tuple[dict[str, float], dict[str, np.ndarray]]:
    """The geometric biomarkers of a vessel mask within its measurement region.

    Args:
        mask: (H, W) bool vessel mask, already restricted to the measurement region.
        skeleton: (H, W) bool skeleton of the whole mask, restricted to the same region
            (PVBM skeletonises before cutting the region; so does medvit's pipeline).
        disc_x, disc_y, disc_radius: optic disc centre (column, row) and radius, px.
        definitions: "pvbm" or "corrected" (see the module docstring).

        return_points: also return the start, end and intersection pixels (for overlays).

    Returns:
        dict with :data:`GEOMETRY_KEYS`; lengths in px, angles in degrees, counts as floats.
        Ratios and medians are NaN when there is no segment / angle to measure. With
        ``return_points``, also a dict of (N, 2) (row, col) arrays: "start", "end", "intersection".
    """
    if definitions not in DEFINITIONS:
        raise MedvitError(f"unknown biomarker definitions '{definitions}'; choose from {DEFINITIONS}")
    mask = np.asarray(mask, dtype=bool)
    skeleton = np.asarray(skeleton, dtype=bool)
    if mask.ndim != 2 or mask.shape != skeleton.shape:
        raise MedvitError(f"vessel mask {mask.shape} and skeleton {skeleton.shape} must be 2D and of one size")
    graph = pixel_graph(skeleton)
    starts = start_points(graph, disc_x, disc_y, disc_radius)
    kept = prune_spurs(graph, starts)
    topology = walk_segments(graph, kept, starts, revisit=definitions == "pvbm")
    arcs = np.array([s.arc for s in topology.segments])
    chords = np.array([s.chord for s in topology.segments])
    with np.errstate(divide="ignore", invalid="ignore"):
        tortuosity_index = float(arcs.sum() / chords.sum()) if len(arcs) else math.nan
        median_tortuosity = float(np.median(arcs / chords)) if len(arcs) else math.nan
    angles = branching_angles(graph, topology.segments)
    values = {
        "area": float(mask.sum()),
        "length": float(arcs.sum()),
        "perimeter": border_perimeter(mask),
        "tortuosity_index": tortuosity_index,
        "median_tortuosity": median_tortuosity,
        "median_branching_angle": float(np.median(angles)) if len(angles) else math.nan,
        "start_points": float(len(starts)),
        "end_points": float(len(topology.end_points)),
        "intersection_points": float(len(topology.intersection_points)),
    }
    if not return_points:
        return values
    coordinates = np.stack([graph.rows, graph.cols], axis=1)
    points = {
        "start": coordinates[starts],
        "end": coordinates[sorted(topology.end_points)],
        "intersection": coordinates[sorted(topology.intersection_points)],
    }
    return values, points


def branching_angles(graph, segments) -> np.ndarray:
    """Angles (degrees) between child branches leaving the same origin, as PVBM pairs them:
    two children give one angle, three give two (first–second, second–third); branches
    without a 30th pixel, and origins with other counts, give none. arccos is clipped."""
    by_origin: dict[int, list] = {}
    for segment in segments:
        by_origin.setdefault(segment.origin, []).append(segment.angle_pixel)
    rows, cols = graph.rows, graph.cols
    angles = []
    for origin, tips in by_origin.items():
        if len(tips) not in (2, 3) or any(t is None for t in tips):
            continue
        centre = np.array([rows[origin], cols[origin]], dtype=float)
        vectors = [np.array([rows[t], cols[t]], dtype=float) - centre for t in tips]
        for first, second in zip(vectors[:-1], vectors[1:]):
            norm = np.linalg.norm(first) * np.linalg.norm(second)
            if norm == 0:
                continue
            angles.append(math.degrees(math.acos(float(np.clip(first @ second / norm, -1.0, 1.0)))))
    return np.array(angles)


def vessel_border(mask: np.ndarray) -> np.ndarray:
    """Vessel pixels with a background 8-neighbour (the image edge counts as background)."""
    mask = np.asarray(mask, dtype=bool)
    interior = ndimage.binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=0)
    return mask & ~interior


def border_perimeter(mask: np.ndarray) -> float:
    """Perimeter (px) as PVBM 2.x measured it: the skeletonised vessel border, each pixel
    counted with the step (1 or √2) by which PVBM's priority-queue walk first reached it.

    Reproduced exactly (the walk's pop order — direction index, then row, column — decides
    the steps); it runs once per border pixel over plain lists.
    """
    border = skeletonize(vessel_border(mask))
    graph = pixel_graph(border)
    neighbours = graph.neighbours
    rows, cols = graph.rows.tolist(), graph.cols.tolist()
    # direction index of each neighbour, as PVBM's queue priority
    direction = {(dr, dc): d for d, (dr, dc) in enumerate(OFFSETS)}
    remaining = bytearray([1]) * graph.size
    total = 0.0
    # raster order, as PVBM scans; the seed stays unmarked, so a neighbour may reach it again
    for seed in range(graph.size):
        if not remaining[seed]:
            continue
        queue = [(0, rows[seed], cols[seed], seed)]
        while queue:
            _, _, _, pixel = heapq.heappop(queue)
            for neighbour, step in neighbours[pixel]:
                if remaining[neighbour]:
                    remaining[neighbour] = 0
                    total += step
                    d = direction[(rows[neighbour] - rows[pixel], cols[neighbour] - cols[pixel])]
                    heapq.heappush(queue, (d, rows[neighbour], cols[neighbour], neighbour))
    return total

