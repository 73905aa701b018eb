"""The vessel segmenters the bundle's ``network`` can be, and the predictor that runs them.

Both take fundus photos as (B, 3, H, W) float in [0, 1] and give vessel logits (B, C, H, W),
so one pipeline (``preprocessing`` → ``inferer(network)`` → sigmoid > 0.5 → masks) runs either:

- :func:`vessel_unet`: MONAI's 2D ``UNet``, trained by ``train.json`` on image + mask folders
  (DRIVE / HRF / LES-AV). Independent sigmoid channels: 1 = vessel; 3 = vessel, artery,
  vein (a crossing is both artery and vein).
- :class:`ClassicalVesselSegmenter`: no weights; :func:`medvit.pvbm.vessels.vessel_mask` as a
  parameter-free module. It needs the whole field of view at once, so the bundle's
  ``SlidingWindowInferer`` gives it one window the size of the photo (``roi_size`` -1). A 4th
  input channel, the field of view the preprocessing computed, spares computing it twice.

:class:`VesselPredictor` is the bundle's ``predictor``: where the user gave masks
(``masks_dir``) they are the prediction and no network runs.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import UNet
from monai.transforms import MapTransform

from medvit.bundle.workflow import CasePredictor
from medvit.errors import MedvitError
from medvit.nets.checkpoints import load_state_dict
from medvit.pvbm.masks import find_mask, read_vessel_masks
from medvit.pvbm.photo import GREY_MESSAGE, channels_first, channels_last, list_fundus_images, read_photo_rc
from medvit.pvbm.vessels import vessel_mask

UNET_CHANNELS = (16, 32, 64, 128, 256)
UNET_STRIDES = (2, 2, 2, 2)
# The logit a mask known for certain gets (classical segmentation, given masks): sigmoid(±20)
# is 1 and 2e-9 in float32, on the right side of any threshold in (0, 1).
MASK_LOGIT = 20.0


def vessel_unet(out_channels: int = 1, channels=UNET_CHANNELS, strides=UNET_STRIDES, num_res_units: int = 2):
    """MONAI ``UNet`` for fundus photos: 3 input channels, ``out_channels`` logits (1 or 3)."""
    if out_channels not in (1, 3):
        raise MedvitError(f"out_channels must be 1 (vessel) or 3 (vessel, artery, vein), got {out_channels}")
    return UNet(spatial_dims=2, in_channels=3, out_channels=out_channels, channels=tuple(channels),
                strides=tuple(strides), num_res_units=num_res_units)


def mask_logits(mask) -> torch.Tensor:
    """Logits of masks known for certain: (C, H, W) bool / {0, 1} → float32 ±:data:`MASK_LOGIT`."""
    mask = torch.as_tensor(mask)
    return torch.where(mask > 0.5 if mask.is_floating_point() else mask.bool(), MASK_LOGIT, -MASK_LOGIT).float()


class ClassicalVesselSegmenter(torch.nn.Module):
    """:func:`medvit.pvbm.vessels.vessel_mask` as a network without weights.

    Args:
        settings: keyword arguments of :func:`~medvit.pvbm.vessels.vessel_mask` (``sigmas``,
            ``low``, ``high``, ``min_size``, ``min_darkness``); its defaults where absent.

    Input (B, 3, H, W) RGB in [0, 1], or (B, 4, H, W) with the field of view (0 / 1) as the
    4th channel; output (B, 1, H, W) vessel logits (±:data:`MASK_LOGIT`) on the input's device.
    """

    def __init__(self, **settings):
        super().__init__()
        try:
            inspect.signature(vessel_mask).bind(None, **settings)
        except TypeError as err:
            raise MedvitError(f"classical vessel segmentation: {err}") from None
        self.settings = settings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] not in (3, 4):
            raise MedvitError(GREY_MESSAGE if x.shape[1] < 3 else f"expected 3 (RGB) or 4 (RGB + field of view) "
                              f"channels, got {x.shape[1]}")
        masks = []
        for image in x.detach():
            fov = np.ascontiguousarray(image[3].cpu().numpy() > 0.5) if image.shape[0] == 4 else None
            masks.append(vessel_mask(channels_last(image), fov=fov, **self.settings))
        return mask_logits(np.stack(masks)[:, None]).to(x.device)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items())


def load_vessel_weights(network, path: str | os.PathLike, map_location: str = "cpu"):
    """The bundle's ``network`` loader: :func:`medvit.nets.load_state_dict` (a state dict, or one
    under ``"model"`` / ``"state_dict"``), saying which settings a U-Net that does not fit needs."""
    try:
        return load_state_dict(network, path, map_location=map_location)
    except MedvitError as err:
        if not isinstance(network, UNet):
            raise
        now = (f"out_channels {network.out_channels}, channels {list(network.channels)}, "
               f"strides {list(network.strides)}, num_res_units {network.num_res_units}")
        raise MedvitError(f"{err}; give the vessel U-Net settings it was trained with "
                          f"(inference.json network_args, now {now})") from None


class VesselPredictor(CasePredictor):
    """The bundle's predictor: :class:`~medvit.bundle.workflow.CasePredictor` whose prediction is
    the user's masks where the preprocessing loaded them (under ``given_key``, (C, H, W) 0 / 1):
    then no network runs; else the vessel logits of ``inferer(image, network)``."""

    def __init__(self, *args, given_key: str = "given_masks", **kwargs):
        super().__init__(*args, **kwargs)
        self.given_key = given_key

    def predict(self, data: dict):
        given = data.get(self.given_key)
        return mask_logits(given) if given is not None else super().predict(data)


# -- training pairs (train.json) ---------------------------------------------------------------

def training_items(dataset_dir: str | os.PathLike, images: str = "images", masks: str = "masks") -> list[dict]:
    """``[{"image": path, "label": path}, ...]`` for an image folder and a mask folder matched by stem."""
    root = Path(dataset_dir)
    return [{"image": str(p), "label": str(find_mask(root / masks, p))} for p in list_fundus_images(root / images)]


def load_training_pair(image_path: str, label_path: str, out_channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A photo and its mask file → ((3, H, W) float32 in [0, 1], (C, H, W) float32 targets)."""
    photo = read_photo_rc(image_path)
    if photo.ndim != 3:
        raise MedvitError(f"{image_path}: the vessel network trains on colour photographs (got a grey image)")
    masks = read_vessel_masks(label_path, photo.shape[:2])
    if out_channels == 1:
        target = masks.vessels[None]
    elif masks.has_av:
        target = np.stack([masks.vessels, masks.arteries, masks.veins])
    else:
        raise MedvitError(f"{label_path}: a 3-channel (artery/vein) network needs artery/vein masks, got a binary mask")
    return channels_first(photo), target.astype(np.float32)


class LoadVesselPaird(MapTransform):
    """Dictionary wrapper of :func:`load_training_pair`: replaces the paths under
    ``image_key`` / ``label_key`` with the (C, H, W) arrays the U-Net trains on."""

    def __init__(self, image_key: str = "image", label_key: str = "label", out_channels: int = 1):
        super().__init__(keys=[image_key, label_key])
        self.image_key, self.label_key, self.out_channels = image_key, label_key, out_channels

    def __call__(self, data):
        d = dict(data)
        d[self.image_key], d[self.label_key] = load_training_pair(d[self.image_key], d[self.label_key], self.out_channels)
        return d
