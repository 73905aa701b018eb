"""DICOM series folders: real pydicom series that form a volume, and those that do not."""

import shutil

import numpy as np
import pydicom
import pytest

from medvit.data import pydicom_sample
from medvit.errors import ImageReadError
from medvit.io import read_image
from medvit.io.dicom_series import list_series


def test_ct_series_reads_as_volume_with_slice_count_and_spacing():
    array, meta = read_image(pydicom_sample("ct_volume"))
    assert array.shape == (16, 16, 5)
    assert meta["kind"] == "dicom-series"
    assert meta["slices"] == 5
    spacing = np.sqrt((meta["affine"][:3, :3] ** 2).sum(0))
    np.testing.assert_allclose(spacing, [0.488281, 0.488281, 2.5], atol=1e-6)
    assert meta["modality"] == "CT"
    assert (meta["window_center"], meta["window_width"]) == (40.0, 400.0)


def test_slices_are_sorted_by_position_not_file_name():
    folder = pydicom_sample("ct_volume")
    _, meta = read_image(folder)
    z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in meta["slice_files"]]
    assert z == sorted(z)
    # the file names run the other way: 2062 is the highest slice
    assert [p.split("/")[-1] for p in meta["slice_files"]] == ["3353", "3023", "2693", "2392", "2062"]


def test_volume_matches_simpleitk_reference():
    """SimpleITK (GDCM) reads the same series: same voxels, same origin and spacing."""
    import SimpleITK as sitk

    array, meta = read_image(pydicom_sample("ct_volume"))
    reference = sitk.ReadImage(meta["slice_files"])
    # SimpleITK: (z, y, x) array, LPS origin; medvit: (x, y, z), RAS affine
    np.testing.assert_allclose(array.transpose(2, 1, 0), sitk.GetArrayFromImage(reference), atol=1e-3)
    origin_lps = np.array(reference.GetOrigin())
    np.testing.assert_allclose(meta["affine"][:3, 3] * [-1, -1, 1], origin_lps, atol=1e-4)
    np.testing.assert_allclose(np.sqrt((meta["affine"][:3, :3] ** 2).sum(0)), reference.GetSpacing(), atol=1e-4)


def test_rescale_gives_hounsfield_units():
    array, meta = read_image(pydicom_sample("ct_volume"))
    ds = pydicom.dcmread(meta["slice_files"][0])
    expected = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(array[..., 0], expected)
    assert array.min() < -500  # air in HU, impossible without the intercept


def test_renamed_and_shuffled_files_give_the_same_volume(tmp_path):
    source = pydicom_sample("ct_volume")
    expected, _ = read_image(source)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for i, f in enumerate(sorted(source.iterdir(), reverse=True)):
        shutil.copy(f, shuffled / f"IMG{(7 * i) % 5:04d}.dcm")
    array, _ = read_image(shuffled)
    np.testing.assert_array_equal(array, expected)


def test_series_is_found_in_nested_folders_and_other_files_are_ignored(tmp_path, ct_series_copy):
    (ct_series_copy / "README.txt").write_text("exported by PACS")
    nested = tmp_path / "export" / "study" / "series"
    shutil.copytree(ct_series_copy, nested)
    array, meta = read_image(tmp_path / "export")
    assert array.shape == (16, 16, 5) and meta["slices"] == 5


def test_folder_with_several_series_lists_them():
    with pytest.raises(ImageReadError) as err:
        read_image(pydicom_sample("mr_several_series"))
    message = str(err.value)
    assert "contains 3 DICOM series" in message
    assert message.count("FAST LOCALIZER") == 3 and "1 slice(s)" in message
    assert "1.3.6.1.4.1.5962.1.1.0.0.0.1196533885.18148.0.475" in message


def test_series_can_be_chosen_by_uid_suffix():
    folder = pydicom_sample("study_several_series")
    uids = {s.description: s.uid for s in list_series(folder)}
    array, meta = read_image(folder, series_uid=uids["Cervical LAT"][-8:])
    assert meta["series_description"] == "Cervical LAT" and array.shape == (16, 16, 1)


def test_missing_slices_are_refused():
    with pytest.raises(ImageReadError, match=r"missing slices.*\n.*202 mm between 17106 and 17136"):
        read_image(pydicom_sample("ct_gap"))


@pytest.mark.parametrize("name", ["mr_mixed_orientations", "ct_scout_orientations"])
def test_mixed_orientations_are_refused(name):
    with pytest.raises(ImageReadError, match="mixed orientations"):
        read_image(pydicom_sample(name))


def test_uneven_spacing_is_refused(ct_series_copy):
    victim = ct_series_copy / "2392"
    ds = pydicom.dcmread(victim)
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.6
    ds.save_as(victim)
    with pytest.raises(ImageReadError, match="inconsistent slice spacing"):
        read_image(ct_series_copy)


def test_duplicate_slice_is_refused(ct_series_copy):
    ds = pydicom.dcmread(ct_series_copy / "2392")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(ct_series_copy / "2392-copy")
    with pytest.raises(ImageReadError, match="share a position"):
        read_image(ct_series_copy)


def test_folder_of_dicom_without_pixels_is_refused():
    with pytest.raises(ImageReadError, match="none is an image"):
        read_image(pydicom_sample("no_pixel_files"))


def test_empty_and_non_dicom_folders_are_refused(tmp_path):
    with pytest.raises(ImageReadError, match="empty folder"):
        read_image(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageReadError, match="contains no DICOM files"):
        read_image(tmp_path)
