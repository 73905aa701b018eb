"""The ``medvit`` command as a user runs it: JSON on good input, one clear line on bad input."""

import json
import subprocess
import sys

import pytest

from medvit.data import fundus_photo, mni152, pydicom_sample
from tests.conftest import run_cli


def info(path, *extra):
    result = run_cli("info", str(path), *extra)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no library warnings leak to the terminal
    return json.loads(result.stdout)


def test_info_on_ct_series():
    out = info(pydicom_sample("ct_volume"))
    assert out["kind"] == "dicom-series" and out["slices"] == 5
    assert out["shape"] == [1, 16, 16, 5]
    assert out["spacing"] == pytest.approx([0.488281, 0.488281, 2.5])
    assert out["orientation"] == "LPS" and out["modality"] == "CT"
    assert out["value_range"][0] < -500 and out["window_width"] == 400.0


def test_info_on_monochrome1_radiograph():
    out = info(pydicom_sample("cr_monochrome1"))
    assert out["inverted_monochrome1"] is True and out["modality"] == "CR"
    assert out["shape"] == [1, 16, 16] and out["spacing"] == pytest.approx([0.1, 0.1])


def test_info_on_fundus_photo_reports_rgb_2d():
    out = info(fundus_photo())
    assert out["kind"] == "photo" and out["shape"] == [3, 1411, 1411] and out["channels"] == 3
    assert out["photometric_interpretation"] == "RGB" and out["dtype"] == "uint8"


def test_info_on_nifti():
    out = info(mni152("t1"))
    assert out["shape"] == [1, 197, 233, 189] and out["orientation"] == "RAS" and out["spacing"] == [1.0, 1.0, 1.0]


def test_info_picks_a_series_from_a_study_folder():
    out = info(pydicom_sample("study_several_series"), "--series", "5534.0.6")
    assert out["series_description"] == "Cervical OBLI 1" and out["modality"] == "CR"


def test_info_of_several_paths_is_a_list():
    result = run_cli("info", str(fundus_photo()), str(pydicom_sample("ct_slice")))
    assert [o["kind"] for o in json.loads(result.stdout)] == ["photo", "dicom-image"]


def _bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    return {
        "missing path": (tmp_path / "missing.nii.gz", "no such file or folder"),
        "empty folder": (tmp_path / "empty", "is an empty folder"),
        "non-image file": (tmp_path / "notes.txt", "not a supported image"),
        "truncated DICOM": (pydicom_sample("truncated"), "cannot decode its pixel data"),
        "several series": (pydicom_sample("mr_several_series"), "contains 3 DICOM series"),
        "missing slices": (pydicom_sample("ct_gap"), "missing slices"),
        "mixed orientations": (pydicom_sample("mr_mixed_orientations"), "mixed orientations"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing path", "empty folder", "non-image file", "truncated DICOM", "several series", "missing slices",
     "mixed orientations"],
)
def test_bad_input_gives_one_clear_message(tmp_path, case):
    path, expected = _bad_inputs(tmp_path)[case]
    result = run_cli("info", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"medvit info: error: {path}: ")
    assert expected in lines[0]
    assert len(lines) <= (4 if case == "several series" else 3)


def test_help_and_info_do_not_import_torch_or_monai():
    code = (
        "import sys, medvit.cli, medvit.data as d;"
        "medvit.cli.main(['info', str(d.pydicom_sample('ct_volume'))]);"
        "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    result = run_cli("--help")
    assert result.returncode == 0 and "info" in result.stdout and "bundles" in result.stdout


def test_a_command_that_stops_early_does_not_import_monai():
    # ``import monai`` takes ~4 s (all of MONAI, ignite, torch.distributed): a wrong demo step is
    # answered before it, and importing the biomarker cohort's entry point does not load it
    code = (
        "import sys, medvit.cli, medvit.pvbm.cohort;"
        "code = medvit.cli.main(['demo', '--only', 'nonsense']);"
        "print(code, sorted(m for m in ('torch', 'monai', 'ignite') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "unknown demo step" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 []"


# ``python -c`` that makes ``ignite`` unimportable, then runs ``medvit`` with the rest of argv
_MEDVIT_WITHOUT_IGNITE = """
import runpy, sys
class NoIgnite:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ignite":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoIgnite())
sys.argv = ["medvit", *sys.argv[1:]]
runpy.run_module("medvit.cli", run_name="__main__")
"""


@pytest.mark.slow  # 5-9 s: a whole bundle run in a fresh process
def test_biomarkers_runs_without_ignite(tmp_path):
    # ignite (with torch.distributed) is MONAI's training engine; an inference bundle run of
    # medvit's own needs none of it, so a lighter install could leave it out (MONAI imports it
    # only when installed)
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.open(fundus_photo()).resize((320, 320)).save(tmp_path / "photos" / "retina.png")
    out = tmp_path / "table.csv"
    result = subprocess.run(
        [sys.executable, "-c", _MEDVIT_WITHOUT_IGNITE, "biomarkers", str(tmp_path / "photos"), "--out", str(out),
         "--measures", "pvbm", "--n-rotations", "1", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines()[1].startswith("retina.png,ok,")


def test_bundles_lists_every_bundle_folder():
    from medvit.bundle import list_bundles

    result = run_cli("bundles", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [b["name"] for b in listed] == [b["name"] for b in list_bundles()]
    assert all(b["version"] and b["task"] for b in listed)


def test_demo_rejects_unknown_step():
    result = run_cli("demo", "--only", "nonsense")
    assert result.returncode == 1 and "unknown demo step" in result.stderr


@pytest.mark.slow  # 10-20 s: the default suite stays under 15 min on 2 cores
def test_demo_runs_the_pvbm_bundle_on_the_real_photo(tmp_path):
    result = run_cli("demo", "--only", "pvbm-biomarkers", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "retina.jpg: disc_radius" in result.stdout
    table = (tmp_path / "pvbm-biomarkers" / "biomarkers.csv").read_text().splitlines()
    assert len(table) == 2 and table[1].startswith("retina.jpg,ok,")
    assert (tmp_path / "pvbm-biomarkers" / "overlays" / "retina_jpg_overlay.png").is_file()
