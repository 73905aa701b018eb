"""The bundle's network path: train.json on an image+mask folder, then inference and evaluate with the weights."""

import csv
import json
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
                                 biomarkers=False, check_fundus=False, **{"network_args#out_channels": 3, "network_args#channels": [8, 16, 32],
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


# -- the config is what runs (issue 15) -----------------------------------------------------------

NAME = "pvbm_vessel_biomarkers"
TINY_UNET = {"network_args#channels": [4, 8], "network_args#strides": [2]}
CONTRACT = ["disc_x", "disc_y", "disc_radius", "area", "length", "perimeter", "tortuosity_index", "median_tortuosity",
            "median_branching_angle", "start_points", "end_points", "intersection_points", "D0", "D1", "D2",
            "singularity_length"]


@pytest.fixture(scope="module")
def small_case(tmp_path_factory):
    """The real photo at 256², its mirror in a sub-folder, and a tiny U-Net checkpoint (channels [4, 8])."""
    folder = tmp_path_factory.mktemp("pvbm")
    (folder / "photos" / "site_b").mkdir(parents=True)
    photo = Image.fromarray(skimage.data.retina()).resize((256, 256), Image.Resampling.LANCZOS)
    photo.save(folder / "photos" / "retina.png")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "photos" / "site_b" / "retina.png")
    torch.manual_seed(0)
    torch.save(vessel_unet(1, channels=[4, 8], strides=[2]).state_dict(), folder / "unet.pt")
    return folder


def _settings(case, out, **overrides):
    return {"dataset_dir": str(case / "photos"), "output_dir": str(out), "segmentation": "network", "load_pretrain": True,
            "ckpt_path": str(case / "unet.pt"), "progress": False, "device": "cpu", "fractal#n_rotations": 3,
            **TINY_UNET, **overrides}


def _run(case, out, **overrides):
    from medvit.bundle.run import run_config

    return run_config(BUNDLE, "inference.json", **_settings(case, out, **overrides))


def test_the_network_inferer_and_device_of_the_config_are_what_runs(small_case, tmp_path):
    from tests.bundle_checks import architecture, provenance

    tiny = _run(small_case, tmp_path / "tiny")
    _run(small_case, tmp_path / "deeper", load_pretrain=False,
         **{"network_args#channels": [4, 8, 16], "network_args#strides": [2, 2]})
    windows = _run(small_case, tmp_path / "windows", **{"inferer#roi_size": [64, 64], "inferer#overlap": 0.5})
    _run(small_case, tmp_path / "classical", segmentation="classical")
    recorded = {name: provenance(tmp_path / name / "biomarkers.csv") for name in ("tiny", "deeper", "windows", "classical")}
    for name, args in (("tiny", TINY_UNET), ("deeper", {"network_args#channels": [4, 8, 16], "network_args#strides": [2, 2]})):
        _, shapes = architecture(NAME, "inference.json", segmentation="network", **args)
        assert recorded[name]["parameters"] == sum(np.prod(s) for s in shapes.values()), name
    assert recorded["deeper"]["parameters"] > recorded["tiny"]["parameters"]
    assert recorded["tiny"]["network"] == "UNet" and "checkpoint_sha256" in recorded["tiny"]
    assert recorded["tiny"]["network_device"] == "cpu" and recorded["tiny"]["device"] == "cpu"
    assert recorded["tiny"]["inferer"] == {"class": "SlidingWindowInferer", "roi_size": [512, 512], "overlap": 0.25,
                                           "sw_batch_size": 1, "mode": "gaussian"}
    assert recorded["windows"]["inferer"]["roi_size"] == [64, 64] and recorded["windows"]["inferer"]["overlap"] == 0.5
    # 64-px windows see less of the photo than one padded 512² window: other logits, other vessels
    assert not np.allclose(tiny["area"], windows["area"])
    # the classical segmentation is the network without weights, given the whole photo at once
    assert recorded["classical"]["network"] == "ClassicalVesselSegmenter" and recorded["classical"]["parameters"] == 0
    assert recorded["classical"]["inferer"]["roi_size"] == [-1, -1]
    assert "checkpoint_sha256" not in recorded["classical"]


def test_monai_label_style_run_of_the_components_gives_the_bundles_row(small_case, tmp_path):
    from tests.bundle_checks import predict_by_hand

    table = _run(small_case, tmp_path / "out")
    for image in ("retina.png", "site_b/retina.png"):
        data = predict_by_hand(NAME, str(small_case / "photos" / image), **_settings(small_case, tmp_path / "hand"))
        row = table[table["image"] == image].iloc[0]
        assert data["pred"].shape == (1, 256, 256) and set(np.unique(np.asarray(data["pred"]))) <= {0.0, 1.0}
        assert np.allclose([data["row"][key] for key in CONTRACT], row[CONTRACT].to_numpy(dtype=float), equal_nan=True)
        assert data["row"]["segmentation"] == row["segmentation"] == "network"


def test_a_preprocessing_override_changes_what_runs(small_case, tmp_path):
    """Without the (x, y) → (row, col) transpose the photo is measured transposed: the disc's x and y swap."""
    default = _run(small_case, tmp_path / "default", segmentation="classical")
    other = _run(small_case, tmp_path / "other", segmentation="classical",
                 **{"preprocessing#transforms#2#indices": [0, 1, 2]})
    assert np.allclose(default["disc_x"], other["disc_y"], atol=3) and np.allclose(default["disc_y"], other["disc_x"], atol=3)
    assert default["settings_hash"].iloc[0] != other["settings_hash"].iloc[0]  # and resuming knows it


def test_inference_train_and_evaluate_build_the_same_network():
    from tests.bundle_checks import architecture

    reference = architecture(NAME, "inference.json", segmentation="network")
    assert reference[0] == "UNet"
    assert architecture(NAME, "train.json") == reference
    assert architecture(NAME, "evaluate.json", segmentation="network") == reference
    assert architecture(NAME, "inference.json")[0] == "ClassicalVesselSegmenter"  # no models/model.pt


def test_the_metadata_shapes_fit_both_segmenters_at_full_size():
    """``verify_net_in_out`` with its default n=1 on the full-size U-Net and on the classical segmenter."""
    from monai.bundle import verify_net_in_out

    for segmentation in ("network", "classical"):
        verify_net_in_out(net_id="network_def", meta_file=str(BUNDLE / "configs" / "metadata.json"),
                          config_file=str(BUNDLE / "configs" / "inference.json"), device="cpu",
                          bundle_root=str(BUNDLE), segmentation=segmentation)


def test_command_line_overrides_take_effect(small_case, tmp_path):
    from tests.bundle_checks import architecture, provenance, run_cli

    run_cli(NAME, dataset_dir=str(small_case / "photos"), output_dir=str(tmp_path), segmentation="network",
            load_pretrain=False, progress=False, **{**TINY_UNET, "fractal#n_rotations": 3, "inferer#roi_size": [64, 64],
                                                    "inferer#overlap": 0.5, "preprocessing#transforms#2#indices": [0, 1, 2]})
    recorded = provenance(tmp_path / "biomarkers.csv")
    assert recorded["inferer"]["roi_size"] == [64, 64] and recorded["inferer"]["overlap"] == 0.5
    _, shapes = architecture(NAME, "inference.json", segmentation="network", **TINY_UNET)
    assert recorded["parameters"] == sum(np.prod(s) for s in shapes.values())
    config = json.loads((tmp_path / "biomarkers.provenance.json").read_text())["settings"]["config"]
    assert config["preprocessing"]["transforms"][2]["indices"] == [0, 1, 2] and config["fractal"] == {"n_rotations": 3}
    assert [row["status"] for row in read_csv(tmp_path / "biomarkers.csv")] == ["ok", "ok"]
