"""The Swin UNETR bundle's per-case inference vs a plain MONAI ``sliding_window_inference`` call.

    .venv/bin/python benchmarks/brats_inference.py [--feature-size 48] [--spacing 2] [--roi 96] [--repeats 2]

Same network (random weights, seed 0), same synthetic BraTS-like case, same window settings,
one thread count. "plain" loads the four NIfTI files with nibabel, stacks them, normalises
(MONAI ``NormalizeIntensity``), runs ``sliding_window_inference``, thresholds the sigmoids and
saves the label map with nibabel. "bundle" is ``run_brats_cohort`` on a folder with that one
case: discovery, medvit's readers, grid check, QC flags, label map, atomic NIfTI write,
volumes CSV, provenance. Both are warmed up once (network built, files cached); the
printed ratio is bundle / plain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def plain_inference(case: Path, network, roi, overlap, out: Path) -> None:
    import nibabel as nib
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference
    from monai.transforms import NormalizeIntensity

    from medvit.brats.transforms import brats_label_map

    images = [nib.load(next(case.glob(f"*_{name}.nii.gz"))) for name in ("t1", "t1ce", "t2", "flair")]
    volume = torch.from_numpy(np.stack([np.asarray(i.dataobj, dtype=np.float32) for i in images]))
    volume = NormalizeIntensity(nonzero=True, channel_wise=True)(volume)
    with torch.no_grad():
        logits = sliding_window_inference(volume[None], roi, 1, network, overlap=overlap)[0]
    labels = brats_label_map(torch.sigmoid(logits) > 0.5)
    nib.save(nib.Nifti1Image(labels, images[0].affine), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-size", type=int, default=48)
    parser.add_argument("--spacing", type=float, default=2.0, help="synthetic case spacing in mm (2: 98×116×94)")
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from monai.networks.nets import SwinUNETR

    from medvit.brats import write_brats_case
    from medvit.brats import segment as pipeline

    torch.set_num_threads(torch.get_num_threads())
    roi = (args.roi,) * 3
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cases"
        write_brats_case(data, "case", seed=0, spacing=args.spacing)
        torch.manual_seed(0)
        network = SwinUNETR(in_channels=4, out_channels=3, feature_size=args.feature_size).eval()
        checkpoint = Path(tmp) / "model.pt"
        torch.save(network.state_dict(), checkpoint)
        options = dict(network={"feature_size": args.feature_size}, checkpoint=str(checkpoint), legacy_merging=False,
                       roi_size=roi, overlap=args.overlap, progress=False, resume=False)

        def bundle() -> None:
            table = pipeline.run_brats_cohort(data, Path(tmp) / "out", **options)
            assert (table["status"] == "ok").all(), table["error"].tolist()

        def plain() -> None:
            plain_inference(data / "case", network, roi, args.overlap, Path(tmp) / "plain_seg.nii.gz")

        times = {"plain": [], "bundle": []}
        for name, run in (("plain", plain), ("bundle", bundle)):
            run()  # warm-up: network built / cached, files in the page cache
            for _ in range(args.repeats):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        import nibabel as nib
        import numpy as np

        same = np.array_equal(np.asarray(nib.load(Path(tmp) / "plain_seg.nii.gz").dataobj),
                              np.asarray(nib.load(Path(tmp) / "out" / "case" / "case_seg.nii.gz").dataobj))
        shape = nib.load(next((data / "case").glob("*_t1.nii.gz"))).shape
    plain_s, bundle_s = statistics.median(times["plain"]), statistics.median(times["bundle"])
    print(f"case {shape} at {args.spacing} mm; SwinUNETR feature_size {args.feature_size}; roi {args.roi}³, "
          f"overlap {args.overlap}; {torch.get_num_threads()} threads; median of {args.repeats}")
    print(f"plain sliding_window_inference: {plain_s:7.2f} s")
    print(f"bundle (run_brats_cohort):      {bundle_s:7.2f} s   overhead {100 * (bundle_s / plain_s - 1):+.1f} %")
    print(f"identical label maps: {same}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
