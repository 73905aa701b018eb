"""Writers (atomic) and the MONAI loader over medvit's readers."""

import numpy as np
import pytest

from medvit.data import fundus_photo, mni152, pydicom_sample
from medvit.errors import ImageReadError
from medvit.io import atomic_path, load_image, read_image, save_nifti, save_png


def test_load_image_gives_channel_first_metatensor_with_affine():
    image = load_image(pydicom_sample("ct_volume"))
    assert tuple(image.shape) == (1, 16, 16, 5)
    np.testing.assert_allclose(image.pixdim[:3], [0.488281, 0.488281, 2.5], atol=1e-6)
    assert image.meta["modality"] == "CT"
    photo = load_image(fundus_photo())
    assert tuple(photo.shape) == (3, 1411, 1411)


def test_several_files_become_channels_when_on_one_grid():
    t1, gm = mni152("t1"), mni152("gm")
    image = load_image([t1, gm])
    assert tuple(image.shape) == (2, 197, 233, 189)


def test_files_on_different_grids_are_refused():
    with pytest.raises(ImageReadError, match="differs"):
        load_image([mni152("t1"), pydicom_sample("ct_volume")])


def test_loadimaged_in_a_config_uses_medvit_reader():
    from monai.transforms import LoadImaged

    out = LoadImaged(keys="image", reader="medvit.io.MedvitReader", ensure_channel_first=True)(
        {"image": str(pydicom_sample("cr_monochrome1"))}
    )
    assert tuple(out["image"].shape) == (1, 16, 16)
    assert out["image"].meta["inverted_monochrome1"]


def test_nifti_round_trip_keeps_values_and_affine(tmp_path):
    image = load_image(pydicom_sample("ct_volume"))
    path = save_nifti(image, tmp_path / "ct.nii.gz")
    array, meta = read_image(path)
    np.testing.assert_allclose(array, image[0].numpy())
    np.testing.assert_allclose(meta["affine"], image.affine.numpy(), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz"]  # no temp file left


def test_png_round_trip(tmp_path):
    photo, _ = read_image(fundus_photo())
    path = save_png(np.moveaxis(photo, -1, 0), tmp_path / "fundus.png")
    again, _ = read_image(path)
    np.testing.assert_array_equal(again, photo)


def test_failed_write_leaves_previous_file_untouched(tmp_path):
    target = tmp_path / "result.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_dicom_seg_from_a_series_lacking_type2_attributes(tmp_path):
    """Exports often leave out Type 2 patient/study attributes (PatientSex, AccessionNumber, ...):
    the SEG is still written, with them empty, and keeps what the source has (issue 17, item 4)."""
    import pydicom

    from medvit.data.synthetic_dicom import write_mr_series
    from medvit.io.dicom_seg import TYPE2_PATIENT_STUDY, SegmentDefinition, write_dicom_seg

    volume = np.arange(8 * 6 * 4, dtype=np.float64).reshape(8, 6, 4)
    folder = write_mr_series(volume, np.diag([2.0, 2.0, 3.0, 1.0]), tmp_path / "series", "T1", patient_id="P7",
                             study_uid="1.2.3.4", frame_of_reference_uid="1.2.3.5")
    for file in folder.iterdir():
        ds = pydicom.dcmread(file)
        for keyword in ("PatientSex", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName", "StudyID",
                        "StudyTime"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(file)
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[2:5, 1:4, 1:3] = 1
    code = ("49755003", "SCT", "Morphologically Abnormal Structure")
    out = write_dicom_seg(labels, folder, None, tmp_path / "seg.dcm", [SegmentDefinition(1, "lesion", code, code)])
    seg = pydicom.dcmread(out)
    assert seg.PatientID == "P7" and seg.StudyInstanceUID == "1.2.3.4"
    assert all(keyword in seg for keyword in TYPE2_PATIENT_STUDY) and seg.PatientSex == "" and seg.AccessionNumber == ""
    assert "PatientSex" not in pydicom.dcmread(next(folder.iterdir()))  # the source files are untouched
