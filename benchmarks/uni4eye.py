"""Uni4Eye's shared encoder beside the MAE bundle's ViT of the same depth and width.

    .venv/bin/python benchmarks/uni4eye.py [--name vit_base_patch16] [--batch-2d 8] [--batch-3d 1] [--repeats 3]

``UnifiedViT`` is a subclass of ``medvit.nets.ViT`` (same blocks, same code path); this
measures that it costs the same: encoder tokens per second (forward, no grad) on a 2D batch
(224²: 196 tokens per image) and a 3D batch (224 × 224 × 112: 1,372 tokens per volume), each
next to the plain ViT built for that grid (``ViT(spatial_dims=3)`` for volumes), the ratio
Uni4Eye / ViT, and the memory a forward over the 3D batch allocates (torch profiler, as
``benchmarks/vit.py``) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource

import torch

from benchmarks.vit import allocated_mb, seconds_per_forward
from medvit.nets import UnifiedViT, ViT
from medvit.nets.vit import ARCHITECTURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="vit_base_patch16", choices=list(ARCHITECTURES))
    parser.add_argument("--batch-2d", type=int, default=8)
    parser.add_argument("--batch-3d", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, depth, heads = ARCHITECTURES[args.name]
    shape = {"hidden_size": width, "num_layers": depth, "num_heads": heads}
    torch.manual_seed(0)
    unified = UnifiedViT(in_channels=1, **shape).eval()
    plain = {2: ViT(1, 224, 16, **shape).eval(), 3: ViT(1, (224, 224, 112), 16, **shape, spatial_dims=3).eval()}
    for dims, model in plain.items():  # the same weights: the blocks and this grid's embedding
        state = {k: v for k, v in unified.state_dict().items() if not k.endswith("_3d") and "_3d." not in k}
        if dims == 3:
            state.update({"patch_embed.proj.weight": unified.patch_embed_3d.proj.weight,
                          "patch_embed.proj.bias": unified.patch_embed_3d.proj.bias, "pos_embed": unified.pos_embed_3d})
        model.load_state_dict(state)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.name} encoder (width {width}, "
          f"{depth} blocks), forward without grad")
    for dims, batch in ((2, torch.randn(args.batch_2d, 1, 224, 224)), (3, torch.randn(args.batch_3d, 1, 224, 224, 112))):
        with torch.no_grad():
            difference = (unified.forward_features(batch) - plain[dims].forward_features(batch)).abs().max().item()
        tokens = batch.shape[0] * (196 if dims == 2 else 1372)
        ours, theirs = seconds_per_forward([unified, plain[dims]], batch, args.repeats)
        print(f"{dims}D batch {tuple(batch.shape)}: Uni4Eye {tokens / ours:.0f} tokens/s, ViT {tokens / theirs:.0f} "
              f"tokens/s, ratio Uni4Eye/ViT time {ours / theirs:.3f}; max |feature difference| {difference:.1e}",
              flush=True)
    volume = torch.randn(args.batch_3d, 1, 224, 224, 112)
    print(f"3D batch {tuple(volume.shape)}: allocated during forward {allocated_mb(unified, volume):.0f} MB "
          f"(ViT {allocated_mb(plain[3], volume):.0f} MB); peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
