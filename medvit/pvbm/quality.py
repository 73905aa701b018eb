"""Is it a fundus photograph, and how good a one? Measures of a photo, and the grade they give,
before any vessel is measured.

A fundus camera images the retina through the pupil: a bright, round field of view (cut by the
frame's top and bottom on some cameras) on a black surround, red-orange (the choroid's blood)
with little blue. The vessel segmenters find "vessels" in any picture, so without this check a
portrait gets a full row of biomarkers; and a blurred or dark photo gets numbers nobody should
compare with a sharp one's. Each measure is a function returning numbers, the row's ``qc_*``
columns; :func:`fundus_problems` compares the first ones with the limits below (module
constants, with the values measured on real photos beside them) and says why a photo is not a
fundus photograph; :func:`quality_findings` compares illumination and focus with
:data:`GRADE_LIMITS`; :func:`assess_fundus_photo` does all and grades the photo ``good``,
``usable`` or ``reject`` (:attr:`FundusQuality.grade`, with its reasons).

Measured on the full-size photos (field of view share, its solidity, surround / field-of-view
brightness, red and blue share of the field of view's mean colour): skimage's ``retina``
(0.77, 0.99, 0.01, 0.59, 0.17); DRIVE (0.69, 0.99, ≤ 0.06, ≥ 0.54, ≤ 0.16), CHASE_DB1 (0.63-0.69,
≥ 0.99, 0.00, ≥ 0.62, ≤ 0.07) and HRF (0.85, 1.00, 0.00, ≥ 0.64, ≤ 0.13) photos of three other
cameras; and of other pictures: skimage's ``astronaut`` (0.84, 0.87, 0.00, 0.41, 0.28),
``coffee`` (0.94, 0.95, 0.14, 0.54, 0.17), ``chelsea`` (1.00, 1.00, -, 0.43, 0.25), ``rocket``
(0.27 red, 0.42 blue), ``immunohistochemistry`` (0.37 red).

Scale: shares and colours are taken on a :func:`working_copy` (every k-th pixel, long side about
256 px); focus on a :func:`field_copy`, box-averaged so that the field of view is
:data:`FIELD_SIDE` px across, so a photo, its half-size copy and its 1024² crop measure alike
(within about 10 % on the seven real photos).

Arrays as :mod:`medvit.pvbm.photo`: (H, W, 3) RGB or (H, W) grey, float in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.transform import downscale_local_mean, resize

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

#: Diameter (px) of the field of view in the :func:`field_copy` that focus is measured on: a fixed
#: share of the retina per pixel, about DRIVE's resolution halved (its field of view is 540 px across).
FIELD_SIDE = 256
#: Brightness (brightest channel) below which a field-of-view pixel is under-exposed: a tenth of full scale.
DARK_LEVEL = 0.10
#: Green at or above which a field-of-view pixel is over-exposed (clipped; the red of fundus photos often is).
CLIPPED_LEVEL = 0.95
#: Side (px, at :data:`FIELD_SIDE`) of the closing that fills vessels for the vessel contrast: wider
#: than the widest vessel (about 1.5 % of the field's diameter, 4 px).
VESSEL_WIDTH = 7


@dataclass(frozen=True)
class GradeLimit:
    """A measure's limits: worse than ``good`` makes a photo ``usable``, worse than ``usable``
    (None: never) ``reject``; ``low`` says that low values are the bad ones. ``reason`` names
    the flaw in the row's ``qc_reasons``; ``real`` the values measured on real photos."""

    column: str
    reason: str
    good: float
    usable: float | None
    low: bool
    real: str

    def grade(self, value: float) -> str:
        """"good", "usable" or "reject" for ``value`` (NaN, not measured: "good")."""
        def worse(limit):
            return limit is not None and bool(value < limit if self.low else value > limit)
        return "reject" if worse(self.usable) else "usable" if worse(self.good) else "good"


#: The illumination and focus limits, beside the values measured on the seven real photos
#: (skimage's ``retina``, DRIVE, CHASE_DB1, HRF; full size, 1024² crop and half size) and on
#: degraded copies of them: brightness × 0.25 / × 0.1 (median 0.12-0.20 / 0.05-0.08), × 2 / × 3
#: clipped (over-exposed share 0.00-0.07 / 0.02-0.92), Gaussian blur σ = 0.004 / 0.01 of the long
#: side (sharpness 0.013-0.026 / 0.004-0.008, vessel contrast 0.07-0.16 / 0.02-0.05). Illumination
#: is graded on absolute brightness: a 12-bit photo saved in 16 bits unscaled reads as under-exposed.
GRADE_LIMITS = (
    GradeLimit("qc_brightness", "under-exposed", 0.30, 0.10, low=True, real="0.49-0.82"),
    GradeLimit("qc_dark_share", "dark areas", 0.05, 0.50, low=False, real="≤ 0.001"),
    GradeLimit("qc_clipped_share", "over-exposed", 0.05, 0.25, low=False, real="≤ 0.001"),
    # CHASE_DB1's camera lights the centre (1.06-1.25); the retina × a ramp 1 → 0.2 across: 0.54 → 1.56
    GradeLimit("qc_unevenness", "uneven illumination", 1.5, None, low=False, real="0.29-1.25"),
    GradeLimit("qc_sharpness", "blurred", 0.020, 0.010, low=True, real="0.026-0.051"),
    GradeLimit("qc_vessel_contrast", "low vessel contrast", 0.08, 0.04, low=True, real="0.12-0.26"),
)

FUNDUS_COLUMNS = ("qc_fov_fraction", "qc_fov_solidity", "qc_surround_brightness", "qc_red_share", "qc_blue_share")
QUALITY_COLUMNS = ("qc_grade", "qc_reasons", *FUNDUS_COLUMNS, *(limit.column for limit in GRADE_LIMITS))
GRADES = ("good", "usable", "reject")


@dataclass
class FundusQuality:
    """A photo's measures (:data:`QUALITY_COLUMNS` but grade and reasons), why it is not a fundus
    photograph (``problems``; empty: it is one) and its illumination and focus flaws
    (``findings``: (grade, reason) pairs of :func:`quality_findings`)."""

    measures: dict[str, float]
    problems: list[str] = field(default_factory=list)
    findings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def grade(self) -> str:
        """"reject" (not a fundus photograph, or a flaw beyond its ``usable`` limit), "usable" (a
        flaw beyond its ``good`` limit) or "good"."""
        grades = ["reject"] * bool(self.problems) + [grade for grade, _ in self.findings]
        return max(grades, key=GRADES.index, default="good")

    @property
    def reasons(self) -> list[str]:
        return [*self.problems, *(reason for _, reason in self.findings)]

    def columns(self) -> dict[str, float | str]:
        """The row's :data:`QUALITY_COLUMNS`."""
        return {"qc_grade": self.grade, "qc_reasons": "; ".join(self.reasons), **self.measures}


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


def _green(photo: np.ndarray) -> np.ndarray:
    """The green channel (H, W), where vessels contrast most; the photo itself when grey."""
    return photo[..., 1] if photo.ndim == 3 else photo


def illumination_measures(photo: np.ndarray, fov: np.ndarray) -> dict[str, float]:
    """How well the field of view is lit.

    Args:
        photo: (H, W, 3) or (H, W) float in [0, 1], e.g. a :func:`working_copy`.
        fov: (H, W) bool, its field of view.

    Returns:
        ``qc_brightness`` (median brightest channel), ``qc_dark_share`` (share below
        :data:`DARK_LEVEL`), ``qc_clipped_share`` (share with green at :data:`CLIPPED_LEVEL` or
        above) and ``qc_unevenness``: the spread (95th - 5th percentile) of the green
        background (the green smoothed with σ = 1/16 of the field's diameter, within the field
        only) over the field's median green.
    """
    value, green = brightness(photo), _green(photo)
    rows, cols = np.nonzero(fov)
    sigma = max(np.ptp(rows), np.ptp(cols)) / 16
    # smoothing within the field only (normalised convolution): the black surround does not darken its rim
    weight = ndi.gaussian_filter(fov.astype(np.float32), sigma)
    background = ndi.gaussian_filter(np.where(fov, green, 0).astype(np.float32), sigma)[fov] / weight[fov]
    median = float(np.median(green[fov]))
    spread = np.percentile(background, 95) - np.percentile(background, 5)
    return {"qc_brightness": float(np.median(value[fov])), "qc_dark_share": float(np.mean(value[fov] < DARK_LEVEL)),
            "qc_clipped_share": float(np.mean(green[fov] >= CLIPPED_LEVEL)),
            "qc_unevenness": float(spread / median) if median > 0 else math.nan}


def field_copy(channel: np.ndarray, fov: np.ndarray, side: int = FIELD_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``channel`` cropped to the field of view and box-averaged so that the field is ``side`` px
    across: focus measured on it compares photos of any size (a stride copy would alias noise
    into the fine detail that focus measures).

    Args:
        channel: (H, W) float, one channel of the photo at full size.
        fov: (h, w) bool, the field of view of the photo or of its :func:`working_copy`.
        side: the field's diameter (its bounding box's long side) in the copy.

    Returns:
        ``(copy, inner)``: the copy (h', w') float32 with max(h', w') = ``side``, and its field of
        view shrunk by 4 % of ``side`` (clear of the aperture's edge), (h', w') bool.
    """
    row_scale, col_scale = channel.shape[0] / fov.shape[0], channel.shape[1] / fov.shape[1]
    rows, cols = np.nonzero(fov)
    top, left = int(rows.min() * row_scale), int(cols.min() * col_scale)
    bottom = min(channel.shape[0], math.ceil((rows.max() + 1) * row_scale))
    right = min(channel.shape[1], math.ceil((cols.max() + 1) * col_scale))
    factor = max(1, max(bottom - top, right - left) // side)  # whole-pixel box average, then a last small step
    bottom, right = top + (bottom - top) // factor * factor, left + (right - left) // factor * factor
    box = downscale_local_mean(channel[top:bottom, left:right], (factor, factor))
    scale = side / max(box.shape)
    shape = (max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale)))
    copy = resize(box, shape, order=1, anti_aliasing=scale < 1).astype(np.float32)
    inner = resize(fov[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32), shape, order=0) > 0.5
    return copy, ndi.binary_erosion(inner, iterations=max(1, round(0.04 * side)))


def focus_measures(copy: np.ndarray, fov: np.ndarray) -> dict[str, float]:
    """How sharp the retina is, on a :func:`field_copy` (the measures depend on its scale).

    Args:
        copy: (H, W) float, the green :func:`field_copy`; fov: (H, W) bool, its inner field of view.

    Returns:
        ``qc_sharpness``: the standard deviation of the Laplacian of Gaussian (σ 1 px) over the
        field's median (variance of the Laplacian, made independent of exposure); and
        ``qc_vessel_contrast``: the 95th percentile of the black top-hat (closing with a
        :data:`VESSEL_WIDTH`-px square minus the copy) over the closing, the depth of the darkest
        thin structures — the vessels — relative to the retina around them. NaN for an empty or
        black field.
    """
    median = float(np.median(copy[fov])) if fov.any() else 0.0
    if median <= 0:
        return {"qc_sharpness": math.nan, "qc_vessel_contrast": math.nan}
    sharpness = float(np.std(ndi.gaussian_laplace(copy, 1.0)[fov])) / median
    closed = ndi.grey_closing(copy, size=(VESSEL_WIDTH, VESSEL_WIDTH))
    depth = (closed - copy)[fov] / np.maximum(closed[fov], 1e-3)
    return {"qc_sharpness": sharpness, "qc_vessel_contrast": float(np.percentile(depth, 95))}


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


def quality_findings(measures: dict[str, float]) -> list[tuple[str, str]]:
    """The photo's illumination and focus flaws: ``(grade, reason)`` for each measure of
    :data:`GRADE_LIMITS` beyond its ``good`` limit, the reason with the measured value (NaN, not
    measured: no flaw)."""
    findings = []
    for limit in GRADE_LIMITS:
        value = measures.get(limit.column, math.nan)
        grade = limit.grade(value)
        if grade != "good":
            name = limit.column.removeprefix("qc_").replace("_", " ")
            findings.append((grade, f"{limit.reason} ({name} {value:.3g}; real photos {limit.real})"))
    return findings


def assess_fundus_photo(photo: np.ndarray) -> FundusQuality:
    """Measures of the photo — :func:`field_of_view_measures`, :func:`colour_measures` and
    :func:`illumination_measures` on its :func:`working_copy`, :func:`focus_measures` on the
    green :func:`field_copy` — with :func:`fundus_problems` and :func:`quality_findings` of them.
    Without a field of view, illumination and focus are NaN (the photo is rejected for it).

    Args:
        photo: (H, W, 3) or (H, W) float in [0, 1], as :func:`~medvit.pvbm.photo.fundus_photo` returns.
    """
    photo = np.asarray(photo)
    small = working_copy(photo)
    measures, fov = field_of_view_measures(small)
    measures.update(colour_measures(small, fov))
    if fov is None:
        measures.update({limit.column: math.nan for limit in GRADE_LIMITS})
    else:
        measures.update(illumination_measures(small, fov))
        measures.update(focus_measures(*field_copy(_green(photo), fov)))
    return FundusQuality(measures, fundus_problems(measures), quality_findings(measures))
