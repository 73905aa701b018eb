"""Photographs and NIfTI on the real sample files, against MONAI's own readers."""

import numpy as np
import pytest

from medvit.data import fundus_photo, mni152
from medvit.errors import ImageReadError
from medvit.io import read_image


def test_fundus_photo_is_rgb_2d_in_monai_layout():
    array, meta = read_image(fundus_photo())
    assert array.shape == (1411, 1411, 3) and array.dtype == np.uint8
    assert meta["kind"] == "photo" and meta["original_channel_dim"] == -1


def test_fundus_photo_matches_monai_pil_reader():
    from monai.transforms import LoadImage

    expected = LoadImage(reader="PILReader", image_only=True)(str(fundus_photo()))
    array, _ = read_image(fundus_photo())
    np.testing.assert_array_equal(array, np.asarray(expected))


def test_grey_png_has_no_channel_axis(tmp_path):
    from PIL import Image

    Image.fromarray(np.arange(60, dtype=np.uint8).reshape(6, 10)).save(tmp_path / "g.png")
    array, meta = read_image(tmp_path / "g.png")
    assert array.shape == (10, 6) and array[3, 1] == 13  # (x, y): column 3, row 1
    assert np.isnan(meta["original_channel_dim"])


def test_truncated_jpeg_is_a_clear_error(tmp_path):
    data = fundus_photo().read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="cut.jpg: damaged or truncated image"):
        read_image(tmp_path / "cut.jpg")


def test_text_file_named_like_an_image_is_refused(tmp_path):
    (tmp_path / "scan.png").write_text("not a picture")
    with pytest.raises(ImageReadError, match="scan.png: not an image file"):
        read_image(tmp_path / "scan.png")


def test_mni_t1_matches_monai_nibabel_reader():
    from monai.transforms import LoadImage

    expected = LoadImage(reader="NibabelReader", image_only=True)(str(mni152("t1")))
    array, meta = read_image(mni152("t1"))
    assert array.shape == (197, 233, 189)
    np.testing.assert_array_equal(array, np.asarray(expected))
    np.testing.assert_allclose(meta["affine"], np.asarray(expected.affine), atol=1e-5)


def test_corrupt_nifti_is_a_clear_error(tmp_path):
    bad = tmp_path / "brain.nii.gz"
    bad.write_bytes(mni152("gm").read_bytes()[:5000])
    with pytest.raises(ImageReadError, match="brain.nii.gz: not a readable NIfTI file"):
        read_image(bad)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageReadError, match="no such file or folder"):
        read_image(tmp_path / "nope.nii.gz")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(ImageReadError, match="is an empty file"):
        read_image(tmp_path / "empty.dcm")
