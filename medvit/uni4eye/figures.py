"""Pictures of what a Uni4Eye model reconstructs: input, masked input, reconstruction, gradient
map and its reconstruction side by side (a volume shown by its central B-scan)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from medvit.io.writers import save_png
from medvit.nets.gradient import gradient_magnitude

PANELS = ("input", "masked input", "reconstruction", "gradient map", "gradient reconstruction")


def reconstruction_panels(model, image, seed: int = 0) -> dict[str, np.ndarray]:
    """One masked pass of ``model`` (:class:`medvit.nets.Uni4Eye`) over ``image`` (1, H, W) or
    (1, H, W, D).

    Returns:
        the :data:`PANELS` as (H, W) float arrays (a volume's central B-scan, slice D // 2);
        reconstructions show the visible patches as given and the masked ones as predicted, as
        MAE's figures do. Also ``loss_image`` and ``loss_gradient`` (floats).
    """
    model.eval()
    batch = torch.as_tensor(image, dtype=torch.float32)[None]
    dims = batch.ndim - 2
    torch.manual_seed(seed)
    with torch.no_grad():
        gradient = gradient_magnitude(batch)
        out = model(batch, gradient)
        mask = model.to_images(out["mask"], dims)
        image_pred = model.to_images(out["pred_image"], dims)
        gradient_pred = model.to_images(out["pred_gradient"], dims)
    views = {"input": batch, "masked input": batch * (1 - mask), "reconstruction": batch * (1 - mask) + image_pred * mask,
             "gradient map": gradient, "gradient reconstruction": gradient * (1 - mask) + gradient_pred * mask}
    panels = {}
    for name, view in views.items():
        plane = view[0, 0] if dims == 2 else view[0, 0, :, :, view.shape[-1] // 2]
        panels[name] = plane.numpy()
    panels["loss_image"], panels["loss_gradient"] = float(out["loss_image"]), float(out["loss_gradient"])
    return panels


def panel_row(panels: dict, zoom: int = 4, gap: int = 4) -> np.ndarray:
    """The :data:`PANELS` side by side as one 8-bit grey image (x, y), each scaled to [0, 255]
    (gradient panels by the gradient map's range), ``zoom`` times larger."""
    tiles = []
    for name in PANELS:
        reference = panels["gradient map"] if "gradient" in name else panels["input"]
        low, high = float(reference.min()), float(reference.max())
        tile = np.clip((panels[name] - low) / max(high - low, 1e-6), 0, 1)
        tile = np.kron(tile, np.ones((zoom, zoom)))
        tiles += [tile, np.ones((gap, tile.shape[1]))]
    return np.round(np.concatenate(tiles[:-1], axis=0) * 255).astype(np.uint8)


def write_reconstruction_figure(panels: list[dict], path: str | os.PathLike, zoom: int = 4) -> Path:
    """Rows of :func:`panel_row` for each image's :func:`reconstruction_panels` (padded to the
    widest), written as a PNG."""
    rows = [panel_row(image_panels, zoom) for image_panels in panels]  # (x, y): x across
    width = max(row.shape[0] for row in rows)
    padded = []
    for row in rows:
        padded += [np.pad(row, ((0, width - row.shape[0]), (0, 0)), constant_values=255),
                   np.full((width, 8), 255, np.uint8)]
    return save_png(np.concatenate(padded[:-1], axis=1), path, channel_dim=None)
