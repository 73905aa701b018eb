"""Is it a fundus photograph? Measures of a photo, and the verdict they give, before any vessel
is measured.

A fundus camera images the retina through the pupil: a bright, round field of view (cut by the
frame's top and bottom on some cameras) on a black surround, red-orange (the choroid's blood)
with little blue. The vessel segmenters find "vessels" in any picture, so without this check a
portrait gets a full row of biomarkers. Each measure is a function returning numbers, the
row's ``qc_*`` columns; :func:`fundus_problems` compares them with the limits below (module
constants, with the values measured on real photos beside them) and says what is wrong;
:func:`assess_fundus_photo` does both. A quality grade (focus, illumination: good / usable /
reject) is meant to grow here from further measures and their limits.

Measured on the full-size photos (field of view share, its solidity, surround / field-of-view
brightness, red and blue share of the field of view's mean colour): skimage's ``retina``
(0.77, 0.99, 0.01, 0.59, 0.17); DRIVE (0.69, 0.99, ≤ 0.06, ≥ 0.54, ≤ 0.16), CHASE_DB1 (0.63-0.69,
≥ 0.99, 0.00, ≥ 0.62, ≤ 0.07) and HRF (0.85, 1.00, 0.00, ≥ 0.64, ≤ 0.13) photos of three other
cameras; and of other pictures: skimage's ``astronaut`` (0.84, 0.87, 0.00, 0.41, 0.28),
``coffee`` (0.94, 0.95, 0.14, 0.54, 0.17), ``chelsea`` (1.00, 1.00, -, 0.43, 0.25), ``rocket``
(0.27 red, 0.42 blue), ``immunohistochemistry`` (0.37 red).

Arrays as :mod:`medvit.pvbm.photo`: (H, W, 3) RGB or (H, W) grey, float in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from skimage.measure import regionprops

from medvit.errors import MedvitError
from medvit.pvbm.photo import MIN_SIDE, brightness
from medvit.pvbm.vessels import field_of_view

#: Long side of the copy the measures are taken on (px): they are shares and ratios, not sizes.
WORKING_SIDE = 256
#: A field of view covering this share of the photo is a crop of the retina: it has no surround to judge.
FULL_FRAME = 0.98
#: Median brightness of the surround over the field of view's, above which the surround is not a
#: camera's black aperture (fundus photos ≤ 0.06; coffee on a table 0.15).
MAX_SURROUND_BRIGHTNESS = 0.12
#: Area of the field of view over its convex hull's: a camera's aperture is round or a round cut
#: straight by the frame (fundus photos ≥ 0.99), a scene's bright region is not.
MIN_FOV_SOLIDITY = 0.95
#: Red's share of the field of view's mean colour: the retina is red-orange (fundus photos ≥ 0.54).
MIN_RED_SHARE = 0.45
#: Blue's share of the field of view's mean colour (fundus photos ≤ 0.17).
MAX_BLUE_SHARE = 0.25

QUALITY_COLUMNS = ("qc_fov_fraction", "qc_fov_solidity", "qc_surround_brightness", "qc_red_share", "qc_blue_share")


@dataclass
class FundusQuality:
    """A photo's measures (:data:`QUALITY_COLUMNS`) and what is wrong with it (empty: it is a
    fundus photograph)."""

    measures: dict[str, float]
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """"accept", or "reject" for a photo that is not a fundus photograph."""
        return "reject" if self.problems else "accept"


def working_copy(photo: np.ndarray, side: int = WORKING_SIDE) -> np.ndarray:
    """Every k-th pixel of ``photo`` (H, W[, 3]) so that the long side is about ``side`` and the short
    side stays at least :data:`~medvit.pvbm.photo.MIN_SIDE`: measures of shares and colours need no
    more, and a 3504-px photo is measured as fast as a 565-px one."""
    height, width = photo.shape[:2]
    step = max(1, min(max(height, width) // side, min(height, width) // MIN_SIDE))
    return photo[::step, ::step]


def field_of_view_measures(photo: np.ndarray) -> tuple[dict[str, float], np.ndarray | None]:
    """How much the photo looks like a camera's round aperture on a black surround.

    Args:
        photo: (H, W, 3) or (H, W) float in [0, 1] (:func:`~medvit.pvbm.photo.fundus_photo`).

    Returns:
        ``(measures, fov)``: ``qc_fov_fraction`` (the field of view's share of the photo; 0 when
        :func:`~medvit.pvbm.vessels.field_of_view` finds none), ``qc_fov_solidity`` (its area over
        its convex hull's) and ``qc_surround_brightness`` (median brightness outside it over
        inside; NaN when nothing lies outside); and the field of view (H, W) bool, None when none.
    """
    try:
        fov = field_of_view(photo)
    except MedvitError:  # no bright region a tenth of the photo: measured as no field of view
        return {"qc_fov_fraction": 0.0, "qc_fov_solidity": math.nan, "qc_surround_brightness": math.nan}, None
    value = brightness(photo)
    inside = float(np.median(value[fov]))
    surround = float(np.median(value[~fov])) / inside if (~fov).any() and inside > 0 else math.nan
    solidity = float(regionprops(fov.astype(np.uint8))[0].solidity)
    return {"qc_fov_fraction": float(fov.mean()), "qc_fov_solidity": solidity, "qc_surround_brightness": surround}, fov


def colour_measures(photo: np.ndarray, fov: np.ndarray | None = None) -> dict[str, float]:
    """Red's and blue's shares of the mean colour inside ``fov`` (the whole photo when None):
    ``qc_red_share``, ``qc_blue_share``; NaN for a grey photo.

    Args:
        photo: (H, W, 3) or (H, W) float in [0, 1].
        fov: (H, W) bool.
    """
    if photo.ndim != 3:
        return {"qc_red_share": math.nan, "qc_blue_share": math.nan}
    mean = (photo[fov] if fov is not None else photo.reshape(-1, 3)).mean(axis=0)
    share = mean / mean.sum() if mean.sum() > 0 else np.full(3, math.nan)
    return {"qc_red_share": float(share[0]), "qc_blue_share": float(share[2])}


def fundus_problems(measures: dict[str, float]) -> list[str]:
    """Why the photo with these measures is not a fundus photograph (empty: nothing is wrong).
    A NaN measure is not judged: a grey photo (accepted with the user's vessel masks) is judged
    by its field of view alone; a crop of the retina (the field of view fills the frame) by its
    colour alone."""
    problems = []
    fraction = measures["qc_fov_fraction"]
    if fraction == 0:
        problems.append("no bright field of view")
    elif fraction < FULL_FRAME:
        if measures["qc_surround_brightness"] > MAX_SURROUND_BRIGHTNESS:
            problems.append(f"no dark surround around the field of view (surround / field brightness "
                            f"{measures['qc_surround_brightness']:.2f}, fundus photos ≤ {MAX_SURROUND_BRIGHTNESS})")
        if measures["qc_fov_solidity"] < MIN_FOV_SOLIDITY:
            problems.append(f"the field of view is not round (solidity {measures['qc_fov_solidity']:.2f}, "
                            f"fundus photos ≥ {MIN_FOV_SOLIDITY})")
    if measures["qc_red_share"] < MIN_RED_SHARE or measures["qc_blue_share"] > MAX_BLUE_SHARE:
        problems.append(f"colours unlike a retina (red {measures['qc_red_share']:.2f}, blue "
                        f"{measures['qc_blue_share']:.2f} of the mean colour; fundus photos red ≥ {MIN_RED_SHARE}, "
                        f"blue ≤ {MAX_BLUE_SHARE})")
    return problems


def assess_fundus_photo(photo: np.ndarray) -> FundusQuality:
    """The measures of :func:`field_of_view_measures` and :func:`colour_measures` on the photo's
    :func:`working_copy`, and :func:`fundus_problems` of them.

    Args:
        photo: (H, W, 3) or (H, W) float in [0, 1], as :func:`~medvit.pvbm.photo.fundus_photo` returns.
    """
    small = working_copy(np.asarray(photo))
    measures, fov = field_of_view_measures(small)
    measures.update(colour_measures(small, fov))
    return FundusQuality(measures, fundus_problems(measures))
