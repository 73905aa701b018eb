"""k-space maths for MRI reconstruction: centred FFTs, coil combination, masks, baselines, scoring.

numpy in, numpy out (the FFTs and RSS take torch tensors too); importing this package does
not import torch. Conventions: k-space slices are ``(coils, ky, kx)`` as h5py reads the
CMRxRecon files, masks are boolean vectors over ky, scored volumes are ``(sx, sy, z, t)``
as MATLAB and the challenge's ``img4ranking`` hold them.

Beside these: :mod:`medvit.recon.reconstruct` (challenge files → submissions through E2E-VarNet
or a baseline, the bundle's inference), :mod:`medvit.recon.training` (training samples and the
SSIM loss of its ``train.json``; imports torch and MONAI) and :mod:`medvit.recon.evaluation`
(``medvit recon-score`` and the bundle's ``evaluate.json``).
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
from medvit.recon.scoring import matlab_round, ranking_volume, score_images, score_volume

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
    "matlab_round",
    "random_mask",
    "ranking_volume",
    "rss",
    "score_images",
    "score_volume",
    "sense",
    "zero_filled",
]
