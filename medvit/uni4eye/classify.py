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

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.workflow import bundle_component
from medvit.errors import ImageReadError, MedvitError
from medvit.io.image_stack import is_image_stack, stack_files
from medvit.io.nifti import is_nifti_path
from medvit.io.photo import PHOTO_SUFFIXES, read_photo
from medvit.uni4eye.items import read_items

BUNDLE_NAME = "uni4eye_ophthalmic_mim"
DEFAULT_CLASSES = ("normal", "fluid")
CASE_COLUMNS = ("predicted", "spatial_dims", "weights")
logger = logging.getLogger(__name__)


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
    """What a cohort run reads: the items of a dataset description (the JSON file, or the
    ``dataset.json`` in the folder given; ``spatial_dims`` and ``labelled`` select as
    :func:`~medvit.uni4eye.items.read_items`, and the items left out are logged), or, for a folder
    without one, every photo and NIfTI file under it and every B-scan folder
    (:func:`is_bscan_folder`; the images of any other folder are items of their own)."""
    dataset = Path(dataset)
    description = dataset / "dataset.json" if dataset.is_dir() else dataset
    if description.is_file():
        items = read_items(description, None, labelled)
        chosen = [item for item in items if spatial_dims is None or item["spatial_dims"] == spatial_dims]
        if len(chosen) < len(items):
            logger.warning("%s: %d of %d item(s) are %dD and left out: this classifier takes %dD items "
                           "(spatial_dims)", description, len(items) - len(chosen), len(items),
                           5 - spatial_dims, spatial_dims)
        if not chosen:
            raise MedvitError(f"{description}: no {spatial_dims}D items{' with a label' if labelled else ''} "
                              f"for this {spatial_dims}D classifier (spatial_dims)")
        return [Path(item["image"]) for item in chosen]
    dataset_root(dataset)  # a clear error where there is no such folder
    entries = sorted(dataset.rglob("*"))
    stacks = [p for p in entries if p.is_dir() and is_image_stack(p) and is_bscan_folder(p)]
    in_stacks = set(stacks)
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")
             and (p.suffix.lower() in PHOTO_SUFFIXES or is_nifti_path(p)) and in_stacks.isdisjoint(p.parents)]
    if not stacks and not files:
        raise MedvitError(f"{dataset}: no images, NIfTI volumes or B-scan folders found")
    return sorted(stacks + files)


def is_bscan_folder(folder: str | os.PathLike) -> bool:
    """Whether a folder of images is one OCT cube's B-scans, to be stacked into a volume, rather
    than separate photos or B-scans: as devices export a cube, the file names differ only in a
    number running on from 0 or 1 (``bscan_000.png``, ``bscan_001.png``, ...), the images are of
    one size, and grey (a colour image is a photograph). Anything else is never stacked; a
    ``dataset.json`` says so explicitly (``"spatial_dims": 3``)."""
    files = stack_files(folder)
    numbered = [re.fullmatch(r"(.*?)(\d+)(\D*)", path.name) for path in files]
    if len(files) < 2 or not all(numbered):
        return False
    if len({(m.group(1), m.group(3).lower()) for m in numbered}) != 1:
        return False
    numbers = sorted(int(m.group(2)) for m in numbered)
    if numbers[0] not in (0, 1) or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return False
    try:
        sizes = set()
        for path in files:
            with Image.open(path) as image:
                sizes.add(image.size)
        first, _ = read_photo(files[0])
    except (OSError, ImageReadError):
        return False  # an unreadable file: read as items of their own, each row says what is wrong
    is_grey = first.ndim == 2 or all(np.array_equal(first[..., 0], first[..., c]) for c in (1, 2))
    return len(sizes) == 1 and is_grey


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
