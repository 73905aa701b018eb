"""Sample data: real files are where medvit says, synthetic cases are repeatable and consistent."""

import numpy as np
import pytest

from medvit.data import PYDICOM_SAMPLES, pydicom_sample
from medvit.brats import MODALITIES as BRATS_MODALITIES, brats_like_case, write_brats_case
from medvit.errors import MedvitError


@pytest.fixture(scope="module")
def case():
    return brats_like_case(seed=3, spacing=2.0)


def test_every_named_pydicom_sample_exists():
    for name in PYDICOM_SAMPLES:
        assert pydicom_sample(name).exists()
    with pytest.raises(MedvitError, match="unknown pydicom sample"):
        pydicom_sample("nope")


def test_brats_case_is_repeatable_and_seed_dependent(case):
    image, labels, _ = case
    again_image, again_labels, _ = brats_like_case(seed=3, spacing=2.0)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(labels, again_labels)
    _, other_labels, _ = brats_like_case(seed=4, spacing=2.0)
    assert not np.array_equal(labels, other_labels)


def test_brats_labels_nest_as_brats_regions(case):
    from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

    image, labels, affine = case
    assert image.shape == (4, *labels.shape) and image.dtype == np.float32
    assert set(np.unique(labels)) == {0, 1, 2, 4}
    tc, wt, et = np.asarray(ConvertToMultiChannelBasedOnBratsClasses()(labels))
    assert et.sum() > 0 and (et <= tc).all() and (tc <= wt).all() and tc.sum() < wt.sum()
    brain = image.sum(0) > 0
    assert brain[wt].all()  # the tumour lies inside the brain
    assert 20 < wt.sum() * 8 / 1000 < 300  # whole-tumour volume in mL, as in BraTS


def test_brats_contrasts_behave_like_the_sequences(case):
    image, labels, _ = case
    mean = {m: {lab: image[i][labels == lab].mean() for lab in (1, 2, 4)} for i, m in enumerate(BRATS_MODALITIES)}
    assert mean["t1ce"][4] > 1.5 * mean["t1"][4]  # enhancement only after contrast
    assert mean["flair"][2] == max(mean["flair"].values())  # oedema brightest on FLAIR
    assert mean["t2"][1] > mean["t1"][1]  # necrosis bright on T2, dark on T1


def test_written_case_reads_back_on_one_grid(tmp_path):
    from medvit.io import load_image

    paths = write_brats_case(tmp_path, case_id="c1", seed=0, spacing=3.0)
    assert sorted(paths) == sorted([*BRATS_MODALITIES, "seg"])
    image = load_image([paths[m] for m in BRATS_MODALITIES])
    assert image.shape[0] == 4
    np.testing.assert_allclose(image.pixdim[:3], [3.0, 3.0, 3.0])


def test_synthetic_dicom_series_reads_back_as_written(tmp_path):
    """A volume written as a DICOM MR series reads back (medvit.io) with the same voxels and affine."""
    from medvit.data.synthetic_dicom import write_mr_series
    from medvit.io import read_image

    volume = np.random.default_rng(0).random((12, 9, 5)) * 800
    affine = np.array([[0.0, 2.0, 0.0, 10.0], [-1.5, 0.0, 0.0, 20.0], [0.0, 0.0, 3.0, -5.0], [0, 0, 0, 1]])
    folder = write_mr_series(volume, affine, tmp_path / "s", "T1 AX", patient_id="x", study_uid="1.2.3",
                             frame_of_reference_uid="1.2.4")
    array, meta = read_image(folder)
    assert array.shape == volume.shape and np.allclose(meta["affine"], affine, atol=1e-5)
    assert np.abs(array - volume).max() < 800 / 65535 + 1e-6
    assert meta["modality"] == "MR" and meta["series_description"] == "T1 AX"
