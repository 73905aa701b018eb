"""Classical vessel segmentation, field of view and optic disc on the real fundus photo."""

import numpy as np
import pytest
import skimage.data

from medvit.pvbm.optic_disc import detect_optic_disc, read_disc_overrides
from medvit.pvbm.segmentation_metrics import centreline_dice, dice
from medvit.pvbm.vessels import field_of_view, vessel_mask
from medvit.errors import MedvitError
from tests.fundus_masks import DISC, sato_mask


@pytest.fixture(scope="module")
def photo():
    return skimage.data.retina()


@pytest.fixture(scope="module")
def segmented(photo):
    fov = field_of_view(photo)
    return fov, vessel_mask(photo, fov=fov)


def test_field_of_view_is_the_round_retina(photo, segmented):
    fov, _ = segmented
    # the retina of this photo is a circle of ~1370 px across in a 1411 px square
    assert 0.65 < fov.mean() < 0.8
    assert not fov[0, 0] and not fov[-1, -1] and fov[705, 705]


def test_vessel_mask_finds_the_vessels(segmented):
    """Against an independent reference (Sato tubeness at fixed scales, 93rd percentile):
    the masks overlap well, and vessels cover a plausible fraction of the retina."""
    fov, vessels = segmented
    assert not (vessels & ~fov).any()
    assert 0.05 < vessels[fov].mean() < 0.16
    reference = sato_mask(92, 1)
    assert dice(vessels, reference) > 0.6
    assert centreline_dice(vessels, reference) > 0.6


def test_optic_disc_is_found_where_it_is(photo, segmented):
    fov, vessels = segmented
    x, y, radius = detect_optic_disc(photo, vessels=vessels, fov=fov)
    assert np.hypot(x - DISC[0], y - DISC[1]) < 25
    assert 0.75 * DISC[2] < radius < 1.25 * DISC[2]


def test_no_disc_is_an_error_not_a_guess():
    """A crop of retina without the disc: PVBM would return the image centre and radius 0."""
    crop = skimage.data.microaneurysms()
    with pytest.raises(MedvitError, match="disc"):
        detect_optic_disc(crop)


@pytest.mark.parametrize("image,problem", [
    (np.zeros((300, 300, 3), np.uint8), "black"),
    (np.full((40, 40, 3), 128, np.uint8), "too small"),
    (np.zeros((300, 300, 5), np.uint8), "shape"),
])
def test_bad_photos_are_clear_errors(image, problem):
    with pytest.raises(MedvitError, match=problem):
        vessel_mask(image)


def test_disc_overrides(tmp_path):
    table = tmp_path / "discs.csv"
    table.write_text("image,x,y,radius,note\nretina.jpg,225,630,90,by hand\nother,10,20,5,\n")
    overrides = read_disc_overrides(table)
    assert overrides["retina.jpg"] == overrides["retina"] == (225.0, 630.0, 90.0)
    assert overrides["other"] == (10.0, 20.0, 5.0)
    table.write_text("image,x,y\nretina.jpg,225,630\n")
    with pytest.raises(MedvitError, match="lacks column"):
        read_disc_overrides(table)
    table.write_text("image,x,y,radius\nretina.jpg,225,630,big\n")
    with pytest.raises(MedvitError, match="row 2.*radius is 'big'"):
        read_disc_overrides(table)
