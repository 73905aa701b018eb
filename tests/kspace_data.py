"""Test data shared by the k-space tests."""

import numpy as np


def random_complex(shape, seed=0) -> np.ndarray:
    """Complex64 array of independent standard normal real and imaginary parts."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
