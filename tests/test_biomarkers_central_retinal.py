"""Central retinal equivalents: agreement with pvbm 3.0.1.8, the formulas, units."""

import math

import numpy as np
import pytest
from skimage.draw import line

from medvit.pvbm.central_retinal import (
    central_retinal_equivalents,
    combine_calibres,
    crae_hubbard,
    crae_knudtson,
    crve_knudtson,
    tree_calibres,
)
from medvit.pvbm.geometry import vessel_skeleton
from medvit.pvbm.regions import zone_b
from tests.fundus_masks import DISC, sato_mask


@pytest.mark.parametrize("percentile,disc", [(93, DISC), (90, (230.0, 625.0, 110.0)), (95, (225.0, 630.0, 70.0))])
def test_tree_calibres_agree_with_pvbm(percentile, disc):
    """Same trees, same crossings, same per-tree means: equal to rounding."""
    reference = pytest.importorskip("tests.pvbm_reference")
    pytest.importorskip("PVBM")
    mask = sato_mask(percentile)
    zone = zone_b(mask.shape, *disc)
    theirs, their_crae = reference.pvbm_tree_calibres(mask & zone, vessel_skeleton(mask) & zone, *disc)
    ours = tree_calibres(mask, *disc)
    assert len(theirs) >= 4  # several real vessels cross zone B
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    crae = central_retinal_equivalents(mask, mask, *disc)["crae_knudtson"]
    assert crae == pytest.approx(their_crae, rel=1e-12)


def _radial_vessels(widths, disc=(300.0, 300.0, 60.0), shape=(600, 600)):
    """Straight vessels of the given odd widths (px) leaving the disc right, down, left, up
    (then again), from 0.5 r to 4 r: axis-aligned, so each crossing is exact."""
    x, y, r = round(disc[0]), round(disc[1]), disc[2]
    mask = np.zeros(shape, bool)
    near, far = round(0.5 * r), round(4 * r)
    for k, width in enumerate(widths):
        half = width // 2
        direction = k % 4
        if direction == 0:
            mask[y - half : y + half + 1, x + near : x + far] = True
        elif direction == 1:
            mask[y + near : y + far, x - half : x + half + 1] = True
        elif direction == 2:
            mask[y - half : y + half + 1, x - far : x - near] = True
        else:
            mask[y - far : y - near, x - half : x + half + 1] = True
    return mask, disc


def test_widths_of_drawn_vessels():
    """Vessels drawn 5, 7, 9 and 11 px wide measure one pixel less: PVBM counts the steps
    out from the centre pixel on each side, not the centre pixel itself. (The last crossing,
    on the curved outer edge of zone B, finds no vessel on either side and counts 0, as
    in PVBM: one of ~49 crossings, hence the 3 %.)"""
    mask, disc = _radial_vessels([5, 7, 9, 11])
    np.testing.assert_allclose(np.sort(tree_calibres(mask, *disc)), [4, 6, 8, 10], rtol=0.03)


def test_combination_pairs_narrowest_with_widest():
    widths = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    first = [crae_knudtson(10, 20), crae_knudtson(12, 18), crae_knudtson(14, 16)]
    first.sort()
    expected = crae_knudtson(crae_knudtson(first[0], first[2]), first[1])
    assert combine_calibres(widths, crae_knudtson) == pytest.approx(expected)
    assert combine_calibres([7.0], crve_knudtson) == 7.0
    assert math.isnan(combine_calibres([], crve_knudtson))


def test_hubbard_needs_a_pixel_size_and_knudtson_scales():
    mask, disc = _radial_vessels([5, 7, 9, 11])
    in_pixels = central_retinal_equivalents(mask, mask, *disc)
    assert math.isnan(in_pixels["crae_hubbard"]) and math.isnan(in_pixels["crve_hubbard"])
    in_um = central_retinal_equivalents(mask, mask, *disc, pixel_size_um=15.0)
    assert in_um["crae_knudtson"] == in_pixels["crae_knudtson"]  # reported in px either way
    widths = np.sort(tree_calibres(mask, *disc))[-6:] * 15.0
    assert in_um["crae_hubbard"] == pytest.approx(combine_calibres(widths, crae_hubbard))
    assert 60 < in_um["crae_hubbard"] < 200  # µm: the range of real arterioles
    assert math.isnan(crae_hubbard(2.0, 2.0))  # no real value for tiny widths, not a crash


def test_no_vessel_in_zone_b_gives_nan():
    mask = np.zeros((300, 300), bool)
    out = central_retinal_equivalents(mask, mask, 150.0, 150.0, 20.0, pixel_size_um=10.0)
    assert all(math.isnan(v) for v in out.values())
