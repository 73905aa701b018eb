"""Running the BraTS bundle from Python: a cohort, one case, a case's volume; training items.

``bundles/brats_swin_unetr_segmentation/configs/inference.json`` composes the pipeline: a
case folder's four series (T1, T1ce, T2, FLAIR; NIfTI files or DICOM series) → one 4-channel
volume on the reference series' grid (MONAI ``ResampleToMatchd``, or rigid registration onto
T1ce) → optional brain mask → QC flags → non-zero channel-wise normalisation
(``preprocessing``, :mod:`medvit.brats.preprocessing`) → Swin UNETR (``network``) by sliding
windows (``inferer``) → sigmoid TC, WT, ET → BraTS label map (1 NCR, 2 ED, 4 or 3 ET), bounded
by the brain mask, written as ``<output_dir>/<case>/<case>_seg.nii.gz`` on the input grid
(and a DICOM SEG for DICOM input), a row of region volumes (mL) (``postprocessing``,
:mod:`medvit.brats.transforms`). The functions here are thin wrappers over that config.
"""

from __future__ import annotations

import os
from pathlib import Path

from monai.transforms import Compose, ConcatItemsd

import medvit.io.monai_reader  # noqa: F401 - quiets MONAI's GPU DICOM reader before configs build LoadImaged
from medvit.batch.worker import unwrapped_errors
from medvit.brats.labels import REGION_LABELS
from medvit.brats.series import find_brats_series
from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.workflow import bundle_component
from medvit.errors import MedvitError
from medvit.io.cases import list_cases

BUNDLE_NAME = "brats_swin_unetr_segmentation"
VOLUME_COLUMNS = [f"{region}_ml" for region in REGION_LABELS]
CASE_COLUMNS = [*VOLUME_COLUMNS, "qc_flags", "qc_head_ml", "qc_outside_head_fraction", "spacing_mm", "shape",
                "segmentation", "dicom_seg", "brain_mask", "weights"]
_NETWORK_ARGS = ("feature_size",)  # inference.json's network_args
# Python arguments that are config ids of the same name
_CONFIG_KEYS = ("legacy_merging", "roi_size", "overlap", "sw_batch_size", "et_label", "file_patterns", "descriptions",
                "register", "brain_mask_pattern", "device", "amp", "workers", "scheduler", "progress", "resume",
                "reference_pattern")


def bundle_dir() -> Path:
    return bundles_root() / BUNDLE_NAME


def bundle_overrides(network: dict | None = None, checkpoint: str | os.PathLike | None = None, **options) -> dict:
    """Config overrides from Python arguments.

    Args:
        network: SwinUNETR keyword arguments besides the channels (``feature_size``, ``depths``, ...).
        checkpoint: weights file; None runs with random weights (tests only: the row says so).
        options: config ids (``roi_size``, ``overlap``, ``register``, ``device``, ``workers``, ...).
    """
    # feature_size is the config's user-facing network argument; the others go to network_def itself
    overrides = {f"{'network_args' if key in _NETWORK_ARGS else 'network_def'}#{key}": value
                 for key, value in (network or {}).items()}
    overrides["load_pretrain"] = bool(checkpoint)
    if checkpoint:
        overrides["ckpt_path"] = os.fspath(checkpoint)
    for key, value in options.items():
        if key not in _CONFIG_KEYS:
            raise TypeError(f"unexpected argument {key!r} for the BraTS bundle")
        overrides[key] = [int(v) for v in value] if key == "roi_size" else value
    return overrides


def run_brats_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                     network: dict | None = None, checkpoint: str | os.PathLike | None = None, **options):
    """The bundle's ``inference.json`` on every case folder under ``dataset_dir``: one row per case
    in ``<output_dir>/volumes.csv`` (a case that fails gets an error row; the others go on).
    ``network``, ``checkpoint``, ``options``: as :func:`bundle_overrides`. Returns the table."""
    return run_config(bundle_dir(), "inference.json", dataset_dir=os.fspath(dataset_dir),
                      output_dir=os.fspath(output_dir), **bundle_overrides(network, checkpoint, **options))


def segment_brats_case(case_dir: str | os.PathLike, *, output_dir: str | os.PathLike, network: dict | None = None,
                       checkpoint: str | os.PathLike | None = None, **options) -> dict:
    """One case folder through the bundle's predictor (built once per process and settings);
    returns its row (volumes, QC flags, output paths relative to ``output_dir``). Results go to
    ``<output_dir>/<case>/``; arguments as :func:`bundle_overrides`."""
    case = Path(case_dir)
    overrides = bundle_overrides(network, checkpoint, **options)
    predictor = bundle_component(bundle_dir(), "predictor", dataset_dir=os.fspath(case.parent),
                                 output_dir=os.fspath(output_dir), **overrides)
    return predictor(os.fspath(case))


def load_case(case_dir: str | os.PathLike, file_patterns=None, descriptions=None, register: bool = False):
    """The four series of a case as the bundle reads them: one (4, X, Y, Z) float32 MetaTensor
    on the reference series' grid (the bundle's preprocessing up to ``ConcatItemsd``: no brain
    mask, no normalisation).

    Args:
        register: rigidly co-register T1, T2 and FLAIR onto T1ce and use T1ce's grid; otherwise
            the series are only resampled onto T1's grid (same space assumed).

    Returns:
        ``(volume, reference, moves)``: the volume, where the grid's series is
        (:class:`medvit.io.cases.SeriesRef`), and per registered series how far registration
        moved it (``{"t2": {"translation_mm": ..., "rotation_deg": ...}, ...}``).

    Raises:
        MedvitError: a missing or ambiguous series, a 2D series, NaN / infinite values.
    """
    options = {"file_patterns": file_patterns, "descriptions": descriptions, "register": bool(register)}
    preprocessing = bundle_component(bundle_dir(), "preprocessing", **options)
    reference = bundle_component(bundle_dir(), "reference_series", **options)
    steps = list(preprocessing.transforms)
    end = next(i for i, step in enumerate(steps) if isinstance(step, ConcatItemsd)) + 1
    with unwrapped_errors():  # MONAI's "applying transform ..." around the real error
        data = Compose(steps[:end])({"image": os.fspath(case_dir)})
    return data["image"], data["series"][reference], data.get("registration", {})


def training_items(dataset_dir: str | os.PathLike, label_pattern: str = "*_seg.nii.gz", file_patterns=None) -> list[dict]:
    """``[{"image": [t1, t1ce, t2, flair], "label": seg}, ...]`` for the NIfTI cases of a dataset.

    Every case folder needs its four series as NIfTI files on one grid and one label map
    matching ``label_pattern`` (BraTS labels 1, 2, 4).

    Raises:
        MedvitError: no usable case; a case with DICOM series or without its label map.
    """
    items = []
    for case in list_cases(dataset_dir):
        refs = find_brats_series(case, file_patterns)
        if any(ref.series_uid for ref in refs.values()):
            raise MedvitError(f"{case.name}: training reads NIfTI cases; convert its DICOM series first")
        labels = sorted(case.glob(label_pattern))
        if len(labels) != 1:
            raise MedvitError(f"{case.name}: expected one label map matching {label_pattern}, found {len(labels)}")
        items.append({"image": [str(ref.path) for ref in refs.values()], "label": str(labels[0]), "case": case.name})
    return items
