"""Per-label and mean ROC AUC of the thorax classifier on a labelled folder of radiographs
(``bundles/mae_thorax_classification/configs/evaluate.json``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError
from medvit.io.atomic import atomic_path
from medvit.thorax.phantoms import CHESTXRAY14_LABELS
from medvit.thorax.training import mean_present, per_label_auc

METRIC_COLUMNS = ("label", "auc", "positives", "negatives")
MEAN_ROW = "mean (labels with both classes)"


def score_cxr_predictions(items: list[dict], table, dataset_dir: str | os.PathLike, output_dir: str | os.PathLike,
                          labels=CHESTXRAY14_LABELS) -> dict:
    """Score the bundle's predictions (``predictions.csv`` as a table) against the labelled
    items of a ChestX-ray14-style table (:func:`~medvit.thorax.training.chestxray14_items`):
    the run of ``evaluate.json``.

    Writes ``<output_dir>/metrics.csv``: one row per label (AUC with MONAI's ``ROCAUCMetric``,
    empty where the set has only one class of that label, and the counts), then the mean over
    the labels that could be scored. Images that failed are left out (their error is in
    ``predictions.csv``) and counted.

    Returns:
        ``{"mean_auc": ..., "auc": {label: ...}, "images": n scored, "failed": n}``.
    """
    labels = tuple(labels)
    root = Path(dataset_dir).resolve()
    truth = {Path(item["image"]).resolve().relative_to(root).as_posix(): item["label"] for item in items}
    ok = table[(table["status"] == "ok") & table["image"].isin(truth)]
    if ok.empty:
        raise MedvitError(f"{dataset_dir}: no labelled image was classified (see {Path(output_dir) / 'predictions.csv'})")
    targets = np.array([truth[name] for name in ok["image"]], dtype=np.float32)
    auc = per_label_auc(ok[list(labels)].to_numpy(dtype=np.float32), targets, labels)
    mean_auc = mean_present(auc.values())
    with atomic_path(Path(output_dir) / "metrics.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(METRIC_COLUMNS)
        for k, label in enumerate(labels):
            positives = int(targets[:, k].sum())
            writer.writerow([label, f"{auc[label]:.6f}" if np.isfinite(auc[label]) else "", positives,
                             len(targets) - positives])
        writer.writerow([MEAN_ROW, f"{mean_auc:.6f}" if np.isfinite(mean_auc) else "", "", ""])
    failed = int((table["status"] != "ok").sum())
    return {"mean_auc": mean_auc, "auc": auc, "images": len(ok), "failed": failed}
