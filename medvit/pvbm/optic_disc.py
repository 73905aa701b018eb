"""Optic disc of a colour fundus photograph, found without learned weights, and user overrides.

The disc is returned as ``(x, y, radius)`` in pixels of the input photo, with ``x`` the
column and ``y`` the row of its centre (scikit-image arrays are indexed ``[y, x]``)::

    x, y, radius = detect_optic_disc(photo)                  # or with vessels=vessel_mask(photo)
    overrides = read_disc_overrides("discs.csv")             # {"img_07": (412.0, 388.0, 61.0), ...}
    disc = overrides.get(stem) or detect_optic_disc(photo)

Where detection fails (no disc in the photo, a lesion brighter than the disc), the
detector raises :class:`medvit.errors.MedvitError` rather than guessing a centre; the
override table is how a user supplies the disc for such images.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import unicodedata
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import feature, transform

from medvit.pvbm.photo import fundus_photo
from medvit.pvbm.vessels import _check_fov, _field_of_view, fov_diameter, vessel_mask
from medvit.errors import MedvitError

__all__ = ["DISC_RADIUS_RANGE", "detect_optic_disc", "disc_override", "read_disc_overrides"]

#: Plausible disc radius as fractions of the FOV diameter: the disc is 1/12 to 1/4.5 of the
#: FOV across (wide-field to 30-degree cameras; about 1/7 on a 45-degree photo).
DISC_RADIUS_RANGE = (1 / 24, 1 / 9)

# FOV diameter of the working copy, in pixels: the disc is still 30-80 px across there,
# plenty for a centre and radius, and every filter below runs in a few milliseconds
_WORKING_DIAMETER = 350.0


def detect_optic_disc(
    image: np.ndarray,
    vessels: np.ndarray | None = None,
    fov: np.ndarray | None = None,
    min_contrast: float = 0.25,
    candidates: int = 5,
) -> tuple[float, float, float]:
    """Centre and radius of the optic disc: the bright, round spot where the vessels converge.

    Method, on a copy block-averaged to a FOV diameter of about 350 px:

    1. Brightness: the green channel (the disc stands out there; red saturates), vessel
       pixels excluded by a normalised (masked) Gaussian of sigma ``D / 40``, divided by
       the same at ``D / 6``, so slow vignetting cancels and the disc reads as a ratio,
       e.g. 1.75 = 75 % brighter than the retina around it.
    2. Candidates: the ``candidates`` brightest local maxima of that ratio, at least a
       maximal disc radius apart (:func:`skimage.feature.peak_local_max`).
    3. Vessel convergence: vessel density in a Gaussian window of sigma ``D / 20``; the
       major vessels converge on the disc, which breaks ties with bright lesions.
       Each candidate scores the sum of its brightness and density z-scores within the
       FOV (robust median/MAD for brightness); the best one wins.
    4. Radius (and refined centre): Circular Hough transform
       (:func:`skimage.transform.hough_circle`) of Canny edges (the 7 % strongest) of the
       vessel-free green around the candidate, radii in ``DISC_RADIUS_RANGE * D``,
       centres within half a maximal radius of the candidate. When no circle has edges
       on a quarter of its perimeter, the radius is that of the region brighter than
       half-way between the candidate and its background instead.

    Args:
        image: fundus photo, (H, W, 3) RGB or (H, W) grey, H and W at least 64.
        vessels: vessel mask (H, W) bool, e.g. from
            :func:`medvit.pvbm.vessels.vessel_mask`; computed on the working copy
            when omitted.
        fov: field of view (H, W) bool; computed with
            :func:`medvit.pvbm.vessels.field_of_view` when omitted.
        min_contrast: least relative brightness of the disc over its surroundings
            in green (0.25: 25 % brighter); below it no disc is reported. The disc of
            ``skimage.data.retina()`` is 75 % brighter, the brightest spot of the
            disc-free ``skimage.data.microaneurysms()`` crop 15 %.
        candidates: how many bright spots compete on brightness and vessel density.

    Returns:
        ``(x, y, radius)`` floats in pixels of ``image``: centre column, centre row, radius.

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
    if vessels is None:
        vessel_fraction = vessel_mask(small, fov=small_fov).astype(np.float32)
    else:
        vessel_fraction = _block_mean(vessels != 0, factor)
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
        min_distance=max(1, int(max_radius)),
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
    row, col = peaks[int(np.argmax(score))]

    # radius (and centre) from the disc's rim, on green with vessels filled in by their surroundings
    rim_image = _masked_gaussian(green, retina, 1.5)
    circle = _hough_disc(rim_image, small_fov, (row, col), min_radius, max_radius, feature, transform)
    if circle is None:
        halfway = (brightness[row, col] + background[row, col]) / 2
        labels, _ = ndi.label((brightness > halfway) & small_fov)
        region = labels == labels[row, col]
        radius = float(np.clip(math.sqrt(np.count_nonzero(region) / math.pi), min_radius, max_radius))
        circle = (float(row), float(col), radius)
    row_c, col_c, radius = circle
    # block b of the working copy covers input pixels b*factor .. b*factor + factor - 1
    to_input = lambda v: (v + 0.5) * factor - 0.5  # noqa: E731 - one-line coordinate map
    return float(to_input(col_c)), float(to_input(row_c)), float(radius * factor)


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


def _hough_disc(image, fov, centre, min_radius, max_radius, feature, transform):
    """Best circle ``(row, col, radius)`` on the disc's rim near ``centre``, or None."""
    row, col = centre
    reach = int(math.ceil(2 * max_radius))
    top, left = max(0, row - reach), max(0, col - reach)
    window = (slice(top, row + reach + 1), slice(left, col + reach + 1))
    # the strongest 7 % of gradients in the window: the rim and the larger vessels' remnants
    edges = feature.canny(
        image[window], sigma=2.0, mask=fov[window], low_threshold=0.80, high_threshold=0.93, use_quantiles=True
    )
    if not edges.any():
        return None
    radii = np.arange(math.floor(min_radius), math.ceil(max_radius) + 1)
    accumulator = transform.hough_circle(edges, radii)  # normalised: fraction of the perimeter on edges
    rows, cols = np.ogrid[: edges.shape[0], : edges.shape[1]]
    near = (rows + top - row) ** 2 + (cols + left - col) ** 2 <= (max_radius / 2) ** 2
    accumulator *= near
    best = np.unravel_index(int(np.argmax(accumulator)), accumulator.shape)
    if accumulator[best] < 0.25:
        return None
    radius_index, best_row, best_col = best
    return float(best_row + top), float(best_col + left), float(radii[radius_index])


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
