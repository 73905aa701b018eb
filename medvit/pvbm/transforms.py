"""The PVBM bundle's dictionary transforms: thin wrappers over the array functions.

``preprocessing`` (after MONAI's ``LoadImaged``, ``EnsureChannelFirstd``, ``Transposed``):
:class:`FundusPhotod` (checks, [0, 1]), :class:`FundusQualityd` (is it a fundus photograph, and how good?),
:class:`FieldOfViewd` (classical segmentation),
:class:`LoadVesselMasksd` (the user's masks). ``postprocessing`` (after MONAI's ``Activationsd``
and ``AsDiscreted`` on the vessel logits): :class:`VesselMasksd` → :class:`OpticDiscd` → :class:`Fovead` → :class:`ArteryVeind` →
:class:`VesselBiomarkersd` (the row) → :class:`SaveOverlayd`.

Tensors are channel-first in (row, column) order: the photo (C, H, W), masks (C, H, W).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from medvit.batch.worker import with_measured
from medvit.bundle.transforms import case_output_path, source_path
from medvit.bundle.workflow import ROW_KEY, add_to_row
from medvit.errors import MedvitError
from medvit.pvbm.artery_vein import classify_arteries_veins
from medvit.pvbm.fovea import fovea_columns
from medvit.pvbm.masks import (
    VesselMasks,
    find_mask,
    mask_channels,
    masks_from_channels,
    read_vessel_masks,
)
from medvit.pvbm.optic_disc import disc_override, locate_optic_disc, read_disc_overrides
from medvit.pvbm.overlay import write_overlay
from medvit.pvbm.photo import GREY_MESSAGE, channels_first, channels_last, fundus_photo
from medvit.pvbm.pipeline import measure_masks, pixel_size
from medvit.pvbm.quality import assess_fundus_photo
from medvit.pvbm.vessels import field_of_view


def _numpy(value) -> np.ndarray:
    return np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)


def _refusal(data: Mapping, message: str) -> MedvitError:
    """The case's error, carrying its row so far: a refused photo's error row keeps what was
    measured (its quality grade, its disc's confidence), so a cohort filtered on them keeps it."""
    return with_measured(MedvitError(message), data.get(ROW_KEY, {}))


class FundusPhotod(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.photo.fundus_photo` on channel-first tensors:
    (C, H, W) as loaded (uint8 / uint16 / float; C = 1, 3 or 4) → checked (C', H, W) float32
    MetaTensor in [0, 1] (C' = 3, or 1 for a grey photo), its metadata kept.

    Args:
        keys: the photo.
        colour: refuse grey photos (the segmenters need colour; the user's masks do not).
    """

    def __init__(self, keys: KeysCollection = "image", colour: bool = True, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.colour = colour

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = dict(getattr(d[key], "meta", {}))
            array = _numpy(d[key])
            photo = fundus_photo(np.moveaxis(array, 0, -1) if array.ndim == 3 else array, meta.get("filename_or_obj"))
            if self.colour and photo.ndim != 3:
                raise MedvitError(f"{meta.get('filename_or_obj', 'photo')}: {GREY_MESSAGE}")
            d[key] = MetaTensor(torch.from_numpy(channels_first(photo)), meta=meta)
        return d


class FundusQualityd(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.quality.assess_fundus_photo` on the checked photo
    (C, H, W) in [0, 1]: its grade (``qc_grade``: good / usable), the flaws found
    (``qc_reasons``) and its measures go to the row (:data:`~medvit.pvbm.quality.QUALITY_COLUMNS`);
    a photo graded ``reject`` is refused, so it gets an error row saying why instead of biomarkers
    (the row keeps its grade, reasons and measures).

    Raises:
        MedvitError: "<file>: not a fundus photograph: <what is wrong, measured>", or
            "<file>: image quality too poor to measure: <the flaws, measured>".
    """

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            quality = assess_fundus_photo(channels_last(d[key]))
            d = add_to_row(d, quality.columns())
            if quality.grade == "reject":
                name = getattr(d[key], "meta", {}).get("filename_or_obj", "photo")
                what = "not a fundus photograph" if quality.problems else "image quality too poor to measure"
                raise _refusal(d, f"{name}: {what}: {'; '.join(quality.reasons)}")
        return d


class FieldOfViewd(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.vessels.field_of_view`: the photo (C, H, W) →
    its field of view under ``output_key``, (1, H, W) float32 0 / 1."""

    def __init__(self, keys: KeysCollection = "image", output_key: str = "fov", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            fov = field_of_view(channels_last(d[key]))
            d[self.output_key] = MetaTensor(torch.from_numpy(fov[None].astype(np.float32)),
                                            meta=dict(getattr(d[key], "meta", {})))
        return d


class LoadVesselMasksd(MapTransform):
    """The user's vessel (or artery / vein) mask of the photo under ``keys``: the file in
    ``masks_dir`` with the photo's stem (:func:`~medvit.pvbm.masks.find_mask`), read with
    :func:`~medvit.pvbm.masks.read_vessel_masks` → ``output_key``: (1 or 3, H, W) float32
    0 / 1 channels (vessel[, artery, vein]).

    Raises:
        MedvitError: ``masks_dir`` is not a folder (when built: one error for the cohort).
    """

    def __init__(self, keys: KeysCollection = "image", masks_dir: str | os.PathLike | None = None,
                 output_key: str = "given_masks", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        if not masks_dir or not Path(masks_dir).is_dir():
            raise MedvitError(f"{masks_dir}: no such masks folder" if masks_dir else
                              "segmentation 'masks' needs masks_dir, the folder of the photos' masks")
        self.masks_dir, self.output_key = Path(masks_dir), output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            masks = read_vessel_masks(find_mask(self.masks_dir, source_path(d, key)), tuple(d[key].shape[-2:]))
            d[self.output_key] = torch.from_numpy(mask_channels(masks).astype(np.float32))
        return d


class VesselMasksd(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.masks.masks_from_channels`: the thresholded
    prediction (1 or 3, H, W) → :class:`~medvit.pvbm.masks.VesselMasks` under ``output_key``;
    the row's ``segmentation`` column says where the masks came from (``source``).

    Args:
        allow_empty: accept a mask without a vessel pixel (scoring a segmentation, where it
            scores 0). Else it is refused: biomarkers of no vessels are a row of NaNs that
            looks measured.

    Raises:
        MedvitError: "<file>: vessel mask is empty (...)" unless ``allow_empty``.
    """

    def __init__(self, keys: KeysCollection = "pred", output_key: str = "masks", source: str = "classical",
                 allow_empty: bool = False, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.output_key, self.source, self.allow_empty = output_key, source, bool(allow_empty)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.output_key] = masks_from_channels(d[key])
            d = add_to_row(d, {"segmentation": self.source})
            if not self.allow_empty and not d[self.output_key].vessels.any():
                why = "the given mask has no vessel pixel" if self.source == "masks" else (
                    f"the {self.source} segmentation found no vessels")
                raise _refusal(d, f"{source_path(d)}: vessel mask is empty ({why})")
        return d


class OpticDiscd(MapTransform):
    """The optic disc (x, y, radius) px of the photo under ``keys`` → ``output_key``: the user's
    (``disc_csv``, :func:`~medvit.pvbm.optic_disc.read_disc_overrides`, by file name or stem),
    else :func:`~medvit.pvbm.optic_disc.locate_optic_disc` with the vessels (``masks_key``) and
    the field of view (``fov_key``, where the preprocessing computed it). Adds ``disc_source``
    ("override" or "detected") and ``disc_confidence`` (empty for an override) to the row.

    Raises:
        MedvitError: a broken disc table (when built: one error for the cohort); no disc found,
            or a detected disc with a confidence below ``min_confidence`` (the image's error row,
            keeping ``disc_confidence``: give its disc in the table), never a guess.
    """

    def __init__(self, keys: KeysCollection = "image", masks_key: str = "masks", fov_key: str = "fov",
                 disc_csv: str | os.PathLike | None = None, output_key: str = "disc", min_confidence: float = 0.45,
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.masks_key, self.fov_key, self.output_key = masks_key, fov_key, output_key
        self.overrides = read_disc_overrides(disc_csv) if disc_csv else None
        self.min_confidence = float(min_confidence)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            disc = disc_override(self.overrides, source_path(d, key))
            source, confidence = "override", float("nan")
            if disc is None:
                fov = _numpy(d[self.fov_key])[0] > 0.5 if self.fov_key in d else None
                source = "detected"
                d = add_to_row(d, {"disc_source": source})
                try:
                    *disc, confidence = locate_optic_disc(channels_last(d[key]), vessels=d[self.masks_key].vessels,
                                                          fov=fov)
                except MedvitError as err:  # "no plausible optic disc": which photo's
                    raise _refusal(d, f"{source_path(d, key)}: {err}") from None
                if confidence < self.min_confidence:
                    raise _refusal(add_to_row(d, {"disc_confidence": confidence}),
                                   f"{source_path(d, key)}: optic disc uncertain (confidence {confidence:.2f} at "
                                   f"({disc[0]:.0f}, {disc[1]:.0f}), r {disc[2]:.0f} px, below "
                                   f"{self.min_confidence:.2f}); give its centre and radius in the disc table (--disc)")
            d[self.output_key] = tuple(float(v) for v in disc)
            d = add_to_row(d, {"disc_source": source, "disc_confidence": confidence})
        return d


class Fovead(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.fovea.fovea_columns`: the fovea of the photo
    under ``keys`` near the disc (``disc_key``), with the vessels (``masks_key``) and field of
    view (``fov_key``) where present → the row's ``fovea_x, fovea_y, fovea_darkness,
    disc_fovea_distance, disc_fovea_angle`` (NaN where no fovea is found)."""

    def __init__(self, keys: KeysCollection = "image", disc_key: str = "disc", masks_key: str = "masks",
                 fov_key: str = "fov", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.disc_key, self.masks_key, self.fov_key = disc_key, masks_key, fov_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            fov = _numpy(d[self.fov_key])[0] > 0.5 if self.fov_key in d else None
            masks = d.get(self.masks_key)
            row = fovea_columns(channels_last(d[key]), d[self.disc_key], fov,
                                masks.vessels if masks is not None else None)
            d = add_to_row(d, row)
        return d


class ArteryVeind(MapTransform):
    """Artery / vein masks for the CRAE / CRVE / AVR columns: the user's, when the masks under
    ``keys`` (:class:`~medvit.pvbm.masks.VesselMasks`) label them (``av_source`` "given"); else,
    with ``classify``, :func:`~medvit.pvbm.artery_vein.classify_arteries_veins` of the vessels on
    the photo (``image_key``, (C, H, W)) around the disc (``disc_key``), in the field of view
    (``fov_key``, or found on the photo) — ``av_source`` "classified"; else nothing changes.

    Raises:
        MedvitError: classification asked of a grey photo ("<file>: ... needs a colour photo").
    """

    def __init__(self, keys: KeysCollection = "masks", image_key: str = "image", disc_key: str = "disc",
                 fov_key: str = "fov", classify: bool = True, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.image_key, self.disc_key, self.fov_key, self.classify = image_key, disc_key, fov_key, bool(classify)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            masks = d[key]
            if masks.has_av:
                d = add_to_row(d, {"av_source": "given"})
                continue
            if not self.classify:
                continue
            photo = channels_last(d[self.image_key])
            if photo.ndim != 3:
                raise _refusal(d, f"{source_path(d, self.image_key)}: artery/vein classification needs a colour photo")
            fov = _numpy(d[self.fov_key])[0] > 0.5 if self.fov_key in d else field_of_view(photo)
            labels = classify_arteries_veins(photo, masks.vessels, d[self.disc_key], fov)
            d[key] = VesselMasks(masks.vessels, labels.arteries, labels.veins)
            d = add_to_row(d, {"av_source": "classified"})
        return d


class VesselBiomarkersd(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.pipeline.measure_masks`: the masks under
    ``keys`` around the disc (``disc_key``) → the biomarkers in the row (px; mm when the pixel
    size is known: ``pixel_size_um``, or ``fov_mm`` over the field of view's diameter), and the
    skeleton's start / end / intersection points under ``points_key`` (for the overlay).

    Args:
        definitions, roi_radius, region, measures: as :func:`~medvit.pvbm.pipeline.measure_masks`.
        fractal: keyword arguments of :func:`~medvit.pvbm.fractal.multifractal_biomarkers`
            (its defaults, pvbm's tutorial settings, where absent).
        pixel_size_um, fov_mm: the physical scale, if known.
        image_key, fov_key: the photo and its field of view (for ``fov_mm``).
    """

    def __init__(self, keys: KeysCollection = "masks", disc_key: str = "disc", definitions: str = "pvbm",
                 roi_radius: float | None = None, fractal: Mapping | None = None, region: str = "outside_disc",
                 pixel_size_um: float | None = None, fov_mm: float | None = None, image_key: str = "image",
                 fov_key: str = "fov", points_key: str = "points", measures: str = "all",
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.disc_key, self.definitions, self.roi_radius, self.region = disc_key, definitions, roi_radius, region
        self.measures = measures
        self.fractal = dict(fractal or {})
        self.pixel_size_um, self.fov_mm = pixel_size_um, fov_mm
        self.image_key, self.fov_key, self.points_key = image_key, fov_key, points_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            fov = _numpy(d[self.fov_key])[0] > 0.5 if self.fov_key in d else None
            scale = pixel_size(channels_last(d[self.image_key]) if self.fov_mm else None, fov, self.pixel_size_um,
                               self.fov_mm)
            row, points = measure_masks(d[key], d[self.disc_key], self.definitions, self.roi_radius, self.fractal,
                                        scale, return_points=True, region=self.region, fov=fov,
                                        measures=self.measures)
            d[self.points_key] = points or {}
            d = add_to_row(d, row)
        return d


class SaveOverlayd(MapTransform):
    """Dictionary wrapper of :func:`~medvit.pvbm.overlay.write_overlay`: the photo under ``keys``
    with its masks, disc and skeleton points, as
    ``<output_dir>/<photo's path below root>_overlay.png``
    (:func:`~medvit.bundle.transforms.case_output_path`)."""

    def __init__(self, keys: KeysCollection = "image", output_dir: str | os.PathLike = "overlays",
                 root: str | os.PathLike | None = None, masks_key: str = "masks", disc_key: str = "disc",
                 points_key: str = "points", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.output_dir, self.root = Path(output_dir), root
        self.masks_key, self.disc_key, self.points_key = masks_key, disc_key, points_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            target = case_output_path(source_path(d, key), self.root, self.output_dir, "overlay.png")
            write_overlay(target, channels_last(d[key]), d[self.masks_key], d[self.disc_key], d.get(self.points_key))
        return d
