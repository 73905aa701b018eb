"""Networks and network helpers MONAI does not have.

E2E-VarNet (:class:`VarNet`) for k-space reconstruction, parameter-compatible with fastMRI's.
Swin UNETR itself is MONAI's ``monai.networks.nets.SwinUNETR``; medvit adds what running the
published BraTS 2021 checkpoints on MONAI ≥ 1.5 needs (:class:`LegacyPatchMerging`,
:func:`load_state_dict`). Imported lazily: ``import medvit.nets`` does not import torch.
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "LegacyPatchMerging": "medvit.nets.legacy_patch_merging",
    "VarNet": "medvit.nets.varnet",
    "load_state_dict": "medvit.nets.checkpoints",
    "read_state_dict": "medvit.nets.checkpoints",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
