"""The bundle's network path: train.json on an image+mask folder, then inference and evaluate with the weights."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from medvit.bundle.registry import bundles_root
from medvit.bundle.workflow import bundle_component, load_network
from medvit.errors import MedvitError
from medvit.pvbm.network import load_vessel_weights, vessel_unet
from tests.fundus_masks import sato_mask

BUNDLE = bundles_root() / "pvbm_vessel_biomarkers"
TINY = ["--network_args#channels", "[8,16,32]", "--network_args#strides", "[2,2]"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """DRIVE-style folders: the real photo and its upside-down copy, with Sato masks as labels."""
    root = tmp_path_factory.mktemp("drive")
    (root / "images").mkdir(), (root / "masks").mkdir()
    photo, mask = skimage.data.retina(), sato_mask(92, 1)
    for name, flip in (("eye", lambda a: a), ("eye_up", lambda a: a[::-1])):
        Image.fromarray(np.ascontiguousarray(flip(photo))).save(root / "images" / f"{name}.png")
        Image.fromarray(np.ascontiguousarray(flip(mask)).astype(np.uint8) * 255).save(root / "masks" / f"{name}.png")
    return root


def bundle_run(*args, timeout=900):
    command = [sys.executable, "-m", "monai.bundle", "run", *args]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_scores_the_classical_segmentation(labelled, tmp_path):
    bundle_run("--config_file", "['configs/inference.json','configs/evaluate.json']", "--dataset_dir", str(labelled),
               "--output_dir", str(tmp_path), "--progress", "False")
    rows = read_csv(tmp_path / "segmentation_metrics.csv")
    assert [r["image"] for r in rows] == ["eye.png", "eye_up.png"]
    assert all(0.6 < float(r["dice"]) < 0.95 and 0.6 < float(r["cldice"]) < 0.95 for r in rows)
    summary = {r["metric"]: r for r in read_csv(tmp_path / "segmentation_summary.csv")}
    assert summary["dice"]["n"] == "2"
    assert float(summary["dice"]["mean"]) == pytest.approx(np.mean([float(r["dice"]) for r in rows]), rel=1e-5)


def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(vessel_unet(1, channels=(8, 16, 32), strides=(2, 2)).state_dict(), path)
    with pytest.raises(MedvitError, match="does not fit UNet.*trained with"):
        bundle_component(BUNDLE, "network", segmentation="network", load_pretrain=True, ckpt_path=str(path))
    (tmp_path / "junk.pt").write_text("no weights here")
    with pytest.raises(MedvitError, match="cannot read the checkpoint"):
        bundle_component(BUNDLE, "network", segmentation="network", load_pretrain=True,
                         ckpt_path=str(tmp_path / "junk.pt"))


def test_artery_vein_network_gives_three_masks(tmp_path):
    path = tmp_path / "av.pt"
    torch.save({"model": vessel_unet(3, channels=(8, 16, 32), strides=(2, 2)).state_dict()}, path)
    Image.fromarray(skimage.data.retina()[:256, :384].copy()).save(tmp_path / "photo.png")
    predictor = bundle_component(BUNDLE, "predictor", segmentation="network", load_pretrain=True, ckpt_path=str(path),
                                 biomarkers=False, **{"network_args#out_channels": 3, "network_args#channels": [8, 16, 32],
                                                      "network_args#strides": [2, 2]})
    masks = predictor.process(str(tmp_path / "photo.png"))["masks"]
    assert masks.has_av and masks.vessels.shape == (256, 384)
    assert np.array_equal(masks.vessels, masks.vessels | masks.arteries | masks.veins)


@pytest.mark.slow
def test_train_then_infer_and_evaluate_with_the_weights(labelled, tmp_path):
    """train.json runs on the folders and saves models/model.pt; with it present, inference.json
    and evaluate.json switch to the network (the checkpoint's hash goes to the provenance)."""
    root = tmp_path / "bundle"
    result = bundle_run("--config_file", "configs/train.json", "--dataset_dir", str(labelled), "--bundle_root", str(root),
                        "--max_epochs", "10", "--val_interval", "5", "--patch_size", "[128,128]", "--patches_per_image", "4",
                        "--num_workers", "0", *TINY)
    losses = [float(line.rsplit("train_loss:", 1)[1]) for line in (result.stdout + result.stderr).splitlines()
              if "train_loss:" in line]
    assert len(losses) == 10 and np.mean(losses[-3:]) < np.mean(losses[:3])  # it learns
    assert (root / "models" / "model.pt").is_file()
    config = BUNDLE / "configs"
    bundle_run("--config_file", str(config / "inference.json"), "--bundle_root", str(root), "--dataset_dir",
               str(labelled / "images"), "--output_dir", str(tmp_path / "out"), "--progress", "False",
               "--fractal#n_rotations", "3", *TINY)
    rows = read_csv(tmp_path / "out" / "biomarkers.csv")
    assert [r["segmentation"] for r in rows] == ["network", "network"], rows[0]["error"]
    assert "checkpoint_sha256" in (tmp_path / "out" / "biomarkers.provenance.json").read_text()


@pytest.mark.slow
def test_multi_gpu_train_runs_under_torchrun(labelled, tmp_path):
    """multi_gpu_train.json on 2 processes (gloo on CPU, nccl on GPUs): DDP, DistributedSampler,
    checkpoint saved by rank 0 and loadable without the DDP wrapper."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(labelled, data)
    for folder in ("images", "masks"):  # 4 images: each rank needs a train and a val item
        for path in list((data / folder).iterdir()):
            shutil.copy(path, path.with_name(f"{path.stem}_copy.png"))
    root = tmp_path / "bundle"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "monai.bundle", "run", "--config_file", "['configs/train.json','configs/multi_gpu_train.json']",
               "--dataset_dir", str(data), "--bundle_root", str(root), "--max_epochs", "2", "--val_interval", "1",
               "--val_fraction", "0.5", "--patch_size", "[128,128]", "--patches_per_image", "4", "--num_workers", "0", *TINY]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    load_network(vessel_unet(1, channels=[8, 16, 32], strides=[2, 2]), root / "models" / "model.pt", loader=load_vessel_weights)
