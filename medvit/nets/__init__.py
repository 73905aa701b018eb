"""Networks and network helpers MONAI does not have.

E2E-VarNet (:class:`VarNet`) for k-space reconstruction, parameter-compatible with fastMRI's.
Swin UNETR itself is MONAI's ``monai.networks.nets.SwinUNETR`` (the BraTS 2021 patch merging
is in :mod:`medvit.brats.network`); :func:`load_state_dict` loads any checkpoint with clear
errors. One ViT (:class:`ViT`, :func:`build_vit`) built from MONAI's blocks
in timm's layout serves the MAE thorax classifier, its pre-training (:class:`MaskedAutoencoder`)
and Uni4Eye (:class:`Uni4Eye`; its 2D / 3D encoder and classifier :class:`UnifiedViT`);
:func:`load_checkpoint` reads timm / MAE / medical_mae files into it. Imported
lazily: ``import medvit.nets`` does not import torch.
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "VarNet": "medvit.nets.varnet",
    "load_state_dict": "medvit.nets.checkpoints",
    "read_state_dict": "medvit.nets.checkpoints",
    "ViT": "medvit.nets.vit",
    "build_vit": "medvit.nets.vit",
    "MaskedAutoencoder": "medvit.nets.mae",
    "build_mae": "medvit.nets.mae",
    "load_checkpoint": "medvit.nets.vit_checkpoints",
    "layer_decay_param_groups": "medvit.nets.layer_decay",
    "Uni4Eye": "medvit.nets.uni4eye",
    "UnifiedViT": "medvit.nets.uni4eye",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
