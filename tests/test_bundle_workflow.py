"""``python -m monai.bundle run`` of a medvit bundle as a user types it: a summary line at the end,
one line for a mistake, a non-zero exit when nothing succeeded (issue 16, item 2)."""

import subprocess
import sys
from pathlib import Path

import pytest

from medvit.bundle.registry import bundles_root
from medvit.thorax.phantoms import write_cxr_phantoms

BUNDLE = bundles_root() / "mae_thorax_classification"


@pytest.fixture(scope="module")
def radiographs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cxr")
    write_cxr_phantoms(folder, count=2)
    (folder / "labels.csv").unlink()
    return folder


def _bundle_run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(BUNDLE / "configs" / "inference.json"),
               "--bundle_root", str(BUNDLE), *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_a_missing_checkpoint_is_one_line_saying_what_to_do(radiographs, tmp_path):
    result = _bundle_run("--dataset_dir", str(radiographs), "--output_dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {BUNDLE / 'models' / 'model.pt'}: no such checkpoint file; give --ckpt_path FILE, "
        "or --load_pretrain False to run with random weights")


def test_a_run_ends_with_a_summary_and_fails_when_nothing_succeeded(radiographs, tmp_path):
    tiny = ("--load_pretrain", "False", "--network_args#name", "vit_toy_patch16", "--progress", "False")
    good = _bundle_run("--dataset_dir", str(radiographs), "--output_dir", str(tmp_path / "good"), *tiny, cwd=tmp_path)
    assert good.returncode == 0 and good.stdout.strip().splitlines()[-1] == f"2 ok, 0 failed; table: {tmp_path / 'good' / 'predictions.csv'}"
    # a network built for another input size: every case fails, as a wrong network_args would make it
    bad = _bundle_run("--dataset_dir", str(radiographs), "--output_dir", str(tmp_path / "bad"), *tiny,
                      "--network_args#img_size", "32", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: 0 ok, 2 failed (first error: phantom_00000.png: ValueError: input of spatial size (224, 224), "
        f"the network was built for (32, 32)); table: {tmp_path / 'bad' / 'predictions.csv'}")
