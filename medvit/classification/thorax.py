"""One chest X-ray → the 14 ChestX-ray14 finding probabilities (and a saliency map): the cohort
runner's per-image function for ``bundles/mae_thorax_classification``.

DICOM CR / DX (MONOCHROME1, rescale, VOI window) or 8/16-bit PNG / JPEG → display intensities
→ letterbox 256², centre crop 224², the paper's normalisation → ViT with global pooling →
sigmoid probabilities. With ``saliency``, Grad-CAM of the most probable finding is carried back
onto the radiograph's grid and written as an 8-bit PNG the viewer overlays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.data.cxr import CHESTXRAY14_LABELS

BUNDLE_NAME = "mae_thorax_classification"


def classify_cxr(path: str, *, output_dir: str, network: dict | None = None, checkpoint: str | None = None,
                 labels: tuple[str, ...] = CHESTXRAY14_LABELS, saliency: bool = False,
                 device: str | None = None) -> dict:
    """Classify one radiograph; returns its row (one probability column per label).

    Args:
        path: a DICOM file or a PNG / JPEG.
        output_dir: where ``saliency/<name>_saliency.png`` goes.
        network: :func:`medvit.nets.build_vit` arguments (``name``, ``img_size``, ...);
            ``num_classes`` is ``len(labels)``.
        checkpoint: fine-tuned weights; None runs random weights (tests only: the row says so).
        labels: the head's findings in order (ChestX-ray14's 14 by default).
        saliency: also write the Grad-CAM map of the most probable finding.
    """
    import torch

    from medvit.io import read_image
    from medvit.nets import build_vit
    from medvit.nets.vit_checkpoints import cached_classifier
    from medvit.transforms.cxr import cxr_display_intensity, cxr_network_input

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    arguments = {"name": "vit_base_patch16", **(network or {}), "num_classes": len(labels), "global_pool": True}
    model = cached_classifier(build_vit, arguments, checkpoint, device)
    image, meta = read_image(path)
    network_input = cxr_network_input(cxr_display_intensity(image, meta), model.patch_embed.proj.in_channels)
    batch = network_input.as_tensor()[None].to(device)
    with torch.no_grad():
        probabilities = torch.sigmoid(model(batch))[0].float().cpu().numpy()
    row = {label: float(p) for label, p in zip(labels, probabilities)}
    top = int(np.argmax(probabilities))
    row.update({"top_finding": labels[top], "width": int(image.shape[0]), "height": int(image.shape[1]),
                "inverted_monochrome1": bool(meta.get("inverted_monochrome1", False)), "saliency": "",
                "weights": Path(checkpoint).name if checkpoint else "random (no checkpoint)"})
    if saliency:
        row["saliency"] = os.path.relpath(_write_saliency(model, batch, top, network_input, path, output_dir), output_dir)
    return row


def _write_saliency(model, batch, class_index: int, network_input, path: str, output_dir: str) -> Path:
    from medvit.io.writers import save_png
    from medvit.nets.saliency import vit_gradcam
    from medvit.transforms.cxr import to_image_grid

    cam = vit_gradcam(model, batch, class_index)[0].cpu().numpy()
    on_image = np.clip(to_image_grid(cam, network_input), 0, 1)
    target = Path(output_dir) / "saliency" / f"{Path(path).stem}_saliency.png"
    return save_png(np.round(on_image * 255).astype(np.uint8), target, channel_dim=None)


def run_cxr_cohort(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 1,
                   scheduler=None, progress: bool = True, resume: bool = True, **options):
    """Classify every radiograph under ``dataset_dir``; one row per image in
    ``<output_dir>/predictions.csv`` (a failed image gets an error row, the others go on).

    ``options`` are :func:`classify_cxr`'s keyword arguments.
    """
    from medvit.batch import run_cohort
    from medvit.batch.ids import checkpoint_provenance
    from medvit.io.files import list_image_files

    settings = {"output_dir": os.fspath(output_dir), **options}
    settings["labels"] = list(settings.get("labels") or CHESTXRAY14_LABELS)
    provenance = checkpoint_provenance(settings, BUNDLE_NAME)
    images = list_image_files(dataset_dir, exclude=(output_dir,), what="chest X-rays")
    columns = [*settings["labels"], "top_finding", "width", "height", "inverted_monochrome1", "saliency", "weights"]
    return run_cohort(images, classify_cxr, Path(output_dir) / "predictions.csv", settings, columns=columns,
                      workers=workers, scheduler=scheduler, case_id="relative", root=dataset_dir,
                      progress=progress, resume=resume, provenance=provenance)
