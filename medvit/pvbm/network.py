"""Vessel segmentation by a MONAI network, for users with labelled data (DRIVE / HRF / LES-AV).

The network is MONAI's 2D ``UNet`` on RGB photos scaled to [0, 1]. Its outputs are
independent sigmoid channels: 1 channel = vessel; 3 channels = vessel, artery, vein (a
crossing is both artery and vein). ``train.json`` of ``bundles/pvbm_vessel_biomarkers``
trains it on image + mask folders; :func:`network_vessel_masks` applies a checkpoint to a
photo inside the biomarker pipeline.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from medvit.pvbm.masks import VesselMasks, find_mask
from medvit.errors import MedvitError

UNET_CHANNELS = (16, 32, 64, 128, 256)
UNET_STRIDES = (2, 2, 2, 2)
ROI_SIZE = (512, 512)
THRESHOLD = 0.5


def vessel_unet(out_channels: int = 1, channels=UNET_CHANNELS, strides=UNET_STRIDES, num_res_units: int = 2):
    """MONAI ``UNet`` for fundus photos: 3 input channels, ``out_channels`` logits (1 or 3)."""
    from monai.networks.nets import UNet

    if out_channels not in (1, 3):
        raise MedvitError(f"out_channels must be 1 (vessel) or 3 (vessel, artery, vein), got {out_channels}")
    return UNet(spatial_dims=2, in_channels=3, out_channels=out_channels, channels=tuple(channels),
                strides=tuple(strides), num_res_units=num_res_units)


def training_items(dataset_dir: str | os.PathLike, images: str = "images", masks: str = "masks") -> list[dict]:
    """``[{"image": path, "label": path}, ...]`` for an image folder and a mask folder matched by stem."""
    from medvit.pvbm.cohort import list_fundus_images

    root = Path(dataset_dir)
    items = [{"image": str(p), "label": str(find_mask(root / masks, p))} for p in list_fundus_images(root / images)]
    return items


def load_vessel_network(checkpoint: str, network: dict | None = None, device: str = "cpu"):
    """A :func:`vessel_unet` built with ``network`` (its keyword arguments; default the
    bundle's) and the weights of ``checkpoint`` (a state dict, or a dict holding one under
    ``"model"`` / ``"state_dict"``), in eval mode. Loaded once per process and settings."""
    import json

    return _load_vessel_network(str(checkpoint), json.dumps(network or {}, sort_keys=True), device)


@functools.lru_cache(maxsize=2)
def _load_vessel_network(checkpoint: str, network_json: str, device: str):
    import json

    from medvit.nets.checkpoints import load_state_dict

    arguments = json.loads(network_json)
    try:
        network = load_state_dict(vessel_unet(**arguments), checkpoint, map_location=device)
    except MedvitError as err:
        raise MedvitError(
            f"{err}; give the vessel U-Net settings it was trained with (inference.json network_args, "
            f"now {arguments or 'the defaults'})"
        ) from None
    return network.to(device).eval()


def network_vessel_masks(photo: np.ndarray, checkpoint: str, network: dict | None = None, device: str = "cpu") -> VesselMasks:
    """Vessel (and artery / vein) masks of a photo (H, W, 3) by the network in ``checkpoint``
    (built with the keyword arguments ``network`` of :func:`vessel_unet`)."""
    import torch
    from monai.inferers import SlidingWindowInferer

    if photo.ndim != 3:
        raise MedvitError("the vessel network needs a colour fundus photograph (got a grey image)")
    model = load_vessel_network(checkpoint, network, device)
    image = torch.from_numpy(photo_tensor(photo))[None].to(device)
    inferer = SlidingWindowInferer(roi_size=ROI_SIZE, sw_batch_size=1, overlap=0.25, mode="gaussian", padding_mode="reflect")
    with torch.no_grad():
        probabilities = torch.sigmoid(inferer(image, model))[0].cpu().numpy()
    channels = probabilities > THRESHOLD
    if channels.shape[0] == 3:
        return VesselMasks(channels[0] | channels[1] | channels[2], channels[1], channels[2])
    return VesselMasks(channels[0])


def photo_tensor(photo: np.ndarray) -> np.ndarray:
    """(H, W, 3) photo → (3, H, W) float32 in [0, 1], the network's input."""
    array = np.asarray(photo)[..., :3]
    scale = 255.0 if array.dtype == np.uint8 or array.max() > 1 else 1.0
    if array.dtype == np.uint16:
        scale = 65535.0
    return np.ascontiguousarray(np.moveaxis(array.astype(np.float32) / scale, -1, 0))


def load_training_pair(image_path: str, label_path: str, out_channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A photo and its mask file → ((3, H, W) float32 in [0, 1], (C, H, W) float32 targets)."""
    from medvit.pvbm.masks import read_vessel_masks
    from medvit.pvbm.pipeline import read_photo_rc

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
    return photo_tensor(photo), target.astype(np.float32)


try:  # MONAI is a dependency; the guard only keeps this module importable in minimal tooling
    from monai.transforms import MapTransform
except ImportError:  # pragma: no cover
    MapTransform = object


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
