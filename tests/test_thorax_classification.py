"""Chest X-ray cohort classification: phantoms as PNG, pydicom's MONOCHROME1 CR, a bad file."""

import shutil

import numpy as np
import pandas as pd
import pytest

from medvit.data import pydicom_sample
from medvit.thorax.phantoms import CHESTXRAY14_LABELS, write_cxr_phantoms
from medvit.io import read_image

TINY = {"name": "vit_tiny_patch16"}


def test_cohort_writes_probabilities_and_saliency_on_the_radiographs_grid(tmp_path):
    from medvit.thorax.classify import run_cxr_cohort

    images = tmp_path / "cxr"
    write_cxr_phantoms(images, count=2)
    (images / "labels.csv").unlink()
    shutil.copy(pydicom_sample("cr_monochrome1"), images / "cr_export")  # a PACS export: DICOM, no suffix
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    table = run_cxr_cohort(images, tmp_path / "out", network=TINY, saliency=True, progress=False)
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(table["image"]) == ["broken.png", "cr_export", "phantom_00000.png", "phantom_00001.png"]
    broken, cr = table.iloc[0], table.iloc[1]
    assert broken["status"] == "error" and "broken.png" in broken["error"]
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
