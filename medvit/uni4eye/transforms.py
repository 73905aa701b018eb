"""Uni4Eye's preprocessing: an image or volume as ``LoadImaged`` (with
:class:`medvit.io.MedvitReader`) reads it → the network's input, (1, H, W) or (1, H, W, D).

``inference.json`` lists these transforms after ``LoadImaged``; :func:`ophthalmic_transforms`
is the same list for training and pre-training (:func:`medvit.uni4eye.items.load_item`), so a
checkpoint sees at inference what it was trained on:

1. :class:`GreyChanneld`: colour → grey (luma), one channel first;
2. :class:`CheckSpatialDimsd`: a 2D image or a 3D volume, of the kind the item (its
   ``spatial_dims``) and the network path (``spatial_dims`` of the bundle) say;
3. :class:`UnitIntensityd`: intensities clipped to the 0.5th - 99.5th percentiles, in [0, 1];
4. :class:`ResizeToNetworkd`: MONAI's ``Resize`` to the network's 2D (area) or 3D
   (trilinear) size; a volume of another depth is resized or refused (``wrong_depth``);
5. :class:`Standardised`: zero mean, unit variance (a network fed [0, 1] intensities barely
   separates them from the position embedding).

Each dictionary transform is a thin wrapper over an array function of this module.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LoadImaged, MapTransform, Resize

import medvit.io.monai_reader
from medvit.bundle.transforms import source_path
from medvit.bundle.workflow import add_to_row
from medvit.errors import MedvitError
from medvit.io.image_stack import grey

WRONG_DEPTH = ("resize", "error")
INTENSITY_PERCENTILES = (0.5, 99.5)


def case_name(data: Mapping, key: str = "image") -> str:
    """How messages name a case: the item's ``name`` (as its dataset description gives it), else
    the path it was read from."""
    return str(data.get("name") or source_path(data, key) or "image")


def grey_image(array: np.ndarray, meta: Mapping) -> np.ndarray:
    """One grey image from what :func:`medvit.io.read_image` returns.

    Args:
        array: (X, Y) grey, (X, Y, 3|4) colour (``meta["original_channel_dim"]`` set: converted
            to luma), or (X, Y, Z) a volume; trailing axes of size 1 are dropped (a B-scan saved
            as an (X, Y, 1) NIfTI is 2D).

    Returns:
        (X, Y) or (X, Y, Z), the input's dtype (float32 where colour was converted).
    """
    array = np.asarray(array)
    if not np.isnan(meta.get("original_channel_dim", np.nan)):
        array = grey(array)
    while array.ndim > 2 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def check_spatial_dims(shape: Sequence[int], name: str, declared: int | None = None, network: int | None = None) -> int:
    """The spatial dimensionality (2 or 3) of an image of spatial ``shape``.

    Args:
        declared: what the item's dataset description says (``spatial_dims``), if anything.
        network: the only kind the network path takes (the bundle's ``spatial_dims``), if any.

    Raises:
        MedvitError: naming the image: not the kind declared or taken, or neither 2D nor 3D.
    """
    dims = len(shape)
    for wanted, why in ((declared, "the dataset description says spatial_dims {}"),
                        (network, "this network takes {}D items only")):
        if wanted is not None and dims != wanted:
            raise MedvitError(f"{name}: a {dims}D image (shape {tuple(shape)}) given to the {wanted}D path "
                              f"({why.format(wanted)})")
    if dims not in (2, 3):
        raise MedvitError(f"{name}: expected a 2D image or a 3D volume, got shape {tuple(shape)}")
    return dims


def unit_intensity(values: np.ndarray, name: str) -> np.ndarray:
    """Intensities clipped to their 0.5th - 99.5th percentiles and scaled to [0, 1] (to min - max
    where those percentiles coincide, e.g. a mostly black image).

    MONAI's ``ScaleIntensityRangePercentiles`` has no such fallback and lets a blank image pass.

    Args:
        values: any shape.

    Returns:
        float32, the same shape.

    Raises:
        MedvitError: naming the image: NaN or infinite values, or one grey value only.
    """
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise MedvitError(f"{name}: the image has NaN or infinite values")
    low, high = np.percentile(values, INTENSITY_PERCENTILES)
    if high <= low:
        low, high = values.min(), values.max()
    if high <= low:
        raise MedvitError(f"{name}: the image is blank (one grey value)")
    return np.clip((values - low) / (high - low), 0, 1).astype(np.float32)


def network_size(shape: Sequence[int], size_2d: Sequence[int] | int, size_3d: Sequence[int], wrong_depth: str,
                 name: str) -> tuple[int, ...]:
    """The network's input size for an image of spatial ``shape``: ``size_2d`` (an int: square)
    or ``size_3d`` (H, W, D).

    Raises:
        MedvitError: a volume whose depth (its number of B-scans, the last axis) is not
            ``size_3d[2]`` under ``wrong_depth="error"``.
    """
    if len(shape) == 2:
        return tuple(int(s) for s in np.broadcast_to(size_2d, (2,)))
    size = tuple(int(s) for s in size_3d)
    if shape[2] != size[2] and wrong_depth == "error":
        raise MedvitError(f"{name}: a volume of depth {shape[2]} (B-scans), the network takes {size[2]}; "
                          "resample it, or let medvit resize it (wrong_depth='resize')")
    return size


def standardise(image):
    """Zero mean and unit standard deviation (torch's unbiased estimate, floored at 1e-6), as the
    published checkpoints' training did; MONAI's ``NormalizeIntensity`` divides by the biased one.

    Args:
        image: (1, *spatial) tensor.
    """
    return ((image - image.mean()) / image.std().clamp(min=1e-6)).contiguous()


class _ImageTransform(MapTransform):
    """A transform of the data's ``keys`` (MetaTensors as ``LoadImaged`` gives them, meta kept)."""

    def __init__(self, keys: KeysCollection = "image", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)

    def transform(self, image, data: Mapping, key: Hashable):
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key], d, key)
        return d


def _like(values, image):
    """``values`` as a float32 MetaTensor with ``image``'s metadata."""
    out = MetaTensor(torch.as_tensor(values, dtype=torch.float32), meta=dict(getattr(image, "meta", {})))
    out.applied_operations = list(getattr(image, "applied_operations", []))
    return out


class GreyChanneld(_ImageTransform):
    """:func:`grey_image`, channel first: (X, Y[, 3]) or (X, Y, Z) → (1, X, Y) or (1, X, Y, Z)."""

    def transform(self, image, data, key):
        return _like(grey_image(np.asarray(image), getattr(image, "meta", {}))[None], image)


class CheckSpatialDimsd(_ImageTransform):
    """:func:`check_spatial_dims` of a (1, *spatial) image: against the item's ``spatial_dims``
    (a key of the data, from the dataset description) and the network path's ``spatial_dims``
    (None: both kinds)."""

    def __init__(self, keys: KeysCollection = "image", spatial_dims: int | None = None, item_key: str = "spatial_dims",
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.spatial_dims, self.item_key = spatial_dims, item_key

    def transform(self, image, data, key):
        check_spatial_dims(tuple(image.shape[1:]), case_name(data, key), data.get(self.item_key), self.spatial_dims)
        return image


class UnitIntensityd(_ImageTransform):
    """:func:`unit_intensity`: percentile clip to [0, 1]."""

    def transform(self, image, data, key):
        return _like(unit_intensity(np.asarray(image), case_name(data, key)), image)


class ResizeToNetworkd(_ImageTransform):
    """MONAI's ``Resize`` of a (1, *spatial) image to the network's 2D size (mode "area") or 3D
    size (mode "trilinear"), whichever the image is (:func:`network_size`).

    Args:
        size_2d: (H, W) or one int; size_3d: (H, W, D).
        wrong_depth: a volume of another depth than ``size_3d[2]``: "resize" or "error".
    """

    def __init__(self, keys: KeysCollection = "image", size_2d: Sequence[int] | int = 224,
                 size_3d: Sequence[int] = (224, 224, 112), wrong_depth: str = "resize", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        if wrong_depth not in WRONG_DEPTH:
            raise ValueError(f"wrong_depth must be one of {WRONG_DEPTH}, got {wrong_depth!r}")
        self.size_2d, self.size_3d, self.wrong_depth = size_2d, tuple(size_3d), wrong_depth

    def transform(self, image, data, key):
        shape = tuple(image.shape[1:])
        size = network_size(shape, self.size_2d, self.size_3d, self.wrong_depth, case_name(data, key))
        if len(shape) == 2:
            return Resize(size, mode="area")(image)
        return Resize(size, mode="trilinear", align_corners=False)(image)


class Standardised(_ImageTransform):
    """:func:`standardise`: zero mean, unit variance."""

    def transform(self, image, data, key):
        return standardise(image)


class SpatialDimsRowd(MapTransform):
    """Adds the ``spatial_dims`` column: 2 or 3, the network path a (1, *spatial) image took."""

    def __init__(self, keys: KeysCollection = "image", column: str = "spatial_dims", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.column = column

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d = add_to_row(d, {self.column: int(d[key].ndim - 1)})
        return d


def ophthalmic_transforms(size_2d: Sequence[int] | int, size_3d: Sequence[int], wrong_depth: str = "resize",
                          spatial_dims: int | None = None, keys: KeysCollection = "image") -> list:
    """The preprocessing of ``inference.json`` as a list: ``LoadImaged`` (MedvitReader) then the
    transforms above; a path under ``keys`` → (1, H, W) or (1, H, W, D) float32."""
    return [LoadImaged(keys, reader="medvit.io.MedvitReader", image_only=True),
            GreyChanneld(keys), CheckSpatialDimsd(keys, spatial_dims), UnitIntensityd(keys),
            ResizeToNetworkd(keys, size_2d, size_3d, wrong_depth), Standardised(keys)]
