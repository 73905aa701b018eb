"""Every viewer page with ``streamlit.testing.v1.AppTest`` on real sample outputs: it renders
with no prior session state, shows the case's numbers, and reacts to its widgets."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit", reason="the viewer needs streamlit (pip install medvit[viewer])")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.viewer_samples import make_samples  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "apps" / "viewer" / "app.py")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    before = os.environ.get("MEDVIT_VIEWER_CACHE")
    made = make_samples(tmp_path_factory.getbasetemp() / "viewer-cache")
    yield made
    if before is None:
        os.environ.pop("MEDVIT_VIEWER_CACHE", None)
    else:
        os.environ["MEDVIT_VIEWER_CACHE"] = before


def page(name: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if name:
        at.switch_page(f"views/{name}.py")
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def labelled(widgets, label: str):
    return next(widget for widget in widgets if widget.label == label)


def texts(at: AppTest) -> str:
    return "\n".join(e.value for e in [*at.markdown, *at.info, *at.warning, *at.error, *at.caption])


def test_home_page():
    at = ok(page())
    assert "not for clinical use" in at.warning[0].value


def test_brain_tumour_page(samples):
    row = pd.read_csv(samples["volume"] / "volumes.csv").set_index("image").loc["synthetic_dicom"]
    at = ok(page("1_Brain_tumour"))
    metrics = {m.label.split()[0]: m.value for m in at.metric}
    assert metrics == {r: f"{row[f'{r.lower()}_ml']:.1f} mL" for r in ("WT", "TC", "ET")}
    assert "random weights" in at.warning[0].value and "empty_case" in texts(at)  # the failed case, listed
    window = labelled(at.selectbox, "Window")  # widget keys carry the case: found by label
    assert window.value.startswith("MR auto") and "CT bone" not in window.options  # MR: no CT presets
    window.set_value("MR full range").run()
    flair = texts(at)
    assert labelled(at.number_input, "Window width").value > 0 and labelled(at.selectbox, "Window").value == "MR full range"
    labelled(at.number_input, "Window centre").set_value(123.0).run()  # typed: the preset says so
    assert labelled(at.selectbox, "Window").value == "custom" and labelled(at.number_input, "Window centre").value == 123.0
    labelled(at.slider, "Axial slice (z)").set_value(3)
    at.radio(key="overlay_style").set_value("fill").run()
    ok(at)
    assert "voxel (x, y, z) **(" in texts(at) and ", 3)**" in texts(at) and texts(at) != flair
    assert any(e.label == "DICOM tags" for e in at.expander)


def test_brain_tumour_page_shows_the_qc_flags_and_measures(samples):
    """The sample's case is at 5 mm through random weights: its row is flagged (spacing, and what
    the segmentation does); each flag is a warning, the measures are shown with their limits."""
    from medvit.brats.qc import MAX_OUTSIDE_HEAD_FRACTION

    row = pd.read_csv(samples["volume"] / "volumes.csv").set_index("image").loc["synthetic_dicom"]
    flags = row["qc_flags"].split("; ")
    assert any(flag.startswith("spacing 5x5x5 mm") for flag in flags)
    at = ok(page("1_Brain_tumour"))
    warnings = [e.value for e in at.warning]
    assert f"({len(flags)} flag(s)" in warnings[1]  # above the planes
    assert warnings[2:] == flags  # the QC panel: one warning per flag
    measures = at.dataframe[0].value.set_index("column")
    assert measures.loc["qc_head_ml", "value"] == f"{row['qc_head_ml']:.4g}" and measures.loc["qc_head_ml", "unit"] == "mL"
    assert measures.loc["qc_outside_head_fraction", "value"] == f"{row['qc_outside_head_fraction']:.1%}"
    assert measures.loc["qc_outside_head_fraction", "expected"] == f"≤ {MAX_OUTSIDE_HEAD_FRACTION:.0%}"


def test_fundus_page(samples):
    rows = pd.read_csv(samples["fundus"] / "biomarkers.csv").set_index("image")
    at = ok(page("2_Fundus"))
    case = at.sidebar.selectbox(key="fundus_case")
    assert case.value == case.options[0] == "retina.jpg"  # the box shows the case shown
    row = rows.loc["retina.jpg"]
    assert f"radius **{row['disc_radius']:.1f} px**" in texts(at)
    table = at.dataframe[0].value.set_index("biomarker")
    assert float(table.loc["median_tortuosity", "value"]) == pytest.approx(row["median_tortuosity"], rel=1e-5)
    assert table.loc["disc_radius", "unit"] == "px" and table.loc["area", "unit"] == "px²"
    assert table.loc["D0", "unit"] == "dimension" and table.loc["median_branching_angle", "unit"] == "degrees"
    assert "qc_red_share" not in table.index  # the QC measures have their own panel: verdict and values
    assert at.success[0].value.startswith("Accepted: a fundus photograph")
    measures = at.dataframe[1].value.set_index("column")
    assert measures.loc["qc_red_share", "value"] == f"{row['qc_red_share']:.4g}"
    assert measures.loc["qc_fov_fraction", "value"] == f"{row['qc_fov_fraction']:.1%}"
    assert "Sizes in pixels" in texts(at) and "**Key:**" in texts(at) and "optic disc" in texts(at)
    assert "scikit-image" in at.info[0].value and "wrote" not in texts(at)  # a sentence, not a log line
    case.set_value("retina_mirrored.png").run()
    assert f"radius **{rows.loc['retina_mirrored.png', 'disc_radius']:.1f} px**" in texts(at)
    at.checkbox(key="skeleton").check().run()
    ok(at)
    at.checkbox(key="overlay").uncheck().run()
    ok(at)
    assert at.checkbox(key="vessels").disabled
    # the run's row has no A/V columns: classified from the photo on request, with their units
    case.set_value("retina.jpg").run()
    assert "avr" not in at.dataframe[0].value["biomarker"].values
    at.checkbox(key="classify_av").check().run()
    table = ok(at).dataframe[0].value.set_index("biomarker")
    assert table.loc["av_source", "value"] == "classified" and table.loc["avr", "unit"] == "ratio"
    assert float(table.loc["avr", "value"]) == pytest.approx(
        float(table.loc["crae_knudtson", "value"]) / float(table.loc["crve_knudtson", "value"]), rel=1e-4)
    assert float(table.loc["median_tortuosity", "value"]) == pytest.approx(
        row["median_tortuosity"], rel=1e-5)  # the run's own values stay
    assert "screening estimates" in texts(at)


def test_fundus_page_shows_why_a_photo_was_refused(samples):
    """The astronaut's error row: the photo, the verdict and each failed check with its measure, not a blank."""
    from medvit.pvbm.quality import MAX_BLUE_SHARE

    error = pd.read_csv(samples["fundus"] / "biomarkers.csv").set_index("image").loc["not_a_fundus.png", "error"]
    at = page("2_Fundus")
    case = at.sidebar.selectbox(key="fundus_case")
    assert case.options[-1] == "not_a_fundus.png (failed)"
    case.set_value("not_a_fundus.png").run()
    assert not at.exception
    assert "not_a_fundus.png: rejected, not a fundus photograph" in at.error[0].value
    warnings = [e.value for e in at.warning]
    assert any(w.startswith("the field of view is not round (solidity 0.86") for w in warnings)
    assert any(w.startswith("colours unlike a retina (red 0.41, blue 0.28") for w in warnings)
    assert all(w.split(" (")[0] in error for w in warnings if not w.startswith("These results"))
    measures = at.dataframe[0].value.set_index("column")
    assert measures.loc["qc_blue_share", "expected"] == f"≤ {MAX_BLUE_SHARE}"
    assert float(measures.loc["qc_blue_share", "value"]) > MAX_BLUE_SHARE
    assert not at.success  # no "accepted"
    case.set_value("retina.jpg").run()
    ok(at)
    assert at.success[0].value.startswith("Accepted")


def test_chest_xray_page(samples):
    table = pd.read_csv(samples["cxr"] / "predictions.csv").set_index("image")
    at = ok(page("3_Chest_X-ray"))
    assert "random weights" in at.warning[0].value and "broken.png" in texts(at)
    at.selectbox(key="cxr_case").set_value("cr_export.dcm").run()
    row = table.loc["cr_export.dcm"]
    labels = list(table.columns[table.columns.get_loc("error") + 1:table.columns.get_loc("top_finding")])
    summary = next(m.value for m in at.markdown if m.value.startswith("Top finding"))
    above = sum(row[label] >= 0.5 for label in labels)
    assert f"**{row['top_finding']}** ({row[row['top_finding']]:.3f})" in summary and f"**{above}** above" in summary
    at.slider(key="threshold").set_value(1.0).run()
    assert "**0** above" in next(m.value for m in at.markdown if m.value.startswith("Top finding"))
    assert at.checkbox(key="saliency").value


def test_reconstruction_page():
    from medvit.viewer.recon import compare, sample_kspace

    at = ok(page("4_Reconstruction"))
    kspace, pixel_mm = sample_kspace()
    expected = compare(kspace, 8).mean_scores()
    assert "cardiac" in at.info[0].value and "MNI152" not in at.info[0].value
    assert f"pixels {pixel_mm[0]:.2f} × {pixel_mm[1]:.2f} mm" in texts(at)
    assert {m.label: m.value for m in at.metric} == {f"{k}: mean PSNR": f"{v['psnr']:.2f} dB" for k, v in expected.items()}
    at.selectbox(key="acceleration").set_value(4)
    next(s for s in at.slider if s.label == "Frame").set_value(5).run()
    ok(at)
    faster = compare(kspace, 4)
    assert at.metric[1].value == f"{faster.mean_scores()['SENSE']['psnr']:.2f} dB"
    assert at.dataframe[0].value["PSNR (dB)"].iloc[1] == pytest.approx(faster.scores["SENSE"][5]["psnr"], abs=1e-3)


def test_reconstruction_page_adds_a_varnet_checkpoint(tmp_path):
    import torch

    from medvit.nets import VarNet

    arguments = {"num_cascades": 1, "chans": 4, "pools": 2, "sens_chans": 2, "sens_pools": 1}
    torch.manual_seed(0)
    torch.save({"state_dict": VarNet(**arguments).state_dict()}, tmp_path / "varnet.pt")
    at = ok(page("4_Reconstruction"))
    at.radio(key="varnet_source").set_value("checkpoint file").run()
    at.text_input(key="varnet_ckpt").set_value(str(tmp_path / "varnet.pt"))
    at.text_input(key="varnet_args").set_value(json.dumps(arguments)).run()
    ok(at)
    assert [m.label for m in at.metric][-1] == "VarNet: mean PSNR"
    at.text_input(key="varnet_args").set_value('{"num_cascades": 2}').run()
    assert "does not fit VarNet" in at.error[0].value


def test_cohort_page_and_click_through(samples):
    at = ok(page("5_Cohort"))
    assert at.selectbox(key="cohort_sample").options[-1] == "Chest X-ray findings (predictions.csv)"
    assert {m.label: m.value for m in at.metric} == {"Cases": "2", "Succeeded": "1", "Failed": "1", "QC flagged": "1"}
    assert list(at.dataframe[1].value["image"]) == ["empty_case"]  # the failed cases with their error
    assert list(at.dataframe[0].value.columns[:5]) == ["image", "status", "qc_flags", "qc_head_ml",
                                                        "qc_outside_head_fraction"]  # QC beside the case
    status = next(m for m in at.multiselect if m.label == "Status")
    assert status.value == ["error", "ok"] and "2 of 2 rows" in at.subheader[0].value
    qc = next(r for r in at.radio if r.label == "QC flags")
    qc.set_value("flagged only").run()
    assert "1 of 2 rows" in at.subheader[0].value and list(at.dataframe[0].value["image"]) == ["synthetic_dicom"]
    next(r for r in at.radio if r.label == "QC flags").set_value("not flagged").run()
    assert list(at.dataframe[0].value["image"]) == ["empty_case"]
    next(r for r in at.radio if r.label == "QC flags").set_value("all rows").run()
    status.set_value(["ok"]).run()
    assert "1 of 2 rows" in at.subheader[0].value and len(at.dataframe[0].value) == 1
    at.selectbox(key="cohort_sample").set_value("Fundus biomarkers (biomarkers.csv)").run()
    ok(at)
    assert at.metric[0].value == "3" and not any(r.label == "QC flags" for r in at.radio)  # no qc_flags column
    columns = list(at.dataframe[0].value.columns)
    qc = [c for c in columns if c.startswith("qc_")]  # the photo's quality measures beside the case
    assert "qc_red_share" in qc and columns[:2] == ["image", "status"] and set(qc) <= set(columns[:len(qc) + 4])
    choice = next(s for s in at.selectbox if s.label == "Case")
    choice.set_value("retina_mirrored.png").run()
    at.button(key="open_button").click().run()
    ok(at)
    assert at.title[0].value == "Retinal vessel biomarkers"
    assert at.selectbox(key="fundus_case").value == "retina_mirrored.png"
    assert at.radio(key="fundus_source").value == "Output folder"


def test_fundus_qc_panel_of_a_run_without_qc_columns_says_not_checked(samples, tmp_path):
    import shutil

    table = pd.read_csv(samples["fundus"] / "biomarkers.csv")
    (tmp_path / "run").mkdir()
    from medvit.viewer.qc import qc_columns

    table[table["image"] == "retina.jpg"].drop(columns=qc_columns(table.columns)).to_csv(
        tmp_path / "run" / "biomarkers.csv", index=False)
    shutil.copytree(samples["fundus"] / "photos", tmp_path / "photos")  # found beside the output folder
    at = page("2_Fundus")
    at.sidebar.radio(key="fundus_source").set_value("Output folder").run()
    at.text_input(key="fundus_folder").set_value(str(tmp_path / "run")).run()
    ok(at)
    assert at.info[-1].value.startswith("Not checked") and not at.success


def test_cohort_rows_without_a_status_are_kept(tmp_path):
    (tmp_path / "mine.csv").write_text("image,status,error,score\na,ok,,1.0\nb,,,2.0\nc,failed,bad file,\n")
    at = page("5_Cohort")
    at.sidebar.radio(key="cohort_source").set_value("Output folder or CSV path").run()
    at.text_input(key="cohort_path").set_value(str(tmp_path / "mine.csv")).run()
    ok(at)
    status = next(m for m in at.multiselect if m.label == "Status")
    assert status.value == ["(no status)", "failed", "ok"] and "3 of 3 rows" in at.subheader[0].value
    status.set_value(["(no status)"]).run()
    assert list(at.dataframe[0].value["image"]) == ["b"]


def test_bad_input_is_a_message(samples, tmp_path):
    at = page("1_Brain_tumour")
    at.sidebar.radio(key="volume_source").set_value("Output folder").run()
    at.text_input(key="volume_folder").set_value(str(samples["fundus"])).run()
    assert not at.exception and "another bundle" in at.error[0].value
    (tmp_path / "bad.csv").write_text("name,value\nx,1\n")
    at = page("5_Cohort")
    at.sidebar.radio(key="cohort_source").set_value("Output folder or CSV path").run()
    at.text_input(key="cohort_path").set_value(str(tmp_path / "bad.csv")).run()
    assert not at.exception and "missing column" in at.error[0].value


def test_cohort_page_opens_a_bundle_table_by_path(samples):
    at = page("5_Cohort")
    at.sidebar.radio(key="cohort_source").set_value("Output folder or CSV path").run()
    at.text_input(key="cohort_path").set_value(str(samples["cxr"] / "predictions.csv")).run()
    ok(at)
    assert {m.label: m.value for m in at.metric} == {"Cases": "3", "Succeeded": "2", "Failed": "1"}
    assert next(s for s in at.selectbox if s.label == "Case").options == ["cr_export.dcm", "phantom_00000.png"]
