"""Training E2E-VarNet on CMRxRecon data: fully sampled slices, undersampled on the fly.

As the challenge's winners trained: every (frame, slice) of the ``FullSample`` files is one
sample; each time it is drawn, an acceleration R is drawn from {4, 8, 10} and the challenge's
own mask (:func:`~medvit.recon.cmrx_mask`: 24 ACS lines plus every R-th line) is applied;
the target is the RSS of the fully sampled coil images (the challenge's reference), the loss
1 − SSIM. Files are read one slice at a time when a sample is drawn (a cohort never sits in
memory). The network's ``forward(masked_kspace, mask)`` takes two tensors, so the samples
are dicts ``{"image": masked k-space, "mask": mask, "label": target}`` for MONAI's
``PrepareBatchExtraInput("mask")``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.losses import SSIMLoss as MonaiSSIMLoss

from medvit.cmrxrecon.layout import CMRxKSpace
from medvit.cmrxrecon.reconstruct import input_scale, read_frames, varnet_input
from medvit.errors import MedvitError
from medvit.recon.baselines import zero_filled
from medvit.recon.masks import CMRX_ACCELERATIONS, CMRX_ACS_LINES, apply_mask, cmrx_mask


def training_files(dataset_dir: str | os.PathLike, kinds: Sequence[str] | None = None) -> list[Path]:
    """The fully sampled k-space files (``.../FullSample/P###/<kind>.mat``) under ``dataset_dir``.

    Raises:
        MedvitError: none found.
    """
    root = Path(dataset_dir)
    files = sorted(p for p in root.rglob("FullSample/*/*.mat")
                   if not p.stem.endswith("_mask") and (kinds is None or p.stem in kinds))
    if not files:
        raise MedvitError(f"{root}: no fully sampled files (FullSample/P###/*.mat"
                          + (f" of kinds {list(kinds)}" if kinds else "") + ") to train on")
    return files


def split_cases(files: Sequence[str | os.PathLike], val_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """``(train, validation)`` files, split by case (the ``P###`` folder) so no case is in both.

    The first ``round(cases × val_fraction)`` cases (at least one, when there are two or more)
    validate; with a single case it serves both.
    """
    files = [os.fspath(f) for f in files]
    cases = sorted({Path(f).parent.name for f in files})
    num_val = max(1, round(len(cases) * val_fraction)) if len(cases) > 1 else 0
    held_out = set(cases[:num_val])
    train = [f for f in files if Path(f).parent.name not in held_out]
    return train, [f for f in files if Path(f).parent.name in held_out] or train


class CMRxSliceDataset(torch.utils.data.Dataset):
    """Every (file, frame, slice) of fully sampled files, undersampled when drawn.

    Args:
        files: fully sampled CMRxRecon files (``kspace_full`` / ``kspace_single_full``).
        accelerations: the R drawn from, uniformly, per sample.
        random_acceleration: draw R (training); False: sample ``i`` takes
            ``accelerations[i % len(accelerations)]`` (a fixed validation set).
        num_adj_frames: temporal context: the neighbouring frames stacked as extra coils
            (:func:`medvit.cmrxrecon.reconstruct.read_frames`), as the network's option of that name.
        acs_lines: calibration lines of the mask.

    Items: ``{"image": (coils, kx, ky, 2), "mask": (1, 1, ky, 1) bool, "label": (kx, ky),
    "acceleration": R}``, k-space and target divided by the zero-filled image's maximum (as
    inference scales its input).
    """

    def __init__(self, files: Sequence[str | os.PathLike], accelerations: Sequence[int] = CMRX_ACCELERATIONS,
                 random_acceleration: bool = True, num_adj_frames: int = 1, acs_lines: int = CMRX_ACS_LINES):
        self.accelerations = [int(r) for r in accelerations]
        if not self.accelerations:
            raise MedvitError("no accelerations to train with")
        self.random_acceleration = random_acceleration
        self.num_adj_frames = int(num_adj_frames)
        self.acs_lines = acs_lines
        self.index = []
        for path in files:
            with CMRxKSpace(path) as kspace:
                if kspace.acceleration is not None:
                    raise MedvitError(f"{path}: {kspace.variable} is undersampled; training needs fully sampled k-space")
                self.index += [(os.fspath(path), t, z) for t in range(kspace.num_frames) for z in range(kspace.num_slices)]
        if not self.index:
            raise MedvitError("no slices to train on")

    def __len__(self) -> int:
        return len(self.index)

    def acceleration(self, i: int) -> int:
        if self.random_acceleration:
            return self.accelerations[int(torch.randint(len(self.accelerations), ()))]
        return self.accelerations[i % len(self.accelerations)]

    def __getitem__(self, i: int) -> dict:
        path, t, z = self.index[i]
        with CMRxKSpace(path) as kspace:
            stacked = read_frames(kspace, t, z, self.num_adj_frames)
            num_coils = kspace.num_coils
        centre = stacked[(self.num_adj_frames // 2) * num_coils:][:num_coils]
        acceleration = self.acceleration(i)
        lines = cmrx_mask(stacked.shape[-2], acceleration, self.acs_lines)
        scale = input_scale(apply_mask(centre, lines))
        masked, mask = varnet_input(stacked / scale, lines)
        target = torch.from_numpy(np.ascontiguousarray(zero_filled(centre / scale).T.astype(np.float32)))
        return {"image": masked[0], "mask": mask[0], "label": target, "acceleration": acceleration}


class SSIMLoss(MonaiSSIMLoss):
    """1 − SSIM of magnitude images, fastMRI's way: a 7 × 7 uniform window and ``data_range`` the
    maximum of each target image (MONAI's ``SSIMLoss`` on images divided by that maximum).

    Takes (B, H, W) (VarNet's output) or (B, C, H, W).
    """

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
        super().__init__(spatial_dims=2, data_range=1.0, kernel_type="uniform", win_size=win_size, k1=k1, k2=k2)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002 - MONAI's name
        if input.ndim == 3:
            input, target = input[:, None], target[:, None]
        peak = target.amax(dim=tuple(range(1, target.ndim)), keepdim=True).clamp_min(torch.finfo(target.dtype).tiny)
        return super().forward(input / peak, target / peak)
