"""Fovea of a colour fundus photograph, found without learned weights, and the disc–fovea axis.

The fovea is the darkest, vessel-free spot of the retina, about 2.5 disc diameters temporal
to the optic disc and a little below it. Positions are ``(x, y)`` = (column, row) in pixels
of the input photo, as for the disc (:mod:`medvit.pvbm.optic_disc`)::

    disc = detect_optic_disc(photo)                       # (x, y, radius)
    fovea = locate_fovea(photo, disc)                     # Fovea(x, y, darkness), NaN where none
    distance, angle = disc_fovea_axis(disc, fovea)        # px, degrees
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from medvit.errors import MedvitError
from medvit.pvbm.optic_disc import _block_mean, _masked_gaussian
from medvit.pvbm.photo import fundus_photo
from medvit.pvbm.regions import check_disc
from medvit.pvbm.vessels import _check_fov, _field_of_view, fov_diameter

__all__ = ["FOVEA_ANGLE", "FOVEA_DISTANCE", "FOVEA_KEYS", "FOVEA_RING", "Fovea", "disc_fovea_axis",
           "disc_pallor_offset", "fovea_columns", "locate_fovea", "ring_darkness"]

#: Columns of :func:`fovea_columns`.
FOVEA_KEYS = ("fovea_x", "fovea_y", "fovea_darkness", "disc_fovea_distance", "disc_fovea_angle")
#: Search range of the fovea's distance from the disc centre, in disc radii: 2.5 disc diameters
#: (5 radii) on average; 3.8-5.7 radii on the six VascX sample photos (CHASE_DB1, DRIVE, HRF).
FOVEA_DISTANCE = (3.0, 7.0)
#: Largest angle (degrees) of the disc–fovea axis from the horizontal searched, either side.
FOVEA_ANGLE = 25.0
#: Radius, in disc radii, of the ring of retina the fovea is compared with: the macula's dark
#: centre spans about one disc radius either side of the fovea.
FOVEA_RING = 2.0
# least darkness (1 - brightness over the ring around it) reported as a fovea
_MIN_DARKNESS = 0.02
# points on the ring, of which at least a third must lie in the FOV (a fovea at the FOV's edge
# has about half of its ring there)
_RING_POINTS = 16
# percentile of the ring's contrasts taken as the darkness: a spot at the FOV's dark rim is darker
# than the retina further in but not than the retina beside it along the rim; a fovea is darker
# than both (the median let the rim win on the CHASE_DB1 photos)
_RING_PERCENTILE = 25.0
# a disc further than this fraction of the FOV diameter from the FOV's centre, horizontally,
# makes a macula-centred photo (DRIVE, HRF: 0.33-0.36; disc-centred CHASE_DB1: 0.03-0.05)
_CENTRED = 0.15
# least offset (disc radii) of the disc's bright part from its centre that tells the eye's side
# of a disc-centred photo (0.24-0.51 on the six VascX photos, always on the fovea's side)
_MIN_PALLOR_OFFSET = 0.1
# FOV diameter of the working copy (px), as the disc detector's
_WORKING_DIAMETER = 350.0


class Fovea(NamedTuple):
    """The fovea's centre ``x`` (column), ``y`` (row) in pixels, and its ``darkness``: 1 minus its
    green brightness over that of the ring of retina around it (0.1 = 10 % darker). NaN where none
    was found."""

    x: float
    y: float
    darkness: float


def locate_fovea(
    image: np.ndarray,
    disc: tuple[float, float, float],
    fov: np.ndarray | None = None,
    vessels: np.ndarray | None = None,
) -> Fovea:
    """The fovea: the darkest spot 3-7 disc radii from the disc, within 25° of the horizontal,
    on the temporal side.

    Method (classical, e.g. Sinthanayothin et al., Br J Ophthalmol 1999: the darkest region
    at about 2.5 disc diameters temporal to the disc), on a copy block-averaged to a FOV
    diameter of about 350 px: green (the photo itself when grey), vessel pixels excluded, by a
    normalised (masked) Gaussian of sigma half a disc radius; each point's darkness is 1 minus
    that over the same at 16 points 2 disc radii around it, the lower quartile of those inside
    the FOV (:func:`ring_darkness`), so neither vignetting nor the FOV's dark rim reads as a
    fovea. The highest in the search region more than a quarter disc radius inside the FOV is
    the fovea. The temporal side is that of the FOV's centre when the disc is more than 0.15
    FOV diameters from it horizontally (a macula-centred photo), else that of the disc's bright
    part (:func:`disc_pallor_offset`: the cup and pale rim lie temporal), else both sides are
    searched. Where the spot is not at least 2 % darker than its ring, or the search region
    lies outside the FOV, no fovea is reported (NaN), which the biomarkers do not need.

    Args:
        image: fundus photo, (H, W, 3) RGB or (H, W) grey, H and W at least 64.
        disc: the optic disc ``(x, y, radius)`` in pixels of ``image``.
        fov: field of view (H, W) bool; found on the working copy when omitted.
        vessels: vessel mask (H, W) bool, left out of the brightness when given.

    Returns:
        :class:`Fovea` ``(x, y, darkness)`` in pixels of ``image``.

    Raises:
        MedvitError: bad image, FOV, vessel mask or disc.
    """
    photo = fundus_photo(image)
    shape = photo.shape[:2]
    disc_x, disc_y, disc_radius = (float(v) for v in disc)
    check_disc(shape, disc_x, disc_y, disc_radius)
    if fov is not None:
        fov = _check_fov(fov, shape)
    if vessels is not None and np.shape(vessels) != shape:
        raise MedvitError(f"locate_fovea: vessel mask has shape {np.shape(vessels)}, the photo {shape}")

    diameter = fov_diameter(fov) if fov is not None else float(min(shape))
    factor = max(1, int(round(diameter / _WORKING_DIAMETER)))
    small = _block_mean(photo, factor)
    small_fov = _field_of_view(small) if fov is None else _block_mean(fov, factor) > 0.5
    retina = small_fov.astype(np.float32)
    if vessels is not None:
        retina *= 1.0 - _block_mean(np.asarray(vessels) != 0, factor)
    green = small[..., 1] if small.ndim == 3 else small
    # block b of the working copy covers input pixels b*factor .. b*factor + factor - 1
    row, col, radius = (disc_y + 0.5) / factor - 0.5, (disc_x + 0.5) / factor - 0.5, disc_radius / factor
    depth = ndi.distance_transform_edt(small_fov)
    darkness = ring_darkness(_masked_gaussian(green, retina, max(1.0, radius / 2)), depth > radius / 4,
                             FOVEA_RING * radius)

    rows, cols = np.ogrid[: small.shape[0], : small.shape[1]]
    distance = np.hypot(rows - row, cols - col)
    angle = np.degrees(np.arctan2(np.abs(rows - row), np.abs(cols - col)))  # 0 = horizontal, either side
    search = (depth > radius / 4) & np.isfinite(darkness)
    search &= (distance >= FOVEA_DISTANCE[0] * radius) & (distance <= FOVEA_DISTANCE[1] * radius)
    search &= angle <= FOVEA_ANGLE
    fov_col = float(np.mean(np.nonzero(small_fov)[1]))
    if abs(col - fov_col) > _CENTRED * fov_diameter(small_fov):
        search &= (cols - col) * (fov_col - col) > 0  # macula-centred: the fovea is towards the centre
    else:
        pallor = disc_pallor_offset(green, retina > 0.5, (col, row, radius))
        if abs(pallor) >= _MIN_PALLOR_OFFSET:
            search &= (cols - col) * pallor > 0
    if not search.any():
        return Fovea(math.nan, math.nan, math.nan)
    best = np.unravel_index(np.argmax(np.where(search, darkness, -np.inf)), darkness.shape)
    if darkness[best] < _MIN_DARKNESS:
        return Fovea(math.nan, math.nan, float(darkness[best]))
    to_input = lambda v: (v + 0.5) * factor - 0.5  # noqa: E731 - one-line coordinate map
    return Fovea(float(to_input(best[1])), float(to_input(best[0])), float(darkness[best]))


def ring_darkness(brightness: np.ndarray, valid: np.ndarray, ring: float) -> np.ndarray:
    """1 minus each pixel's ``brightness`` over that at 16 points ``ring`` pixels around it: the
    lower quartile over the points where ``valid`` holds (the retina), NaN where under a third do.

    Args:
        brightness: (H, W) float, smoothed at the scale of the spot sought.
        valid: (H, W) bool, where ``brightness`` may be compared with.
        ring: the ring's radius in pixels.

    Returns:
        (H, W) float32 darkness (0.1 = 10 % darker than the ring's lower quartile).
    """
    comparable = np.where(valid, brightness, np.nan)
    contrasts = np.empty((_RING_POINTS, *brightness.shape), np.float32)
    for k, phi in enumerate(np.linspace(0, 2 * np.pi, _RING_POINTS, endpoint=False)):
        around = _shifted(comparable, int(round(ring * np.sin(phi))), int(round(ring * np.cos(phi))))
        contrasts[k] = 1.0 - brightness / np.maximum(around, 1e-3)  # NaN where not comparable
    counted = np.count_nonzero(np.isfinite(contrasts), axis=0)
    # the percentile of each pixel's finite values, interpolated as np.nanpercentile's (which is
    # ~50x slower here): sorting puts the NaNs last
    contrasts.sort(axis=0)
    position = (np.maximum(counted, 1) - 1) * (_RING_PERCENTILE / 100.0)
    below = np.floor(position).astype(np.intp)
    low = np.take_along_axis(contrasts, below[None], axis=0)[0]
    high = np.take_along_axis(contrasts, np.minimum(below + 1, np.maximum(counted, 1) - 1)[None], axis=0)[0]
    darkness = low + (position - below) * (high - low)
    return np.where(counted >= _RING_POINTS / 3, darkness, np.nan).astype(np.float32)


def _shifted(values: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``values`` at ``(row + dy, col + dx)`` for each pixel, NaN beyond the array (a float array)."""
    out = np.full(values.shape, np.nan, np.float32)
    h, w = values.shape
    out[max(0, -dy): h - max(0, dy), max(0, -dx): w - max(0, dx)] = \
        values[max(0, dy): h - max(0, -dy), max(0, dx): w - max(0, -dx)]
    return out


def disc_pallor_offset(green: np.ndarray, retina: np.ndarray, disc: tuple[float, float, float]) -> float:
    """Horizontal offset, in disc radii, of the disc's bright part from its centre (positive to
    the right): the centroid of the green brightness above the disc's median, vessels left out.

    The cup and the palest, thinnest rim lie temporal in the disc (the ISNT rule: rim width
    inferior ≥ superior ≥ nasal ≥ temporal) and the central vessels leave it nasally, so the
    sign says on which side of a disc-centred photo the fovea lies (0.24-0.51 radii, always
    towards the fovea, on the six VascX sample photos).

    Args:
        green: (H, W) float brightness.
        retina: (H, W) bool, the retina without vessels.
        disc: ``(x, y, radius)`` in pixels of ``green``.

    Returns:
        The offset in disc radii; 0 where the disc shows no retina.
    """
    col, row, radius = disc
    rows, cols = np.ogrid[: green.shape[0], : green.shape[1]]
    inside = (np.hypot(rows - row, cols - col) < radius) & retina
    if not inside.any():
        return 0.0
    weight = np.clip(green - np.median(green[inside]), 0, None) * inside
    total = float(weight.sum())
    return float((weight * (cols - col)).sum() / total / radius) if total > 0 else 0.0


def disc_fovea_axis(disc: tuple[float, float, float], fovea: tuple[float, float, float]) -> tuple[float, float]:
    """Distance (px) from the disc centre to the fovea, and the axis's angle (degrees) below the
    horizontal: positive where the fovea lies lower in the image than the disc (usually 5-10°),
    on either side. NaN where there is no fovea."""
    dx, dy = fovea[0] - disc[0], fovea[1] - disc[1]
    return float(math.hypot(dx, dy)), float(math.degrees(math.atan2(dy, abs(dx))))


def fovea_columns(image: np.ndarray, disc: tuple[float, float, float], fov: np.ndarray | None = None,
                  vessels: np.ndarray | None = None) -> dict[str, float]:
    """:data:`FOVEA_KEYS` of the photo: :func:`locate_fovea` and :func:`disc_fovea_axis`."""
    fovea = locate_fovea(image, disc, fov, vessels)
    distance, angle = disc_fovea_axis(disc, fovea)
    return dict(zip(FOVEA_KEYS, (fovea.x, fovea.y, fovea.darkness, distance, angle)))
