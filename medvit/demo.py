"""``medvit demo``: run each part end to end on the sample data, offline, and say what it did.

Each bundle adds one step to :data:`STEPS` when it lands. A step takes the output folder
and returns a short report (lines printed to the user).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError


def step_read_samples(out: Path) -> list[str]:
    """Read the real sample files medvit is tested on and save what it read."""
    from medvit.data import fundus_photo, mni152, pydicom_sample
    from medvit.io import atomic_write_text, describe

    samples = {
        "ct_series": pydicom_sample("ct_volume"),
        "cr_monochrome1": pydicom_sample("cr_monochrome1"),
        "fundus_photo": fundus_photo(),
        "mni152_t1": mni152("t1"),
    }
    infos = {name: describe(path) for name, path in samples.items()}
    atomic_write_text(out / "samples.json", json.dumps(infos, indent=2))
    lines = [
        f"{name}: {info['kind']} {info['shape']} spacing {info['spacing']} {info['spacing_unit']}"
        for name, info in infos.items()
    ]
    return lines + [f"wrote {out / 'samples.json'}"]


def step_synthetic_brats(out: Path) -> list[str]:
    """Write a synthetic BraTS-like case (four contrasts + labels) on MNI152 anatomy."""
    from medvit.data import write_brats_case
    from medvit.io import read_image

    paths = write_brats_case(out, case_id="synthetic_000", seed=0, spacing=2.0)
    labels, meta = read_image(paths["seg"])
    voxel_ml = float(np.prod(np.sqrt((meta["affine"][:3, :3] ** 2).sum(0)))) / 1000.0
    volumes = {name: float(np.isin(labels, codes).sum()) * voxel_ml for name, codes in
               (("TC", (1, 4)), ("WT", (1, 2, 4)), ("ET", (4,)))}
    summary = ", ".join(f"{k} {v:.1f} mL" for k, v in volumes.items())
    return [f"case synthetic_000 at 2 mm: {summary}", f"wrote {paths['seg'].parent}"]


def step_pvbm_biomarkers(out: Path) -> list[str]:
    """Run the PVBM bundle's inference.json on the real fundus photo: biomarkers CSV + overlay."""
    import csv
    import shutil

    from monai.bundle import run

    from medvit.bundle.registry import bundles_root
    from medvit.data import fundus_photo

    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    shutil.copy(fundus_photo(), photos / "retina.jpg")
    bundle = bundles_root() / "pvbm_vessel_biomarkers"
    with warnings.catch_warnings():
        # MONAI's notice that configs may run code: this one ships with medvit
        warnings.filterwarnings("ignore", message="parsing config_file", category=UserWarning)
        logging.disable(logging.INFO)  # the run's input summary; this step prints its own
        try:
            run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
                dataset_dir=str(photos), output_dir=str(out), write_overlays=True, progress=False)
        finally:
            logging.disable(logging.NOTSET)
    with open(out / "biomarkers.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    if row["status"] != "ok":
        raise MedvitError(f"the sample photo failed: {row['error']}")
    keys = ("disc_radius", "area", "length", "median_tortuosity", "start_points", "D0", "D1", "D2")
    values = ", ".join(f"{k} {float(row[k]):.4g}" for k in keys)
    return [f"retina.jpg: {values}", f"wrote {out / 'biomarkers.csv'} and {out / 'overlays' / 'retina_overlay.png'}"]


STEPS: dict[str, Callable[[Path], list[str]]] = {
    "read-samples": step_read_samples,
    "synthetic-brats": step_synthetic_brats,
    "pvbm-biomarkers": step_pvbm_biomarkers,
}


def run_demo(out_dir: str | Path, only: list[str] | None = None) -> None:
    """Run the demo steps (all, or those named in ``only``) into ``out_dir``."""
    unknown = sorted(set(only or ()) - set(STEPS))
    if unknown:
        raise MedvitError(f"unknown demo step(s) {unknown}; steps: {', '.join(STEPS)}")
    out = Path(out_dir)
    for name, step in STEPS.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        print(f"== {name}: {(step.__doc__ or '').strip().splitlines()[0]}", flush=True)
        for line in step(out / name):
            print(f"   {line}", flush=True)
        print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
