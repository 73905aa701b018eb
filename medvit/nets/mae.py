"""Masked-autoencoder pre-training on :class:`medvit.nets.vit.ViT` (He et al. 2022; medical_mae).

The encoder sees a random ``1 - mask_ratio`` of the patch tokens; a light decoder puts mask
tokens back in place and predicts every patch's pixels; the loss is the MSE on the masked
patches only. Written for 2D and 3D patch grids alike, so Uni4Eye's dual decoder reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medvit.nets.vit import ARCHITECTURES, LAYER_NORM_EPS, ViT, sincos_position_embedding, transformer_blocks

# medical_mae's decoders: (hidden_size, num_layers, num_heads) per encoder.
DECODERS = {
    "vit_toy_patch16": (64, 1, 4),
    "vit_tiny_patch16": (256, 2, 8),
    "vit_small_patch16": (512, 2, 16),
    "vit_base_patch16": (512, 8, 16),
    "vit_large_patch16": (512, 8, 16),
}


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, *spatial) -> (B, N, patch_size**dims * C), patches in row-major grid order.

    Each patch is flattened spatial-first, channel last (MAE's ``nchpwq -> nhwpqc``), so the
    decoder weights of MAE checkpoints predict pixels in the order they were trained for.
    """
    batch, channels, *spatial = images.shape
    if any(size % patch_size for size in spatial):
        raise ValueError(f"spatial size {tuple(spatial)} is not a multiple of the patch size {patch_size}")
    grid = [size // patch_size for size in spatial]
    split = [batch, channels] + [n for g in grid for n in (g, patch_size)]
    dims = len(spatial)
    order = [0] + [2 + 2 * k for k in range(dims)] + [3 + 2 * k for k in range(dims)] + [1]
    patches = images.reshape(split).permute(order)
    return patches.reshape(batch, int(torch.tensor(grid).prod()), patch_size**dims * channels)


def unpatchify(patches: torch.Tensor, patch_size: int, grid_size: Sequence[int], channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, N, patch_size**dims * C) -> (B, C, *spatial)."""
    batch, dims = patches.shape[0], len(grid_size)
    x = patches.reshape([batch, *grid_size] + [patch_size] * dims + [channels])
    order = [0, 2 * dims + 1] + [n for k in range(dims) for n in (1 + k, 1 + dims + k)]
    return x.permute(order).reshape([batch, channels] + [g * patch_size for g in grid_size])


def random_masking(tokens: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep a random ``1 - mask_ratio`` of each sample's tokens (MAE's per-sample shuffle).

    Args:
        tokens: (B, N, D).

    Returns:
        ``(kept, mask, ids_restore)``: kept (B, N_keep, D); mask (B, N), 1 where masked, in the
        original token order; ids_restore (B, N) to unshuffle the decoder's tokens.
    """
    batch, length, width = tokens.shape
    keep = max(1, int(length * (1 - mask_ratio)))
    ids_shuffle = torch.argsort(torch.rand(batch, length, device=tokens.device), dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    kept = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].expand(-1, -1, width))
    mask = torch.ones(batch, length, device=tokens.device)
    mask[:, :keep] = 0
    return kept, torch.gather(mask, 1, ids_restore), ids_restore


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked patches: prediction, target (B, N, P); mask (B, N)."""
    per_patch = ((prediction - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


def mae_loss(output: dict, target=None) -> torch.Tensor:
    """The trainer's loss for a network whose forward already computes it (``output["loss"]``:
    :class:`MaskedAutoencoder`, :class:`~medvit.nets.Uni4Eye`); the batch has no label."""
    return output["loss"]


class MaskedDecoder(nn.Module):
    """MAE decoder: visible encoder tokens + mask tokens -> pixels of every patch.

    Input (B, 1 + N_keep, encoder_size) with the class token first; output (B, N, out_size).
    """

    def __init__(self, grid_size: Sequence[int], encoder_size: int, out_size: int, hidden_size: int = 512,
                 num_layers: int = 8, num_heads: int = 16, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_size, hidden_size)
        self.mask_token = nn.Parameter(nn.init.normal_(torch.zeros(1, 1, hidden_size), std=0.02))
        self.pos_embed = sincos_position_embedding(grid_size, hidden_size)
        self.blocks = transformer_blocks(hidden_size, num_layers, num_heads, mlp_ratio)
        self.norm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.pred = nn.Linear(hidden_size, out_size)

    def forward(self, encoded: torch.Tensor, ids_restore: torch.Tensor, pos_embed: torch.Tensor | None = None,
                pred: nn.Module | None = None) -> torch.Tensor:
        """``pos_embed`` / ``pred``: another patch grid's position table and output layer in place of
        this decoder's own (Uni4Eye decodes 2D and 3D grids with the same blocks)."""
        pos_embed = self.pos_embed if pos_embed is None else pos_embed
        pred = self.pred if pred is None else pred
        x = self.embed(encoded)
        batch, length = ids_restore.shape
        masks = self.mask_token.expand(batch, length + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], masks], dim=1)
        patches = torch.gather(patches, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], patches], dim=1) + pos_embed
        for block in self.blocks:
            x = block(x)
        return pred(self.norm(x))[:, 1:]


class MaskedAutoencoder(nn.Module):
    """MAE: a :class:`ViT` encoder (``encoder``) and a :class:`MaskedDecoder` (``decoder``).

    ``forward(images)`` with images (B, C, *img_size) returns a dict: ``loss`` (masked-patch
    MSE on raw pixels, no norm_pix_loss as medical_mae), ``pred`` (B, N, P) and ``mask`` (B, N).
    """

    def __init__(self, encoder: ViT, decoder_hidden_size: int = 512, decoder_num_layers: int = 8,
                 decoder_num_heads: int = 16, mask_ratio: float = 0.75) -> None:
        super().__init__()
        self.encoder = encoder
        encoder.pos_embed.requires_grad_(False)  # MAE pre-trains with fixed sin-cos positions
        self.mask_ratio = mask_ratio
        channels = encoder.patch_embed.proj.in_channels
        self.decoder = MaskedDecoder(encoder.grid_size, encoder.cls_token.shape[-1],
                                     encoder.patch_size ** len(encoder.grid_size) * channels,
                                     decoder_hidden_size, decoder_num_layers, decoder_num_heads)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        kept, mask, ids_restore = random_masking(self.encoder.patch_tokens(images), self.mask_ratio)
        pred = self.decoder(self.encoder.encode_tokens(kept), ids_restore)
        loss = masked_mse(pred, patchify(images, self.encoder.patch_size), mask)
        return {"loss": loss, "pred": pred, "mask": mask}


def build_mae(name: str = "vit_base_patch16", img_size: int | Sequence[int] = 224, in_channels: int = 3,
              mask_ratio: float = 0.9) -> MaskedAutoencoder:
    """medical_mae's pre-training model by encoder name (mask ratio 0.90 as the paper)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown ViT {name!r}: one of {', '.join(ARCHITECTURES)}")
    hidden_size, num_layers, num_heads = ARCHITECTURES[name]
    encoder = ViT(in_channels, img_size, 16, hidden_size, num_layers, num_heads, global_pool=False)
    return MaskedAutoencoder(encoder, *DECODERS[name], mask_ratio=mask_ratio)
