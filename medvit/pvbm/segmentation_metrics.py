"""Agreement of a vessel mask with a reference: Dice (MONAI) and centreline Dice (clDice).

clDice (Shit et al., CVPR 2021) rewards getting the vessel *topology* right rather than
its width: with S(·) the skeleton, Tprec = |S(P) ∩ L| / |S(P)|, Tsens = |S(L) ∩ P| / |S(L)|,
clDice = 2·Tprec·Tsens / (Tprec + Tsens). MONAI has a soft clDice *loss* for training but no
hard metric, so the metric is written here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.metrics import compute_dice
from skimage.morphology import skeletonize

from medvit.errors import MedvitError


def _pair(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, reference = np.asarray(prediction, bool), np.asarray(reference, bool)
    if prediction.shape != reference.shape or prediction.ndim != 2:
        raise MedvitError(f"prediction {prediction.shape} and reference {reference.shape} must be 2D masks of one size")
    return prediction, reference


def dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Dice overlap of two (H, W) masks, by MONAI's ``compute_dice``; NaN when both are empty."""
    prediction, reference = _pair(prediction, reference)
    as_tensor = lambda m: torch.from_numpy(m)[None, None].float()  # noqa: E731 - (B, C, H, W)
    value = compute_dice(as_tensor(prediction), as_tensor(reference), include_background=True, ignore_empty=True)
    return float(value.item())


def centreline_dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """clDice of two (H, W) masks (see the module docstring); NaN when either is empty."""
    prediction, reference = _pair(prediction, reference)
    skeleton_p, skeleton_r = skeletonize(prediction), skeletonize(reference)
    if not skeleton_p.any() or not skeleton_r.any():
        return math.nan
    precision = (skeleton_p & reference).sum() / skeleton_p.sum()
    sensitivity = (skeleton_r & prediction).sum() / skeleton_r.sum()
    if precision + sensitivity == 0:
        return 0.0
    return float(2 * precision * sensitivity / (precision + sensitivity))
