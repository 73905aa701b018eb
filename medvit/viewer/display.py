"""Window / level, three-plane slicing in millimetres, tumour overlays and the voxel probe.

Volumes are shown in RAS orientation (:func:`to_ras`): axial slices with the patient's
anterior up and right on the viewer's left (radiological convention), coronal and sagittal
slices with superior up. Every slice comes with its extent in mm so figures carry a scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from monai.data.utils import affine_to_spacing
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from scipy import ndimage
from skimage.segmentation import find_boundaries

from medvit.brats.labels import REGION_LABELS

# (centre, width) in Hounsfield units: offered for CT only
WINDOW_PRESETS = {
    "CT brain": (40.0, 80.0),
    "CT soft tissue": (50.0, 400.0),
    "CT lung": (-600.0, 1500.0),
    "CT bone": (400.0, 1800.0),
}
# (low, high) percentiles of the non-zero voxels: MR intensities have no fixed scale
PERCENTILE_WINDOWS = {
    "MR auto (1-99th percentile)": (1.0, 99.0),
    "MR contrast (5-95th percentile)": (5.0, 95.0),
    "MR full range": (0.0, 100.0),
}
AUTO_WINDOW = "MR auto (1-99th percentile)"
DICOM_WINDOW = "DICOM window"
CUSTOM_WINDOW = "custom"  # centre / width typed by the user
PLANES = ("axial", "coronal", "sagittal")
PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}  # the RAS axis each plane cuts
# BraTS regions drawn from the largest to the smallest, so each stays visible inside the last
REGIONS = {
    "WT": {"labels": REGION_LABELS["wt"], "colour": (46, 204, 64), "name": "whole tumour"},
    "TC": {"labels": REGION_LABELS["tc"], "colour": (255, 65, 54), "name": "tumour core"},
    "ET": {"labels": REGION_LABELS["et"], "colour": (255, 220, 0), "name": "enhancing tumour"},
}
LABEL_NAMES = {0: "background", 1: "necrosis / non-enhancing core", 2: "oedema", 3: "enhancing tumour",
               4: "enhancing tumour"}


def auto_window(volume: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """(centre, width) between two percentiles of the non-zero voxels (MR has no fixed scale)."""
    values = np.asarray(volume)
    values = values[np.isfinite(values) & (values != 0)]
    if values.size == 0:
        return 0.5, 1.0
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        hi = lo + 1.0
    return float((lo + hi) / 2), float(hi - lo)


def window_for(name: str, volume: np.ndarray, meta: dict | None = None) -> tuple[float, float]:
    """A CT preset's (centre, width); a percentile window of ``volume``; the file's own for
    "DICOM window" (the auto window when it has none)."""
    if name in WINDOW_PRESETS:
        return WINDOW_PRESETS[name]
    if name == DICOM_WINDOW and meta and meta.get("window_center") is not None:
        centre, width = (np.atleast_1d(meta[k])[0] for k in ("window_center", "window_width"))
        return float(centre), float(width)
    if name in PERCENTILE_WINDOWS:
        return auto_window(volume, *PERCENTILE_WINDOWS[name])
    if name == DICOM_WINDOW:
        return auto_window(volume)
    raise ValueError(f"unknown window {name!r}")


def looks_like_ct(volume: np.ndarray | None, meta: dict | None = None) -> bool:
    """Whether an image is CT (Hounsfield units): its Modality says so or, where the file names
    none (NIfTI), it holds air at about -1000 (MR intensities are never far below zero)."""
    modality = (meta or {}).get("modality")
    if modality:
        return modality == "CT"
    if volume is None or not np.size(volume):
        return False
    return bool(np.nanmin(volume) <= -500)


def window_names(meta: dict | None, volume: np.ndarray | None = None) -> list[str]:
    """The window choices for an image: the file's own window first where it has one, then the CT
    presets and the auto window for CT, the percentile windows for anything else (MR)."""
    if looks_like_ct(volume, meta):
        names = [*WINDOW_PRESETS, AUTO_WINDOW]
    else:
        names = list(PERCENTILE_WINDOWS)
    if meta and meta.get("window_center") is not None:
        names.insert(0, DICOM_WINDOW)
    return names


def apply_window(image: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Intensities → [0, 1] for display: linear within the window, clipped outside."""
    width = max(float(width), 1e-6)
    return np.clip((np.asarray(image, np.float32) - (centre - width / 2)) / width, 0.0, 1.0)


def to_ras(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder / flip the three spatial axes (first) into RAS: x towards the patient's left,
    y anterior, z superior; returns the array and its new affine. A trailing channel axis is kept."""
    ornt = io_orientation(affine)
    shape = array.shape[:3]
    out = apply_orientation(array, ornt)  # reorients the first three axes, keeps a trailing one
    new_affine = np.asarray(affine) @ inv_ornt_aff(ornt, shape)
    return np.ascontiguousarray(out), new_affine


def spacing_of(affine: np.ndarray) -> np.ndarray:
    """Voxel sizes (mm) of a 3D affine (MONAI's ``affine_to_spacing``)."""
    return np.asarray(affine_to_spacing(np.asarray(affine, dtype=np.float64), r=3))


@dataclass
class Slice:
    """One plane of a volume ready to draw: rows top to bottom, columns left to right."""

    image: np.ndarray
    extent: tuple[float, float, float, float]  # (left, right, bottom, top) in mm, for imshow(origin="upper")
    crosshair: tuple[float, float]  # (x, y) in mm of the other planes' position
    axes: tuple[str, str]  # what the horizontal and vertical directions are


def plane_slice(volume: np.ndarray, spacing, plane: str, position) -> Slice:
    """The slice of a RAS volume through voxel ``position`` (i, j, k) in ``plane``."""
    i, j, k = (int(v) for v in position)
    sx, sy, sz = (float(s) for s in spacing)
    if plane == "axial":
        data, (sh, sv), (ph, pv), axes = volume[:, :, k], (sx, sy), (i, j), ("R → L (mm)", "P → A (mm)")
    elif plane == "coronal":
        data, (sh, sv), (ph, pv), axes = volume[:, j, :], (sx, sz), (i, k), ("R → L (mm)", "I → S (mm)")
    elif plane == "sagittal":
        data, (sh, sv), (ph, pv), axes = volume[i, :, :], (sy, sz), (j, k), ("P → A (mm)", "I → S (mm)")
    else:
        raise ValueError(f"unknown plane {plane!r}; one of {PLANES}")
    image = np.swapaxes(data, 0, 1)[::-1]  # (vertical, horizontal), top row = highest index
    nh, nv = data.shape[:2]
    return Slice(image, (0.0, nh * sh, 0.0, nv * sv), ((ph + 0.5) * sh, (pv + 0.5) * sv), axes)


def opening_position(shape, labels: np.ndarray | None = None) -> tuple[int, int, int]:
    """The voxel (i, j, k) to open a volume at: the centre of mass of the largest connected
    tumour (a stray false positive does not move it); where that falls outside the tumour (a
    ring), along each axis the slice holding most of it. The centre where nothing is segmented."""
    if labels is None or not np.any(labels):
        return tuple(int(n) // 2 for n in shape)
    components, _ = ndimage.label(np.asarray(labels) > 0)
    sizes = np.bincount(components.ravel())[1:]
    tumour = components == 1 + int(np.argmax(sizes))
    centre = tuple(int(round(c)) for c in ndimage.center_of_mass(tumour))
    if tumour[centre]:
        return centre
    return tuple(int(np.argmax(tumour.sum(axis=tuple(a for a in range(3) if a != axis)))) for axis in range(3))


def scrolled(position, plane: str, steps: int, shape) -> tuple[int, int, int]:
    """``position`` moved ``steps`` slices through ``plane`` (kept inside the volume)."""
    out = [int(v) for v in position]
    axis = PLANE_AXIS[plane]
    out[axis] = int(np.clip(out[axis] + int(steps), 0, int(shape[axis]) - 1))
    return tuple(out)


def clicked(position, plane: str, u: float, v: float, shape) -> tuple[int, int, int]:
    """The voxel under a point of a :func:`plane_slice` picture of ``plane`` through ``position``.

    Args:
        u, v: the point as fractions of the picture's width (left to right) and height (top to
            bottom), in [0, 1].
    """
    horizontal, vertical = [a for a in range(3) if a != PLANE_AXIS[plane]]  # as plane_slice lays them out
    out = [int(p) for p in position]
    n_h, n_v = int(shape[horizontal]), int(shape[vertical])
    out[horizontal] = int(np.clip(np.floor(float(u) * n_h), 0, n_h - 1))
    out[vertical] = n_v - 1 - int(np.clip(np.floor(float(v) * n_v), 0, n_v - 1))  # top row = highest index
    return tuple(out)


def region_masks(labels: np.ndarray, regions=("WT", "TC", "ET")) -> dict[str, np.ndarray]:
    return {name: np.isin(labels, REGIONS[name]["labels"]) for name in regions}


OVERLAY_STYLES = ("outline", "fill")


def overlay(grey: np.ndarray, labels: np.ndarray | None, regions=("WT", "TC", "ET"),
            style: str = "outline") -> np.ndarray:
    """(H, W, 3) uint8: a windowed slice in [0, 1] with the tumour regions over it.

    Regions are drawn in exactly their :data:`REGIONS` (legend) colour, never blended with the
    image (a blend makes colours the legend does not show): as outlines (the image stays visible
    inside) or as opaque fills, each smaller region over the larger one.

    Args:
        labels: BraTS label map of the slice (None: no overlay).
        regions: which of WT, TC, ET to draw.
        style: "outline" or "fill".
    """
    if style not in OVERLAY_STYLES:
        raise ValueError(f"unknown overlay style {style!r}; one of {OVERLAY_STYLES}")
    rgb = np.repeat(np.asarray(grey, np.float32)[..., None] * 255.0, 3, axis=-1)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    if labels is None:
        return rgb
    masks = region_masks(labels, [r for r in REGIONS if r in regions])
    if style == "fill":
        for name, mask in masks.items():  # largest first: each smaller region over it
            rgb[mask] = REGIONS[name]["colour"]
        return rgb
    # smallest first: where two edges coincide (the enhancing rim is the core's edge) the larger
    # region's outline wins, and the smaller one still shows on its inner edge
    for name, mask in reversed(masks.items()):
        rgb[find_boundaries(mask, mode="inner")] = REGIONS[name]["colour"]
    return rgb


def probe(channels: dict[str, np.ndarray], labels: np.ndarray | None, affine: np.ndarray, position) -> dict:
    """What is at voxel ``position``: its indices, RAS position in mm, each channel's value and the label."""
    i, j, k = (int(v) for v in position)
    world = np.asarray(affine) @ np.array([i, j, k, 1.0])
    out = {"voxel": (i, j, k), "ras_mm": tuple(round(float(v), 1) for v in world[:3]),
           "values": {name: float(volume[i, j, k]) for name, volume in channels.items()}}
    if labels is not None:
        code = int(labels[i, j, k])
        out["label"] = code
        out["label_name"] = LABEL_NAMES.get(code, f"label {code}")
    return out

