"""Fundus photographs: the one path from a file (or an array) to the checked photo PVBM measures.

Every consumer — the bundle's ``preprocessing`` (:class:`~medvit.pvbm.transforms.FundusPhotod`
after ``LoadImaged``), the vessel network's training pairs, the classical segmentation, the
disc detector — checks and scales a photo with :func:`fundus_photo`, so a photo is refused
(too small, black, not an image) with the same message wherever it enters, and every step
sees the same values.

Arrays are in scikit-image's (row, column) order: a photo is (H, W, 3) RGB or (H, W) grey;
the networks' tensors are channel-first (C, H, W). :func:`medvit.io.read_image` and MONAI's
``LoadImaged`` give (x, y[, c]) = (W, H[, C]); the bundle transposes with MONAI's ``Transposed``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError
from medvit.io.files import list_image_files
from medvit.io.reader import read_image

#: Smallest accepted height and width, in pixels: below it no vessel is more than a pixel wide.
MIN_SIDE = 64
#: 99th-percentile brightness below which a photo is sensor noise on a lens cap, not a retina (~2/255).
MIN_BRIGHTNESS = 0.01
GREY_MESSAGE = "vessel segmentation needs a colour fundus photograph (got a grey image)"


def list_fundus_images(folder: str | os.PathLike, exclude: tuple[str | os.PathLike | None, ...] = ()) -> list[Path]:
    """Photos under ``folder`` (recursively), sorted; files under ``exclude`` folders skipped."""
    return list_image_files(folder, exclude, what="fundus photographs")


def fundus_photo(image, source: str | os.PathLike | None = None) -> np.ndarray:
    """A fundus photo checked and scaled to [0, 1]: what every PVBM step works on.

    Integers are divided by their type's maximum (uint8 by 255, uint16 by 65535); floats are
    taken as [0, 1], or as a 0-255 scale when above 1. An alpha channel is dropped.

    Args:
        image: (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey, integer or float; H, W ≥ 64.
        source: the file it came from, named in error messages.

    Returns:
        (H, W, 3) or (H, W) float32 in [0, 1], C-contiguous.

    Raises:
        MedvitError: not an image array, wrong shape or dtype, too small, negative / NaN /
            out-of-range values, an entirely black photo or one without a visible retina.
    """
    where = f"{source}: " if source else ""
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as err:  # noqa: BLE001 - any conversion failure is the user's input
            raise MedvitError(f"{where}expected an image array, got {type(image).__name__} ({err})") from None
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]  # alpha carries no retina
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise MedvitError(f"{where}expected a fundus photo of shape (H, W, 3) RGB or (H, W) grey, got shape {image.shape}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise MedvitError(f"{where}expected an integer or float photo, got dtype {image.dtype}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise MedvitError(f"{where}image is {width}×{height} px, too small for vessel analysis "
                          f"(at least {MIN_SIDE}×{MIN_SIDE} px)")
    if not np.any(image):
        raise MedvitError(f"{where}image is entirely black")
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        if info.min < 0 and image.min() < 0:
            raise MedvitError(f"{where}photo has negative pixel values; expected brightness from 0 up")
        photo = image.astype(np.float32) / np.float32(info.max)
    else:
        if not np.all(np.isfinite(image)):
            raise MedvitError(f"{where}photo contains NaN or infinite values")
        low, high = float(image.min()), float(image.max())
        if low < 0:
            raise MedvitError(f"{where}photo has negative pixel values (minimum {low:g}); expected floats in [0, 1]")
        if high > 255:
            raise MedvitError(f"{where}float photo has values up to {high:g}; expected [0, 1] (or a 0-255 scale)")
        photo = image.astype(np.float32) / np.float32(255.0 if high > 1 else 1.0)
    if float(np.percentile(brightness(photo), 99)) < MIN_BRIGHTNESS:
        raise MedvitError(f"{where}photo is black (no pixel brighter than 1% of full scale): no retina to analyse")
    return np.ascontiguousarray(photo)


def brightness(photo: np.ndarray) -> np.ndarray:
    """Brightest channel per pixel (HSV value), (H, W): the red channel on a fundus photo."""
    if photo.ndim == 2:
        return photo
    # channel-by-channel maximum: several times faster than max(axis=-1) on (H, W, 3)
    return np.maximum(np.maximum(photo[..., 0], photo[..., 1]), photo[..., 2])


def read_photo_rc(path: str | os.PathLike) -> np.ndarray:
    """A fundus photograph file → :func:`fundus_photo`: (H, W, 3) or (H, W) float32 in [0, 1]."""
    array, _ = read_image(path)
    return fundus_photo(np.swapaxes(array, 0, 1), path)  # medvit.io's (x, y) → (row, col)


def channels_first(photo: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (3, H, W); (H, W) → (1, H, W); C-contiguous."""
    photo = np.asarray(photo)
    return np.ascontiguousarray(np.moveaxis(photo, -1, 0) if photo.ndim == 3 else photo[None])


def channels_last(image) -> np.ndarray:
    """A channel-first photo tensor (C, H, W) → the (row, col) photo: its first 3 channels as
    (H, W, 3) when it has 3 or more (a 4th, the field of view, is not part of the photo),
    else (H, W); float32, C-contiguous."""
    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(array[:3], 0, -1) if array.shape[0] >= 3 else array[0])
