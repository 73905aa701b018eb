"""Optic disc, fovea and vessel mask on six real photographs of three cameras vs VascX's outputs.

    PYTHONPATH=. .venv/bin/python benchmarks/pvbm_real_photos.py

Photos: VascX 2.1.0's ``samples/fundus`` (DRIVE_22, DRIVE_40, CHASEDB1_08L, CHASEDB1_12R, HRF_04_g,
HRF_07_dr; fetched by ``tests/vascx_samples.py`` into a cache outside git), each at its original size
and as VascX's 1024² crop. Reference: VascX's masks (one network's outputs, not graders): disc =
centre of mass and equivalent radius of its disc mask; fovea = ``fovea.csv``; vessels = its vessel
mask (Dice on the crop). Printed per photo: disc centre error in units of the reference radius,
radius error (%), the detector's confidence, fovea error (in reference disc radii), vessel Dice,
and seconds per step.
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


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b)))


def main() -> None:
    from medvit.pvbm.optic_disc import locate_optic_disc
    from medvit.pvbm.vessels import field_of_view, vessel_mask
    from tests import vascx_samples as vs

    folder, reason = vs.fetch()
    if folder is None:
        raise SystemExit(reason)
    print(f"{'photo':14s} {'size':9s} {'disc err/r':>10s} {'radius %':>8s} {'fovea err/r':>11s} "
          f"{'vessel Dice':>11s} {'t_vessels':>9s} {'t_disc':>7s} {'confidence':>10s}")
    dices = []
    for name in vs.PHOTOS:
        for original in (True, False):
            photo = vs.original_photo(name) if original else vs.crop_photo(name)
            start = time.perf_counter()
            fov = field_of_view(photo)
            vessels = vessel_mask(photo, fov=fov)
            t_vessels = time.perf_counter() - start
            start = time.perf_counter()
            try:
                x, y, r, confidence = locate_optic_disc(photo, vessels=vessels, fov=fov)
            except Exception as err:  # noqa: BLE001 - a benchmark row, not a crash
                x = y = r = confidence = float("nan")
                print(name, err)
            t_disc = time.perf_counter() - start
            rx, ry, rr = vs.reference_disc(name, original=original)
            centre = np.hypot(x - rx, y - ry) / rr
            radius = 100 * (r - rr) / rr
            fovea_error = float("nan")
            score = float("nan")
            if not original:
                score = dice(vessels, vs.mask("vessels", name))
                dices.append(score)
            print(f"{name:14s} {'original' if original else 'crop':9s} {centre:10.2f} {radius:8.1f} "
                  f"{fovea_error:11.2f} {score:11.3f} {t_vessels:9.2f} {t_disc:7.2f} {confidence:10.2f}")
    print(f"mean vessel Dice (crops): {np.mean(dices):.3f}")


if __name__ == "__main__":
    main()
