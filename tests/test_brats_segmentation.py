"""Swin UNETR bundle slice: case discovery, label maps, the cohort run on synthetic NIfTI cases."""

import csv
import re
import subprocess
import sys

import numpy as np
import pytest
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from medvit.bundle.registry import bundles_root
from medvit.brats import write_brats_case
from medvit.errors import MedvitError
from medvit.brats.series import BRATS_DESCRIPTIONS, find_brats_series
from medvit.io.cases import list_cases
from medvit.brats.evaluation import region_scores
from medvit.brats.transforms import brats_label_map

BUNDLE = bundles_root() / "brats_swin_unetr_segmentation"
NETWORK = ["--network_args#feature_size", "12", "--roi_size", "[64,64,64]", "--overlap", "0.25", "--progress", "False"]
SMALL = [*NETWORK, "--load_pretrain", "False"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two synthetic NIfTI cases at 3 mm, one as four DICOM series, a case missing its FLAIR,
    and one with NaNs in T2."""
    from medvit.brats.synthetic import write_brats_dicom_case

    root = tmp_path_factory.mktemp("brats")
    write_brats_dicom_case(root, "dicom_case", seed=4, spacing=3.0)
    for seed in (0, 1):
        write_brats_case(root, f"case_{seed}", seed=seed, spacing=3.0)
    paths = write_brats_case(root, "no_flair", seed=2, spacing=3.0)
    paths["flair"].unlink()
    paths = write_brats_case(root, "nan_t2", seed=3, spacing=3.0)
    import nibabel as nib

    image = nib.load(paths["t2"])
    data = image.get_fdata()
    data[10, 10, 10] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), paths["t2"])
    return root


def test_label_map_round_trips_monai_regions():
    labels = np.random.default_rng(0).choice([0, 1, 2, 4], size=(9, 8, 7))
    regions = ConvertToMultiChannelBasedOnBratsClasses()(labels)
    np.testing.assert_array_equal(brats_label_map(regions), labels)
    assert set(np.unique(brats_label_map(regions, et_label=3))) <= {0, 1, 2, 3}


def test_non_nested_sigmoids_become_consistent_labels():
    regions = np.zeros((3, 2, 1, 1), bool)
    regions[2, 0] = True  # ET alone: it is also core and tumour
    regions[1, 1] = True  # WT alone: oedema
    assert brats_label_map(regions).ravel().tolist() == [4, 2]


def test_discovery_by_names_and_dicom_descriptions(dataset):
    assert [c.name for c in list_cases(dataset)] == ["case_0", "case_1", "dicom_case", "nan_t2", "no_flair"]
    dicom = find_brats_series(dataset / "dicom_case")
    assert all(ref.series_uid for ref in dicom.values()) and len({r.series_uid for r in dicom.values()}) == 4
    refs = find_brats_series(dataset / "case_0")
    assert list(refs) == ["t1", "t1ce", "t2", "flair"] and refs["t1ce"].path.name == "case_0_t1ce.nii.gz"
    with pytest.raises(MedvitError, match="no_flair: no flair series"):
        find_brats_series(dataset / "no_flair")
    import re

    named = {d: [n for n, r in BRATS_DESCRIPTIONS.items() if re.search(r, d, re.IGNORECASE)]
             for d in ("T1 AX", "T1 AX POST GD", "t1_mprage_ce", "T2 TSE", "AX T2 FLAIR", "T1+C")}
    assert named == {"T1 AX": ["t1"], "T1 AX POST GD": ["t1ce"], "t1_mprage_ce": ["t1ce"], "T2 TSE": ["t2"],
                     "AX T2 FLAIR": ["flair"], "T1+C": ["t1ce"]}


def test_region_scores_of_a_perfect_and_a_shifted_prediction():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[5:15, 5:15, 5:15] = 2
    labels[8:12, 8:12, 8:12] = 4
    perfect = region_scores(labels, labels, spacing=(2, 2, 2))
    assert perfect["dice_wt"] == perfect["dice_et"] == 1.0 and perfect["hd95_wt"] == 0.0
    shifted = region_scores(np.roll(labels, 2, axis=0), labels, spacing=(2, 2, 2))
    assert shifted["dice_wt"] == pytest.approx(0.8) and shifted["hd95_wt"] == pytest.approx(4.0)


def test_bundle_inference_writes_label_maps_and_volumes(dataset, tmp_path):
    """The bundle's inference.json end to end (random weights, small network): label maps on
    the input grid, one volumes row per case, failed cases recorded with their reason."""
    import nibabel as nib

    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
               "--dataset_dir", str(dataset), "--output_dir", str(tmp_path), *SMALL]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "volumes.csv", newline="") as fh:
        rows = {row["image"]: row for row in csv.DictReader(fh)}
    assert rows["case_0"]["status"] == rows["case_1"]["status"] == "ok"
    assert "no flair series" in rows["no_flair"]["error"]
    assert "NaN" in rows["nan_t2"]["error"]
    seg = nib.load(tmp_path / "case_0" / "case_0_seg.nii.gz")
    source = nib.load(dataset / "case_0" / "case_0_t1.nii.gz")
    assert seg.shape == source.shape and np.allclose(seg.affine, source.affine)
    labels = np.asarray(seg.dataobj)
    assert set(np.unique(labels)) <= {0, 1, 2, 4}
    row = rows["case_0"]
    assert float(row["wt_ml"]) == pytest.approx(np.isin(labels, (1, 2, 4)).sum() * 27 / 1000)
    assert float(row["tc_ml"]) == pytest.approx(float(row["ncr_ml"]) + float(row["et_ml"]))
    assert "far from 1 mm" in row["qc_flags"] and row["weights"] == "random (no checkpoint)"
    assert row["dicom_seg"] == ""  # NIfTI input: no DICOM SEG
    _check_dicom_seg(dataset / "dicom_case", tmp_path, rows["dicom_case"])


def _check_dicom_seg(case, out, row):
    """The SEG of a DICOM case: readable by highdicom, the source's patient and study, and each
    frame equal to the label map's slice for the source image it references."""
    import highdicom as hd
    import nibabel as nib
    import pydicom

    from medvit.io.dicom_series import choose_series, list_series, sort_slices

    assert row["status"] == "ok", row["error"]
    seg = hd.seg.segread(out / row["dicom_seg"])
    t1 = find_brats_series(case)["t1"]
    ordered, _ = sort_slices(t1.path, choose_series(t1.path, list_series(t1.path), t1.series_uid).slices)
    sources = [pydicom.dcmread(h.path, stop_before_pixels=True) for h in ordered]
    assert (seg.PatientID, seg.StudyInstanceUID) == (sources[0].PatientID, sources[0].StudyInstanceUID)
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["Necrosis / non-enhancing tumour core",
                                                             "Peritumoral edema", "Enhancing tumor"]
    labels = np.asarray(nib.load(out / row["segmentation"]).dataobj)
    uids = [ds.SOPInstanceUID for ds in sources]
    frames = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2, 3])
    for k in range(len(uids)):
        for index, label in enumerate((1, 2, 4)):
            np.testing.assert_array_equal(frames[k, :, :, index], (labels[:, :, k] == label).T)
    assert float(row["wt_ml"]) == pytest.approx((labels > 0).sum() * 27 / 1000)


@pytest.mark.slow  # long (30-50 s); the config chain and export are also checked fast elsewhere
def test_train_json_runs_and_its_checkpoint_serves_inference(tmp_path):
    """The paper's recipe (train.json) runs on synthetic NIfTI cases for one epoch; the saved
    checkpoint loads into inference.json (current merging, as it was trained)."""
    data = tmp_path / "data"
    for seed in (10, 11):
        write_brats_case(data, f"train_{seed}", seed=seed, spacing=3.0)
    root = tmp_path / "bundle"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json",
               "--dataset_dir", str(data), "--bundle_root", str(root), "--max_epochs", "1", "--val_interval", "1",
               "--warmup_epochs", "1", "--roi_size", "[64,64,64]", "--num_workers", "0",
               "--network_args#feature_size", "12"]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val_mean_dice" in result.stdout + result.stderr
    checkpoint = root / "models" / "model.pt"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
               "--dataset_dir", str(data), "--output_dir", str(tmp_path / "out"), "--ckpt_path", str(checkpoint),
               "--legacy_merging", "False", *NETWORK]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "out" / "volumes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(r["weights"] == "model.pt" for r in rows)


@pytest.mark.slow
def test_demo_step_trains_then_segments(tmp_path):
    from tests.conftest import run_cli

    result = run_cli("demo", "--step", "brats-swin-unetr", "--out", str(tmp_path), timeout=1200)
    assert result.returncode == 0, result.stderr
    assert "synthetic_dicom: WT" in result.stdout and "DICOM SEG" in result.stdout
    assert "epoch 1/" in result.stdout and "val_mean_dice" in result.stdout  # training shows how it goes
    # the toy network learned the lesion: whole-tumour Dice on both held-out cases well above chance
    dice_wt = [float(d) for d in re.findall(r"Dice WT ([0-9.]+)", result.stdout)]
    assert len(dice_wt) == 2 and min(dice_wt) >= 0.6, result.stdout
    assert (tmp_path / "brats-swin-unetr" / "results" / "synthetic_dicom" / "synthetic_dicom_seg.dcm").is_file()


def _export(tmp_path, command_name, filename, *extra):
    """A random SwinUNETR (feature size 12, legacy merging) saved as published, exported by
    ``python -m monai.bundle <command_name>`` to ``tmp_path/filename``; returns the eager network."""
    import torch
    from monai.networks.nets import SwinUNETR

    from medvit.brats import LegacyPatchMerging

    torch.manual_seed(0)
    network = SwinUNETR(in_channels=4, out_channels=3, feature_size=12, downsample=LegacyPatchMerging).eval()
    torch.save({"state_dict": network.state_dict()}, tmp_path / "model.pt")
    command = [sys.executable, "-m", "monai.bundle", command_name, "network_def", "--filepath", str(tmp_path / filename),
               "--ckpt_file", str(tmp_path / "model.pt"), "--key_in_ckpt", "state_dict",
               "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json",
               "--input_shape", "[1,4,64,64,64]", "--network_args#feature_size", "12", *extra]
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return network


@pytest.mark.slow  # long (30-50 s); the config chain and export are also checked fast elsewhere
def test_ckpt_export_torchscript_matches_eager(tmp_path):
    """``python -m monai.bundle ckpt_export`` (traced) on a checkpoint as published gives the
    eager network's outputs within 1e-4 at the inference window size."""
    import torch

    network = _export(tmp_path, "ckpt_export", "model.ts", "--use_trace", "True")
    exported = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.randn(2, 4, 64, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(exported(x), network(x), atol=1e-4)


@pytest.mark.slow  # long (30-50 s); the config chain and export are also checked fast elsewhere
def test_onnx_export_matches_eager(tmp_path):
    """``python -m monai.bundle onnx_export`` runs and ONNX Runtime gives the eager outputs within 1e-4."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import torch

    network = _export(tmp_path, "onnx_export", "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 4, 64, 64, 64, generator=torch.Generator().manual_seed(1))
    (outputs,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(outputs, network(x).numpy(), atol=1e-4)


def test_registration_aligns_a_moved_series_and_flags_it(tmp_path):
    """FLAIR shifted by (6, -3, 3) mm with an unchanged header: registered onto T1ce it lines up
    again (correlation with the true FLAIR > 0.99) and the row's QC flags say it was misaligned."""
    import nibabel as nib

    from medvit.brats.segment import load_case
    from medvit.brats.qc import qc_flags

    paths = write_brats_case(tmp_path, "moved", seed=0, spacing=3.0)
    flair = nib.load(paths["flair"])
    truth = np.asarray(flair.dataobj, dtype=np.float32)
    nib.save(nib.Nifti1Image(np.roll(truth, (2, -1, 1), axis=(0, 1, 2)), flair.affine), paths["flair"])
    volume, reference, moves = load_case(tmp_path / "moved", register=True)
    assert reference.path.name == "moved_t1ce.nii.gz"
    assert moves["flair"]["translation_mm"] == pytest.approx(np.sqrt(36 + 9 + 9), abs=1.0)
    assert moves["t1"]["translation_mm"] < 1.0 and moves["t2"]["translation_mm"] < 1.0
    registered = volume[3].numpy()
    inside = (registered > 0) & (truth > 0)
    assert np.corrcoef(registered[inside], truth[inside])[0, 1] > 0.99
    flags = qc_flags(volume, [3.0, 3.0, 3.0], moves)
    assert any(f.startswith("flair was misaligned") for f in flags)
    assert not any(f.startswith("t2 was") for f in flags)


def test_intensity_flags_catch_what_brats_never_showed():
    """Synthetic BraTS-like series pass; bright outliers, negative values and an 8-bit series
    are flagged by name."""
    from medvit.brats.synthetic import brats_like_case
    from medvit.brats.qc import intensity_flags

    image, _, _ = brats_like_case(seed=0, spacing=3.0)
    assert intensity_flags(image) == []
    odd = image.copy()
    brain = odd[1] > 0
    spots = np.flatnonzero(brain)[::300]  # 0.3 % of the brain 30 SD bright (fat, vessels, artefact)
    odd[1].flat[spots] = odd[1][brain].mean() + 30 * odd[1][brain].std()
    odd[2][brain] -= 400.0  # a signed series: not MR magnitude
    odd[3] = np.round(odd[3] / odd[3].max() * 20)  # 21 levels: a screenshot, not a series
    flags = intensity_flags(odd)
    assert len(flags) == 3, flags
    assert flags[0].startswith("t1ce intensities out of the trained range")
    assert flags[1].startswith("t2 has negative intensities")
    assert flags[2].startswith("flair has only")


def _with_skull_and_air(image: np.ndarray, rng) -> np.ndarray:
    """A skull-stripped (4, X, Y, Z) case with a 3-voxel bright skull and air noise (never exactly zero)."""
    from scipy import ndimage

    brain = np.any(image > 0, axis=0)
    skull = ndimage.binary_dilation(brain, iterations=3) & ~brain
    head = image.copy()
    head[:, ~brain] = np.abs(rng.normal(0, 20, size=(4, int((~brain).sum()))))
    head[:, skull] = 900.0
    return head


def test_segmentation_outside_the_head_or_larger_than_a_brain_is_flagged():
    """The true labels of a synthetic case pass, skull-stripped or with skull and air; a
    segmentation of the air outside the head (an untrained network's) is flagged, with the
    share outside and the whole tumour's volume."""
    from medvit.brats.qc import MAX_WHOLE_TUMOUR_ML, head_mask, segmentation_qc
    from medvit.brats.synthetic import brats_like_case

    image, labels, _ = brats_like_case(seed=0, spacing=3.0)
    brain = np.any(image > 0, axis=0)
    np.testing.assert_array_equal(head_mask(image), brain)  # skull-stripped: the non-zero voxels
    head = head_mask(_with_skull_and_air(image, np.random.default_rng(0)))
    assert head[brain].mean() > 0.99 and head.sum() < 1.6 * brain.sum()  # the head, not the air
    for mask in (brain, head):
        measures, flags = segmentation_qc(labels, mask, [3.0] * 3)
        assert flags == [] and measures["qc_outside_head_fraction"] == 0.0
    assert measures["qc_head_ml"] == pytest.approx(head.sum() * 27 / 1000)
    air = np.where(head, 0, 2).astype(np.uint8)  # "oedema" everywhere outside the head
    measures, flags = segmentation_qc(air, head, [3.0] * 3)
    assert measures["qc_outside_head_fraction"] == 1.0 and len(flags) == 2
    assert flags[0].startswith("100% of the segmentation") and "outside the head" in flags[0]
    assert (~head).sum() * 27 / 1000 > MAX_WHOLE_TUMOUR_ML and "larger than a brain (> 1500 mL)" in flags[1]


@pytest.mark.slow  # 10-20 s: the default suite stays under 15 min on 2 cores
def test_brain_mask_skull_strips_the_input_and_bounds_the_labels(tmp_path):
    """A case with skull and air noise is flagged as not skull-stripped, and the random network's
    segmentation of the air as outside the head; its brain mask file (found by the default
    ``*_brainmask.nii.gz``) strips it: no such flag, no label outside the mask."""
    import nibabel as nib

    from medvit.brats.segment import segment_brats_case

    paths = write_brats_case(tmp_path / "cases", "head", seed=5, spacing=3.0)
    names = ("t1", "t1ce", "t2", "flair")
    images = [nib.load(paths[name]) for name in names]
    stripped = np.stack([np.asarray(image.dataobj, dtype=np.float32) for image in images])
    brain = np.any(stripped > 0, axis=0)
    for name, image, data in zip(names, images, _with_skull_and_air(stripped, np.random.default_rng(0))):
        nib.save(nib.Nifti1Image(data, image.affine), paths[name])
    paths["seg"].unlink()
    options = dict(output_dir=str(tmp_path / "out"), network={"feature_size": 12}, roi_size=(64, 64, 64), overlap=0.25)
    unmasked = segment_brats_case(str(tmp_path / "cases" / "head"), brain_mask_pattern=None, **options)
    assert "not skull-stripped" in unmasked["qc_flags"] and unmasked["brain_mask"] == ""
    # random weights segment the air around the head too: flagged beside the volumes
    assert "of the segmentation" in unmasked["qc_flags"] and "lies outside the head" in unmasked["qc_flags"]
    assert unmasked["qc_outside_head_fraction"] > 0.5 and "larger than a brain" in unmasked["qc_flags"]
    nib.save(nib.Nifti1Image(brain.astype(np.uint8), nib.load(paths["t1"]).affine),
             tmp_path / "cases" / "head" / "head_brainmask.nii.gz")
    masked = segment_brats_case(str(tmp_path / "cases" / "head"), **options)
    assert "skull" not in masked["qc_flags"] and masked["brain_mask"] == "head_brainmask.nii.gz"
    labels = np.asarray(nib.load(tmp_path / "out" / masked["segmentation"]).dataobj)
    assert labels.shape == brain.shape and not labels[~brain].any()
    assert masked["qc_outside_head_fraction"] == 0.0 and "outside the head" not in masked["qc_flags"]
    assert masked["qc_head_ml"] == pytest.approx(brain.sum() * 27 / 1000)


# -- the config is what runs (issue 15) -----------------------------------------------------------

BUNDLE_NAME = "brats_swin_unetr_segmentation"
# one Swin block per stage: the smallest network that still runs 64³ windows (4× a 32³ stride)
TINY = {"network_args#feature_size": 12, "network_def#depths": [1, 1, 1, 1], "roi_size": [64, 64, 64],
        "overlap": 0.25, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def brats_case(tmp_path_factory):
    """One synthetic NIfTI case at 4 mm (49×58×47: one 64³ window) with its brain mask, and a
    checkpoint of the tiny network."""
    import nibabel as nib
    import torch
    from monai.networks.nets import SwinUNETR

    from medvit.brats import LegacyPatchMerging

    folder = tmp_path_factory.mktemp("brats_config")
    paths = write_brats_case(folder / "cases", "case_0", seed=0, spacing=4.0)
    t1 = nib.load(paths["t1"])
    brain = np.asarray(t1.dataobj) > 0
    nib.save(nib.Nifti1Image(brain.astype(np.uint8), t1.affine), paths["t1"].with_name("case_0_brainmask.nii.gz"))
    torch.manual_seed(0)
    network = SwinUNETR(in_channels=4, out_channels=3, feature_size=12, depths=(1, 1, 1, 1),
                        downsample=LegacyPatchMerging)
    torch.save(network.state_dict(), folder / "model.pt")
    return folder


def _run(case, out, config="inference.json", **overrides):
    from medvit.bundle.run import run_config
    from tests.bundle_checks import bundle_dir

    settings = {"dataset_dir": str(case / "cases"), "output_dir": str(out), "ckpt_path": str(case / "model.pt"), **TINY}
    return run_config(bundle_dir(BUNDLE_NAME), config, **{**settings, **overrides})


@pytest.fixture(scope="module")
def default_run(brats_case, tmp_path_factory):
    """The bundle's inference.json with the tiny network's checkpoint: (output folder, table)."""
    out = tmp_path_factory.mktemp("brats_default")
    return out, _run(brats_case, out)


def _labels(out, table, case="case_0"):
    import nibabel as nib

    row = table[table["image"] == case].iloc[0]
    assert row["status"] == "ok", row["error"]
    return np.asarray(nib.load(out / row["segmentation"]).dataobj)


def test_the_network_inferer_and_device_of_the_config_are_what_runs(brats_case, default_run, tmp_path):
    from medvit.bundle.run import bundle_parser
    from tests.bundle_checks import bundle_dir, provenance

    def parameters(**overrides):  # of the network the config builds (state_dict also holds buffers)
        parser = bundle_parser(bundle_dir(BUNDLE_NAME), "inference.json", **{**TINY, **overrides})
        return sum(p.numel() for p in parser.get_parsed_content("network_def").parameters())

    out, table = default_run
    _run(brats_case, tmp_path / "deeper", load_pretrain=False, **{"network_def#depths": [1, 1, 1, 2]})
    windows = _run(brats_case, tmp_path / "windows", **{"inferer#roi_size": [64, 96, 64], "inferer#overlap": 0.5})
    tiny, deeper = provenance(out / "volumes.csv"), provenance(tmp_path / "deeper" / "volumes.csv")
    assert tiny["parameters"] == parameters()
    assert deeper["parameters"] == parameters(**{"network_def#depths": [1, 1, 1, 2]}) > tiny["parameters"]
    assert tiny["network"] == "SwinUNETR" and tiny["network_device"] == "cpu" and tiny["device"] == "cpu"
    assert tiny["inferer"] == {"class": "SlidingWindowInferer", "roi_size": [64, 64, 64], "overlap": 0.25,
                               "sw_batch_size": 1, "mode": "constant"}
    recorded = provenance(tmp_path / "windows" / "volumes.csv")["inferer"]
    assert recorded["roi_size"] == [64, 96, 64] and recorded["overlap"] == 0.5
    # the 58 voxels along y padded to a 96-voxel window instead of a 64 one: other logits, other labels
    assert not np.array_equal(_labels(out, table), _labels(tmp_path / "windows", windows))


def test_monai_label_style_run_of_the_components_gives_the_bundles_prediction(brats_case, default_run, tmp_path):
    from tests.bundle_checks import predict_by_hand

    out, table = default_run
    settings = {**TINY, "ckpt_path": str(brats_case / "model.pt"), "dataset_dir": str(brats_case / "cases"),
                "output_dir": str(tmp_path)}
    data = predict_by_hand(BUNDLE_NAME, str(brats_case / "cases" / "case_0"), **settings)
    np.testing.assert_array_equal(np.asarray(data["pred"])[0], _labels(out, table))
    row = table.iloc[0]
    assert data["row"]["brain_mask"] == row["brain_mask"] == "case_0_brainmask.nii.gz"
    assert data["row"]["wt_ml"] == pytest.approx(row["wt_ml"]) and data["row"]["qc_flags"] == row["qc_flags"]


def test_a_preprocessing_override_changes_what_runs(brats_case, default_run, tmp_path):
    out, table = default_run
    # transform 13 is NormalizeIntensityd: over the whole volume instead of the brain only
    other = _run(brats_case, tmp_path, **{"preprocessing#transforms#13#nonzero": False})
    assert not np.array_equal(_labels(out, table), _labels(tmp_path, other))
    assert table["settings_hash"].iloc[0] != other["settings_hash"].iloc[0]  # and resuming knows it


def test_evaluate_json_reuses_the_inference_components(brats_case, default_run, tmp_path):
    """evaluate.json adds per-case Dice / HD95 to inference.json's own pipeline (brain mask, window
    settings, checkpoint): the same label map, scored against the case's reference."""
    import pandas as pd

    from tests.bundle_checks import provenance

    out, table = default_run
    scores = _run(brats_case, tmp_path, "evaluate.json")
    assert list(scores.columns[3:9]) == ["dice_tc", "dice_wt", "dice_et", "hd95_tc", "hd95_wt", "hd95_et"]
    np.testing.assert_array_equal(_labels(tmp_path, scores), _labels(out, table))
    assert scores["brain_mask"].iloc[0] == "case_0_brainmask.nii.gz" and scores["weights"].iloc[0] == "model.pt"
    assert provenance(tmp_path / "metrics.csv")["inferer"] == provenance(out / "volumes.csv")["inferer"]
    import nibabel as nib

    reference = np.asarray(nib.load(brats_case / "cases" / "case_0" / "case_0_seg.nii.gz").dataobj)
    expected = region_scores(_labels(out, table), reference, spacing=(4.0, 4.0, 4.0))
    assert scores["dice_wt"].iloc[0] == pytest.approx(expected["dice_wt"])
    summary = pd.read_csv(tmp_path / "metrics_summary.csv")
    assert summary.set_index("metric").loc["dice_wt", "n"] == 1


def test_inference_train_and_evaluate_build_the_same_network():
    from tests.bundle_checks import architecture

    reference = architecture(BUNDLE_NAME, "inference.json")
    assert reference[0] == "SwinUNETR"
    for config in ("train.json", "multi_gpu_train.json", "evaluate.json"):
        assert architecture(BUNDLE_NAME, config) == reference, config


def test_command_line_overrides_take_effect(brats_case, tmp_path):
    import json

    import pandas as pd

    from tests.bundle_checks import provenance, run_cli

    run_cli(BUNDLE_NAME, dataset_dir=str(brats_case / "cases"), output_dir=str(tmp_path), load_pretrain=False,
            progress=False, device="cpu", **{"network_args#feature_size": 12, "network_def#depths": [1, 1, 1, 1],
                                              "inferer#roi_size": [64, 96, 64], "inferer#overlap": 0.5,
                                              "preprocessing#transforms#13#nonzero": False})
    recorded = provenance(tmp_path / "volumes.csv")
    assert recorded["inferer"]["roi_size"] == [64, 96, 64] and recorded["inferer"]["overlap"] == 0.5
    assert recorded["network_device"] == "cpu"
    settings = json.loads((tmp_path / "volumes.provenance.json").read_text())["settings"]["config"]
    assert settings["preprocessing"]["transforms"][13]["nonzero"] is False
    assert settings["network_def"]["depths"] == [1, 1, 1, 1]
    table = pd.read_csv(tmp_path / "volumes.csv")
    assert table["status"].tolist() == ["ok"] and table["weights"].iloc[0] == "random (no checkpoint)"


def test_four_dicom_series_in_one_folder_load_by_their_series_uids(dataset, tmp_path):
    """A hospital export with the four series' files side by side in one folder reads as the
    same four channels as one folder per series (each key is read by its series UID)."""
    import shutil

    from medvit.brats.segment import load_case

    flat = tmp_path / "flat_case"
    flat.mkdir()
    for k, path in enumerate(sorted((dataset / "dicom_case").rglob("*.dcm"))):
        shutil.copy(path, flat / f"{k:04d}.dcm")
    volume, reference, _ = load_case(flat)
    nested, _, _ = load_case(dataset / "dicom_case")
    assert reference.path == flat and reference.series_uid
    np.testing.assert_array_equal(np.asarray(volume), np.asarray(nested))
    assert len({float(np.asarray(channel).std()) for channel in volume}) == 4  # four different series


def test_a_case_that_fails_while_writing_leaves_none_of_its_outputs(tmp_path, monkeypatch):
    """The label map is written first; when the DICOM SEG then fails, the case's error row is all
    there is: no lone ``_seg.nii.gz`` (issue 17, item 4)."""
    import medvit.brats.transforms
    from medvit.brats.synthetic import write_brats_dicom_case
    from medvit.errors import MedvitError

    write_brats_dicom_case(tmp_path / "cases", "dicom_case", seed=4, spacing=4.0)

    def broken(*args, **kwargs):
        raise MedvitError("the SEG cannot be written (test)")

    monkeypatch.setattr(medvit.brats.transforms, "write_dicom_seg", broken)
    with pytest.raises(MedvitError, match="0 ok, 1 failed .*dicom_case: the SEG cannot be written"):
        _run(tmp_path, tmp_path / "out", load_pretrain=False)
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "volumes.csv")
    assert table["status"].tolist() == ["error"]
    assert not list((tmp_path / "out").rglob("*.nii.gz")) and not list((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("roi_size", [[32, 32, 32], [64, 64, 48], 16])
def test_a_window_swin_unetr_cannot_take_is_one_line_naming_the_setting(brats_case, tmp_path, roi_size):
    """``--roi_size [32,32,32]`` gave PyTorch's "Expected more than 1 spatial element when training"
    (issue 17, item 9): the setting, its value and the rule instead."""
    with pytest.raises(MedvitError, match=r"roi_size \[.*\]: Swin UNETR's sliding window must be a multiple of 32 "
                                          r"and at least 64 per axis"):
        _run(brats_case, tmp_path, roi_size=roi_size)
