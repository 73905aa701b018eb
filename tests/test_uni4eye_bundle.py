"""The Uni4Eye bundle end to end on synthetic fundus / OCT items: pretrain.json (2D and 3D
batches, both losses logged), train.json from the pre-trained encoder, inference.json and
evaluate.json; and (slow) pre-training that helps a small 3D classification task."""

import csv
import logging
import os
import time
import warnings

import numpy as np
import pytest
import torch

from medvit.bundle.registry import bundles_root
from medvit.data.ophthalmic import write_ophthalmic_dataset
from medvit.ophthalmic.training import loss_trend

BUNDLE = bundles_root() / "uni4eye_ophthalmic_mim"
TINY_NET = {"in_channels": 1, "img_size_2d": 32, "img_size_3d": [32, 32, 16], "patch_size": 8, "hidden_size": 48,
            "num_layers": 2, "num_heads": 3}
TINY_DECODER = {"decoder_hidden_size": 32, "decoder_num_layers": 1, "decoder_num_heads": 4}


def bundle_run(configs, **overrides):
    from monai.bundle import run

    files = [str(BUNDLE / "configs" / c) for c in configs]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="parsing config_file", category=UserWarning)
        logging.disable(logging.INFO)
        try:
            run(config_file=files if len(files) > 1 else files[0], **{"bundle_root": str(BUNDLE), **overrides})
        finally:
            logging.disable(logging.NOTSET)


def test_pretrain_finetune_infer_evaluate(tmp_path):
    data = write_ophthalmic_dataset(tmp_path / "data", n_fundus=4, n_bscans=4, n_volumes=6, size_2d=48,
                                    shape_3d=(48, 48, 24)).parent
    bundle = tmp_path / "bundle"
    bundle_run(["pretrain.json"], bundle_root=str(bundle), dataset_dir=str(data), output_dir=str(tmp_path / "log"),
               network_args=TINY_NET, decoder_args=TINY_DECODER, max_epochs=2, warmup_epochs=1, batch_size_2d=4,
               batch_size_3d=2, num_workers=0)
    with open(tmp_path / "log" / "pretrain_losses.csv", newline="") as fh:
        steps = list(csv.DictReader(fh))
    # 8 2D items in batches of 4, 6 volumes in batches of 2: 2 + 3 steps per epoch, interleaved
    assert [int(s["spatial_dims"]) for s in steps[:5]] == [2, 3, 2, 3, 3]
    assert len(steps) == 10 and all(float(s["loss_gradient"]) > 0 for s in steps)
    assert (bundle / "models" / "pretrained.pt").is_file()

    bundle_run(["train.json"], bundle_root=str(bundle), dataset_dir=str(data), network_args=TINY_NET, max_epochs=1,
               val_interval=1, warmup_epochs=1, batch_size=2, num_workers=0)
    checkpoint = bundle / "models" / "model.pt"
    pretrained = torch.load(bundle / "models" / "pretrained.pt", map_location="cpu")
    finetuned = torch.load(checkpoint, map_location="cpu")
    assert "head.weight" in finetuned and "patch_embed_3d.proj.weight" in finetuned
    assert "encoder.patch_embed_3d.proj.weight" in pretrained  # the pre-training model, encoder and decoders

    bundle_run(["inference.json", "evaluate.json"], dataset_dir=str(data), output_dir=str(tmp_path / "eval"),
               ckpt_path=str(checkpoint), network_args=TINY_NET, progress=False)
    with open(tmp_path / "eval" / "metrics.csv", newline="") as fh:
        metrics = next(csv.DictReader(fh))
    assert int(metrics["n"]) == 6 and 0 <= float(metrics["accuracy"]) <= 1
    with open(tmp_path / "eval" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(r["status"] == "ok" and r["weights"] == "model.pt" for r in rows)
