"""Swin UNETR's 3D patch merging as MONAI computed it before 1.5, for the checkpoints trained then.

Patch merging concatenates the 8 voxels of every 2×2×2 block (channels-last) before a
LayerNorm and a linear reduction. MONAI < 1.5 (``PatchMerging``, "merging") took the 8
sub-volumes with offsets (d, h, w)

    000, 100, 010, 001, 101, 010, 001, 111

i.e. the 6th and 7th repeat the 3rd and 4th, and offsets 110 and 011 were never seen. MONAI
1.5 fixed the slicing (000, 100, 010, 001, 110, 101, 011, 111), so weights trained with the old
one — the BraTS 2021 Swin UNETR checkpoints among them — compute a different network on a
current MONAI. ``SwinUNETR(..., downsample=LegacyPatchMerging)`` restores the old behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets.swin_unetr import PatchMergingV2
from monai.utils import ensure_tuple_rep

from medvit.errors import MedvitError

# Swin UNETR halves its input five times (a patch of 2, four mergings): a window must divide by 32,
# and at 32 the bottleneck is one voxel, which its instance normalisation cannot normalise.
WINDOW_MULTIPLE, MIN_WINDOW = 32, 64

# (d, h, w) offsets of the 8 concatenated sub-volumes, in MONAI 1.4's order (duplicates included)
LEGACY_OFFSETS = ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 0), (0, 0, 1), (1, 1, 1))


class LegacyPatchMerging(PatchMergingV2):
    """MONAI < 1.5 patch merging: input (B, D, H, W, C) → (B, ⌈D/2⌉, ⌈H/2⌉, ⌈W/2⌉, 2C).

    Same parameters (``dim``, ``norm_layer``, ``spatial_dims``) and weights
    (``norm``, ``reduction``) as MONAI's ``PatchMerging``; 2D input (B, H, W, C) is merged as
    MONAI does it now (2D was never affected).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x)
        if x.dim() != 5:
            raise ValueError(f"expecting a 5D (B, D, H, W, C) tensor, got shape {tuple(x.shape)}")
        _, d, h, w, _ = x.shape
        if d % 2 or h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2, 0, d % 2))
        x = torch.cat([x[:, i::2, j::2, k::2, :] for i, j, k in LEGACY_OFFSETS], dim=-1)
        return self.reduction(self.norm(x))


def swin_window(roi_size: int | Sequence[int]) -> tuple[int, int, int]:
    """The sliding window (``roi_size``) checked for Swin UNETR: multiples of 32, at least 64 per axis.

    Raises:
        MedvitError: naming the setting, its value and the rule (instead of PyTorch's "Expected
            more than 1 spatial element when training" from deep inside the network).
    """
    sizes = tuple(int(s) for s in ensure_tuple_rep(roi_size, 3))
    if len(sizes) != 3 or any(s < MIN_WINDOW or s % WINDOW_MULTIPLE for s in sizes):
        raise MedvitError(f"roi_size {list(sizes)}: Swin UNETR's sliding window must be a multiple of "
                          f"{WINDOW_MULTIPLE} and at least {MIN_WINDOW} per axis (e.g. --roi_size [64,64,64]; "
                          "the published weights use [128,128,128])")
    return sizes
