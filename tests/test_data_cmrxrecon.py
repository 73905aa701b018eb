"""Synthetic CMRxRecon data: the challenge's layout, exact masks, consistent k-space."""

import numpy as np
import pytest

from medvit.cmrxrecon import synthetic_kspace, write_cmrx_tree
from medvit.cmrxrecon import CMRxKSpace, read_cmrx_mask
from medvit.cmrxrecon.layout import case_dir, mask_path
from medvit.recon import cmrx_mask, rss, zero_filled
from medvit.cmrxrecon import ranking_volume

SMALL = {"num_ky": 48, "num_kx": 64, "num_coils": 4, "num_slices": 3, "num_frames": 3}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmrx")
    written = write_cmrx_tree(root, cases=2, kinds=("cine_sax", "T2map"), **SMALL)
    return root, written


def test_tree_has_the_challenge_layout(tree):
    root, written = tree
    relative = sorted(str(p.relative_to(root)) for p in written)
    assert "MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax.mat" in relative
    assert "MultiCoil/Cine/TrainingSet/AccFactor10/P002/cine_sax_mask.mat" in relative
    assert "MultiCoil/Mapping/TrainingSet/AccFactor04/P001/T2map.csv" in relative
    assert "MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax_mask.mat" not in relative
    # 2 cases × 2 kinds × (full + 3 × (k-space + mask)) + csv in each of the 4 mapping folders
    assert len(written) == 2 * 2 * 7 + 2 * 4
    assert (root / "MultiCoil/Mapping/TrainingSet/FullSample/P001/T2map.csv").read_text().splitlines()[:2] == ["index,ms", "0,0"]


@pytest.mark.parametrize("acceleration", [4, 8, 10])
def test_undersampled_files_are_full_kspace_times_the_exact_mask(tree, acceleration):
    root, _ = tree
    full_path = case_dir(root, "P001", "cine_sax") / "cine_sax.mat"
    sub_path = case_dir(root, "P001", "cine_sax", acceleration) / "cine_sax.mat"
    mask = read_cmrx_mask(mask_path(sub_path), acceleration)
    np.testing.assert_array_equal(mask, np.repeat(cmrx_mask(48, acceleration)[:, None], 64, axis=1))
    with CMRxKSpace(full_path) as full, CMRxKSpace(sub_path) as sub:
        assert sub.variable == f"kspace_sub{acceleration:02d}" and sub.shape == full.shape == (3, 3, 4, 48, 64)
        lines = sub.check_mask(mask, mask_path(sub_path), f"mask{acceleration:02d}")
        for (t, z), coils in sub.slices():
            np.testing.assert_array_equal(coils, full.read_slice(t, z) * lines[:, None])


def test_kspace_is_coil_maps_times_the_image():
    data = synthetic_kspace("cine_sax", noise=0.0, seed=5, **SMALL)
    kspace, images, maps = data["kspace"], data["images"], data["coil_maps"]
    assert kspace.shape == (3, 3, 4, 48, 64) and kspace.dtype == np.complex64
    np.testing.assert_allclose(zero_filled(kspace, coil_axis=2), np.abs(images) * rss(maps, 0), atol=1e-5)
    assert np.abs(images).max() == pytest.approx(1.0) and rss(maps, 0).max() == pytest.approx(1.0)
    # the object fills the middle half of the readout: the ranking crop holds anatomy
    assert not np.abs(images[..., :8]).any() and not np.abs(images[..., -8:]).any()
    crop = ranking_volume(np.abs(images).transpose(3, 2, 1, 0), "cine")  # (sx, sy, z, t)
    assert (crop > 0.05).mean() > 0.5


def test_cine_moves_and_mapping_weights():
    cine = np.abs(synthetic_kspace("cine_sax", noise=0.0, **SMALL)["images"])
    still = np.abs(cine[0] - cine[1]).mean()
    assert still > 0.01  # the frames move
    assert np.abs(cine[0]).mean() == pytest.approx(np.abs(cine[1]).mean(), rel=0.1)  # but keep their contrast
    t2 = synthetic_kspace("T2map", noise=0.0, **SMALL)
    assert t2["weightings_ms"].tolist() == [0.0, 30.0, 60.0]
    energy = [np.abs(frame).sum() for frame in t2["images"] * t2["images"].max()]
    assert energy[0] > energy[1] > energy[2]  # signal decays with echo time
    t1 = synthetic_kspace("T1map", noise=0.0, **SMALL)["images"]
    assert not np.allclose(np.abs(t1[0]) / np.abs(t1[0]).max(), np.abs(t1[-1]) / np.abs(t1[-1]).max(), atol=0.05)


def test_repeatable_and_seeded():
    first = synthetic_kspace("cine_sax", seed=1, **SMALL)["kspace"]
    np.testing.assert_array_equal(first, synthetic_kspace("cine_sax", seed=1, **SMALL)["kspace"])
    assert not np.allclose(first, synthetic_kspace("cine_sax", seed=2, **SMALL)["kspace"])
    with pytest.raises(ValueError, match="unknown CMRxRecon file kind"):
        synthetic_kspace("perfusion", **SMALL)


def test_single_coil_tree(tmp_path):
    written = write_cmrx_tree(tmp_path, kinds=("cine_lax",), accelerations=(8,), single_coil=True, **SMALL)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == [
        "SingleCoil/Cine/TrainingSet/AccFactor08/P001/cine_lax.mat",
        "SingleCoil/Cine/TrainingSet/AccFactor08/P001/cine_lax_mask.mat",
        "SingleCoil/Cine/TrainingSet/FullSample/P001/cine_lax.mat",
    ]
    with CMRxKSpace(tmp_path / "SingleCoil/Cine/TrainingSet/FullSample/P001/cine_lax.mat") as kspace:
        assert kspace.variable == "kspace_single_full" and kspace.shape == (3, 3, 1, 48, 64)
