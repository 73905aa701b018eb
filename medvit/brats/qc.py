"""QC for brain-tumour segmentation: warnings that a case is unlike BraTS training data, and
that its segmentation is not a tumour.

BraTS series are skull-stripped, co-registered, resampled to 1 mm and MR magnitudes; a
hospital series may be none of these. Each check returns human-readable flags that the
cohort row carries (``qc_flags``), so no volume is read from out-of-distribution input
unwarned. The output is checked too (:func:`segmentation_qc`): a tumour lies inside the head
and is smaller than a brain, which an untrained or mismatched network's output need not be.
A flagged case keeps ``status`` ok: the flags are warnings beside its volumes. The thresholds
are module constants, named for what they guard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from medvit.brats.series import BRATS_SERIES

SPACING_RANGE_MM = (0.5, 1.5)  # the BraTS training data are resampled to 1 mm isotropic
MAX_REGISTRATION_MOVE = (5.0, 5.0)  # mm, degrees: series this far apart were not co-registered
MIN_BACKGROUND_FRACTION = 0.2  # skull-stripped BraTS volumes are mostly zero outside the brain
# Brain intensities in standard deviations from the brain mean (the network's input after
# non-zero normalisation): BraTS series stay within about -4..6 at the 0.1 / 99.9th percentiles;
# beyond this range are bright fat, vessels or artefacts the model never saw.
Z_SCORE_RANGE = (-5.0, 8.0)
MIN_GREY_LEVELS = 64  # fewer distinct values: an 8-bit screenshot or a mask, not an MR series
# Segmentation outside the head: a tumour lies inside the skull; partial-volume voxels at the
# brain's edge stay well below this share of a real segmentation.
MAX_OUTSIDE_HEAD_FRACTION = 0.05
# An adult brain is about 1.1-1.4 L (intracranial volume up to ~1.7 L); BraTS whole tumours are
# at most a few hundred mL. A larger "whole tumour" is a network segmenting the head, or the air.
MAX_WHOLE_TUMOUR_ML = 1500.0


def registration_flags(moves: dict | None) -> list[str]:
    """Series that registration had to move far: they were not co-registered on input."""
    flags = []
    for name, move in (moves or {}).items():
        if move["translation_mm"] > MAX_REGISTRATION_MOVE[0] or move["rotation_deg"] > MAX_REGISTRATION_MOVE[1]:
            flags.append(f"{name} was misaligned: registration moved it {move['translation_mm']:.1f} mm, "
                         f"{move['rotation_deg']:.1f} degrees")
    return flags


def intensity_flags(volume: np.ndarray, names: Sequence[str] = BRATS_SERIES) -> list[str]:
    """Series whose intensities are outside what the network was trained on.

    Args:
        volume: (C, X, Y, Z) raw intensities, zero outside the brain.
        names: the channels' series names.
    """
    flags = []
    for name, channel in zip(names, np.asarray(volume)):
        brain = channel[channel != 0]
        if brain.size == 0:
            flags.append(f"empty series: {name}")
            continue
        if brain.min() < 0:
            flags.append(f"{name} has negative intensities (min {brain.min():.4g}): not an MR magnitude image?")
        levels = np.unique(brain[:: max(1, brain.size // 200_000)]).size
        if levels < MIN_GREY_LEVELS:
            flags.append(f"{name} has only {levels} grey levels")
        std = brain.std()
        if std > 0:
            low, high = (np.percentile(brain, [0.1, 99.9]) - brain.mean()) / std
            if low < Z_SCORE_RANGE[0] or high > Z_SCORE_RANGE[1]:
                flags.append(f"{name} intensities out of the trained range ({low:.1f} to {high:.1f} SD "
                             f"from the brain mean at the 0.1 / 99.9th percentiles)")
    return flags


def qc_flags(volume: np.ndarray, spacing: Sequence[float], moves: dict | None = None) -> list[str]:
    """All warnings for one case.

    Args:
        volume: (4, X, Y, Z) the series as the network receives them (after any brain mask).
        spacing: voxel size in mm.
        moves: per registered series, ``{"translation_mm", "rotation_deg"}`` registration applied.
    """
    flags = registration_flags(moves)
    if any(not SPACING_RANGE_MM[0] <= s <= SPACING_RANGE_MM[1] for s in spacing):
        flags.append(f"spacing {'x'.join(f'{s:.2g}' for s in spacing)} mm far from 1 mm")
    array = np.asarray(volume)
    flags += intensity_flags(array)
    background = np.mean(array[0] == 0)
    if background < MIN_BACKGROUND_FRACTION:
        flags.append(f"only {background:.0%} zero voxels: not skull-stripped?")
    return flags


def head_mask(volume: np.ndarray) -> np.ndarray:
    """Where the head is in a case's series (the brain, when they are skull-stripped).

    Skull-stripped series (BraTS, or after a brain mask) are zero outside the brain: the mask is
    their non-zero voxels. Otherwise the air around the head is noise darker than any tissue:
    the voxels above Otsu's threshold in any series, their largest connected part with its
    holes (ventricles, sinuses) filled.

    Args:
        volume: (C, X, Y, Z) the series on one grid (raw or non-zero normalised intensities).

    Returns:
        (X, Y, Z) bool.
    """
    array = np.asarray(volume)
    support = np.any(array != 0, axis=0)
    if 1.0 - support.mean() >= MIN_BACKGROUND_FRACTION:
        return support
    foreground = np.zeros(support.shape, dtype=bool)
    for channel in array:
        sample = channel[::2, ::2, ::2]  # Otsu needs the histogram, not every voxel
        if sample.max() > sample.min():
            foreground |= channel > threshold_otsu(sample)
    labels, count = ndimage.label(foreground)
    if count > 1:
        foreground = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return ndimage.binary_fill_holes(foreground)


def segmentation_qc(labels: np.ndarray, head: np.ndarray, spacing: Sequence[float]) -> tuple[dict, list[str]]:
    """Measures and flags of a segmentation that is not a tumour: outside the head, or larger
    than a brain.

    Args:
        labels: (X, Y, Z) label map, 0 background (the whole tumour is every other label).
        head: (X, Y, Z) bool, :func:`head_mask` of the series on the same grid.
        spacing: voxel size in mm.

    Returns:
        ``(measures, flags)``: measures ``qc_head_ml`` (the head or brain mask's volume) and
        ``qc_outside_head_fraction`` (of the segmented volume; 0 when nothing is segmented),
        and human-readable flags (empty when the segmentation is plausible).
    """
    tumour = np.asarray(labels) > 0
    head = np.asarray(head, dtype=bool)
    voxel_ml = math.prod(float(s) for s in spacing) / 1000.0
    segmented, outside = int(tumour.sum()), int((tumour & ~head).sum())
    fraction = outside / segmented if segmented else 0.0
    measures = {"qc_head_ml": float(head.sum() * voxel_ml), "qc_outside_head_fraction": fraction}
    flags = []
    if fraction > MAX_OUTSIDE_HEAD_FRACTION:
        flags.append(f"{fraction:.0%} of the segmentation ({outside * voxel_ml:.0f} mL) lies outside the head")
    if segmented * voxel_ml > MAX_WHOLE_TUMOUR_ML:
        flags.append(f"whole tumour {segmented * voxel_ml:.0f} mL is larger than a brain "
                     f"(> {MAX_WHOLE_TUMOUR_ML:.0f} mL)")
    return measures, flags
