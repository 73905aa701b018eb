"""Synthetic BraTS-like cases: four MRI contrasts with a tumour, on real brain anatomy.

The anatomy is the MNI152 template's grey / white matter / CSF maps; a tumour is grown
at a seeded random place in white matter as a noisy ellipsoid with a necrotic core
(label 1), an enhancing rim (label 4) and surrounding oedema (label 2), so the BraTS
regions nest as they must: ET ⊂ TC = {1, 4} ⊂ WT = {1, 2, 4}. Each contrast gives every
tissue the relative brightness it has on that sequence (e.g. enhancement only on T1ce,
oedema bright on FLAIR, CSF dark on FLAIR), then a smooth bias field and noise.

Nothing here is a real patient: it exists so pipelines run end to end offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.uid import generate_uid
from scipy import ndimage

from medvit.brats.labels import ED as LABEL_OEDEMA
from medvit.brats.labels import ET_BRATS21 as LABEL_ENHANCING
from medvit.brats.labels import NCR as LABEL_NECROSIS
from medvit.brats.series import BRATS_SERIES as MODALITIES  # BraTS channel order
from medvit.data.samples import mni152
from medvit.data.synthetic_dicom import write_mr_series
from medvit.io.writers import save_nifti

TISSUES = ("csf", "gm", "wm", "necrosis", "enhancing", "oedema")
# Relative intensity of each tissue (columns as TISSUES) on each sequence (rows as MODALITIES).
CONTRAST = np.array(
    [
        [0.25, 0.55, 0.80, 0.30, 0.60, 0.50],  # T1
        [0.25, 0.55, 0.80, 0.30, 1.20, 0.50],  # T1ce: enhancing rim lights up
        [1.00, 0.65, 0.45, 0.90, 0.70, 0.85],  # T2
        [0.15, 0.65, 0.50, 0.55, 0.75, 1.00],  # FLAIR: CSF suppressed, oedema brightest
    ],
    dtype=np.float32,
)
INTENSITY_SCALE = 1000.0


def brain_tissues(spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """CSF / GM / WM probability maps of the MNI152 template, resampled to ``spacing`` mm.

    Returns:
        ``(tissues, affine)``: tissues of shape (3, X, Y, Z) float32 in [0, 1] (CSF, GM,
        WM; zero outside the brain) and the 4×4 RAS affine of that grid.
    """
    t1_img = nib.load(mni152("t1"))
    tissues = _template_tissues(np.s_[...])
    affine = t1_img.affine.copy()
    if spacing != 1.0:
        zoom = 1.0 / spacing
        tissues = np.stack([ndimage.zoom(t, zoom, order=1) for t in tissues]).clip(0, 1)
        affine[:3, :3] = affine[:3, :3] * spacing
    return tissues.astype(np.float32), affine


def _template_tissues(index) -> np.ndarray:
    """CSF / GM / WM of the MNI152 template at ``index`` (e.g. ``np.s_[..., 90]``), float32 (3, ...).

    CSF is what the brain (the T1's support, holes filled) holds besides GM and WM.
    """
    t1, gm, wm = (np.asarray(nib.load(mni152(kind)).dataobj[index], dtype=np.float32) for kind in ("t1", "gm", "wm"))
    brain = ndimage.binary_fill_holes(t1 > 0)
    csf = np.clip(brain - gm / 255.0 - wm / 255.0, 0.0, 1.0)
    return np.stack([csf, gm / 255.0, wm / 255.0])


def axial_tissue_slices(z_indices) -> np.ndarray:
    """CSF / GM / WM of a few axial slices of the MNI152 template (1 mm), read slice by slice.

    Returns:
        float32 (len(z_indices), 3, 197, 233): per slice, the maps in [0, 1].
    """
    return np.stack([_template_tissues(np.s_[:, :, int(z)]) for z in z_indices])


def grow_tumour(tissues: np.ndarray, spacing: float, rng: np.random.Generator, radius_mm: float = 18.0) -> np.ndarray:
    """A BraTS label map (0, 1 necrosis, 2 oedema, 4 enhancing) grown in white matter.

    Args:
        tissues: (3, X, Y, Z) CSF / GM / WM probabilities.
        spacing: voxel size in mm.
        rng: random generator (position, shape, irregularity).
        radius_mm: typical radius of the tumour core.

    Returns:
        uint8 array of shape (X, Y, Z); every label is inside the brain.
    """
    brain = tissues.sum(0) > 0.5
    depth_mm = ndimage.distance_transform_edt(brain) * spacing
    candidates = np.argwhere((tissues[2] > 0.6) & (depth_mm > radius_mm * 1.6))
    centre = candidates[rng.integers(len(candidates))] * spacing
    axes = radius_mm * rng.uniform(0.75, 1.25, size=3)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    grid = np.stack(np.meshgrid(*[np.arange(n) * spacing for n in brain.shape], indexing="ij"), axis=-1)
    local = (grid - centre) @ rotation
    radius = np.sqrt(((local / axes) ** 2).sum(-1))
    # low-frequency noise makes the borders irregular, as real lesions are
    wobble = ndimage.gaussian_filter(rng.normal(size=brain.shape), sigma=6.0 / spacing)
    radius = radius * (1.0 + 0.6 * wobble / (np.abs(wobble).max() + 1e-6))
    labels = np.zeros(brain.shape, np.uint8)
    labels[(radius < 1.9) & brain & (tissues[0] < 0.5)] = LABEL_OEDEMA
    labels[radius < 1.0] = LABEL_ENHANCING
    labels[radius < 0.65] = LABEL_NECROSIS
    labels[~brain] = 0
    return labels


def brats_like_case(seed: int = 0, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic case: four contrasts and the BraTS label map.

    Args:
        seed: makes the case repeatable; different seeds move and reshape the tumour.
        spacing: isotropic voxel size in mm (1.0 gives the template's 197×233×189 grid).

    Returns:
        ``(image, labels, affine)``: image (4, X, Y, Z) float32 in MODALITIES order,
        zero outside the brain (skull-stripped, as BraTS); labels (X, Y, Z) uint8 in
        {0, 1, 2, 4}; the RAS affine.
    """
    rng = np.random.default_rng(seed)
    tissues, affine = brain_tissues(spacing)
    labels = grow_tumour(tissues, spacing, rng)
    lesion = np.stack([labels == LABEL_NECROSIS, labels == LABEL_ENHANCING, labels == LABEL_OEDEMA]).astype(np.float32)
    healthy = tissues * (1.0 - lesion.sum(0, keepdims=True))
    fractions = np.concatenate([healthy, lesion])  # (6, X, Y, Z) as TISSUES
    image = np.einsum("mt,txyz->mxyz", CONTRAST, fractions)
    brain = tissues.sum(0) > 0.05
    for channel in image:
        bias = ndimage.gaussian_filter(rng.normal(size=channel.shape), sigma=25.0 / spacing)
        bias = 1.0 + 0.1 * bias / (np.abs(bias).max() + 1e-6)
        channel *= bias
        channel += rng.normal(scale=0.02, size=channel.shape)
        channel[~brain] = 0.0
    return (np.clip(image, 0, None) * INTENSITY_SCALE).astype(np.float32), labels, affine


def write_brats_case(
    out_dir: str | os.PathLike, case_id: str = "synthetic_000", seed: int = 0, spacing: float = 1.0
) -> dict[str, Path]:
    """Write a synthetic case in BraTS 2021 file naming (``{case}_{t1,t1ce,t2,flair,seg}.nii.gz``).

    Returns:
        paths by key: "t1", "t1ce", "t2", "flair", "seg".
    """
    image, labels, affine = brats_like_case(seed, spacing)
    out = Path(out_dir) / case_id
    paths = {}
    for name, channel in zip(MODALITIES, image):
        paths[name] = save_nifti(channel, out / f"{case_id}_{name}.nii.gz", affine=affine, channel_dim=None)
    paths["seg"] = save_nifti(labels, out / f"{case_id}_seg.nii.gz", affine=affine, channel_dim=None)
    return paths


def write_brats_dicom_case(out_dir: str | os.PathLike, case_id: str = "synthetic_dicom", seed: int = 0,
                           spacing: float = 1.0) -> dict[str, Path]:
    """A synthetic BraTS-like case as four DICOM MR series in one study, described as a scanner
    would ("T1 AX", "T1 AX POST GD", "T2 TSE AX", "AX FLAIR"), plus its reference labels as NIfTI.

    Returns:
        paths by key: "case" (the case folder), "t1" ... "flair" (series folders), "seg".
    """
    image, labels, affine = brats_like_case(seed, spacing)
    case = Path(out_dir) / case_id
    study_uid, frame_uid = generate_uid(), generate_uid()
    descriptions = {"t1": "T1 AX", "t1ce": "T1 AX POST GD", "t2": "T2 TSE AX", "flair": "AX FLAIR"}
    paths = {"case": case}
    for number, (name, channel) in enumerate(zip(MODALITIES, image), start=1):
        paths[name] = write_mr_series(channel, affine, case / f"series_{number}", descriptions[name],
                                      patient_id=case_id, study_uid=study_uid, frame_of_reference_uid=frame_uid,
                                      series_number=number)
    paths["seg"] = save_nifti(labels, case / f"{case_id}_seg.nii.gz", affine=affine, channel_dim=None)
    return paths
