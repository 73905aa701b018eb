"""Coil combination: root sum of squares, and coil maps estimated from the calibration lines."""

from __future__ import annotations

import numpy as np

from medvit.recon.fft import _is_numpy, ifft2c
from medvit.recon.masks import calibration_lines


def rss(data, axis: int = 0, keepdims: bool = False):
    """Root sum of squares over the coil axis: ``sqrt(sum |x|²)``; medvit's one RSS (baselines,
    E2E-VarNet's output and coil-map normalisation, phantoms).

    Args:
        data: complex or real coil images, numpy or torch, coils along ``axis``.
        axis: the coil axis.
        keepdims: keep ``axis`` with length 1 (to normalise coil maps by their RSS).

    Returns:
        real magnitude image with ``axis`` removed (same library as the input).
    """
    if _is_numpy(data):
        return np.sqrt(np.sum(np.abs(data) ** 2, axis=axis, keepdims=keepdims))
    # |x|² as re² + im² (no square root and square again): fastMRI's rss_complex, which the VarNet matches
    squared = data.real.square() + data.imag.square() if data.is_complex() else data.square()
    return squared.sum(axis, keepdim=keepdims).sqrt()


def _centred_hann(length: int, width: int) -> np.ndarray:
    """A Hann window of ``width`` non-zero samples centred at ``length // 2``, zero elsewhere."""
    width = int(min(max(width, 1), length))
    window = np.zeros(length)
    start = length // 2 - width // 2
    window[start : start + width] = np.hanning(width + 2)[1:-1]  # no zero end points
    return window


def acs_coil_maps(kspace: np.ndarray, mask: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Coil sensitivity maps from the fully sampled calibration (ACS) lines.

    The low-resolution method: keep only the calibration block of ky (and as many central
    kx samples, relative to the matrix, so the resolution is the same both ways), taper it
    with a Hann window against ringing, transform, and divide each coil image by the RSS of
    all of them. The maps are smooth, their RSS is 1 inside the object, and they carry each
    coil's phase. Simpler than ESPIRiT (which the challenge's MATLAB SENSE demo used), and
    enough for a SENSE baseline.

    Args:
        kspace: complex (coils, ky, kx), zero where not sampled.
        mask: bool (ky,), the sampled lines; its centre block is the calibration region.
        eps: floor of the RSS, relative to its maximum (keeps the background finite).

    Returns:
        complex64 (coils, ky, kx).
    """
    lines = calibration_lines(mask)
    num_ky, num_kx = kspace.shape[-2:]
    width_ky = lines.stop - lines.start
    window_ky = np.zeros(num_ky)
    window_ky[lines] = np.hanning(width_ky + 2)[1:-1]
    window_kx = _centred_hann(num_kx, round(width_ky * num_kx / num_ky))
    low = ifft2c(kspace * np.outer(window_ky, window_kx))
    norm = rss(low, axis=0)
    return (low / np.maximum(norm, eps * norm.max())).astype(np.complex64)
