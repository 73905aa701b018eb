"""Vessel segmentation quality against reference masks: Dice and clDice per image, and the mean.

What ``bundles/pvbm_vessel_biomarkers/configs/evaluate.json`` runs. The per-image table is a
cohort table (:func:`medvit.batch.run_cohort`: resumable, error rows for bad images); the
summary beside it holds the mean, standard deviation and count of each score.
"""

from __future__ import annotations

import os
from pathlib import Path

from medvit.errors import MedvitError

SCORE_KEYS = ("dice", "cldice")


def score_columns(av: bool = False) -> list[str]:
    """Per-image score columns: vessel scores, then artery_ / vein_ ones with A/V references."""
    columns = list(SCORE_KEYS)
    if av:
        columns += [f"{kind}_{key}" for kind in ("artery", "vein") for key in SCORE_KEYS]
    return columns + ["vessel_fraction", "reference_fraction"]


def segmentation_scores(
    path: str, *, labels_dir: str, segmentation: str = "classical", checkpoint: str | None = None, network: dict | None = None
) -> dict:
    """Segment one photo and score it against its reference mask (matched by file stem).

    Returns:
        dict with ``dice``, ``cldice`` (and ``artery_*`` / ``vein_*`` when both the reference
        and the prediction label arteries and veins), and the vessel fractions of both.
    """
    from medvit.pvbm.masks import find_mask, read_vessel_masks
    from medvit.pvbm.pipeline import read_photo_rc, segment
    from medvit.pvbm.segmentation_metrics import centreline_dice, dice

    photo = read_photo_rc(path)
    reference = read_vessel_masks(find_mask(labels_dir, path), photo.shape[:2])
    predicted, _ = segment(photo, segmentation, checkpoint, network)
    row = {"dice": dice(predicted.vessels, reference.vessels), "cldice": centreline_dice(predicted.vessels, reference.vessels)}
    if reference.has_av and predicted.has_av:
        for kind in ("arteries", "veins"):
            name = "artery" if kind == "arteries" else "vein"
            row[f"{name}_dice"] = dice(getattr(predicted, kind), getattr(reference, kind))
            row[f"{name}_cldice"] = centreline_dice(getattr(predicted, kind), getattr(reference, kind))
    row["vessel_fraction"] = float(predicted.vessels.mean())
    row["reference_fraction"] = float(reference.vessels.mean())
    return row


def evaluate_segmentation(
    dataset_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    segmentation: str = "classical",
    checkpoint: str | None = None,
    network: dict | None = None,
    workers: int = 1,
    progress: bool = True,
):
    """Score every photo under ``dataset_dir`` against ``labels_dir``.

    Writes ``<output_dir>/segmentation_metrics.csv`` (one row per image) and
    ``<output_dir>/segmentation_summary.csv`` (``metric, mean, std, n``). Returns the
    per-image table (pandas DataFrame).
    """
    from medvit.batch import run_cohort
    from medvit.batch.summary import write_summary
    from medvit.pvbm.cohort import list_fundus_images

    if not Path(labels_dir).is_dir():
        raise MedvitError(f"{labels_dir}: no such folder of reference masks")
    if segmentation == "network" and not (checkpoint and Path(checkpoint).is_file()):
        raise MedvitError(f"network segmentation needs an existing checkpoint, got {checkpoint!r}")
    images = list_fundus_images(dataset_dir, exclude=(labels_dir, output_dir))
    out = Path(output_dir)
    settings = {"labels_dir": os.fspath(labels_dir), "segmentation": segmentation,
                "checkpoint": os.fspath(checkpoint) if checkpoint else None,
                "network": dict(network or {}) if segmentation == "network" else None}
    table = run_cohort(images, segmentation_scores, out / "segmentation_metrics.csv", settings,
                       columns=score_columns(av=True), workers=workers, case_id="relative", root=dataset_dir,
                       progress=progress)
    write_summary(table, out / "segmentation_summary.csv", score_columns(av=True))
    return table
