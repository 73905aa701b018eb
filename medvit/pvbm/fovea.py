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

__all__ = ["FOVEA_ANGLE", "FOVEA_DISTANCE", "FOVEA_KEYS", "Fovea", "disc_fovea_axis", "fovea_columns",
           "locate_fovea"]

#: Columns of :func:`fovea_columns`.
FOVEA_KEYS = ("fovea_x", "fovea_y", "fovea_darkness", "disc_fovea_distance", "disc_fovea_angle")
#: Search range of the fovea's distance from the disc centre, in disc radii: 2.5 disc diameters
#: (5 radii) on average; 3.8-5.7 radii on the six VascX sample photos (CHASE_DB1, DRIVE, HRF).
FOVEA_DISTANCE = (3.0, 7.0)
#: Largest angle (degrees) of the disc–fovea axis from the horizontal searched, either side.
FOVEA_ANGLE = 25.0
# least darkness (1 - brightness over its surroundings) reported as a fovea
_MIN_DARKNESS = 0.02
# a disc further than this fraction of the FOV diameter from the FOV's centre, horizontally,
# makes a macula-centred photo (DRIVE, HRF: 0.33-0.36; disc-centred CHASE_DB1: 0.03-0.05)
_CENTRED = 0.15
# FOV diameter of the working copy (px), as the disc detector's
_WORKING_DIAMETER = 350.0


class Fovea(NamedTuple):
    """The fovea's centre ``x`` (column), ``y`` (row) in pixels, and its ``darkness``: 1 minus its
    green brightness over that of the retina around it (0.1 = 10 % darker). NaN where none was found."""

    x: float
    y: float
    darkness: float


def locate_fovea(
    image: np.ndarray,
    disc: tuple[float, float, float],
    fov: np.ndarray | None = None,
    vessels: np.ndarray | None = None,
) -> Fovea:
    """The fovea: the darkest spot 3-7 disc radii from the disc, within 25° of the horizontal.

    Method (classical, e.g. Sinthanayothin et al., Br J Ophthalmol 1999: the darkest region
    at about 2.5 disc diameters temporal to the disc), on a copy block-averaged to a FOV
    diameter of about 350 px: green (the photo itself when grey), vessel pixels excluded by
    a normalised (masked) Gaussian of sigma half a disc radius, divided by the same at
    ``D / 6``, so vignetting cancels; the lowest ratio in the search region more than a
    quarter disc radius inside the FOV is the fovea. The search region lies on the side of
    the FOV's centre when the disc is more than 0.15 FOV diameters from it horizontally (a
    macula-centred photo), else on both sides (the eye's side is not known). Where it is not at least 2 % darker than its surroundings, or the search
    region lies outside the FOV, no fovea is reported (NaN), which the biomarkers do not need.

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
    darkness = 1.0 - _masked_gaussian(green, retina, max(1.0, radius / 2)) / np.maximum(
        _masked_gaussian(green, retina, fov_diameter(small_fov) / 6), 1e-3)

    rows, cols = np.ogrid[: small.shape[0], : small.shape[1]]
    distance = np.hypot(rows - row, cols - col)
    angle = np.degrees(np.arctan2(np.abs(rows - row), np.abs(cols - col)))  # 0 = horizontal, either side
    inside = ndi.distance_transform_edt(small_fov) > radius / 4
    search = inside & (distance >= FOVEA_DISTANCE[0] * radius) & (distance <= FOVEA_DISTANCE[1] * radius)
    search &= angle <= FOVEA_ANGLE
    # a disc off the FOV's centre (a macula-centred photo) has the fovea on the centre's side; a
    # disc-centred photo (30-degree CHASE_DB1) may have it on either
    fov_col = float(np.mean(np.nonzero(small_fov)[1]))
    if abs(col - fov_col) > _CENTRED * fov_diameter(small_fov):
        search &= (cols - col) * (fov_col - col) > 0
    if not search.any():
        return Fovea(math.nan, math.nan, math.nan)
    best = np.unravel_index(np.argmax(np.where(search, darkness, -np.inf)), darkness.shape)
    if darkness[best] < _MIN_DARKNESS:
        return Fovea(math.nan, math.nan, float(darkness[best]))
    to_input = lambda v: (v + 0.5) * factor - 0.5  # noqa: E731 - one-line coordinate map
    return Fovea(float(to_input(best[1])), float(to_input(best[0])), float(darkness[best]))


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
