"""LegacyPatchMerging reproduces MONAI < 1.5's Swin UNETR; checkpoints load as published."""

import os

import pytest
import torch
from monai.networks.nets import SwinUNETR
from monai.networks.nets.swin_unetr import PatchMerging

from medvit.errors import MedvitError
from medvit.nets import load_state_dict, read_state_dict
from medvit.brats import LegacyPatchMerging

# monai 1.4.0's PatchMerging.forward, 3D: x0..x7 = x[:, d::2, h::2, w::2] with these offsets
MONAI_140_OFFSETS = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 0), (0, 0, 1), (1, 1, 1)]


def _position_tensor(d=4, h=6, w=8):
    """(1, D, H, W, 3) whose channels are each voxel's own (d, h, w) position."""
    grid = torch.stack(torch.meshgrid(torch.arange(d), torch.arange(h), torch.arange(w), indexing="ij"), dim=-1)
    return grid[None].float()


def _concatenated(merging, x):
    """What a merging layer concatenates, read off with an identity norm and reduction."""
    merging.norm = torch.nn.Identity()
    merging.reduction = torch.nn.Identity()
    return merging(x)


def test_legacy_merging_takes_monai_140_sub_volumes():
    x = _position_tensor()
    merged = _concatenated(LegacyPatchMerging(dim=3, spatial_dims=3), x)  # (1, 2, 3, 4, 8 * 3)
    blocks = merged.reshape(*merged.shape[:4], 8, 3)
    for index, offset in enumerate(MONAI_140_OFFSETS):
        # the voxel a sub-volume contributes to block (0, 0, 0) is the offset itself
        assert blocks[0, 0, 0, 0, index].tolist() == list(map(float, offset)), index
    today = _concatenated(PatchMerging(dim=3, spatial_dims=3), x).reshape(*merged.shape[:4], 8, 3)
    assert not torch.equal(today, blocks)  # MONAI >= 1.5 changed the slicing: the reason this class exists


def test_legacy_merging_pads_odd_sizes_and_keeps_2d():
    out = LegacyPatchMerging(dim=5, spatial_dims=3)(torch.randn(2, 5, 7, 9, 5))
    assert out.shape == (2, 3, 4, 5, 10)
    merging, legacy = PatchMerging(dim=5, spatial_dims=2), LegacyPatchMerging(dim=5, spatial_dims=2)
    legacy.load_state_dict(merging.state_dict())  # same parameters, same names
    x = torch.randn(1, 6, 8, 5)
    assert torch.equal(legacy(x), merging(x))


def test_swin_unetr_builds_with_legacy_merging():
    net = SwinUNETR(in_channels=4, out_channels=3, feature_size=12, downsample=LegacyPatchMerging)
    assert isinstance(net.swinViT.layers1[0].downsample, LegacyPatchMerging)
    assert net(torch.randn(1, 4, 64, 64, 64)).shape == (1, 3, 64, 64, 64)


def test_checkpoint_as_published_loads_on_cpu(tmp_path):
    """The BraTS 2021 files are {"state_dict": ...}, some saved from DataParallel ("module.")."""
    source = SwinUNETR(in_channels=4, out_channels=3, feature_size=12, downsample=LegacyPatchMerging)
    path = tmp_path / "fold0_f12.pt"
    torch.save({"epoch": 300, "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    target = load_state_dict(SwinUNETR(in_channels=4, out_channels=3, feature_size=12, downsample=LegacyPatchMerging), path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    with pytest.raises(MedvitError, match="does not fit SwinUNETR: shapes differ"):
        load_state_dict(SwinUNETR(in_channels=4, out_channels=3, feature_size=24), path)
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(MedvitError, match="cannot read the checkpoint"):
        read_state_dict(tmp_path / "junk.pt")


@pytest.mark.slow
def test_same_output_as_monai_140():
    """Against monai==1.4.0 itself, in its own venv (created once under .bench/monai14, or
    MEDVIT_MONAI14_PYTHON): same random weights and input, feature size 48 as published."""
    from benchmarks.swin_legacy_merging import compare, reference_python

    result = compare(reference_python(os.environ.get("MEDVIT_MONAI14_PYTHON")), feature_size=48)
    assert result["legacy_vs_monai140"] <= 1e-5
    assert result["current_vs_monai140"] > 1e-2  # today's default really is another network
