"""Optic disc, fovea and vessel mask on six real photographs of three cameras vs VascX's outputs.

    PYTHONPATH=. .venv/bin/python benchmarks/pvbm_real_photos.py

Photos: VascX 2.1.0's ``samples/fundus`` (DRIVE_22, DRIVE_40, CHASEDB1_08L, CHASEDB1_12R, HRF_04_g,
HRF_07_dr; fetched by ``tests/vascx_samples.py`` into a cache outside git), each at its original size
and as VascX's 1024² crop. Reference: VascX's outputs (one network's, not graders): disc = centre of
mass and equivalent radius of its disc mask; fovea = ``fovea.csv``; vessels = its vessel mask (Dice in
the crop's frame: a mask of the original photo is resampled there). Printed per photo and size: the
detected disc's centre error in reference radii, radius error (%), confidence; the fovea's error
(in reference disc radii; found from the detected disc); vessel Dice; seconds for the FOV + vessel
mask, the disc and the fovea (one thread).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b)))


def to_crop(name: str, mask: np.ndarray) -> np.ndarray:
    """A mask of the original photo resampled into VascX's 1024² crop frame."""
    from tests import vascx_samples as vs

    cx, cy, radius = vs.crop_geometry(name)
    scale = 2 * radius / vs.CROP_SIDE
    rows, cols = np.mgrid[: vs.CROP_SIDE, : vs.CROP_SIDE]
    coords = [cy + (rows - vs.CROP_SIDE / 2) * scale, cx + (cols - vs.CROP_SIDE / 2) * scale]
    return ndi.map_coordinates(mask.astype(np.float32), coords, order=1, cval=0) >= 0.5


def main() -> None:
    from medvit.pvbm.fovea import locate_fovea
    from medvit.pvbm.optic_disc import locate_optic_disc
    from medvit.pvbm.vessels import field_of_view, vessel_mask
    from tests import vascx_samples as vs

    folder, reason = vs.fetch()
    if folder is None:
        raise SystemExit(reason)
    print("| photo | size | disc centre error / r | radius error | confidence | fovea error / r | vessel Dice "
          "| t vessels (s) | t disc (s) | t fovea (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results: dict[str, list] = {"original": [], "crop": []}
    for name in vs.PHOTOS:
        for size in ("original", "crop"):
            original = size == "original"
            photo = vs.original_photo(name) if original else vs.crop_photo(name)
            start = time.perf_counter()
            fov = field_of_view(photo)
            vessels = vessel_mask(photo, fov=fov)
            t_vessels = time.perf_counter() - start
            start = time.perf_counter()
            disc = locate_optic_disc(photo, vessels=vessels, fov=fov)
            t_disc = time.perf_counter() - start
            start = time.perf_counter()
            fovea = locate_fovea(photo, disc[:3], fov=fov, vessels=vessels)
            t_fovea = time.perf_counter() - start
            rx, ry, rr = vs.reference_disc(name, original=original)
            fx, fy = vs.reference_fovea(name, original=original)
            centre = np.hypot(disc.x - rx, disc.y - ry) / rr
            radius = 100 * (disc.radius - rr) / rr
            fovea_error = np.hypot(fovea.x - fx, fovea.y - fy) / rr
            score = dice(to_crop(name, vessels) if original else vessels, vs.mask("vessels", name))
            results[size].append((centre, abs(radius), score))
            print(f"| {name} | {size} | {centre:.2f} | {radius:+.1f} % | {disc.confidence:.2f} | {fovea_error:.2f} "
                  f"| {score:.3f} | {t_vessels:.2f} | {t_disc:.2f} | {t_fovea:.2f} |")
    for size, rows in results.items():
        values = np.array(rows)
        print(f"{size}: worst centre error {values[:, 0].max():.2f} r, worst radius error {values[:, 1].max():.1f} %, "
              f"mean vessel Dice {values[:, 2].mean():.3f}")


if __name__ == "__main__":
    main()
