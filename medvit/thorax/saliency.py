"""Grad-CAM for :class:`medvit.nets.vit.ViT` classifiers: where the last block's tokens drive a
finding's logit.

MONAI's ``monai.visualize.GradCAM`` expects convolutional feature maps (B, C, *spatial); a
ViT's last block gives tokens (B, 1 + N, D), so the same computation is written here on the
patch tokens: channel weights are the mean gradient over patches, the map is the ReLU of the
weighted sum, laid back on the patch grid and upsampled to the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vit_gradcam(model: torch.nn.Module, images: torch.Tensor, class_index: int) -> torch.Tensor:
    """Grad-CAM of one output of a ViT classifier.

    Args:
        model: a :class:`~medvit.nets.vit.ViT` with a head.
        images: (B, C, *img_size) network input.
        class_index: the logit explained (e.g. the index of a finding).

    Returns:
        (B, *img_size) float32 maps in [0, 1] (each scaled by its own maximum; all zero when
        nothing in the image raises the logit).
    """
    captured = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["tokens"] = output

    handle = model.blocks[-1].register_forward_hook(keep)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(images.detach().requires_grad_(True))
            model.zero_grad(set_to_none=True)
            logits[:, class_index].sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    tokens, grads = captured["tokens"][:, 1:].detach(), captured["tokens"].grad[:, 1:]
    weights = grads.mean(dim=1, keepdim=True)  # (B, 1, D)
    cam = F.relu((weights * tokens).sum(dim=-1))  # (B, N)
    grid = cam.reshape(cam.shape[0], 1, *model.grid_size)
    mode = "bilinear" if len(model.grid_size) == 2 else "trilinear"
    cam = F.interpolate(grid, size=tuple(images.shape[2:]), mode=mode, align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp(min=1e-12).view(-1, *([1] * (cam.ndim - 1)))
    return (cam / peak).float()
