"""k-space maths shared by reconstruction methods: centred FFTs, coil combination, sampling masks, baselines.

numpy in, numpy out (the FFTs and RSS take torch tensors too); importing this package does
not import torch. Conventions: k-space slices are ``(coils, ky, kx)`` as h5py reads the
CMRxRecon files, masks are boolean vectors over ky, scored volumes are ``(sx, sy, z, t)``
as MATLAB and the challenge's ``img4ranking`` hold them.

The CMRxRecon challenge's files, scoring and the E2E-VarNet bundle's runs are :mod:`medvit.cmrxrecon`.
"""

from medvit.recon.baselines import sense, zero_filled
from medvit.recon.coils import acs_coil_maps, rss
from medvit.recon.fft import fft2c, ifft2c
from medvit.recon.masks import (
    CMRX_ACCELERATIONS,
    CMRX_ACS_LINES,
    apply_mask,
    calibration_lines,
    cmrx_mask,
    equispaced_mask,
    random_mask,
)

__all__ = [
    "CMRX_ACCELERATIONS",
    "CMRX_ACS_LINES",
    "acs_coil_maps",
    "apply_mask",
    "calibration_lines",
    "cmrx_mask",
    "equispaced_mask",
    "fft2c",
    "ifft2c",
    "random_mask",
    "rss",
    "sense",
    "zero_filled",
]
