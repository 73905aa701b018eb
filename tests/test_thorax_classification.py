"""Chest X-ray cohort classification: phantoms as PNG and as a MONOCHROME1 CR, pydicom's 16×16 CR, a bad file."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from medvit.data import pydicom_sample
from medvit.thorax.phantoms import CHESTXRAY14_LABELS, write_cxr_dicom, write_cxr_phantoms
from medvit.io import read_image

TINY = {"name": "vit_tiny_patch16"}


def test_cohort_writes_probabilities_and_saliency_on_the_radiographs_grid(tmp_path):
    from medvit.thorax.classify import run_cxr_cohort

    images = tmp_path / "cxr"
    write_cxr_phantoms(images, count=2)
    (images / "labels.csv").unlink()
    write_cxr_dicom(images / "cr_export", seed=7, size=512)  # a PACS export: DICOM, no suffix
    shutil.copy(pydicom_sample("cr_monochrome1"), images / "cr_16px.dcm")  # pydicom's 16×16 px CR: a thumbnail
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    table = run_cxr_cohort(images, tmp_path / "out", network=TINY, saliency=True, progress=False)
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(table["image"]) == ["broken.png", "cr_16px.dcm", "cr_export", "phantom_00000.png", "phantom_00001.png"]
    broken, tiny, cr = table.iloc[0], table.iloc[1], table.iloc[2]
    assert broken["status"] == "error" and "broken.png" in broken["error"]
    # too small for the network's 224×224 input: refused with the file and its size, no probabilities
    assert tiny["status"] == "error" and "cr_16px.dcm: the radiograph is 16×16 px" in tiny["error"]
    assert "224" in tiny["error"] and tiny[list(CHESTXRAY14_LABELS)].isna().all()
    ok = table[table["status"] == "ok"]
    assert len(ok) == 3
    probabilities = ok[list(CHESTXRAY14_LABELS)].to_numpy()
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert cr["inverted_monochrome1"] and (ok["weights"] == "random (no checkpoint)").all()
    radiograph, _ = read_image(images / "cr_export")
    saliency, _ = read_image(tmp_path / "out" / cr["saliency"])
    assert saliency.shape == radiograph.shape and saliency.dtype == np.uint8 and saliency.max() > 200


def test_a_pretraining_checkpoint_is_refused_for_inference(tmp_path):
    import torch

    from medvit.thorax.classify import classify_cxr
    from medvit.errors import MedvitError
    from medvit.nets import build_mae
    from medvit.nets.vit_checkpoints import medvit_to_timm

    torch.save({"model": medvit_to_timm(build_mae("vit_tiny_patch16").state_dict())}, tmp_path / "mae.pth")
    write_cxr_phantoms(tmp_path / "cxr", count=1)
    with pytest.raises(MedvitError, match="mae.pth: not a fine-tuned classifier"):
        classify_cxr(str(tmp_path / "cxr" / "phantom_00000.png"), output_dir=str(tmp_path), network=TINY,
                     checkpoint=str(tmp_path / "mae.pth"))


# -- the config is what runs (issue 15) -----------------------------------------------------------

BUNDLE = "mae_thorax_classification"


@pytest.fixture(scope="module")
def thorax_case(tmp_path_factory):
    """Two phantoms, one more as a MONOCHROME1 CR, and a fine-tuned-classifier checkpoint of a tiny ViT."""
    import torch

    from medvit.nets import build_vit

    folder = tmp_path_factory.mktemp("thorax")
    write_cxr_phantoms(folder / "cxr", count=2)
    (folder / "cxr" / "labels.csv").rename(folder / "labels.csv")
    write_cxr_dicom(folder / "cxr" / "cr_export", seed=7, size=512)
    torch.manual_seed(0)
    torch.save(build_vit("vit_toy_patch16", num_classes=14, global_pool=True).state_dict(), folder / "model.pt")
    return folder


def _run(case, out, **overrides):
    from medvit.bundle.run import run_config
    from tests.bundle_checks import bundle_dir

    settings = {"dataset_dir": str(case / "cxr"), "output_dir": str(out), "ckpt_path": str(case / "model.pt"),
                "network_args#name": "vit_toy_patch16", "progress": False, "saliency": False, "device": "cpu"}
    return run_config(bundle_dir(BUNDLE), "inference.json", **{**settings, **overrides})


def test_the_network_inferer_and_device_of_the_config_are_what_runs(thorax_case, tmp_path):
    from tests.bundle_checks import architecture, provenance

    _run(thorax_case, tmp_path / "toy")
    _run(thorax_case, tmp_path / "tiny", load_pretrain=False, **{"network_args#name": "vit_tiny_patch16"})
    flipped = _run(thorax_case, tmp_path / "flipped", inferer={"_target_": "tests.bundle_checks.FlippedInferer"})
    toy, tiny = provenance(tmp_path / "toy" / "predictions.csv"), provenance(tmp_path / "tiny" / "predictions.csv")
    _, toy_shapes = architecture(BUNDLE, "inference.json", **{"network_args#name": "vit_toy_patch16"})
    _, tiny_shapes = architecture(BUNDLE, "inference.json", **{"network_args#name": "vit_tiny_patch16"})
    assert toy["parameters"] == sum(np.prod(s) for s in toy_shapes.values())
    assert tiny["parameters"] == sum(np.prod(s) for s in tiny_shapes.values()) > toy["parameters"]
    assert toy["network"] == "ViT" and toy["network_device"] == "cpu" and toy["device"] == "cpu"
    assert toy["inferer"] == {"class": "SimpleInferer"}
    # a classifier's (B, C) output takes no sliding windows: a user changes its inference by
    # swapping the inferer, and the run uses the swapped one (the probabilities change)
    assert provenance(tmp_path / "flipped" / "predictions.csv")["inferer"] == {"class": "FlippedInferer"}
    default = pd.read_csv(tmp_path / "toy" / "predictions.csv")
    assert (flipped["status"] == "ok").all() and (default["status"] == "ok").all()
    assert not np.allclose(default[list(CHESTXRAY14_LABELS)], flipped[list(CHESTXRAY14_LABELS)])


def test_monai_label_style_run_of_the_components_gives_the_bundles_prediction(thorax_case, tmp_path):
    from tests.bundle_checks import predict_by_hand

    table = _run(thorax_case, tmp_path / "out")
    settings = {"ckpt_path": str(thorax_case / "model.pt"), "network_args#name": "vit_toy_patch16", "saliency": False,
                "device": "cpu", "dataset_dir": str(thorax_case / "cxr"), "output_dir": str(tmp_path / "hand")}
    for image in ("cr_export", "phantom_00001.png"):
        data = predict_by_hand(BUNDLE, str(thorax_case / "cxr" / image), **settings)
        row = table[table["image"] == image].iloc[0]
        by_hand = np.asarray(data["pred"]).reshape(-1)
        assert np.allclose(by_hand, row[list(CHESTXRAY14_LABELS)].to_numpy(dtype=float), atol=1e-6)
        assert data["row"]["top_finding"] == row["top_finding"]


def test_a_preprocessing_override_changes_what_runs(thorax_case, tmp_path):
    table = _run(thorax_case, tmp_path / "default")
    other = _run(thorax_case, tmp_path / "other", **{"preprocessing#transforms#5#divisor": 0.05})
    assert (table["status"] == "ok").all() and (other["status"] == "ok").all()
    assert not np.allclose(table[list(CHESTXRAY14_LABELS)], other[list(CHESTXRAY14_LABELS)])
    assert table["settings_hash"].iloc[0] != other["settings_hash"].iloc[0]  # and resuming knows it


def test_inference_train_and_evaluate_build_the_same_network():
    from tests.bundle_checks import architecture

    reference = architecture(BUNDLE, "inference.json")
    assert architecture(BUNDLE, "train.json") == reference
    assert architecture(BUNDLE, "evaluate.json") == reference


def test_command_line_overrides_take_effect(thorax_case, tmp_path):
    from tests.bundle_checks import provenance, run_cli

    run_cli(BUNDLE, dataset_dir=str(thorax_case / "cxr"), output_dir=str(tmp_path), load_pretrain=False,
            progress=False, saliency=False, **{"network_args#name": "vit_toy_patch16",
                                                "network_def#global_pool": False,
                                                "preprocessing#transforms#5#divisor": 0.5,
                                                "inferer#_target_": "tests.bundle_checks.FlippedInferer"})
    recorded = provenance(tmp_path / "predictions.csv")
    assert recorded["inferer"] == {"class": "FlippedInferer"} and recorded["network"] == "ViT"
    settings = json.loads((tmp_path / "predictions.provenance.json").read_text())["settings"]["config"]
    assert settings["preprocessing"]["transforms"][5]["divisor"] == 0.5 and settings["network_def"]["global_pool"] is False
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert len(table) == 3 and (table["status"] == "ok").all()


def test_the_configs_preprocessing_equals_the_training_pipelines_input(thorax_case):
    """What inference.json feeds the network is what training fed it (``cxr_network_input`` of the
    display intensities), for 8-bit PNG phantoms (scaled by bit depth, not stretched) and a
    MONOCHROME1 CR (VOI window): a drift here silently costs accuracy."""
    from medvit.thorax.transforms import cxr_display_intensity, cxr_network_input
    from tests.bundle_checks import components

    preprocessing = components(BUNDLE, dataset_dir=str(thorax_case / "cxr"), load_pretrain=False,
                               **{"network_args#name": "vit_toy_patch16"})["preprocessing"]
    for name in ("phantom_00000.png", "cr_export"):
        path = thorax_case / "cxr" / name
        image, meta = read_image(path)
        expected = np.asarray(cxr_network_input(cxr_display_intensity(image, meta), 3))
        np.testing.assert_array_equal(np.asarray(preprocessing({"image": str(path)})["image"]), expected)
