"""A volume to view: named channels and, for a segmented case, its label map, all in RAS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medvit.brats.segment import load_case
from medvit.brats.series import BRATS_SERIES, find_brats_series
from medvit.errors import MedvitError
from medvit.io import read_image
from medvit.viewer.display import looks_like_ct, opening_position, spacing_of, to_ras, window_for, window_names


@dataclass
class VolumeView:
    channels: dict[str, np.ndarray]  # name → (X, Y, Z) in RAS
    affine: np.ndarray  # RAS voxel → world (mm)
    labels: np.ndarray | None = None
    meta: dict = field(default_factory=dict)  # the first series' metadata (modality, window, ...)
    dicom: dict[str, tuple[Path, str | None]] = field(default_factory=dict)  # channel → DICOM (file / folder, series UID)
    descriptions: dict[str, str] = field(default_factory=dict)  # channel → its SeriesDescription or file name

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.channels.values())).shape

    _windows: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def spacing(self) -> np.ndarray:
        return spacing_of(self.affine)

    def label(self, name: str) -> str:
        """How channel ``name`` is shown: with its series' description where that says more."""
        description = self.descriptions.get(name)
        return f"{name} · {description}" if description and description != name else name

    def window_names(self, name: str) -> list[str]:
        """The windows offered for channel ``name`` (CT presets only for CT)."""
        return window_names(self.meta, self.channels[name])

    def is_ct(self, name: str) -> bool:
        return looks_like_ct(self.channels[name], self.meta)

    def window(self, preset: str, name: str) -> tuple[float, float]:
        """:func:`~medvit.viewer.display.window_for` of channel ``name``, kept: the auto window takes
        percentiles of the whole volume, and the page asks on every rerun."""
        if (preset, name) not in self._windows:
            self._windows[preset, name] = window_for(preset, self.channels[name], self.meta)
        return self._windows[preset, name]

    @property
    def start(self) -> tuple[int, int, int]:
        """The voxel to open at: through the tumour where it is largest, else the centre
        (:func:`~medvit.viewer.display.opening_position`)."""
        return opening_position(self.shape, self.labels)


def volume_from_image(array: np.ndarray, meta: dict, name: str | None = None) -> VolumeView:
    """An image read by :func:`medvit.io.read_image` as a view (2D images get one slice; a
    trailing channel axis becomes channels ``<name> 0, 1, ...``).

    ``name`` defaults to the series' description (DICOM SeriesDescription, NIfTI descrip), else
    the file's name."""
    source = meta.get("filename_or_obj")
    name = name or meta.get("series_description") or (Path(source).name if source else "image")
    spatial = len(meta["spatial_shape"])
    channel_last = not np.isnan(meta["original_channel_dim"])
    if spatial == 2:
        array = array[:, :, None, ...]
    elif spatial != 3:
        raise MedvitError(f"{meta.get('filename_or_obj', name)}: a {spatial}-D image cannot be shown as a volume")
    data, affine = to_ras(np.asarray(array), np.asarray(meta["affine"]))
    if channel_last:
        channels = {f"{name} {c}": data[..., c] for c in range(data.shape[-1])}
    else:
        channels = {name: data}
    dicom = {}
    if source and meta.get("kind", "").startswith("dicom"):
        dicom = {c: (Path(source), meta.get("series_instance_uid")) for c in channels}
    return VolumeView(channels, affine, None, meta, dicom)


def volume_from_case(case_dir: str | os.PathLike, seg_path: str | os.PathLike | None = None) -> VolumeView:
    """A BraTS-style case (four series, as the bundle reads them: on T1's grid) and its labels."""
    volume, _, _ = load_case(case_dir)
    array = np.moveaxis(volume.numpy(), 0, -1)
    data, affine = to_ras(array, np.asarray(volume.affine))
    channels = {name: data[..., c] for c, name in enumerate(BRATS_SERIES)}
    refs = find_brats_series(case_dir)
    dicom = {name: (ref.path, ref.series_uid) for name, ref in refs.items() if ref.series_uid}
    descriptions = series_descriptions(refs)
    _, first_meta = read_image(refs["t1"].path, refs["t1"].series_uid)
    labels = None
    if seg_path is not None:
        seg, seg_meta = read_image(seg_path)
        if seg.shape != array.shape[:3] or not np.allclose(seg_meta["affine"], np.asarray(volume.affine), atol=1e-3):
            raise MedvitError(f"{seg_path}: the label map's grid {seg.shape} is not the case's {array.shape[:3]}")
        labels, _ = to_ras(np.asarray(seg).astype(np.uint8), np.asarray(seg_meta["affine"]))
    return VolumeView(channels, affine, labels, first_meta, dicom, descriptions)


def series_descriptions(refs: dict) -> dict[str, str]:
    """name → the SeriesDescription of each DICOM series of a case (its file name for NIfTI)."""
    from medvit.io.dicom_series import list_series

    found = {}
    for folder in {ref.path for ref in refs.values() if ref.series_uid}:
        found.update({series.uid: series.description for series in list_series(folder)})
    return {name: (found.get(ref.series_uid) if ref.series_uid else ref.path.name) or ref.path.name
            for name, ref in refs.items()}
