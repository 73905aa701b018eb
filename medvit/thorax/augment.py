"""Dictionary transforms for training chest X-ray classifiers and masked autoencoders (the
thorax bundle's ``train.json`` and ``pretrain.json``).

:class:`LoadCXRd` reads hospital files the way inference does (:mod:`medvit.thorax.transforms`);
:class:`CXRNetworkInputd` is inference's own geometry for validation; :class:`RandResizedCropd`
and :func:`rand_augment` are torchvision's ``RandomResizedCrop`` and timm's RandAugment, which
MAE / medical_mae train with, written on MONAI transforms (no torchvision in the base install).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import (
    Compose,
    HistogramNormalized,
    Lambdad,
    MapTransform,
    RandAffined,
    RandomizableTransform,
    RandRotated,
    ScaleIntensityd,
    ScaleIntensityRanged,
    SomeOf,
)

from medvit.io import read_image
from medvit.thorax.transforms import CROP, cxr_display_intensity, cxr_network_input


class LoadCXRd(MapTransform):
    """Read a radiograph (DICOM CR / DX, PNG, JPEG, ...) given by path into display intensities:
    (1, W, H) float32 in [0, 1] (:func:`cxr_display_intensity`). Bad files raise a
    :class:`~medvit.errors.MedvitError` naming them."""

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            image, meta = read_image(d[key])
            d[key] = torch.as_tensor(cxr_display_intensity(image, meta))[None]
        return d


class CXRNetworkInputd(MapTransform):
    """Display intensities (1, W, H) → the classifier's input exactly as inference makes it
    (:func:`cxr_network_input`: letterbox 256², centre crop 224², normalisation, ``channels``)."""

    def __init__(self, keys, channels: int = 3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.channels = channels

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = cxr_network_input(np.asarray(d[key])[0], self.channels).as_tensor()
        return d


class RandResizedCropd(RandomizableTransform, MapTransform):
    """torchvision's ``RandomResizedCrop`` on (C, W, H) tensors: a crop of a random area fraction
    in ``scale`` and aspect ratio in ``ratio`` (log-uniform), resized to ``size``² (bilinear,
    antialiased); after 10 failed draws a centre crop of the clamped aspect ratio. MAE and
    medical_mae pre-train with ``scale=(0.5, 1.0)``."""

    def __init__(self, keys, size: int = CROP, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3),
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.size, self.scale, self.ratio = int(size), tuple(scale), tuple(ratio)
        self.box = (0, 0, 1, 1)

    def randomize(self, shape) -> None:
        width, height = int(shape[0]), int(shape[1])
        area = width * height
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            target = area * self.R.uniform(*self.scale)
            aspect = float(np.exp(self.R.uniform(*log_ratio)))
            w, h = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                self.box = (int(self.R.randint(0, width - w + 1)), int(self.R.randint(0, height - h + 1)), w, h)
                return
        aspect = width / height
        w, h = ((width, int(round(width / self.ratio[0]))) if aspect < self.ratio[0] else
                (int(round(height * self.ratio[1])), height) if aspect > self.ratio[1] else (width, height))
        w, h = min(w, width), min(h, height)
        self.box = ((width - w) // 2, (height - h) // 2, w, h)

    def __call__(self, data):
        d = dict(data)
        first = next(self.key_iterator(d), None)
        if first is None:
            return d
        self.randomize(d[first].shape[1:])
        x0, y0, w, h = self.box
        for key in self.key_iterator(d):
            crop = torch.as_tensor(d[key])[None, :, x0:x0 + w, y0:y0 + h].float()
            d[key] = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False,
                                   antialias=True)[0]
        return d


class RandEnhanced(RandomizableTransform, MapTransform):
    """PIL's ``ImageEnhance`` on [0, 1] grey images: ``degenerate + f · (image − degenerate)`` with
    ``f`` uniform in ``1 ± max_delta``; the degenerate image is black (brightness), the mean grey
    (contrast) or a 3×3-smoothed copy (sharpness)."""

    KINDS = ("brightness", "contrast", "sharpness")

    def __init__(self, keys, kind: str, max_delta: float, allow_missing_keys: bool = False) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind {kind!r}: one of {self.KINDS}")
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.kind, self.max_delta, self.factor = kind, float(max_delta), 1.0

    def randomize(self, data=None) -> None:
        self.factor = float(self.R.uniform(1 - self.max_delta, 1 + self.max_delta))

    def _degenerate(self, image):
        if self.kind == "brightness":
            return torch.zeros_like(image)
        if self.kind == "contrast":
            return torch.full_like(image, float(image.mean()))
        kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=image.dtype) / 13  # PIL SMOOTH
        smooth = F.conv2d(image[:, None], kernel[None, None], padding=1)[:, 0]
        smooth[:, [0, -1]], smooth[:, :, [0, -1]] = image[:, [0, -1]], image[:, :, [0, -1]]  # PIL keeps the border
        return smooth

    def __call__(self, data):
        d = dict(data)
        self.randomize()
        for key in self.key_iterator(d):
            image = torch.as_tensor(d[key]).float()
            degenerate = self._degenerate(image)
            d[key] = degenerate + self.factor * (image - degenerate)
        return d


def posterize(image, bits: int):
    """Keep ``bits`` bits of an image in [0, 1] (PIL's posterize on 8-bit values)."""
    levels = 2**bits
    quantised = torch.floor(torch.as_tensor(image) * 255 / (256 // levels)) * (256 // levels)
    return quantised / 255


def solarize(image, threshold: float):
    """Invert the pixels at or above ``threshold`` (PIL's solarize, on [0, 1])."""
    image = torch.as_tensor(image)
    return torch.where(image >= threshold, 1 - image, image)


def solarize_add(image, addition: float, threshold: float = 0.5):
    """Add ``addition`` to the pixels below ``threshold`` (timm's SolarizeAdd, on [0, 1])."""
    image = torch.as_tensor(image)
    return torch.where(image < threshold, torch.clamp(image + addition, 0, 1), image)


def rand_augment(keys="image", magnitude: float = 6, num_ops: int = 2, size: int = CROP):
    """RandAugment (timm's ``rand-m{magnitude}-inc1`` as medical_mae fine-tunes) from MONAI
    transforms, on grey [0, 1] images (C, W, H) before normalisation.

    ``num_ops`` operations drawn uniformly without replacement from timm's increasing set,
    each at ``magnitude`` / 10 of its range with a random sign: auto-contrast, equalise,
    rotate (±30°), posterize (8 − 4·m bits), solarize (threshold 1 − m), solarize-add (+0.43·m),
    contrast / brightness / sharpness (factor 1 ± 0.9·m), shear x / y (±0.3·m), translate x / y
    (±0.45·m of the size). Invert and colour are left out: a radiograph's grey level has one
    meaning, and it has no colour. A clamp to [0, 1] follows, as PIL's 8-bit images clip.

    Returns:
        a MONAI ``Compose`` of ``SomeOf`` (the operations) and the clamp.
    """
    level = float(magnitude) / 10
    shear, shift = 0.3 * level, 0.45 * level * size
    operations = [
        ScaleIntensityd(keys, minv=0.0, maxv=1.0),
        HistogramNormalized(keys, num_bins=256, min=0, max=1),
        RandRotated(keys, range_x=math.radians(30 * level), prob=1.0, padding_mode="zeros"),
        Lambdad(keys, functools.partial(posterize, bits=max(1, 8 - int(4 * level)))),
        Lambdad(keys, functools.partial(solarize, threshold=1 - level)),
        Lambdad(keys, functools.partial(solarize_add, addition=110 / 255 * level)),
        RandEnhanced(keys, "contrast", 0.9 * level),
        RandEnhanced(keys, "brightness", 0.9 * level),
        RandEnhanced(keys, "sharpness", 0.9 * level),
        RandAffined(keys, prob=1.0, shear_range=((-shear, shear), (0, 0)), padding_mode="zeros"),
        RandAffined(keys, prob=1.0, shear_range=((0, 0), (-shear, shear)), padding_mode="zeros"),
        RandAffined(keys, prob=1.0, translate_range=((-shift, shift), (0, 0)), padding_mode="zeros"),
        RandAffined(keys, prob=1.0, translate_range=((0, 0), (-shift, shift)), padding_mode="zeros"),
    ]
    clamp = ScaleIntensityRanged(keys, a_min=0.0, a_max=1.0, b_min=0.0, b_max=1.0, clip=True)
    return Compose([SomeOf(operations, num_transforms=num_ops), clamp])
