"""ROC AUC, accuracy and Cohen's kappa of the Uni4Eye classifier over the labelled items of a
dataset description (``bundles/uni4eye_ophthalmic_mim/configs/evaluate.json``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_roc_auc

from medvit.errors import MedvitError
from medvit.io.atomic import atomic_path

METRIC_COLUMNS = ("auc", "accuracy", "kappa", "n")


def cohen_kappa(truth: Sequence[int], predicted: Sequence[int], num_classes: int, weights: str | None = None) -> float:
    """Cohen's kappa of two labelings (``weights``: None, "linear" or "quadratic" disagreement)."""
    confusion = np.zeros((num_classes, num_classes))
    np.add.at(confusion, (np.asarray(truth), np.asarray(predicted)), 1)
    i, j = np.indices(confusion.shape)
    penalty = {None: (i != j).astype(float), "linear": np.abs(i - j), "quadratic": (i - j) ** 2.0}[weights]
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / confusion.sum()
    denominator = (penalty * expected).sum()
    return float(1 - (penalty * confusion).sum() / denominator) if denominator else float("nan")


def classification_metrics(labels: Sequence[int], probabilities: np.ndarray, kappa_weights: str | None = None) -> dict:
    """``auc`` (ROC; one-vs-rest macro average beyond two classes), ``accuracy``, ``kappa``, ``n``.

    Args:
        labels: (N,) integer classes; probabilities: (N, C).
    """
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    if len(np.unique(labels)) < 2:
        auc = float("nan")  # undefined with one class present
    elif classes == 2:
        auc = float(compute_roc_auc(torch.tensor(probabilities[:, 1]), torch.tensor(labels)))
    else:
        onehot = np.eye(classes)[labels]
        auc = float(compute_roc_auc(torch.tensor(probabilities), torch.tensor(onehot), average="macro"))
    return {"auc": auc, "accuracy": float((predicted == labels).mean()),
            "kappa": cohen_kappa(labels, predicted, classes, kappa_weights), "n": int(len(labels))}


def score_ophthalmic_predictions(labels: Mapping[str, int], table, dataset: str | os.PathLike,
                                 output_dir: str | os.PathLike, classes: Sequence[str],
                                 kappa_weights: str | None = None) -> dict:
    """Score the bundle's predictions (``predictions.csv`` as a table) against the items'
    labels: the run of ``evaluate.json``.

    Args:
        labels: case id (the ``image`` column) → integer class
            (:func:`medvit.uni4eye.classify.dataset_labels`).
        table: the cohort table: ``p_<class>`` per class, ``predicted``, ``status``.
        dataset: the dataset description (named in messages).
        classes: the class names, in output order.

    Writes ``<output_dir>/metrics.csv`` (AUC, accuracy, kappa, n) and ``evaluated.csv`` (each
    scored item's label and prediction) beside ``predictions.csv``. Items that failed are left
    out of the metrics (their rows in ``predictions.csv`` say why).

    Returns:
        ``{"auc": ..., "accuracy": ..., "kappa": ..., "n": ...}``.
    """
    if not labels:
        raise MedvitError(f"{dataset}: no labelled items to evaluate (items need a \"label\")")
    table = table.copy()
    table["label"] = table["image"].map(dict(labels))
    ok = table[(table["status"] == "ok") & table["label"].notna()]
    if ok.empty:
        raise MedvitError(f"{dataset}: every labelled item failed; see {Path(output_dir) / 'predictions.csv'}")
    probability_columns = [f"p_{name}" for name in classes]
    metrics = classification_metrics(ok["label"].astype(int).to_numpy(), ok[probability_columns].to_numpy(dtype=float),
                                     kappa_weights)
    with atomic_path(Path(output_dir) / "evaluated.csv") as tmp:
        ok[["image", "label", "predicted", *probability_columns]].to_csv(tmp, index=False)
    with atomic_path(Path(output_dir) / "metrics.csv") as tmp:
        pd.DataFrame([metrics], columns=list(METRIC_COLUMNS)).to_csv(tmp, index=False)
    return metrics
