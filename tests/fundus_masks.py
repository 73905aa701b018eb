"""Vessel masks of the real fundus photo (skimage's retina) shared by the biomarker tests."""

import functools

import numpy as np
from scipy import ndimage

# Optic disc of skimage's retina photo, read off the picture (centre x=column, y=row; px).
DISC = (225.0, 630.0, 90.0)


@functools.lru_cache(maxsize=1)
def vesselness() -> tuple[np.ndarray, np.ndarray]:
    """Sato vesselness of the photo's green channel inside its field of view, and that field."""
    import skimage.data
    from skimage.filters import sato

    photo = skimage.data.retina()
    fov = ndimage.binary_erosion(photo[..., 0] > 20, iterations=10)
    response = sato(photo[..., 1] / 255.0, sigmas=range(1, 5), black_ridges=True)
    response[~fov] = 0
    return response, fov


def sato_mask(percentile: float, closing: int = 0, min_size: int = 30) -> np.ndarray:
    """Vesselness above a percentile (inside the field), gaps closed, small pieces dropped; (H, W) bool."""
    response, fov = vesselness()
    mask = response > np.percentile(response[fov], percentile)
    mask = ndimage.binary_closing(mask, iterations=closing) if closing else mask
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    return mask & (sizes[labels] >= min_size)
