"""``medvit biomarkers`` and the bundle's inference on a cohort folder of real and broken files."""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from medvit.pvbm.pipeline import biomarker_columns
from medvit.pvbm.quality import QUALITY_COLUMNS
from medvit.bundle.registry import bundles_root
from tests.conftest import run_cli
from tests.fundus_masks import sato_mask

CONTRACT = ["image", "status", "error", "disc_x", "disc_y", "disc_radius", "area", "length", "perimeter",
            "tortuosity_index", "median_tortuosity", "median_branching_angle", "start_points", "end_points",
            "intersection_points", "D0", "D1", "D2", "singularity_length"]


def read_rows(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, {row["image"]: row for row in reader}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The real photo, a mirrored copy in a sub-folder, and the bad inputs the issue names."""
    root = tmp_path_factory.mktemp("cohort")
    photo = skimage.data.retina()
    Image.fromarray(photo).save(root / "retina.png")
    (root / "site_b").mkdir()
    Image.fromarray(photo[:, ::-1].copy()).save(root / "site_b" / "retina.jpg", quality=95)
    Image.fromarray(np.zeros((600, 600, 3), np.uint8)).save(root / "black.png")
    Image.fromarray(np.full((40, 40), 120, np.uint8)).save(root / "tiny_grey.png")
    Image.fromarray(np.full((300, 300), 120, np.uint8)).save(root / "grey.png")
    (root / "notes.png").write_text("not an image")
    Image.fromarray(skimage.data.astronaut()).save(root / "astronaut.png")  # a photo, not of a fundus
    return root


@pytest.fixture(scope="module")
def classical_run(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli("biomarkers", str(cohort), "--out", str(out / "cohort.csv"), "--overlays", str(out / "overlays"),
                     "--quiet", "--n-rotations", "7")
    assert result.returncode == 0, result.stderr
    return out, result


def test_one_row_per_image_in_the_contract_order(classical_run):
    out, result = classical_run
    header, rows = read_rows(out / "cohort.csv")
    assert header[: len(CONTRACT)] == CONTRACT
    assert header[-2:] == ["settings_hash", "input_hash"]
    assert sorted(rows) == ["astronaut.png", "black.png", "grey.png", "notes.png", "retina.png", "site_b/retina.jpg",
                            "tiny_grey.png"]
    assert header[-2 - len(QUALITY_COLUMNS):-2] == list(QUALITY_COLUMNS)
    assert "2 image(s) measured, 5 failed" in result.stdout


def test_bad_images_get_a_reason_not_a_crash(classical_run):
    _, rows = read_rows(classical_run[0] / "cohort.csv")
    reasons = {name: rows[name]["error"] for name in rows if rows[name]["status"] == "error"}
    assert "entirely black" in reasons["black.png"]
    assert "not an image" in reasons["notes.png"]
    assert "too small" in reasons["tiny_grey.png"]
    assert "colour fundus photograph" in reasons["grey.png"] and "grey.png: " in reasons["grey.png"]
    # no biomarkers for a picture that is not of a retina: the reasons, measured
    assert "astronaut.png: not a fundus photograph: the field of view is not round" in reasons["astronaut.png"]
    assert "colours unlike a retina (red 0.41" in reasons["astronaut.png"] and rows["astronaut.png"]["area"] == ""
    assert all("Traceback" not in r for r in reasons.values())


def test_real_photo_and_its_mirror_measure_alike(classical_run):
    """The mirrored photo is the same eye: same disc radius, biomarkers within a few %."""
    _, rows = read_rows(classical_run[0] / "cohort.csv")
    a, b = rows["retina.png"], rows["site_b/retina.jpg"]
    assert a["status"] == b["status"] == "ok"
    assert abs(float(a["disc_x"]) - (1410 - float(b["disc_x"]))) < 20
    for key in ("area", "length", "D0", "median_tortuosity"):
        assert float(a[key]) == pytest.approx(float(b[key]), rel=0.05), key
    assert 5 <= float(a["start_points"]) <= 30 and 1.3 < float(a["D0"]) < 1.8
    assert a["disc_source"] == "detected" and a["segmentation"] == "classical"
    assert float(a["qc_fov_fraction"]) > 0.6 and float(a["qc_red_share"]) > 0.5  # the photo's quality measures
    assert a["qc_grade"] == b["qc_grade"] == "good" and a["qc_reasons"] == "" and float(a["qc_sharpness"]) > 0.02


def test_overlays_follow_the_folders(classical_run):
    out, _ = classical_run
    assert (out / "overlays" / "retina_png_overlay.png").is_file()
    assert (out / "overlays" / "site_b" / "retina_jpg_overlay.png").is_file()
    assert Image.open(out / "overlays" / "retina_png_overlay.png").size == (1411, 1411)


def test_rerun_skips_what_is_done(cohort, classical_run):
    out, _ = classical_run
    before = (out / "cohort.csv").read_text()
    result = run_cli("biomarkers", str(cohort), "--out", str(out / "cohort.csv"), "--overlays", str(out / "overlays"),
                     "--quiet", "--n-rotations", "7")
    assert result.returncode == 0, result.stderr
    counts = json.loads((out / "cohort.provenance.json").read_text())["counts"]
    assert counts["skipped"] == 2 and counts["computed"] == 5  # only the failed ones are retried
    assert (out / "cohort.csv").read_text() == before


def _artery_vein_mask():
    """An A/V colour mask (RITE / LES-AV style: red artery, blue vein) of the real photo: its
    Sato vessels above the disc centre coloured artery, below it vein. A stand-in with no
    anatomical meaning, but each half holds one of the main arcades, so both masks have
    vessels of realistic widths crossing zone B."""
    vessels = sato_mask(93, 1)
    upper = np.zeros(vessels.shape, bool)
    upper[:630] = True
    rgb = np.zeros(vessels.shape + (3,), np.uint8)
    rgb[vessels & upper, 0] = 255
    rgb[vessels & ~upper, 2] = 255
    return rgb


def test_artery_vein_masks_disc_override_and_pixel_size(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    Image.fromarray(skimage.data.retina()).save(images / "eye.png")
    Image.fromarray(_artery_vein_mask()).save(masks / "eye.png")
    Image.fromarray(skimage.data.retina()).save(images / "wrong_mask.png")
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(masks / "wrong_mask.png")
    Image.fromarray(skimage.data.retina()).save(images / "disc_outside.png")
    Image.fromarray(_artery_vein_mask()).save(masks / "disc_outside.png")
    discs = tmp_path / "discs.csv"
    discs.write_text("image,x,y,radius\neye.png,225,630,90\nwrong_mask.png,225,630,90\ndisc_outside.png,2000,630,90\n")
    out = tmp_path / "av.csv"
    result = run_cli("biomarkers", str(images), "--out", str(out), "--masks", str(masks), "--disc", str(discs),
                     "--pixel-size-um", "10", "--quiet", "--n-rotations", "3")
    assert result.returncode == 0, result.stderr
    header, rows = read_rows(out)
    assert header[3:-2] == [*biomarker_columns(av=True, physical=True), *QUALITY_COLUMNS]
    eye = rows["eye.png"]
    assert eye["status"] == "ok", eye["error"]
    assert (eye["disc_x"], eye["disc_source"], eye["segmentation"]) == ("225.0", "override", "masks")
    assert float(eye["area"]) == pytest.approx(float(eye["artery_area"]) + float(eye["vein_area"]))
    crae, crve = float(eye["crae_knudtson"]), float(eye["crve_knudtson"])
    assert 3 < crae < 30 and 3 < crve < 30  # px
    assert float(eye["crae_hubbard"]) > 0 and not math.isnan(float(eye["crve_hubbard"]))  # µm
    assert float(eye["length_mm"]) == pytest.approx(float(eye["length"]) * 0.01)
    assert float(eye["area_mm2"]) == pytest.approx(float(eye["area"]) * 1e-4)
    assert float(eye["crae_knudtson_mm"]) == pytest.approx(crae * 0.01)
    assert "mask is 100×100 but the photo is 1411×1411" in rows["wrong_mask.png"]["error"]
    assert "lies outside the 1411×1411 image" in rows["disc_outside.png"]["error"]


def test_anonymised_ids_keep_names_out_of_the_table(tmp_path):
    images = tmp_path / "patient_smith"
    images.mkdir()
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(images / "smith_john_left.png")
    out = tmp_path / "anon.csv"
    result = run_cli("biomarkers", str(images), "--out", str(out), "--salt", "s3cret", "--quiet")
    # the one (black) photo fails, so the run fails (issue 16): its summary names the case by its id too
    assert result.returncode == 1 and "0 ok, 1 failed" in result.stderr, result.stderr
    assert "smith" not in out.read_text().lower() and "smith" not in result.stderr.lower()
    assert "smith_john_left.png" in (tmp_path / "anon.ids.csv").read_text()


def test_bundle_inference_writes_biomarkers_csv(cohort, classical_run, tmp_path):
    """``python -m monai.bundle run`` is the same code path: the same numbers as the CLI."""
    bundle = bundles_root() / "pvbm_vessel_biomarkers"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
               "--dataset_dir", str(cohort), "--output_dir", str(tmp_path), "--progress", "False",
               "--fractal#n_rotations", "7"]
    result = subprocess.run(command, cwd=bundle, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    _, ours = read_rows(tmp_path / "biomarkers.csv")
    _, cli = read_rows(classical_run[0] / "cohort.csv")
    for name in ("retina.png", "site_b/retina.jpg"):
        for key in CONTRACT[3:]:
            assert ours[name][key] == cli[name][key], (name, key)
    assert ours["black.png"]["status"] == "error"


def test_cli_refuses_a_broken_disc_table_up_front(cohort, tmp_path):
    bad = tmp_path / "discs.csv"
    bad.write_text("name,x,y\n")
    result = run_cli("biomarkers", str(cohort), "--out", str(tmp_path / "x.csv"), "--disc", str(bad))
    assert result.returncode == 1
    assert "lacks column(s) image, radius" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # 10-20 s: the default suite stays under 15 min on 2 cores
def test_pool_and_dask_give_the_same_table(tmp_path):
    """The same cohort in-process, on 2 local worker processes and on a loopback Dask cluster."""
    from distributed import LocalCluster

    from medvit.pvbm.cohort import run_biomarker_cohort

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    photo, vessels = skimage.data.retina(), sato_mask(93)
    for k in range(3):
        Image.fromarray(np.ascontiguousarray(np.rot90(photo, k))).save(images / f"eye{k}.png")
        Image.fromarray(np.ascontiguousarray(np.rot90(vessels, k)).astype(np.uint8) * 255).save(masks / f"eye{k}.png")
    options = dict(masks_dir=masks, fractal={"n_rotations": 3}, progress=False)
    run_biomarker_cohort(images, tmp_path / "local.csv", **options)
    run_biomarker_cohort(images, tmp_path / "pool.csv", workers=2, **options)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        run_biomarker_cohort(images, tmp_path / "dask.csv", scheduler=cluster.scheduler_address, **options)
    local = (tmp_path / "local.csv").read_text()
    assert local.count(",ok,") == 3
    assert (tmp_path / "pool.csv").read_text() == local
    assert (tmp_path / "dask.csv").read_text() == local


def test_disc_table_names_match_after_unicode_normalisation_and_unmatched_rows_are_reported(tmp_path):
    """A disc table typed on another system (é decomposed, NFD) still matches the photo; a row that
    matches no photo (a typo) is reported and recorded, not silently left to the detector; a radius
    of 1e12 px is an error row, not a measurement (issue 17, item 10)."""
    import unicodedata

    photo = np.asarray(Image.fromarray(skimage.data.retina()).resize((360, 360), Image.LANCZOS))
    images = tmp_path / "photos"
    images.mkdir()
    nfc = unicodedata.normalize("NFC", "Ménière_left.png")
    Image.fromarray(photo).save(images / nfc)
    Image.fromarray(photo).save(images / "huge.png")
    table = tmp_path / "discs.csv"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    table.write_text(f"image,x,y,radius\n{nfd},250,180,14\nretna_right.png,100,100,10\nhuge.png,180,180,1e12\n",
                     encoding="utf-8")
    out = tmp_path / "out" / "biomarkers.csv"
    result = run_cli("biomarkers", str(images), "--out", str(out), "--disc", str(table), "--quiet", "--n-rotations", "5")
    assert result.returncode == 0, result.stderr
    assert f"warning: {table}: 1 row(s) match no photo, so their discs are not used: retna_right.png" in result.stderr
    _, rows = read_rows(out)
    assert rows[nfc]["status"] == "ok" and rows[nfc]["disc_source"] == "override" and rows[nfc]["disc_x"] == "250.0"
    assert rows["huge.png"]["status"] == "error"
    assert "optic disc radius 1e+12 px is larger than half the 360×360 image" in rows["huge.png"]["error"]
    provenance = json.loads(out.with_name("biomarkers.provenance.json").read_text())["provenance"]
    assert provenance["disc_table_unmatched"] == ["retna_right.png"]


def test_a_rerun_in_a_batch_log_reports_progress_and_what_it_skipped(cohort, classical_run):
    """``medvit biomarkers`` with stdout and stderr redirected (not a terminal): progress lines
    and, on a re-run, how many photos were skipped as done (issue 16, item 2)."""
    out, _ = classical_run
    result = run_cli("biomarkers", str(cohort), "--out", str(out / "cohort.csv"), "--overlays", str(out / "overlays"),
                     "--n-rotations", "7")
    assert result.returncode == 0, result.stderr
    total = len([p for p in cohort.rglob("*") if p.is_file() and p.suffix != ".csv"])
    assert f"2 of {total} case(s) already done with the same settings and inputs: skipped" in result.stderr
    assert f"medvit: {total - 2}/{total - 2} case(s) done, {total - 2} failed" in result.stderr
    assert "notes.png" in result.stderr  # each failure's reason
