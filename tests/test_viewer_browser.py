"""The viewer in a real browser: ``streamlit run`` headless on a free loopback port, Debian's
Chromium driven by Playwright (no browser download), every page opened, screenshotted and
checked for the case's numbers. Screenshots go to ``$MEDVIT_ARTEFACTS/viewer`` (default: the
session's pytest temporary folder)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from medvit.data import pydicom_sample
from tests.viewer_samples import make_samples

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install medvit[viewer])")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; `make test` does it as root)")
    cache = tmp_path_factory.getbasetemp() / "viewer-cache"
    samples = make_samples(cache)
    port = _free_port()
    env = {**os.environ, "MEDVIT_VIEWER_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "apps" / "viewer" / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"streamlit did not start:\n{server.stdout.read().decode() if server.poll() is not None else ''}")
            time.sleep(0.5)
        yield url, samples
    finally:
        server.terminate()
        server.wait(timeout=20)


def _expected(samples) -> dict[str, list[str]]:
    from medvit.viewer.recon import compare, sample_kspace

    volume = pd.read_csv(samples["volume"] / "volumes.csv").set_index("image").loc["synthetic_dicom"]
    fundus = pd.read_csv(samples["fundus"] / "biomarkers.csv").set_index("image").loc["retina.jpg"]
    cxr = pd.read_csv(samples["cxr"] / "predictions.csv").set_index("image").loc["cr_export.dcm"]
    psnr = compare(sample_kspace()[0], 8).mean_scores()["SENSE"]["psnr"]
    return {
        "": ["medvit viewer"],
        # the random-weight case is QC-flagged (5 mm spacing at least): each flag is shown as a warning
        "Brain_tumour": [f"{volume['wt_ml']:.1f} mL", f"{volume['et_ml']:.1f} mL", "Quality control flagged this case",
                         *volume["qc_flags"].split("; ")],
        "Fundus": [f"{fundus['disc_radius']:.1f} px"],
        "Chest_X-ray": [f"{cxr[cxr['top_finding']]:.3f}", str(cxr["top_finding"])],
        "Reconstruction": [f"{psnr:.2f} dB"],
        "Cohort": ["Succeeded"],
    }


def _settle(page) -> None:
    """Wait until the script has finished (no "running" widget) and the charts have drawn."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
    for chart in page.locator('[data-testid="stPlotlyChart"]').all():
        chart.locator(".main-svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)


def test_every_page_shows_its_numbers_in_chromium(viewer):
    from playwright.sync_api import sync_playwright

    url, samples = viewer
    artefacts = Path(os.environ.get("MEDVIT_ARTEFACTS") or samples["volume"].parents[2]) / "viewer"
    artefacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        for path, texts in _expected(samples).items():
            page.goto(f"{url}/{path}")
            for text in texts:
                page.get_by_text(text, exact=False).first.wait_for(timeout=120_000)
            _settle(page)
            page.screenshot(path=str(artefacts / f"{path or 'home'}.png"), full_page=True)
            assert not page.get_by_text("Cannot open this").count(), path
        # uploads: a DICOM series as a zip opens on its own window; a broken file is a message
        series = artefacts / "ct_series.zip"
        with zipfile.ZipFile(series, "w") as zf:
            for file in sorted(pydicom_sample("ct_volume").iterdir()):
                zf.write(file, f"ct/{file.name}")
        broken = artefacts / "broken.nii.gz"
        broken.write_bytes(b"not a NIfTI file")
        page.goto(f"{url}/Brain_tumour")
        _settle(page)
        page.get_by_text("Upload a file").click()
        page.locator('input[type="file"]').set_input_files(str(series))
        page.get_by_text("voxel (x, y, z)").wait_for(timeout=120_000)
        _settle(page)
        page.screenshot(path=str(artefacts / "Brain_tumour_upload.png"), full_page=True)
        # named by the zip (its series by their SeriesDescription), not by the folder it was extracted to
        assert page.locator(".medvit-planes").get_attribute("data-case") == "ct_series.zip"
        assert page.locator(".medvit-planes").get_attribute("data-series") == "SmartScore - Gated 0.5 sec"
        assert page.get_by_text("DICOM tags").count()  # the DICOM header panel of the series
        page.locator('input[type="file"]').set_input_files(str(broken))
        page.get_by_text("Cannot open this").wait_for(timeout=60_000)
        assert page.get_by_text("broken.nii.gz").count()
        # an uploaded photo that is not of a fundus: refused with the measured reasons, before any vessel analysis
        from PIL import Image
        from skimage.data import astronaut

        Image.fromarray(astronaut()).save(artefacts / "astronaut.png")
        page.goto(f"{url}/Fundus")
        _settle(page)
        _radio(page, "Show", "Upload a file")
        page.locator('input[type="file"]').set_input_files(str(artefacts / "astronaut.png"))
        page.get_by_text("astronaut.png: rejected, not a fundus photograph").wait_for(timeout=60_000)
        # the reasons are drawn after the verdict: wait for them (a count() right away raced the page)
        page.get_by_text("the field of view is not round (solidity").first.wait_for(timeout=60_000)
        page.screenshot(path=str(artefacts / "Fundus_upload_refused.png"), full_page=True)
        # an uploaded radiograph classified in the page with a checkpoint file
        page.goto(f"{url}/Chest_X-ray")
        _settle(page)
        page.get_by_text("Upload a file").click()
        page.locator('input[type="file"]').set_input_files(str(_phantom_png(artefacts)))
        page.get_by_text("checkpoint file").click()
        page.get_by_label("Fine-tuned checkpoint (.pt / .pth)").fill(str(_vit_checkpoint(artefacts)))
        page.keyboard.press("Enter")
        page.get_by_text("Top finding").first.wait_for(timeout=120_000)
        _settle(page)
        page.screenshot(path=str(artefacts / "Chest_X-ray_upload.png"), full_page=True)
        assert not page.get_by_text("Cannot open this").count()
        # "Classify with" says whether probabilities are shown, through switches of network and source
        assert _classified(page) == ("checkpoint file", True)
        _radio(page, "Classify with", "none")
        assert _classified(page) == ("none", False)
        _radio(page, "Classify with", "checkpoint file")
        assert _classified(page) == ("checkpoint file", True)
        _radio(page, "Show", "Sample results")
        assert _classified(page) == (None, True)  # the sample's own row: no network to choose
        _radio(page, "Show", "Upload a file")  # the upload went with its widget: a prompt, or as the box says
        choice, shown = _classified(page)
        assert shown == (choice not in (None, "none"))
        page.locator('input[type="file"]').set_input_files(str(_phantom_png(artefacts)))
        page.wait_for_timeout(800)
        _settle(page)
        choice, shown = _classified(page)
        assert choice is not None and shown == (choice != "none")
        browser.close()
    assert len(list(artefacts.glob("*.png"))) == 10  # 8 screenshots, the astronaut photo


def _phantom_png(folder: Path) -> Path:
    from medvit.thorax.phantoms import write_cxr_phantoms

    write_cxr_phantoms(folder / "cxr_upload", count=1)
    return next((folder / "cxr_upload").glob("*.png"))


def _vit_checkpoint(folder: Path) -> Path:
    import torch

    from medvit.nets import build_vit

    torch.manual_seed(0)
    path = folder / "vit_small.pt"
    torch.save({"model": build_vit("vit_small_patch16", num_classes=14, global_pool=True).state_dict()}, path)
    return path


def _classified(page) -> tuple[str | None, bool]:
    """The Chest X-ray page's "Classify with" choice (None where it is not offered) and whether
    probabilities are shown."""
    radio = page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').filter(has_text="Classify with")
    choice = radio.locator("label:has(input:checked)").inner_text().strip() if radio.count() else None
    return choice, page.get_by_text("Top finding").count() > 0


def _radio(page, label: str, option: str) -> None:
    """Choose ``option`` of the sidebar's radio ``label``."""
    radio = page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').filter(has_text=label)
    radio.get_by_text(option, exact=True).click()
    page.wait_for_timeout(800)
    _settle(page)


def _combobox(page, label: str) -> str:
    return page.get_by_role("combobox", name=label).input_value()


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(800)  # the rerun starts
    _settle(page)


def _click(page, text: str) -> None:
    page.get_by_text(text, exact=True).first.click()
    page.wait_for_timeout(800)
    _settle(page)


def test_controls_show_what_is_rendered_after_switching(viewer, tmp_path):
    """Each page: switch case / study / source / option, then read back what is rendered (case
    name, R, columns, frame, rows) and check that the controls say the same."""
    from playwright.sync_api import sync_playwright

    url, samples = viewer
    fundus = pd.read_csv(samples["fundus"] / "biomarkers.csv").set_index("image")
    shots = Path(os.environ.get("MEDVIT_ARTEFACTS") or tmp_path) / "viewer" / "switching"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        # a link straight to a page: the navigation is the app's, titled
        page.goto(f"{url}/Fundus")
        _settle(page)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text().split("\n")
        assert "Home" in nav and "app" not in nav and "Cardiac MR reconstruction" in nav
        # fundus: the case box, the picture's caption and the table name the same case
        for case in ("retina.jpg", "retina_mirrored.png", "retina.jpg"):
            if _combobox(page, "Case") != case:
                _choose(page, "Case", case)
            assert _combobox(page, "Case") == case
            page.get_by_text(f"radius {fundus.loc[case, 'disc_radius']:.1f} px").wait_for(timeout=60_000)
            assert page.locator('[data-testid="stImageCaption"]').inner_text() == case
        page.screenshot(path=str(shots / "switch_Fundus.png"), full_page=True)
        # a photo the bundle refused: its reason and measured checks, not a blank
        _choose(page, "Case", "not_a_fundus.png (failed)")
        assert _combobox(page, "Case") == "not_a_fundus.png (failed)"
        page.get_by_text("not_a_fundus.png: rejected, not a fundus photograph").wait_for(timeout=60_000)
        assert page.get_by_text("colours unlike a retina (red 0.41").count()
        assert page.locator('[data-testid="stImageCaption"]').inner_text() == "not_a_fundus.png"
        page.screenshot(path=str(shots / "switch_Fundus_refused.png"), full_page=True)
        # reconstruction: R in the box is the mask's R, after the controls were hidden and shown again
        page.goto(f"{url}/Reconstruction")
        _settle(page)
        _choose(page, "Acceleration R", "4")
        for source in ("Fully sampled k-space file", "Sample results"):
            _click(page, source)
        assert _combobox(page, "Acceleration R") == "4" and page.get_by_text("(R = 4,").count()
        assert page.get_by_label("none").is_checked() and not page.get_by_text("VarNet: mean PSNR").count()
        slider = page.get_by_role("slider", name="Frame")
        slider.focus()
        page.keyboard.press("End")
        page.wait_for_timeout(800)
        _settle(page)
        assert slider.input_value() == "5" and page.get_by_text("Scores, frame 5").count()
        page.screenshot(path=str(shots / "switch_Reconstruction.png"), full_page=True)
        # cohort: the status filter holds the table's statuses; an uploaded CSV gets its own
        page.goto(f"{url}/Cohort")
        _settle(page)
        assert page.get_by_text("volumes.csv: 2 of 2 rows").count()  # both statuses selected, both rows shown
        chips = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Status").inner_text()
        assert "error" in chips and "ok" in chips
        _click(page, "flagged only")  # the QC-flagged rows (the random-weight case)
        assert page.get_by_text("volumes.csv: 1 of 2 rows").count()
        _click(page, "all rows")
        table = tmp_path / "mine.csv"
        table.write_text("image,status,error,score\na,ok,,1.0\nb,ok,,2.0\nc,failed,bad file,\nd,,,3.0\n")
        _click(page, "Upload a CSV")
        page.locator('input[type="file"]').set_input_files(str(table))
        page.get_by_text("mine.csv: 4 of 4 rows").wait_for(timeout=60_000)  # the row without a status too
        _settle(page)
        chips = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Status").inner_text()
        assert "failed" in chips and "ok" in chips and "(no status)" in chips
        page.screenshot(path=str(shots / "switch_Cohort.png"), full_page=True)
        browser.close()
