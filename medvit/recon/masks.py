"""Cartesian undersampling masks over phase-encoding (ky) lines: CMRxRecon's and fastMRI's.

Every mask here is a boolean vector over ky; :func:`apply_mask` broadcasts it over the
other axes (coils, slices, frames and the fully sampled readout kx).
"""

from __future__ import annotations

import numpy as np

CMRX_ACCELERATIONS = (4, 8, 10)
CMRX_ACS_LINES = 24


def _check(num_lines: int, acceleration, low_lines: int) -> None:
    if num_lines < 1:
        raise ValueError(f"num_lines must be positive, got {num_lines}")
    if acceleration < 1:
        raise ValueError(f"acceleration must be at least 1, got {acceleration}")
    if not 0 <= low_lines <= num_lines:
        raise ValueError(f"{low_lines} centre lines do not fit in {num_lines} lines")


def cmrx_mask(num_ky: int, acceleration: int, acs_lines: int = CMRX_ACS_LINES) -> np.ndarray:
    """The CMRxRecon 2023 mask: ``acs_lines`` centred calibration lines plus every R-th line.

    As the challenge's ``mySubsampling.m``: ``zpad(ones(sx, ncalib), [sx, sy])`` (MATLAB's
    centring: first ACS line at ``num_ky // 2 - acs_lines // 2``) and ``mask(:, 1:R:end) = 1``
    (every R-th line starting at the first, 0-based line 0).

    Args:
        num_ky: number of phase-encoding lines.
        acceleration: R, the step between sampled outer lines (4, 8 or 10 in the challenge).
        acs_lines: fully sampled calibration lines at the centre.

    Returns:
        bool (num_ky,).
    """
    _check(num_ky, acceleration, acs_lines)
    mask = np.zeros(num_ky, dtype=bool)
    mask[:: int(acceleration)] = True
    start = num_ky // 2 - acs_lines // 2
    mask[start : start + acs_lines] = True
    return mask


def fastmri_center_lines(num_cols: int, num_low_frequencies: int) -> slice:
    """fastMRI's centre block: ``num_low_frequencies`` lines from ``(num_cols - n + 1) // 2``."""
    start = (num_cols - num_low_frequencies + 1) // 2
    return slice(start, start + num_low_frequencies)


def _fastmri_center(num_cols: int, acceleration, center_fraction: float) -> tuple[np.ndarray, int]:
    num_low = round(num_cols * center_fraction)  # Python's round, as fastMRI
    _check(num_cols, acceleration, num_low)
    mask = np.zeros(num_cols, dtype=bool)
    mask[fastmri_center_lines(num_cols, num_low)] = True
    return mask, num_low


def equispaced_mask(
    num_cols: int, acceleration: int, center_fraction: float = 0.08, offset: int | None = None, seed: int | None = None
) -> np.ndarray:
    """fastMRI's ``EquiSpacedMaskFunc``: a centre block plus every ``acceleration``-th line from ``offset``.

    With ``offset=None`` the offset is drawn as fastMRI draws it,
    ``RandomState(seed).randint(0, round(acceleration))``, so ``equispaced_mask(n, R, cf,
    seed=s)`` equals ``EquiSpacedMaskFunc([cf], [R])(shape, seed=s)`` over the columns.

    Returns:
        bool (num_cols,); the true acceleration is below ``acceleration`` (the centre adds lines).
    """
    mask, _ = _fastmri_center(num_cols, acceleration, center_fraction)
    if offset is None:
        offset = np.random.RandomState(seed).randint(0, high=round(acceleration))
    mask[offset :: int(acceleration)] = True
    return mask


def random_mask(num_cols: int, acceleration: float, center_fraction: float = 0.08, seed: int | None = None) -> np.ndarray:
    """fastMRI's ``RandomMaskFunc``: a centre block plus outer lines drawn independently.

    Each outer line is kept with probability ``(N / R - N_low) / (N - N_low)``, so that
    N / R lines are expected in all; the draws are ``RandomState(seed).uniform(size=N)``,
    as fastMRI's (equal to ``RandomMaskFunc([cf], [R])(shape, seed=s)`` over the columns).

    Returns:
        bool (num_cols,).
    """
    mask, num_low = _fastmri_center(num_cols, acceleration, center_fraction)
    probability = (num_cols / acceleration - num_low) / (num_cols - num_low) if num_cols > num_low else 0.0
    return mask | (np.random.RandomState(seed).uniform(size=num_cols) < probability)


def apply_mask(kspace, mask, axis: int = -2):
    """Zero the k-space lines that ``mask`` does not sample.

    Args:
        kspace: complex array or tensor; ky along ``axis`` (-2 for CMRxRecon's ``[..., ky, kx]``,
            -1 for fastMRI's ``[..., H, W]`` with W the phase-encoding axis).
        mask: bool (num_ky,).

    Returns:
        masked k-space, same shape and library.
    """
    shape = [1] * kspace.ndim
    shape[axis] = -1
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1 or mask.shape[0] != kspace.shape[axis]:
        raise ValueError(f"mask of shape {mask.shape} does not fit k-space axis {axis} of {tuple(kspace.shape)}")
    if isinstance(kspace, np.ndarray):
        return kspace * mask.reshape(shape)
    import torch

    return kspace * torch.from_numpy(mask.reshape(shape)).to(kspace.device)


def calibration_lines(mask: np.ndarray) -> slice:
    """The contiguous block of sampled lines around the centre line ``n // 2`` (the ACS block).

    Raises:
        ValueError: the centre line is not sampled (no calibration region to estimate coils from).
    """
    mask = np.asarray(mask, dtype=bool)
    centre = mask.shape[0] // 2
    if not mask[centre]:
        raise ValueError("the mask does not sample the centre of k-space: no calibration lines")
    gaps = np.flatnonzero(~mask)
    start = int(gaps[gaps < centre].max()) + 1 if (gaps < centre).any() else 0
    stop = int(gaps[gaps > centre].min()) if (gaps > centre).any() else mask.shape[0]
    return slice(start, stop)
