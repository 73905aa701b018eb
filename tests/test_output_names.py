"""Per-case output files are named after the input's path below the cohort folder: inputs with the
same stem in two folders, or with two suffixes, never share (or overwrite) an output (issue 17, item 1).

BraTS writes into one folder per case folder (unique names by construction), CMRxRecon mirrors the
input tree, Uni4Eye writes no per-case files; the thorax saliency maps and the PVBM overlays are
named per input, checked here."""

import numpy as np
import pandas as pd
from PIL import Image

from medvit.data import fundus_photo
from medvit.io import read_image
from medvit.thorax.phantoms import cxr_phantom

SAME_STEMS = ("siteA/chest.png", "siteA/chest.jpg", "siteB/chest.png")


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_thorax_saliency_maps_of_same_stem_inputs_are_three_files(tmp_path):
    from medvit.thorax.classify import run_cxr_cohort

    for k, name in enumerate(SAME_STEMS):  # three sizes: each map must be on its own radiograph's grid
        image, _ = cxr_phantom(seed=k, size=240 + 40 * k)  # ≥ 224 px: the network's input
        _write(tmp_path / "cxr" / name, (np.clip(image, 0, 1) * 255).astype(np.uint8))
    table = run_cxr_cohort(tmp_path / "cxr", tmp_path / "out", network={"name": "vit_toy_patch16"}, saliency=True,
                           progress=False, device="cpu")
    assert (table["status"] == "ok").all() and table["saliency"].nunique() == 3
    for _, row in table.iterrows():
        radiograph, _ = read_image(tmp_path / "cxr" / row["image"])
        saliency, _ = read_image(tmp_path / "out" / row["saliency"])
        assert saliency.shape == radiograph.shape[:2]


def test_pvbm_overlays_of_same_stem_photos_are_three_files(tmp_path):
    from medvit.pvbm.cohort import run_biomarker_cohort

    photo = fundus_photo_array()
    for k, name in enumerate(SAME_STEMS):
        _write(tmp_path / "photos" / name.replace("chest", "retina"), photo[k * 8:, k * 8:])
    run_biomarker_cohort(tmp_path / "photos", tmp_path / "out" / "biomarkers.csv", overlay_dir=tmp_path / "overlays",
                         progress=False)
    overlays = sorted(p.relative_to(tmp_path / "overlays").as_posix() for p in (tmp_path / "overlays").rglob("*.png"))
    assert overlays == ["siteA/retina_jpg_overlay.png", "siteA/retina_png_overlay.png", "siteB/retina_png_overlay.png"]
    table = pd.read_csv(tmp_path / "out" / "biomarkers.csv")
    assert (table["status"] == "ok").all()


def fundus_photo_array():
    """The real fundus photograph, reduced to 360² (the vessel tree still measurable)."""
    image = Image.open(fundus_photo())
    return np.asarray(image.convert("RGB").resize((360, 360), Image.LANCZOS))
