"""The README's command chain on the demo's checkpoints runs as written (issue 16, item 2).

The commands are read from README.md's section "Running each bundle on the demo's checkpoints"
and run one by one, as a user pastes them, from a folder holding ``bundles/`` (the repository's)
and a ``demo_out/`` laid out as ``medvit demo`` writes it: the same sample data generators, and
checkpoints as the bundles' training configs save them (small networks, random weights: what is
checked is that each command runs and succeeds, not what a toy learns)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import skimage.transform

from tests.test_checkpoint_architecture import write_training_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Running each bundle on the demo's checkpoints"


def readme_commands() -> list[str]:
    """The commands of the section's code block, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(SECTION) + r".*?```\n(.*?)```", text, re.S)
    assert block, f"README.md has no code block under {SECTION!r}"
    return [line.strip() for line in block.group(1).replace("\\\n", " ").splitlines() if line.strip()]


def write_demo_out(root: Path) -> None:
    """``demo_out/`` as :mod:`medvit.demo` lays it out, small."""
    from medvit.brats import write_brats_case
    from medvit.brats.synthetic import write_brats_dicom_case
    from medvit.cmrxrecon import write_cmrx_tree
    from medvit.data import pydicom_sample
    from medvit.io import save_png
    from medvit.thorax.phantoms import write_cxr_phantoms
    from medvit.uni4eye.phantoms import write_ophthalmic_dataset

    demo = root / "demo_out"
    brats = demo / "brats-swin-unetr"
    write_brats_case(brats / "cases", "synthetic_nifti", seed=1, spacing=4.0)
    write_brats_dicom_case(brats / "cases", "synthetic_dicom", seed=2, spacing=4.0)
    write_training_checkpoint("brats_swin_unetr_segmentation", "train.json", brats / "trained/models/model.pt",
                              legacy_merging=False, **{"network_args#feature_size": 12})

    cmrx = demo / "cmrxrecon-varnet"
    write_cmrx_tree(cmrx / "held_out", cases=1, accelerations=(4, 8), seed=5000, split="ValidationSet",
                    num_ky=48, num_kx=32, num_coils=4, num_slices=2, num_frames=3)
    write_training_checkpoint("cmrxrecon_varnet_reconstruction", "train.json", cmrx / "trained/models/model.pt",
                              **{"network_args#num_cascades": 2, "network_args#chans": 4, "network_args#pools": 2,
                                 "network_args#sens_chans": 4, "network_args#sens_pools": 2})

    thorax = demo / "mae-thorax"
    write_cxr_phantoms(thorax / "cases", count=2, first_seed=60_000, prevalence=0.5)
    (thorax / "cases" / "labels.csv").unlink()
    shutil.copy(pydicom_sample("cr_monochrome1"), thorax / "cases" / "cr_monochrome1.dcm")
    write_training_checkpoint("mae_thorax_classification", "train.json", thorax / "trained/models/model.pt",
                              **{"network_args#name": "vit_toy_patch16"})

    eyes = demo / "uni4eye-mim"
    write_ophthalmic_dataset(eyes / "data", n_fundus=4, n_bscans=4, n_volumes=10, size_2d=32, shape_3d=(32, 32, 16))
    write_training_checkpoint("uni4eye_ophthalmic_mim", "pretrain.json", eyes / "bundle/models/pretrained.pt",
                              **{"network_args#hidden_size": 48, "network_args#num_layers": 1, "network_args#num_heads": 3,
                                 "network_args#img_size_2d": 32, "network_args#img_size_3d": [32, 32, 16],
                                 "network_args#patch_size": 8, "decoder_args#decoder_hidden_size": 32,
                                 "decoder_args#decoder_num_layers": 1})

    photo = skimage.transform.rescale(skimage.data.retina(), 0.4, channel_axis=-1, anti_aliasing=True)
    (demo / "pvbm-biomarkers" / "photos").mkdir(parents=True)
    save_png(np.round(photo * 255).astype(np.uint8).swapaxes(0, 1), demo / "pvbm-biomarkers/photos/retina.png",
             channel_dim=-1)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme_chain")
    (root / "bundles").symlink_to(ROOT / "bundles")
    write_demo_out(root)
    return root


def command_line(command: str) -> list[str]:
    """A README command as this interpreter runs it: ``python`` and ``medvit`` from this environment."""
    words = shlex.split(command)
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "medvit":
        return [sys.executable, "-m", "medvit.cli", *words[1:]]
    raise AssertionError(f"unexpected README command: {command}")


def test_the_section_lists_a_chain_for_every_bundle():
    commands = readme_commands()
    for bundle in ("brats_swin_unetr_segmentation", "cmrxrecon_varnet_reconstruction", "mae_thorax_classification",
                   "uni4eye_ophthalmic_mim"):
        assert any(f"bundles/{bundle}/configs/" in c for c in commands), bundle
    assert any(c.startswith("medvit recon-score") for c in commands)
    assert any(c.startswith("medvit biomarkers") for c in commands)
    # the checkpoints' architecture is not repeated on the command line
    assert not any("network_args" in c or "network_def" in c for c in commands)


@pytest.mark.slow
def test_the_readme_chain_runs_as_written(workspace):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    for command in readme_commands():
        result = subprocess.run(command_line(command), cwd=workspace, capture_output=True, text=True, env=env,
                                timeout=900)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}\n{output[-3000:]}"
        assert "Traceback" not in output and "highdicom" not in output, f"{command}\n{output[-3000:]}"
        if "inference.json" in command or command.startswith("medvit biomarkers"):
            assert re.search(r"\d+ ok, \d+ failed", output), f"{command}\n{output[-3000:]}"
    runs = workspace / "demo_out" / "runs"
    for table in ("brats/volumes.csv", "Submission/reconstructions.csv", "scores.csv", "thorax/predictions.csv",
                  "uni4eye/predictions.csv", "biomarkers.csv"):
        assert (runs / table).is_file(), table
    assert (runs / "Submission/MultiCoil/Cine/ValidationSet/AccFactor04/P001/cine_sax.mat").is_file()
