"""The BraTS bundle's preprocessing steps that MONAI lacks: a case FOLDER → its four series,
loaded, checked, registered, masked and QC'd.

In ``inference.json`` they sit between MONAI's ``LoadImaged``, ``ResampleToMatchd``,
``ConcatItemsd`` and ``NormalizeIntensityd``::

    {"image": case folder}
      → FindBratsSeriesd   {"t1": path, ..., "series": {name: SeriesRef}, "source": case folder}
      → LoadSeriesd        each series (1, X, Y, Z) float32 (LoadImaged, one DICOM series per key)
      → CheckVolumed       one 3D volume each, finite
      → ResampleToMatchd / RigidRegisterd onto the reference series' grid
      → ConcatItemsd       "image" (4, X, Y, Z) in T1, T1ce, T2, FLAIR order
      → FindCaseFiled + LoadImaged + ResampleToMatchd (nearest) + MaskBraind: the optional brain mask
      → BratsQCd           the row's qc_flags
      → NormalizeIntensityd(nonzero, channel_wise)
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import LoadImaged, MapTransform, Transform

from medvit.brats.qc import qc_flags
from medvit.brats.registration import rigid_register
from medvit.brats.series import find_brats_series
from medvit.brats.transforms import grid_spacing
from medvit.bundle.transforms import source_path
from medvit.bundle.workflow import add_to_row
from medvit.errors import MedvitError
from medvit.io.monai_reader import MedvitReader  # also quiets MONAI's GPU DICOM reader before LoadImaged is built


def _case_name(data: Mapping) -> str:
    return Path(source_path(data)).name


class FindBratsSeriesd(MapTransform):
    """A case folder → where its series are (:func:`medvit.brats.series.find_brats_series`).

    Puts each series' path under its name (``t1``, ``t1ce``, ``t2``, ``flair``: a NIfTI file or
    a DICOM folder), the :class:`~medvit.io.cases.SeriesRef` of each (with the DICOM series
    UID) under ``series_key``, and the folder under ``"source"`` (the case, for output names).

    Args:
        keys: the case folder's key (``"image"``, as MONAI Label hands an input over).
        file_patterns, descriptions: how the series are found (the bundle's config keys).
    """

    def __init__(self, keys: KeysCollection, file_patterns: Mapping[str, Sequence[str]] | None = None,
                 descriptions: Mapping[str, str] | None = None, series_key: str = "series"):
        super().__init__(keys)
        self.file_patterns, self.descriptions, self.series_key = file_patterns, descriptions, series_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            case = os.fspath(d[key])
            refs = find_brats_series(case, self.file_patterns, self.descriptions)
            d.update({name: os.fspath(ref.path) for name, ref in refs.items()})
            d[self.series_key], d["source"] = refs, case
        return d


class LoadSeriesd(LoadImaged):
    """``LoadImaged`` that reads each key's DICOM series by its UID (``data[series_key][key]``).

    MONAI's ``LoadImaged`` gives one reader to all keys, and a reader gets only a path; but a
    hospital case folder often holds all four DICOM series, which only the series UID tells
    apart. So each key with a UID is read by a ``MedvitReader(series_uid)`` of its own; keys
    without one (NIfTI files) by the configured reader.
    """

    def __init__(self, keys: KeysCollection, series_key: str = "series", **kwargs):
        super().__init__(keys, **kwargs)
        self.series_key = series_key

    def __call__(self, data, reader=None):
        d = dict(data)
        refs = d.get(self.series_key) or {}
        for key, meta_key, meta_key_postfix in self.key_iterator(d, self.meta_keys, self.meta_key_postfix):
            uid = getattr(refs.get(key), "series_uid", None)
            # LoadImaged's own loop, with this key's reader (``_loader`` is its LoadImage)
            loaded = self._loader(d[key], MedvitReader(uid) if uid else reader)
            if self._loader.image_only:
                d[key] = loaded
            else:
                d[key], d[meta_key or f"{key}_{meta_key_postfix}"] = loaded
        return d


class CheckVolumed(MapTransform):
    """Refuses an image that is not one 3D volume (1, X, Y, Z) or that holds NaN / infinite values."""

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            name = image.meta.get("filename_or_obj", "") if hasattr(image, "meta") else ""
            if image.ndim != 4 or image.shape[0] != 1:
                raise MedvitError(f"{_case_name(d)}: the {key} image {name} is not a single 3D volume "
                                  f"(shape {tuple(image.shape)})")
            if not torch.isfinite(torch.as_tensor(image)).all():
                raise MedvitError(f"{_case_name(d)}: the {key} image {name} contains NaN or infinite values")
        return d


class RigidRegisterd(MapTransform):
    """Rigid co-registration (:func:`medvit.brats.registration.rigid_register`) of each key onto
    ``key_dst``'s grid (the destination key itself is left as it is); how far each series moved
    goes to ``moves_key`` (``{name: {"translation_mm", "rotation_deg", "metric"}}``, for QC)."""

    def __init__(self, keys: KeysCollection, key_dst: str, moves_key: str = "registration"):
        super().__init__(keys)
        self.key_dst, self.moves_key = key_dst, moves_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        fixed = d[self.key_dst]
        moves = dict(d.get(self.moves_key) or {})
        for key in self.key_iterator(d):
            if key == self.key_dst:
                continue
            moved, moves[key] = rigid_register(np.asarray(d[key][0]), np.asarray(d[key].affine), np.asarray(fixed[0]),
                                               np.asarray(fixed.affine))
            d[key] = fixed.clone().set_array(torch.from_numpy(moved)[None])
        d[self.moves_key] = moves
        return d


class FindCaseFiled(Transform):
    """The file of the case folder (``data["source"]``) that matches ``pattern`` → ``data[output_key]``.

    Args:
        pattern: a glob in the case folder; None or "" looks for nothing.
        required: a missing file is an error (else the key stays unset).
        column: the row column that names the file found ("" when none); None: no column.
        what: what the file is, for messages.

    Raises:
        MedvitError: several files match; none does and it is required.
    """

    def __init__(self, pattern: str | None, output_key: str, required: bool = False, column: str | None = None,
                 what: str = "file"):
        self.pattern, self.output_key, self.required = pattern, output_key, required
        self.column, self.what = column, what

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        case = Path(source_path(d))
        files = sorted(p for p in case.glob(self.pattern) if p.is_file()) if self.pattern else []
        if len(files) > 1 or (self.required and not files):
            names = f": {', '.join(p.name for p in files)}" if files else ""
            raise MedvitError(f"{case.name}: expected {'one' if self.required else 'at most one'} {self.what} matching "
                              f"{self.pattern}, found {len(files)}{names}")
        if files:
            d[self.output_key] = os.fspath(files[0])
        if self.column:
            d = add_to_row(d, {self.column: files[0].name if files else ""})
        return d


class MaskBraind(MapTransform):
    """Zero outside the brain: each key (C, X, Y, Z) times ``data[mask_key] > 0`` (1, X, Y, Z) on
    its grid; nothing when the case has no mask.

    Raises:
        MedvitError: the mask is empty on the grid.
    """

    def __init__(self, keys: KeysCollection, mask_key: str = "brain_mask"):
        super().__init__(keys)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        if d.get(self.mask_key) is None:
            return d
        brain = torch.as_tensor(d[self.mask_key]) > 0
        if not brain.any():
            raise MedvitError(f"{_case_name(d)}: the brain mask is empty on the series' grid")
        for key in self.key_iterator(d):
            d[key] = d[key] * brain.to(device=torch.as_tensor(d[key]).device, dtype=d[key].dtype)
        return d


class BratsQCd(MapTransform):
    """The row's ``qc_flags`` (:func:`medvit.brats.qc.qc_flags`) of the (4, X, Y, Z) series as the
    network will see them before normalisation, with the registration's moves (``moves_key``)."""

    def __init__(self, keys: KeysCollection, moves_key: str = "registration", column: str = "qc_flags"):
        super().__init__(keys)
        self.moves_key, self.column = moves_key, column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            flags = qc_flags(np.asarray(d[key]), grid_spacing(d, key), d.get(self.moves_key))
            d = add_to_row(d, {self.column: "; ".join(flags)})
        return d
