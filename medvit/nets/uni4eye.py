"""Uni4Eye: unified 2D / 3D masked image modelling for ophthalmic images (Cai et al., MICCAI 2022).

One ViT encoder (:class:`medvit.nets.vit.ViT`'s blocks) reads 2D images (fundus photographs,
OCT B-scans) and 3D OCT volumes alike: a *unified patch embedding* turns a 2D image into
tokens with a 2D projection (Conv2d, kernel = stride = patch) and its own position table, a
volume with a 3D projection (Conv3d) and its own table; the transformer blocks are shared.
Pre-training masks ``mask_ratio`` of the patches (MAE's per-sample masking,
:func:`medvit.nets.mae.random_masking`) and two MAE decoders (:class:`DualGridDecoder`)
reconstruct, from the same encoded tokens, the image and its gradient map
(:func:`medvit.nets.gradient.gradient_magnitude`); the loss is
``lambda_image · L_image + lambda_gradient · L_gradient``, each an MSE on the masked patches.

3D sizes are in MONAI's (H, W, D) order; the paper's volumes are 224 × 224 × 112 (1,372
patches of 16³) and its images 224² (196 patches of 16²).

Fine-tuning uses :class:`UnifiedViT` with a classification head: the pre-trained encoder's
weights load into it with :func:`medvit.nets.load_checkpoint`, as do timm / MAE ViT
checkpoints into its 2D path (3D embedding then starts fresh).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.utils import ensure_tuple_rep
from torch import nn

from medvit.nets.mae import MaskedDecoder, masked_mse, patchify, random_masking, unpatchify
from medvit.nets.vit import PatchProjection, ViT, size_text, patch_grid, sincos_position_embedding
from medvit.nets.gradient import gradient_magnitude


class UnifiedViT(ViT):
    """A :class:`ViT` whose blocks read 2D images and 3D volumes: the ViT's own 2D patch
    embedding and position table (``patch_embed``, ``pos_embed``: timm's names, so 2D
    checkpoints load) plus a 3D pair (``patch_embed_3d``, ``pos_embed_3d``).

    ``forward`` / ``forward_features`` take (B, C, *img_size_2d) or (B, C, *img_size_3d); with
    ``num_classes > 0`` it is the fine-tuned classifier (logits), else an encoder.
    """

    checkpoint_optional = ("patch_embed_3d.", "pos_embed_3d")  # a 2D checkpoint has no 3D path

    def __init__(self, in_channels: int = 1, img_size_2d: int | Sequence[int] = 224,
                 img_size_3d: Sequence[int] = (224, 224, 112), patch_size: int = 16, hidden_size: int = 768,
                 num_layers: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0, num_classes: int = 0,
                 global_pool: bool = True, drop_path_rate: float = 0.0) -> None:
        super().__init__(in_channels, img_size_2d, patch_size, hidden_size, num_layers, num_heads, mlp_ratio,
                         num_classes, global_pool, drop_path_rate, spatial_dims=2)
        self.img_size_3d = ensure_tuple_rep(img_size_3d, 3)
        self.grid_size_3d = patch_grid(self.img_size_3d, patch_size, "img_size_3d")
        self.patch_embed_3d = PatchProjection(self.img_size_3d, patch_size, in_channels, hidden_size)
        self.pos_embed_3d = sincos_position_embedding(self.grid_size_3d, hidden_size).requires_grad_(True)

    def input_size(self, spatial_dims: int) -> tuple[int, ...]:
        """The spatial size the 2D or 3D path takes."""
        return self.img_size if spatial_dims == 2 else self.img_size_3d

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) or (B, C, H, W, D) -> (B, N, hidden_size) tokens of the matching path."""
        if x.ndim == 4:
            return self.patch_embed(x) + self.pos_embed[:, 1:]  # the 2D path (super() does not script)
        if x.ndim == 5:
            return self.patch_embed_3d(x) + self.pos_embed_3d[:, 1:]
        raise ValueError("Uni4Eye takes (B, C, H, W) images or (B, C, H, W, D) volumes, got shape " + size_text(list(x.shape)))


class DualGridDecoder(MaskedDecoder):
    """An MAE decoder for both patch grids: shared blocks, a position table and an output
    layer per grid (``pos_embed`` / ``pred`` for 2D, as MAE names them, ``pos_embed_3d`` /
    ``pred_3d`` for 3D). ``forward(encoded, ids_restore, spatial_dims)``."""

    def __init__(self, grid_size: Sequence[int], grid_size_3d: Sequence[int], encoder_size: int, patch_size: int,
                 channels: int, hidden_size: int = 512, num_layers: int = 8, num_heads: int = 16) -> None:
        super().__init__(grid_size, encoder_size, patch_size**2 * channels, hidden_size, num_layers, num_heads)
        self.grid_size, self.grid_size_3d = tuple(grid_size), tuple(grid_size_3d)
        self.pos_embed_3d = sincos_position_embedding(self.grid_size_3d, hidden_size)
        self.pred_3d = nn.Linear(hidden_size, patch_size**3 * channels)

    def forward(self, encoded: torch.Tensor, ids_restore: torch.Tensor, spatial_dims: int = 2) -> torch.Tensor:
        if spatial_dims == 3:
            return super().forward(encoded, ids_restore, self.pos_embed_3d, self.pred_3d)
        return super().forward(encoded, ids_restore)


class Uni4Eye(nn.Module):
    """Uni4Eye pre-training model: :class:`UnifiedViT` encoder (``encoder``), image decoder
    (``decoder``: MAE's decoder names, so an MAE checkpoint's decoder loads into it) and
    gradient decoder (``decoder_gradient``).

    ``forward(x)`` with x (B, C, H, W) or (B, C, H, W, D) returns a dict: ``loss``,
    ``loss_image``, ``loss_gradient`` (masked-patch MSEs), ``pred_image``, ``pred_gradient``
    (B, N, patch_size**dims · C) and ``mask`` (B, N), 1 where masked. A precomputed gradient
    map may be given (``forward(x, gradient)``); else it is computed from ``x``.
    """

    checkpoint_optional = ("encoder.patch_embed_3d.", "encoder.pos_embed_3d", "decoder_gradient.")

    def __init__(self, in_channels: int = 1, img_size_2d: int | Sequence[int] = 224,
                 img_size_3d: Sequence[int] = (224, 224, 112), patch_size: int = 16, hidden_size: int = 768,
                 num_layers: int = 12, num_heads: int = 12, decoder_hidden_size: int = 512,
                 decoder_num_layers: int = 8, decoder_num_heads: int = 16, mask_ratio: float = 0.75,
                 lambda_image: float = 1.0, lambda_gradient: float = 1.0) -> None:
        super().__init__()
        if not 0 <= mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.encoder = UnifiedViT(in_channels, img_size_2d, img_size_3d, patch_size, hidden_size, num_layers,
                                  num_heads, global_pool=False)
        self.encoder.pos_embed.requires_grad_(False)  # fixed sin-cos positions while pre-training, as MAE
        self.encoder.pos_embed_3d.requires_grad_(False)
        self.in_channels, self.patch_size = in_channels, patch_size
        self.mask_ratio, self.lambda_image, self.lambda_gradient = mask_ratio, lambda_image, lambda_gradient
        decoder_args = (self.encoder.grid_size, self.encoder.grid_size_3d, hidden_size, patch_size, in_channels,
                        decoder_hidden_size, decoder_num_layers, decoder_num_heads)
        self.decoder = DualGridDecoder(*decoder_args)
        self.decoder_gradient = DualGridDecoder(*decoder_args)

    def forward(self, x: torch.Tensor, gradient: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        spatial_dims = x.ndim - 2
        kept, mask, ids_restore = random_masking(self.encoder.patch_tokens(x), self.mask_ratio)
        encoded = self.encoder.encode_tokens(kept)
        pred_image = self.decoder(encoded, ids_restore, spatial_dims)
        pred_gradient = self.decoder_gradient(encoded, ids_restore, spatial_dims)
        if gradient is None:
            with torch.no_grad():
                gradient = gradient_magnitude(x)
        loss_image = masked_mse(pred_image, patchify(x, self.patch_size), mask)
        loss_gradient = masked_mse(pred_gradient, patchify(gradient, self.patch_size), mask)
        return {"loss": self.lambda_image * loss_image + self.lambda_gradient * loss_gradient,
                "loss_image": loss_image, "loss_gradient": loss_gradient, "pred_image": pred_image,
                "pred_gradient": pred_gradient, "mask": mask}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """All patch tokens of an unmasked image or volume: (B, 1 + N, hidden_size), class token first."""
        return self.encoder.forward_features(x)

    def to_images(self, patches: torch.Tensor, spatial_dims: int) -> torch.Tensor:
        """(B, N, P) patch predictions (or a (B, N) mask) -> (B, C, *spatial) images."""
        grid = self.encoder.grid_size if spatial_dims == 2 else self.encoder.grid_size_3d
        if patches.ndim == 2:  # a mask: one value per patch, spread over its pixels
            patches = patches[..., None].expand(-1, -1, self.patch_size**spatial_dims * self.in_channels)
        return unpatchify(patches, self.patch_size, grid, self.in_channels)
