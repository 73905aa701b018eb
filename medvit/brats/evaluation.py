"""Dice and HD95 per BraTS region (TC, WT, ET) of the bundle's segmentation against reference labels."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError
from medvit.brats.segment import segment_brats_case

REGIONS = ("tc", "wt", "et")
METRIC_COLUMNS = [f"{metric}_{region}" for metric in ("dice", "hd95") for region in REGIONS]


def region_scores(prediction: np.ndarray, reference: np.ndarray, spacing=None) -> dict[str, float]:
    """Dice and 95th-percentile Hausdorff distance (mm with ``spacing``) per region.

    Args:
        prediction, reference: BraTS label maps (X, Y, Z) with labels {0, 1, 2, 3 or 4}.
        spacing: voxel size (mm) for HD95; voxels when None.

    Returns:
        ``dice_tc``, ``dice_wt``, ``dice_et``, ``hd95_tc``, ... (MONAI's metrics; NaN where
        the region is empty in both).
    """
    import torch
    from monai.metrics import compute_dice, compute_hausdorff_distance

    def regions(labels):
        labels = np.asarray(labels)
        et = np.isin(labels, (3, 4))
        masks = [np.isin(labels, (1, 3, 4)), labels > 0, et]  # TC, WT, ET
        return torch.from_numpy(np.stack(masks)[None].astype(np.float32))

    if np.shape(prediction) != np.shape(reference):
        raise MedvitError(f"prediction {np.shape(prediction)} and reference {np.shape(reference)} differ in shape")
    pred, ref = regions(prediction), regions(reference)
    dice = compute_dice(pred, ref, include_background=True, ignore_empty=True)[0]
    with warnings.catch_warnings():  # MONAI 1.5-1.6 passes its own deprecated argument inside
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
        hd95 = compute_hausdorff_distance(pred, ref, include_background=True, percentile=95, spacing=spacing)[0]
    scores = {f"dice_{r}": float(v) for r, v in zip(REGIONS, dice)}
    scores.update({f"hd95_{r}": float(v) for r, v in zip(REGIONS, hd95)})
    return {key: (value if np.isfinite(value) else float("nan")) for key, value in scores.items()}


def evaluate_brats_case(case_dir: str, *, reference_pattern: str = "*_seg.nii.gz", **options) -> dict:
    """Segment a case (:func:`segment_brats_case`) and score it against its reference label map."""
    from medvit.io import read_image

    case = Path(case_dir)
    references = sorted(case.glob(reference_pattern))
    if len(references) != 1:
        raise MedvitError(f"{case.name}: expected one reference label map matching {reference_pattern}, found {len(references)}")
    row = segment_brats_case(case_dir, **options)
    prediction, meta = read_image(Path(options["output_dir"]) / row["segmentation"])
    reference, _ = read_image(references[0])
    spacing = [float(s) for s in np.sqrt((np.asarray(meta["affine"])[:3, :3] ** 2).sum(0))]
    return {**region_scores(prediction, reference, spacing), **row}


def evaluate_brats_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 1,
                          progress: bool = True, **options):
    """Score every case; ``<output_dir>/metrics.csv`` per case and ``metrics_summary.csv`` (mean, std, n)."""
    from medvit.batch import run_cohort
    from medvit.batch.summary import write_summary
    from medvit.io.cases import list_cases
    from medvit.brats.segment import CASE_COLUMNS

    settings = {"output_dir": os.fspath(output_dir), **options}
    if "roi_size" in settings:
        settings["roi_size"] = [int(v) for v in settings["roi_size"]]
    table = run_cohort(list_cases(dataset_dir), evaluate_brats_case, Path(output_dir) / "metrics.csv", settings,
                       columns=METRIC_COLUMNS + CASE_COLUMNS, workers=workers, case_id="name", progress=progress)
    write_summary(table, Path(output_dir) / "metrics_summary.csv", METRIC_COLUMNS)
    return table
