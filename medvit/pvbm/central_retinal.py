"""Central retinal arteriolar / venular equivalents (CRAE, CRVE), as PVBM's ``CREVBMs`` computes them.

Definitions (pixels unless a pixel size is given):

1. Zone B, 2r < d ≤ 3r around the disc centre, holds the measured vessels: the vessel mask
   and its skeleton are cut to it.
2. Each skeleton component of ≥ 50 px whose pixel nearest the disc lies within 20 px + 2r
   is a vessel tree, walked depth-first from that pixel (PVBM's order). The walk opens a
   new segment at every branching; the first 9 pixels of a segment are not measured.
3. Calibre: at every later skeleton pixel, the vessel is crossed along the normal to the
   direction from the pixel 6 steps back; each side extends while it stays in the mask.
   The width is the sum of the two side lengths (the centre pixel is not counted, as in
   PVBM); a crossing whose sides differ by more than 1 px is discarded as oblique.
4. Per tree, the segment reported is the first measured segment on the branch that holds
   the widest segment; the tree's calibre is that segment's mean width. When a segment
   farther out is wider by more than 2 px than that first one, PVBM's re-measurement of
   the tree yields no segment, so the tree is left out (reproduced here).
5. The six widest tree calibres are combined pairwise, widest with narrowest, by the
   Knudtson (w = 0.88·√(w1² + w2²) arterioles, 0.95·√(w1² + w2²) venules) or Hubbard
   formulas, repeating until one value is left (the middle one of an odd count carries over).

The Hubbard formulas hold constants in µm (e.g. CRAE = √(0.87 w1² + 1.01 w2² − 0.22 w1 w2 −
10.76)), so they are applied only to widths converted to µm; PVBM applies them to pixel
widths, which gives meaningless values and NaN below ~3.5 px. Knudtson's formulas are
scale-free: the pixel result converts to µm by multiplying.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from medvit.pvbm.geometry import vessel_skeleton
from medvit.pvbm.regions import zone_b
from medvit.pvbm.skeleton_graph import PixelGraph, pixel_graph, start_points

CRE_KEYS = ("crae_knudtson", "crae_hubbard", "crve_knudtson", "crve_hubbard")
UNMEASURED_PIXELS = 10  # PVBM: widths are measured from the 10th pixel of a segment on
DIRECTION_LAG = 6  # PVBM: the vessel direction is taken from the pixel 6 steps back
MAX_ASYMMETRY = 1  # px: crossings with sides differing more are oblique
OUTLIER_MARGIN = 2.0  # px: a segment wider than the first by more drops the tree
N_WIDEST = 6  # the six widest vessels enter the equivalents
START_MARGIN, START_RADIUS_FACTOR = 20, 2.0  # a tree starts within 20 px + 2r of the disc


def crae_knudtson(w1: float, w2: float) -> float:
    """Knudtson's arteriolar branch formula: 0.88·√(w1² + w2²) (any unit)."""
    return 0.88 * math.sqrt(w1**2 + w2**2)


def crve_knudtson(w1: float, w2: float) -> float:
    """Knudtson's venular branch formula: 0.95·√(w1² + w2²) (any unit)."""
    return 0.95 * math.sqrt(w1**2 + w2**2)


def crae_hubbard(w1: float, w2: float) -> float:
    """Hubbard's arteriolar formula, w1 ≤ w2 in µm; NaN where it has no real value."""
    value = 0.87 * w1**2 + 1.01 * w2**2 - 0.22 * w1 * w2 - 10.76
    return math.sqrt(value) if value >= 0 else math.nan


def crve_hubbard(w1: float, w2: float) -> float:
    """Hubbard's venular formula, w1 ≤ w2 in µm."""
    return math.sqrt(0.72 * w1**2 + 0.91 * w2**2 + 450.05)


def combine_calibres(widths: Sequence[float], formula: Callable[[float, float], float]) -> float:
    """Combine vessel widths into one equivalent (PVBM's ``central_equivalent``).

    Sort; pair the narrowest with the widest, the second narrowest with the second widest,
    ...; an odd middle value carries over unchanged; repeat until one value remains.

    Args:
        widths: vessel calibres (usually the six widest), any order.
        formula: ``(w_narrow, w_wide) -> w_parent``.

    Returns:
        The equivalent; NaN for no widths.
    """
    values = sorted(float(w) for w in widths)
    if not values:
        return math.nan
    while len(values) > 1:
        half = len(values) // 2
        merged = [formula(values[i], values[-i - 1]) for i in range(half)]
        if len(values) % 2:
            merged.append(values[half])
        values = sorted(merged)
    return values[0]


def tree_calibres(mask: np.ndarray, disc_x: float, disc_y: float, disc_radius: float) -> np.ndarray:
    """The calibre (px) of each vessel tree crossing zone B (definitions 1-4 above).

    Args:
        mask: (H, W) bool vessel mask of one kind (arteries or veins).
        disc_x, disc_y, disc_radius: optic disc centre (column, row) and radius, px.

    Returns:
        (T,) float64 mean widths, one per tree kept, in start-point order.
    """
    mask = np.asarray(mask, dtype=bool)
    zone = zone_b(mask.shape, disc_x, disc_y, disc_radius)
    vessels = mask & zone
    graph = pixel_graph(vessel_skeleton(mask) & zone)
    starts = start_points(
        graph, disc_x, disc_y, disc_radius,
        margin=START_MARGIN, radius_factor=START_RADIUS_FACTOR, distance_dtype=np.float64,
    )
    calibres = []
    for start in starts:
        parents, origins, measured = _walk_tree(graph, start, disc_x, disc_y, int(3 * disc_radius))
        widths = crossing_widths(vessels, graph.rows, graph.cols, measured)
        calibre = _tree_calibre(parents, origins, measured, widths)
        if calibre is not None:
            calibres.append(calibre)
    return np.asarray(calibres, dtype=np.float64)


def central_retinal_equivalents(
    arteries: np.ndarray,
    veins: np.ndarray,
    disc_x: float,
    disc_y: float,
    disc_radius: float,
    pixel_size_um: float | None = None,
) -> dict[str, float]:
    """CRAE and CRVE of an artery and a vein mask (definitions above).

    Args:
        arteries, veins: (H, W) bool masks.
        disc_x, disc_y, disc_radius: optic disc centre (column, row) and radius, px.
        pixel_size_um: size of a pixel in µm; needed for the Hubbard formulas.

    Returns:
        ``crae_knudtson`` and ``crve_knudtson`` in px; ``crae_hubbard`` and
        ``crve_hubbard`` in µm (NaN without ``pixel_size_um``). NaN where no tree was
        measured.
    """
    result = {}
    for kind, mask, knudtson, hubbard in (
        ("crae", arteries, crae_knudtson, crae_hubbard),
        ("crve", veins, crve_knudtson, crve_hubbard),
    ):
        widest = np.sort(tree_calibres(mask, disc_x, disc_y, disc_radius))[-N_WIDEST:]
        result[f"{kind}_knudtson"] = combine_calibres(widest, knudtson)
        result[f"{kind}_hubbard"] = combine_calibres(widest * pixel_size_um, hubbard) if pixel_size_um else math.nan
    return result


def crossing_widths(
    mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, measured: np.ndarray
) -> np.ndarray:
    """Vessel width across the skeleton at each measured pixel (definition 3).

    Vectorised over the crossings; each step advances the sides still inside the vessel,
    as PVBM's loop does, and stops a crossing when either side's next position leaves the
    image.

    Args:
        mask: (H, W) bool vessel mask the crossings run in.
        rows, cols: skeleton pixel coordinates (the graph's).
        measured: (M, 3) int rows ``(segment, pixel, pixel 6 steps back)``.

    Returns:
        (M,) float64 widths in px, NaN for oblique crossings.
    """
    if len(measured) == 0:
        return np.zeros(0)
    i = rows[measured[:, 1]].astype(np.float64)
    j = cols[measured[:, 1]].astype(np.float64)
    di = i - rows[measured[:, 2]]
    dj = j - cols[measured[:, 2]]
    norm = np.sqrt(di * di + dj * dj)
    normal_i, normal_j = -dj / norm, di / norm
    height, width = mask.shape
    positive = np.zeros(len(i), dtype=np.int64)
    negative = np.zeros(len(i), dtype=np.int64)
    active = np.arange(len(i))
    while active.size:
        # int() in PVBM truncates towards zero; so does astype after trunc
        pos_i = np.trunc(i[active] + (positive[active] + 1) * normal_i[active]).astype(np.int64)
        pos_j = np.trunc(j[active] + (positive[active] + 1) * normal_j[active]).astype(np.int64)
        neg_i = np.trunc(i[active] - (negative[active] + 1) * normal_i[active]).astype(np.int64)
        neg_j = np.trunc(j[active] - (negative[active] + 1) * normal_j[active]).astype(np.int64)
        inside = (
            (pos_i >= 0) & (pos_i < height) & (pos_j >= 0) & (pos_j < width)
            & (neg_i >= 0) & (neg_i < height) & (neg_j >= 0) & (neg_j < width)
        )
        active, pos_i, pos_j, neg_i, neg_j = (a[inside] for a in (active, pos_i, pos_j, neg_i, neg_j))
        hit_positive = mask[pos_i, pos_j]
        hit_negative = mask[neg_i, neg_j]
        positive[active] += hit_positive
        negative[active] += hit_negative
        active = active[hit_positive | hit_negative]
    widths = (positive + negative).astype(np.float64)
    widths[np.abs(positive - negative) > MAX_ASYMMETRY] = np.nan
    return widths


def _walk_tree(graph: PixelGraph, start: int, disc_x: float, disc_y: float, outer_radius: int):
    """PVBM's depth-first CRE walk of one tree (``Tree.iterative_CRE``).

    Segment bookkeeping as PVBM's: the root node, then a new child node at each of the
    first 9 pixels after a start or branching, and at each branching; widths go to the
    node current at that pixel. As in PVBM the start pixel is not marked visited (the walk
    may come back to it once) and the walk stops beyond the outer radius.

    Returns:
        ``parents`` (node -> parent node, -1 for the root), ``origins`` (node -> pixel it
        starts at) and ``measured``, an (M, 3) int array ``(node, pixel, pixel 6 back)``.
    """
    neighbours = graph.neighbours
    rows, cols = graph.rows.tolist(), graph.cols.tolist()
    available = bytearray(b"\x01") * graph.size
    parents, origins = [-1], [start]
    measured: list[tuple[int, int, int]] = []

    def new_node(parent: int, pixel: int) -> int:
        parents.append(parent)
        origins.append(pixel)
        return len(parents) - 1

    stack = [(start, 1, (), 0)]  # (pixel, steps in segment, previous pixels newest first, node)
    while stack:
        pixel, steps, history, node = stack.pop()
        children = [nb for nb, _ in neighbours[pixel] if available[nb]]
        if steps >= UNMEASURED_PIXELS:
            if len(history) == DIRECTION_LAG:
                measured.append((node, pixel, history[-1]))
        else:
            node = new_node(node, pixel)
        if math.sqrt((disc_y - rows[pixel]) ** 2 + (disc_x - cols[pixel]) ** 2) > outer_radius or not children:
            continue
        if len(children) > 1:
            node = new_node(node, pixel)
            steps = 0
        history = (pixel, *history[: DIRECTION_LAG - 1])
        for child in children:
            available[child] = 0
            stack.append((child, steps + 1, history, node))
    return parents, origins, np.asarray(measured, dtype=np.int64).reshape(-1, 3)


def _tree_calibre(parents, origins, measured, widths) -> float | None:
    """Definition 4 over one walked tree (PVBM's ``print_correct`` and the check after it)."""
    n_nodes = len(parents)
    valid = ~np.isnan(widths)
    nodes = measured[valid, 0] if len(measured) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(nodes, minlength=n_nodes)
    sums = np.bincount(nodes, weights=widths[valid], minlength=n_nodes)
    mean = np.divide(sums, counts, out=np.full(n_nodes, np.nan), where=counts > 0)
    children: list[list[int]] = [[] for _ in range(n_nodes)]
    for node in range(1, n_nodes):
        children[parents[node]].append(node)

    # Down each root-to-leaf path: the widest segment so far ("saved") and the first
    # measured one; a node's result is its own or its best child's, the widest winning
    # (its own on ties, then children in order, as Python's max keeps the first).
    best: dict[int, tuple[int, float, int | None]] = {}
    stack = [(0, 0, 0.0, None, False)]
    while stack:
        node, saved, widest, first, expanded = stack.pop()
        if not expanded:
            if counts[node] and mean[node] > widest:
                saved, widest = node, float(mean[node])
                first = node if first is None else first
            if not children[node]:
                best[node] = (saved, widest, first)
                continue
            stack.append((node, saved, widest, first, True))
            stack.extend((child, saved, widest, first, False) for child in children[node])
        else:
            candidates = [(saved, widest, first)] + [best[child] for child in children[node]]
            best[node] = max(candidates, key=lambda item: item[1])
    saved, _, first = best[0]
    if first is None:
        return None
    if origins[saved] != origins[first] and mean[saved] > mean[first] + OUTLIER_MARGIN:
        return None
    return float(mean[first])
