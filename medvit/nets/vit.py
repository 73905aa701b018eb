"""Vision Transformer encoder and classifier with timm's / MAE's parameter layout.

One implementation of the ViT serves the MAE thorax classifier, its masked-autoencoder
pre-training (:mod:`medvit.nets.mae`) and Uni4Eye's shared encoder. It is built from MONAI's
blocks — ``PatchEmbed``'s 2D or 3D patch projection (:class:`PatchProjection`), ``SABlock`` with
``scaled_dot_product_attention`` and ``MLPBlock`` — arranged as timm's ``VisionTransformer``:
pre-norm blocks with LayerNorm eps 1e-6, a class token, and (for classification) global
average pooling over the patch tokens followed by ``fc_norm``, as medical_mae fine-tunes.
MONAI's ``TransformerBlock`` is not used because it has no stochastic depth (drop path), which
the fine-tuning recipe needs, and its LayerNorms use eps 1e-5.

Parameter names are timm's except inside the MONAI blocks (``attn.out_proj``,
``mlp.linear1/2`` for timm's ``attn.proj``, ``mlp.fc1/2``); :mod:`medvit.nets.vit_checkpoints`
maps one to the other.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from monai.networks.blocks import MLPBlock, PatchEmbed, SABlock
from monai.networks.blocks.pos_embed_utils import build_sincos_position_embedding
from monai.networks.layers import DropPath
from monai.utils import ensure_tuple_rep
from torch import nn

LAYER_NORM_EPS = 1e-6  # timm's / MAE's ViT LayerNorm

# name -> (hidden_size, num_layers, num_heads); patch size 16, MLP ratio 4. ``vit_toy_patch16`` is
# medvit's own (no published weights): small enough to train on CPU in a minute for tests and demos.
ARCHITECTURES = {
    "vit_toy_patch16": (96, 2, 3),
    "vit_tiny_patch16": (192, 12, 3),
    "vit_small_patch16": (384, 12, 6),
    "vit_base_patch16": (768, 12, 12),
    "vit_large_patch16": (1024, 24, 16),
}


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + drop_path(attn(norm1(x)))``, then the same with the MLP.

    Input and output: (B, N, hidden_size) tokens.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.attn = SABlock(hidden_size, num_heads, qkv_bias=True, use_flash_attention=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.mlp = MLPBlock(hidden_size, int(hidden_size * mlp_ratio), act="GELU")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def transformer_blocks(hidden_size: int, num_layers: int, num_heads: int, mlp_ratio: float = 4.0,
                       drop_path_rate: float = 0.0) -> nn.ModuleList:
    """``num_layers`` :class:`ViTBlock` with drop path rising linearly to ``drop_path_rate`` (timm's rule)."""
    rates = torch.linspace(0, drop_path_rate, num_layers).tolist() if num_layers > 1 else [drop_path_rate]
    return nn.ModuleList(ViTBlock(hidden_size, num_heads, mlp_ratio, rate) for rate in rates)


def sincos_position_embedding(grid_size: Sequence[int], hidden_size: int, cls_token: bool = True) -> nn.Parameter:
    """Fixed sine-cosine position embedding (MONAI's, MoCo v3 layout) for a patch grid.

    Returns:
        a frozen parameter (1, [1 +] prod(grid_size), hidden_size); the class token's row is zero.
    """
    spatial_dims = len(grid_size)
    if hidden_size % (2 * spatial_dims):
        # MONAI's sin-cos needs 4 (2D) or 6 (3D) to divide the width; else a learnable table.
        table = nn.init.trunc_normal_(torch.zeros(1, int(torch.tensor(grid_size).prod()), hidden_size), std=0.02)
    else:
        with warnings.catch_warnings():  # MONAI calls torch.meshgrid without ``indexing``
            warnings.simplefilter("ignore", UserWarning)
            table = build_sincos_position_embedding(list(grid_size), hidden_size, spatial_dims).data
    if cls_token:
        table = torch.cat([torch.zeros(1, 1, hidden_size), table], dim=1)
    return nn.Parameter(table, requires_grad=False)


def size_text(sizes: list[int]) -> str:
    """``(32, 32, 16)``, as a tuple prints, in a form TorchScript compiles."""
    return "(" + ", ".join([str(s) for s in sizes]) + ")"


class PatchProjection(PatchEmbed):
    """(B, C, *img_size) -> (B, N, D) patch tokens: MONAI's ``PatchEmbed`` projection (same
    parameters, names and initialisation), flattened to tokens, for inputs of exactly
    ``img_size``. Its forward compiles with TorchScript (MONAI's padding branch does not for 2D
    input), as ``ckpt_export`` and model-zoo's CI need."""

    def __init__(self, img_size: Sequence[int], patch_size: int, in_channels: int, hidden_size: int) -> None:
        super().__init__(patch_size, in_channels, hidden_size, norm_layer=None, spatial_dims=len(img_size))
        self.img_size = [int(s) for s in img_size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if list(x.shape[2:]) != self.img_size:
            raise ValueError("input of spatial size " + size_text(list(x.shape[2:])) + ", the network was built for "
                             + size_text(self.img_size))
        return self.proj(x).flatten(2).transpose(1, 2)


def patch_grid(img_size: Sequence[int], patch_size: int, what: str = "img_size") -> tuple[int, ...]:
    """Patches per axis of an image of ``img_size``; ValueError (naming ``what``) when it does not divide."""
    if any(size % patch_size for size in img_size):
        raise ValueError(f"{what} {tuple(img_size)} is not a multiple of patch_size {patch_size}")
    return tuple(size // patch_size for size in img_size)


class ViT(nn.Module):
    """Vision Transformer over 2D images or 3D volumes, timm ``VisionTransformer`` layout.

    Args:
        in_channels: image channels (3 for ImageNet / medical_mae checkpoints).
        img_size: spatial size, an int (square / cube) or one per spatial dim.
        patch_size: patch edge length.
        hidden_size, num_layers, num_heads, mlp_ratio: the transformer's width and depth.
        num_classes: size of the linear head; 0 for an encoder without a head.
        global_pool: classify the mean of the patch tokens after ``fc_norm`` (medical_mae's
            fine-tuning) rather than the class token after ``norm``.
        drop_path_rate: stochastic depth at the last block.
        spatial_dims: 2 or 3.

    ``forward``: (B, in_channels, *img_size) -> logits (B, num_classes), or the pooled features
    (B, hidden_size) when ``num_classes == 0``.
    """

    def __init__(self, in_channels: int = 3, img_size: int | Sequence[int] = 224, patch_size: int = 16,
                 hidden_size: int = 768, num_layers: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 num_classes: int = 0, global_pool: bool = True, drop_path_rate: float = 0.0,
                 spatial_dims: int = 2) -> None:
        super().__init__()
        self.img_size = ensure_tuple_rep(img_size, spatial_dims)
        self.patch_size = patch_size
        self.grid_size = patch_grid(self.img_size, patch_size)
        self.global_pool = global_pool
        self.patch_embed = PatchProjection(self.img_size, patch_size, in_channels, hidden_size)
        self.cls_token = nn.Parameter(nn.init.normal_(torch.zeros(1, 1, hidden_size), std=0.02))
        self.pos_embed = sincos_position_embedding(self.grid_size, hidden_size).requires_grad_(True)  # timm: learnt
        self.blocks = transformer_blocks(hidden_size, num_layers, num_heads, mlp_ratio, drop_path_rate)
        self.norm = nn.Identity() if global_pool else nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.fc_norm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS) if global_pool else nn.Identity()
        self.head = nn.Linear(hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *img_size) -> (B, N, hidden_size) patch tokens with their position embedding."""
        return self.patch_embed(x) + self.pos_embed[:, 1:]

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prepend the class token to (B, N, D) patch tokens and run the blocks: (B, 1 + N, D)."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *img_size) -> (B, 1 + N, hidden_size) encoded tokens, class token first."""
        return self.encode_tokens(self.patch_tokens(x))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 1 + N, D) -> (B, D): patch-token mean after ``fc_norm``, or the class token."""
        return self.fc_norm(tokens[:, 1:].mean(dim=1)) if self.global_pool else tokens[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.forward_features(x)))


def build_vit(name: str = "vit_base_patch16", num_classes: int = 14, global_pool: bool = True,
              img_size: int | Sequence[int] = 224, in_channels: int = 3, drop_path_rate: float = 0.0,
              spatial_dims: int = 2) -> ViT:
    """A ViT by timm's architecture name (``vit_small_patch16``, ``vit_base_patch16``, ...).

    Returns a module whose forward gives ``num_classes`` logits (sigmoid them for multi-label
    findings); load published weights with :func:`medvit.nets.load_checkpoint`.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown ViT {name!r}: one of {', '.join(ARCHITECTURES)}")
    hidden_size, num_layers, num_heads = ARCHITECTURES[name]
    return ViT(in_channels, img_size, 16, hidden_size, num_layers, num_heads, num_classes=num_classes,
               global_pool=global_pool, drop_path_rate=drop_path_rate, spatial_dims=spatial_dims)
