"""Dice and HD95 per BraTS region (TC, WT, ET) of the bundle's segmentation against reference
labels: ``evaluate.json``'s ``evaluation`` transforms and its summary."""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.metrics import compute_dice, compute_hausdorff_distance
from monai.transforms import MapTransform

from medvit.batch.summary import write_summary
from medvit.brats.labels import CHANNELS, REGION_LABELS
from medvit.brats.segment import BUNDLE_NAME, CASE_COLUMNS, bundle_overrides
from medvit.brats.transforms import grid_spacing
from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.workflow import add_to_row
from medvit.errors import MedvitError

METRIC_COLUMNS = [f"{metric}_{region}" for metric in ("dice", "hd95") for region in CHANNELS]
EVALUATION_COLUMNS = [*METRIC_COLUMNS, *CASE_COLUMNS]


def region_scores(prediction: np.ndarray, reference: np.ndarray, spacing=None) -> dict[str, float]:
    """Dice and 95th-percentile Hausdorff distance (mm with ``spacing``) per region.

    Args:
        prediction, reference: BraTS label maps (X, Y, Z) with labels {0, 1, 2, 3 or 4}.
        spacing: voxel size (mm) for HD95; voxels when None.

    Returns:
        ``dice_tc``, ``dice_wt``, ``dice_et``, ``hd95_tc``, ... (MONAI's metrics; NaN where
        the region is empty in both).
    """
    def regions(labels):  # (X, Y, Z) labels → (1, 3, X, Y, Z) region masks
        masks = [np.isin(np.asarray(labels), REGION_LABELS[region]) for region in CHANNELS]
        return torch.from_numpy(np.stack(masks)[None].astype(np.float32))

    if np.shape(prediction) != np.shape(reference):
        raise MedvitError(f"prediction {np.shape(prediction)} and reference {np.shape(reference)} differ in shape")
    pred, ref = regions(prediction), regions(reference)
    dice = compute_dice(pred, ref, include_background=True, ignore_empty=True)[0]
    with warnings.catch_warnings():  # MONAI 1.5-1.6 passes its own deprecated argument inside
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
        hd95 = compute_hausdorff_distance(pred, ref, include_background=True, percentile=95, spacing=spacing)[0]
    scores = {f"dice_{r}": float(v) for r, v in zip(CHANNELS, dice)}
    scores.update({f"hd95_{r}": float(v) for r, v in zip(CHANNELS, hd95)})
    return {key: (value if np.isfinite(value) else float("nan")) for key, value in scores.items()}


class RegionScoresd(MapTransform):
    """The row's :data:`METRIC_COLUMNS` (:func:`region_scores`) of a (1, X, Y, Z) label map against
    the reference label map ``data[label_key]`` (1, X, Y, Z), HD95 in mm of ``image_key``'s grid."""

    def __init__(self, keys: KeysCollection, label_key: str = "label", image_key: str = "image"):
        super().__init__(keys)
        self.label_key, self.image_key = label_key, image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        spacing = grid_spacing(d, self.image_key)
        for key in self.key_iterator(d):
            d = add_to_row(d, region_scores(np.asarray(d[key])[0], np.asarray(d[self.label_key])[0], spacing))
        return d


def summarise_scores(table, output_dir: str | os.PathLike):
    """Writes ``<output_dir>/metrics_summary.csv`` (mean, std, n of each metric over the ok cases);
    returns ``table``."""
    write_summary(table, Path(output_dir) / "metrics_summary.csv", METRIC_COLUMNS)
    return table


def evaluate_brats_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, **options):
    """The bundle's ``evaluate.json`` on every case: ``<output_dir>/metrics.csv`` per case and
    ``metrics_summary.csv``; ``options`` as :func:`medvit.brats.segment.run_brats_cohort`'s, and
    ``reference_pattern``. Returns the table."""
    return run_config(bundles_root() / BUNDLE_NAME, "evaluate.json", dataset_dir=os.fspath(dataset_dir),
                      output_dir=os.fspath(output_dir), **bundle_overrides(**options))
