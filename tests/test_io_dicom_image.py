"""Single DICOM files: radiographs (MONOCHROME1), rescaled slices, colour, compression."""

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from medvit.data import pydicom_dir, pydicom_sample
from medvit.errors import ImageReadError
from medvit.io import read_image


def test_monochrome1_radiograph_is_inverted_so_bright_means_dense():
    path = pydicom_sample("cr_monochrome1")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.Modality == "CR"
    array, meta = read_image(path)
    stored = apply_modality_lut(ds.pixel_array, ds).T
    assert array.shape == stored.shape == (16, 16)
    # inverted relative to the stored values: a perfect negative linear relation
    assert np.corrcoef(array.ravel(), stored.ravel())[0, 1] == pytest.approx(-1.0)
    # mirrored within the rescaled 12-bit range, so the units stay the same
    lo, hi = 0 * 0.684 + 200, 4095 * 0.684 + 200
    np.testing.assert_allclose(array, lo + hi - stored, rtol=1e-6)
    assert meta["inverted_monochrome1"] and meta["photometric_interpretation"] == "MONOCHROME2"
    assert meta["window_center"] == pytest.approx(lo + hi - 1600)


def test_radiograph_spacing_comes_from_imager_pixel_spacing():
    _, meta = read_image(pydicom_sample("cr_monochrome1"))
    assert meta["spacing_source"] == "ImagerPixelSpacing"
    np.testing.assert_allclose(np.diag(meta["affine"])[:2], [-0.1, -0.1])  # LPS -> RAS flips x, y


def test_ct_slice_has_rescale_applied_and_monai_layout():
    path = pydicom_sample("ct_slice")
    ds = pydicom.dcmread(path)
    array, meta = read_image(path)
    np.testing.assert_allclose(array, apply_modality_lut(ds.pixel_array, ds).T)
    assert array.dtype == np.float32 and meta["kind"] == "dicom-image"


def test_same_pixels_as_monai_pydicom_reader_on_a_monochrome2_slice():
    """Where MONAI's reader is right (MONOCHROME2, rescale), medvit agrees with it."""
    from monai.transforms import LoadImage

    path = pydicom_sample("ct_slice")
    expected = LoadImage(reader="PydicomReader", image_only=True)(str(path))
    array, _ = read_image(path)
    np.testing.assert_allclose(array, np.asarray(expected))


def test_jpeg2000_slice_decodes_to_the_uncompressed_values():
    compressed, _ = read_image(pydicom_sample("mr_slice_jpeg2000"))
    plain, _ = read_image(pydicom_sample("mr_slice"))
    np.testing.assert_array_equal(compressed, plain)


def test_missing_decoder_is_named(monkeypatch):
    from pydicom.pixels.decoders import JPEG2000LosslessDecoder as decoder

    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg-openjpeg",)})
    with pytest.raises(ImageReadError, match="no decoder for it is installed.*pylibjpeg-openjpeg"):
        read_image(pydicom_sample("mr_slice_jpeg2000"))


def test_ybr_jpeg_comes_back_as_rgb_channels():
    array, meta = read_image(pydicom_sample("rgb_jpeg"))
    assert array.shape == (100, 100, 3) and meta["original_channel_dim"] == -1
    assert meta["photometric_interpretation"] == "RGB"


def test_palette_colour_is_expanded_to_rgb():
    array, _ = read_image(pydicom_sample("palette_colour"))
    assert array.shape == (800, 350, 3)


def test_multiframe_file_is_a_stack_of_frames():
    array, meta = read_image(pydicom_dir() / "examples_ybr_color.dcm")
    assert array.shape == (320, 240, 30, 3) and meta["frames"] == 30


def test_truncated_pixel_data_is_a_clear_error():
    with pytest.raises(ImageReadError, match=r"MR_truncated.dcm: cannot decode its pixel data.*less than expected"):
        read_image(pydicom_sample("truncated"))


def test_dicom_without_pixels_is_a_clear_error():
    with pytest.raises(ImageReadError, match="has no pixel data \\(a RT Plan Storage object"):
        read_image(pydicom_sample("not_an_image"))


def test_library_warnings_are_captured_not_printed(recwarn):
    # this file makes pydicom warn about its VR encoding
    _, meta = read_image(pydicom_dir() / "SC_rgb_jpeg.dcm")
    assert any("implicit VR" in w for w in meta["warnings"])
    assert len(recwarn) == 0
