"""Synthetic chest X-ray-like phantoms with known findings, for the thorax classification bundle.

A frontal chest radiograph drawn from simple shapes, displayed as a radiologist sees it (dense
= bright): soft-tissue thorax, two air-filled lungs with vessel markings, heart and
mediastinum, spine, ribs and diaphragm. Six ChestX-ray14 findings have a visible signature:

- Cardiomegaly: the heart ~1.5× wider (cardiothoracic ratio ≈ 0.6 instead of ≈ 0.42);
- Effusion: fluid filling a lung base with a meniscus;
- Mass: a round opacity 3.5–5 cm across; Nodule: one 1.1–1.7 cm across;
- Pneumothorax: a lateral crescent of lung without vessel markings, darker, behind a pleural line;
- Consolidation: a patchy, irregular opacity inside a lung.

Each finding is present independently (``prevalence``). The other eight labels are never set.
:func:`write_cxr_phantoms` writes them as ChestX-ray14 ships its images (8-bit PNG),
:func:`write_cxr_dicom` as a hospital sends a radiograph (a 12-bit MONOCHROME1 CR DICOM with a
VOI window, at a radiograph's size).
Nothing here is a real patient: it exists so classification runs end to end offline.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from medvit.data.synthetic_dicom import synthetic_dataset
from medvit.io.atomic import atomic_path
from medvit.io.writers import save_png

CHESTXRAY14_LABELS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                      "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
                      "Hernia")
PHANTOM_FINDINGS = ("Cardiomegaly", "Effusion", "Mass", "Nodule", "Pneumothorax", "Consolidation")
PIXEL_MM = 1.4  # a 256-pixel phantom spans ~36 cm, a chest radiograph's field


def _ellipse(yy, xx, centre, axes) -> np.ndarray:
    return ((yy - centre[0]) / axes[0]) ** 2 + ((xx - centre[1]) / axes[1]) ** 2


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.normal(size=shape), sigma)
    return noise / (np.abs(noise).max() + 1e-8)


def cxr_phantom(seed: int = 0, size: int = 256, prevalence: float = 0.3,
                findings: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One phantom and its labels.

    Args:
        seed: makes the phantom repeatable (anatomy, position, findings).
        size: image edge in pixels.
        prevalence: probability of each finding of :data:`PHANTOM_FINDINGS` when ``findings``
            is None.
        findings: the findings to draw instead of random ones.

    Returns:
        ``(image, labels)``: image (W, H) float32 in [0, 1] (MONAI's (x, y) order, patient's
        right on the image's left as radiographs are displayed); labels (14,) float32 in
        :data:`CHESTXRAY14_LABELS` order.
    """
    rng = np.random.default_rng(seed)
    if findings is None:
        findings = tuple(name for name in PHANTOM_FINDINGS if rng.random() < prevalence)
    unknown = set(findings) - set(PHANTOM_FINDINGS)
    if unknown:
        raise ValueError(f"no phantom signature for {sorted(unknown)}: one of {PHANTOM_FINDINGS}")
    s = size / 256.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    centre_x = size / 2 + rng.normal(0, 4 * s)
    top = 40 * s + rng.normal(0, 4 * s)
    lung_height = 150 * s * rng.uniform(0.92, 1.08)
    lung_width = 52 * s * rng.uniform(0.9, 1.1)
    gap = 20 * s * rng.uniform(0.9, 1.1)

    image = np.full((size, size), 0.05, np.float32)
    body = _ellipse(yy, xx, (size * 0.6, centre_x), (size * 0.55, 118 * s)) < 1
    image[body] = 0.5
    lungs = []
    for side in (-1, 1):  # image left = patient's right
        centre = (top + lung_height / 2, centre_x + side * (gap + lung_width))
        lung = (_ellipse(yy, xx, centre, (lung_height / 2, lung_width)) < 1) & (yy < top + lung_height * 0.92)
        lungs.append(lung)
    lung_field = lungs[0] | lungs[1]
    markings = 0.06 * np.abs(_smooth_noise(rng, (size, size), 2.0 * s))
    image[lung_field] = 0.16 + markings[lung_field]
    # spine and mediastinum between the lungs
    image[(np.abs(xx - centre_x) < 14 * s) & body] = np.maximum(image[(np.abs(xx - centre_x) < 14 * s) & body], 0.62)
    # ribs: bright arcs over the lungs
    for k in range(9):
        y0 = top + 8 * s + k * 16 * s
        arc = np.abs(yy - (y0 + 0.0025 / s * (xx - centre_x) ** 2)) < 2.5 * s
        image[arc & lung_field] += 0.12
    # heart: lower centre, shifted to the patient's left (image right)
    thorax_width = 2 * (gap + 2 * lung_width)
    ctr = 0.42 * (1.45 if "Cardiomegaly" in findings else 1.0) * rng.uniform(0.93, 1.07)
    heart_axes = (38 * s * (1.15 if "Cardiomegaly" in findings else 1.0), ctr * thorax_width / 2)
    heart_centre = (top + lung_height * 0.72, centre_x + 0.25 * heart_axes[1])
    heart = _ellipse(yy, xx, heart_centre, heart_axes) < 1
    image[heart] = np.maximum(image[heart], 0.6)
    # diaphragm / abdomen below the lungs
    image[(yy > top + lung_height * 0.9) & body & ~lung_field] = 0.55

    lung_pixels = [np.argwhere(lung & ~heart) for lung in lungs]
    if "Effusion" in findings:
        side = rng.integers(2)
        lateral = centre_x + (-1 if side == 0 else 1) * (gap + 2 * lung_width)
        level = top + lung_height * rng.uniform(0.68, 0.8)
        surface = level - 25 * s * np.exp(-np.abs(xx - lateral) / (15 * s))  # meniscus: climbs the chest wall
        image[lungs[side] & (yy > surface)] = 0.55 + 0.03 * rng.random()
    for name, radius in (("Mass", rng.uniform(12, 18)), ("Nodule", rng.uniform(4, 6))):
        if name in findings:
            where = lung_pixels[rng.integers(2)]
            cy, cx = where[rng.integers(len(where))]
            blob = _ellipse(yy, xx, (cy, cx), (radius * s, radius * s * rng.uniform(0.85, 1.15)))
            image += (0.35 * np.clip(1.2 - blob, 0, 1)).astype(np.float32) * (blob < 1.2)
    if "Pneumothorax" in findings:
        side = rng.integers(2)
        lung = lungs[side]
        edge = centre_x + (-1 if side == 0 else 1) * (gap + 2 * lung_width)
        depth = np.abs(xx - edge)
        collapsed = lung & (depth < lung_width * rng.uniform(0.55, 0.75)) & (yy < top + lung_height * 0.7)
        image[collapsed] = 0.07
        line = collapsed & (depth > depth[collapsed].max() - 1.5 * s) if collapsed.any() else collapsed
        image[line] = 0.4
    if "Consolidation" in findings:
        where = lung_pixels[rng.integers(2)]
        cy, cx = where[rng.integers(len(where))]
        patch = (_ellipse(yy, xx, (cy, cx), (26 * s, 20 * s)) < 1) & (_smooth_noise(rng, (size, size), 3 * s) > -0.1)
        image[patch & lung_field] += 0.25
    # exposure, contrast and quantum noise vary between radiographs (own stream: the same seed with
    # and without a finding differs only by the finding)
    acquisition = np.random.default_rng([seed, 1])
    image = image * acquisition.uniform(0.85, 1.15) + acquisition.uniform(-0.05, 0.05)
    image += acquisition.normal(0, 0.015, image.shape).astype(np.float32)
    labels = np.array([name in findings for name in CHESTXRAY14_LABELS], np.float32)
    return np.clip(image, 0, 1).T.astype(np.float32), labels


def write_cxr_phantoms(out_dir: str | os.PathLike, count: int, first_seed: int = 0, size: int = 256,
                       prevalence: float = 0.3) -> Path:
    """Write ``count`` phantoms as 8-bit PNGs (as ChestX-ray14 ships) and ``labels.csv``.

    The CSV has ChestX-ray14's ``Image Index`` and ``Finding Labels`` columns (labels joined by
    ``|``, ``No Finding`` when none) so the bundle reads it like the real dataset's
    ``Data_Entry_2017.csv``. Returns the CSV's path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(first_seed, first_seed + count):
        image, labels = cxr_phantom(seed, size, prevalence)
        name = f"phantom_{seed:05d}.png"
        save_png(np.round(image * 255).astype(np.uint8), out / name, channel_dim=None)
        found = [label for label, present in zip(CHESTXRAY14_LABELS, labels) if present]
        rows.append({"Image Index": name, "Finding Labels": "|".join(found) or "No Finding"})
    with atomic_path(out / "labels.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["Image Index", "Finding Labels"])
        writer.writeheader()
        writer.writerows(rows)
    return out / "labels.csv"


def write_cxr_dicom(path: str | os.PathLike, seed: int = 0, size: int = 1024, prevalence: float = 0.3) -> Path:
    """Write one phantom as a computed radiograph: DICOM CR, MONOCHROME1 (dense = low stored
    values, as many CR readers store it), 12 bits, a VOI window spanning them, pixel spacing of a
    ~36 cm field. Returns ``path``.

    Args:
        path: the file to write (atomically).
        seed, prevalence: as :func:`cxr_phantom`.
        size: image edge in pixels (a real CR is 2000-3000 px; 1024 is ChestX-ray14's size).
    """
    from pydicom.uid import ComputedRadiographyImageStorage, generate_uid

    image, _ = cxr_phantom(seed, size, prevalence)
    ds = synthetic_dataset(ComputedRadiographyImageStorage, f"phantom-{seed}", "Synthetic^Phantom")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CR", 1, 1
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", "PA"
    spacing = f"{PIXEL_MM * 256 / size:.4f}"
    ds.PixelSpacing = ds.ImagerPixelSpacing = [spacing, spacing]
    ds.Rows, ds.Columns = image.shape[1], image.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = np.round((1.0 - image.T) * 4095).astype(np.uint16).tobytes()  # (W, H) → DICOM rows
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)
