"""``medvit biomarkers`` and the bundle's inference: a folder of fundus photos → one CSV.

The CLI and ``bundles/pvbm_vessel_biomarkers/configs/inference.json`` both call
:func:`run_biomarker_cohort`, so a bundle run and a command-line run are the same code.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from medvit.batch.ids import file_sha256
from medvit.pvbm.masks import find_mask, read_vessel_masks
from medvit.pvbm.pipeline import biomarker_columns, measure_fundus
from medvit.errors import MedvitError
from medvit.io.files import list_image_files

BUNDLE_NAME = "pvbm_vessel_biomarkers"


def list_fundus_images(folder: str | os.PathLike, exclude: tuple[str | os.PathLike | None, ...] = ()) -> list[Path]:
    """Photos under ``folder`` (recursively), sorted; files under ``exclude`` folders skipped."""
    return list_image_files(folder, exclude, what="fundus photographs")


def _masks_are_av(masks_dir: str | None, images: list[Path]) -> bool:
    """Whether the user's masks label arteries and veins, judged on the first mask that reads."""
    if not masks_dir:
        return False
    from medvit.pvbm.pipeline import read_photo_rc

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
    workers: int = 1,
    scheduler: str | None = None,
    anonymise: bool | str = False,
    resume: bool = True,
    progress: bool = True,
    **options,
):
    """Measure every photo under ``dataset_dir`` into ``out_csv``.

    Args:
        dataset_dir: folder of fundus photographs (searched recursively).
        out_csv: the cohort table; see :func:`medvit.batch.run_cohort` for the files beside it.
        workers, scheduler, anonymise, resume, progress: as :func:`medvit.batch.run_cohort`.
        **options: the keyword arguments of :func:`medvit.pvbm.pipeline.measure_fundus`
            (``masks_dir``, ``disc_csv``, ``segmentation``, ``checkpoint``, ``network``,
            ``definitions``, ``roi_radius``, ``pixel_size_um``, ``fov_mm``, ``fractal``,
            ``overlay_dir``), applied to every image.

    A bad image never stops the run: its row has ``status`` "error" and the reason. A re-run
    skips images done with the same settings. Returns the table as a pandas DataFrame.

    Raises:
        MedvitError: unknown options, or inputs every image would fail on (no such masks
            folder or checkpoint, a broken disc table).
    """
    from medvit.batch import run_cohort

    settings = _settings(dataset_dir, options)
    images = list_fundus_images(
        dataset_dir, exclude=(settings["masks_dir"], settings["overlay_dir"], Path(out_csv).parent / "overlays")
    )
    provenance = {"bundle": BUNDLE_NAME, "bundle_version": _bundle_version()}
    if settings["segmentation"] == "network":
        provenance["checkpoint_sha256"] = file_sha256(settings["checkpoint"])
    physical = bool(settings["pixel_size_um"] or settings["fov_mm"])
    columns = biomarker_columns(av=_masks_are_av(settings["masks_dir"], images), physical=physical)
    return run_cohort(
        images, measure_fundus, out_csv, settings, columns=columns, workers=workers, scheduler=scheduler,
        case_id="relative", root=dataset_dir, anonymise=anonymise, resume=resume, progress=progress,
        provenance=provenance,
    )


def _settings(dataset_dir, options: dict) -> dict:
    """``measure_fundus``'s keyword arguments, complete, JSON-ready and checked once for the cohort."""
    parameters = inspect.signature(measure_fundus).parameters
    unknown = sorted(set(options) - set(parameters) | ({"root"} & set(options)))
    if unknown:
        raise MedvitError(f"unknown biomarker option(s) {unknown}")
    settings = {name: p.default for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    settings.update(options)
    for key in ("masks_dir", "disc_csv", "checkpoint", "overlay_dir"):
        settings[key] = os.fspath(settings[key]) if settings[key] else None
    settings["root"] = os.fspath(dataset_dir) if settings["overlay_dir"] else None
    settings["fractal"] = dict(settings["fractal"] or {})
    if settings["segmentation"] == "network":
        if not settings["checkpoint"] or not Path(settings["checkpoint"]).is_file():
            raise MedvitError(f"network segmentation needs an existing checkpoint file, got {settings['checkpoint']!r}")
        settings["network"] = dict(settings["network"] or {})
    else:
        settings["checkpoint"] = settings["network"] = None  # unused: not part of the fingerprint
    if settings["masks_dir"] and not Path(settings["masks_dir"]).is_dir():
        raise MedvitError(f"{settings['masks_dir']}: no such masks folder")
    if settings["disc_csv"]:
        from medvit.pvbm.optic_disc import read_disc_overrides

        read_disc_overrides(settings["disc_csv"])  # a broken table is one error now, not one per image
    return settings


def _bundle_version() -> str | None:
    import json

    from medvit.bundle.registry import bundles_root

    try:
        meta = json.loads((bundles_root() / BUNDLE_NAME / "configs" / "metadata.json").read_text())
    except (MedvitError, OSError, ValueError):
        return None
    return meta.get("version")
