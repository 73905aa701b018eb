"""Scoring submission trees like the challenge: references from img4ranking or FullSample k-space."""

import numpy as np
import pandas as pd
import pytest

from medvit.cmrxrecon import write_cmrx_tree
from medvit.cmrxrecon import CMRxKSpace, write_submission
from medvit.recon import zero_filled
from medvit.cmrxrecon import ranking_volume, score_images
from medvit.cmrxrecon.evaluation import ranking_images, score_submissions
from tests.conftest import run_cli

SIZES = {"num_ky": 48, "num_kx": 64, "num_coils": 4, "num_slices": 3, "num_frames": 4}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """Challenge data, zero-filled submissions of it, and a gold standard of img4ranking files."""
    root = tmp_path_factory.mktemp("recon_score")
    data, submission, gold = root / "data", root / "Submission", root / "gold"
    write_cmrx_tree(data, cases=2, kinds=("cine_sax", "T1map"), accelerations=(4, 10), **SIZES)
    for path in sorted(data.rglob("*.mat")):
        relative = path.relative_to(data)
        if path.stem.endswith("_mask") or relative.parts[3] == "FullSample":
            continue
        task = relative.parts[1].lower()
        write_submission(submission / relative, ranking_images(path, task))
        full = data.joinpath(*relative.parts[:3], "FullSample", *relative.parts[4:])
        write_submission(gold / relative, ranking_images(full, task))
    return data, submission, gold


def test_ranking_images_reconstruct_only_what_is_ranked(trees):
    data, _, _ = trees
    path = data / "MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax.mat"
    with CMRxKSpace(path) as kspace:  # the whole volume, reduced afterwards, gives the same
        volume = np.stack([[zero_filled(kspace.read_slice(t, z)) for t in range(4)] for z in range(3)])
    expected = ranking_volume(volume.transpose(3, 2, 0, 1), "cine")
    images = ranking_images(path, "cine")
    assert images.shape == (21, 24, 2, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(images, expected)
    assert ranking_images(data / "MultiCoil/Mapping/TrainingSet/FullSample/P001/T1map.mat", "mapping").shape == (21, 24, 2, 4)


def test_scores_from_kspace_and_from_gold_standard_agree(trees, tmp_path):
    data, submission, gold = trees
    from_kspace, summary = score_submissions(submission, data, tmp_path / "a.csv", progress=False)
    from_gold, _ = score_submissions(submission, gold, tmp_path / "b.csv", progress=False)
    assert (from_kspace["status"] == "ok").all() and len(from_kspace) == 2 * 2 * 2
    for metric in ("psnr", "ssim", "nmse"):
        np.testing.assert_allclose(from_kspace[metric], from_gold[metric], rtol=1e-6)
    row = from_kspace[from_kspace["image"] == "MultiCoil/Cine/TrainingSet/AccFactor04/P002/cine_sax.mat"].iloc[0]
    assert (row["coil"], row["task"], row["acceleration"], row["case"], row["kind"]) == (
        "MultiCoil", "Cine", "AccFactor04", "P002", "cine_sax")
    assert row["reference"].endswith("FullSample/P002/cine_sax.mat (kspace_full)")
    direct = score_images(
        ranking_images(data / "MultiCoil/Cine/TrainingSet/AccFactor04/P002/cine_sax.mat", "cine"),
        ranking_images(data / "MultiCoil/Cine/TrainingSet/FullSample/P002/cine_sax.mat", "cine"),
    )
    assert row["psnr"] == pytest.approx(direct["psnr"]) and row["ssim"] == pytest.approx(direct["ssim"])
    means = pd.read_csv(summary).set_index(["kind", "acceleration", "metric"])["mean"]
    assert means["cine_sax", "AccFactor04", "psnr"] > means["cine_sax", "AccFactor10", "psnr"]  # less data, worse
    assert means["T1map", "AccFactor04", "nmse"] < means["T1map", "AccFactor10", "nmse"]


def test_bad_files_get_error_rows_and_full_size_predictions_are_reduced(trees, tmp_path):
    data, submission, gold = trees
    pred = tmp_path / "Submission"
    cine = "MultiCoil/Cine/TrainingSet/AccFactor04/P001/cine_sax.mat"
    with CMRxKSpace(data / cine) as kspace:  # a full-size (sx, sy, z, t) reconstruction, not reduced
        volume = np.stack([[zero_filled(kspace.read_slice(t, z)) for t in range(4)] for z in range(3)])
    write_submission(pred / cine, volume.transpose(3, 2, 0, 1))
    (pred / "MultiCoil/Cine/TrainingSet/AccFactor08/P001").mkdir(parents=True)
    (pred / "MultiCoil/Cine/TrainingSet/AccFactor08/P001/cine_sax.mat").write_bytes(b"junk" * 100)
    write_submission(pred / "MultiCoil/Cine/TrainingSet/AccFactor04/P009/cine_sax.mat", np.ones((21, 24, 2, 3)))
    write_submission(pred / "MultiCoil/Cine/TrainingSet/AccFactor04/P001/notes.mat", np.ones((21, 24, 2, 3)))
    table, _ = score_submissions(pred, data, tmp_path / "scores.csv", progress=False)
    rows = table.set_index("image")
    expected, _ = score_submissions(submission, gold, tmp_path / "expected.csv", progress=False)
    assert rows.loc[cine, "status"] == "ok"
    assert rows.loc[cine, "psnr"] == pytest.approx(expected.set_index("image").loc[cine, "psnr"], rel=1e-6)
    errors = rows[rows["status"] != "ok"]["error"]
    assert "not a readable MATLAB file" in errors["MultiCoil/Cine/TrainingSet/AccFactor08/P001/cine_sax.mat"]
    assert "no reference for" in errors["MultiCoil/Cine/TrainingSet/AccFactor04/P009/cine_sax.mat"]
    assert "not in the CMRxRecon layout" in errors["MultiCoil/Cine/TrainingSet/AccFactor04/P001/notes.mat"]


def test_recon_score_command(trees, tmp_path):
    _, submission, gold = trees
    result = run_cli("recon-score", str(submission), str(gold), "--out", str(tmp_path / "scores.csv"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "8 file(s) scored, 0 failed" in result.stdout and "AccFactor10" in result.stdout
    assert (tmp_path / "scores_summary.csv").exists()
    result = run_cli("recon-score", str(tmp_path / "nothing"), str(gold), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 1 and "no .mat submission files" in result.stderr
