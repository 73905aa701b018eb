"""Optic disc of a colour fundus photograph, found without learned weights, and user overrides.

The disc is returned as ``(x, y, radius)`` in pixels of the input photo, with ``x`` the
column and ``y`` the row of its centre (scikit-image arrays are indexed ``[y, x]``)::

    x, y, radius = detect_optic_disc(photo)                  # or with vessels=vessel_mask(photo)
    overrides = read_disc_overrides("discs.csv")             # {"img_07": (412.0, 388.0, 61.0), ...}
    disc = overrides.get(stem) or detect_optic_disc(photo)

Where detection fails (no disc in the photo) or is uncertain (the rim found on under half
the rays around it: :func:`locate_optic_disc`'s confidence), the detector raises
:class:`medvit.errors.MedvitError` rather than guessing a centre; the override table is how
a user supplies the disc for such images.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import unicodedata
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage import feature

from medvit.pvbm.photo import fundus_photo
from medvit.pvbm.vessels import _check_fov, _field_of_view, fov_diameter, vessel_mask
from medvit.errors import MedvitError

__all__ = ["DISC_RADIUS_RANGE", "OpticDisc", "detect_optic_disc", "locate_optic_disc", "disc_override", "read_disc_overrides"]

#: Plausible disc radius as fractions of the FOV diameter ``D``: about 1/15 on a 45-degree photo,
#: 1/9 on a 30-degree one (CHASE_DB1), 1/16 on a 60-degree one (HRF, its FOV cut top and bottom).
DISC_RADIUS_RANGE = (1 / 28, 1 / 6.5)

# FOV diameter of the working copy, in pixels: the disc is still 25-100 px across there,
# plenty for a centre and radius, and every filter below runs in a few milliseconds
_WORKING_DIAMETER = 350.0
# vessels and the pixel around them cover 15-22 % of the working copy's field of view (our and
# VascX's masks of six photos); a mask covering more than this is no vessel mask
_MAX_VESSEL_COVER = 0.4
# rays cast from a candidate centre to find the disc's rim
_RAYS = 72
# contrast of the disc (red + green inside over the ring out to 1.5 radii, minus 1) that counts
# as fully confident: discs of real photos measure 0.19-0.46, a spot left where the disc
# was painted over 0.15 at most
_FULL_CONTRAST = 0.35


class OpticDisc(NamedTuple):
    """A detected optic disc: centre ``x`` (column), ``y`` (row) and ``radius`` in pixels, and
    ``confidence`` in [0, 1] (see :func:`locate_optic_disc`)."""

    x: float
    y: float
    radius: float
    confidence: float


def detect_optic_disc(
    image: np.ndarray,
    vessels: np.ndarray | None = None,
    fov: np.ndarray | None = None,
    min_contrast: float = 0.25,
    candidates: int = 5,
    min_confidence: float = 0.45,
) -> tuple[float, float, float]:
    """Centre and radius of the optic disc, or an error where it is uncertain (never a guess).

    :func:`locate_optic_disc`, refused when its confidence is below ``min_confidence``.

    Returns:
        ``(x, y, radius)`` floats in pixels of ``image``: centre column, centre row, radius.

    Raises:
        MedvitError: as :func:`locate_optic_disc`, or a confidence below ``min_confidence``
            (the rim not found all round, or the disc hardly brighter than around it).
    """
    disc = locate_optic_disc(image, vessels, fov, min_contrast, candidates)
    if disc.confidence < min_confidence:
        raise MedvitError(
            f"detect_optic_disc: optic disc uncertain: confidence {disc.confidence:.2f} at ({disc.x:.0f}, {disc.y:.0f}), "
            f"r {disc.radius:.0f} px, below {min_confidence:.2f} (rim not found all round, or too faint); "
            "give its centre and radius in a disc table"
        )
    return disc.x, disc.y, disc.radius


def locate_optic_disc(
    image: np.ndarray,
    vessels: np.ndarray | None = None,
    fov: np.ndarray | None = None,
    min_contrast: float = 0.25,
    candidates: int = 5,
) -> OpticDisc:
    """The optic disc: the bright, round spot where the vessels converge, with a confidence.

    Every length is relative to the FOV diameter ``D``, so the method is the same on a 565-px
    DRIVE photo and a 3504-px HRF one. On a copy block-averaged to ``D`` of about 350 px:

    1. Brightness: the green channel (the disc stands out there; red saturates), vessel
       pixels excluded by a normalised (masked) Gaussian of sigma ``D / 40``, divided by
       the same at ``D / 6``, so slow vignetting cancels and the disc reads as a ratio,
       e.g. 1.75 = 75 % brighter than the retina around it.
    2. Candidates: the ``candidates`` brightest local maxima of that ratio, at least a
       maximal disc radius apart (:func:`skimage.feature.peak_local_max`), each scored
       by the sum of its brightness and vessel-density z-scores within the FOV (robust
       median/MAD for brightness; vessel density in a Gaussian window of ``D / 20``: the
       major vessels converge on the disc, which tells it from bright lesions).
    3. Rim: from each candidate, :data:`_RAYS` rays; on each, the steepest bright-to-dark
       step of red + green (vessels and a 1-px margin masked out and filled in by their
       surroundings, sigma ``D / 150``), between radii ``DISC_RADIUS_RANGE * D``. A circle
       is fitted (least squares) to the steps within 2 MADs of their median radius, and the
       rays are cast again from its centre, three times. Started from the candidate and
       from four points ``D / 30`` around it; kept: the circle with the highest fraction of
       rays on it plus its contrast (mean inside over the ring out to 1.5 radii, minus 1),
       which tells the rim from the cup or a bright crescent inside the disc. The
       steepest step rather than a circular Hough transform: the cup inside the disc and
       the vessels on its rim leave arcs that outvote the rim in an accumulator, while the
       rim is the steepest step on most rays (and an atrophy crescent on a few).
    4. Choice: the candidate with the highest score plus ``10 * (confidence - 0.5)``.

    The confidence is the lesser of the fraction of rays whose steepest step lies within
    15 % of the circle's radius and the disc's contrast over 0.35 (capped at 1): both a rim
    all round and a disc clearly brighter than the ring outside it. On six photos of DRIVE,
    CHASE_DB1 and HRF (full size and 1024² crops) 0.58-0.82, ``skimage.data.retina()``
    0.55 (0.53 at half size); where the disc was painted over, the spot found instead scores
    0.39 at most: :func:`detect_optic_disc` refuses below 0.45.

    Args:
        image: fundus photo, (H, W, 3) RGB or (H, W) grey, H and W at least 64.
        vessels: vessel mask (H, W) bool, e.g. from
            :func:`medvit.pvbm.vessels.vessel_mask`; computed on the working copy
            when omitted or when it covers, grown by a pixel, over 40 % of the FOV
            (no vessel mask: e.g. an untrained network's output).
        fov: field of view (H, W) bool; computed with
            :func:`medvit.pvbm.vessels.field_of_view` when omitted.
        min_contrast: least relative brightness of the disc over its surroundings
            in green (0.25: 25 % brighter); below it no disc is reported. The disc of
            ``skimage.data.retina()`` is 75 % brighter, the brightest spot of the
            disc-free ``skimage.data.microaneurysms()`` crop 15 %.
        candidates: how many bright spots compete.

    Returns:
        :class:`OpticDisc` ``(x, y, radius, confidence)``, in pixels of ``image``.

    Raises:
        MedvitError: bad image, FOV or vessel mask, or no plausible disc: no spot in the
            FOV is ``min_contrast`` brighter than its surroundings.
    """
    photo = fundus_photo(image)
    shape = photo.shape[:2]
    if fov is not None:
        fov = _check_fov(fov, shape)
    if vessels is not None:
        vessels = np.asarray(vessels)
        if vessels.shape != shape:
            raise MedvitError(f"detect_optic_disc: vessel mask has shape {vessels.shape}, the photo {shape}")
    if min_contrast <= 0 or int(candidates) < 1:
        raise MedvitError("detect_optic_disc: min_contrast must be positive and candidates at least 1")

    # working copy: block means by an integer factor, so positions map back exactly
    full_diameter = fov_diameter(fov) if fov is not None else float(min(shape))
    factor = max(1, int(round(full_diameter / _WORKING_DIAMETER)))
    small = _block_mean(photo, factor)
    small_fov = _field_of_view(small) if fov is None else _block_mean(fov, factor) > 0.5
    if not small_fov.any():
        raise MedvitError("detect_optic_disc: the field of view vanishes at working resolution")
    vessel_fraction = None if vessels is None else _block_mean(vessels != 0, factor)
    near_vessels = None if vessels is None else ndi.binary_dilation(vessel_fraction > 0.5)
    if near_vessels is None or near_vessels[small_fov].mean() > _MAX_VESSEL_COVER:
        # none given, or no vessel mask (e.g. an untrained network's speckle): the detector's own
        vessel_fraction = vessel_mask(small, fov=small_fov).astype(np.float32)
        near_vessels = ndi.binary_dilation(vessel_fraction > 0.5)
    if fov is None:
        full_diameter = fov_diameter(small_fov) * factor
    diameter = full_diameter / factor
    min_radius, max_radius = (fraction * diameter for fraction in DISC_RADIUS_RANGE)

    green = small[..., 1] if small.ndim == 3 else small
    retina = small_fov * (1.0 - vessel_fraction)  # weight: FOV pixels free of vessels
    brightness = _masked_gaussian(green, retina, diameter / 40)
    background = _masked_gaussian(green, retina, diameter / 6)
    ratio = np.where(small_fov, brightness / np.maximum(background, 1e-3), 0.0)

    peaks = feature.peak_local_max(
        ratio,
        min_distance=max(1, int(diameter / 9)),
        num_peaks=int(candidates),
        labels=small_fov.astype(np.uint8),
        exclude_border=False,
    )
    if len(peaks) == 0 or ratio[tuple(peaks.T)].max() - 1 < min_contrast:
        best = 0.0 if len(peaks) == 0 else float(ratio[tuple(peaks.T)].max() - 1)
        raise MedvitError(
            "detect_optic_disc: no plausible optic disc: the brightest spot in the field of view is "
            f"{best:.0%} brighter than its surroundings, a disc is at least {min_contrast:.0%} brighter"
        )
    peaks = peaks[ratio[tuple(peaks.T)] - 1 >= min_contrast]

    density = _masked_gaussian(vessel_fraction, small_fov.astype(np.float32), diameter / 20)
    inside_ratio, inside_density = ratio[small_fov], density[small_fov]
    median = np.median(inside_ratio)
    spread = 1.4826 * np.median(np.abs(inside_ratio - median)) + 1e-6
    score = (ratio[tuple(peaks.T)] - median) / spread
    score = score + (density[tuple(peaks.T)] - inside_density.mean()) / (inside_density.std() + 1e-6)

    # the rim: red + green with vessels (and a pixel around them) filled in by their surroundings
    free = small_fov & ~near_vessels
    rim_image = _masked_gaussian(small.sum(axis=-1) - small[..., 2] if small.ndim == 3 else small, free,
                                 max(1.0, diameter / 150))
    best_circle, best_total = None, -np.inf
    for (row, col), candidate_score in zip(peaks, score):
        circle = _rim_circle(rim_image, free, (row, col), min_radius, max_radius, diameter / 30)
        total = candidate_score + 10.0 * (circle[3] - 0.5)
        if total > best_total:
            best_circle, best_total = circle, total
    row_c, col_c, radius, confidence = best_circle
    # block b of the working copy covers input pixels b*factor .. b*factor + factor - 1
    to_input = lambda v: (v + 0.5) * factor - 0.5  # noqa: E731 - one-line coordinate map
    return OpticDisc(float(to_input(col_c)), float(to_input(row_c)), float(radius * factor), float(confidence))


def read_disc_overrides(csv_path: str | os.PathLike) -> dict[str, tuple[float, float, float]]:
    """Read a table of optic discs a user set by hand, for images where detection fails.

    The CSV has a header with the columns ``image, x, y, radius`` (other columns are
    ignored): ``image`` a file name or stem, ``x``/``y`` the centre column/row and
    ``radius`` in pixels of that image.

    Returns:
        ``{image: (x, y, radius)}`` with floats; each entry is stored under the name as
        written and, when that has a suffix, under its stem too (``"a.png"`` and ``"a"``),
        so a lookup by either works.

    Raises:
        MedvitError: the file cannot be read, a column is missing, or a row is bad
            (empty image name, non-numeric or non-finite value, negative centre, radius
            not above 0, the same image twice), naming the file and row.
    """
    path = Path(csv_path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise MedvitError(f"{path}: no such disc override file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise MedvitError(f"{path}: cannot read the disc override table ({err})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise MedvitError(f"{path}: the disc override table is empty; expected columns image, x, y, radius")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [name for name in ("image", "x", "y", "radius") if name not in header]
    if missing:
        raise MedvitError(
            f"{path}: the disc override table lacks column(s) {', '.join(missing)}; "
            f"expected image, x, y, radius, found {', '.join(header) or 'nothing'}"
        )
    column = {name: header.index(name) for name in ("image", "x", "y", "radius")}

    overrides: dict[str, tuple[float, float, float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path}, row {line}"
        cells = {name: (row[index].strip() if index < len(row) else "") for name, index in column.items()}
        name = unicodedata.normalize("NFC", cells["image"])  # é typed or decomposed (macOS file names) alike
        if not name:
            raise MedvitError(f"{where}: the image name is empty")
        values = []
        for key in ("x", "y", "radius"):
            try:
                value = float(cells[key])
            except ValueError:
                raise MedvitError(f"{where} ({name}): {key} is {cells[key]!r}, not a number") from None
            if not math.isfinite(value):
                raise MedvitError(f"{where} ({name}): {key} is {cells[key]!r}, not a finite number")
            values.append(value)
        x, y, radius = values
        if radius <= 0:
            raise MedvitError(f"{where} ({name}): radius must be above 0, got {cells['radius']}")
        if x < 0 or y < 0:
            raise MedvitError(f"{where} ({name}): the centre ({cells['x']}, {cells['y']}) lies outside the image")
        stem = Path(name).stem
        for key in dict.fromkeys((name, stem)):
            if key in overrides:
                raise MedvitError(f"{where} ({name}): {key!r} is listed twice")
            overrides[key] = (x, y, radius)
    return overrides


def _rim_circle(image, valid, centre, min_radius, max_radius, shift, passes=3):
    """``(row, col, radius, confidence)`` of the circle on the disc's rim near ``centre``: the best
    of the fits started at ``centre`` and ``shift`` px around it (see :func:`locate_optic_disc`)."""
    row, col = centre
    starts = [(row, col), (row + shift, col), (row - shift, col), (row, col + shift), (row, col - shift)]
    best, best_score = (float(row), float(col), float(min_radius), 0.0), -np.inf
    for start_row, start_col in starts:
        circle = _fit_rim(image, valid, start_row, start_col, min_radius, max_radius, passes)
        if circle is None:
            continue
        # a circle around the cup or a bright crescent inside the disc also has a rim on most
        # rays, but the ring outside it is still disc: brighter than outside the true rim
        contrast = _rim_contrast(image, valid, *circle[:3])
        score = circle[3] + contrast
        if score > best_score:
            confidence = min(circle[3], max(0.0, contrast) / _FULL_CONTRAST)
            best, best_score = (*circle[:3], confidence), score
    return best


def _rim_contrast(image, valid, row, col, radius) -> float:
    """Mean of ``image`` inside the circle over its mean in the ring out to 1.5 radii, minus 1
    (valid pixels only; 0 where either is empty)."""
    reach = int(math.ceil(1.5 * radius)) + 1
    top, left = max(0, int(row) - reach), max(0, int(col) - reach)
    bottom, right = min(image.shape[0], int(row) + reach + 1), min(image.shape[1], int(col) + reach + 1)
    window = (slice(top, bottom), slice(left, right))
    rows, cols = np.ogrid[top:bottom, left:right]
    distance = np.hypot(rows - row, cols - col)
    values, usable = image[window], valid[window]
    inside, ring = usable & (distance <= radius), usable & (distance > radius) & (distance <= 1.5 * radius)
    if not inside.any() or not ring.any():
        return 0.0
    return float(values[inside].mean() / max(float(values[ring].mean()), 1e-6) - 1.0)


def _fit_rim(image, valid, row, col, min_radius, max_radius, passes):
    """Circle fitted to the steepest bright-to-dark step on each ray from (row, col), recentred
    ``passes`` times; None where too few rays find a step."""
    for _ in range(passes):
        steps = _rim_steps(image, valid, row, col, min_radius, max_radius)
        if steps is None:
            return None
        radii, angles = steps
        median = np.median(radii)
        keep = np.abs(radii - median) <= 2 * 1.4826 * np.median(np.abs(radii - median)) + 0.5
        if np.count_nonzero(keep) < 3:
            return None
        row, col = _fit_circle_centre(row + radii[keep] * np.sin(angles[keep]), col + radii[keep] * np.cos(angles[keep]))
        if not (np.isfinite(row) and np.isfinite(col)):
            return None
    steps = _rim_steps(image, valid, row, col, min_radius, max_radius)
    if steps is None:
        return None
    radii = steps[0]
    radius = float(np.median(radii))
    confidence = np.count_nonzero(np.abs(radii - radius) <= 0.15 * radius) / _RAYS
    return float(row), float(col), radius, float(confidence)


def _rim_steps(image, valid, row, col, min_radius, max_radius):
    """Per ray from (row, col): the radius of the steepest bright-to-dark step between the radii
    (``None`` when under a quarter of the rays have one); ``(radii, angles)`` of those that do."""
    radii = np.arange(0.3 * min_radius, 1.2 * max_radius, 0.5)
    angles = np.linspace(0.0, 2 * np.pi, _RAYS, endpoint=False)
    rows = row + np.outer(np.sin(angles), radii)
    cols = col + np.outer(np.cos(angles), radii)
    profile = ndi.map_coordinates(image, [rows, cols], order=1, mode="nearest")
    usable = ndi.map_coordinates(valid.astype(np.float32), [rows, cols], order=1, mode="constant") > 0.5
    usable &= np.roll(usable, 1, axis=1) & np.roll(usable, -1, axis=1)  # both neighbours of the slope too
    slope = np.where(usable & ((radii >= min_radius) & (radii <= max_radius))[None], np.gradient(profile, axis=1), np.inf)
    steepest = slope.argmin(axis=1)
    found = slope[np.arange(_RAYS), steepest] < 0
    if np.count_nonzero(found) < _RAYS // 4:
        return None
    return radii[steepest[found]], angles[found]


def _fit_circle_centre(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Centre (row, col) of the least-squares circle through the points (algebraic fit)."""
    system = np.column_stack([2 * rows, 2 * cols, np.ones_like(rows)])
    (centre_row, centre_col, _), *_ = np.linalg.lstsq(system, rows**2 + cols**2, rcond=None)
    return float(centre_row), float(centre_col)


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks of the first two axes, float32 (the ragged edge dropped)."""
    if factor == 1:
        return array.astype(np.float32)
    rows, cols = array.shape[0] // factor, array.shape[1] // factor
    blocks = array[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor, *array.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _masked_gaussian(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average of ``values`` counting each pixel by ``weight`` (normalised convolution)."""
    weight = weight.astype(np.float32)
    total = ndi.gaussian_filter(values * weight, sigma)
    return total / np.maximum(ndi.gaussian_filter(weight, sigma), 1e-6)


def disc_override(overrides: dict[str, tuple[float, float, float]] | None,
                  image_path: str | os.PathLike) -> tuple[float, float, float] | None:
    """The user's (x, y, radius) for an image from :func:`read_disc_overrides`' table, by file
    name or stem; None where the table has no entry (or there is no table)."""
    if not overrides:
        return None
    path = Path(unicodedata.normalize("NFC", os.fspath(image_path)))
    for key in (path.name, path.stem):
        if key in overrides:
            return overrides[key]
    return None


def unmatched_overrides(csv_path: str | os.PathLike | None, image_paths) -> list[str]:
    """The disc table's images that match none of ``image_paths`` (by name or stem, Unicode
    normalised): a typo there would silently leave that photo's disc to the detector. Printed as
    a warning and recorded in the run's provenance (the bundle's ``disc_table_unmatched``)."""
    if not csv_path:
        return []
    overrides = read_disc_overrides(csv_path)
    names = set()
    for path in image_paths:
        path = Path(unicodedata.normalize("NFC", os.fspath(path)))
        names.update((path.name, path.stem))
    unmatched = sorted({key for key in overrides if key not in names and Path(key).stem not in names})
    # a row "a.png" is stored as "a.png" and "a": report it once, by the name as written
    unmatched = [key for key in unmatched if not any(other != key and Path(other).stem == key for other in unmatched)]
    if unmatched:
        print(f"warning: {csv_path}: {len(unmatched)} row(s) match no photo, so their discs are not used: "
              + ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""), file=sys.stderr)
    return unmatched
