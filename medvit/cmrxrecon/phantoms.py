"""Synthetic CMRxRecon data: multi-coil k-space of moving or weighted brain slices, in the challenge's layout.

The anatomy is real: axial slices of the MNI152 template's CSF / grey / white matter maps
(there is no cardiac template in any installed package). Each file kind gets the contrast
its sequence would give:

- ``cine_sax`` / ``cine_lax``: bSSFP-like (fluid brightest), frames moving with a smooth
  periodic contraction about the centre, like a beating ventricle;
- ``T1map``: MOLLI-like inversion recovery ``|1 - 2 exp(-TI/T1)|`` at increasing TIs;
- ``T2map``: T2-prepared ``exp(-TE/T2)`` at increasing TEs.

The object fills half the readout (kx) field of view, as the challenge's 2× oversampled
readout does, and carries a smooth phase. Coil k-space is ``fft2c(coil map × image)`` plus
complex Gaussian noise; undersampled files hold that k-space times the exact challenge mask
(:func:`medvit.recon.cmrx_mask`), in MATLAB v7.3 files laid out as the challenge's. Single-coil
k-space is the transform of the coil-combined image (coil RSS × image).

Nothing here is a real patient: it exists so the reconstruction path runs end to end offline.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from medvit.brats.synthetic import axial_tissue_slices
from medvit.cmrxrecon.layout import case_dir, kspace_variable, mask_path, mask_variable
from medvit.io.atomic import atomic_write_text
from medvit.io.matlab import write_mat_v73
from medvit.recon import apply_mask, cmrx_mask, fft2c
from medvit.recon.coils import rss

# Per tissue (CSF, GM, WM): proton density, T1 and T2 (ms) at 3 T, roughly.
PROTON_DENSITY = np.array([1.0, 0.8, 0.7])
T1_MS = np.array([4000.0, 1400.0, 850.0])
T2_MS = np.array([1500.0, 100.0, 70.0])
CONTRAST_KINDS = ("cine_sax", "cine_lax", "T1map", "T2map")
# MNI152 axial slices (of 189) through the ventricles, where the anatomy is richest
Z_RANGE = (60, 110)


def coil_maps(num_coils: int, num_ky: int, num_kx: int, seed: int = 0) -> np.ndarray:
    """Smooth complex coil sensitivities around the object, scaled so that their RSS peaks at 1.

    Returns:
        complex64 (num_coils, num_ky, num_kx).
    """
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(-1, 1, num_ky), np.linspace(-1, 1, num_kx), indexing="ij")
    x = x * 2.0  # the object spans half the readout: coils sit around it, not around the whole FOV
    angles = 2 * np.pi * (np.arange(num_coils) + rng.uniform(-0.2, 0.2, num_coils)) / num_coils
    maps = []
    for angle in angles:
        cy, cx = 1.3 * np.sin(angle), 1.3 * np.cos(angle)
        magnitude = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 1.2)
        phase = angle + 0.4 * (np.cos(angle) * y - np.sin(angle) * x) + rng.uniform(-np.pi, np.pi)
        maps.append(magnitude * np.exp(1j * phase))
    maps = np.asarray(maps)
    return (maps / rss(maps, 0).max()).astype(np.complex64)


def _weightings(kind: str, num_frames: int) -> np.ndarray | None:
    """Inversion times (T1map) or echo times (T2map) in ms; None for cine."""
    if kind == "T1map":
        return np.linspace(100.0, 3500.0, num_frames)
    if kind == "T2map":
        return np.linspace(0.0, 60.0, num_frames)
    return None


def _frame_contrast(tissues: np.ndarray, kind: str, weighting: float | None) -> np.ndarray:
    """Signal of one frame from tissue fractions (3, ...) as ``kind``'s sequence gives it."""
    if kind == "T1map":
        per_tissue = PROTON_DENSITY * np.abs(1 - 2 * np.exp(-weighting / T1_MS))
    elif kind == "T2map":
        per_tissue = PROTON_DENSITY * np.exp(-weighting / T2_MS)
    else:  # bSSFP: signal ~ PD * sqrt(T2 / T1), fluid brightest
        per_tissue = PROTON_DENSITY * np.sqrt(T2_MS / T1_MS)
    return np.tensordot(per_tissue / per_tissue.max(), tissues, axes=1)


def _contract(image: np.ndarray, amount: float) -> np.ndarray:
    """Pull the centre of a 2-D image inwards by up to ``amount`` (a smooth radial warp)."""
    ny, nx = image.shape
    y, x = np.meshgrid(np.arange(ny) - ny / 2, np.arange(nx) - nx / 2, indexing="ij")
    sigma = 0.25 * min(ny, nx)
    scale = 1.0 + amount * np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return ndimage.map_coordinates(image, [y * scale + ny / 2, x * scale + nx / 2], order=1, mode="constant")


def synthetic_images(
    kind: str = "cine_sax", num_ky: int = 96, num_kx: int = 128, num_slices: int = 3, num_frames: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Complex images of one synthetic case, h5py order.

    Args:
        kind: one of ``cine_sax``, ``cine_lax``, ``T1map``, ``T2map``.
        num_ky, num_kx: matrix (phase encoding, readout); the object fills half of kx.
        num_slices, num_frames: slices, and frames (cine) or weightings (mapping).
        seed: chooses the template slices, a small rotation, and the phase.

    Returns:
        ``(images, weightings_ms)``: complex64 (t, z, ky, kx) with magnitude in [0, 1], and
        the TIs / TEs in ms of mapping files (None for cine).
    """
    if kind not in CONTRAST_KINDS:
        raise ValueError(f"unknown CMRxRecon file kind '{kind}'; known: {', '.join(CONTRAST_KINDS)}")
    rng = np.random.default_rng(seed)
    low, high = Z_RANGE
    start = rng.integers(low, high - 2 * num_slices)
    tissues = axial_tissue_slices(start + 2 * np.arange(num_slices))  # (z, 3, 197, 233)
    angle = rng.uniform(-15, 15)
    tissues = ndimage.rotate(tissues, angle, axes=(2, 3), reshape=False, order=1).clip(0, 1)
    # template (x: left-right, y: back-front) onto (ky, kx/2): the object spans half the readout
    zoom = (1, 1, num_ky / tissues.shape[2], (num_kx // 2) / tissues.shape[3])
    tissues = ndimage.zoom(tissues, zoom, order=1).clip(0, 1)
    pad = num_kx - tissues.shape[3]
    tissues = np.pad(tissues, [(0, 0), (0, 0), (0, num_ky - tissues.shape[2]), (pad // 2, pad - pad // 2)])
    weightings = _weightings(kind, num_frames)
    images = np.empty((num_frames, num_slices, num_ky, num_kx), np.float32)
    for t in range(num_frames):
        frame = _frame_contrast(tissues.transpose(1, 0, 2, 3), kind, None if weightings is None else weightings[t])
        if weightings is None:  # cine: contract and relax once over the frames
            amount = 0.12 * np.sin(np.pi * t / num_frames) ** 2
            frame = np.stack([_contract(image, amount) for image in frame])
        images[t] = frame
    y, x = np.meshgrid(np.linspace(-1, 1, num_ky), np.linspace(-1, 1, num_kx), indexing="ij")
    phase = rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y + rng.uniform(-np.pi, np.pi)
    return (images / images.max() * np.exp(1j * phase)).astype(np.complex64), weightings


def synthetic_kspace(
    kind: str = "cine_sax",
    num_ky: int = 96,
    num_kx: int = 128,
    num_coils: int = 4,
    num_slices: int = 3,
    num_frames: int = 4,
    noise: float = 0.002,
    seed: int = 0,
) -> dict:
    """Fully sampled k-space of one synthetic case (see :func:`synthetic_images` for the arguments).

    Args:
        num_coils: receive coils; 0 for single-coil k-space.
        noise: standard deviation of the complex k-space noise (image magnitudes are ≤ 1).

    Returns:
        dict with ``kspace`` complex64 ``[t, z, coil, ky, kx]`` (``[t, z, ky, kx]`` for single
        coil), ``images`` (t, z, ky, kx), ``coil_maps`` (coil, ky, kx) and ``weightings_ms``.
    """
    images, weightings = synthetic_images(kind, num_ky, num_kx, num_slices, num_frames, seed)
    rng = np.random.default_rng(seed + 1)
    maps = coil_maps(max(num_coils, 1), num_ky, num_kx, seed)
    if num_coils:
        coil_images = images[:, :, None] * maps
    else:  # single coil: the coil-combined image
        coil_images = images * rss(maps, 0)
    kspace = fft2c(coil_images)
    kspace += noise * (rng.normal(size=kspace.shape) + 1j * rng.normal(size=kspace.shape))
    return {"kspace": kspace.astype(np.complex64), "images": images, "coil_maps": maps, "weightings_ms": weightings}


def write_cmrx_tree(
    root: str | os.PathLike,
    cases: int | list[str] = 1,
    kinds: tuple[str, ...] = ("cine_sax",),
    accelerations: tuple[int, ...] = (4, 8, 10),
    split: str = "TrainingSet",
    single_coil: bool = False,
    seed: int = 0,
    **sizes,
) -> list[Path]:
    """Write a small CMRxRecon-layout tree of synthetic cases.

    For each case ``P001, ...`` and kind: ``FullSample/P###/{kind}.mat`` (``kspace_full``)
    and ``AccFactorRR/P###/{kind}.mat`` (``kspace_subRR``, the full k-space times the mask)
    with ``{kind}_mask.mat`` (``maskRR``, ``[ky, kx]``); mapping kinds also get
    ``{kind}.csv`` with the TIs / TEs (one row per weighting: ``index,ms`` — medvit's
    layout, the challenge's CSVs differ between releases).

    Args:
        root: where ``MultiCoil/`` (or ``SingleCoil/``) goes.
        cases: how many cases, or their names.
        kinds: file kinds to write per case.
        accelerations: the AccFactor folders to write.
        split: ``TrainingSet`` or ``ValidationSet`` (which, in the challenge, has no FullSample).
        single_coil: write ``SingleCoil/`` with ``kspace_single_*`` variables instead.
        seed: seed of the first case (each case and kind gets its own).
        sizes: ``num_ky``, ``num_kx``, ``num_coils``, ``num_slices``, ``num_frames``, ``noise``
            for :func:`synthetic_kspace`.

    Returns:
        the written files.
    """
    names = [f"P{i + 1:03d}" for i in range(cases)] if isinstance(cases, int) else list(cases)
    if single_coil:
        sizes["num_coils"] = 0
    written = []
    for case_index, case in enumerate(names):
        for kind_index, kind in enumerate(kinds):
            data = synthetic_kspace(kind, seed=seed + 100 * case_index + kind_index, **sizes)
            kspace, num_ky, num_kx = data["kspace"], *data["kspace"].shape[-2:]
            for acceleration in (None, *accelerations):
                folder = case_dir(root, case, kind, acceleration, split, single_coil)
                variable = kspace_variable(acceleration, single_coil)
                if acceleration is None:
                    written.append(write_mat_v73(folder / f"{kind}.mat", {variable: kspace}))
                else:
                    lines = cmrx_mask(num_ky, acceleration)
                    written.append(write_mat_v73(folder / f"{kind}.mat", {variable: apply_mask(kspace, lines)}))
                    mask = np.repeat(lines[:, None], num_kx, axis=1)  # [ky, kx] as h5py reads (kx, ky)
                    written.append(write_mat_v73(mask_path(folder / f"{kind}.mat"), {mask_variable(acceleration): mask}))
                if data["weightings_ms"] is not None:
                    rows = "".join(f"{i},{ms:g}\n" for i, ms in enumerate(data["weightings_ms"]))
                    written.append(atomic_write_text(folder / f"{kind}.csv", "index,ms\n" + rows))
    return written
