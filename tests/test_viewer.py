"""The viewer's logic without a browser: uploads, output folders, windows, slicing, overlays,
the probe, reconstructions to compare, and the cached samples."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from medvit.data import pydicom_sample
from medvit.errors import MedvitError
from medvit.viewer import display, studies
from medvit.viewer.samples import COMPLETE, sample_output


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_a_zipped_dicom_series_opens_through_medvit_io(tmp_path):
    series = pydicom_sample("ct_volume")
    data = _zip({f"export/{p.name}": p.read_bytes() for p in sorted(series.iterdir()) if p.is_file()})
    study = studies.open_upload("CT head.zip", data, tmp_path)
    assert study.kind == "dicom-series" and study.array.ndim == 3 and study.is_dicom
    assert study.path.is_dir() and tmp_path in study.path.parents
    tags = studies.dicom_tags(study.path)
    assert {"Modality", "SeriesInstanceUID"} <= {row["keyword"] for row in tags}
    assert "PixelData" not in {row["keyword"] for row in tags}
    # named by the zip, not by the folder it was extracted to ("CT_head_files")
    assert study.path.name == "CT_head_files" and studies.upload_title("CT head.zip", study.path) == "CT_head.zip"
    photo = studies.save_upload("photo.png", b"png bytes", tmp_path / "p")
    assert studies.upload_title("photo.png", photo) == "photo.png"
    single = studies.save_upload("one.zip", _zip({"inner/scan.dcm": b"x"}), tmp_path / "s")
    assert studies.upload_title("one.zip", single) == "scan.dcm"  # a zip of one file opens that file


@pytest.mark.parametrize("entries,links,message", [
    ({"../outside.dcm": b"x"}, (), "outside the folder"),
    ({"/abs.dcm": b"x"}, (), "outside the folder"),
    ({"a.dcm": b"x"}, ("link.dcm",), "symbolic link"),
])
def test_unsafe_zips_are_refused(tmp_path, entries, links, message):
    with pytest.raises(MedvitError, match=message):
        studies.save_upload("series.zip", _zip(entries, links), tmp_path / "up")
    assert not (tmp_path / "outside.dcm").exists()


def test_upload_names_stay_inside_and_bad_files_say_which(tmp_path):
    path = studies.save_upload("../../etc/passwd.png", b"not an image", tmp_path)
    assert path.parent == tmp_path and path.name == "passwd.png"
    with pytest.raises(MedvitError, match="scan.nii.gz"):
        studies.open_upload("scan.nii.gz", b"garbage bytes", tmp_path)
    with pytest.raises(MedvitError, match="empty"):
        studies.save_upload("empty.dcm", b"", tmp_path)
    with pytest.raises(MedvitError, match="too many|more than"):
        studies.safe_extract(_write(tmp_path / "many.zip", _zip({f"{i}.dcm": b"x" for i in range(5)})), tmp_path / "m",
                             max_files=4)


def test_a_row_without_status_is_its_own_status(tmp_path):
    (tmp_path / "mine.csv").write_text("image,status,error,score\na,ok,,1.0\nb,,,2.0\nc, ,,3.0\nd,error,bad,\n")
    table = studies.read_cohort_table(tmp_path / "mine.csv")
    assert list(table["status"]) == ["ok", studies.NO_STATUS, studies.NO_STATUS, "error"]


def test_qc_columns_flags_and_measures():
    from medvit.brats.qc import MAX_OUTSIDE_HEAD_FRACTION
    from medvit.pvbm.quality import MIN_RED_SHARE
    from medvit.viewer import qc

    table = pd.DataFrame({"image": ["a", "b", "c"], "status": ["ok", "ok", "error"], "wt_ml": [10.0, 8321.4, None],
                          "qc_head_ml": [1400.0, 1875.5, None], "disc_confidence": [0.9, 0.2, None],
                          "qc_flags": ["", ("79% of the segmentation (6560 mL) lies outside the head; whole tumour "
                                        "8321 mL is larger than a brain (> 1500 mL)"), None],
                          "qc_outside_head_fraction": [0.0, 0.7883, None]})
    assert qc.qc_columns(table.columns) == ["qc_flags", "qc_head_ml", "disc_confidence", "qc_outside_head_fraction"]
    assert list(qc.flagged(table)) == [False, True, False]
    assert qc.flags_of(table.loc[1, "qc_flags"])[1] == "whole tumour 8321 mL is larger than a brain (> 1500 mL)"
    assert not qc.flagged(table.drop(columns="qc_flags")).any()
    measures = qc.qc_measures(table.loc[1]).set_index("column")
    assert list(measures.index) == ["qc_head_ml", "disc_confidence", "qc_outside_head_fraction"]
    assert measures.loc["qc_outside_head_fraction", "value"] == "78.8%"
    assert measures.loc["qc_outside_head_fraction", "expected"] == f"≤ {MAX_OUTSIDE_HEAD_FRACTION:.0%}"
    assert measures.loc["qc_head_ml", ["value", "unit"]].tolist() == ["1876", "mL"]
    assert measures.loc["disc_confidence", "measure"] == "disc confidence"  # unknown to the viewer: by its name
    fundus = qc.qc_measures({"qc_red_share": 0.41, "qc_fov_solidity": float("nan")}).set_index("column")
    assert fundus.loc["qc_red_share", "expected"] == f"≥ {MIN_RED_SHARE}"
    assert fundus.loc["qc_fov_solidity", "value"] == "not measured"
    assert qc.refused_as_not_fundus("/x/astronaut.png: not a fundus photograph: colours unlike a retina")
    assert not qc.refused_as_not_fundus("/x/retina.png: the optic disc was not found") and not qc.refused_as_not_fundus(None)


def _write(path, data):
    path.write_bytes(data)
    return path


def test_output_folders_and_cohort_tables(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"image": ["a", "b"], "status": ["ok", "error"], "error": ["", "b: unreadable"],
                  "disc_radius": [90.5, None], "eye": ["left", "right"]}).to_csv(run / "biomarkers.csv", index=False)
    output = studies.open_output(run, expect="fundus")
    assert output.page == "fundus" and list(output.failed()["image"]) == ["b"]
    assert studies.numeric_columns(output.table) == ["disc_radius"]
    assert studies.group_columns(output.table) == ["status", "eye"]
    with pytest.raises(MedvitError, match="another bundle"):
        studies.open_output(run, expect="volume")
    (tmp_path / "other").mkdir()
    with pytest.raises(MedvitError, match="not the output of a medvit bundle"):
        studies.open_output(tmp_path / "other")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "volumes.csv").write_text("image,status,error,wt_ml\ncase,ok,,1.0\n")
    with pytest.raises(MedvitError, match="missing column.*segmentation"):
        studies.open_output(tmp_path / "old", expect="volume")
    (tmp_path / "bad.csv").write_text("name,value\nx,1\n")
    with pytest.raises(MedvitError, match="missing column.*image"):
        studies.read_cohort_table(tmp_path / "bad.csv")


def test_windows():
    assert display.window_for("CT lung", np.zeros(3)) == (-600.0, 1500.0)
    np.testing.assert_allclose(display.apply_window(np.array([-1000.0, -600.0, 150.0, 500.0]), -600, 1500),
                               [0.2333333, 0.5, 1.0, 1.0], atol=1e-6)
    mr = np.concatenate([np.zeros(100), np.linspace(1, 100, 100)])
    centre, width = display.auto_window(mr)  # zeros (outside the head) ignored
    assert np.isclose(centre - width / 2, np.percentile(np.linspace(1, 100, 100), 1))
    assert display.window_names({"modality": "CT"})[0] == "CT brain"
    assert display.window_names({"modality": "MR", "window_center": 40})[:2] == ["DICOM window", display.AUTO_WINDOW]


def test_volumes_are_shown_in_ras_with_mm_extents_and_probed():
    # an LPS volume (as DICOM stores it): x to the patient's left is flipped, y flipped
    volume = np.zeros((4, 5, 6), np.float32)
    volume[0, 0, 5] = 7.0  # patient's right-most, most anterior, top
    affine = np.diag([-2.0, -3.0, 4.0, 1.0])
    ras, ras_affine = display.to_ras(volume, affine)
    assert ras[3, 4, 5] == 7.0 and np.allclose(np.diag(ras_affine)[:3], [2, 3, 4])
    axial = display.plane_slice(ras, [2, 3, 4], "axial", (3, 4, 5))
    assert axial.image.shape == (5, 4) and axial.image[0, 3] == 7.0  # anterior at the top, left on the right
    assert axial.extent == (0.0, 8.0, 0.0, 15.0) and axial.crosshair == (7.0, 13.5)
    sagittal = display.plane_slice(ras, [2, 3, 4], "sagittal", (3, 4, 5))
    assert sagittal.image.shape == (6, 5) and sagittal.image[0, 4] == 7.0 and sagittal.extent[3] == 24.0
    labels = np.zeros_like(ras, np.uint8)
    labels[3, 4, 5] = 4
    found = display.probe({"flair": ras}, labels, ras_affine, (3, 4, 5))
    world = ras_affine @ [3, 4, 5, 1]
    assert found["values"] == {"flair": 7.0} and found["label_name"] == "enhancing tumour"
    assert found["ras_mm"] == tuple(round(float(v), 1) for v in world[:3])


def test_overlay_colours_and_outline():
    grey = np.full((9, 9), 0.5, np.float32)
    labels = np.zeros((9, 9), np.uint8)
    labels[1:8, 1:8] = 2
    labels[3:6, 3:6] = 4
    filled = display.overlay(grey, labels, ("WT", "TC", "ET"), style="fill")
    assert tuple(filled[4, 4]) == display.REGIONS["ET"]["colour"] and tuple(filled[1, 1]) == display.REGIONS["WT"]["colour"]
    assert tuple(filled[0, 0]) == (127, 127, 127)
    outline = display.overlay(grey, labels, ("WT",), style="outline")
    assert tuple(outline[1, 4]) == display.REGIONS["WT"]["colour"] and tuple(outline[4, 4]) == (127, 127, 127)
    none = display.overlay(grey, labels, ())
    assert (none == 127).all()


def test_region_labels_are_the_bundles():
    from medvit.brats.segment import REGION_LABELS

    assert {name.lower(): set(r["labels"]) for name, r in display.REGIONS.items()} == \
        {k: set(REGION_LABELS[k]) for k in ("wt", "tc", "et")}


def test_sense_beats_zero_filled_on_the_sample():
    from medvit.viewer.recon import compare, sample_kspace

    kspace, pixel_mm = sample_kspace(num_frames=2)
    result = compare(kspace, acceleration=4, pixel_mm=pixel_mm)
    means = result.mean_scores()
    assert result.images["SENSE"].shape == (2, 96, 192) and result.mask.sum() > 96 / 4
    # the thorax lies in the central half of the 2x oversampled readout, the half shown, on square pixels
    reference = result.images["reference"][0]
    assert result.shown("reference", 0).shape == (96, 96) and pixel_mm[0] == pixel_mm[1]
    cropped_off = np.concatenate([reference[:, :48], reference[:, 144:]], axis=1)
    assert cropped_off.max() < 0.1 * reference.max()  # only noise there
    assert means["SENSE"]["psnr"] > means["zero-filled"]["psnr"] + 1 and means["SENSE"]["nmse"] < means["zero-filled"]["nmse"]
    assert result.error("zero-filled", 0).max() <= 1.0


def test_varnet_joins_the_comparison_on_the_grid_and_scale_of_the_others():
    """A VarNet without cascades returns the RSS of its input: the zero-filled image, so its
    column must equal zero-filled (orientation, scale and frame order as the bundle runs it)."""
    from medvit.nets import VarNet
    from medvit.viewer.recon import compare, sample_kspace

    network = VarNet(num_cascades=0, sens_chans=2, sens_pools=1).eval()
    result = compare(sample_kspace(num_frames=2)[0], acceleration=8, sense_iterations=2, varnet=network)
    assert set(result.scores) == {"zero-filled", "SENSE", "VarNet"}
    np.testing.assert_allclose(result.images["VarNet"], result.images["zero-filled"], rtol=1e-4,
                               atol=1e-4 * result.images["zero-filled"].max())


def test_samples_are_made_once_and_a_cut_short_run_is_redone(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVIT_VIEWER_CACHE", str(tmp_path))
    monkeypatch.setenv("MEDVIT_DEMO_OUT", str(tmp_path / "no_demo_out"))
    calls = []

    def step(folder):
        calls.append(folder)
        (folder / "results").mkdir(parents=True)
        return ["made"]

    (tmp_path / "brats-swin-unetr").mkdir()  # a run cut short: no marker
    (tmp_path / "brats-swin-unetr" / "stale").write_text("x")
    assert sample_output("volume", step_fn=step) == tmp_path / "brats-swin-unetr" / "results"
    assert sample_output("volume", step_fn=step) == tmp_path / "brats-swin-unetr" / "results"
    assert len(calls) == 1 and not (tmp_path / "brats-swin-unetr" / "stale").exists()
    assert (tmp_path / "brats-swin-unetr" / COMPLETE).read_text().strip() == "made"
    assert sample_output("fundus", make=False) is None


def test_uploaded_images_become_volumes():
    from medvit.data import fundus_photo
    from medvit.io import read_image
    from medvit.viewer.volume import volume_from_image

    ct = volume_from_image(*read_image(pydicom_sample("ct_volume")))
    assert list(ct.channels) == ["SmartScore - Gated 0.5 sec"]  # its SeriesDescription, not "image"
    assert ct.shape[2] == 5 and ct.dicom["SmartScore - Gated 0.5 sec"][1]
    assert display.window_names(ct.meta)[:2] == ["DICOM window", "CT brain"]  # the file's window, then CT presets
    assert np.allclose(np.diag(ct.affine)[:3], ct.spacing)  # shown in RAS
    photo = volume_from_image(*read_image(fundus_photo()))
    name = fundus_photo().name  # no description: the file's name
    assert list(photo.channels) == [f"{name} 0", f"{name} 1", f"{name} 2"] and photo.shape == (1411, 1411, 1)
    assert not photo.dicom


def test_fundus_layers():
    from medvit.pvbm.masks import VesselMasks
    from medvit.pvbm.overlay import COLOURS
    from medvit.viewer.fundus import SKELETON_COLOUR, FundusAnalysis

    photo = np.full((80, 80, 3), 100, np.uint8)
    vessels = np.zeros((80, 80), bool)
    vessels[38:43, 5:75] = True
    skeleton = np.zeros_like(vessels)
    skeleton[40, 6:74] = True
    analysis = FundusAnalysis(photo, VesselMasks(vessels), (20.0, 20.0, 5.0), {}, {}, skeleton)
    assert (analysis.picture(overlay=False) == photo).all()
    drawn = analysis.picture(skeleton=True)
    assert tuple(drawn[40, 50]) == SKELETON_COLOUR and tuple(drawn[38, 50]) != (100, 100, 100)
    assert tuple(drawn[25, 20]) == COLOURS["disc"]  # the disc circle, r = 5 px below the centre
    plain = analysis.picture(vessels=False)
    assert tuple(plain[38, 50]) == (100, 100, 100)


def test_window_choices_follow_the_modality():
    mr = np.linspace(0, 900, 1000).reshape(10, 10, 10)
    ct = np.linspace(-1024, 1500, 1000).reshape(10, 10, 10)
    for meta, volume in (({"modality": "MR"}, ct), ({}, mr)):  # the file's Modality wins over the values
        names = display.window_names(meta, volume)
        assert names[0] == display.AUTO_WINDOW and not set(names) & set(display.WINDOW_PRESETS)
    for meta in ({"modality": "CT"}, {}):  # NIfTI names no modality: air at -1000 says CT
        assert display.window_names(meta, ct)[:len(display.WINDOW_PRESETS)] == list(display.WINDOW_PRESETS)
    low, high = np.percentile(mr[mr != 0], [5, 95])
    assert np.allclose(display.window_for("MR contrast (5-95th percentile)", mr), ((low + high) / 2, high - low))
    with pytest.raises(ValueError, match="unknown window"):
        display.window_for("CT brian", mr)


def test_a_case_opens_through_its_tumour():
    labels = np.zeros((20, 30, 40), np.uint8)
    labels[2:6, 20:28, 30:33] = 2  # the tumour is widest in x 2-5, y 20-27 and z 30-32 ...
    labels[4, 24, 33:38] = 4  # ... a thin spur makes the z centroid leave its widest slice
    labels[15:17, 2:4, 2:4] = 2  # a stray false positive far away
    i, j, k = display.opening_position(labels.shape, labels)
    assert 2 <= i <= 5 and 20 <= j <= 27 and 30 <= k <= 32 and labels[i, j, k]
    ring = np.zeros((20, 30, 40), np.uint8)
    ring[4:16, 5:25, 10:12] = 2
    ring[6:14, 8:22, 10:12] = 0  # a hollow tumour: its centre of mass is outside it
    assert ring[display.opening_position(ring.shape, ring)]
    assert display.opening_position(labels.shape, np.zeros_like(labels)) == (10, 15, 20)
    assert display.opening_position((5, 7, 9)) == (2, 3, 4)


@pytest.mark.parametrize("plane", display.PLANES)
def test_a_click_on_a_plane_finds_the_voxel_drawn_there(plane):
    shape = (4, 5, 6)
    volume = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)  # every voxel its own value
    position = (1, 2, 3)
    image = display.plane_slice(volume, (1.0, 2.0, 3.0), plane, position).image
    height, width = image.shape
    for row, column in ((0, 0), (height - 1, width - 1), (1, width - 2)):
        found = display.clicked(position, plane, (column + 0.5) / width, (row + 0.5) / height, shape)
        assert volume[found] == image[row, column]
        axis = display.PLANE_AXIS[plane]
        assert found[axis] == position[axis]  # a click stays in its slice
    assert display.scrolled(position, plane, 1, shape)[display.PLANE_AXIS[plane]] == position[display.PLANE_AXIS[plane]] + 1
    assert display.scrolled(position, plane, -50, shape)[display.PLANE_AXIS[plane]] == 0


@pytest.mark.parametrize("style", [None, "fill", "outline"])
def test_overlays_draw_only_the_legends_colours(style):
    rng = np.random.default_rng(0)
    grey = rng.random((40, 40)).astype(np.float32)
    labels = np.zeros((40, 40), np.uint8)
    labels[5:35, 5:35] = 2  # oedema around ...
    labels[10:30, 10:30] = 4  # ... an enhancing rim (the core's edge: TC and ET outlines coincide) ...
    labels[14:26, 14:26] = 1  # ... around necrosis
    rgb = display.overlay(grey, labels, *([] if style is None else [("WT", "TC", "ET"), style]))  # None: the default
    legend = {tuple(r["colour"]) for r in display.REGIONS.values()}
    pixels = {tuple(p) for p in rgb.reshape(-1, 3)}
    coloured = {p for p in pixels if len(set(p)) > 1}  # not grey
    assert coloured == legend  # every region drawn, and nothing blended into another colour


def test_figure_png_says_where_the_image_is():
    from io import BytesIO

    from PIL import Image

    from medvit.viewer.figures import figure_png, slice_figure

    volume = np.zeros((30, 10, 3), np.float32)  # wide and flat: the axes' box is letterboxed
    sl = display.plane_slice(volume, (1.0, 1.0, 1.0), "axial", (0, 0, 1))
    rgb = np.zeros((*sl.image.shape, 3), np.uint8)
    rgb[..., 0] = 255  # pure red, found nowhere else in the figure
    png, (left, top, right, bottom) = figure_png(slice_figure(sl, rgb, "red", crosshair=False))
    picture = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    height, width = picture.shape[:2]
    red = np.argwhere((picture[..., 0] > 250) & (picture[..., 1] < 5) & (picture[..., 2] < 5))
    (r0, c0), (r1, c1) = red.min(0), red.max(0)
    assert abs(r0 / height - top) < 0.01 and abs((r1 + 1) / height - bottom) < 0.01
    assert abs(c0 / width - left) < 0.01 and abs((c1 + 1) / width - right) < 0.01


def test_case_series_are_labelled_by_their_description(tmp_path):
    from medvit.brats.synthetic import write_brats_case, write_brats_dicom_case
    from medvit.viewer.volume import volume_from_case

    write_brats_dicom_case(tmp_path, "dicom_case", seed=1, spacing=8.0)
    write_brats_case(tmp_path, "nifti_case", seed=1, spacing=8.0)
    dicom = volume_from_case(tmp_path / "dicom_case")
    assert [dicom.label(n) for n in dicom.channels] == ["t1 · T1 AX", "t1ce · T1 AX POST GD", "t2 · T2 TSE AX",
                                                         "flair · AX FLAIR"]
    assert dicom.window_names("flair")[0] == display.AUTO_WINDOW and not dicom.is_ct("flair")
    nifti = volume_from_case(tmp_path / "nifti_case", tmp_path / "nifti_case" / "nifti_case_seg.nii.gz")
    assert nifti.label("t2") == "t2 · nifti_case_t2.nii.gz"
    assert nifti.labels[nifti.start] > 0  # opens on the tumour


def test_every_fundus_column_of_a_full_run_has_its_unit():
    """The Fundus table's unit column covers what a run writes: pvbm's, the fovea's, AutoMorph's
    per-zone columns (ratios, px, 1/px) and their physical sizes."""
    from medvit.pvbm.pipeline import biomarker_columns
    from medvit.viewer.fundus import biomarker_unit

    text = {"disc_source", "segmentation", "av_source"}
    for name in biomarker_columns(av=True, physical=True):
        assert name in text or biomarker_unit(name), name
    assert biomarker_unit("tortuosity_curvature_zone_b") == "1/px"
    assert biomarker_unit("tortuosity_curvature_zone_b_per_mm") == "1/mm"
    assert biomarker_unit("mean_width_fov_mm") == "mm" and biomarker_unit("vessel_density_zone_c") == "ratio"
    assert biomarker_unit("artery_area") == "px²" and biomarker_unit("avr") == "ratio"
