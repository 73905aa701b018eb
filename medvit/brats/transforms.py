"""The BraTS bundle's postprocessing: region channels (TC, WT, ET) → BraTS label map, its
volumes and its files.

MONAI's ``ConvertToMultiChannelBasedOnBratsClasses`` turns labels {1 NCR, 2 ED, 4 ET} into
the overlapping regions a network predicts: TC = {1, 4}, WT = {1, 2, 4}, ET = {4}. Writing a
result for a radiologist or a challenge needs the way back, which MONAI does not have.

The label map lies on the grid of the network's input (``image_key``, the case's reference
series), whose affine the transforms read: the inferer's output carries no reliable metadata.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.utils import affine_to_spacing
from monai.transforms import MapTransform

from medvit.brats.labels import CHANNELS, ED, ET_BRATS21, NCR, REGION_LABELS
from medvit.brats.qc import head_mask, segmentation_qc
from medvit.bundle.transforms import case_output_path
from medvit.bundle.workflow import ROW_KEY, add_to_row
from medvit.io.dicom_seg import SegmentDefinition, write_dicom_seg
from medvit.io.writers import save_nifti

# DICOM SEG segments: SNOMED CT category "Morphologically abnormal structure" and the tissue type
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")


def brats_label_map(regions, et_label: int = ET_BRATS21) -> np.ndarray:
    """Region masks (3, X, Y, Z) in TC, WT, ET order → label map (X, Y, Z) uint8.

    As the Swin UNETR BraTS 2021 test script writes them: WT → 2 (oedema), then TC → 1
    (necrosis / non-enhancing core), then ET → ``et_label`` (4 in BraTS 2021, 3 in BraTS
    2023), each overwriting the one before. So a voxel any sigmoid calls ET is ET, and one
    called TC is core, whatever WT says (the regions of the label map nest: ET ⊂ TC ⊂ WT).
    """
    array = np.asarray(regions.cpu() if hasattr(regions, "cpu") else regions).astype(bool)
    if array.ndim < 2 or array.shape[0] != len(CHANNELS):
        raise ValueError(f"expected (3, ...) TC/WT/ET region masks, got shape {array.shape}")
    tc, wt, et = (array[CHANNELS.index(region)] for region in ("tc", "wt", "et"))
    tc = tc | et
    wt = wt | tc
    labels = np.zeros(tc.shape, dtype=np.uint8)
    labels[wt] = ED
    labels[tc] = NCR
    labels[et] = et_label
    return labels


def seg_segments(et_label: int):
    """The three BraTS sub-regions as DICOM SEG segment definitions."""
    return [
        SegmentDefinition(NCR, "Necrosis / non-enhancing tumour core", _ABNORMAL, ("6574001", "SCT", "Necrosis")),
        SegmentDefinition(ED, "Peritumoral edema", _ABNORMAL, ("79654002", "SCT", "Edema")),
        SegmentDefinition(et_label, "Enhancing tumor", _ABNORMAL, ("108369006", "SCT", "Neoplasm")),
    ]


def case_file(data: Mapping, root, output_dir, suffix: str) -> Path:
    """``<output_dir>/<case folder below root>/<case>_<suffix>`` for the case folder ``data["source"]``
    (:func:`medvit.bundle.transforms.case_output_path` of a file named as its folder inside it)."""
    case = Path(data["source"])
    return case_output_path(case / case.name, root, output_dir, suffix)


def grid_spacing(data: Mapping, image_key: str = "image") -> list[float]:
    """Voxel size (mm) of the grid of ``data[image_key]`` (a MetaTensor), from its affine."""
    return [float(s) for s in affine_to_spacing(np.asarray(data[image_key].affine), r=3)]


class BratsLabelMapd(MapTransform):
    """Dictionary wrapper of :func:`brats_label_map`: (3, X, Y, Z) regions → (1, X, Y, Z) uint8 labels."""

    def __init__(self, keys: KeysCollection, et_label: int = ET_BRATS21, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.et_label = et_label

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = torch.from_numpy(brats_label_map(d[key], self.et_label)[None])
        return d


class RegionVolumesd(MapTransform):
    """The row's ``<region>_ml`` columns (one per :data:`REGION_LABELS` entry) of a (1, X, Y, Z)
    label map, with the grid's ``spacing_mm`` and ``shape``."""

    def __init__(self, keys: KeysCollection, image_key: str = "image"):
        super().__init__(keys)
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        spacing = grid_spacing(d, self.image_key)
        voxel_ml = math.prod(spacing) / 1000.0
        for key in self.key_iterator(d):
            labels = np.asarray(d[key])[0]
            row = {f"{region}_ml": float(np.isin(labels, codes).sum() * voxel_ml)
                   for region, codes in REGION_LABELS.items()}
            row["spacing_mm"] = "x".join(f"{s:.3g}" for s in spacing)
            row["shape"] = "x".join(str(n) for n in labels.shape)
            d = add_to_row(d, row)
        return d


class SegmentationQCd(MapTransform):
    """Dictionary wrapper of :func:`medvit.brats.qc.segmentation_qc`: a (1, X, Y, Z) label map
    against the head (:func:`~medvit.brats.qc.head_mask`) of the series under ``image_key``
    (C, X, Y, Z, same grid) → the row's ``qc_head_ml`` and ``qc_outside_head_fraction``, its
    flags appended to the row's ``column`` (``qc_flags``, where the input's QC put its own)."""

    def __init__(self, keys: KeysCollection, image_key: str = "image", column: str = "qc_flags"):
        super().__init__(keys)
        self.image_key, self.column = image_key, column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        head = head_mask(np.asarray(d[self.image_key]))
        for key in self.key_iterator(d):
            measures, flags = segmentation_qc(np.asarray(d[key])[0], head, grid_spacing(d, self.image_key))
            earlier = d.get(ROW_KEY, {}).get(self.column, "")
            d = add_to_row(d, {**measures, self.column: "; ".join(f for f in (earlier, *flags) if f)})
        return d


class SaveLabelMapd(MapTransform):
    """Writes a (1, X, Y, Z) label map as ``<output_dir>/<case>/<case>_seg.nii.gz`` (uint8, the
    grid of ``image_key``) and its path relative to ``output_dir`` in the row's ``segmentation``."""

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                 image_key: str = "image", suffix: str = "seg.nii.gz", column: str = "segmentation"):
        super().__init__(keys)
        self.output_dir, self.root, self.image_key = output_dir, root, image_key
        self.suffix, self.column = suffix, column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            target = case_file(d, self.root, self.output_dir, self.suffix)
            save_nifti(np.asarray(d[key])[0].astype(np.uint8), target, affine=np.asarray(d[self.image_key].affine),
                       channel_dim=None)
            d = add_to_row(d, {self.column: os.path.relpath(target, self.output_dir)})
        return d


class SaveDicomSegd(MapTransform):
    """For a case whose reference series is DICOM: the (1, X, Y, Z) label map as a DICOM SEG over
    that series, ``<output_dir>/<case>/<case>_seg.dcm``, relative path in the row's ``dicom_seg``
    (empty for NIfTI input).

    Args:
        reference: which series the labels lie on (its ``SeriesRef`` in ``data[series_key]``).
        et_label: the enhancing tumour's code in the label map.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike, reference: str = "t1",
                 root: str | os.PathLike | None = None, et_label: int = ET_BRATS21, series_key: str = "series",
                 description: str = "Brain tumour (Swin UNETR, medvit)", column: str = "dicom_seg"):
        super().__init__(keys)
        self.output_dir, self.reference, self.root, self.et_label = output_dir, reference, root, et_label
        self.series_key, self.description, self.column = series_key, description, column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        ref = d[self.series_key][self.reference]
        for key in self.key_iterator(d):
            value = ""
            if ref.series_uid:
                target = case_file(d, self.root, self.output_dir, "seg.dcm")
                write_dicom_seg(np.asarray(d[key])[0], ref.path, ref.series_uid, target, seg_segments(self.et_label),
                                series_description=self.description)
                value = os.path.relpath(target, self.output_dir)
            d = add_to_row(d, {self.column: value})
        return d
