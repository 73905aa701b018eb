"""The CMRxRecon VarNet bundle: challenge tree in, img4ranking submissions out, training data, scoring."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.cmrxrecon import write_cmrx_tree
from medvit.cmrxrecon import CMRxKSpace, read_submission
from medvit.nets import VarNet
from medvit.recon import cmrx_mask, zero_filled
from medvit.cmrxrecon import ranking_volume
from medvit.cmrxrecon.reconstruct import (
    adjacent_frames,
    read_frames,
    reconstruct_cmrx_file,
    undersampled_files,
    varnet_input,
    varnet_slice,
)
from medvit.cmrxrecon.training import CMRxSliceDataset, SSIMLoss, split_cases, training_files
from tests.fastmri_reference import import_fastmri

BUNDLE = bundles_root() / "cmrxrecon_varnet_reconstruction"
SIZES = {"num_ky": 40, "num_kx": 48, "num_coils": 3, "num_slices": 3, "num_frames": 4}
TINY = {"num_cascades": 2, "chans": 4, "sens_chans": 4, "pools": 2, "sens_pools": 2}
TINY_OVERRIDES = {f"network_args#{k}": v for k, v in TINY.items()}
CINE_08 = "MultiCoil/Cine/TrainingSet/AccFactor08/P001/cine_sax.mat"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmrx") / "data"
    write_cmrx_tree(root, cases=2, kinds=("cine_sax", "T1map"), accelerations=(4, 8), **SIZES)
    return root


def _bundle_run(config, **overrides):
    run_config(BUNDLE, config, progress=False, **TINY_OVERRIDES, **overrides)


def test_inference_json_writes_the_challenge_layout(tree, tmp_path):
    """Random weights (load_pretrain False), R = 8 only: one img4ranking file per undersampled file,
    at the same relative path, with the ranked slices and frames cropped as run4Ranking does."""
    _bundle_run("inference.json", dataset_dir=str(tree), output_dir=str(tmp_path),
                load_pretrain=False, accelerations=[8])
    table = pd.read_csv(tmp_path / "reconstructions.csv")
    assert (table["status"] == "ok").all(), table["error"].tolist()
    assert sorted(table["image"]) == sorted(str(p.relative_to(tree)) for p in undersampled_files(tree, [8]))
    assert len(table) == 4 and set(table["weights"]) == {"random (no checkpoint)"}
    cine = read_submission(tmp_path / CINE_08)
    assert cine.shape == (16, 20, 2, 3) and cine.dtype == np.float32  # round(48/3), round(40/2), 2 slices, 3 frames
    assert read_submission(tmp_path / CINE_08.replace("Cine", "Mapping").replace("cine_sax", "T1map")).shape == (16, 20, 2, 4)
    assert not (tmp_path / "MultiCoil/Cine/TrainingSet/AccFactor04").exists()


def test_full_volume_is_the_network_slice_by_slice(tree, tmp_path):
    """ranking_only False: every slice and frame, each the network's output on that slice (the input
    scaling cancels: the network is scale-equivariant), reducing to what the ranking file holds."""
    torch.manual_seed(0)
    network = VarNet(**TINY).eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    common = dict(root=str(tree), network=TINY, checkpoint=str(tmp_path / "model.pt"), device="cpu")
    row = reconstruct_cmrx_file(str(tree / CINE_08), output_dir=str(tmp_path / "full"), ranking_only=False, **common)
    assert (row["slices"], row["frames"], row["acceleration"], row["weights"]) == (3, 4, 8, "model.pt")
    full = read_submission(tmp_path / "full" / CINE_08)
    assert full.shape == (48, 40, 3, 4)
    with CMRxKSpace(tree / CINE_08) as kspace:
        masked, mask = varnet_input(kspace.read_slice(2, 1), kspace.read_line_mask())
    with torch.no_grad():
        expected = network(masked, mask)[0].numpy()
    np.testing.assert_allclose(full[:, :, 1, 2], expected, rtol=1e-4, atol=1e-4 * expected.max())
    reconstruct_cmrx_file(str(tree / CINE_08), output_dir=str(tmp_path / "ranked"), **common)
    np.testing.assert_allclose(read_submission(tmp_path / "ranked" / CINE_08), ranking_volume(full, "cine"), rtol=1e-5)


def test_bad_files_get_error_rows_and_the_others_go_on(tree, tmp_path):
    from medvit.cmrxrecon.reconstruct import run_cmrx_reconstruction

    data = tmp_path / "data"
    shutil.copytree(tree / "MultiCoil/Cine/TrainingSet/AccFactor08", data / "AccFactor08")
    truncated = data / "AccFactor08/P002/cine_sax.mat"
    truncated.write_bytes(truncated.read_bytes()[:5000])
    (data / "AccFactor08/P001/cine_sax_mask.mat").unlink()
    shutil.copytree(tree / "MultiCoil/Mapping/TrainingSet/AccFactor08/P001", data / "AccFactor08/P003")
    table = run_cmrx_reconstruction(data, tmp_path / "out", network=TINY, progress=False).set_index("image")
    assert table.loc["AccFactor08/P003/T1map.mat", "status"] == "ok"
    assert "cine_sax.mat" in table.loc["AccFactor08/P002/cine_sax.mat", "error"]
    assert "cine_sax_mask.mat" in table.loc["AccFactor08/P001/cine_sax.mat", "error"]
    assert not (tmp_path / "out/AccFactor08/P002").exists()
    with pytest.raises(Exception, match="single-coil"):
        reconstruct_cmrx_file(str(data / "AccFactor08/P003/T1map.mat"), root=str(data), output_dir=str(tmp_path),
                              network={**TINY, "single_coil": True})


def test_temporal_context_reconstructs_the_middle_frame(tree, tmp_path):
    assert adjacent_frames(0, 12, 5) == [10, 11, 0, 1, 2] and adjacent_frames(3, 4, 3) == [2, 3, 0]
    assert adjacent_frames(2, 4, 1) == [2]
    with CMRxKSpace(tree / CINE_08) as kspace:
        stacked = read_frames(kspace, 0, 1, 3)
        np.testing.assert_array_equal(stacked, np.concatenate([kspace.read_slice(t, 1) for t in (3, 0, 1)]))
        lines = kspace.read_line_mask()
        # without cascades the network is the zero-filled RSS: of the middle frame's coils only
        plain = varnet_slice(VarNet(**{**TINY, "num_cascades": 0}, num_adj_frames=3).eval(), kspace, lines, 0, 1)
        np.testing.assert_allclose(plain, zero_filled(kspace.read_slice(0, 1)), rtol=1e-4, atol=1e-6)
    row = reconstruct_cmrx_file(str(tree / CINE_08), root=str(tree), output_dir=str(tmp_path),
                                network={**TINY, "num_adj_frames": 3})
    assert row["frames"] == 3 and np.isfinite(read_submission(tmp_path / CINE_08)).all()
    with pytest.raises(ValueError, match="odd"):
        VarNet(num_adj_frames=2)
    with pytest.raises(ValueError, match="do not split"):
        VarNet(**TINY, num_adj_frames=3)(*varnet_input(stacked[:4], lines))


def test_training_samples_use_the_challenge_masks(tree):
    files = training_files(tree)
    assert len(files) == 4 and all(p.parts[-3] == "FullSample" for p in files)
    train, val = split_cases(files, 0.5)
    assert {p.split("/")[-2] for p in train} == {"P002"} and {p.split("/")[-2] for p in val} == {"P001"}
    fixed = CMRxSliceDataset(val, accelerations=[4, 8], random_acceleration=False, num_adj_frames=3)
    assert len(fixed) == 2 * 4 * 3
    item = fixed[1]
    assert item["acceleration"] == 8 and item["image"].shape == (9, 48, 40, 2)
    lines = cmrx_mask(40, 8)
    np.testing.assert_array_equal(item["mask"].view(-1).numpy(), lines)
    assert not item["image"][..., ~torch.from_numpy(lines), :].any()
    with CMRxKSpace(val[0]) as kspace:  # item 1: frame 0, slice 1; the target is its fully sampled RSS
        reference = zero_filled(kspace.read_slice(0, 1)).T
    ratio = reference / np.maximum(item["label"].numpy(), 1e-12)
    assert np.allclose(ratio[reference > 0.1 * reference.max()], ratio.max(), rtol=1e-4)
    drawn = {CMRxSliceDataset(train[:1])[0]["acceleration"] for _ in range(30)}
    assert drawn == {4, 8, 10}
    with pytest.raises(Exception, match="undersampled"):
        CMRxSliceDataset(undersampled_files(tree)[:1])


def test_ssim_loss_is_fastmri_style():
    """MONAI's SSIM with fastMRI's window and data range: fastMRI's loss within 0.002 (fastMRI
    also scales the variances by N / (N - 1)), and blind to the images' common scale."""
    torch.manual_seed(0)
    target = torch.rand(2, 64, 48).cumsum(1) / 20
    noisy = target + 0.1 * torch.randn_like(target)
    loss = SSIMLoss()
    assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(5 * noisy, 5 * target)) == pytest.approx(float(loss(noisy, target)), rel=1e-4)
    fastmri = import_fastmri()
    expected = fastmri.SSIMLoss()(noisy[:, None], target[:, None], target.amax((1, 2)))
    assert float(loss(noisy, target)) == pytest.approx(float(expected), abs=2e-3)


def test_evaluate_json_scores_the_network_beside_zero_filled(tree, tmp_path):
    _bundle_run(["inference.json", "evaluate.json"],
                dataset_dir=str(tree), output_dir=str(tmp_path), load_pretrain=False, accelerations=[4])
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert list(comparison["method"]) == ["varnet", "zero_filled"]
    assert list(comparison["files"]) == [4, 4] and (comparison["psnr"] > 10).all()
    scores = pd.read_csv(tmp_path / "scores_varnet.csv")
    assert (scores["status"] == "ok").all() and scores["reference"].str.contains("FullSample").all()


def test_conformance_skips_verify_net_in_out_for_the_kspace_network():
    """Two network inputs (masked k-space and mask) in the metadata: MONAI's single-image
    verify_net_in_out does not apply, and the metadata says so."""
    import json

    from medvit.bundle.conformance import check_net_in_out, takes_one_image

    assert not takes_one_image(BUNDLE) and check_net_in_out(BUNDLE) == []
    meta = json.loads((BUNDLE / "configs" / "metadata.json").read_text())
    assert set(meta["network_data_format"]["inputs"]) == {"masked_kspace", "mask"}
    assert "verify_net_in_out does not apply" in meta["description"]


def test_single_coil_files_run_through_the_single_coil_network(tmp_path):
    write_cmrx_tree(tmp_path / "data", cases=1, accelerations=(10,), single_coil=True, **SIZES)
    relative = "SingleCoil/Cine/TrainingSet/AccFactor10/P001/cine_sax.mat"
    row = reconstruct_cmrx_file(str(tmp_path / "data" / relative), root=str(tmp_path / "data"),
                                output_dir=str(tmp_path / "out"), network={**TINY, "single_coil": True})
    assert row["coils"] == 1 and read_submission(tmp_path / "out" / relative).shape == (16, 20, 2, 3)
    item = CMRxSliceDataset(training_files(tmp_path / "data"))[0]
    assert item["image"].shape == (1, 48, 40, 2) and item["label"].shape == (48, 40)


# -- the config is what runs (issue 15) -----------------------------------------------------------

from monai.inferers import SimpleInferer  # noqa: E402


class ScaledInferer(SimpleInferer):
    """MONAI's SimpleInferer times ``factor``, recording each call's input shape: shows which
    inferer a run used (its output scales the submission)."""

    calls: list = []

    def __init__(self, factor: float = 2.0):
        super().__init__()
        self.factor = factor

    def __call__(self, inputs, network, *args, **kwargs):
        ScaledInferer.calls.append(tuple(inputs.shape))
        return self.factor * super().__call__(inputs, network, *args, **kwargs)


@pytest.fixture(scope="module")
def one_case(tmp_path_factory):
    """One cine file at R = 8 (2 ranked slices × 3 frames) with its FullSample, and a tiny VarNet
    saved as a fastMRI Lightning checkpoint (``varnet.`` prefix, the loss's window beside it)."""
    folder = tmp_path_factory.mktemp("cmrx_one")
    write_cmrx_tree(folder / "data", cases=1, kinds=("cine_sax",), accelerations=(8,), **{**SIZES, "num_frames": 3})
    torch.manual_seed(0)
    state = {f"varnet.{k}": v for k, v in VarNet(**TINY).state_dict().items()}
    torch.save({"state_dict": {**state, "loss.w": torch.ones(1, 1, 7, 7)}, "epoch": 3}, folder / "varnet.ckpt")
    return folder


def _run(case, out, **overrides):
    settings = {"dataset_dir": str(case / "data"), "output_dir": str(out), "ckpt_path": str(case / "varnet.ckpt"),
                "device": "cpu", "progress": False, **TINY_OVERRIDES}
    return run_config(BUNDLE, "inference.json", **{**settings, **overrides})


@pytest.fixture(scope="module")
def tiny_run(one_case, tmp_path_factory):
    """The bundle's run of ``one_case`` with its checkpoint: (output folder, table)."""
    out = tmp_path_factory.mktemp("cmrx_tiny_run")
    return out, _run(one_case, out)


def test_the_network_inferer_and_device_of_the_config_are_what_runs(one_case, tiny_run, tmp_path):
    from tests.bundle_checks import architecture, provenance

    _run(one_case, tmp_path / "wider", load_pretrain=False, **{"network_def#chans": 6})
    ScaledInferer.calls.clear()
    _run(one_case, tmp_path / "scaled", inferer={"_target_": "tests.test_recon_bundle.ScaledInferer", "factor": 2.0})
    tiny, wider = provenance(tiny_run[0] / "reconstructions.csv"), provenance(tmp_path / "wider" / "reconstructions.csv")
    _, tiny_shapes = architecture(BUNDLE.name, "inference.json", **TINY_OVERRIDES)
    _, wider_shapes = architecture(BUNDLE.name, "inference.json", **TINY_OVERRIDES, **{"network_def#chans": 6})
    assert tiny["parameters"] == sum(np.prod(s) for s in tiny_shapes.values())
    assert wider["parameters"] == sum(np.prod(s) for s in wider_shapes.values()) > tiny["parameters"]
    assert tiny["network"] == "VarNet" and tiny["network_device"] == "cpu" and tiny["device"] == "cpu"
    assert tiny["inferer"] == {"class": "SimpleInferer"} and tiny["method"] == "varnet" and tiny["checkpoint_sha256"]
    # the replaced inferer ran once per ranked (frame, slice), on masked k-space (B, coils, kx, ky, 2)
    assert provenance(tmp_path / "scaled" / "reconstructions.csv")["inferer"] == {"class": "ScaledInferer"}
    assert ScaledInferer.calls == [(1, 3, 48, 40, 2)] * 6
    default, scaled = read_submission(tiny_run[0] / CINE_08), read_submission(tmp_path / "scaled" / CINE_08)
    np.testing.assert_allclose(scaled, 2 * default, rtol=1e-5)
    assert not np.allclose(read_submission(tmp_path / "wider" / CINE_08), default)


def test_running_the_parsed_components_by_hand_gives_the_bundles_submission(one_case, tiny_run, tmp_path):
    """preprocessing → inferer(masked k-space, network, mask) per ranked (frame, slice) → postprocessing,
    written out here: the bundle's run of the same file gives the same file and row."""
    from medvit.cmrxrecon.reconstruct import varnet_stacked
    from medvit.cmrxrecon.scoring import ranking_frames, ranking_slices
    from tests.bundle_checks import components

    bundle_out, table = tiny_run
    settings = {"dataset_dir": str(one_case / "data"), "output_dir": str(tmp_path / "hand"), "device": "cpu",
                "ckpt_path": str(one_case / "varnet.ckpt"), **TINY_OVERRIDES}
    parts = components(BUNDLE.name, **settings)
    data = parts["preprocessing"]({"image": str(one_case / "data" / CINE_08)})
    with data["image"] as kspace:
        slices = range(kspace.num_slices)[ranking_slices(kspace.num_slices)]
        frames = range(kspace.num_frames)[ranking_frames(kspace.num_frames, data["task"])]
        images = np.stack([[varnet_stacked(parts["network"], kspace.read_slice(t, z), kspace.num_coils, data["mask"],
                                           "cpu", parts["inferer"]) for t in frames] for z in slices])
    data["pred"] = images.transpose(3, 2, 0, 1)  # (z, t, ky, kx) → MATLAB's (sx, sy, z, t)
    row = parts["postprocessing"](data)["row"]
    np.testing.assert_allclose(read_submission(tmp_path / "hand" / CINE_08),
                               read_submission(bundle_out / CINE_08), rtol=1e-5, atol=1e-7)
    expected = table.iloc[0]
    for column in ("task", "kind", "acceleration", "coils", "slices", "frames", "method", "weights", "output"):
        assert row[column] == expected[column], column
    assert expected["weights"] == "varnet.ckpt"


def test_a_baseline_run_owes_nothing_to_the_network(one_case, tmp_path):
    """method zero_filled: no network is loaded (the checkpoint may be missing), the network's
    settings are null in the config its cases are rebuilt from, so they change neither its
    fingerprint nor its output; rebuilt from that config, its predictor gives the same row."""
    from medvit.bundle.workflow import parse_component
    from medvit.cmrxrecon.evaluation import ranking_images
    from tests.bundle_checks import provenance

    first = _run(one_case, tmp_path / "zf", method="zero_filled")
    again = _run(one_case, tmp_path / "zf", method="zero_filled", ckpt_path=str(tmp_path / "missing.pt"),
                 **{"network_def#chans": 6, "network_args#num_cascades": 3})
    assert first["settings_hash"].iloc[0] == again["settings_hash"].iloc[0]
    assert again["seconds"].iloc[0] == first["seconds"].iloc[0]  # resumed, not redone
    assert first["weights"].isna().all() and (first["method"] == "zero_filled").all()
    assert provenance(tmp_path / "zf" / "reconstructions.csv") == {
        "bundle": "cmrxrecon_varnet_reconstruction", "bundle_version": "0.1.0", "method": "zero_filled",
        "dataset_dir": str((one_case / "data").resolve())}
    np.testing.assert_allclose(read_submission(tmp_path / "zf" / CINE_08),
                               ranking_images(one_case / "data" / CINE_08, "cine"), rtol=1e-6)  # zero-filled
    sidecar = json.loads((tmp_path / "zf" / "reconstructions.provenance.json").read_text())["settings"]
    config = sidecar["config"]
    assert config["network"] is None and config["network_def"] is None and config["ckpt_path"] is None
    predictor = parse_component(config, sidecar["predictor_id"])
    assert predictor.network is None
    row = predictor(str(one_case / "data" / CINE_08))
    assert row["output"] == first["output"].iloc[0] and row["method"] == "zero_filled"


def test_inference_train_and_evaluate_build_the_same_network():
    from tests.bundle_checks import architecture

    reference = architecture(BUNDLE.name, "inference.json")
    assert reference[0] == "VarNet"
    for config in ("train.json", "multi_gpu_train.json", "evaluate.json"):
        assert architecture(BUNDLE.name, config) == reference, config
    small = architecture(BUNDLE.name, "inference.json", **TINY_OVERRIDES)
    assert architecture(BUNDLE.name, "train.json", **TINY_OVERRIDES) == small != reference


def test_command_line_overrides_take_effect(one_case, tmp_path):
    from tests.bundle_checks import architecture, provenance, run_cli

    overrides = {**TINY_OVERRIDES, "network_def#num_cascades": 1, "network_args#chans": 6,
                 "postprocessing#transforms#0#_disabled_": True}
    run_cli(BUNDLE.name, dataset_dir=str(one_case / "data"), output_dir=str(tmp_path), load_pretrain=False,
            progress=False, device="cpu", **overrides)
    _, shapes = architecture(BUNDLE.name, "inference.json", **overrides)
    recorded = provenance(tmp_path / "reconstructions.csv")
    assert recorded["parameters"] == sum(np.prod(s) for s in shapes.values())
    config = json.loads((tmp_path / "reconstructions.provenance.json").read_text())["settings"]["config"]
    assert config["network_def"]["num_cascades"] == 1 and config["network_args"]["chans"] == 6
    assert read_submission(tmp_path / CINE_08).shape == (48, 40, 2, 3)  # the ranking crop was switched off


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_kspace_is_an_error_row_not_nan_images(tmp_path, value):
    """One NaN (or infinity) in a k-space file: before, 320 of 1,920 pixels of img4ranking were NaN
    in an "ok" row; now the file's row is an error naming it, and no submission is written (issue 17, item 3)."""
    import h5py

    write_cmrx_tree(tmp_path / "data", cases=2, kinds=("cine_sax",), accelerations=(8,), **{**SIZES, "num_frames": 3})
    damaged = tmp_path / "data" / CINE_08
    with h5py.File(damaged, "r+") as f:
        name = next(k for k in f if k.startswith("kspace"))
        kspace = f[name][()]
        kspace["real"].flat[kspace.size // 2] = value
        f[name][...] = kspace
    table = run_config(BUNDLE, "inference.json", dataset_dir=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                       method="zero_filled", progress=False)
    rows = table.set_index("image")
    bad = rows.loc[CINE_08]
    assert bad["status"] == "error" and "NaN or infinite value(s) in frame" in bad["error"] and "cine_sax.mat" in bad["error"]
    assert not (tmp_path / "out" / CINE_08).exists()
    good = rows.drop(index=CINE_08)
    assert (good["status"] == "ok").all() and len(good) == 1
    assert np.isfinite(read_submission(tmp_path / "out" / good.index[0])).all()
