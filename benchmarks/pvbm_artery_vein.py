"""Artery / vein classification on six real photographs vs VascX's A/V masks, and under mirroring.

    PYTHONPATH=. .venv/bin/python benchmarks/pvbm_artery_vein.py [--single-pass]

Photos: VascX 2.1.0's six 1024² crops (``tests/vascx_samples.py`` fetches them into a cache outside
git) and skimage's 1411² retina. Each photo's classical vessel mask and detected disc are made
once; then :func:`medvit.pvbm.artery_vein.classify_arteries_veins` labels the photo and its three
mirror images (the mask, disc and field of view mirrored with it). Printed per photo: per-pixel
accuracy against VascX's A/V masks (pixels both call vessel; crossings not scored), the artery
share, the flip agreement (least share of vessel pixels labelled alike after mirroring back), the
AVR (Knudtson CRAE / CRVE, zone B, on the unmirrored geometry) of the four labellings, and the AVR
of VascX's A/V masks through the same code and disc; then the classification time on the retina
(one thread, min of 3), with and without the flip ensemble.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

MIRRORS = {"none": (False, False), "left-right": (False, True), "up-down": (True, False), "both": (True, True)}


def avr(arteries: np.ndarray, veins: np.ndarray, disc) -> float:
    from medvit.pvbm.central_retinal import central_retinal_equivalents
    from medvit.pvbm.pipeline import arteriovenous_ratio

    cre = central_retinal_equivalents(arteries, veins, *disc)
    return arteriovenous_ratio(cre["crae_knudtson"], cre["crve_knudtson"])


def photos():
    """(name, photo (H, W, 3) in [0, 1], VascX's A/V label map or None)."""
    from skimage import data

    from tests import vascx_samples as vs

    folder, reason = vs.fetch()
    if folder is None:
        print(f"VascX photos unavailable ({reason}): skimage's retina only")
    for name in vs.PHOTOS if folder is not None else ():
        yield name, vs.crop_photo(name) / 255.0, vs.mask("av", name)
    yield "skimage retina", data.retina() / 255.0, None


def main() -> None:
    from medvit.pvbm.artery_vein import (
        av_accuracy,
        classify_arteries_veins,
        mirror,
        mirror_disc,
    )
    from medvit.pvbm.optic_disc import locate_optic_disc
    from medvit.pvbm.vessels import field_of_view, vessel_mask

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-pass", action="store_true", help="classify without the flip ensemble")
    ensemble = not parser.parse_args().single_pass
    print(f"flip ensemble: {ensemble}")
    print("| photo | accuracy | artery share | flip agreement | AVR (4 mirror images) | AVR (VascX's A/V masks) |")
    print("|---|---|---|---|---|---|")
    accuracies, agreements, avr_gaps = [], [], []
    for name, photo, reference in photos():
        fov = field_of_view(photo)
        vessels = vessel_mask(photo, fov=fov)
        disc = tuple(locate_optic_disc(photo, vessels=vessels, fov=fov))[:3]
        labels = {}
        for view, flips in MIRRORS.items():
            result = classify_arteries_veins(mirror(photo, *flips), mirror(vessels, *flips),
                                             mirror_disc(disc, vessels.shape, *flips), mirror(fov, *flips),
                                             flip_ensemble=ensemble)
            labels[view] = (mirror(result.arteries, *flips), mirror(result.veins, *flips))
        arteries, veins = labels["none"]
        agreement = min(float((a == arteries)[vessels].mean()) for a, _ in labels.values())
        ratios = [avr(a, v, disc) for a, v in labels.values()]
        share = arteries.sum() / max(1, arteries.sum() + veins.sum())
        agreements.append(agreement)
        if reference is not None:
            accuracies.append(av_accuracy(arteries, veins, reference))
            reference_avr = avr(reference == 1, reference == 2, disc)
            avr_gaps.append(abs(ratios[0] - reference_avr))
            scored = f"{accuracies[-1]:.3f}", f"{reference_avr:.2f}"
        else:
            scored = "—", "—"
        print(f"| {name} | {scored[0]} | {share:.2f} | {agreement:.3f} | {' '.join(f'{r:.2f}' for r in ratios)} "
              f"| {scored[1]} |")
    if accuracies:
        print(f"mean accuracy {np.mean(accuracies):.3f} (worst {min(accuracies):.3f}); AVR vs VascX's masks: "
              f"|difference| {min(avr_gaps):.2f}-{max(avr_gaps):.2f}, mean {np.mean(avr_gaps):.2f}")
    print(f"worst flip agreement {min(agreements):.3f}")

    name, photo, _ = list(photos())[-1]
    fov = field_of_view(photo)
    vessels = vessel_mask(photo, fov=fov)
    disc = tuple(locate_optic_disc(photo, vessels=vessels, fov=fov))[:3]
    for flip_ensemble in (True, False):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            classify_arteries_veins(photo, vessels, disc, fov, flip_ensemble=flip_ensemble)
            times.append(time.perf_counter() - start)
        print(f"{name} {photo.shape[1]}x{photo.shape[0]}: classification {min(times):.2f} s "
              f"(flip_ensemble={flip_ensemble}, min of 3, one thread)")


if __name__ == "__main__":
    main()
