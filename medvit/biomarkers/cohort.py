"""``medvit biomarkers`` and the bundle's inference: a folder of fundus photos → one CSV.

The CLI and ``bundles/pvbm_vessel_biomarkers/configs/inference.json`` both call
:func:`run_biomarker_cohort`, so a bundle run and a command-line run are the same code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from medvit.biomarkers.masks import find_mask, read_vessel_masks
from medvit.biomarkers.pipeline import biomarker_columns, measure_fundus
from medvit.errors import MedvitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
BUNDLE_NAME = "pvbm_vessel_biomarkers"


def list_fundus_images(folder: str | os.PathLike, exclude: tuple[str | os.PathLike | None, ...] = ()) -> list[Path]:
    """Photos under ``folder`` (recursively, by suffix), sorted; files under ``exclude`` folders skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MedvitError(f"{folder}: not a folder of fundus photographs")
    skip = [Path(e).resolve() for e in exclude if e]
    images = [
        p for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        and not any(s in p.resolve().parents for s in skip)
    ]
    if not images:
        raise MedvitError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return images


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _masks_are_av(masks_dir: str | None, images: list[Path]) -> bool:
    """Whether the user's masks label arteries and veins, judged on the first mask that reads."""
    if not masks_dir:
        return False
    from medvit.biomarkers.pipeline import read_photo_rc

    for image in images:
        try:
            return read_vessel_masks(find_mask(masks_dir, image), read_photo_rc(image).shape[:2]).has_av
        except MedvitError:
            continue  # that image's row will say what is wrong
    return False


def run_biomarker_cohort(
    dataset_dir: str | os.PathLike,
    out_csv: str | os.PathLike,
    *,
    masks_dir: str | None = None,
    disc_csv: str | None = None,
    segmentation: str = "classical",
    checkpoint: str | None = None,
    network: dict | None = None,
    definitions: str = "pvbm",
    roi_radius: float | None = None,
    pixel_size_um: float | None = None,
    fov_mm: float | None = None,
    fractal: dict | None = None,
    overlay_dir: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    anonymise: bool | str = False,
    resume: bool = True,
    progress: bool = True,
):
    """Measure every photo under ``dataset_dir`` into ``out_csv`` (see :func:`measure_fundus`).

    A bad image never stops the run: its row has ``status`` "error" and the reason. A re-run
    skips images done with the same settings. Returns the table as a pandas DataFrame.
    """
    from medvit.batch import run_cohort

    images = list_fundus_images(dataset_dir, exclude=(masks_dir, overlay_dir, Path(out_csv).parent / "overlays"))
    if segmentation == "network" and not checkpoint:
        raise MedvitError("network segmentation needs a checkpoint (--checkpoint / ckpt_path)")
    if checkpoint and not Path(checkpoint).is_file():
        raise MedvitError(f"{checkpoint}: no such checkpoint file")
    if masks_dir and not Path(masks_dir).is_dir():
        raise MedvitError(f"{masks_dir}: no such masks folder")
    if disc_csv:
        from medvit.biomarkers.optic_disc import read_disc_overrides

        read_disc_overrides(disc_csv)  # a broken table is one error now, not one per image
    settings = {
        "masks_dir": os.fspath(masks_dir) if masks_dir else None,
        "disc_csv": os.fspath(disc_csv) if disc_csv else None,
        "segmentation": segmentation,
        "checkpoint": os.fspath(checkpoint) if checkpoint else None,
        "network": dict(network or {}) if segmentation == "network" else None,
        "definitions": definitions,
        "roi_radius": roi_radius,
        "pixel_size_um": pixel_size_um,
        "fov_mm": fov_mm,
        "fractal": fractal or {},
        "overlay_dir": os.fspath(overlay_dir) if overlay_dir else None,
        "root": os.fspath(dataset_dir) if overlay_dir else None,
    }
    provenance = {"bundle": BUNDLE_NAME, "bundle_version": _bundle_version()}
    if checkpoint and segmentation == "network":
        provenance["checkpoint_sha256"] = file_sha256(checkpoint)
    columns = biomarker_columns(av=_masks_are_av(masks_dir, images), physical=bool(pixel_size_um or fov_mm))
    return run_cohort(
        images, measure_fundus, out_csv, settings, columns=columns, workers=workers, scheduler=scheduler,
        case_id="relative", root=dataset_dir, anonymise=anonymise, resume=resume, progress=progress,
        provenance=provenance,
    )


def _bundle_version() -> str | None:
    import json

    from medvit.bundle.registry import bundles_root

    try:
        meta = json.loads((bundles_root() / BUNDLE_NAME / "configs" / "metadata.json").read_text())
    except (MedvitError, OSError, ValueError):
        return None
    return meta.get("version")
