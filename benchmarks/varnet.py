"""medvit.nets.VarNet beside fastmri.models.VarNet: same weights, same 10-coil slice, one run.

    .venv/bin/python benchmarks/varnet.py [--coils 10] [--height 512] [--width 246] [--repeats 3] [--device cpu]

fastmri is not a dependency: install it with ``pip install --no-deps fastmri`` (it imports
without torchvision) or point ``--fastmri-path`` / ``MEDVIT_FASTMRI_PATH`` at a folder that
holds it. Both networks are the default E2E-VarNet (12 cascades) with fastMRI's random
initialisation (seed 0) loaded into medvit's; the input is a synthetic CMRxRecon slice
(``medvit.data``, 512 readout × 246 phase-encoding lines, R = 8 challenge mask). Forward
passes run without gradients, alternating the two implementations; the ratio is
medvit / fastMRI of the median times. Peak memory is measured in a fresh process per
implementation (peak resident set size, and its growth during one forward pass).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_fastmri(path: str | None):
    for folder in (path, os.environ.get("MEDVIT_FASTMRI_PATH")):
        if folder and folder not in sys.path:
            sys.path.append(folder)
    try:
        from fastmri.models import VarNet
    except ImportError:
        sys.exit("fastmri is not importable: pip install --no-deps fastmri, or pass --fastmri-path DIR")
    return VarNet


def build(which: str, fastmri_path: str | None = None):
    """One default E2E-VarNet in eval mode with fastMRI's random initialisation (seed 0)."""
    import torch

    from medvit.nets import VarNet

    torch.manual_seed(0)
    if which == "fastmri":
        return import_fastmri(fastmri_path)().eval()
    return VarNet().eval()


def networks(fastmri_path: str | None):
    """fastMRI's VarNet and medvit's holding the same (fastMRI's) weights."""
    reference = build("fastmri", fastmri_path)
    ours = build("medvit")
    ours.load_state_dict(reference.state_dict(), strict=True)
    return {"fastmri": reference, "medvit": ours}


def slice_input(coils: int, height: int, width: int, acceleration: int):
    """A synthetic slice as both networks take it: (1, coils, H, W, 2) and the (1, 1, 1, W, 1) mask."""
    import torch

    from medvit.cmrxrecon import synthetic_kspace
    from medvit.recon import cmrx_mask

    data = synthetic_kspace("cine_sax", num_ky=width, num_kx=height, num_coils=coils, num_slices=1, num_frames=1)
    kspace = torch.from_numpy(data["kspace"][0, 0]).transpose(-1, -2)  # (coil, kx = H, ky = W)
    lines = torch.from_numpy(cmrx_mask(width, acceleration))
    return torch.view_as_real(kspace * lines)[None].contiguous(), lines.view(1, 1, 1, -1, 1)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field)) / 1024


def peak_memory(which: str, args) -> dict:
    """Run in a fresh process: build one network and the input, then one forward pass.

    The peak is the kernel's high-water mark of resident memory (VmHWM), reset just before
    the forward pass (Linux ``clear_refs`` 5) so that building the input does not count.
    """
    import gc

    import torch

    net = build(which, args.fastmri_path)  # only this one: the other's import and weights would count
    kspace, mask = slice_input(args.coils, args.height, args.width, args.acceleration)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _status_mb("VmRSS")
    with torch.inference_mode():
        net(kspace, mask)
    peak = _status_mb("VmHWM")
    return {"peak_rss_mb": peak, "forward_growth_mb": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coils", type=int, default=10)
    parser.add_argument("--height", type=int, default=512, help="readout samples (fastMRI's H)")
    parser.add_argument("--width", type=int, default=246, help="phase-encoding lines (fastMRI's W)")
    parser.add_argument("--acceleration", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fastmri-path", help="a folder holding the fastmri package")
    parser.add_argument("--peak-memory", choices=("fastmri", "medvit"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory:
        print(json.dumps(peak_memory(args.peak_memory, args)))
        return

    import torch

    device = torch.device(args.device)
    nets = {name: net.to(device) for name, net in networks(args.fastmri_path).items()}
    kspace, mask = (t.to(device) for t in slice_input(args.coils, args.height, args.width, args.acceleration))
    times = {name: [] for name in nets}
    outputs = {}
    with torch.inference_mode():
        for name, net in nets.items():  # warm-up (allocator, FFT plans, oneDNN kernels)
            outputs[name] = net(kspace, mask)
        for _ in range(args.repeats):
            for name, net in nets.items():
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                outputs[name] = net(kspace, mask)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    difference = float((outputs["medvit"] - outputs["fastmri"]).abs().max())
    scale = float(outputs["fastmri"].abs().max())
    median = {name: statistics.median(values) for name, values in times.items()}

    print(f"E2E-VarNet (12 cascades, {sum(p.numel() for p in nets['medvit'].parameters()) / 1e6:.1f} M parameters), "
          f"fastMRI's random weights (seed 0) in both; {args.coils}-coil {args.height}×{args.width} slice, R={args.acceleration}")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.repeats} alternating runs each")
    for name in nets:
        rate = f"  ({1 / median[name]:.2f} slices/s)" if device.type == "cuda" else ""
        print(f"{name:8s} forward: median {median[name]:.3f} s, min {min(times[name]):.3f} s{rate}")
    print(f"time ratio medvit / fastMRI: {median['medvit'] / median['fastmri']:.3f} (median), "
          f"{min(times['medvit']) / min(times['fastmri']):.3f} (min)")
    print(f"max |medvit - fastMRI| = {difference:.3g} (outputs up to {scale:.3g}; relative {difference / scale:.3g})")
    if device.type == "cpu":
        for name in nets:
            cmd = [sys.executable, __file__, "--peak-memory", name, "--coils", str(args.coils), "--height", str(args.height),
                   "--width", str(args.width), "--acceleration", str(args.acceleration)]
            if args.fastmri_path:
                cmd += ["--fastmri-path", args.fastmri_path]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            memory = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
            print(f"{name:8s} peak memory (fresh process, one forward): {memory['peak_rss_mb']:.0f} MB RSS, "
                  f"{memory['forward_growth_mb']:.0f} MB of it during the forward pass")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
