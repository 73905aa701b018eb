"""Vessel and artery/vein masks given by the user (from any tool), matched to photos by name.

Formats accepted, as (H, W[, 3]) images in the photo's size:

- binary vessel mask: one channel, background 0, vessels any other value;
- artery/vein label map: one channel with labels 1 = artery, 2 = vein, 3 = crossing
  (counted as both);
- artery/vein colour mask (RITE / LES-AV style): red = artery, blue = vein, green or
  white = crossing / uncertain (counted as vessel, and as both where red and blue).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError
from medvit.io.reader import read_image

MASK_SUFFIXES = (".png", ".gif", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".nii", ".nii.gz", ".npy")


@dataclass
class VesselMasks:
    """(H, W) bool masks: all vessels, and arteries / veins when the source labels them."""

    vessels: np.ndarray
    arteries: np.ndarray | None = None
    veins: np.ndarray | None = None

    @property
    def has_av(self) -> bool:
        return self.arteries is not None


def mask_channels(masks: VesselMasks) -> np.ndarray:
    """(C, H, W) bool: vessels, then arteries and veins when known (the vessel network's channels)."""
    layers = [masks.vessels, masks.arteries, masks.veins] if masks.has_av else [masks.vessels]
    return np.stack([np.asarray(layer, dtype=bool) for layer in layers])


def masks_from_channels(channels) -> VesselMasks:
    """:class:`VesselMasks` from (C, H, W) 0 / 1 channels: 1 = vessel; 3 = vessel, artery, vein
    (vessels are then all three together: a network may mark an artery it missed as vessel)."""
    channels = np.asarray(channels.detach().cpu() if hasattr(channels, "detach") else channels) > 0.5
    if channels.ndim != 3 or channels.shape[0] not in (1, 3):
        raise MedvitError(f"vessel masks must be (1 or 3, H, W) channels (vessel[, artery, vein]), got {channels.shape}")
    if channels.shape[0] == 3:
        return VesselMasks(channels[0] | channels[1] | channels[2], channels[1], channels[2])
    return VesselMasks(channels[0])


def find_mask(masks_dir: str | os.PathLike, image_path: str | os.PathLike) -> Path:
    """The mask in ``masks_dir`` whose file stem equals the image's (``photo.jpg`` → ``photo.png``)."""
    stem = _stem(Path(image_path))
    candidates = [p for p in Path(masks_dir).iterdir() if p.is_file() and _stem(p) == stem]
    if not candidates:
        raise MedvitError(f"no mask named '{stem}.*' in {masks_dir}")
    if len(candidates) > 1:
        raise MedvitError(f"several masks named '{stem}.*' in {masks_dir}: {sorted(p.name for p in candidates)}")
    return candidates[0]


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else path.stem


def read_vessel_masks(path: str | os.PathLike, shape: tuple[int, int]) -> VesselMasks:
    """Read a mask file and interpret it (see the module docstring).

    Args:
        path: the mask file.
        shape: the photo's (H, W); a mask of another size is refused.
    """
    if str(path).endswith(".npy"):
        array = np.load(path)
    else:
        array, _ = read_image(path)
        array = np.swapaxes(array, 0, 1)  # medvit.io's (x, y) → (row, col)
    if array.shape[:2] != tuple(shape):
        raise MedvitError(f"{path}: mask is {array.shape[1]}×{array.shape[0]} but the photo is {shape[1]}×{shape[0]}")
    return masks_from_array(array, path)


def masks_from_array(array: np.ndarray, source: str | os.PathLike = "mask") -> VesselMasks:
    """Interpret a (H, W) or (H, W, 3/4) mask array as vessels / arteries / veins."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        red, green, blue = (array[..., c].astype(float) for c in range(3))
        high = max(float(array[..., :3].max()), 1.0) / 2
        if np.array_equal(red, green) and np.array_equal(green, blue):
            return masks_from_array(array[..., 0], source)
        arteries, veins = red > high, blue > high
        return VesselMasks(arteries | veins | (green > high), arteries, veins)
    if array.ndim != 2:
        raise MedvitError(f"{source}: a mask must be a single-channel or RGB image, got shape {array.shape}")
    values = np.unique(array)
    if values.size <= 2:
        return VesselMasks(array > 0)
    if values.size > 4 and _nearly_binary(array):
        return VesselMasks(array > array.max() / 2)  # a binary mask saved lossy (JPEG)
    if set(values.tolist()) <= {0, 1, 2, 3}:
        arteries, veins = np.isin(array, (1, 3)), np.isin(array, (2, 3))
        return VesselMasks(array > 0, arteries, veins)
    raise MedvitError(
        f"{source}: cannot interpret the mask: {values.size} grey levels (expected binary, or labels 0-3)"
    )


def _nearly_binary(array: np.ndarray) -> bool:
    """≥ 98 % of the pixels within 10 % of black or of the maximum."""
    top = float(array.max())
    if top <= 0:
        return False
    near = (array <= 0.1 * top) | (array >= 0.9 * top)
    return bool(near.mean() >= 0.98)
