"""Training pieces of ``bundles/mae_thorax_classification``: ChestX-ray14-style label tables,
patient-wise splits, MAE's learning-rate schedule, AUC over the labels a set can score, and the
hooks that let MONAI's ``SupervisedTrainer`` run masked-autoencoder pre-training.

The recipes themselves (fine-tuning as medical_mae: layer-wise lr decay 0.55, drop path 0.2,
RandAugment m6, BCE-with-logits, AdamW; MAE pre-training: mask 0.90, AdamW β (0.9, 0.95)) are
in the bundle's ``train.json`` and ``pretrain.json``, wired to these functions.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.metrics import ROCAUCMetric

from medvit.errors import MedvitError
from medvit.io.files import list_image_files
from medvit.nets.vit_checkpoints import load_pretrained_encoder
from medvit.thorax.phantoms import CHESTXRAY14_LABELS

NO_FINDING = "No Finding"
LABEL_COLUMNS = ("Image Index", "Finding Labels")
PATIENT_COLUMN = "Patient ID"

log = logging.getLogger(__name__)


def chestxray14_items(dataset_dir: str | os.PathLike, labels_csv: str | os.PathLike | None = None,
                      labels: tuple[str, ...] | list[str] = CHESTXRAY14_LABELS,
                      allow_missing: bool = False) -> list[dict]:
    """``[{"image": path, "label": [0./1., ...], "patient": id}, ...]`` from a folder of images and
    a ChestX-ray14-style table (``Data_Entry_2017.csv`` or medvit's phantoms' ``labels.csv``).

    Args:
        dataset_dir: the images, found by file name anywhere below it (ChestX-ray14 ships them
            in ``images_001/`` ... ``images_012/``).
        labels_csv: the table, with ``Image Index`` and ``Finding Labels`` (findings joined by
            ``|``, ``No Finding`` when none) and optionally ``Patient ID``; default
            ``<dataset_dir>/labels.csv``.
        labels: the head's findings in order; ChestX-ray14 findings not among them are dropped
            (e.g. a 5-finding head).
        allow_missing: skip rows whose image is not there (logged) instead of failing.

    Raises:
        MedvitError: naming the table, for missing columns, an unknown finding, missing images.
    """
    table_path = Path(labels_csv) if labels_csv else Path(dataset_dir) / "labels.csv"
    try:
        table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise MedvitError(f"{table_path}: cannot read the label table ({err})") from None
    missing_columns = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing_columns:
        raise MedvitError(f"{table_path}: no column {missing_columns} (a ChestX-ray14-style table has "
                          f"{', '.join(LABEL_COLUMNS)})")
    known = set(CHESTXRAY14_LABELS) | set(labels) | {NO_FINDING}
    index = {}
    for path in list_image_files(dataset_dir, what="chest X-rays"):
        index.setdefault(path.name, path)
    items, absent = [], []
    patients = table[PATIENT_COLUMN] if PATIENT_COLUMN in table.columns else table[LABEL_COLUMNS[0]]
    rows = zip(table[LABEL_COLUMNS[0]], table[LABEL_COLUMNS[1]], patients)
    for row_number, (name, findings, patient) in enumerate(rows, start=2):
        found = {f.strip() for f in findings.split("|") if f.strip()}
        unknown = sorted(found - known)
        if unknown:
            raise MedvitError(f"{table_path}, line {row_number}: unknown finding(s) {unknown} for {name}")
        if name not in index:
            absent.append(name)
            continue
        items.append({"image": str(index[name]), "label": [float(label in found) for label in labels],
                      "patient": str(patient)})
    if absent and not (allow_missing and items):
        raise MedvitError(f"{table_path}: {len(absent)} image(s) listed are not under {dataset_dir}, e.g. {absent[0]}"
                          + ("" if allow_missing else " (allow_missing skips them)"))
    if absent:
        log.warning("%s: %d listed image(s) not found, skipped (e.g. %s)", table_path, len(absent), absent[0])
    return items


def split_items(items: list[dict], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Random train / validation split by patient (no patient in both), ``val_fraction`` of the
    patients (at least one when there are two or more) held out."""
    patients = sorted({item.get("patient", item["image"]) for item in items})
    if len(patients) < 2:
        return list(items), list(items)
    order = np.random.default_rng(seed).permutation(len(patients))
    n_val = min(len(patients) - 1, max(1, round(len(patients) * val_fraction)))
    held_out = {patients[i] for i in order[:n_val]}
    return ([item for item in items if item.get("patient", item["image"]) not in held_out],
            [item for item in items if item.get("patient", item["image"]) in held_out])


def image_items(dataset_dir: str | os.PathLike) -> list[dict]:
    """``[{"image": path}, ...]`` for every radiograph under ``dataset_dir`` (pre-training needs no labels)."""
    return [{"image": str(path)} for path in list_image_files(dataset_dir, what="chest X-rays")]


def warmup_cosine_schedule(optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
    """MAE's / medical_mae's schedule as a ``LambdaLR``: linear warm-up from 0, then half a cosine
    to ``min_lr``; every param group keeps its own scale (layer-wise decay), its floor being
    ``min_lr × lr_scale`` as in MAE's ``adjust_learning_rate``. (MONAI's ``WarmupCosineSchedule``
    floors every group at the same absolute ``end_lr``, which would lift the decayed early
    layers.) Step it per iteration.
    """
    base = max(group["lr"] / group.get("lr_scale", 1.0) for group in optimizer.param_groups)
    floor = min_lr / base if base > 0 else 0.0

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def per_label_auc(probabilities, targets, labels=CHESTXRAY14_LABELS) -> dict[str, float]:
    """ROC AUC of each label with MONAI's ``ROCAUCMetric``; NaN where the targets hold one class
    only (the label cannot be scored on this set)."""
    probabilities, targets = torch.as_tensor(np.asarray(probabilities, np.float32)), torch.as_tensor(np.asarray(targets, np.float32))
    metric = ROCAUCMetric(average="none")
    metric(probabilities, targets)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y values can not be all")
        values = np.atleast_1d(np.asarray(metric.aggregate(), dtype=float))
    return dict(zip(labels, values.tolist()))


def mean_present(values) -> float:
    """Mean of the finite values (the labels the set can score); NaN if none."""
    finite = np.asarray(list(values), dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


class MeanAUC(ROCAUCMetric):
    """MONAI's ``ROCAUCMetric`` averaged over the labels that have both classes in the set (a
    validation set of phantoms never has 8 of the 14 findings; MONAI's macro mean would be NaN).
    Use as ``IgniteMetricHandler(metric_fn=MeanAUC(), ...)``."""

    def __init__(self) -> None:
        super().__init__(average="none")

    def aggregate(self, average=None):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="y values can not be all")
            return mean_present(np.atleast_1d(np.asarray(super().aggregate(), dtype=float)))


def load_pretrained(network, ckpt_path: str | os.PathLike | None, load_pretrain: bool = True,
                    map_location: str = "cpu") -> dict | None:
    """Start fine-tuning from an MAE / medical_mae / timm checkpoint (:func:`medvit.nets.load_checkpoint`:
    key mapping, position-embedding interpolation, decoder dropped); logs what was not in it."""
    if not load_pretrain:
        return None

    if not ckpt_path or not Path(ckpt_path).is_file():
        raise MedvitError(f"{ckpt_path}: no such checkpoint file (--load_pretrain False trains from scratch)")
    return load_pretrained_encoder(network, ckpt_path, map_location)
