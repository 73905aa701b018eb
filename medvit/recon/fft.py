"""Centred, orthonormal 2-D Fourier transforms over the last two axes, for numpy or torch.

"Centred": k-space and image have their origin in the middle of the array (index n // 2),
as scanners and the CMRxRecon / fastMRI files store them, so the transform is
``fftshift ∘ FFT ∘ ifftshift``. "Orthonormal" (``norm="ortho"``): energy is kept, so
k-space and image noise have the same scale and ``ifft2c(fft2c(x)) == x``.

The shift order is fastMRI's (``fftshift(ifft(ifftshift(k)))``), which inverts exactly for
odd sizes too; the challenge's Python snippet shifts the other way round, which agrees for
the even sizes of its data.
"""

from __future__ import annotations

import numpy as np

AXES = (-2, -1)


def _is_numpy(data) -> bool:
    return isinstance(data, np.ndarray)


def fft2c(data):
    """Centred orthonormal 2-D FFT: image → k-space.

    Args:
        data: complex (or real) array or tensor (..., H, W); numpy in, numpy out; torch
            in, torch out (a complex tensor, not fastMRI's trailing size-2 axis).

    Returns:
        complex k-space of the same shape.
    """
    if _is_numpy(data):
        return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(data, axes=AXES), norm="ortho"), axes=AXES)
    import torch

    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(data, dim=AXES), norm="ortho"), dim=AXES)


def ifft2c(data):
    """Centred orthonormal 2-D inverse FFT: k-space → image. Shapes and types as :func:`fft2c`."""
    if _is_numpy(data):
        return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(data, axes=AXES), norm="ortho"), axes=AXES)
    import torch

    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(data, dim=AXES), norm="ortho"), dim=AXES)

