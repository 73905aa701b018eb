"""Reconstructions without learning: zero-filled RSS and CG-SENSE with ACS coil maps."""

from __future__ import annotations

import numpy as np

from medvit.recon.coils import acs_coil_maps, rss
from medvit.recon.fft import fft2c, ifft2c


def zero_filled(kspace, coil_axis: int | None = 0):
    """The challenge's baseline: inverse centred FFT per coil, then root sum of squares.

    Args:
        kspace: complex (..., ky, kx), zero where not sampled, numpy or torch.
        coil_axis: the coil axis; None for single-coil k-space (the magnitude is returned).

    Returns:
        magnitude image (..., ky, kx) without the coil axis.
    """
    images = ifft2c(kspace)
    return abs(images) if coil_axis is None else rss(images, axis=coil_axis)


def sense(
    kspace: np.ndarray,
    mask: np.ndarray,
    coil_maps: np.ndarray | None = None,
    iterations: int = 10,
    regularization: float = 0.0,
) -> np.ndarray:
    """CG-SENSE: the image whose coil k-spaces best match the sampled lines (Pruessmann 2001).

    Solves ``(Aᴴ A + λ I) x = Aᴴ y`` with ``A = M · F · S`` (coil maps S, centred FFT F,
    line mask M) by conjugate gradients from x = 0; stopping after a few iterations
    regularises, as usual for CG-SENSE. With RSS-normalised maps its magnitude is on the
    scale of the RSS of the fully sampled coil images (the challenge's reference).

    Args:
        kspace: complex (coils, ky, kx), zero where not sampled.
        mask: bool (ky,).
        coil_maps: complex (coils, ky, kx); estimated from the calibration lines
            (:func:`~medvit.recon.coils.acs_coil_maps`) when None.
        iterations: conjugate-gradient steps.
        regularization: λ, Tikhonov weight (0: none).

    Returns:
        complex64 image (ky, kx).
    """
    kspace = np.asarray(kspace)
    if coil_maps is None:
        coil_maps = acs_coil_maps(kspace, mask)
    line_mask = np.asarray(mask, dtype=bool)[:, None]
    conj_maps = np.conj(coil_maps)

    def normal(x):
        return (conj_maps * ifft2c(line_mask * fft2c(coil_maps * x))).sum(0) + regularization * x

    x = np.zeros(kspace.shape[-2:], dtype=np.complex128)
    residual = (conj_maps * ifft2c(line_mask * kspace)).sum(0)
    direction = residual.copy()
    energy = np.vdot(residual, residual).real
    for _ in range(iterations):
        if energy == 0:
            break
        step_image = normal(direction)
        alpha = energy / np.vdot(direction, step_image).real
        x += alpha * direction
        residual -= alpha * step_image
        new_energy = np.vdot(residual, residual).real
        direction = residual + (new_energy / energy) * direction
        energy = new_energy
    return x.astype(np.complex64)
