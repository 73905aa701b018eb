"""Vessel tortuosity per skeleton segment, as AutoMorph reports it: distance, squared curvature
and tortuosity density.

AutoMorph (Zhou et al. 2022, TVST, "AutoMorph: Automated Retinal Vascular Morphology
Quantification Via a Deep Learning Pipeline") splits the vessel skeleton of a zone into segments
between branch points (segments of more than 10 pixels), measures each and reports the mean over
the segments. The measures (for a segment with centreline r(s), arc length L, chord C = |r(L) - r(0)|):

- distance tortuosity (Hart et al. 1999, AutoMorph's "distance"): L / C, dimensionless, 1 for a
  straight segment (reported as arc / chord, not arc / chord - 1, as AutoMorph does).
- squared curvature tortuosity (Hart et al. 1999, τ4): ∫ κ(s)² ds, in px⁻¹ (mm⁻¹ with a pixel
  size); 0 for a straight segment, θ / R for a circular arc of radius R and angle θ.
- tortuosity density (Grisan et al. 2008, IEEE TMI 27(3)): the segment cut at its inflection points
  (where the curvature changes sign) into n turns of arc L_i and chord C_i;
  ((n - 1) / n) · (1 / L) · Σ (L_i / C_i - 1), in px⁻¹; 0 for a straight segment and for a single
  turn (a circular arc).

Deviations from AutoMorph's code (retipy), on purpose: the pixel centreline is smoothed
(Gaussian, ``sigma`` px, ends extended by point reflection) before lengths and curvatures are
taken, so a straight vessel at an angle is not counted tortuous for its pixel staircase; the
squared curvature is the integral of κ² over arc length (Hart's definition; retipy integrates the
signed κ over the pixel index); inflections are sign changes of the curvature with a hysteresis
(``min_curvature``), not sign changes of the row step; and the tortuosity density multiplies
(n - 1) / n with the sum, as Grisan et al. define it (retipy adds them).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from medvit.pvbm.skeleton_graph import EIGHT_CONNECTED, pixel_graph

TORTUOSITY_KEYS = ("tortuosity_distance", "tortuosity_curvature", "tortuosity_density", "vessel_segments")
MIN_SEGMENT_PIXELS = 11  # AutoMorph: segments of more than 10 skeleton pixels are measured
SMOOTHING_SIGMA = 3.0  # px along the centreline: removes the pixel staircase, keeps bends of ≳ 10 px
MIN_CURVATURE = 0.01  # px⁻¹ (a radius of 100 px): weaker curvature does not start a new turn


def skeleton_paths(skeleton: np.ndarray) -> list[np.ndarray]:
    """The skeleton cut at its branch points (pixels with ≥ 3 skeleton neighbours) into simple
    paths, each as (N, 2) int (row, col) pixels in order along the path; closed loops start
    anywhere. Where a corner leaves a choice, the walk takes the edge neighbour first.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), EIGHT_CONNECTED.astype(np.uint8), mode="constant")
    pieces = skeleton & (neighbours - 1 < 3)  # every remaining pixel has ≤ 2 neighbours: paths
    graph = pixel_graph(pieces)  # neighbour lists: the four edge neighbours before the diagonals
    adjacency = graph.neighbours
    degree = np.fromiter((len(n) for n in adjacency), dtype=np.int64, count=graph.size)
    visited = bytearray(graph.size)
    paths = []
    # ends first, so an open path is walked from one end; what is left are loops
    for start in [*np.flatnonzero(degree <= 1).tolist(), *np.flatnonzero(degree > 1).tolist()]:
        if visited[start]:
            continue
        visited[start] = 1
        path, pixel = [start], start
        while True:
            pixel = next((n for n, _ in adjacency[pixel] if not visited[n]), -1)
            if pixel < 0:
                break
            visited[pixel] = 1
            path.append(pixel)
        paths.append(np.stack([graph.rows[path], graph.cols[path]], axis=1))
    return paths


def split_by_region(paths: list[np.ndarray], region: np.ndarray | None, min_pixels: int = MIN_SEGMENT_PIXELS
                    ) -> list[np.ndarray]:
    """The runs of each path inside ``region`` ((H, W) bool; None: everywhere) of at least
    ``min_pixels`` pixels — the segments AutoMorph would find in a skeleton cut to the region."""
    segments = []
    for path in paths:
        inside = np.ones(len(path), bool) if region is None else region[path[:, 0], path[:, 1]]
        edges = np.flatnonzero(np.diff(np.r_[0, inside.astype(np.int8), 0]))
        segments += [path[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_pixels]
    return segments


def smooth_centreline(path: np.ndarray, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """(N, 2) points → (N, 2) float, smoothed along the path with a Gaussian of ``sigma`` samples.
    The ends are extended by point reflection (2·p₀ - p_k), so a straight line stays straight."""
    points = np.asarray(path, dtype=np.float64)
    if sigma <= 0 or len(points) < 3:
        return points
    pad = min(len(points) - 1, int(math.ceil(4 * sigma)))
    padded = np.pad(points, ((pad, pad), (0, 0)), mode="reflect", reflect_type="odd")
    return ndimage.gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[pad:-pad]


def arc_length(points: np.ndarray) -> float:
    """Length (px) of the polyline through (N, 2) points."""
    return float(np.hypot(*np.diff(points, axis=0).T).sum())


def chord_length(points: np.ndarray) -> float:
    """Distance (px) between the first and last of (N, 2) points."""
    return float(np.hypot(*(points[-1] - points[0])))


def signed_curvature(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed curvature κ (px⁻¹) at each of (N, 2) points, N ≥ 3, and the arc length each
    sample stands for (|r'|, px), from central differences."""
    first = np.gradient(points, axis=0)
    second = np.gradient(first, axis=0)
    speed = np.hypot(first[:, 0], first[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (first[:, 0] * second[:, 1] - first[:, 1] * second[:, 0]) / speed**3
    return np.nan_to_num(kappa), speed


def distance_tortuosity(points: np.ndarray) -> float:
    """Arc / chord of a curve (N, 2); 1 for a straight line, NaN for a closed loop."""
    chord = chord_length(points)
    return arc_length(points) / chord if chord > 0 else math.nan


def squared_curvature_tortuosity(points: np.ndarray, curvature: tuple[np.ndarray, np.ndarray] | None = None
                                 ) -> float:
    """∫ κ² ds (px⁻¹) along a curve (N, 2): 0 for a straight line, θ / R for a circular arc.
    ``curvature``: its :func:`signed_curvature`, if already computed."""
    if len(points) < 3:
        return math.nan
    kappa, speed = curvature or signed_curvature(points)
    return float(np.sum(kappa**2 * speed))


def turns(points: np.ndarray, min_curvature: float = MIN_CURVATURE,
          curvature: tuple[np.ndarray, np.ndarray] | None = None) -> list[np.ndarray]:
    """The curve (N, 2) cut at its inflection points into turns of one curvature sign. A sign
    counts where |κ| ≥ ``min_curvature``; the cut is at the middle of the weak stretch between
    two opposite signs (hysteresis: noise around zero curvature does not cut)."""
    if len(points) < 3:
        return [points]
    kappa, _ = curvature or signed_curvature(points)
    strong = np.flatnonzero(np.abs(kappa) >= min_curvature)
    signs = np.sign(kappa[strong])
    flips = np.flatnonzero(signs[1:] != signs[:-1])
    cuts = [(int(strong[i]) + int(strong[i + 1]) + 1) // 2 for i in flips]
    bounds = [0, *cuts, len(points) - 1]
    return [points[a:b + 1] for a, b in zip(bounds[:-1], bounds[1:])]


def tortuosity_density(points: np.ndarray, min_curvature: float = MIN_CURVATURE,
                       curvature: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Grisan et al. 2008: ((n - 1) / n) · (1 / L) · Σ (L_i / C_i - 1) over the n turns of the
    curve (N, 2) (:func:`turns`), px⁻¹; 0 for a straight line or a single turn."""
    parts = turns(points, min_curvature, curvature)
    total = arc_length(points)
    n = len(parts)
    if n < 2 or total <= 0:
        return 0.0
    excess = sum(arc_length(p) / chord_length(p) - 1.0 for p in parts if chord_length(p) > 0)
    return (n - 1) / n * excess / total


def tortuosity_biomarkers(segments: list[np.ndarray], sigma: float = SMOOTHING_SIGMA,
                          min_curvature: float = MIN_CURVATURE) -> dict[str, float]:
    """The mean of each tortuosity over the segments (list of (N, 2) pixel paths, e.g. from
    :func:`split_by_region`), each smoothed first (:func:`smooth_centreline`), and their count.

    Returns:
        dict with :data:`TORTUOSITY_KEYS`: ``tortuosity_distance`` (arc / chord),
        ``tortuosity_curvature`` (∫κ² ds, px⁻¹), ``tortuosity_density`` (px⁻¹), NaN without a
        segment; ``vessel_segments`` (count). Closed loops have no chord and are left out of
        the distance mean.
    """
    if not segments:
        return {"tortuosity_distance": math.nan, "tortuosity_curvature": math.nan,
                "tortuosity_density": math.nan, "vessel_segments": 0.0}
    values = np.array([_curve_tortuosities(smooth_centreline(s, sigma), min_curvature) for s in segments])
    distance = values[:, 0]
    return {
        "tortuosity_distance": float(np.nanmean(distance)) if np.isfinite(distance).any() else math.nan,
        "tortuosity_curvature": float(values[:, 1].mean()),
        "tortuosity_density": float(values[:, 2].mean()),
        "vessel_segments": float(len(segments)),
    }


def _curve_tortuosities(curve: np.ndarray, min_curvature: float) -> tuple[float, float, float]:
    """Distance, squared-curvature and density tortuosity of one smoothed curve (N ≥ 3, 2)."""
    curvature = signed_curvature(curve)
    return (distance_tortuosity(curve), squared_curvature_tortuosity(curve, curvature),
            tortuosity_density(curve, min_curvature, curvature))
