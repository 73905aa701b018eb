"""Chest X-ray preprocessing for ViT classifiers trained on ChestX-ray14 (medical_mae).

ChestX-ray14 images are 8-bit PNGs, displayed as a radiologist sees them (bone bright). A
hospital's CR / DX DICOM holds modality values, possibly MONOCHROME1 (inverted by
``medvit.io``), with a VOI window saying how to display them; exported PNGs may be 8 or
16 bit. :func:`cxr_display_intensity` brings all of them to display intensities in [0, 1],
:func:`cxr_network_input` letterboxes (keeps the whole chest: resize the long side, pad the
short one, as the paper's Resize 256 -> CenterCrop 224 does on square images) and applies the
paper's normalisation.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import CenterSpatialCrop, Compose, MapTransform, Resize, SpatialPad

from medvit.bundle.workflow import add_to_row
from medvit.errors import MedvitError

CXR_MEAN, CXR_STD = 0.5056, 0.252  # medical_mae's ChestX-ray14 normalisation
RESIZE, CROP = 256, 224  # medical_mae's evaluation: Resize 256, CenterCrop 224
# Smallest shorter side accepted, in pixels: the network's input side. A smaller radiograph would be
# enlarged to fill the input, so the network would see interpolation, not anatomy (ChestX-ray14's
# images are 1024 px, a CR / DX several thousand); a thumbnail or an icon is refused, not classified.
MIN_SIDE = CROP
# Without a VOI window: stretch between these percentiles (robust to burnt-in labels and collimation).
STRETCH_PERCENTILES = (0.5, 99.5)


def check_radiograph_size(shape, min_side: int = MIN_SIDE, source=None) -> None:
    """Refuses a radiograph whose shorter side is below ``min_side`` pixels.

    Args:
        shape: the image's (W, H[, C]) as :func:`medvit.io.read_image` gives it.
        min_side: the smallest accepted shorter side (the network's input size).
        source: the file, named in the message.

    Raises:
        MedvitError: the image is too small for the network.
    """
    width, height = (int(n) for n in shape[:2])
    if min(width, height) < min_side:
        raise MedvitError(f"{source or 'image'}: the radiograph is {width}×{height} px, smaller than the classifier's "
                          f"{min_side}×{min_side} px input (at least {min_side} px on the shorter side are needed)")


def cxr_display_intensity(image: np.ndarray, meta: dict | None = None) -> np.ndarray:
    """Display intensities in [0, 1] of a radiograph read by :func:`medvit.io.read_image`.

    Args:
        image: (W, H) grey or (W, H, 3) colour (converted to grey), as ``read_image`` returns.
        meta: its meta; a DICOM's ``window_center`` / ``window_width`` (the VOI window,
            already mirrored for MONOCHROME1) are applied with DICOM's linear VOI function.
            Integer PNG / JPEG are scaled by their bit depth; otherwise a percentile stretch.

    Returns:
        (W, H) float32 in [0, 1], bright = dense.
    """
    meta = meta or {}
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if array.ndim != 2:
        raise MedvitError(f"{meta.get('filename_or_obj', 'image')}: a chest X-ray must be one 2D image, "
                          f"got shape {array.shape}")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise MedvitError(f"{meta.get('filename_or_obj', 'image')}: the image has NaN or infinite values")
    center, width = meta.get("window_center"), meta.get("window_width")
    if center is not None and width is not None and width > 1:
        # DICOM PS3.3 C.11.2.1.2.1 linear VOI function, scaled to [0, 1].
        return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)
    if meta.get("kind") == "photo" and np.issubdtype(array.dtype, np.integer):
        bits = max(8, int(np.ceil(np.log2(float(array.max()) + 1)))) if array.dtype != np.uint8 else 8
        return np.clip(values / (2**bits - 1), 0.0, 1.0)
    low, high = np.percentile(values, STRETCH_PERCENTILES)
    if high <= low:
        raise MedvitError(f"{meta.get('filename_or_obj', 'image')}: the image is blank (one grey value)")
    return np.clip((values - low) / (high - low), 0.0, 1.0)


@functools.lru_cache(maxsize=8)  # one instance per size: MONAI's inverse checks it is the same transform
def cxr_geometry(size: int = RESIZE, crop: int = CROP):
    """Letterbox to ``size``² (long side resized keeping the aspect ratio, short side zero-padded),
    then centre-crop ``crop``²: MONAI invertible transforms on (C, W, H), so a saliency map on
    the network's grid can be carried back onto the radiograph's (:func:`to_image_grid`)."""
    return Compose([Resize(size, size_mode="longest", mode="area"), SpatialPad((size, size)),
                    CenterSpatialCrop((crop, crop))])


def letterbox(image: np.ndarray, size: int = RESIZE) -> np.ndarray:
    """Resize so the long side is ``size`` keeping the aspect ratio, then zero-pad to ``size``².

    Args:
        image: (C, W, H).

    Returns:
        (C, size, size) float32.
    """
    return np.asarray(cxr_geometry(size, size)(image), dtype=np.float32)


def cxr_network_input(intensity: np.ndarray, channels: int = 3):
    """The classifier's input from :func:`cxr_display_intensity`: :func:`cxr_geometry` (letterbox
    to 256², centre crop 224²), the paper's normalisation, grey repeated to ``channels`` (3 for
    ImageNet-layout ViTs).

    Args:
        intensity: (W, H) in [0, 1].

    Returns:
        (channels, 224, 224) float32 MetaTensor that remembers the geometry applied.
    """
    square = cxr_geometry()(MetaTensor(torch.as_tensor(intensity, dtype=torch.float32)[None]))
    normalised = (square - CXR_MEAN) / CXR_STD
    return normalised.repeat(channels, 1, 1)


def to_image_grid(network_map, network_input) -> np.ndarray:
    """Carry a (224, 224) map on the network's grid back onto the radiograph's (W, H) grid by
    inverting the geometry ``network_input`` went through (outside the crop: zero)."""
    values = MetaTensor(torch.as_tensor(network_map, dtype=torch.float32)[None])
    values.applied_operations = list(network_input.applied_operations)
    return np.asarray(cxr_geometry().inverse(values))[0]


class CXRDisplayIntensityd(MapTransform):
    """Dictionary wrapper of :func:`cxr_display_intensity`: a radiograph as ``LoadImaged`` (with
    :class:`medvit.io.MedvitReader`) gives it, (W, H) or (W, H, 3), → (1, W, H) display
    intensities in [0, 1], its metadata kept. Adds the ``width``, ``height`` and
    ``inverted_monochrome1`` columns to the case's row.

    Args:
        min_side: a radiograph whose shorter side is smaller is refused
            (:func:`check_radiograph_size`); the bundle passes the network's input size.
    """

    def __init__(self, keys: KeysCollection = "image", min_side: int = MIN_SIDE, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.min_side = min_side

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            meta = dict(getattr(image, "meta", {}))
            check_radiograph_size(image.shape, self.min_side, meta.get("filename_or_obj"))
            intensity = cxr_display_intensity(np.asarray(image), meta)
            d[key] = MetaTensor(torch.as_tensor(intensity)[None], meta=meta)
            d = add_to_row(d, {"width": int(intensity.shape[0]), "height": int(intensity.shape[1]),
                               "inverted_monochrome1": bool(meta.get("inverted_monochrome1", False))})
        return d
