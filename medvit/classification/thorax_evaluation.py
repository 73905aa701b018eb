"""Per-label and mean ROC AUC of the thorax classifier on a labelled folder of radiographs
(``bundles/mae_thorax_classification/configs/evaluate.json``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from medvit.data.cxr import CHESTXRAY14_LABELS
from medvit.errors import MedvitError

METRIC_COLUMNS = ("label", "auc", "positives", "negatives")
MEAN_ROW = "mean (labels with both classes)"


def evaluate_cxr_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                        labels_csv: str | os.PathLike | None = None, labels=CHESTXRAY14_LABELS,
                        allow_missing: bool = False, **options) -> dict:
    """Classify every labelled radiograph (:func:`~medvit.classification.thorax.run_cxr_cohort`,
    ``predictions.csv``) and score it against the ChestX-ray14-style table.

    Writes ``<output_dir>/metrics.csv``: one row per label (AUC with MONAI's ``ROCAUCMetric``,
    empty where the set has only one class of that label, and the counts), then the mean over
    the labels that could be scored. Images that failed are left out (their error is in
    ``predictions.csv``) and counted.

    Args:
        labels_csv: ``Image Index`` / ``Finding Labels`` table; default ``<dataset_dir>/labels.csv``.
        options: :func:`~medvit.classification.thorax.classify_cxr`'s keyword arguments and the
            cohort runner's (``workers``, ``progress``, ...).

    Returns:
        ``{"mean_auc": ..., "auc": {label: ...}, "images": n scored, "failed": n}``.
    """
    from medvit.classification.thorax import run_cxr_cohort
    from medvit.classification.thorax_training import chestxray14_items, mean_present, per_label_auc
    from medvit.io.atomic import atomic_path

    labels = tuple(labels)
    items = chestxray14_items(dataset_dir, labels_csv, labels, allow_missing=allow_missing)
    table = run_cxr_cohort(dataset_dir, output_dir, labels=list(labels), **options)
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
