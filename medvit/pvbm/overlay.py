"""A picture of what was measured: vessels, optic disc, zone B and skeleton points on the photo."""

from __future__ import annotations

import os

import numpy as np
from skimage.draw import circle_perimeter, disk

from medvit.io.writers import save_png
from medvit.pvbm.masks import VesselMasks

COLOURS = {
    "vessel": (255, 255, 0),
    "artery": (255, 40, 40),
    "vein": (40, 90, 255),
    "disc": (0, 255, 0),
    "zone": (0, 200, 255),
    "start": (0, 255, 255),
    "end": (255, 255, 255),
    "intersection": (255, 0, 255),
}


def display_photo(photo: np.ndarray) -> np.ndarray:
    """A photo as shown: (H, W, 3) uint8. Integer photos keep their values (16-bit ones are
    scaled by their maximum), float photos in [0, 1] are scaled by 255; grey is repeated."""
    photo = np.asarray(photo)
    rgb = np.asarray(photo if photo.ndim == 3 else np.repeat(photo[..., None], 3, axis=-1))[..., :3]
    if np.issubdtype(rgb.dtype, np.floating) and rgb.max() <= 1:
        return np.round(rgb * 255).astype(np.uint8)
    rgb = rgb.astype(np.float32)
    if rgb.max() > 255:
        rgb = rgb * (255.0 / rgb.max())
    return np.clip(rgb, 0, 255).astype(np.uint8)


def overlay_image(
    photo: np.ndarray, masks: VesselMasks, disc: tuple[float, float, float], points: dict | None = None
) -> np.ndarray:
    """(H, W, 3) uint8: the photo (:func:`display_photo`) with vessels tinted (arteries red /
    veins blue when known), the disc circle, zone B's rings (2r, 3r), and start / end /
    intersection points."""
    out = display_photo(photo).astype(np.float32)
    layers = [("artery", masks.arteries), ("vein", masks.veins)] if masks.has_av else [("vessel", masks.vessels)]
    for name, mask in layers:
        out[mask] = 0.4 * out[mask] + 0.6 * np.array(COLOURS[name], np.float32)
    x, y, r = disc
    thickness = max(1, round(min(out.shape[:2]) / 400))
    for radius, name in ((r, "disc"), (2 * r, "zone"), (3 * r, "zone")):
        for offset in range(thickness):
            rr, cc = circle_perimeter(round(y), round(x), max(1, round(radius) + offset), shape=out.shape[:2])
            out[rr, cc] = COLOURS[name]
    for name, coordinates in (points or {}).items():
        for row, col in np.asarray(coordinates).reshape(-1, 2):
            rr, cc = disk((row, col), 2 * thickness + 1, shape=out.shape[:2])
            out[rr, cc] = COLOURS[name]
    return np.clip(out, 0, 255).astype(np.uint8)


def write_overlay(path: str | os.PathLike, photo, masks, disc, points=None):
    """Save :func:`overlay_image` as PNG, atomically."""
    picture = overlay_image(photo, masks, disc, points)
    return save_png(np.transpose(picture, (2, 1, 0)), path)  # (H, W, C) → MONAI's (C, x, y)
