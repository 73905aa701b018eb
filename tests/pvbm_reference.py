"""Run the reference implementation (pvbm 3.0.1.8) on the same inputs as medvit.

pvbm is not a dependency: tests that use this module skip when it is not installed
(``make test`` installs it with ``--no-deps``; its analysis modules need nothing more).
pvbm's connected-component search recurses once per skeleton pixel, so it runs in a
thread with a large stack and a raised recursion limit — the failure medvit avoids.
"""

import sys
import threading

import numpy as np
from scipy.signal import convolve2d
from skimage.morphology import skeletonize

GEOMETRY_ORDER = ("area", "tortuosity_index", "median_tortuosity", "length", "median_branching_angle",
                  "start_points", "end_points", "intersection_points")


def _in_big_stack(fn, *args):
    result, error = {}, {}

    def target():
        try:
            result["value"] = fn(*args)
        except BaseException as err:  # re-raised in the caller
            error["value"] = err

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    size = threading.stack_size(512 * 1024 * 1024)
    try:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    if error:
        raise error["value"]
    return result["value"]


def pvbm_geometry(mask: np.ndarray, skeleton: np.ndarray, disc_x, disc_y, disc_radius) -> dict:
    from PVBM.GeometryAnalysis import GeometricalVBMs

    values, _ = _in_big_stack(
        GeometricalVBMs().compute_geomVBMs, mask.astype(float), skeleton.astype(float), disc_x, disc_y, disc_radius
    )
    return dict(zip(GEOMETRY_ORDER, (float(v) for v in values)))


def pvbm_perimeter(mask: np.ndarray) -> float:
    """PVBM 2.x's perimeter (``GeometricalAnalysis.compute_perimeter``), without its deprecation warning."""
    from PVBM.helpers.perimeter import compute_perimeter_

    border = convolve2d(mask.astype(float), np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]), mode="same") > 0
    return float(compute_perimeter_(skeletonize(np.ascontiguousarray(border)).astype(float))[0])


def pvbm_multifractal(mask: np.ndarray, n_rotations=25, optimize=True, min_proba=0.0001, max_proba=0.9999) -> dict:
    """pvbm's D0, D1, D2 and singularity length of a mask (given as float, as its pipeline does)."""
    from PVBM.FractalAnalysis import MultifractalVBMs

    analysis = MultifractalVBMs(n_rotations=n_rotations, optimize=optimize, min_proba=min_proba, maxproba=max_proba)
    values = analysis.compute_multifractals(mask.astype(float))
    return dict(zip(("D0", "D1", "D2", "singularity_length"), (float(v) for v in values)))


def pvbm_tree_calibres(mask: np.ndarray, skeleton: np.ndarray, disc_x, disc_y, disc_radius) -> tuple[list, float]:
    """pvbm's per-tree mean widths (px) in zone B and its Knudtson CRAE, from a mask and
    skeleton already cut to zone B (as its ``apply_roi`` does). Its diagnostics are silenced."""
    import contextlib
    import io

    from PVBM.CentralRetinalAnalysis import CREVBMs

    with contextlib.redirect_stdout(io.StringIO()):
        result, trees = _in_big_stack(
            CREVBMs().compute_central_retinal_equivalents,
            mask.astype(float), skeleton.astype(float), disc_x, disc_y, disc_radius, True, False,
        )
    return [float(t["Mean diameter"]) for t in trees or []], float(result["craek"])
