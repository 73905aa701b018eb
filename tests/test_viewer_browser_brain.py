"""The Brain tumour page in Chromium: after every switch of case, source, series or window, what
the planes were drawn with (the element's ``data-*`` and its header, written from the values
applied) must equal what the sidebar's controls show; the wheel moves a slice and a click probes
the voxel under the mouse.

Runs on the viewer server of :mod:`tests.test_viewer_browser` (same samples) plus a bundle
output folder of two synthetic cases whose tumours lie in different places."""

import os
import time
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medvit.data import pydicom_sample
from tests.test_viewer_browser import CHROMIUM, _settle, viewer  # noqa: F401  (the server fixture)

WINDOW_KEYS = ("case", "series", "preset", "centre", "width", "x", "y", "z")


@pytest.fixture(scope="module")
def two_cases(viewer):  # noqa: F811
    """A Swin UNETR run over two synthetic cases (DICOM and NIfTI), made once per test session.
    Its label maps are then replaced by the cases' reference labels (a perfect segmenter), so
    that each case's tumour is where the synthetic case put it, not random-weight noise."""
    from medvit.brats.segment import run_brats_cohort
    from medvit.brats.synthetic import write_brats_case, write_brats_dicom_case

    folder = viewer[1]["volume"].parents[1] / "two-cases"
    results = folder / "results"
    if not (results / "volumes.csv").exists():
        write_brats_dicom_case(folder / "cases", "case_a", seed=3, spacing=5.0)
        write_brats_case(folder / "cases", "case_b", seed=7, spacing=5.0)
        run_brats_cohort(folder / "cases", folder / "staging", network={"feature_size": 12, "depths": [1, 1, 1, 1]},
                         roi_size=(64, 64, 64), overlap=0.0, legacy_merging=False, progress=False, device="cpu")
        for case in ("case_a", "case_b"):
            (folder / "cases" / case / f"{case}_seg.nii.gz").replace(folder / "staging" / case / f"{case}_seg.nii.gz")
        (folder / "staging").rename(results)
    return results


@pytest.fixture(scope="module")
def page(viewer):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1500, "height": 1300})
        tab.goto(f"{viewer[0]}/Brain_tumour")
        tab.locator(".medvit-planes").wait_for(timeout=120_000)
        _settle(tab)
        yield tab
        browser.close()


def _shots() -> Path:
    folder = Path(os.environ.get("MEDVIT_ARTEFACTS") or "/tmp") / "viewer-brain"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def drawn(page) -> dict:
    """What the planes were drawn with, as the page wrote it into the element."""
    root = page.locator(".medvit-planes")
    out = {key: root.get_attribute(f"data-{key}") for key in WINDOW_KEYS}
    out["header"] = root.locator(".header").inner_text()
    out["slices"] = {fig.get_attribute("data-plane"): int(fig.get_attribute("data-slice"))
                     for fig in root.locator("figure").all()}
    return out


def _selected(page, label: str) -> str:
    return sidebar(page).get_by_role("combobox", name=label, exact=True).input_value()


def _slider(page, label: str):
    return sidebar(page).locator(f'input[type="range"][aria-label="{label}"]')


def controls(page) -> dict:
    """What the sidebar's controls show."""
    out = {"series": _selected(page, "Series"), "preset": _selected(page, "Window"),
           "centre": sidebar(page).get_by_label("Window centre").input_value(),
           "width": sidebar(page).get_by_label("Window width").input_value()}
    if sidebar(page).get_by_role("combobox", name="Case", exact=True).count():
        out["case"] = _selected(page, "Case")
    for axis, label in zip("xyz", ("Sagittal slice (x)", "Coronal slice (y)", "Axial slice (z)")):
        out[axis] = int(_slider(page, label).input_value())
    return out


def _mismatch(shown: dict, applied: dict) -> str | None:
    """Where the controls and the drawing disagree (None: nowhere)."""
    for key, value in shown.items():
        if str(applied[key]) != str(value) and not (key in ("centre", "width") and float(applied[key]) == float(value)):
            return f"{key}: the control shows {value!r}, the planes were drawn with {applied[key]!r}"
    window = f"window {shown['preset']}: centre {applied['centre']}, width {applied['width']}"
    if window not in applied["header"]:
        return f"the header does not say {window!r}: {applied['header']!r}"
    if applied["slices"] != {p: int(applied[a]) for p, a in (("axial", "z"), ("coronal", "y"), ("sagittal", "x"))
                             if p in applied["slices"]}:
        return f"the planes' slices {applied['slices']} are not the position's"
    return None


def _snapshot(page) -> dict | None:
    """What is drawn, once the page has one drawing (during a rerun the old one lingers)."""
    _settle(page)
    try:
        return drawn(page) if page.locator(".medvit-planes").count() == 1 else None
    except Exception:  # replaced between two reads: look again
        return None


def agree(page, timeout_s: float = 60) -> dict:
    """Assert that the controls and the drawing agree once the page is idle; return what was drawn.

    A rerun in flight may leave them apart for a moment; a page that keeps them apart (a
    control's label over another value) fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    problem = "nothing drawn"
    while time.monotonic() < deadline:
        applied = _snapshot(page)
        if applied is not None:
            problem = _mismatch(controls(page), applied)
            if problem is None and drawn(page) == applied:
                return applied
        page.wait_for_timeout(300)
    raise AssertionError(problem)


def _open(page, label: str):
    box = sidebar(page).get_by_role("combobox", name=label, exact=True)
    box.click()
    return page.get_by_role("option")


def choose(page, label: str, option: str) -> None:
    _open(page, label)
    page.get_by_role("option", name=option, exact=True).click()
    _wait_drawn(page, lambda d: True)


def _options(page, label: str) -> list[str]:
    options = [o.inner_text().strip() for o in _open(page, label).all()]
    page.keyboard.press("Escape")
    return options


def _wait_drawn(page, condition, timeout_s: float = 60) -> dict:
    """Wait for the rerun a control started, until what is drawn meets ``condition``."""
    page.wait_for_timeout(300)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        applied = _snapshot(page)
        if applied is not None and condition(applied):
            return applied
        page.wait_for_timeout(250)
    raise AssertionError(f"the page never drew what was expected; it drew {_snapshot(page)}")


def label_map(seg: Path) -> np.ndarray:
    """A case's label map, read here from its file; its grid is RAS already, so its indices are
    the viewer's voxels."""
    image = nib.load(seg)
    assert (np.diag(image.affine)[:3] > 0).all() and np.count_nonzero(image.affine[:3, :3]) == 3
    return np.asarray(image.dataobj)


def tumour(seg: Path) -> np.ndarray:
    return label_map(seg) > 0


def _position(applied: dict) -> tuple[int, int, int]:
    return tuple(int(applied[axis]) for axis in "xyz")


def test_brain_page_draws_what_its_controls_say_through_every_switch(page, two_cases):
    # the sample: an MR case, its series named by their descriptions, only MR windows offered
    first = agree(page)
    assert first["case"] == "synthetic_dicom" and first["series"] == "flair · AX FLAIR" and first["preset"].startswith("MR")
    assert not {"CT brain", "CT lung"} & set(_options(page, "Window"))
    page.screenshot(path=str(_shots() / "1_sample.png"))
    choose(page, "Window", "MR contrast (5-95th percentile)")
    contrast = agree(page)
    assert (contrast["centre"], contrast["width"]) != (first["centre"], first["width"])
    typed = sidebar(page).get_by_label("Window centre")
    typed.fill("321")
    typed.press("Enter")
    assert _wait_drawn(page, lambda d: d["centre"] == "321")["preset"] == "custom"
    agree(page)
    choose(page, "Series", "t1ce · T1 AX POST GD")
    assert agree(page)["preset"] == first["preset"]  # a new series opens on its own default window

    # a CT series uploaded: CT presets offered; CT lung applied
    series = _shots() / "ct_series.zip"
    with zipfile.ZipFile(series, "w") as zf:
        for file in sorted(pydicom_sample("ct_volume").iterdir()):
            zf.write(file, f"ct/{file.name}")
    sidebar(page).get_by_text("Upload a file", exact=True).click()
    page.locator('input[type="file"]').set_input_files(str(series))
    ct = _wait_drawn(page, lambda d: d["series"] == "SmartScore - Gated 0.5 sec")
    assert ct["preset"] == "DICOM window" and "CT lung" in _options(page, "Window")
    choose(page, "Window", "CT lung")
    assert (agree(page)["centre"], drawn(page)["width"]) == ("-600", "1500")
    page.screenshot(path=str(_shots() / "2_ct_lung.png"))

    # back to the MR sample: its own window again, not CT lung's numbers under an MR label
    sidebar(page).get_by_text("Sample results", exact=True).click()
    back = _wait_drawn(page, lambda d: d["case"] == "synthetic_dicom")
    assert back["preset"] == first["preset"] and (back["centre"], back["width"]) == (first["centre"], first["width"])
    agree(page)

    # a run's output folder: each case opens through its own tumour, whatever the last one showed
    sidebar(page).get_by_text("Output folder", exact=True).click()
    folder = sidebar(page).get_by_role("textbox", name="Output folder of a bundle run", exact=True)
    folder.fill(str(two_cases))
    folder.press("Enter")
    _wait_drawn(page, lambda d: d["case"] == "case_a")
    case_a = agree(page)
    assert tumour(two_cases / "case_a" / "case_a_seg.nii.gz")[_position(case_a)]  # opened in the tumour
    _slider(page, "Axial slice (z)").press("Home")  # move away: z = 0
    _wait_drawn(page, lambda d: d["z"] == "0")
    choose(page, "Case", "case_b")
    case_b = agree(page)
    assert case_b["case"] == "case_b" and tumour(two_cases / "case_b" / "case_b_seg.nii.gz")[_position(case_b)]
    assert int(case_b["z"]) != 0 and _position(case_b) != _position(case_a)  # neither the last slice nor case_a's
    assert case_b["series"] == "flair · case_b_flair.nii.gz" and case_b["preset"] == first["preset"]
    page.screenshot(path=str(_shots() / "3_case_b.png"))


def test_wheel_scrolls_a_slice_and_a_click_probes_a_voxel(page, viewer):  # noqa: F811
    sidebar(page).get_by_text("Sample results", exact=True).click()
    start = _wait_drawn(page, lambda d: d["case"] == "synthetic_dicom")
    axial = page.locator('.medvit-planes figure[data-plane="axial"] img')
    box = axial.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -100)  # one notch up: the next slice (superior)
    up = _wait_drawn(page, lambda d: d["z"] != start["z"])
    assert int(up["z"]) == int(start["z"]) + 1 and (up["x"], up["y"]) == (start["x"], start["y"])
    assert agree(page)["slices"]["axial"] == int(start["z"]) + 1

    # click the centre of voxel column 3, row 5 of the axial picture (x = 3, y = rows - 1 - 5)
    shape = label_map(next(iter(viewer[1]["volume"].glob("*/*_seg.nii.gz")))).shape
    left, top, right, bottom = (float(v) for v in axial.get_attribute("data-box").split(","))
    box = axial.bounding_box()
    x = box["x"] + box["width"] * (left + (right - left) * (3 + 0.5) / shape[0])
    y = box["y"] + box["height"] * (top + (bottom - top) * (5 + 0.5) / shape[1])
    page.mouse.click(x, y)
    probed = _wait_drawn(page, lambda d: d["x"] == "3")
    assert (int(probed["x"]), int(probed["y"]), probed["z"]) == (3, shape[1] - 1 - 5, up["z"])
    agree(page)
    voxel = f"voxel (x, y, z) (3, {shape[1] - 6}, {up['z']})"
    footer = page.locator(".medvit-planes .footer").inner_text()
    assert footer.startswith(f"probe: x 3, y {shape[1] - 6}, z {up['z']} · flair ")
    assert " · label " in footer
    page.locator("p").filter(has_text=voxel).wait_for(timeout=10_000)  # and the probe's panel, every series and RAS mm
    # the main planes are the large pictures: wider than the side-by-side ones
    side = page.locator('[data-testid="stImage"] img').first.bounding_box()["width"]
    assert axial.bounding_box()["width"] > 1.2 * side
    page.screenshot(path=str(_shots() / "4_probed.png"))
