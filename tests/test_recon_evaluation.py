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


# -- README chains: inference on .../MultiCoil, then recon-score with either root (issue 16, item 2) --


def test_inference_from_the_multicoil_folder_keeps_the_challenge_layout_and_scores_with_either_root(trees, tmp_path):
    """The README's chain: inference with ``--dataset_dir ChallengeData/MultiCoil`` writes
    ``Submission/MultiCoil/Cine/...`` (the challenge's submission format), and ``recon-score``
    scores it against ``ChallengeData/`` or ``ChallengeData/MultiCoil`` alike."""
    from medvit.bundle.registry import bundles_root
    from medvit.bundle.run import run_config

    data, _, _ = trees
    submission = tmp_path / "Submission"
    run_config(bundles_root() / "cmrxrecon_varnet_reconstruction", "inference.json",
               dataset_dir=str(data / "MultiCoil"), output_dir=str(submission), method="zero_filled",
               accelerations=[4], progress=False)
    written = sorted(p.relative_to(submission).as_posix() for p in submission.rglob("*.mat"))
    assert written[0] == "MultiCoil/Cine/TrainingSet/AccFactor04/P001/cine_sax.mat" and len(written) == 4
    for ref in (data, data / "MultiCoil"):
        result = run_cli("recon-score", str(submission), str(ref), "--out", str(tmp_path / "s.csv"), "--quiet",
                         "--restart")
        assert result.returncode == 0, result.stderr
        assert "4 file(s) scored, 0 failed" in result.stdout
    # the submission folder's coil level given as the root scores the same files
    table, _ = score_submissions(submission / "MultiCoil", data, tmp_path / "m.csv", progress=False)
    assert (table["status"] == "ok").all() and len(table) == 4


def test_recon_score_prints_each_failure_and_fails_when_nothing_scored(trees, tmp_path):
    """A tree without the coil level (as medvit wrote it before) fails every file: the reason of
    each is printed, no bare pandas table, and the exit status is 1."""
    data, submission, _ = trees
    flat = tmp_path / "Submission"
    for path in (submission / "MultiCoil").rglob("*.mat"):
        target = flat / path.relative_to(submission / "MultiCoil")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    result = run_cli("recon-score", str(flat), str(data), "--out", str(tmp_path / "s.csv"), "--quiet")
    assert result.returncode == 1
    assert "Empty DataFrame" not in result.stdout + result.stderr
    assert "0 file(s) scored, 8 failed" in result.stdout
    reasons = [line for line in result.stderr.splitlines() if "not in the CMRxRecon layout" in line]
    assert len(reasons) == 8 and "MultiCoil or SingleCoil folder above Cine/ is missing" in reasons[0]


def test_an_undersampled_reference_is_refused(trees, tmp_path):
    """Undersampled k-space is never a reference: an AccFactor04 file as the only reference, or
    undersampled data stored as kspace_full, is an error naming it (issue 16, item 4)."""
    import h5py

    data, submission, _ = trees
    cine = "MultiCoil/Cine/TrainingSet/AccFactor04/P001/cine_sax.mat"
    ref = tmp_path / "ref"
    (ref / cine).parent.mkdir(parents=True)
    (ref / cine).write_bytes((data / cine).read_bytes())  # kspace_sub04 at the same place, no FullSample
    full = ref / cine.replace("AccFactor04", "FullSample")
    full.parent.mkdir(parents=True)
    with h5py.File(data / cine, "r") as source, h5py.File(full, "w") as target:
        target.create_dataset("kspace_full", data=source["kspace_sub04"][()])  # undersampled, named full
    pred = tmp_path / "pred"
    for name in (cine, cine.replace("P001", "P002")):
        (pred / name).parent.mkdir(parents=True)
        (pred / name).write_bytes((submission / name).read_bytes())
    (ref / cine.replace("P001", "P002")).parent.mkdir(parents=True)
    (ref / cine.replace("P001", "P002")).write_bytes((data / cine.replace("P001", "P002")).read_bytes())
    table, _ = score_submissions(pred, ref, tmp_path / "s.csv", progress=False)
    errors = table.set_index("image")["error"]
    assert "ky lines without a sample" in errors[cine] and "not a fully sampled reference" in errors[cine]
    assert "cine_sax.mat holds kspace_sub04: undersampled, not a reference" in errors[cine.replace("P001", "P002")]


def test_the_viewer_refuses_an_undersampled_file_as_its_reference(trees):
    from medvit.errors import MedvitError
    from medvit.viewer.recon import read_kspace_slice

    data, _, _ = trees
    assert read_kspace_slice(data / "MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax.mat").shape == (4, 4, 48, 64)
    with pytest.raises(MedvitError, match="undersampled k-space \\(R = 4\\), not a fully sampled reference"):
        read_kspace_slice(data / "MultiCoil/Cine/TrainingSet/AccFactor04/P001/cine_sax.mat")
