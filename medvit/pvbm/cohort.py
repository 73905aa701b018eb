"""``medvit biomarkers`` and the bundle's inference: a folder of fundus photos → one CSV.

``bundles/pvbm_vessel_biomarkers/configs/inference.json`` composes the pipeline; the CLI,
the demo, the viewer and :func:`run_biomarker_cohort` run that config (``run_config``), so a
bundle run and a command-line run are the same code.
"""

from __future__ import annotations

import os
from pathlib import Path

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.errors import MedvitError
from medvit.pvbm.masks import find_mask, read_vessel_masks
from medvit.pvbm.photo import read_photo_rc
from medvit.pvbm.pipeline import biomarker_columns
from medvit.pvbm.quality import QUALITY_COLUMNS

BUNDLE_NAME = "pvbm_vessel_biomarkers"
# run_biomarker_cohort's options → the config ids they set (the others keep their names)
OPTION_IDS = {"checkpoint": "ckpt_path"}
OPTIONS = ("masks_dir", "disc_csv", "segmentation", "checkpoint", "network", "definitions", "roi_radius", "region",
           "pixel_size_um", "fov_mm", "fractal", "overlay_dir", "device", "classify_av", "measures")


def bundle_dir() -> Path:
    return bundles_root() / BUNDLE_NAME


def _masks_are_av(masks_dir: str | None, images: list[Path]) -> bool:
    """Whether the user's masks label arteries and veins, judged on the first mask that reads."""
    if not masks_dir:
        return False
    for image in images:
        try:
            return read_vessel_masks(find_mask(masks_dir, image), read_photo_rc(image).shape[:2]).has_av
        except MedvitError:
            continue  # that image's row will say what is wrong
    return False


def cohort_columns(images: list[Path], segmentation: str, masks_dir: str | os.PathLike | None = None,
                   pixel_size_um: float | None = None, fov_mm: float | None = None,
                   classify_av: bool = False, measures: str = "all") -> list[str]:
    """The cohort table's result columns (:func:`~medvit.pvbm.pipeline.biomarker_columns`): artery /
    vein ones when the user's masks label them or ``classify_av``, physical sizes when the scale is
    known; then the photo's quality measures (:data:`~medvit.pvbm.quality.QUALITY_COLUMNS`)."""
    av = bool(classify_av) or (segmentation == "masks"
                               and _masks_are_av(os.fspath(masks_dir) if masks_dir else None, images))
    return [*biomarker_columns(av=av, physical=bool(pixel_size_um or fov_mm), measures=measures), *QUALITY_COLUMNS]


def bundle_overrides(options: dict) -> dict:
    """Config overrides of the bundle from :func:`run_biomarker_cohort`'s options.

    ``segmentation`` is "masks" with ``masks_dir`` (no segmentation runs), else "classical" by
    default (a bundle run without overrides uses ``models/model.pt`` where it exists);
    "network" needs ``checkpoint`` (default: the bundle's ``models/model.pt``). ``network``: the
    U-Net's ``network_args``; ``fractal``: settings of
    :func:`~medvit.pvbm.fractal.multifractal_biomarkers`, its defaults where absent.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise MedvitError(f"unknown biomarker option(s) {unknown}")
    options = {k: v for k, v in options.items() if v is not None}
    chosen = options.pop("segmentation", None) or "classical"
    segmentation = "masks" if options.get("masks_dir") else chosen
    overrides: dict = {"segmentation": segmentation}
    if segmentation == "network":
        overrides["load_pretrain"] = True  # a missing checkpoint is an error, not random weights
    for key, value in (options.pop("network", None) or {}).items():
        overrides[f"network_args#{key}"] = value
    for key, value in (options.pop("fractal", None) or {}).items():
        overrides[f"fractal#{key}"] = value
    if options.get("overlay_dir"):
        overrides["write_overlays"] = True
    for key, value in options.items():
        overrides[OPTION_IDS.get(key, key)] = os.fspath(value) if isinstance(value, os.PathLike) else value
    return overrides


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
    """Measure every photo under ``dataset_dir`` into ``out_csv``: the bundle's ``inference.json``.

    Args:
        dataset_dir: folder of fundus photographs (searched recursively).
        out_csv: the cohort table; see :func:`medvit.batch.run_cohort` for the files beside it.
        workers, scheduler, anonymise, resume, progress: as :func:`medvit.batch.run_cohort`.
        **options: ``masks_dir``, ``disc_csv``, ``segmentation``, ``checkpoint``, ``network``,
            ``definitions``, ``roi_radius``, ``pixel_size_um``, ``fov_mm``, ``fractal``,
            ``overlay_dir``, ``device``, ``classify_av`` (see :func:`bundle_overrides` and the
            bundle's README).

    A bad image never stops the run: its row has ``status`` "error" and the reason. A re-run
    skips images done with the same settings. Returns the table as a pandas DataFrame.

    Raises:
        MedvitError: unknown options, or inputs every image would fail on (no such masks
            folder or checkpoint, a broken disc table).
    """
    overrides = bundle_overrides(options)
    return run_config(bundle_dir(), "inference.json", dataset_dir=os.fspath(dataset_dir),
                      output_dir=os.fspath(Path(out_csv).parent), output_csv=os.fspath(out_csv),
                      workers=workers, scheduler=scheduler, anonymise=anonymise, resume=resume,
                      progress=progress, **overrides)
