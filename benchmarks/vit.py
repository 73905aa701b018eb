"""medvit's ViT beside timm's ``VisionTransformer``: same weights, same images, one run.

    /tmp/timmenv/bin/python benchmarks/vit.py [--batch 32] [--repeats 5] [--threads N]

timm needs torchvision, which medvit's install does not have; run this in a separate
environment made once with

    python3 -m venv /tmp/timmenv
    /tmp/timmenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm pytest
    /tmp/timmenv/bin/pip install -e .

For ViT-S/16 and ViT-B/16 with 14 outputs and global pooling (medical_mae's fine-tuning
layout), timm's random weights are saved as a ``{"model": ...}`` checkpoint, loaded with
``medvit.nets.load_checkpoint`` and both networks run on the same batch: the largest logit
difference, forward seconds per batch (median of ``--repeats`` after a warm-up, the two
networks alternating so that drift in the machine's load hits both alike), the throughput
ratio medvit / timm (images/s; the issue asks ≥ 0.95), and the memory each forward's
operators allocate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

ARCHITECTURES = {"vit_small_patch16": (384, 6), "vit_base_patch16": (768, 12)}


def seconds_per_forward(models: list[torch.nn.Module], images: torch.Tensor, repeats: int) -> list[float]:
    """Median seconds per forward of each model, the models taking turns."""
    times = [[] for _ in models]
    with torch.no_grad():
        for model in models:
            model(images)
        for _ in range(repeats):
            for model, spent in zip(models, times):
                start = time.perf_counter()
                model(images)
                spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def allocated_mb(model: torch.nn.Module, images: torch.Tensor) -> float:
    """Total memory the forward's operators allocate (torch profiler, self CPU memory summed
    over operators): a like-for-like measure of the two implementations' temporaries."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(images)
    return sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages()) / 2**20


def main() -> None:
    import timm
    from timm.models.vision_transformer import VisionTransformer

    from medvit.nets import build_vit, load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--only", choices=list(ARCHITECTURES), help="one architecture")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}×3×224×224, 14 outputs, global pooling")
    images = torch.randn(args.batch, 3, 224, 224)
    for name, (width, heads) in ARCHITECTURES.items():
        if args.only and name != args.only:
            continue
        torch.manual_seed(0)
        reference = VisionTransformer(embed_dim=width, depth=12, num_heads=heads, global_pool="avg", num_classes=14)
        reference.eval()
        with tempfile.TemporaryDirectory() as tmp:
            torch.save({"model": reference.state_dict()}, Path(tmp) / "checkpoint.pth")
            model = build_vit(name, num_classes=14).eval()
            load_checkpoint(model, Path(tmp) / "checkpoint.pth")
        with torch.no_grad():
            difference = (model(images) - reference(images)).abs().max().item()
        ours, theirs = seconds_per_forward([model, reference], images, args.repeats)
        print(f"{name}: max |logit difference| {difference:.2e}; forward medvit {ours:.3f} s, timm {theirs:.3f} s, "
              f"throughput ratio medvit/timm {theirs / ours:.3f}; allocated during forward: medvit "
              f"{allocated_mb(model, images):.0f} MB, timm {allocated_mb(reference, images):.0f} MB", flush=True)


if __name__ == "__main__":
    main()
