"""Swin UNETR on CPU: minutes per full BraTS-size case with the paper's settings vs the fast path,
and whether the fast path keeps the Dice on synthetic cases.

    .venv/bin/python benchmarks/brats_cpu_speed.py timing    # full 240×240×155 case, feature size 48
    .venv/bin/python benchmarks/brats_cpu_speed.py quality --checkpoint models/model.pt --feature-size 12 --roi 64

Settings compared (``medvit.brats.segment.segment_brats_case``, the bundle's per-case path):

- paper: float32, overlap 0.6 (the paper's test script) — 32 windows of 128³ on 240×240×155;
- overlap 0.5: 18 windows there;
- bf16: ``amp=True`` on CPU, bfloat16 autocast (oneDNN uses AMX / AVX-512 BF16 where present);
- fast: both.

``timing`` builds a full-size case (a synthetic 1 mm case padded to BraTS's 240×240×155 grid),
runs each setting in its own process with random feature-size-48 weights (time does not depend
on the weights; legacy merging as the published checkpoints) and prints minutes per case,
peak resident memory and the voxel agreement of each label map with the paper setting's.

``quality`` runs a trained network (e.g. the toy one train.json makes on synthetic 3 mm cases)
on three held-out synthetic cases with each setting and prints the Dice of each region channel
(thresholded sigmoid) against the synthetic ground truth.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"paper": (0.6, False), "overlap 0.5": (0.5, False), "bf16": (0.6, True), "fast": (0.5, True)}
BRATS_SHAPE = (240, 240, 155)


def write_full_size_case(root: Path) -> Path:
    """A synthetic 1 mm case padded / cropped to 240×240×155 (BraTS's grid), in BraTS naming."""
    import numpy as np
    from monai.transforms import ResizeWithPadOrCrop

    from medvit.brats.synthetic import MODALITIES, brats_like_case
    from medvit.io.writers import save_nifti

    image, labels, affine = brats_like_case(seed=0, spacing=1.0)
    resize = ResizeWithPadOrCrop(BRATS_SHAPE)
    image = np.asarray(resize(image))
    labels = np.asarray(resize(labels[None]))[0]
    case = root / "full_size"
    for name, channel in zip(MODALITIES, image):
        save_nifti(channel, case / f"full_size_{name}.nii.gz", affine=affine, channel_dim=None)
    save_nifti(labels, case / "full_size_seg.nii.gz", affine=affine, channel_dim=None)
    return case


def run_one(case: str, out: str, setting: str, feature_size: int, roi: int, checkpoint: str | None) -> None:
    """One setting on one case in this process; prints a JSON line with seconds and peak MB."""
    import torch

    from medvit.brats.segment import segment_brats_case

    overlap, amp = SETTINGS[setting]
    if checkpoint is None:
        torch.manual_seed(0)
    start = time.perf_counter()
    row = segment_brats_case(case, output_dir=out, network={"feature_size": feature_size}, checkpoint=checkpoint,
                             legacy_merging=checkpoint is None, roi_size=(roi,) * 3, overlap=overlap, amp=amp,
                             device="cpu")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "segmentation": str(Path(out) / row["segmentation"])}))


def _in_subprocess(case: Path, out: Path, setting: str, feature_size: int, roi: int, checkpoint=None) -> dict:
    command = [sys.executable, __file__, "one", "--case", str(case), "--out", str(out), "--setting", setting,
               "--feature-size", str(feature_size), "--roi", str(roi)]
    if checkpoint:
        command += ["--checkpoint", str(checkpoint)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def _labels(path):
    import nibabel as nib
    import numpy as np

    return np.asarray(nib.load(path).dataobj)


def timing(settings: list[str]) -> None:
    import numpy as np
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        case = write_full_size_case(Path(tmp))
        print(f"case {BRATS_SHAPE}, SwinUNETR feature_size 48 (random weights, legacy merging), roi 128³, "
              f"{torch.get_num_threads()} threads, one process per setting")
        results = {}
        for setting in settings:
            results[setting] = _in_subprocess(case, Path(tmp) / setting, setting, 48, 128)
            reference = _labels(results[settings[0]]["segmentation"])
            agreement = np.mean(_labels(results[setting]["segmentation"]) == reference)
            print(f"{setting:12s} {results[setting]['seconds'] / 60:6.1f} min  peak {results[setting]['peak_mb']:6.0f} MB"
                  f"  speed-up x{results[settings[0]]['seconds'] / results[setting]['seconds']:.2f}"
                  f"  labels equal to {settings[0]}'s on {100 * agreement:.2f} % of voxels", flush=True)


def quality(settings: list[str], checkpoint: str, spacing: float, feature_size: int, roi: int) -> None:
    """Per-region Dice of each setting's thresholded sigmoid outputs on held-out synthetic cases
    (region channels, not the label map: a toy network's ET channel may still be untrained)."""
    import numpy as np
    import torch
    from monai.inferers import SlidingWindowInferer
    from monai.metrics import compute_dice
    from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses, NormalizeIntensity

    from medvit.brats import brats_like_case
    from medvit.brats.segment import bundle_dir, bundle_overrides
    from medvit.bundle.workflow import bundle_component

    model = bundle_component(bundle_dir(), "network", **bundle_overrides({"feature_size": feature_size}, checkpoint,
                                                                         legacy_merging=False, device="cpu"))
    cases = [brats_like_case(seed=300 + k, spacing=spacing) for k in range(3)]
    print(f"{checkpoint}: feature size {feature_size}, 3 held-out synthetic cases at {spacing} mm "
          f"{cases[0][0].shape[1:]}, roi {roi}³")
    for setting in settings:
        overlap, amp = SETTINGS[setting]
        inferer = SlidingWindowInferer((roi,) * 3, sw_batch_size=1, overlap=overlap)
        scores, seconds = [], 0.0
        for image, labels, _ in cases:
            x = NormalizeIntensity(nonzero=True, channel_wise=True)(torch.from_numpy(image))[None]
            start = time.perf_counter()
            with torch.no_grad(), torch.autocast("cpu", enabled=amp):
                regions = (torch.sigmoid(inferer(x, model).float()) > 0.5).float()
            seconds += time.perf_counter() - start
            truth = torch.as_tensor(ConvertToMultiChannelBasedOnBratsClasses()(labels)[None]).float()
            scores.append(compute_dice(regions, truth, include_background=True)[0].numpy())
        tc, wt, et = np.mean(scores, axis=0)
        print(f"{setting:12s} Dice TC {tc:.4f} WT {wt:.4f} ET {et:.4f}   {seconds / len(cases):5.2f} s/case", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["timing", "quality", "one"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--checkpoint", help="quality: a trained checkpoint (train.json's models/model.pt)")
    parser.add_argument("--spacing", type=float, default=3.0, help="quality: synthetic cases' voxel size (mm)")
    parser.add_argument("--case"), parser.add_argument("--out"), parser.add_argument("--setting")
    parser.add_argument("--feature-size", type=int, default=48)
    parser.add_argument("--roi", type=int, default=128)
    args = parser.parse_args()
    if args.part == "timing":
        timing(args.settings)
    elif args.part == "quality":
        quality(args.settings, args.checkpoint, args.spacing, args.feature_size, args.roi)
    else:
        run_one(args.case, args.out, args.setting, args.feature_size, args.roi, args.checkpoint)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
