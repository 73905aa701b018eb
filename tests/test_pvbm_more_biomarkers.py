"""AutoMorph's biomarkers (issue 18, item 6): vessel density, mean width, box-counting fractal
dimension and the tortuosities, on synthetic masks and curves with known answers, per zone, and
end to end on a real photograph."""

import csv
import json
import math

import numpy as np
import pytest
from skimage.draw import line
from skimage.morphology import skeletonize

from medvit.pvbm.morphology import (
    MORPHOLOGY_KEYS,
    ZONES,
    box_counting_dimension,
    mean_vessel_width,
    morphology_biomarkers,
    morphology_columns,
    skeleton_length,
    vessel_density,
    zone_masks,
)
from medvit.pvbm.tortuosity import (
    distance_tortuosity,
    skeleton_paths,
    split_by_region,
    squared_curvature_tortuosity,
    tortuosity_biomarkers,
    tortuosity_density,
    turns,
)


def drawn_line(angle_deg: float, length: int = 250, shape=(300, 300)) -> np.ndarray:
    image = np.zeros(shape, bool)
    t = math.radians(angle_deg)
    rows, cols = line(30, 20, int(round(30 + length * math.sin(t))), int(round(20 + length * math.cos(t))))
    image[rows, cols] = True
    return image


def arc_points(radius: float, angle: float, n: int = 4000) -> np.ndarray:
    t = np.linspace(0, angle, n)
    return np.stack([radius * np.sin(t), radius * np.cos(t)], axis=1)


def test_a_straight_line_is_not_tortuous():
    """Arc / chord 1, no curvature, no turns: exactly for an axis-aligned line, within the pixel
    staircase's residue for lines at an angle (the centreline is smoothed)."""
    exact = tortuosity_biomarkers(split_by_region(skeleton_paths(drawn_line(0)), None))
    assert exact == {"tortuosity_distance": 1.0, "tortuosity_curvature": 0.0, "tortuosity_density": 0.0,
                     "vessel_segments": 1.0}
    for angle in (10, 27, 45, 63):
        values = tortuosity_biomarkers(split_by_region(skeleton_paths(drawn_line(angle)), None))
        assert values["vessel_segments"] == 1
        assert values["tortuosity_distance"] == pytest.approx(1.0, abs=1e-3)
        assert values["tortuosity_curvature"] < 0.005  # vs 0.02 for the gentle arc below
        assert values["tortuosity_density"] == 0.0


def test_a_circular_arc_has_its_known_curvature():
    """∫κ² ds = θ / R, arc / chord = θ / (2 sin(θ/2)), one turn so density 0 — on the exact curve,
    and within 25 % on the arc drawn in pixels and skeletonised."""
    radius, angle = 80.0, math.pi / 2
    points = arc_points(radius, angle)
    assert squared_curvature_tortuosity(points) == pytest.approx(angle / radius, rel=1e-3)
    assert distance_tortuosity(points) == pytest.approx(angle / (2 * math.sin(angle / 2)), rel=1e-6)
    assert len(turns(points)) == 1 and tortuosity_density(points) == 0.0
    image = np.zeros((300, 300), bool)
    pixels = np.round(points + 150).astype(int)
    image[pixels[:, 0], pixels[:, 1]] = True
    values = tortuosity_biomarkers(split_by_region(skeleton_paths(skeletonize(image)), None))
    assert values["vessel_segments"] == 1
    assert values["tortuosity_curvature"] == pytest.approx(angle / radius, rel=0.25)
    assert values["tortuosity_distance"] == pytest.approx(angle / (2 * math.sin(angle / 2)), rel=0.01)


def test_tortuosity_density_of_a_wave_counts_its_turns():
    """A sine of k half-periods has k turns, each with the same arc / chord q, so Grisan's density is
    ((k - 1) / k) · k (q - 1) / L; q and L integrated separately from the sine's formula."""
    amplitude, wavelength, k = 20.0, 80.0, 5
    x = np.linspace(0, k * wavelength / 2, 20001)
    y = amplitude * np.sin(2 * math.pi * x / wavelength)
    slope = amplitude * 2 * math.pi / wavelength * np.cos(2 * math.pi * x / wavelength)
    total = float(np.trapezoid(np.hypot(1, slope), x))
    q = (total / k) / (wavelength / 2)
    points = np.stack([y, x], axis=1)
    assert len(turns(points)) == k
    assert tortuosity_density(points) == pytest.approx((k - 1) * (q - 1) / total, rel=0.02)
    assert tortuosity_density(points) > 0 and squared_curvature_tortuosity(points) > 0


def test_branch_points_split_the_skeleton_into_segments():
    """A T: three segments (branch pixels left out), each a simple ordered path."""
    image = np.zeros((100, 100), bool)
    image[50, 10:90] = True
    image[10:50, 50] = True
    paths = split_by_region(skeleton_paths(image), None)
    assert len(paths) == 3
    for path in paths:
        steps = np.abs(np.diff(path, axis=0)).max(axis=1)
        assert (steps == 1).all()  # consecutive pixels are neighbours


def test_skeleton_length_counts_edge_and_diagonal_steps():
    horizontal = drawn_line(0, length=100)
    assert skeleton_length(horizontal) == pytest.approx(100.0)
    diagonal = drawn_line(45, length=100)
    assert skeleton_length(diagonal) == pytest.approx((diagonal.sum() - 1) * math.sqrt(2))
    corner = np.zeros((5, 5), bool)
    corner[1, 1:3] = True
    corner[2, 2] = True  # an L: walked along its two edges, the diagonal not added
    assert skeleton_length(corner) == pytest.approx(2.0)


def test_a_filled_band_has_its_density_and_width():
    """A band 7 px wide and 180 px long: density = its share of the region, width 7 px with its
    centre line as skeleton, and within 5 % with skimage's skeleton (shortened at the ends)."""
    mask = np.zeros((200, 200), bool)
    mask[97:104, 10:190] = True
    region = np.zeros_like(mask)
    region[50:150, :] = True
    assert vessel_density(mask, region) == pytest.approx(7 * 180 / (100 * 200))
    centre = np.zeros_like(mask)
    centre[100, 10:190] = True
    assert mean_vessel_width(mask, centre, np.ones_like(mask)) == pytest.approx(7 * 180 / 179)
    assert mean_vessel_width(mask, skeletonize(mask), np.ones_like(mask)) == pytest.approx(7.0, rel=0.05)
    assert math.isnan(vessel_density(mask, np.zeros_like(mask)))
    assert math.isnan(mean_vessel_width(mask, np.zeros_like(mask), region))


def test_box_counting_dimension_of_a_line_and_of_a_plane_filling_pattern():
    """A thin line: dimension 1; every other pixel set (every box partly filled): dimension 2;
    a filled square counts only its border's boxes: 1."""
    assert box_counting_dimension(drawn_line(0, length=230, shape=(256, 256))) == pytest.approx(1.0, abs=0.05)
    dots = np.zeros((256, 256), bool)
    dots[::2, ::2] = True
    assert box_counting_dimension(dots) == pytest.approx(2.0, abs=1e-9)
    square = np.zeros((256, 256), bool)
    square[61:190, 67:203] = True  # edges off the box grid
    assert 0.9 < box_counting_dimension(square) < 1.2
    assert math.isnan(box_counting_dimension(np.zeros((256, 256), bool)))


def test_zones_are_rings_around_the_disc_within_the_field_of_view():
    shape, disc = (400, 400), (200.0, 200.0, 30.0)
    fov = np.zeros(shape, bool)
    fov[:, :300] = True
    zones = zone_masks(shape, disc, fov)
    assert list(zones) == list(ZONES)
    rows, cols = np.ogrid[:400, :400]
    d = np.hypot(rows - 200, cols - 200)
    np.testing.assert_array_equal(zones["zone_b"], (d > 60) & (d <= 90) & fov)
    np.testing.assert_array_equal(zones["zone_c"], (d > 60) & (d <= 150) & fov)
    np.testing.assert_array_equal(zones["fov"], fov)


def test_morphology_per_zone_measures_only_its_zone():
    """A vessel crossing zone B (and into zone C): each zone's density is its share of that zone,
    its width in zone B the band's (its skeleton crosses the whole ring); a vessel beyond zone C
    counts only in the field of view."""
    shape, disc = (400, 400), (200.0, 200.0, 20.0)
    mask = np.zeros(shape, bool)
    mask[198:203, 235:275] = True  # 35-74 px from the centre, across zone B (40-60 px)
    mask[198:203, 345:395] = True  # beyond zone C (100 px)
    row = morphology_biomarkers(mask, skeletonize(mask), disc)
    assert set(row) == set(morphology_columns())
    zones = zone_masks(shape, disc)
    assert row["vessel_density_zone_b"] == pytest.approx((mask & zones["zone_b"]).sum() / zones["zone_b"].sum())
    assert row["vessel_density_zone_c"] == pytest.approx((mask & zones["zone_c"]).sum() / zones["zone_c"].sum())
    assert row["vessel_density_fov"] == pytest.approx(mask.mean())
    assert row["vessel_segments_zone_b"] == row["vessel_segments_zone_c"] == 1
    assert row["vessel_segments_fov"] == 2
    assert row["mean_width_zone_b"] == pytest.approx(5.0 * 20 / 19)  # 20 columns in the ring, 19 steps
    empty = morphology_biomarkers(np.zeros(shape, bool), np.zeros(shape, bool), disc)
    assert empty["vessel_density_fov"] == 0 and math.isnan(empty["tortuosity_distance_zone_c"])


def test_pipeline_appends_the_columns_and_their_physical_sizes():
    """The pvbm columns first, unchanged; the new ones after them; with a pixel size the width
    in mm and the curvatures per mm."""
    from medvit.pvbm.masks import VesselMasks
    from medvit.pvbm.pipeline import biomarker_columns, measure_masks, units_note

    plain, physical = biomarker_columns(), biomarker_columns(physical=True)
    assert plain[-len(morphology_columns()):] == morphology_columns()
    assert physical[-len(morphology_columns(True)):] == morphology_columns(True)
    assert plain[: -len(morphology_columns())][-1] == "segmentation"
    mask = np.zeros((300, 300), bool)
    mask[148:153, 40:140] = True
    mask[60:140, 198:203] = True
    row = measure_masks(VesselMasks(mask), (150.0, 150.0, 15.0), fractal={"n_rotations": 1}, pixel_size_um=10.0)
    assert set(morphology_columns(True)) <= set(row)
    for zone in ZONES:
        assert row[f"mean_width_{zone}_mm"] == pytest.approx(row[f"mean_width_{zone}"] * 0.01)
        assert row[f"tortuosity_curvature_{zone}_per_mm"] == pytest.approx(row[f"tortuosity_curvature_{zone}"] * 100)
    assert "px" in units_note() and "mm" in units_note(pixel_size_um=6.5)
    assert MORPHOLOGY_KEYS[0] == "vessel_density"


def test_real_photo_values_are_plausible_and_zones_nest():
    """VascX's HRF_07_dr crop, its vessel mask and disc, the photo's field of view: every zone
    measured, densities and widths in a retina's range, more segments in zone C than in zone B."""
    from medvit.pvbm.geometry import vessel_skeleton
    from medvit.pvbm.vessels import field_of_view
    from tests import vascx_samples as vs

    vessels = vs.mask("vessels", "HRF_07_dr")
    row = morphology_biomarkers(vessels, vessel_skeleton(vessels), vs.reference_disc("HRF_07_dr"),
                                field_of_view(vs.crop_photo("HRF_07_dr")))
    for zone in ZONES:
        assert 0.03 < row[f"vessel_density_{zone}"] < 0.3
        assert 2 < row[f"mean_width_{zone}"] < 15
        assert 1.1 < row[f"fractal_dimension_{zone}"] < 1.9
        assert 1.0 < row[f"tortuosity_distance_{zone}"] < 1.3
        assert row[f"tortuosity_curvature_{zone}"] > 0 and row[f"tortuosity_density_{zone}"] >= 0
    assert row["vessel_segments_fov"] > row["vessel_segments_zone_c"] > row["vessel_segments_zone_b"] >= 5


@pytest.mark.slow
def test_end_to_end_on_a_real_photo_with_its_masks(tmp_path):
    """VascX's DRIVE_22 crop with VascX's vessel mask and disc: the new columns in the table, in
    plausible ranges, and the provenance says the units."""
    from PIL import Image

    from medvit.pvbm.cohort import run_biomarker_cohort
    from tests import vascx_samples as vs

    vs.samples_dir()
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir()
    masks.mkdir()
    Image.fromarray(vs.crop_photo("DRIVE_22")).save(photos / "drive22.png")
    Image.fromarray(vs.mask("vessels", "DRIVE_22").astype(np.uint8) * 255).save(masks / "drive22.png")
    x, y, r = vs.reference_disc("DRIVE_22")
    discs = tmp_path / "discs.csv"
    discs.write_text(f"image,x,y,radius\ndrive22.png,{x},{y},{r}\n")
    out = tmp_path / "biomarkers.csv"
    run_biomarker_cohort(photos, out, masks_dir=masks, disc_csv=discs, pixel_size_um=10.0,
                         fractal={"n_rotations": 1}, progress=False)
    with open(out, newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["status"] == "ok", row["error"]
    for zone in ZONES:
        assert 0.02 < float(row[f"vessel_density_{zone}"]) < 0.3
        assert 2 < float(row[f"mean_width_{zone}"]) < 15
        assert 1.0 < float(row[f"fractal_dimension_{zone}"]) < 2.0
        assert 1.0 <= float(row[f"tortuosity_distance_{zone}"]) < 1.5
        assert float(row[f"vessel_segments_{zone}"]) >= 5
        assert float(row[f"mean_width_{zone}_mm"]) == pytest.approx(float(row[f"mean_width_{zone}"]) / 100)
    assert float(row["vessel_segments_zone_c"]) > float(row["vessel_segments_zone_b"])
    provenance = json.loads(out.with_name("biomarkers.provenance.json").read_text())
    assert "mm" in provenance["provenance"]["units"]


def test_measures_pvbm_keeps_to_pvbm_columns_with_the_same_values(tmp_path):
    """``measures="pvbm"`` (``--measures pvbm``): pvbm's columns only, equal to a full run's, and
    no fovea or AutoMorph columns; an unknown choice is one clear error."""
    from medvit.errors import MedvitError
    from medvit.pvbm.fovea import FOVEA_KEYS
    from medvit.pvbm.masks import VesselMasks
    from medvit.pvbm.pipeline import biomarker_columns, measure_masks

    columns = biomarker_columns(measures="pvbm")
    assert not set(columns) & {*morphology_columns(), *FOVEA_KEYS}
    assert set(columns) < set(biomarker_columns())
    mask = np.zeros((300, 300), bool)
    mask[148:153, 40:140] = True
    mask[60:140, 198:203] = True
    disc = (150.0, 150.0, 15.0)
    full = measure_masks(VesselMasks(mask), disc, fractal={"n_rotations": 1})
    pvbm = measure_masks(VesselMasks(mask), disc, fractal={"n_rotations": 1}, measures="pvbm")
    assert not set(pvbm) & set(morphology_columns())
    assert pvbm == {key: full[key] for key in pvbm}
    with pytest.raises(MedvitError, match="measures must be one of all, pvbm"):
        measure_masks(VesselMasks(mask), disc, measures="automorph")
