"""Metadata dictionaries in MONAI's layout (the keys ``LoadImage`` and ``MetaTensor`` use).

Readers return ``(array, meta)`` like ``monai.data.ImageReader.get_data``: the array has
its spatial axes first (MONAI's (x, y[, z]) order) and, when present, the channel axis
last; ``meta["original_channel_dim"]`` says which (``nan`` for none, ``-1`` for last).
Plain strings are used for the keys so that reading never has to import MONAI.
"""

from __future__ import annotations

import os

import numpy as np

NO_CHANNEL = float("nan")

# medvit's own keys, beside MONAI's, that the CLI and the viewer show.
DISPLAY_KEYS = (
    "kind",
    "modality",
    "series_description",
    "photometric_interpretation",
    "window_center",
    "window_width",
)


def image_meta(
    path: str | os.PathLike,
    kind: str,
    array: np.ndarray,
    affine: np.ndarray,
    channel_last: bool,
    space: str | None = "RAS",
    **extra,
) -> dict:
    """Build the metadata of an image read from ``path``.

    Args:
        path: the file or folder read.
        kind: medvit's name of the reader ("nifti", "dicom-series", "image-stack", "dicom-image", "photo").
        array: the image, spatial axes first, channel axis last when ``channel_last``.
        affine: 4×4 voxel-to-world matrix (RAS millimetres for scans, pixels for photos).
        channel_last: whether the last axis of ``array`` is a channel axis.
        space: the world coordinate system of ``affine``, or None when it is not a patient space.
        extra: further keys (modality, window, ...).
    """
    spatial_shape = array.shape[:-1] if channel_last else array.shape
    meta = {
        "filename_or_obj": os.fspath(path),
        "affine": np.asarray(affine, dtype=np.float64),
        "original_affine": np.asarray(affine, dtype=np.float64).copy(),
        "spatial_shape": np.asarray(spatial_shape),
        "original_channel_dim": -1 if channel_last else NO_CHANNEL,
        "kind": kind,
    }
    if space is not None:
        meta["space"] = space
    meta.update(extra)
    return meta


def spacing_from_affine(affine: np.ndarray, ndim: int) -> np.ndarray:
    """Voxel sizes: the lengths of the first ``ndim`` columns of the affine's linear part.

    MONAI's ``monai.data.utils.affine_to_spacing`` computes the same and serves everything that
    has torch loaded; this numpy copy keeps :func:`medvit.io.read_image` (``medvit info``) free
    of the torch import."""
    return np.sqrt((np.asarray(affine)[:3, :ndim] ** 2).sum(axis=0))


def channel_count(array: np.ndarray, meta: dict) -> int:
    """Number of channels the image will have once made channel-first (1 when none)."""
    return 1 if np.isnan(meta["original_channel_dim"]) else int(array.shape[-1])
