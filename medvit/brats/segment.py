"""One BraTS-style case → tumour label map and volumes: the cohort runner's per-case function.

Four series (T1, T1ce, T2, FLAIR; NIfTI files or DICOM series) → one 4-channel volume on the
first series' grid (MONAI ``ResampleToMatch`` for the others) → non-zero channel-wise
normalisation → Swin UNETR by sliding windows → sigmoid TC, WT, ET → BraTS label map
(1 NCR, 2 ED, 4 or 3 ET) written as ``<output_dir>/<case>/<case>_seg.nii.gz`` on the input
grid, and a row of region volumes (mL) and QC flags.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import numpy as np

import medvit.io.monai_reader  # noqa: F401 - quiets MONAI's GPU DICOM reader before configs build LoadImaged
from medvit.errors import MedvitError
from medvit.brats.series import find_brats_series
from medvit.brats.qc import qc_flags
from medvit.brats.labels import REGION_LABELS

VOLUME_COLUMNS = [f"{region}_ml" for region in REGION_LABELS]
CASE_COLUMNS = [*VOLUME_COLUMNS, "qc_flags", "spacing_mm", "shape", "segmentation", "dicom_seg", "brain_mask", "weights"]
# DICOM SEG segments: SNOMED CT category "Morphologically abnormal structure" and the tissue type
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")


def seg_segments(et_label: int):
    """The three BraTS sub-regions as DICOM SEG segment definitions."""
    from medvit.io.dicom_seg import SegmentDefinition

    return [
        SegmentDefinition(1, "Necrosis / non-enhancing tumour core", _ABNORMAL, ("6574001", "SCT", "Necrosis")),
        SegmentDefinition(2, "Peritumoral edema", _ABNORMAL, ("79654002", "SCT", "Edema")),
        SegmentDefinition(et_label, "Enhancing tumor", _ABNORMAL, ("108369006", "SCT", "Neoplasm")),
    ]


def load_case(case_dir: str | os.PathLike, file_patterns=None, descriptions=None, register: bool = False):
    """The four series of a case as one (4, X, Y, Z) float32 MetaTensor on one series' grid.

    Args:
        register: rigidly co-register T1, T2 and FLAIR onto T1ce (mutual information) and use
            T1ce's grid; otherwise the series are only resampled onto T1's grid (same space assumed).

    Returns:
        ``(volume, reference, moves)``: the volume, where the grid's series is
        (:class:`medvit.io.cases.SeriesRef`), and per registered series how far registration
        moved it (``{"t2": {"translation_mm": ..., "rotation_deg": ...}, ...}``).

    Raises:
        MedvitError: a missing or ambiguous series, a 2D series, NaN / infinite values.
    """
    import torch
    from monai.transforms import ResampleToMatch

    from medvit.io import load_image

    case = Path(case_dir)
    refs = find_brats_series(case, file_patterns, descriptions)
    images = {}
    for name, ref in refs.items():
        image = load_image(ref.path, ref.series_uid)
        if image.ndim != 4 or image.shape[0] != 1:
            raise MedvitError(f"{case.name}: the {name} series {ref} is not a single 3D volume (shape {tuple(image.shape)})")
        if not torch.isfinite(image).all():
            raise MedvitError(f"{case.name}: the {name} series {ref} contains NaN or infinite values")
        images[name] = image
    grid = "t1ce" if register else "t1"
    reference = images[grid]
    resample = ResampleToMatch(mode="bilinear", padding_mode="zeros")
    channels, moves = [], {}
    for name, image in images.items():
        if name == grid:
            channels.append(image.as_tensor())
        elif register:
            from medvit.brats.registration import rigid_register

            moved, info = rigid_register(image[0].numpy(), np.asarray(image.affine), reference[0].numpy(),
                                         np.asarray(reference.affine))
            channels.append(torch.from_numpy(moved)[None])
            moves[name] = info
        elif image.shape == reference.shape and np.allclose(image.affine, reference.affine, atol=1e-3):
            channels.append(image.as_tensor())
        else:
            channels.append(resample(image, img_dst=reference).as_tensor())
    volume = reference.clone().set_array(torch.cat(channels, dim=0))
    return volume, refs[grid], moves


def load_brain_mask(case_dir: str | os.PathLike, pattern: str, volume):
    """The case's brain mask (a file matching ``pattern`` in the case folder) on ``volume``'s grid.

    Args:
        case_dir: the case folder.
        pattern: glob for the mask file (NIfTI, or anything :func:`medvit.io.load_image` reads);
            non-zero voxels are brain.
        volume: (C, X, Y, Z) MetaTensor whose grid the mask is resampled onto (nearest neighbour).

    Returns:
        ``(mask, path)``: a (X, Y, Z) bool array, or ``(None, None)`` when no file matches.

    Raises:
        MedvitError: several files match, the mask is not 3D, or it is empty.
    """
    from monai.transforms import ResampleToMatch

    from medvit.io import load_image

    case = Path(case_dir)
    files = sorted(p for p in case.glob(pattern) if p.is_file())
    if not files:
        return None, None
    if len(files) > 1:
        raise MedvitError(f"{case.name}: several brain masks match {pattern}: {', '.join(p.name for p in files)}")
    mask = load_image(files[0])
    if mask.ndim != 4 or mask.shape[0] != 1:
        raise MedvitError(f"{case.name}: the brain mask {files[0].name} is not a 3D volume (shape {tuple(mask.shape)})")
    if mask.shape[1:] != volume.shape[1:] or not np.allclose(mask.affine, volume.affine, atol=1e-3):
        mask = ResampleToMatch(mode="nearest", padding_mode="zeros")(mask, img_dst=volume)
    mask = np.asarray(mask[0]) > 0
    if not mask.any():
        raise MedvitError(f"{case.name}: the brain mask {files[0].name} is empty on the series' grid")
    return mask, files[0]


@functools.lru_cache(maxsize=2)
def _network(network_json: str, checkpoint: str | None, legacy_merging: bool, device: str):
    from monai.networks.nets import SwinUNETR

    from medvit.nets import load_state_dict
    from medvit.brats import LegacyPatchMerging

    arguments = json.loads(network_json)
    network = SwinUNETR(in_channels=4, out_channels=3, downsample=LegacyPatchMerging if legacy_merging else "merging",
                        **arguments)
    if checkpoint:
        load_state_dict(network, checkpoint, map_location=device)
    return network.to(device).eval()


def segment_brats_case(
    case_dir: str,
    *,
    output_dir: str,
    network: dict | None = None,
    checkpoint: str | None = None,
    legacy_merging: bool = True,
    roi_size: tuple[int, int, int] = (128, 128, 128),
    overlap: float = 0.6,
    sw_batch_size: int = 1,
    et_label: int = 4,
    file_patterns: dict | None = None,
    descriptions: dict | None = None,
    register: bool = False,
    brain_mask_pattern: str | None = "*_brainmask.nii.gz",
    device: str | None = None,
    amp: bool | None = None,
) -> dict:
    """Segment one case (see the module docstring) and return its row.

    Args:
        case_dir: the case folder.
        output_dir: results go to ``<output_dir>/<case>/``.
        network: SwinUNETR keyword arguments besides the channels (e.g. ``feature_size``).
        checkpoint: weights file; None runs with random weights (tests only: the row says so).
        legacy_merging: MONAI < 1.5 patch merging, as the published BraTS 2021 weights need.
        roi_size, overlap, sw_batch_size: the sliding-window inference.
        et_label: label of enhancing tumour in the output (4 BraTS 2021, 3 BraTS 2023).
        file_patterns, descriptions: how the four series are found (see :mod:`medvit.io.cases`).
        register: rigidly co-register the series onto T1ce first (then outputs are on T1ce's grid).
        brain_mask_pattern: a brain mask in the case folder matching this glob, when there is
            one, skull-strips the series before inference and bounds the labels (None: never).
        device: "cuda" / "cpu"; default CUDA when available.
        amp: mixed precision (float16 on CUDA, bfloat16 on CPU); None: on CUDA only. On CPUs
            with AMX / AVX-512 BF16 it is the fast CPU path (``benchmarks/brats_cpu_speed.py``).
    """
    import torch
    from monai.inferers import SlidingWindowInferer
    from monai.transforms import NormalizeIntensity

    from medvit.io.writers import save_nifti
    from medvit.brats.transforms import brats_label_map

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    case = Path(case_dir)
    volume, reference, moves = load_case(case, file_patterns, descriptions, register)
    brain, mask_path = load_brain_mask(case, brain_mask_pattern, volume) if brain_mask_pattern else (None, None)
    if brain is not None:
        volume = volume * torch.from_numpy(brain)
    spacing = [float(s) for s in np.sqrt((np.asarray(volume.affine)[:3, :3] ** 2).sum(0))]
    flags = qc_flags(volume, spacing, moves)
    image = NormalizeIntensity(nonzero=True, channel_wise=True)(volume.as_tensor())
    model = _network(json.dumps(network or {}, sort_keys=True), checkpoint, bool(legacy_merging), device)
    inferer = SlidingWindowInferer(roi_size=tuple(roi_size), sw_batch_size=sw_batch_size, overlap=overlap)
    device_type = torch.device(device).type
    amp = device_type == "cuda" if amp is None else amp
    with torch.no_grad(), torch.autocast(device_type=device_type, enabled=bool(amp)):
        logits = inferer(image[None].to(device), model)[0].float()
    labels = brats_label_map(torch.sigmoid(logits) > 0.5, et_label)
    if brain is not None:
        labels[~brain] = 0
    target = Path(output_dir) / case.name / f"{case.name}_seg.nii.gz"
    save_nifti(labels, target, affine=np.asarray(volume.affine), channel_dim=None)
    seg_file = ""
    if reference.series_uid:  # DICOM input: a DICOM SEG over the series the labels are on
        from medvit.io.dicom_seg import write_dicom_seg

        seg_path = target.with_name(f"{case.name}_seg.dcm")
        write_dicom_seg(labels, reference.path, reference.series_uid, seg_path, seg_segments(et_label),
                        series_description="Brain tumour (Swin UNETR, medvit)")
        seg_file = os.path.relpath(seg_path, output_dir)
    voxel_ml = math.prod(spacing) / 1000.0
    row = {f"{region}_ml": float(np.isin(labels, codes).sum() * voxel_ml) for region, codes in REGION_LABELS.items()}
    row.update({
        "qc_flags": "; ".join(flags),
        "spacing_mm": "x".join(f"{s:.3g}" for s in spacing),
        "shape": "x".join(str(n) for n in labels.shape),
        "segmentation": os.path.relpath(target, output_dir),
        "dicom_seg": seg_file,
        "brain_mask": mask_path.name if mask_path else "",
        "weights": Path(checkpoint).name if checkpoint else "random (no checkpoint)",
    })
    return row


def run_brats_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 1,
                     scheduler=None, progress: bool = True, resume: bool = True, **options):
    """Segment every case folder under ``dataset_dir``; one row per case in ``<output_dir>/volumes.csv``.

    ``options`` are :func:`segment_brats_case`'s keyword arguments. A case that fails gets an
    error row; the others go on.
    """
    from medvit.batch import run_cohort
    from medvit.batch.ids import checkpoint_provenance
    from medvit.io.cases import list_cases

    settings = {"output_dir": os.fspath(output_dir), **options}
    provenance = checkpoint_provenance(settings, "brats_swin_unetr_segmentation")
    if "roi_size" in settings:
        settings["roi_size"] = [int(v) for v in settings["roi_size"]]
    return run_cohort(list_cases(dataset_dir), segment_brats_case, Path(output_dir) / "volumes.csv", settings,
                      columns=CASE_COLUMNS, workers=workers, scheduler=scheduler, case_id="name",
                      progress=progress, resume=resume, provenance=provenance)


def training_items(dataset_dir: str | os.PathLike, label_pattern: str = "*_seg.nii.gz", file_patterns=None) -> list[dict]:
    """``[{"image": [t1, t1ce, t2, flair], "label": seg}, ...]`` for the NIfTI cases of a dataset.

    Every case folder needs its four series as NIfTI files on one grid and one label map
    matching ``label_pattern`` (BraTS labels 1, 2, 4).

    Raises:
        MedvitError: no usable case; a case with DICOM series or without its label map.
    """
    from medvit.io.cases import list_cases

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
