"""Write NIfTI and PNG through MONAI's image writers (the back ends of ``SaveImage``), atomically.

``SaveImage`` names files itself from the input's metadata (folder + postfix); medvit
callers need exact paths and the temp-then-rename guarantee, so the writers are used
directly and the file is moved into place only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.io.atomic import atomic_path


def save_nifti(
    image,
    path: str | os.PathLike,
    affine: np.ndarray | None = None,
    channel_dim: int | None = 0,
    dtype=None,
) -> Path:
    """Write an image to ``path`` (``.nii`` or ``.nii.gz``).

    Args:
        image: array or MetaTensor, channel-first (C, X, Y, Z) by default, or spatial
            only with ``channel_dim=None``. A single channel is written as a 3D volume.
        affine: 4×4 voxel-to-RAS matrix; defaults to the MetaTensor's ``affine``, else identity.
        channel_dim: the channel axis of ``image``, or None.
        dtype: the stored data type (defaults to the input's).
    """
    from monai.data import NibabelWriter

    affine = _affine_of(image, affine)
    writer = NibabelWriter(output_dtype=dtype)
    data = _squeeze_single_channel(image, channel_dim)
    writer.set_data_array(data, channel_dim=None if data is not image else channel_dim, squeeze_end_dims=True)
    writer.set_metadata({"affine": affine, "original_affine": affine}, resample=False)
    with atomic_path(path) as tmp:
        writer.write(tmp, verbose=False)
    return Path(path)


def save_png(image, path: str | os.PathLike, channel_dim: int | None = 0, scale: int | None = None) -> Path:
    """Write a 2D image (MONAI's (x, y) order) to a PNG file.

    Args:
        image: array or MetaTensor of shape (C, X, Y) with C in {1, 3, 4}, or (X, Y) with
            ``channel_dim=None``; uint8/uint16 are written as they are.
        scale: 255 or 65535 to write float data in [0, 1] as 8- or 16-bit; None keeps values.
    """
    from monai.data import PILWriter

    data = np.asarray(image)
    dtype = data.dtype if scale is None else (np.uint8 if scale == 255 else np.uint16)
    writer = PILWriter(output_dtype=dtype, scale=scale)
    data = _squeeze_single_channel(data, channel_dim)
    writer.set_data_array(data, channel_dim=None if data.ndim == 2 else channel_dim, squeeze_end_dims=True)
    writer.set_metadata({"spatial_shape": data.shape[-2:] if data.ndim == 3 else data.shape}, resample=False)
    with atomic_path(path) as tmp:
        writer.write(tmp, verbose=False, format="PNG")
    return Path(path)


def _affine_of(image, affine):
    if affine is not None:
        return np.asarray(affine, dtype=np.float64)
    meta_affine = getattr(image, "affine", None)
    return np.eye(4) if meta_affine is None else np.asarray(meta_affine, dtype=np.float64)


def _squeeze_single_channel(image, channel_dim):
    if channel_dim is not None and image.shape[channel_dim] == 1:
        return np.take(np.asarray(image), 0, axis=channel_dim)
    return image
