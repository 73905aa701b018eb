"""Multifractal vessel biomarkers (PVBM's fractal analysis): D0, D1, D2 and the singularity length.

Box counting over a grid of box sizes ε (PVBM: 20 sizes from 5 px to 60 % of the shorter
image side). For one size, the mask is cut into ε×ε boxes from the top-left corner (the
last row / column of boxes is partial), a box's mass M is the sum of the mask inside it,
boxes whose occupancy M / ε² lies outside [min_proba, max_proba] are dropped, and the
rest give probabilities p_i = M_i / Σ M (only p_i > 0 are kept). Then, for moment q:

- D_q, the generalised dimension: slope of the least-squares line of log(Σ p_i^q) / (1 - q)
  against -log ε (for q = 1, the limit: the entropy -Σ p_i log p_i). D0 is the capacity
  (box-counting) dimension, D1 the information dimension, D2 the correlation dimension.
- α(q), the singularity strength: slope of Σ μ_i log p_i against log ε, where
  μ_i = p_i^q / Σ p_j^q.
- singularity length: α(-n_dim) - α(n_dim) (PVBM: max - min of the two).

Everything is repeated on ``n_rotations`` copies of the mask rotated by
``np.linspace(0, 360, n_rotations)`` degrees (``skimage.transform.rotate`` with
``resize=True``, ``cval=0``), and one rotation is reported, chosen as PVBM chooses it:
the rotation with the largest D0 among those where D0 > D1 > D2, else the largest D0.

Speed: PVBM warps every pixel of every rotated copy and recomputes the box sums for every
q with Python loops over box rows; here each copy is interpolated only where it can be
non-zero (:mod:`medvit.pvbm.sparse_rotation`, same values), every box size bins the
non-zero pixels with one ``np.bincount``, all q come from the same box masses, and
rotations can run in threads.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from skimage.transform import rotate

from medvit.pvbm.sparse_rotation import SparseRotation
from medvit.errors import MedvitError

MULTIFRACTAL_KEYS = ("D0", "D1", "D2", "singularity_length")
N_BOX_SIZES = 20  # PVBM: np.linspace(5, int(0.6 * min(shape)), 20)
SMALLEST_BOX = 5
LARGEST_BOX_FRACTION = 0.6
FALLBACK_OCCUPANCY = (0.001, 1.0)  # PVBM's retry when every box of a size was filtered out
MIN_SIDE = 10  # below this every box size is 5 px and no slope can be fitted


def box_sizes(shape: tuple[int, ...]) -> np.ndarray:
    """PVBM's box sizes ε (px) for an image of this shape: 20 values from 5 to int(0.6·min side), int64."""
    return np.linspace(SMALLEST_BOX, int(LARGEST_BOX_FRACTION * min(shape)), N_BOX_SIZES).astype(np.int64)


def box_masses(image: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``image`` in each size×size box of a grid anchored at the top-left corner.

    Args:
        image: (H, W) float array (a mask, or its interpolated rotation).
        size: box side ε in pixels.

    Returns:
        (ceil(H/ε), ceil(W/ε)) float64 box masses; the last row / column of boxes is partial,
        as PVBM's ``custom_add_reduceat`` cuts them.
    """
    image = np.asarray(image, dtype=np.float64)
    size = int(size)
    grid = (-(-image.shape[0] // size), -(-image.shape[1] // size))
    rows, cols, values = _nonzero_pixels(image)
    masses = np.bincount(_box_index(rows, cols, size, grid[1]), weights=values, minlength=grid[0] * grid[1])
    return masses.reshape(grid)


def multifractal_biomarkers(
    mask: np.ndarray,
    n_rotations: int = 25,
    optimize: bool = True,
    min_proba: float = 0.0001,
    max_proba: float = 0.9999,
    n_dim: float = 10,
    interpolation_order: int = 1,
    workers: int | None = None,
) -> dict[str, float]:
    """D0, D1, D2 and singularity length of a vessel mask, as PVBM's ``MultifractalVBMs`` computes them.

    Equal (within ~1e-12) to ``MultifractalVBMs(n_dim, n_rotations, optimize, min_proba,
    max_proba).compute_multifractals(mask.astype(float))`` of pvbm 3.0.1.8; the defaults are
    the PVBM tutorial's settings. See the module docstring for the definitions.

    Rotation and interpolated weights: PVBM passes the mask it is given to
    ``skimage.transform.rotate``; the PVBM pipeline hands it a float 0/1 array, so the
    rotated copies are *bilinearly interpolated* (``interpolation_order=1``): pixels along
    the vessel borders take fractional values in (0, 1), and these values are used as
    weights in the box masses (the rotated copy is not re-binarised). Rotations by
    multiples of 90° (and 360°) also leave residues of ~1e-13 where the trigonometry is not
    exact. medvit does the same (same ``rotate`` call, same weights). Given a *bool* array,
    PVBM's ``rotate`` would use nearest-neighbour interpolation instead: pass
    ``interpolation_order=0`` to reproduce that (every copy then stays binary).

    Deviations from pvbm, all outside its working range:

    - PVBM asserts that every rotated copy has max == 1 and min == 0; an interpolated
      copy of a mask made only of one-pixel-thin structures can miss max == 1 exactly and
      PVBM then stops with an AssertionError. medvit checks the input mask has both
      values and computes every copy.
    - If no box of some size passes [min_proba, max_proba] PVBM retries with occupancy
      [0.001, 1]; medvit too, and also when the passing boxes hold no mass (only possible
      with ``min_proba <= 0``, where PVBM divides 0 by 0 and fails its own assertion).
    - α(±n_dim) is computed as Σ p^q log p / Σ p^q with the largest power factored out,
      so very small p with q = -n_dim cannot overflow (PVBM would give NaN there; the
      results agree wherever PVBM's are finite).

    Args:
        mask: (H, W) vessel mask, bool or {0, 1} of any numeric dtype, with at least one
            vessel and one background pixel; H, W ≥ 10.
        n_rotations: number of rotated copies (angles ``np.linspace(0, 360, n_rotations)``);
            used only when ``optimize``.
        optimize: choose among the rotated copies (PVBM's ``_optimize_dqs``); if False only
            the unrotated mask (angle 0) is analysed.
        min_proba, max_proba: boxes whose occupancy M / ε² lies outside this closed range
            are ignored (PVBM's ``min_proba`` / ``maxproba``).
        n_dim: the singularity length uses α at q = -n_dim and q = +n_dim.
        interpolation_order: 1 (bilinear, PVBM on a float mask) or 0 (nearest, PVBM on a
            bool mask) for the rotated copies.
        workers: threads analysing rotations in parallel (the numpy work releases the
            GIL); default :func:`default_threads`. Results do not depend on it.

    Returns:
        dict with keys ``D0``, ``D1``, ``D2`` (dimensionless) and ``singularity_length``
        (dimensionless), as Python floats.
    """
    image = _as_binary_image(mask)
    n_rotations = _check_settings(n_rotations, min_proba, max_proba, n_dim, interpolation_order)
    angles = np.linspace(0, 360, n_rotations if optimize else 1)
    occupancy = (float(min_proba), float(max_proba))
    # order 0 on the bool mask is exactly PVBM's path for bool input (nearest neighbour, values stay 0/1)
    source = image.astype(bool) if interpolation_order == 0 else image
    rotation = SparseRotation(image) if interpolation_order == 1 else None

    def analyse(angle: float) -> np.ndarray:
        return _rotation_statistics(source, rotation, float(angle), interpolation_order, occupancy, float(n_dim))

    if workers is None:
        workers = default_threads()
    workers = max(1, min(int(workers), len(angles)))
    if workers == 1:
        stats = [analyse(angle) for angle in angles]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            stats = list(pool.map(analyse, angles))
    stats = np.array(stats)  # (rotations, 5): D0, D1, D2, α(-n_dim), α(+n_dim)
    best = _best_rotation(stats[:, :3]) if optimize else 0
    d0, d1, d2, alpha_low_q, alpha_high_q = stats[best]
    singularity_length = max(alpha_low_q, alpha_high_q) - min(alpha_low_q, alpha_high_q)
    return {"D0": float(d0), "D1": float(d1), "D2": float(d2), "singularity_length": float(singularity_length)}


def default_threads() -> int:
    """Threads for the rotations: ``OMP_NUM_THREADS`` when set (a cohort worker is pinned to
    1, and more threads would oversubscribe the cores), else min(4, CPU count)."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return min(4, os.cpu_count() or 1)


def _as_binary_image(mask: np.ndarray) -> np.ndarray:
    """The mask as float64 0/1, or MedvitError for anything PVBM's input assertions would reject."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise MedvitError(f"vessel mask must be a 2D (H, W) array, got shape {array.shape}")
    if array.dtype != bool and not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise MedvitError(f"vessel mask must be bool or numeric 0/1, got dtype {array.dtype}")
    if min(array.shape) < MIN_SIDE:
        raise MedvitError(
            f"vessel mask {array.shape} is too small for box counting: both sides must be ≥ {MIN_SIDE} px "
            f"(box sizes run from {SMALLEST_BOX} px to {LARGEST_BOX_FRACTION:.0%} of the shorter side)"
        )
    if array.dtype != bool and not np.all((array == 0) | (array == 1)):
        raise MedvitError("vessel mask must hold only 0 and 1 (or False / True)")
    image = array.astype(np.float64)
    if not image.any():
        raise MedvitError("vessel mask is empty: no vessel pixel to analyse")
    if image.all():
        raise MedvitError("vessel mask has no background pixel: box counting needs both vessel and background")
    return image


def _check_settings(n_rotations, min_proba, max_proba, n_dim, interpolation_order) -> int:
    if isinstance(n_rotations, bool) or int(n_rotations) != n_rotations or n_rotations < 1:
        raise MedvitError(f"n_rotations must be a positive integer, got {n_rotations!r}")
    if not (np.isfinite(min_proba) and np.isfinite(max_proba) and 0 <= min_proba <= max_proba):
        raise MedvitError(f"need 0 ≤ min_proba ≤ max_proba, got min_proba={min_proba}, max_proba={max_proba}")
    if not (np.isfinite(n_dim) and n_dim > 0):
        raise MedvitError(f"n_dim must be a positive number, got {n_dim}")
    if interpolation_order not in (0, 1):
        raise MedvitError(f"interpolation_order must be 0 (nearest) or 1 (bilinear), got {interpolation_order!r}")
    return int(n_rotations)


def _rotation_statistics(image, rotation, angle, order, occupancy, n_dim) -> np.ndarray:
    """[D0, D1, D2, α(-n_dim), α(+n_dim)] of one rotated copy."""
    if order == 1:
        rows, cols, values, shape = rotation(angle)
    else:
        rotated = np.asarray(rotate(image, angle, resize=True, cval=0, mode="constant", order=order), dtype=np.float64)
        rows, cols, values = _nonzero_pixels(rotated)
        shape = rotated.shape
    sizes = box_sizes(shape)
    masses = occupied_box_masses(rows, cols, values, shape, sizes)
    per_size = np.array(
        [_moment_sums(m, int(k), occupancy, n_dim) for m, k in zip(masses, sizes)]
    )  # (sizes, 5): log N, entropy, -log Σp², Σμ log p at -n_dim and +n_dim
    slopes = _slopes(np.log(sizes), per_size)
    # D_q is fitted against -log ε, α(q) against +log ε
    return np.concatenate([-slopes[:3], slopes[3:]])


def _nonzero_pixels(image: np.ndarray):
    """Row, column (int32 when they fit, for speed) and value of every non-zero pixel, in raster order."""
    flat = np.flatnonzero(image)
    values = image.ravel()[flat]
    if image.size < 2**31:
        flat = flat.astype(np.int32)
    rows, cols = np.divmod(flat, flat.dtype.type(image.shape[1]))
    return rows, cols, values


def _box_index(rows, cols, size: int, boxes_across: int):
    size = rows.dtype.type(size)
    return (rows // size) * rows.dtype.type(boxes_across) + cols // size


def occupied_box_masses(rows, cols, values, shape: tuple[int, int], sizes) -> list[np.ndarray]:
    """For each box size, the masses of the boxes holding any non-zero pixel (flat).

    Args:
        rows, cols, values: the non-zero pixels of an (H, W) image (int, int, float ≥ 0).
        shape: (H, W).
        sizes: box sides ε in pixels.

    Each box's mass is accumulated from zero over its own pixels only (no running sum
    across the image), so boxes holding nothing but ~1e-13 interpolation residue keep
    their mass to full relative precision, as in PVBM's block sums. Empty boxes are left
    out: they never count (PVBM drops p = 0 before every sum).

    Speed: binning every pixel once per size costs 20 passes over the pixels. Boxes of the
    sizes with few boxes are instead summed from the cells of a grid whose lines are the
    box edges of all those sizes together (~100² cells): one pass over the pixels, then
    sums over small arrays. Only the smallest sizes (many boxes) are binned directly.
    """
    sizes = [int(k) for k in sizes]
    large = [k for k in sizes if k >= CELL_GRID_MIN_SIZE]
    result = {k: _binned_masses(rows, cols, values, k, shape[1]) for k in sizes if k < CELL_GRID_MIN_SIZE}
    if large:
        row_edges, col_edges = (_cell_edges(n, large) for n in shape)
        row_cell = np.searchsorted(row_edges, np.arange(shape[0]), side="right") - 1
        col_cell = np.searchsorted(col_edges, np.arange(shape[1]), side="right") - 1
        cells = np.bincount(row_cell[rows] * len(col_edges) + col_cell[cols], weights=values,
                            minlength=len(row_edges) * len(col_edges)).reshape(len(row_edges), len(col_edges))
        for k in large:
            # every box edge is a cell edge: a box's mass is the sum of its cells
            boxes = np.add.reduceat(cells, np.searchsorted(row_edges, np.arange(0, shape[0], k)), axis=0)
            boxes = np.add.reduceat(boxes, np.searchsorted(col_edges, np.arange(0, shape[1], k)), axis=1)
            result[k] = boxes[boxes > 0]
    return [result[k] for k in sizes]


# Box sizes from this on are summed from grid cells (smaller ones would make the grid fine)
CELL_GRID_MIN_SIZE = 20


def _cell_edges(length: int, sizes) -> np.ndarray:
    """Sorted start positions of the cells along an axis: every multiple of every size."""
    return np.unique(np.concatenate([np.arange(0, length, k) for k in sizes]))


def _binned_masses(rows, cols, values, size: int, width: int) -> np.ndarray:
    """Masses of the non-empty size×size boxes, by binning every pixel."""
    masses = np.bincount(_box_index(rows, cols, size, -(-width // size)), weights=values)
    return masses[masses > 0]


def _moment_sums(masses: np.ndarray, size: int, occupancy, n_dim: float) -> np.ndarray:
    """The quantities PVBM regresses on log ε, for one box size.

    Returns [log N, -Σ p log p, -log Σ p², Σ μ log p (q = -n_dim), Σ μ log p (q = +n_dim)].
    """
    p = _box_probabilities(masses, size, occupancy)
    if p is None:
        p = _box_probabilities(masses, size, FALLBACK_OCCUPANCY)
    if p is None:
        raise MedvitError(
            f"no {size}×{size} box holds at least {FALLBACK_OCCUPANCY[0]:.1%} vessel: "
            "the mask is too sparse for box counting at this scale"
        )
    log_p = np.log(p)
    return np.array(
        [
            math.log(p.size),
            -np.sum(p * log_p),
            -math.log(np.sum(p**2)),
            _mean_log_p(log_p, -n_dim),
            _mean_log_p(log_p, n_dim),
        ]
    )


def _box_probabilities(masses: np.ndarray, size: int, occupancy) -> np.ndarray | None:
    """p_i of the boxes whose occupancy lies in ``occupancy``, positive ones only; None if no mass."""
    occupation = masses / size**2
    kept = masses[(occupation >= occupancy[0]) & (occupation <= occupancy[1])]
    total = np.sum(kept)
    if not total > 0:
        return None
    p = kept / total
    return p[p > 0]


def _mean_log_p(log_p: np.ndarray, q: float) -> float:
    """Σ μ log p with μ = p^q / Σ p^q, the largest power factored out so p^q cannot overflow."""
    exponent = q * log_p
    weights = np.exp(exponent - exponent.max())
    return float(np.sum(weights * log_p) / np.sum(weights))


def _slopes(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of ``ys`` (n, m) against ``x`` (n,), as scipy's linregress."""
    dx = x - x.mean()
    dy = ys - ys.mean(axis=0)
    return (dx @ dy) / (dx @ dx)


def _best_rotation(dqs: np.ndarray) -> int:
    """PVBM's ``_optimize_dqs``: largest D0 among rotations with D0 > D1 > D2, else largest D0."""
    ordered = (dqs[:, 0] - dqs[:, 1] > 0) & (dqs[:, 1] - dqs[:, 2] > 0)
    if ordered.any():
        candidates = np.flatnonzero(ordered)
        return int(candidates[np.argmax(dqs[candidates, 0])])
    return int(np.argmax(dqs[:, 0]))
