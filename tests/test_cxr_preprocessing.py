"""Chest X-ray preprocessing (DICOM CR with MONOCHROME1, 8/16-bit PNG) and the CXR phantoms."""

import numpy as np
import pytest

from medvit.data import pydicom_sample
from medvit.thorax.phantoms import CHESTXRAY14_LABELS, PHANTOM_FINDINGS, cxr_phantom, write_cxr_phantoms
from medvit.errors import MedvitError
from medvit.io import read_image
from medvit.thorax.transforms import CXR_MEAN, CXR_STD, cxr_display_intensity, cxr_network_input, letterbox


def test_pydicom_cr_image_becomes_display_intensities_with_its_window():
    image, meta = read_image(pydicom_sample("cr_monochrome1"))
    assert meta["inverted_monochrome1"]
    intensity = cxr_display_intensity(image, meta)
    assert intensity.shape == image.shape and intensity.dtype == np.float32
    assert 0.0 <= intensity.min() and intensity.max() <= 1.0
    # the VOI window, mirrored for MONOCHROME1, maps its centre to mid-grey
    center, width = meta["window_center"], meta["window_width"]
    at_center = np.abs(image.astype(np.float32) - center) < width / 100
    if at_center.any():
        assert np.allclose(intensity[at_center], 0.5, atol=0.02)
    network_input = cxr_network_input(intensity)
    assert network_input.shape == (3, 224, 224)


def test_png_bit_depths_scale_alike(tmp_path):
    from PIL import Image

    image, _ = cxr_phantom(seed=1)
    Image.fromarray(np.round(image.T * 255).astype(np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray(np.round(image.T * 4095).astype(np.uint16)).save(tmp_path / "twelve.png")
    eight = cxr_display_intensity(*read_image(tmp_path / "eight.png"))
    twelve = cxr_display_intensity(*read_image(tmp_path / "twelve.png"))
    assert np.abs(eight - image).max() <= 0.5 / 255 + 1e-6
    assert np.abs(twelve - image).max() <= 0.5 / 4095 + 1e-6


def test_letterbox_keeps_the_whole_chest_of_a_portrait_image():
    portrait = np.ones((1, 200, 400), np.float32)  # (C, W, H): taller than wide
    boxed = letterbox(portrait, 256)
    assert boxed.shape == (1, 256, 256)
    columns_with_image = np.flatnonzero(boxed[0].max(axis=1) > 0.5)
    assert len(columns_with_image) == 128 and boxed[0, 128, :].min() > 0.5  # full height, half width, centred
    normalised = np.asarray(cxr_network_input(np.full((300, 300), CXR_MEAN, np.float32), channels=1))
    assert normalised.shape == (1, 224, 224) and np.allclose(normalised, 0.0, atol=1e-5)
    assert np.isclose(float(cxr_network_input(np.ones((300, 300), np.float32))[0].max()), (1 - CXR_MEAN) / CXR_STD)


def test_network_grid_maps_go_back_onto_the_radiograph():
    from medvit.thorax.transforms import to_image_grid

    intensity = np.zeros((300, 500), np.float32)  # (W, H): portrait
    network_input = cxr_network_input(intensity)
    spot = np.zeros((224, 224), np.float32)
    spot[100:124, 100:124] = 1.0  # the centre of the network's view
    back = to_image_grid(spot, network_input)
    assert back.shape == (300, 500)
    from scipy import ndimage

    x, y = ndimage.center_of_mass(back)
    assert abs(x - 150) < 3 and abs(y - 250) < 3  # the centre of the radiograph
    assert back.sum() == pytest.approx(24 * 24 * (300 / 154) * (500 / 256), rel=0.1)  # the spot's area scaled


def test_bad_radiographs_are_named():
    with pytest.raises(MedvitError, match="scan.nii: a chest X-ray must be one 2D image"):
        cxr_display_intensity(np.zeros((4, 4, 4, 4)), {"filename_or_obj": "scan.nii"})
    with pytest.raises(MedvitError, match="blank"):
        cxr_display_intensity(np.full((8, 8), 7.0), {"filename_or_obj": "blank.dcm"})
    with pytest.raises(MedvitError, match="NaN"):
        cxr_display_intensity(np.full((8, 8), np.nan), {"filename_or_obj": "nan.dcm"})


def test_phantom_findings_change_the_image_where_they_should():
    normal, labels = cxr_phantom(seed=4, findings=())
    assert labels.sum() == 0 and normal.shape == (256, 256)
    for finding in PHANTOM_FINDINGS:
        image, labels = cxr_phantom(seed=4, findings=(finding,))
        assert labels[CHESTXRAY14_LABELS.index(finding)] == 1 and labels.sum() == 1
        changed = np.abs(image - normal) > 0.1
        assert changed.sum() > 20, finding  # visible: more than a few pixels differ clearly
    with pytest.raises(ValueError, match="no phantom signature"):
        cxr_phantom(findings=("Hernia",))


def test_phantom_cohort_is_written_like_chestxray14(tmp_path):
    import pandas as pd

    csv = write_cxr_phantoms(tmp_path, count=12, prevalence=0.2)
    table = pd.read_csv(csv)
    assert list(table.columns) == ["Image Index", "Finding Labels"] and len(table) == 12
    assert (table["Finding Labels"] == "No Finding").any() and table["Finding Labels"].str.contains(r"\|").any()
    image, meta = read_image(tmp_path / table["Image Index"][0])
    assert image.dtype == np.uint8 and image.shape == (256, 256)


def test_a_radiograph_smaller_than_the_networks_input_is_refused_with_its_size():
    """The shorter side must reach the network's 224 px input; the message names the file and size."""
    import torch
    from monai.data import MetaTensor

    from medvit.thorax.transforms import CXRDisplayIntensityd, check_radiograph_size

    check_radiograph_size((224, 3000))
    with pytest.raises(MedvitError, match=r"^small\.png: the radiograph is 3000×223 px, smaller than .* 224×224"):
        check_radiograph_size((3000, 223), source="small.png")
    image, meta = read_image(pydicom_sample("cr_monochrome1"))  # pydicom's 16×16 px CR
    with pytest.raises(MedvitError, match=r"6154: the radiograph is 16×16 px"):
        CXRDisplayIntensityd("image")({"image": MetaTensor(torch.as_tensor(image), meta=meta)})
    assert CXRDisplayIntensityd("image", min_side=16)({"image": MetaTensor(torch.as_tensor(image), meta=meta)})
