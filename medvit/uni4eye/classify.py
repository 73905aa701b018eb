"""Class probabilities per ophthalmic image or volume with a fine-tuned Uni4Eye classifier, and
running the bundle from Python.

``bundles/uni4eye_ophthalmic_mim/configs/inference.json`` composes the pipeline: a photo, B-scan,
NIfTI volume, DICOM series or folder of B-scans → grey, [0, 1], the network's 2D or 3D size,
standardised (``preprocessing``, :mod:`medvit.uni4eye.transforms`) → :class:`medvit.nets.UnifiedViT`
(``network``) → softmax probabilities, one ``p_<class>`` column each, ``predicted``,
``spatial_dims``, ``weights`` (``postprocessing``). ``evaluate.json`` scores the labelled items
of a dataset description (:mod:`medvit.uni4eye.evaluation`).

This module gives the config what it reads (which inputs, the columns) and keeps the Python
entry points (:func:`run_ophthalmic_cohort`, :func:`evaluate_ophthalmic_cohort`,
:func:`classify_item`) as thin wrappers over the bundle's configs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.workflow import bundle_component
from medvit.errors import MedvitError
from medvit.io.image_stack import is_image_stack
from medvit.io.nifti import is_nifti_path
from medvit.io.photo import PHOTO_SUFFIXES
from medvit.uni4eye.items import read_items

BUNDLE_NAME = "uni4eye_ophthalmic_mim"
DEFAULT_CLASSES = ("normal", "fluid")
CASE_COLUMNS = ("predicted", "spatial_dims", "weights")


def prediction_columns(classes: Sequence[str]) -> list[str]:
    """The table's result columns: ``p_<class>`` per class, then :data:`CASE_COLUMNS`."""
    return [*(f"p_{name}" for name in classes), *CASE_COLUMNS]


def dataset_root(dataset: str | os.PathLike) -> Path:
    """The folder case ids start from: a dataset description's folder, or the folder itself."""
    dataset = Path(dataset)
    if dataset.is_file():
        return dataset.parent
    if not dataset.is_dir():
        raise MedvitError(f"{dataset}: no such dataset description or folder")
    return dataset


def dataset_description(dataset: str | os.PathLike) -> Path:
    """The dataset description (JSON) ``dataset`` names: itself, or the ``dataset.json`` in that folder."""
    dataset = Path(dataset)
    return dataset if dataset.suffix.lower() == ".json" else dataset / "dataset.json"


def cohort_paths(dataset: str | os.PathLike, spatial_dims: int | None = None, labelled: bool = False) -> list[Path]:
    """What a cohort run reads: the items of a dataset description (JSON; ``spatial_dims`` and
    ``labelled`` select as :func:`~medvit.uni4eye.items.read_items`), or every photo, NIfTI
    file and B-scan folder under a folder."""
    dataset = Path(dataset)
    if dataset.is_file():
        return [Path(item["image"]) for item in read_items(dataset, spatial_dims, labelled)]
    dataset_root(dataset)  # a clear error where there is no such folder
    entries = sorted(dataset.rglob("*"))
    stacks = [p for p in entries if p.is_dir() and is_image_stack(p)]
    in_stacks = set(stacks)
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")
             and (p.suffix.lower() in PHOTO_SUFFIXES or is_nifti_path(p)) and in_stacks.isdisjoint(p.parents)]
    if not stacks and not files:
        raise MedvitError(f"{dataset}: no images, NIfTI volumes or B-scan folders found")
    return sorted(stacks + files)


def dataset_labels(dataset: str | os.PathLike, spatial_dims: int | None = None) -> dict[str, int]:
    """Case id (the item's path relative to the description's folder, as the table's ``image``
    column) → label, for the labelled items of a dataset description of kind ``spatial_dims``."""
    root = dataset_root(dataset)
    return {Path(os.path.relpath(item["image"], root)).as_posix(): item["label"]
            for item in read_items(dataset, spatial_dims, labelled=True)}


def bundle_overrides(network: dict | None = None, checkpoint: str | os.PathLike | None = None,
                     classes: Sequence[str] | None = None, spatial_dims: int | None = None,
                     wrong_depth: str | None = None, device: str | None = None, **others) -> dict:
    """Config overrides for the bundle from Python arguments.

    Args:
        network: ``network_args`` entries (:class:`~medvit.nets.UnifiedViT` sizes, width, depth).
        checkpoint: fine-tuned weights; None runs random weights (tests only: the rows say so).
        classes: the class names (default :data:`DEFAULT_CLASSES`).
        spatial_dims: the path the classifier was fine-tuned for (2 or 3): an item of the other
            kind is an error naming it; None (unlike the config's 3) takes both.
        wrong_depth: a volume whose depth differs from the network's: "resize" or "error".
        others: further config ids (``workers``, ``progress``, ...).
    """
    overrides = {f"network_args#{key}": value for key, value in (network or {}).items()}
    overrides["load_pretrain"] = bool(checkpoint)
    if checkpoint:
        overrides["ckpt_path"] = os.fspath(checkpoint)
    overrides["class_names"] = list(classes or DEFAULT_CLASSES)
    overrides["spatial_dims"] = spatial_dims
    if wrong_depth is not None:
        overrides["wrong_depth"] = wrong_depth
    if device is not None:
        overrides["device"] = device
    return {**overrides, **others}


def _run(config: str, **overrides):
    """:func:`medvit.bundle.run.run_config` of this bundle, MONAI's wrappers taken off a medvit error
    (e.g. a missing checkpoint, found when the network is built)."""
    return run_config(bundles_root() / BUNDLE_NAME, config, **overrides)


def run_ophthalmic_cohort(dataset: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 1,
                          scheduler=None, progress: bool = True, resume: bool = True, labelled_only: bool = False,
                          **options):
    """The bundle's ``inference.json`` on every item of ``dataset`` (a dataset description or a
    folder); one row per item in ``<output_dir>/predictions.csv`` (a failed item gets an error
    row, the others go on). ``labelled_only``: only the description's labelled items of the
    classifier's kind (``spatial_dims``), as evaluation scores them.

    ``options`` are :func:`bundle_overrides`' arguments. Returns the table.
    """
    overrides = bundle_overrides(**options)
    if labelled_only:
        overrides["cohort#inputs"] = "$medvit.uni4eye.classify.cohort_paths(@dataset_dir, @spatial_dims, labelled=True)"
    return _run("inference.json", dataset_dir=os.fspath(dataset), output_dir=os.fspath(output_dir), workers=workers,
                scheduler=scheduler, progress=progress, resume=resume, **overrides)


def evaluate_ophthalmic_cohort(dataset: str | os.PathLike, output_dir: str | os.PathLike, *,
                               kappa_weights: str | None = None, **options) -> dict:
    """The bundle's ``evaluate.json``: classify the labelled items of a dataset description and
    score them (:func:`medvit.uni4eye.evaluation.score_ophthalmic_predictions`: ``metrics.csv``,
    ``evaluated.csv`` beside ``predictions.csv``). ``options``: as :func:`run_ophthalmic_cohort`.
    Returns the metrics."""
    return _run("evaluate.json", dataset_dir=os.fspath(dataset), output_dir=os.fspath(output_dir),
                kappa_weights=kappa_weights, **bundle_overrides(**options))


def classify_item(path: str | os.PathLike, **options) -> dict:
    """Class probabilities of one image (2D path) or volume (3D path) through the bundle's
    predictor (built once per process and settings; ``options``: :func:`bundle_overrides`'
    arguments).

    Returns:
        the row: ``p_<class>`` per class, ``predicted``, ``spatial_dims``, ``weights``.
    """
    predictor = bundle_component(bundles_root() / BUNDLE_NAME, "predictor", **bundle_overrides(**options))
    return predictor(os.fspath(path))
