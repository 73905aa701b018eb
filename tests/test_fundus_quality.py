"""Is it a fundus photograph? Real photos of four cameras pass; other pictures are refused, saying why."""


import numpy as np
import pytest
import skimage.data

from medvit.pvbm.photo import fundus_photo
from medvit.pvbm.quality import QUALITY_COLUMNS, assess_fundus_photo, working_copy
from tests.vascx_samples import samples_dir



def _assess(image):
    return assess_fundus_photo(fundus_photo(image))


def test_skimage_retina_is_a_fundus_photograph():
    quality = _assess(skimage.data.retina())
    assert quality.verdict == "accept" and quality.problems == []
    assert list(quality.measures) == list(QUALITY_COLUMNS)
    assert 0.6 < quality.measures["qc_fov_fraction"] < 0.9 and quality.measures["qc_fov_solidity"] > 0.98
    assert quality.measures["qc_red_share"] > quality.measures["qc_blue_share"]


def test_real_photos_of_three_other_cameras_are_fundus_photographs():
    """Real photos of three cameras (DRIVE, CHASE_DB1, HRF) from retinalysis-vascx's source
    distribution, fetched into a cache outside git (skips, saying why, when it cannot be)."""
    from medvit.pvbm.photo import read_photo_rc

    photos = sorted((samples_dir() / "original").iterdir())
    assert {p.name.split("_")[0] for p in photos} >= {"DRIVE", "CHASEDB1", "HRF"}
    for path in photos:
        quality = assess_fundus_photo(read_photo_rc(path))
        assert quality.problems == [], (path.name, quality.measures)


def test_a_crop_of_the_retina_and_a_grey_photo_are_judged_by_what_they_show():
    """A crop without the camera's surround is judged by its colour; a grey photo (used with the
    user's masks) by its field of view."""
    photo = skimage.data.retina()
    crop = _assess(photo[400:1000, 400:1000])
    assert crop.measures["qc_fov_fraction"] > 0.98 and crop.verdict == "accept"
    grey = _assess(photo[..., 1])
    assert np.isnan(grey.measures["qc_red_share"]) and grey.verdict == "accept"
    assert _assess(skimage.data.camera()).verdict == "reject"  # a grey scene: no round field of view


@pytest.mark.parametrize(("name", "reasons"), [
    ("astronaut", ("the field of view is not round", "colours unlike a retina")),
    ("coffee", ("no dark surround around the field of view",)),  # fundus-coloured, but a scene
    ("chelsea", ("colours unlike a retina",)),  # fills the frame like a crop of the retina
    ("hubble_deep_field", ("no bright field of view",)),
])
def test_other_pictures_are_refused_saying_why(name, reasons):
    quality = _assess(getattr(skimage.data, name)())
    assert quality.verdict == "reject"
    for reason in reasons:
        assert any(problem.startswith(reason) for problem in quality.problems), quality.problems


def test_measures_are_taken_on_a_small_copy_that_keeps_the_short_side():
    assert working_copy(np.zeros((2336, 3504, 3))).shape[:2] == (180, 270)  # HRF's 3504×2336: every 13th
    assert working_copy(np.zeros((584, 565, 3))).shape[:2] == (292, 283)  # DRIVE: every 2nd
    assert min(working_copy(np.zeros((70, 5000))).shape) == 70  # never below the accepted 64 px
