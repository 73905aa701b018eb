"""``medvit demo``: run each part end to end on the sample data, offline, and say what it did.

Each bundle adds one step to :data:`STEPS` when it lands. A step takes the output folder
and returns a short report (lines printed to the user).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from medvit.bundle.run import run_config as _bundle_run
from medvit.errors import MedvitError

# the marker a finished step leaves in its folder (its report lines): the viewer's samples use it
COMPLETE = ".complete"


def step_read_samples(out: Path) -> list[str]:
    """Read the real sample files medvit is tested on and save what it read."""
    from medvit.data import fundus_photo, mni152, pydicom_sample
    from medvit.io import atomic_write_text, describe

    samples = {
        "ct_series": pydicom_sample("ct_volume"),
        "cr_monochrome1": pydicom_sample("cr_monochrome1"),
        "fundus_photo": fundus_photo(),
        "mni152_t1": mni152("t1"),
    }
    infos = {name: describe(path) for name, path in samples.items()}
    atomic_write_text(out / "samples.json", json.dumps(infos, indent=2))
    lines = [
        f"{name}: {info['kind']} {info['shape']} spacing {info['spacing']} {info['spacing_unit']}"
        for name, info in infos.items()
    ]
    return lines + [f"wrote {out / 'samples.json'}"]


def step_synthetic_brats(out: Path) -> list[str]:
    """Write a synthetic BraTS-like case (four contrasts + labels) on MNI152 anatomy."""
    from medvit.brats import write_brats_case
    from medvit.io import read_image

    paths = write_brats_case(out, case_id="synthetic_000", seed=0, spacing=2.0)
    labels, meta = read_image(paths["seg"])
    voxel_ml = float(np.prod(np.sqrt((meta["affine"][:3, :3] ** 2).sum(0)))) / 1000.0
    volumes = {name: float(np.isin(labels, codes).sum()) * voxel_ml for name, codes in
               (("TC", (1, 4)), ("WT", (1, 2, 4)), ("ET", (4,)))}
    summary = ", ".join(f"{k} {v:.1f} mL" for k, v in volumes.items())
    return [f"case synthetic_000 at 2 mm: {summary}", f"wrote {paths['seg'].parent}"]


def step_pvbm_biomarkers(out: Path) -> list[str]:
    """Run the PVBM bundle's inference.json on the real fundus photo: biomarkers CSV + overlay."""
    import csv
    import shutil

    from medvit.bundle.registry import bundles_root
    from medvit.data import fundus_photo

    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    shutil.copy(fundus_photo(), photos / "retina.jpg")
    _bundle_run(bundles_root() / "pvbm_vessel_biomarkers", "inference.json", dataset_dir=str(photos),
                output_dir=str(out), write_overlays=True, progress=False)
    with open(out / "biomarkers.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    if row["status"] != "ok":
        raise MedvitError(f"the sample photo failed: {row['error']}")
    keys = ("disc_radius", "area", "length", "median_tortuosity", "start_points", "D0", "D1", "D2")
    values = ", ".join(f"{k} {float(row[k]):.4g}" for k in keys)
    return [f"retina.jpg: {values}", f"wrote {out / 'biomarkers.csv'} and {out / 'overlays' / 'retina_jpg_overlay.png'}"]


# BraTS demo: a SwinUNETR of feature size 12 (the smallest its attention heads allow) trained on
# 64 × 64 × 32 crops (the smallest a Swin UNETR trains on: its bottleneck keeps 2 × 2 × 1 voxels)
# of synthetic cases at 4 mm, mostly centred on the tumour, with a high learning rate: it learns the
# bright lesion in a few dozen steps.
BRATS_DEMO_NETWORK = {"network_args#feature_size": 12}
BRATS_DEMO_TRAIN_ROI = [64, 64, 32]
BRATS_DEMO_INFER_ROI = [64, 64, 64]  # inference windows must be ≥ 64 per axis (one window covers a 4 mm brain)
BRATS_DEMO_SPACING = 4.0
BRATS_DEMO_CASES = 4  # the first validates and keeps the best epoch's checkpoint
BRATS_DEMO_TRAINING = {"max_epochs": 6, "val_interval": 3, "warmup_epochs": 1, "learning_rate": 3e-3,
                       "num_workers": 0, "legacy_merging": False, "crop": "@tumour_crop", "output_bias": -3.0}


def step_brats_swin_unetr(out: Path) -> list[str]:
    """Swin UNETR bundle on synthetic BraTS-like cases (NIfTI and DICOM), with a tiny network
    trained here first (no checkpoint is shipped)."""
    import csv

    from medvit.bundle.registry import bundles_root
    from medvit.brats import write_brats_case
    from medvit.brats.synthetic import write_brats_dicom_case
    from medvit.brats.evaluation import region_scores
    from medvit.io import read_image

    bundle = bundles_root() / "brats_swin_unetr_segmentation"
    for seed in range(BRATS_DEMO_CASES):
        write_brats_case(out / "training", f"train_{seed}", seed=100 + seed, spacing=BRATS_DEMO_SPACING)
    start = time.perf_counter()
    _bundle_run(bundle, "train.json", bundle_root=str(out / "trained"), dataset_dir=str(out / "training"),
                roi_size=BRATS_DEMO_TRAIN_ROI, **BRATS_DEMO_TRAINING, **BRATS_DEMO_NETWORK)
    seconds = time.perf_counter() - start
    cases = out / "cases"
    write_brats_case(cases, "synthetic_nifti", seed=1, spacing=BRATS_DEMO_SPACING)
    write_brats_dicom_case(cases, "synthetic_dicom", seed=2, spacing=BRATS_DEMO_SPACING)
    _bundle_run(bundle, "inference.json", dataset_dir=str(cases), output_dir=str(out / "results"),
                ckpt_path=str(out / "trained" / "models" / "model.pt"), legacy_merging=False, overlap=0.25,
                roi_size=BRATS_DEMO_INFER_ROI, progress=False, **BRATS_DEMO_NETWORK)
    epochs = BRATS_DEMO_TRAINING["max_epochs"]
    lines = [f"trained SwinUNETR (feature size 12, the bundle's train.json) for {epochs} epochs ({seconds:.0f} s) on "
             f"{BRATS_DEMO_CASES - 1} synthetic cases at {BRATS_DEMO_SPACING:g} mm: a toy network far from converged, "
             "so that the result below is a real one, not random weights"]
    with open(out / "results" / "volumes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] != "ok":
                raise MedvitError(f"{row['image']} failed: {row['error']}")
            predicted, _ = read_image(out / "results" / row["segmentation"])
            reference, _ = read_image(next((cases / row["image"]).glob("*_seg.nii.gz")))
            scores = region_scores(predicted, reference)
            lines.append(f"{row['image']}: WT {float(row['wt_ml']):.1f} mL, TC {float(row['tc_ml']):.1f} mL, "
                         f"ET {float(row['et_ml']):.1f} mL; Dice WT {scores['dice_wt']:.2f} TC {scores['dice_tc']:.2f} "
                         f"ET {scores['dice_et']:.2f}" + (f"; DICOM SEG {row['dicom_seg']}" if row["dicom_seg"] else ""))
    return lines + [f"wrote {out / 'results'}"]


def step_cmrxrecon_varnet(out: Path) -> list[str]:
    """CMRxRecon VarNet bundle on a synthetic challenge tree, with a tiny network trained here
    first (no checkpoint is shipped); scored like the challenge beside zero-filled and SENSE."""
    import pandas as pd

    from medvit.bundle.registry import bundles_root
    from medvit.cmrxrecon import write_cmrx_tree

    bundle = bundles_root() / "cmrxrecon_varnet_reconstruction"
    write_cmrx_tree(out / "training", cases=CMRX_DEMO_CASES, accelerations=(), seed=1000, **CMRX_DEMO_SIZES)
    held_out = out / "held_out"
    write_cmrx_tree(held_out, cases=1, accelerations=(4, 8, 10), seed=5000, split="ValidationSet", **CMRX_DEMO_SIZES)
    start = time.perf_counter()
    _bundle_run(bundle, "train.json", bundle_root=str(out / "trained"), dataset_dir=str(out / "training"),
                max_epochs=CMRX_DEMO_EPOCHS, **CMRX_DEMO_TRAINING, **CMRX_TOY_NETWORK)
    minutes = (time.perf_counter() - start) / 60
    _bundle_run(bundle, ["inference.json", "evaluate.json"], dataset_dir=str(held_out), output_dir=str(out / "results"),
                ckpt_path=str(out / "trained" / "models" / "model.pt"), baselines=["zero_filled", "sense"],
                progress=False, **CMRX_TOY_NETWORK)
    comparison = pd.read_csv(out / "results" / "comparison.csv")
    size = CMRX_DEMO_SIZES
    lines = [f"trained a 4-cascade VarNet (8 channels, the bundle's train.json) for {CMRX_DEMO_EPOCHS} epochs "
             f"({minutes:.1f} min) on {CMRX_DEMO_CASES - 1} synthetic cine cases ({size['num_coils']} coils, "
             f"{size['num_ky']} × {size['num_kx']} k-space, one more case validates): a toy network far from "
             "converged, so that the scores below are a real result, not random weights"]
    for acceleration, group in comparison.groupby("acceleration"):
        scores = ", ".join(f"{row.method} {row.psnr:.2f} dB / {row.ssim:.3f}" for row in group.itertuples())
        lines.append(f"held-out case, {acceleration}: PSNR / SSIM {scores}")
    return lines + [f"wrote the submission trees and scores to {out / 'results'}"]



# The toy CMRxRecon setting shared by the demo, the notebook and the slow training test: synthetic
# slices of 128 ky × 64 kx lines from 8 coils (at R = 8 the challenge's mask keeps 40 of the 128
# lines), a 4-cascade VarNet of 8 channels (about 0.5 s per training slice on one CPU thread).
CMRX_SIZES = {"num_ky": 128, "num_kx": 64, "num_coils": 8, "num_slices": 3, "num_frames": 2}
CMRX_TOY_NETWORK = {"network_args#num_cascades": 4, "network_args#chans": 8, "network_args#pools": 3,
                    "network_args#sens_chans": 4, "network_args#sens_pools": 2}
CMRX_TOY_TRAINING = {"learning_rate": 3e-3, "weight_decay": 0.0, "lr_step_size": 12, "lr_gamma": 0.3, "num_workers": 0,
                     "val_accelerations": [8]}
# The demo's: narrower slices (32 kx lines) for twice the steps in the same time, and more cases
# (variety matters more than frames here): 400 steps, about a minute of one CPU thread; seen at R = 8
# on the held-out case: VarNet 25.8 dB, SENSE 24.5 dB, zero-filled 22.8 dB.
CMRX_DEMO_SIZES = {**CMRX_SIZES, "num_kx": 32, "num_slices": 2}
CMRX_DEMO_CASES = 11  # the first validates
CMRX_DEMO_EPOCHS = 10
CMRX_DEMO_TRAINING = {**CMRX_TOY_TRAINING, "lr_step_size": 8, "val_interval": 5}


# Uni4Eye demo: a tiny model (width 96, 4 blocks, 8-pixel patches on 32² images and
# 32×32×16 volumes) pre-trained for about 15 s on one CPU thread.
UNI4EYE_DEMO_NET = {"in_channels": 1, "img_size_2d": 32, "img_size_3d": [32, 32, 16], "patch_size": 8,
                    "hidden_size": 96, "num_layers": 4, "num_heads": 4}
UNI4EYE_DEMO_DECODER = {"decoder_hidden_size": 64, "decoder_num_layers": 2, "decoder_num_heads": 4}
UNI4EYE_DEMO_EPOCHS = 50


def step_uni4eye_mim(out: Path) -> list[str]:
    """Uni4Eye bundle: pre-train a tiny model on synthetic fundus / OCT images and OCT volumes
    (pretrain.json, 2D and 3D batches in turn), then show what it reconstructs."""
    from medvit.bundle.registry import bundles_root
    from medvit.uni4eye.phantoms import write_ophthalmic_dataset
    from medvit.nets import Uni4Eye, load_checkpoint
    from medvit.uni4eye.figures import PANELS, reconstruction_panels, write_reconstruction_figure
    from medvit.uni4eye.items import load_item, read_items
    from medvit.uni4eye.training import loss_trend

    dataset = write_ophthalmic_dataset(out / "data", n_fundus=16, n_bscans=16, n_volumes=16, size_2d=64,
                                       shape_3d=(64, 64, 32))
    _bundle_run(bundles_root() / "uni4eye_ophthalmic_mim", "pretrain.json", bundle_root=str(out / "bundle"),
                dataset_dir=str(dataset.parent), output_dir=str(out), network_args=UNI4EYE_DEMO_NET,
                decoder_args=UNI4EYE_DEMO_DECODER, max_epochs=UNI4EYE_DEMO_EPOCHS, warmup_epochs=2,
                learning_rate=1e-3, batch_size_2d=8, batch_size_3d=4, num_workers=0, cache_rate=1.0,
                save_interval=UNI4EYE_DEMO_EPOCHS)
    model = Uni4Eye(**UNI4EYE_DEMO_NET, **UNI4EYE_DEMO_DECODER)
    load_checkpoint(model, out / "bundle" / "models" / "pretrained.pt")
    items = read_items(dataset)
    shown = [next(i for i in items if i["modality"] == "fundus"), next(i for i in items if i["spatial_dims"] == 3)]
    net = UNI4EYE_DEMO_NET
    panels = [reconstruction_panels(model, load_item(item, net["img_size_2d"], net["img_size_3d"])) for item in shown]
    figure = write_reconstruction_figure(panels, out / "uni4eye_reconstructions.png")
    trend = loss_trend(out / "pretrain_losses.csv", epochs=3)
    lines = [f"pre-trained Uni4Eye (width 96, 4 blocks; the bundle's pretrain.json) for {UNI4EYE_DEMO_EPOCHS} epochs "
             "on 32 synthetic 2D images and 16 OCT-like volumes: a toy model, so that the pictures show a real "
             "(if coarse) reconstruction, not random weights"]
    for dims, losses in sorted(trend.items()):
        lines.append(f"{dims}D masked-patch loss, first -> last 3 epochs: image {losses['loss_image'][0]:.4f} -> "
                     f"{losses['loss_image'][1]:.4f}, gradient {losses['loss_gradient'][0]:.4f} -> "
                     f"{losses['loss_gradient'][1]:.4f}")
    for item, item_panels in zip(shown, panels):
        lines.append(f"{item['name']}: 75% of patches masked, loss image {item_panels['loss_image']:.4f}, "
                     f"gradient {item_panels['loss_gradient']:.4f}")
    return lines + [f"wrote {figure} (rows: {shown[0]['name']}, central B-scan of {shown[1]['name']}; "
                    f"columns: {', '.join(PANELS)})"]


def step_mae_thorax(out: Path) -> list[str]:
    """MAE thorax bundle on CXR-like phantoms (PNG, and one as a MONOCHROME1 CR DICOM), with a toy
    ViT trained here first (no checkpoint is shipped)."""
    import pandas as pd

    from medvit.bundle.registry import bundles_root
    from medvit.thorax.phantoms import PHANTOM_FINDINGS, write_cxr_dicom, write_cxr_phantoms

    bundle = bundles_root() / "mae_thorax_classification"
    toy = {f"network_args#{key}": value for key, value in CXR_TOY_ARGS.items()}
    write_cxr_phantoms(out / "training", count=DEMO_CXR_TRAIN_IMAGES, prevalence=0.3, size=DEMO_CXR_PHANTOM_SIZE)
    start = time.perf_counter()
    _bundle_run(bundle, "train.json", bundle_root=str(out / "trained"), dataset_dir=str(out / "training"),
                num_workers=0, cache_rate=1.0, **DEMO_CXR_TRAINING, **toy)
    minutes = (time.perf_counter() - start) / 60
    checkpoint = str(out / "trained" / "models" / "model.pt")
    held_out = out / "held_out"
    write_cxr_phantoms(held_out, count=40, first_seed=50_000, prevalence=0.3, size=DEMO_CXR_PHANTOM_SIZE)
    _bundle_run(bundle, ["inference.json", "evaluate.json"], dataset_dir=str(held_out), output_dir=str(out / "evaluation"),
                ckpt_path=checkpoint, progress=False, **toy)
    metrics = pd.read_csv(out / "evaluation" / "metrics.csv").set_index("label")
    cases = out / "cases"
    write_cxr_phantoms(cases, count=3, first_seed=60_000, prevalence=0.5, size=DEMO_CXR_PHANTOM_SIZE)
    truth = pd.read_csv(cases / "labels.csv").set_index("Image Index")["Finding Labels"]
    (cases / "labels.csv").unlink()
    # pydicom's MONOCHROME1 CR is 16×16 px, below the network's input size: a phantom as a CR instead
    write_cxr_dicom(cases / "cr_monochrome1.dcm", seed=60_100, size=1024)
    _bundle_run(bundle, "inference.json", dataset_dir=str(cases), output_dir=str(out / "results"), ckpt_path=checkpoint,
                saliency=True, progress=False, **toy)
    lines = [f"trained a toy ViT ({CXR_TOY_NETWORK}: 2 blocks, width 96; the bundle's train.json) for {minutes:.1f} min on {DEMO_CXR_TRAIN_IMAGES} synthetic phantoms, from scratch (no MAE "
             "pre-training): a toy, so that the results below are real ones, not random weights",
             "held-out phantoms, AUC: " + ", ".join(f"{name} {metrics.loc[name, 'auc']:.2f}" for name in PHANTOM_FINDINGS)
             + f"; mean {metrics['auc'].iloc[-1]:.2f}"]
    for row in pd.read_csv(out / "results" / "predictions.csv").to_dict("records"):
        if row["status"] != "ok" and row["image"] in truth:
            raise MedvitError(f"{row['image']} failed: {row['error']}")
        if row["status"] != "ok":  # the real CR may be refused (e.g. too small for the network): say why
            lines.append(f"{row['image']}: not classified ({row['error']})")
            continue
        top = row["top_finding"]
        known = f" (drawn: {truth[row['image']]})" if row["image"] in truth else " (a phantom as a MONOCHROME1 CR DICOM)"
        lines.append(f"{row['image']}: top finding {top} p={row[top]:.2f}{known}; saliency {row['saliency']}")
    return lines + [f"wrote {out / 'results' / 'predictions.csv'}"]


DEMO_CXR_TRAIN_IMAGES = 600
DEMO_CXR_PHANTOM_SIZE = 256  # pixels, resized to the network's 224²
CXR_TOY_NETWORK = "vit_toy_patch16"  # 2 blocks, width 96
CXR_TOY_ARGS = {"name": CXR_TOY_NETWORK}  # build_vit arguments (the bundle's network_args)
# lr, augmentation and regularisation for a toy trained from scratch in about a minute (the paper's
# recipe fine-tunes a pre-trained encoder for 75 epochs)
DEMO_CXR_TRAINING = {"max_epochs": 10, "warmup_epochs": 1, "val_interval": 5, "batch_size": 16, "lr": 5e-4,
                     "layer_decay": 1.0, "drop_path_rate": 0.0, "crop_scale": [0.7, 1.0], "rand_augment_ops": 0}


STEPS: dict[str, Callable[[Path], list[str]]] = {
    "read-samples": step_read_samples,
    "synthetic-brats": step_synthetic_brats,
    "pvbm-biomarkers": step_pvbm_biomarkers,
    "brats-swin-unetr": step_brats_swin_unetr,
    "cmrxrecon-varnet": step_cmrxrecon_varnet,
    "uni4eye-mim": step_uni4eye_mim,
    "mae-thorax": step_mae_thorax,
}


# The demo's networks are toys. On the project's shared 2-core machine torch's default two threads
# cost more CPU than they saved (Uni4Eye: 61 s of CPU against 22 s on one thread) and, while other
# work ran, slowed the steps several times over (the VarNet step: 348 s on two threads, 51 s on one,
# in runs a few minutes apart): each step runs on one thread unless OMP_NUM_THREADS says otherwise.
def demo_threads() -> int:
    return int(os.environ.get("OMP_NUM_THREADS") or 1)


@contextmanager
def _threads(count: int):
    """torch's intra-op threads set to ``count`` for the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_demo(out_dir: str | Path, only: list[str] | None = None) -> None:
    """Run the demo steps (all, or those named in ``only``) into ``out_dir``: each prints what it
    does, its training's epoch lines, what it made and its time, and marks its folder complete
    (:data:`COMPLETE`, holding those lines: the viewer then shows that folder)."""
    unknown = sorted(set(only or ()) - set(STEPS))
    if unknown:
        raise MedvitError(f"unknown demo step(s) {unknown}; steps: {', '.join(STEPS)}")
    out = Path(out_dir)
    names = [name for name in STEPS if not only or name in only]
    total = time.perf_counter()
    for number, name in enumerate(names, start=1):
        step, folder = STEPS[name], out / name
        (folder / COMPLETE).unlink(missing_ok=True)  # a re-run cut short is not taken as done
        start, cpu = time.perf_counter(), time.process_time()
        what = " ".join((step.__doc__ or "").strip().split("\n\n")[0].split())  # the docstring's first paragraph
        print(f"== [{number}/{len(names)}] {name}: {what}", flush=True)
        with _threads(demo_threads()):
            lines = step(folder)
        for line in lines:
            print(f"   {line}", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / COMPLETE).write_text("\n".join(lines) + "\n")
        print(f"   ({name}: {time.perf_counter() - start:.1f} s; CPU {time.process_time() - cpu:.1f} s)", flush=True)
    if len(names) > 1:
        print(f"== {len(names)} steps in {time.perf_counter() - total:.1f} s; outputs in {out}", flush=True)
