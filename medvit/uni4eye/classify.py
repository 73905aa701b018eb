"""Class probabilities per ophthalmic image or volume with a fine-tuned Uni4Eye classifier
(:class:`medvit.nets.UnifiedViT`), over a cohort (the cohort runner), and their evaluation
(ROC AUC, accuracy, Cohen's kappa) against the labels of a dataset description.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError

BUNDLE_NAME = "uni4eye_ophthalmic_mim"
DEFAULT_CLASSES = ("normal", "fluid")
METRIC_COLUMNS = ("auc", "accuracy", "kappa", "n")


def classify_item(path: str, *, network: dict | None = None, checkpoint: str | None = None,
                  classes: Sequence[str] = DEFAULT_CLASSES, spatial_dims: int | None = None,
                  wrong_depth: str = "resize", device: str | None = None) -> dict:
    """Class probabilities of one image (2D path) or volume (3D path).

    Args:
        path: a photo / B-scan, a NIfTI volume, a DICOM series or a folder of B-scans.
        network: :class:`~medvit.nets.UnifiedViT` arguments (sizes, width, depth);
            ``num_classes`` is ``len(classes)``.
        checkpoint: fine-tuned weights; None runs random weights (tests only: the row says so).
        spatial_dims: the path the classifier was fine-tuned for (2 or 3): an item of the other
            kind is an error naming it; None takes both.
        wrong_depth: a volume whose depth differs from the network's: "resize" or "error".

    Returns:
        the row: ``p_<class>`` per class, ``predicted``, ``spatial_dims``, ``weights``.
    """
    import torch

    from medvit.nets import UnifiedViT
    from medvit.nets.vit_checkpoints import cached_classifier
    from medvit.uni4eye.items import load_item

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    arguments = {**(network or {}), "num_classes": len(classes), "global_pool": True}
    model = cached_classifier(UnifiedViT, arguments, checkpoint, device)
    image = load_item({"image": path}, model.img_size, model.img_size_3d, wrong_depth,
                      spatial_dims)
    with torch.no_grad():
        probabilities = torch.softmax(model(image[None].to(device)), dim=1)[0].float().cpu().numpy()
    row = {f"p_{name}": float(p) for name, p in zip(classes, probabilities)}
    row.update({"predicted": classes[int(np.argmax(probabilities))], "spatial_dims": image.ndim - 1,
                "weights": Path(checkpoint).name if checkpoint else "random (no checkpoint)"})
    return row


def cohort_inputs(dataset: str | os.PathLike, spatial_dims: int | None = None, labelled: bool = False
                  ) -> tuple[list[Path], Path, dict[str, int]]:
    """What a cohort run reads: the items of a dataset description (JSON; ``spatial_dims`` and
    ``labelled`` select as :func:`~medvit.uni4eye.items.read_items`), or every photo, NIfTI
    file and B-scan folder under a folder.

    Returns:
        ``(paths, root, labels)``: ``labels`` maps the case id (path relative to ``root``) to
        the item's label, where the description gives one.
    """
    from medvit.io.image_stack import is_image_stack
    from medvit.io.nifti import is_nifti_path
    from medvit.io.photo import PHOTO_SUFFIXES
    from medvit.uni4eye.items import read_items

    dataset = Path(dataset)
    if dataset.is_file():
        items = read_items(dataset, spatial_dims, labelled)
        root = dataset.parent
        labels = {os.path.relpath(item["image"], root): item["label"] for item in items if "label" in item}
        return [Path(item["image"]) for item in items], root, labels
    if not dataset.is_dir():
        raise MedvitError(f"{dataset}: no such dataset description or folder")
    entries = sorted(dataset.rglob("*"))
    stacks = [p for p in entries if p.is_dir() and is_image_stack(p)]
    in_stacks = set(stacks)
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")
             and (p.suffix.lower() in PHOTO_SUFFIXES or is_nifti_path(p)) and in_stacks.isdisjoint(p.parents)]
    if not stacks and not files:
        raise MedvitError(f"{dataset}: no images, NIfTI volumes or B-scan folders found")
    return sorted(stacks + files), dataset, {}


def run_ophthalmic_cohort(dataset: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 1,
                          scheduler=None, progress: bool = True, resume: bool = True, labelled_only: bool = False,
                          **options):
    """Classify every item of ``dataset`` (a dataset description or a folder); one row per
    item in ``<output_dir>/predictions.csv`` (a failed item gets an error row, the others go on).
    ``labelled_only``: only the description's labelled items of the classifier's kind
    (``spatial_dims``), as evaluation scores them.

    ``options`` are :func:`classify_item`'s keyword arguments.
    """
    from medvit.batch import run_cohort
    from medvit.batch.ids import checkpoint_provenance

    settings = dict(options)
    settings["classes"] = list(settings.get("classes") or DEFAULT_CLASSES)
    provenance = checkpoint_provenance(settings, BUNDLE_NAME)
    if settings.get("network"):
        settings["network"] = json.loads(json.dumps(settings["network"]))  # tuples from configs -> lists
    selection = (settings.get("spatial_dims"), True) if labelled_only else (None, False)
    paths, root, _ = cohort_inputs(dataset, *selection)
    columns = [*(f"p_{name}" for name in settings["classes"]), "predicted", "spatial_dims", "weights"]
    return run_cohort(paths, classify_item, Path(output_dir) / "predictions.csv", settings, columns=columns,
                      workers=workers, scheduler=scheduler, case_id="relative", root=root, progress=progress,
                      resume=resume, provenance=provenance)


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
    import torch
    from monai.metrics import compute_roc_auc

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


def evaluate_ophthalmic_cohort(dataset: str | os.PathLike, output_dir: str | os.PathLike, *,
                               kappa_weights: str | None = None, **options) -> dict:
    """Classify the labelled items of a dataset description (:func:`run_ophthalmic_cohort`) and
    score them: ``<output_dir>/metrics.csv`` (AUC, accuracy, kappa, n) and ``evaluated.csv`` (each
    scored item's label and prediction) beside ``predictions.csv``. Items that failed are left
    out of the metrics (their rows in ``predictions.csv`` say why).
    """
    import pandas as pd

    from medvit.io.atomic import atomic_path

    _, _, labels = cohort_inputs(dataset, options.get("spatial_dims"), labelled=True)
    if not labels:
        raise MedvitError(f"{dataset}: no labelled items to evaluate (items need a \"label\")")
    table = run_ophthalmic_cohort(dataset, output_dir, labelled_only=True, **options)
    classes = list(options.get("classes") or DEFAULT_CLASSES)
    table["label"] = table["image"].map(labels)
    ok = table[(table["status"] == "ok") & table["label"].notna()]
    if ok.empty:
        raise MedvitError(f"{dataset}: every labelled item failed; see {Path(output_dir) / 'predictions.csv'}")
    probabilities = ok[[f"p_{name}" for name in classes]].to_numpy(dtype=float)
    metrics = classification_metrics(ok["label"].astype(int).to_numpy(), probabilities, kappa_weights)
    with atomic_path(Path(output_dir) / "evaluated.csv") as tmp:
        ok[["image", "label", "predicted", *(f"p_{name}" for name in classes)]].to_csv(tmp, index=False)
    with atomic_path(Path(output_dir) / "metrics.csv") as tmp:
        pd.DataFrame([metrics], columns=list(METRIC_COLUMNS)).to_csv(tmp, index=False)
    return metrics
