"""The thorax bundle's outputs per radiograph, and running the bundle from Python.

``bundles/mae_thorax_classification/configs/inference.json`` composes the pipeline: DICOM CR / DX
(MONOCHROME1, rescale, VOI window) or 8/16-bit PNG / JPEG → display intensities → letterbox
256², centre crop 224², the paper's normalisation (``preprocessing``) → ViT with global pooling
(``network``) → sigmoid probabilities (``postprocessing``). With ``saliency``, Grad-CAM of the
most probable finding (:class:`GradCAMd`) is carried back onto the radiograph's grid by MONAI's
``Invertd`` and written as an 8-bit PNG the viewer overlays (:class:`SaveSaliencyd`).
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

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.transforms import case_output_path, source_path
from medvit.bundle.workflow import add_to_row, bundle_component
from medvit.io.files import list_image_files
from medvit.io.writers import save_png
from medvit.thorax.phantoms import CHESTXRAY14_LABELS
from medvit.thorax.saliency import vit_gradcam

BUNDLE_NAME = "mae_thorax_classification"
CASE_COLUMNS = ("top_finding", "width", "height", "inverted_monochrome1", "saliency", "weights")


def cxr_inputs(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> list[Path]:
    """The radiographs under ``dataset_dir`` (PNG / JPEG / TIFF / DICOM, DICOM without a suffix
    too), outputs under ``output_dir`` left out."""
    return list_image_files(dataset_dir, exclude=(output_dir,), what="chest X-rays")


def prediction_columns(labels) -> list[str]:
    """The table's result columns: one probability per label, then :data:`CASE_COLUMNS`."""
    return [*labels, *CASE_COLUMNS]


class GradCAMd(MapTransform):
    """Grad-CAM (:func:`medvit.thorax.saliency.vit_gradcam`) of the most probable class.

    Args:
        keys: the network input (C, H, W), as the preprocessing left it (its applied operations
            are copied onto the map, so ``Invertd`` can carry it back to the radiograph).
        network: the classifier.
        pred_key: the (C,) probabilities or logits whose largest entry is explained.
        output_key: where the (1, H, W) map in [0, 1] goes.
    """

    def __init__(self, keys: KeysCollection, network, pred_key: str = "pred", output_key: str = "saliency"):
        super().__init__(keys)
        self.network, self.pred_key, self.output_key = network, pred_key, output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            device = next(self.network.parameters()).device
            top = int(torch.as_tensor(d[self.pred_key]).reshape(-1).argmax())
            cam = vit_gradcam(self.network, torch.as_tensor(image)[None].to(device), top)[0].cpu()
            saliency = MetaTensor(cam[None], meta=dict(image.meta))
            saliency.applied_operations = list(image.applied_operations)
            d[self.output_key] = saliency
        return d


class SaveSaliencyd(MapTransform):
    """Writes a (1, W, H) map in [0, 1] as an 8-bit PNG, ``<output_dir>/<input below root>_saliency.png``,
    and its path relative to ``table_dir`` in the row's ``saliency`` column."""

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                 table_dir: str | os.PathLike | None = None, column: str = "saliency"):
        super().__init__(keys)
        self.output_dir, self.root, self.column = Path(output_dir), root, column
        self.table_dir = Path(table_dir) if table_dir else self.output_dir

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            target = case_output_path(source_path(d), self.root, self.output_dir, "saliency.png")
            values = np.clip(np.asarray(d[key])[0], 0, 1)
            save_png(np.round(values * 255).astype(np.uint8), target, channel_dim=None)
            d = add_to_row(d, {self.column: os.path.relpath(target, self.table_dir)})
        return d


def bundle_overrides(network: dict | None = None, checkpoint: str | os.PathLike | None = None,
                     labels=None, saliency: bool | None = None, device: str | None = None, **others) -> dict:
    """Config overrides for the thorax bundle from Python arguments (``network``: ``network_args``
    entries; ``checkpoint``: the fine-tuned weights, None for random ones)."""
    overrides = {f"network_args#{key}": value for key, value in (network or {}).items()}
    overrides["load_pretrain"] = bool(checkpoint)
    if checkpoint:
        overrides["ckpt_path"] = os.fspath(checkpoint)
    if labels is not None:
        overrides["labels"] = list(labels)
    if saliency is not None:
        overrides["saliency"] = bool(saliency)
    if device is not None:
        overrides["device"] = device
    return {**overrides, **others}


def run_cxr_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, network: dict | None = None,
                   checkpoint: str | os.PathLike | None = None, labels=None, saliency: bool | None = None,
                   device: str | None = None, **options):
    """The bundle's ``inference.json`` on every radiograph under ``dataset_dir`` (one row per
    image in ``<output_dir>/predictions.csv``; a failed image gets an error row, the others go
    on). ``options``: further config ids (``workers``, ``progress``, ``scheduler``, ...).
    Returns the table."""
    overrides = bundle_overrides(network, checkpoint, labels, saliency, device, **options)
    return run_config(bundles_root() / BUNDLE_NAME, "inference.json", dataset_dir=os.fspath(dataset_dir),
                      output_dir=os.fspath(output_dir), **overrides)


def classify_cxr(path: str | os.PathLike, *, output_dir: str | os.PathLike, network: dict | None = None,
                 checkpoint: str | os.PathLike | None = None, labels=None, saliency: bool = False,
                 device: str | None = None) -> dict:
    """One radiograph through the bundle's predictor (built once per process and settings);
    returns its row (one probability per label, ``top_finding``, ``saliency``, ...)."""
    overrides = bundle_overrides(network, checkpoint, labels if labels is not None else CHESTXRAY14_LABELS,
                                 saliency, device, output_dir=os.fspath(output_dir),
                                 dataset_dir=os.fspath(Path(path).parent))
    return bundle_component(bundles_root() / BUNDLE_NAME, "predictor", **overrides)(os.fspath(path))
