"""Vessel segmentation quality against reference masks: Dice and clDice per image, and the mean.

What ``bundles/pvbm_vessel_biomarkers/configs/evaluate.json`` runs: the inference pipeline up to
the vessel masks (``biomarkers`` off), then :class:`SegmentationScoresd` as the predictor's
``evaluation``. The per-image table is a cohort table (:func:`medvit.batch.run_cohort`:
resumable, error rows for bad images); the summary beside it holds the mean, standard
deviation and count of each score.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path

from monai.config import KeysCollection
from monai.transforms import MapTransform

from medvit.batch.summary import write_summary
from medvit.bundle.run import run_config
from medvit.bundle.transforms import source_path
from medvit.bundle.workflow import add_to_row
from medvit.errors import MedvitError
from medvit.pvbm.cohort import bundle_dir, bundle_overrides
from medvit.pvbm.masks import VesselMasks, find_mask, read_vessel_masks
from medvit.pvbm.segmentation_metrics import centreline_dice, dice

SCORE_KEYS = ("dice", "cldice")
SUMMARY_NAME = "segmentation_summary.csv"


def score_columns(av: bool = False) -> list[str]:
    """Per-image score columns: vessel scores, then artery_ / vein_ ones with A/V references."""
    columns = list(SCORE_KEYS)
    if av:
        columns += [f"{kind}_{key}" for kind in ("artery", "vein") for key in SCORE_KEYS]
    return columns + ["vessel_fraction", "reference_fraction"]


def segmentation_scores(predicted: VesselMasks, reference: VesselMasks) -> dict:
    """Dice and clDice of predicted masks against reference ones (both (H, W) bool).

    Returns:
        dict with ``dice``, ``cldice`` (and ``artery_*`` / ``vein_*`` when both the reference
        and the prediction label arteries and veins), and the vessel fractions of both.
    """
    row = {"dice": dice(predicted.vessels, reference.vessels), "cldice": centreline_dice(predicted.vessels, reference.vessels)}
    if reference.has_av and predicted.has_av:
        for kind, name in (("arteries", "artery"), ("veins", "vein")):
            row[f"{name}_dice"] = dice(getattr(predicted, kind), getattr(reference, kind))
            row[f"{name}_cldice"] = centreline_dice(getattr(predicted, kind), getattr(reference, kind))
    row["vessel_fraction"] = float(predicted.vessels.mean())
    row["reference_fraction"] = float(reference.vessels.mean())
    return row


class SegmentationScoresd(MapTransform):
    """Dictionary wrapper of :func:`segmentation_scores`: the masks under ``keys`` against the
    reference in ``labels_dir`` with the photo's stem (:func:`~medvit.pvbm.masks.find_mask`)
    → the scores in the row.

    Raises:
        MedvitError: ``labels_dir`` is not a folder (when built: one error for the run).
    """

    def __init__(self, keys: KeysCollection = "masks", labels_dir: str | os.PathLike = "masks",
                 image_key: str = "image", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        if not Path(labels_dir).is_dir():
            raise MedvitError(f"{labels_dir}: no such folder of reference masks")
        self.labels_dir, self.image_key = Path(labels_dir), image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            predicted = d[key]
            reference = read_vessel_masks(find_mask(self.labels_dir, source_path(d, self.image_key)),
                                          predicted.vessels.shape)
            d = add_to_row(d, segmentation_scores(predicted, reference))
        return d


def summarise_segmentation(table, output_dir: str | os.PathLike):
    """Write ``<output_dir>/segmentation_summary.csv`` (``metric, mean, std, n`` over the ok
    rows) of the per-image scores; returns the per-image table."""
    write_summary(table, Path(output_dir) / SUMMARY_NAME, score_columns(av=True))
    return table


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
    """Score every photo under ``dataset_dir`` against ``labels_dir``: the bundle's ``evaluate.json``.

    Writes ``<output_dir>/segmentation_metrics.csv`` (one row per image) and
    ``<output_dir>/segmentation_summary.csv`` (``metric, mean, std, n``). Returns the
    per-image table (pandas DataFrame).
    """
    overrides = bundle_overrides({"segmentation": segmentation, "checkpoint": checkpoint, "network": network})
    return run_config(bundle_dir(), "evaluate.json", images_dir=os.fspath(dataset_dir),
                      labels_dir=os.fspath(labels_dir), output_dir=os.fspath(output_dir), workers=workers,
                      progress=progress, **overrides)
