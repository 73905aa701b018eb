"""Gradient-magnitude maps, Uni4Eye's second reconstruction target (Cai et al., MICCAI 2022).

Sobel derivatives along every spatial axis (MONAI's ``SobelGradients``, 3×3[×3] kernels,
reflect padding), combined as the mean of their absolute values: ``0.5·|Gx| + 0.5·|Gy|`` for
2D images as the paper writes it, ``(|Gx| + |Gy| + |Gz|) / 3`` for volumes.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, SobelGradients, Transform


def gradient_magnitude(images: torch.Tensor, channel_first: bool = False) -> torch.Tensor:
    """Mean absolute Sobel derivative over the spatial axes, same shape as the input.

    Args:
        images: a batch (B, C, *spatial) or, with ``channel_first``, one image (C, *spatial);
            2 or 3 spatial dimensions.
    """
    images = torch.as_tensor(images)
    images = images.as_tensor() if hasattr(images, "as_tensor") else images  # a plain tensor, no MONAI meta
    batch = images[None] if channel_first else images
    spatial_dims = batch.ndim - 2
    if spatial_dims not in (2, 3):
        raise ValueError(f"gradient maps need 2D or 3D images, got a tensor of shape {tuple(images.shape)}")
    lead = batch.shape[:2]
    # SobelGradients works on one channel-first image: batch and channels become its channels,
    # and it returns the derivatives axis after axis.
    flat = batch.reshape(-1, *batch.shape[2:]).float()
    grads = SobelGradients(kernel_size=3)(flat)
    grads = (grads.as_tensor() if hasattr(grads, "as_tensor") else grads).reshape(spatial_dims, *lead, *batch.shape[2:])
    magnitude = grads.abs().mean(dim=0).to(images.dtype)
    return magnitude[0] if channel_first else magnitude


class GradientMagnitude(Transform):
    """Array transform: (C, *spatial) -> its :func:`gradient_magnitude` map."""

    def __call__(self, image) -> torch.Tensor:
        return gradient_magnitude(torch.as_tensor(image), channel_first=True)


class GradientMagnituded(MapTransform):
    """Dictionary transform: ``output_key`` (default ``"<key>_gradient"``) gets the map of ``key``."""

    def __init__(self, keys: KeysCollection, output_postfix: str = "gradient", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.output_postfix = output_postfix
        self.transform = GradientMagnitude()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}_{self.output_postfix}"] = self.transform(d[key])
        return d
