"""The CMRxRecon 2023 scoring: which images count, how they are cropped, PSNR / SSIM / NMSE.

As the challenge's ``run4Ranking.m`` / ``runRecon.m`` (selection and crop) and its
``Evaluation.py`` (metrics):

- the central 2 slices, MATLAB's ``round(sz/2)-1 : round(sz/2)`` (all slices if fewer than 3);
- cine: the first 3 frames; mapping: every weighting;
- magnitude, centre-cropped to ``[round(sx/3), round(sy/2)]`` with MATLAB's rounding (half
  away from zero) and MATLAB's ``crop`` centring (first kept index ``n//2 - size//2``), in
  single precision (the ``img4ranking`` arrays);
- per image (one slice, one frame): each of prediction and reference divided by its own
  maximum, then scikit-image's PSNR and SSIM with ``data_range`` = the reference's maximum
  (1 after normalising), and NMSE = ‖ref − pred‖² / ‖ref‖²; the mean over images.

Arrays are magnitude images in MATLAB's order ``(sx, sy, z, t)``.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medvit.errors import MedvitError

TASKS = ("cine", "mapping")
CINE_FRAMES = 3
METRICS = ("psnr", "ssim", "nmse")


def matlab_round(value: float) -> int:
    """MATLAB's ``round``: halves go away from zero (Python's ``round`` goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def ranking_slices(num_slices: int) -> slice:
    """The central two slices as the challenge takes them (every slice when fewer than 3)."""
    if num_slices < 3:
        return slice(0, num_slices)
    centre = matlab_round(num_slices / 2)  # MATLAB's 1-based round(sz/2)-1 : round(sz/2)
    return slice(centre - 2, centre)


def ranking_crop_shape(sx: int, sy: int) -> tuple[int, int]:
    """``[round(sx/3), round(sy/2)]`` with MATLAB's rounding."""
    return matlab_round(sx / 3), matlab_round(sy / 2)


def center_crop(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """MATLAB ``crop`` (Lustig's): keep ``shape`` samples per leading axis from ``n//2 - size//2``."""
    index = tuple(slice(n // 2 - s // 2, n // 2 - s // 2 + s) for n, s in zip(image.shape, shape))
    return image[index]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise MedvitError(f"unknown CMRxRecon task '{task}'; known: {', '.join(TASKS)}")


def ranking_frames(num_frames: int, task: str) -> slice:
    """The first 3 frames of cine, every weighting of mapping."""
    _check_task(task)
    return slice(0, min(num_frames, CINE_FRAMES) if task == "cine" else num_frames)


def ranking_crop(images: np.ndarray) -> np.ndarray:
    """Magnitude of (sx, sy, ...) images centre-cropped to ``[round(sx/3), round(sy/2)]``, float32."""
    sx, sy = np.shape(images)[:2]
    return center_crop(np.abs(images), ranking_crop_shape(sx, sy)).astype(np.float32)


def ranking_volume(volume: np.ndarray, task: str) -> np.ndarray:
    """What the challenge ranks (``img4ranking``): selected slices and frames, cropped, single.

    Args:
        volume: magnitude (or complex) images (sx, sy, z, t) at full size.
        task: "cine" (first 3 frames) or "mapping" (every weighting).

    Returns:
        float32 (round(sx/3), round(sy/2), min(z, 2), min(t, 3) for cine or t).
    """
    _check_task(task)
    volume = np.asarray(volume)
    if volume.ndim != 4:
        raise MedvitError(f"expected images (sx, sy, z, t), got shape {volume.shape}")
    num_slices, num_frames = volume.shape[2:]
    return ranking_crop(volume[:, :, ranking_slices(num_slices), ranking_frames(num_frames, task)])


def score_image(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM and NMSE of one 2-D image, each normalised by its own maximum.

    An all-zero image gives NaN (the challenge divides by its maximum too).
    """
    if not (pred.max() > 0 and ref.max() > 0):
        return dict.fromkeys(METRICS, float("nan"))
    pred, ref = pred / pred.max(), ref / ref.max()
    data_range = float(ref.max())
    with np.errstate(divide="ignore"):  # identical images: PSNR is infinite, not a warning
        psnr = float(peak_signal_noise_ratio(ref, pred, data_range=data_range))
    return {
        "psnr": psnr,
        "ssim": float(structural_similarity(ref, pred, data_range=data_range)),
        "nmse": float(np.linalg.norm(ref - pred) ** 2 / np.linalg.norm(ref) ** 2),
    }


def score_images(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Mean PSNR / SSIM / NMSE over the images of ranking arrays (sx', sy', z', t').

    Args:
        pred, ref: magnitude images of the same shape, 2-D to 4-D; every 2-D image along
            the trailing axes counts once (as ``img4ranking`` files are scored).
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise MedvitError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    if pred.ndim < 2 or pred.size == 0:
        raise MedvitError(f"expected images (sx, sy[, z, t]), got shape {pred.shape}")
    pred_images = pred.reshape(*pred.shape[:2], -1)
    ref_images = ref.reshape(*ref.shape[:2], -1)
    scores = [score_image(pred_images[..., i], ref_images[..., i]) for i in range(pred_images.shape[-1])]
    return {metric: float(np.mean([s[metric] for s in scores])) for metric in METRICS}


def score_volume(pred: np.ndarray, ref: np.ndarray, task: str = "cine") -> dict[str, float]:
    """The challenge's score of one reconstructed file against its fully sampled reference.

    Args:
        pred, ref: magnitude images (sx, sy, z, t) at full size (e.g. RSS of the k-space).
        task: "cine" or "mapping".

    Returns:
        {"psnr", "ssim", "nmse"}: means over the ranked images (see the module's docstring).
    """
    if np.shape(pred) != np.shape(ref):
        raise MedvitError(f"prediction {np.shape(pred)} and reference {np.shape(ref)} differ in shape")
    return score_images(ranking_volume(pred, task), ranking_volume(ref, task))
