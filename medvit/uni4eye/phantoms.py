"""Synthetic ophthalmic images for the Uni4Eye bundle: fundus-like photographs, layered
OCT-like volumes (and their B-scans) with a class signal, and a mixed 2D / 3D dataset folder.

- Fundus: a round field of view, orange-red background falling off to the rim, a bright optic
  disc, a darker macula and a branching vessel tree leaving the disc (RGB).
- OCT: (x, y, z) = (across the B-scan, depth along the A-scan, B-scan index). Vitreous (dark)
  above the retina, whose layers alternate in reflectivity (bright RNFL, plexiform layers,
  ellipsoid zone and RPE; dark nuclear layers), a foveal pit at the centre, choroid below, a
  gentle tilt and curvature, speckle; the retina's depth in the scan varies from eye to eye.
  Two independent findings, each a classification task (:data:`OCT_TASKS`): ``fluid``, a dark,
  sharply bounded fluid pocket in the outer retina that lifts the layers above it (local, high
  contrast); ``thickening``, a retina thicker than 0.33 of the scan depth (diffuse: every
  layer a little thicker; normal eyes 0.27 - 0.33, thickened 0.33 - 0.39, so the two classes
  meet at the cut-off, as a clinical thickness threshold does).

Nothing here is a patient's image: it exists so that pre-training and classification run
end to end offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from medvit.io.atomic import atomic_write_text
from medvit.io.writers import save_nifti, save_png

OCT_CLASSES = ("normal", "fluid")
# task -> class names (label 0, label 1)
OCT_TASKS = {"fluid": OCT_CLASSES, "thickening": ("normal", "thickened")}
THICKNESS_CUTOFF = 0.33  # retinal thickness as a fraction of the scan depth (outside the fovea)
# Retinal layers from the inner surface down: (name, thickness as a fraction of the retina,
# reflectivity).
OCT_LAYERS = (("RNFL", 0.12, 0.85), ("GCL-IPL", 0.20, 0.55), ("INL", 0.10, 0.25), ("OPL", 0.08, 0.6),
              ("ONL", 0.25, 0.18), ("EZ", 0.08, 0.9), ("RPE", 0.17, 1.0))


def fundus_like(seed: int = 0, size: int = 128) -> np.ndarray:
    """A fundus-like RGB photograph: (size, size, 3) uint8, MONAI's (x, y, c) order."""
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    centre = size / 2
    r = np.hypot(xx - centre, yy - centre) / (size * 0.47)
    field = r < 1
    side = rng.choice([-1, 1])  # right or left eye
    disc = (centre + side * size * 0.22 + rng.normal(0, size * 0.02), centre + rng.normal(0, size * 0.03))
    macula = (centre - side * size * 0.05, centre + rng.normal(0, size * 0.02))
    brightness = rng.uniform(0.8, 1.1) * (1 - 0.45 * r**2)
    red = 0.8 * brightness
    green = 0.35 * brightness
    blue = 0.12 * brightness
    macula_shade = np.exp(-(((xx - macula[0]) ** 2 + (yy - macula[1]) ** 2) / (2 * (size * 0.07) ** 2)))
    red, green = red - 0.2 * macula_shade, green - 0.12 * macula_shade
    vessels = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(6, 10)):  # trunks leaving the disc, each branching once or twice
        stack = [(disc[0], disc[1], rng.uniform(0, 2 * np.pi), size * 0.018, 0)]
        while stack:
            x, y, angle, width, depth = stack.pop()
            for _ in range(int(size * rng.uniform(0.2, 0.35))):
                angle += rng.normal(0, 0.12)
                x, y = x + np.cos(angle), y + np.sin(angle)
                if not (0 <= x < size and 0 <= y < size):
                    break
                vessels[int(x), int(y)] = max(vessels[int(x), int(y)], width)
            if depth < 2 and 0 <= x < size and 0 <= y < size:
                for turn in (-0.5, 0.5):
                    stack.append((x, y, angle + turn + rng.normal(0, 0.2), width * 0.7, depth + 1))
    vessel_map = np.clip(ndimage.grey_dilation(vessels, size=3) / (size * 0.018), 0, 1)
    vessel_map = ndimage.gaussian_filter(vessel_map, 0.7)
    red, green, blue = red - 0.25 * vessel_map, green - 0.2 * vessel_map, blue - 0.05 * vessel_map
    disc_map = np.exp(-(((xx - disc[0]) ** 2 + (yy - disc[1]) ** 2) / (2 * (size * 0.045) ** 2)))
    red, green, blue = red + 0.3 * disc_map, green + 0.5 * disc_map, blue + 0.35 * disc_map
    rgb = np.stack([red, green, blue], axis=-1) + rng.normal(0, 0.01, (size, size, 3))
    rgb = np.clip(rgb, 0, 1) * field[..., None]
    return np.round(rgb * 255).astype(np.uint8)


def oct_volume(seed: int = 0, shape: tuple[int, int, int] = (64, 64, 32), fluid: bool | None = None,
               thickened: bool | None = None, task: str = "fluid") -> tuple[np.ndarray, int]:
    """An OCT-like volume and its class for ``task``.

    Args:
        shape: (x, y, z): across the B-scan, depth, number of B-scans.
        fluid: draw a fluid pocket; None: at random (half the seeds).
        thickened: a retina thicker than :data:`THICKNESS_CUTOFF`; None: at random (half the
            seeds, independently of ``fluid``).
        task: which finding the label is: ``"fluid"`` or ``"thickening"`` (:data:`OCT_TASKS`).

    Returns:
        ``(volume, label)``: volume float32 in [0, 1] of ``shape``; label 0 (normal) or 1 (the
        task's finding).
    """
    if task not in OCT_TASKS:
        raise ValueError(f"task must be one of {sorted(OCT_TASKS)}, got {task!r}")
    rng = np.random.default_rng(seed)
    if fluid is None:
        fluid = bool(np.random.default_rng([seed, 2]).random() < 0.5)
    if thickened is None:
        thickened = bool(np.random.default_rng([seed, 3]).random() < 0.5)
    nx, ny, nz = shape
    x = np.linspace(-1, 1, nx)[:, None]
    z = np.linspace(-1, 1, nz)[None, :]
    # inner retinal surface (depth in pixels) over the en-face plane: tilt, curvature, foveal pit
    top = ny * (0.3 + rng.uniform(-0.08, 0.08) + rng.uniform(-0.05, 0.05) * x + 0.06 * (x**2 + z**2))
    pit = np.exp(-((x - rng.normal(0, 0.08)) ** 2 + (z - rng.normal(0, 0.08)) ** 2) / (2 * 0.12**2))
    fraction = THICKNESS_CUTOFF + rng.uniform(0, 0.06) * (1 if thickened else -1)
    thickness = ny * fraction * (1 - 0.35 * pit)
    top = top + ny * 0.33 * 0.35 * pit  # the pit dips the inner surface; the RPE stays put
    lift = np.zeros((nx, nz))
    if fluid:  # a pocket between ONL and EZ near the fovea (it crosses the central B-scan): lifts the layers above it
        pocket = np.random.default_rng([seed, 1])  # own stream: the same seed without fluid is the same eye
        cx, cz = pocket.uniform(-0.3, 0.3), pocket.uniform(-0.15, 0.15)
        radius_x, radius_z = pocket.uniform(0.3, 0.45), pocket.uniform(0.3, 0.45)
        dome = 1 - ((x - cx) / radius_x) ** 2 - ((z - cz) / radius_z) ** 2
        lift = np.clip(dome, 0, None) ** 0.5 * ny * pocket.uniform(0.12, 0.16)
    depth = np.arange(ny)[None, :, None]
    top3, thick3, lift3 = top[:, None, :] - lift[:, None, :], thickness[:, None, :], lift[:, None, :]
    volume = np.full(shape, 0.04, np.float32)  # vitreous
    boundary = top3.copy()
    ez_top = None
    for name, fraction, reflectivity in OCT_LAYERS:
        if name == "EZ":  # the pocket sits above the ellipsoid zone
            ez_top = boundary + lift3
            volume[(depth >= boundary) & (depth < ez_top)] = 0.03
            boundary = ez_top
        lower = boundary + fraction * thick3
        volume[(depth >= boundary) & (depth < lower)] = reflectivity * rng.uniform(0.9, 1.1)
        boundary = lower
    choroid = depth >= boundary
    volume[choroid] = (0.5 * np.exp(-(depth - boundary) / (0.2 * ny)))[choroid]
    volume = ndimage.gaussian_filter(volume, (0.6, 0.8, 0.4))
    speckle = rng.gamma(8.0, 1 / 8.0, size=shape).astype(np.float32)  # multiplicative, mean 1
    volume = volume * speckle + rng.normal(0, 0.02, size=shape)
    return np.clip(volume, 0, 1).astype(np.float32), int(fluid if task == "fluid" else thickened)


def _finding(task: str, present: bool) -> dict:
    """``oct_volume``'s argument that sets ``task``'s finding."""
    return {"fluid" if task == "fluid" else "thickened": bool(present)}


def write_ophthalmic_dataset(out_dir: str | os.PathLike, n_fundus: int = 8, n_bscans: int = 8, n_volumes: int = 8,
                             first_seed: int = 0, size_2d: int = 64, shape_3d: tuple[int, int, int] = (64, 64, 32),
                             bscan_folders: int = 1, task: str = "fluid") -> Path:
    """Write a mixed 2D / 3D dataset and its description ``dataset.json``; returns that file.

    ``fundus/*.png`` (RGB, unlabelled), ``bscans/*.png`` (the central B-scan of an OCT volume,
    labelled), ``volumes/*.nii.gz`` (OCT volumes, labelled), the first ``bscan_folders`` of
    them as folders of B-scan PNGs instead (``volumes/<name>/bscan_000.png ...``).

    ``dataset.json`` is a list of ``{"image": relative path, "spatial_dims": 2 | 3,
    "modality": "fundus" | "oct", "label": 0 | 1}`` (no label for fundus photographs); the
    labels are ``task``'s (:data:`OCT_TASKS`), alternating, the other finding at random.
    """
    out = Path(out_dir)
    for sub in ("fundus", "bscans", "volumes"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    items = []
    for k in range(n_fundus):
        seed = first_seed + k
        name = f"fundus/fundus_{seed:04d}.png"
        save_png(fundus_like(seed, size_2d), out / name, channel_dim=-1)
        items.append({"image": name, "spatial_dims": 2, "modality": "fundus"})
    for k in range(n_bscans):
        seed = 10_000 + first_seed + k
        volume, label = oct_volume(seed, (size_2d, size_2d, 3), task=task, **_finding(task, k % 2))
        bscan = volume[:, :, 1]  # the central B-scan: through the fovea (and the pocket, if any)
        name = f"bscans/bscan_{seed:05d}.png"
        save_png(np.round(bscan * 255).astype(np.uint8), out / name, channel_dim=None)
        items.append({"image": name, "spatial_dims": 2, "modality": "oct", "label": label})
    for k in range(n_volumes):
        seed = 20_000 + first_seed + k
        volume, label = oct_volume(seed, shape_3d, task=task, **_finding(task, k % 2))
        if k < bscan_folders:
            name = f"volumes/oct_{seed:05d}"
            for z in range(volume.shape[2]):
                save_png(np.round(volume[:, :, z] * 255).astype(np.uint8), out / name / f"bscan_{z:03d}.png",
                         channel_dim=None)
        else:
            name = f"volumes/oct_{seed:05d}.nii.gz"
            save_nifti(volume, out / name, channel_dim=None)
        items.append({"image": name, "spatial_dims": 3, "modality": "oct", "label": label})
    atomic_write_text(out / "dataset.json", json.dumps(items, indent=1))
    return out / "dataset.json"
