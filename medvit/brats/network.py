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

import torch
import torch.nn.functional as F
from monai.networks.nets.swin_unetr import PatchMergingV2

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
