"""The mixed 2D / 3D dataset of Uni4Eye: its description, loading, and 2D / 3D batches.

A dataset description is a JSON list, one object per item::

    [{"image": "fundus/0001.png", "spatial_dims": 2},
     {"image": "oct/eye_17.nii.gz", "spatial_dims": 3, "label": 1},
     {"image": "oct/eye_18_bscans", "label": 0}]

``image`` is relative to the JSON file (or absolute): a photo, a NIfTI file, a DICOM series
folder or a folder of B-scan images (read by :mod:`medvit.io`). ``spatial_dims`` (2 or 3)
says which path of the network the item takes; when absent it is what the file holds.
``label`` (an integer class) is needed for fine-tuning and evaluation only.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from monai.transforms import Compose, Transform

from medvit.batch.worker import unwrapped_errors
from medvit.errors import MedvitError
from medvit.io import image_kind
from medvit.uni4eye.transforms import WRONG_DEPTH, ophthalmic_transforms


def item_name(item: Mapping) -> str:
    """How messages name an item: its ``name`` (the path as the description gives it) or its path."""
    return str(item.get("name", item.get("image", "?")))


def file_spatial_dims(path: str | os.PathLike) -> int:
    """2 or 3: what ``path`` holds (a photo / DICOM image is 2D; series, stacks and 3D NIfTI 3D)."""
    kind = image_kind(path)
    if kind in ("photo", "dicom-image"):
        return 2
    if kind == "nifti":
        import nibabel

        shape = [s for s in nibabel.load(os.fspath(path)).shape if s > 1]
        return 3 if len(shape) >= 3 else 2
    return 3


def read_items(dataset: str | os.PathLike | Sequence[Mapping], spatial_dims: int | None = None,
               labelled: bool = False, root: str | os.PathLike | None = None) -> list[dict]:
    """The items of a dataset description, checked, with absolute ``image`` paths.

    Args:
        dataset: the JSON file, or its list already read (paths then relative to ``root``).
        spatial_dims: keep only the 2D or the 3D items (fine-tuning one path); None: all.
        labelled: keep only items with a ``label`` (and check it is an integer).

    Returns:
        dicts with ``image`` (absolute path), ``name`` (as given), ``spatial_dims`` and the
        item's other keys.

    Raises:
        MedvitError: naming the file and the item: not a list, no ``image``, a missing file,
            a ``spatial_dims`` other than 2 or 3, a label that is not an integer, no item left.
    """
    if isinstance(dataset, (str, os.PathLike)):
        source = Path(dataset)
        if not source.is_file():
            raise MedvitError(f"{source}: no such dataset description (a JSON list of items)")
        try:
            entries = json.loads(source.read_text())
        except json.JSONDecodeError as err:
            raise MedvitError(f"{source}: not valid JSON ({err})") from None
        base = Path(root) if root else source.parent
    else:
        source, entries, base = Path("dataset"), list(dataset), Path(root or ".")
    if not isinstance(entries, list):
        raise MedvitError(f"{source}: a dataset description is a JSON list of items, got {type(entries).__name__}")
    items = []
    for number, entry in enumerate(entries):
        where = f"{source}: item {number}"
        if not isinstance(entry, Mapping) or not entry.get("image"):
            raise MedvitError(f"{where}: an item needs an \"image\" path, got {entry!r}")
        path = Path(entry["image"]) if Path(entry["image"]).is_absolute() else base / entry["image"]
        where = f"{where} ({entry['image']})"
        if not path.exists():
            raise MedvitError(f"{where}: no such file or folder ({path})")
        if "label" in entry and not (isinstance(entry["label"], int) and not isinstance(entry["label"], bool)):
            raise MedvitError(f"{where}: label must be an integer class, got {entry['label']!r}")
        dims = entry.get("spatial_dims")
        if dims is None:
            dims = file_spatial_dims(path)
        if dims not in (2, 3):
            raise MedvitError(f"{where}: spatial_dims must be 2 or 3, got {dims!r}")
        if (spatial_dims is not None and dims != spatial_dims) or (labelled and "label" not in entry):
            continue
        items.append({**entry, "image": os.fspath(path), "name": str(entry["image"]), "spatial_dims": int(dims)})
    if not items:
        wanted = " ".join(filter(None, [f"{spatial_dims}D" if spatial_dims else "", "labelled" if labelled else ""]))
        raise MedvitError(f"{source}: no {wanted + ' ' if wanted else ''}items")
    return items


@functools.lru_cache(maxsize=8)
def _loader(size_2d, size_3d: tuple, wrong_depth: str, spatial_dims: int | None):
    return Compose(ophthalmic_transforms(size_2d, size_3d, wrong_depth, spatial_dims))


def load_item(item: Mapping, size_2d: Sequence[int] | int, size_3d: Sequence[int], wrong_depth: str = "resize",
              spatial_dims: int | None = None):
    """One item as the network's input: (1, *size) float32 tensor, zero mean and unit variance.

    The bundle's preprocessing (:func:`medvit.uni4eye.transforms.ophthalmic_transforms`): colour
    is converted to grey, intensities are clipped to the 0.5th - 99.5th percentiles, the image is
    resized (area / trilinear) to ``size_2d`` or ``size_3d`` and standardised. A volume whose
    depth (its number of B-scans, the last axis) is not ``size_3d[2]`` is resized with
    ``wrong_depth="resize"`` and refused with ``"error"``.

    Raises:
        MedvitError: naming the item: unreadable, its dimensionality not the item's
            ``spatial_dims`` (or ``spatial_dims`` given here: the network path asked for), a
            blank image, or a volume of the wrong depth under ``"error"``.
    """
    size_2d = int(size_2d) if np.ndim(size_2d) == 0 else tuple(int(s) for s in size_2d)
    loader = _loader(size_2d, tuple(int(s) for s in size_3d), wrong_depth, spatial_dims)
    with unwrapped_errors():  # MONAI's "applying transform ..." wrapper: the cause says what is wrong
        image = loader({**item, "name": item_name(item)})["image"]
    return image.as_tensor() if hasattr(image, "as_tensor") else image


class LoadOphthalmicd(Transform):
    """Dictionary transform over :func:`load_item`: ``image`` (a path) becomes the network's
    input tensor; ``keep`` names the keys kept (e.g. ``["image"]`` for pre-training,
    ``["image", "label"]`` for fine-tuning), all when None. Deterministic, so ``CacheDataset``
    caches its result."""

    def __init__(self, size_2d: Sequence[int] | int, size_3d: Sequence[int], wrong_depth: str = "resize",
                 keep: Sequence[str] | None = None, spatial_dims: int | None = None) -> None:
        if wrong_depth not in WRONG_DEPTH:
            raise ValueError(f"wrong_depth must be one of {WRONG_DEPTH}, got {wrong_depth!r}")
        self.size_2d, self.size_3d, self.wrong_depth = size_2d, tuple(size_3d), wrong_depth
        self.keep, self.spatial_dims = keep, spatial_dims

    def __call__(self, item: Mapping[Hashable, object]) -> dict:
        out = dict(item)
        out["image"] = load_item(item, self.size_2d, self.size_3d, self.wrong_depth, self.spatial_dims)
        return {k: out[k] for k in self.keep} if self.keep else out


class InterleavedBatchSampler:
    """Batches of one dimensionality each, 2D and 3D interleaved step by step.

    Args:
        spatial_dims: per dataset index, 2 or 3 (e.g. ``[item["spatial_dims"] for item in items]``).
        batch_size_2d, batch_size_3d: batch sizes of each kind (volumes are larger).
        pattern: the kinds of consecutive steps, repeated: ``[2, 3]`` alternates, ``[2, 2, 3]``
            takes two 2D batches per 3D one. When one kind has no batches left in the epoch the
            others go on alone, so every item is seen once per epoch.
        shuffle, seed: shuffled anew each epoch: each pass over the sampler is the next epoch
            (or set it with :meth:`set_epoch`); every rank shuffles alike.
        drop_last: drop each kind's last incomplete batch.
        num_replicas, rank: for several processes (DDP): each rank gets its share of each kind.

    Use as ``DataLoader(dataset, batch_sampler=sampler)``.
    """

    def __init__(self, spatial_dims: Sequence[int], batch_size_2d: int = 8, batch_size_3d: int = 2,
                 pattern: Sequence[int] = (2, 3), shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                 num_replicas: int | None = None, rank: int | None = None) -> None:
        if not pattern or set(pattern) - {2, 3}:
            raise ValueError(f"pattern lists 2s and 3s (the kind of each step), got {list(pattern)}")
        if num_replicas is None:
            import torch.distributed as dist

            distributed = dist.is_available() and dist.is_initialized()
            num_replicas = dist.get_world_size() if distributed else 1
            rank = dist.get_rank() if distributed else 0
        self.groups = {d: [i for i, v in enumerate(spatial_dims) if v == d] for d in (2, 3)}
        self.batch_size = {2: batch_size_2d, 3: batch_size_3d}
        self.pattern, self.shuffle, self.seed, self.drop_last = list(pattern), shuffle, seed, drop_last
        self.num_replicas, self.rank, self.epoch = num_replicas, rank or 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self, dims: int) -> list[list[int]]:
        indices = list(self.groups[dims])
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, dims]).permutation(len(indices))
            indices = [indices[i] for i in order]
        if self.num_replicas > 1 and indices:  # pad to an even share, as DistributedSampler does
            share = math.ceil(len(indices) / self.num_replicas)
            indices = (indices * math.ceil(share * self.num_replicas / len(indices)))[: share * self.num_replicas]
            indices = indices[self.rank::self.num_replicas]
        size = self.batch_size[dims]
        batches = [indices[k:k + size] for k in range(0, len(indices), size)]
        return [b for b in batches if len(b) == size] if self.drop_last else batches

    def __iter__(self) -> Iterator[list[int]]:
        queues = {dims: self._batches(dims) for dims in (2, 3)}
        self.epoch += 1
        step = 0
        while queues[2] or queues[3]:
            dims = self.pattern[step % len(self.pattern)]
            step += 1
            if not queues[dims]:
                dims = 5 - dims  # this kind is done for the epoch: the other goes on alone
            yield queues[dims].pop(0)

    def __len__(self) -> int:
        return sum(len(self._batches(dims)) for dims in (2, 3))
