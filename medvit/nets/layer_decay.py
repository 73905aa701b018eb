"""Layer-wise learning-rate decay for fine-tuning a pre-trained ViT (BEiT's rule, as MAE and
medical_mae fine-tune).

Block ``i`` of ``L`` gets ``lr × decay^(L − i)``; the patch embedding, class token and position
embedding count as layer 0 and the head / final norms as layer ``L + 1`` (full lr). Biases,
norms and the tokens are not weight-decayed. Each group carries its own scaled
``lr`` (MONAI's / torch's LambdaLR schedulers scale every group's initial lr alike) and ``lr_scale``.
"""

from __future__ import annotations

import torch

NO_WEIGHT_DECAY = ("cls_token", "pos_embed", "mask_token")


def layer_id(name: str, num_layers: int) -> int:
    """Depth of a ViT parameter: 0 for the embedding, ``i + 1`` for block ``i``, ``num_layers + 1``
    for everything after the blocks."""
    name = name.removeprefix("encoder.")
    if name.startswith(("cls_token", "pos_embed", "patch_embed")):  # also Uni4Eye's *_2d / *_3d
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers + 1


def layer_decay_param_groups(model: torch.nn.Module, lr: float, weight_decay: float = 0.05,
                             layer_decay: float = 0.75) -> list[dict]:
    """AdamW param groups for ``model`` (a :class:`~medvit.nets.vit.ViT`, or any module whose
    transformer blocks are ``blocks.<i>``, optionally under ``encoder.``).

    Returns:
        groups with ``params``, ``lr`` (already scaled), ``lr_scale`` and ``weight_decay``;
        frozen parameters are left out.
    """
    num_layers = len(model.blocks if hasattr(model, "blocks") else model.encoder.blocks)
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        no_decay = parameter.ndim == 1 or name.removeprefix("encoder.").startswith(NO_WEIGHT_DECAY)
        depth = layer_id(name, num_layers)
        scale = layer_decay ** (num_layers + 1 - depth)
        group = groups.setdefault((depth, no_decay), {"params": [], "lr": lr * scale, "lr_scale": scale,
                                                      "weight_decay": 0.0 if no_decay else weight_decay})
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]
