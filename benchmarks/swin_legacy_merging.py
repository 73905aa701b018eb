"""Proof that ``medvit.brats.network.LegacyPatchMerging`` on today's MONAI computes monai==1.4.0's Swin UNETR.

    .venv/bin/python benchmarks/swin_legacy_merging.py [--reference-python PY] [--feature-size 48]

Builds SwinUNETR(in_channels=4, out_channels=3) with random weights here (installed MONAI,
``downsample=LegacyPatchMerging``), runs the same weights and input through monai 1.4.0's
SwinUNETR in a separate virtual environment (created under ``.bench/monai14`` with
``torch==2.13.0``, ``numpy<2``, ``einops``, ``monai==1.4.0`` from the package index unless
``--reference-python`` names one), and prints the largest output differences: legacy merging
vs 1.4.0 (expected: float rounding), and today's default merging vs 1.4.0 (the change that
breaks the BraTS 2021 checkpoints).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_VENV = ROOT / ".bench" / "monai14"
REFERENCE_PACKAGES = ["torch==2.13.0", "numpy<2", "einops", "monai==1.4.0"]

# Runs inside the monai 1.4.0 environment: same weights, same input, its own SwinUNETR.
REFERENCE_SCRIPT = """
import sys, torch, monai
from monai.networks.nets import SwinUNETR
state, inputs, out, feature_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
assert monai.__version__ == "1.4.0", monai.__version__
x = torch.load(inputs)
net = SwinUNETR(img_size=tuple(x.shape[2:]), in_channels=4, out_channels=3, feature_size=feature_size)
net.load_state_dict(torch.load(state))
net.eval()
with torch.no_grad():
    torch.save(net(x), out)
"""


def reference_python(path: str | None) -> Path:
    """A Python with monai 1.4.0: the one given, or a venv made under .bench/monai14 once."""
    if path:
        return Path(path)
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {REFERENCE_VENV} with {' '.join(REFERENCE_PACKAGES)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REFERENCE_PACKAGES], check=True)
    return python


def compare(python: Path, feature_size: int = 48, size: int = 64, seed: int = 0) -> dict:
    """Max |difference| of outputs: legacy vs 1.4.0, today's merging vs 1.4.0 (same weights, input)."""
    import torch
    from monai.networks.nets import SwinUNETR

    from medvit.brats import LegacyPatchMerging

    torch.manual_seed(seed)
    legacy = SwinUNETR(in_channels=4, out_channels=3, feature_size=feature_size, downsample=LegacyPatchMerging).eval()
    current = SwinUNETR(in_channels=4, out_channels=3, feature_size=feature_size).eval()
    current.load_state_dict(legacy.state_dict())  # same parameters: merging has no weights of its own
    x = torch.randn(1, 4, size, size, size, generator=torch.Generator().manual_seed(seed + 1))
    with tempfile.TemporaryDirectory() as tmp:
        state, inputs, out = Path(tmp, "state.pt"), Path(tmp, "x.pt"), Path(tmp, "y.pt")
        torch.save(legacy.state_dict(), state)
        torch.save(x, inputs)
        subprocess.run([str(python), "-c", REFERENCE_SCRIPT, str(state), str(inputs), str(out), str(feature_size)],
                       check=True)
        reference = torch.load(out)
    with torch.no_grad():
        ours, today = legacy(x), current(x)
    return {
        "legacy_vs_monai140": float((ours - reference).abs().max()),
        "current_vs_monai140": float((today - reference).abs().max()),
        "output_scale": float(reference.abs().max()),
        "parameters": sum(p.numel() for p in legacy.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", help="a Python with monai==1.4.0 (default: make .bench/monai14)")
    parser.add_argument("--feature-size", type=int, default=48)
    parser.add_argument("--size", type=int, default=64, help="input cube side (multiple of 32, ≥ 64)")
    args = parser.parse_args()
    python = reference_python(args.reference_python)
    start = time.perf_counter()
    result = compare(python, args.feature_size, args.size)
    print(f"SwinUNETR(4 -> 3, feature_size={args.feature_size}, {result['parameters'] / 1e6:.1f} M parameters), "
          f"input 1×4×{args.size}³, random weights (seed 0)")
    print(f"max |LegacyPatchMerging on MONAI today - monai 1.4.0| = {result['legacy_vs_monai140']:.3g}")
    print(f"max |default merging on MONAI today    - monai 1.4.0| = {result['current_vs_monai140']:.3g}")
    print(f"(outputs up to {result['output_scale']:.3g}; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
