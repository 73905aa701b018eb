"""E2E-VarNet: fastMRI's parameters and outputs, its data consistency, the shift-free FFTs."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from medvit.cmrxrecon import synthetic_kspace
from medvit.errors import MedvitError
from medvit.nets import VarNet, load_state_dict
from medvit.nets.varnet import chequerboard
from medvit.recon import cmrx_mask, fft2c, ifft2c, zero_filled
from tests.fastmri_reference import import_fastmri

SMALL = {"num_cascades": 2, "sens_chans": 4, "sens_pools": 2, "chans": 4, "pools": 2}


def _slice(num_coils=10, h=192, w=124, acceleration=8, seed=0):
    """One synthetic slice as VarNet takes it: (1, coils, H, W, 2) with W the phase-encoding axis."""
    data = synthetic_kspace("cine_sax", num_ky=w, num_kx=h, num_coils=num_coils, num_slices=1, num_frames=1, seed=seed)
    kspace = torch.from_numpy(data["kspace"][0, 0]).transpose(-1, -2)  # (coil, kx, ky): ky last, as fastMRI
    lines = torch.from_numpy(cmrx_mask(w, acceleration))
    return torch.view_as_real(kspace * lines)[None].contiguous(), lines.view(1, 1, 1, -1, 1)


def test_parameters_are_named_as_fastmri_names_them():
    keys = list(VarNet().state_dict())
    assert len(keys) == 324 and sum(p.numel() for p in VarNet().parameters()) == 29_936_966
    assert keys[0] == "sens_net.norm_unet.unet.down_sample_layers.0.layers.0.weight"
    assert "cascades.11.model.unet.up_conv.3.1.bias" in keys and "cascades.11.dc_weight" in keys
    assert "cascades.0.model.unet.up_transpose_conv.3.layers.0.weight" in keys


def test_without_cascades_it_is_the_zero_filled_rss():
    kspace, mask = _slice(num_coils=4, h=64, w=48)
    with torch.no_grad():
        image = VarNet(**{**SMALL, "num_cascades": 0})(kspace, mask)
    expected = zero_filled(torch.view_as_complex(kspace), coil_axis=1)
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("h,w", [(64, 48), (63, 45)])
def test_shift_free_ffts_equal_the_centred_ones(h, w):
    """forward() (chequerboard at even sizes) equals the cascades run on plain centred FFTs."""
    torch.manual_seed(0)
    net = VarNet(**SMALL).eval()
    kspace, mask = _slice(num_coils=3, h=h, w=w, acceleration=4)
    with torch.no_grad():
        fast = net(kspace, mask)
        complex_kspace = torch.view_as_complex(kspace)
        maps = net.sens_net(complex_kspace, mask)
        current = complex_kspace
        for cascade in net.cascades:
            current = cascade(current, complex_kspace, mask[..., 0], maps)  # fft2c / ifft2c
        plain = ifft2c(current).abs().square().sum(1).sqrt()
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    board, sign = chequerboard(8, 6)
    x = torch.randn(8, 6, dtype=torch.complex64)
    torch.testing.assert_close(fft2c(x), sign * board * torch.fft.fft2(board * x, norm="ortho"))


def test_single_coil_has_no_sensitivity_network():
    net = VarNet(**SMALL, single_coil=True)
    assert not any(key.startswith("sens_net") for key in net.state_dict())
    kspace, mask = _slice(num_coils=4, h=64, w=48)
    single = kspace[:, :1]
    with torch.no_grad():
        torch.testing.assert_close(
            VarNet(**{**SMALL, "num_cascades": 0}, single_coil=True)(single, mask),
            zero_filled(torch.view_as_complex(single)[:, 0], coil_axis=None), atol=1e-5, rtol=1e-5,
        )
        assert net(single, mask).shape == (1, 64, 48)
    with pytest.raises(ValueError, match="takes one coil"):
        net(kspace, mask)


def test_trains():
    net = VarNet(**SMALL)
    kspace, mask = _slice(num_coils=3, h=32, w=40, acceleration=4)
    net(kspace, mask).mean().backward()
    assert net.cascades[0].dc_weight.grad is not None
    assert net.sens_net.norm_unet.unet.down_sample_layers[0].layers[0].weight.grad.abs().sum() > 0


def test_import_is_lazy():
    code = "import sys, medvit.nets; assert 'torch' not in sys.modules; medvit.nets.VarNet; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("h,w", [(192, 124), (97, 61)])
def test_equal_to_fastmri_for_the_same_weights(h, w, tmp_path):
    """10 coils, the default 12-cascade network with fastMRI's random weights, loaded from a file."""
    import_fastmri()
    from fastmri.models import VarNet as FastMRIVarNet

    torch.manual_seed(0)
    reference = FastMRIVarNet().eval()
    ours, theirs = VarNet().state_dict(), reference.state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)
    torch.save(theirs, tmp_path / "varnet.pt")
    net = load_state_dict(VarNet(), tmp_path / "varnet.pt").eval()
    kspace, mask = _slice(num_coils=10, h=h, w=w)
    with torch.no_grad():
        expected, image = reference(kspace, mask), net(kspace, mask)
    assert expected.abs().max() > 0.3  # outputs of order 1: the tolerance is relative too
    assert float((image - expected).abs().max()) <= 1e-5
    with torch.no_grad():  # the centre block given, as fastMRI's data modules pass it
        np.testing.assert_allclose(net(kspace, mask, 24).numpy(), reference(kspace, mask, 24).numpy(), atol=1e-5)


def _lightning_checkpoint(reference, path):
    """What fastMRI's ``VarNetModule`` saves through Lightning: the network as ``varnet.*``, its
    SSIM loss's window as ``loss.w``, and the trainer's state beside it (hyper-parameters with a
    data path, optimiser state)."""
    from pathlib import PosixPath

    state = {f"varnet.{k}": v for k, v in reference.state_dict().items()}
    state["loss.w"] = torch.ones(1, 1, 7, 7) / 49
    torch.save({"epoch": 49, "global_step": 1000, "pytorch-lightning_version": "1.9.0", "state_dict": state,
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 3e-4, "params": [0, 1]}]}],
                "hyper_parameters": {"num_cascades": 2, "chans": 4, "lr": 3e-4, "data_path": PosixPath("/data/knee")}},
               path)


def test_fastmri_lightning_checkpoint_loads(tmp_path):
    """A fastMRI Lightning checkpoint (prefix ``varnet.``, ``loss.w``, Path objects in its
    hyper-parameters) loads into medvit's VarNet and gives fastMRI's network's outputs; so does
    the bare state dict fastMRI releases."""
    import_fastmri()
    from fastmri.models import VarNet as FastMRIVarNet

    torch.manual_seed(0)
    reference = FastMRIVarNet(**SMALL).eval()
    _lightning_checkpoint(reference, tmp_path / "epoch=49.ckpt")
    torch.save(reference.state_dict(), tmp_path / "state_dict.pt")
    kspace, mask = _slice(num_coils=4, h=64, w=48)
    with torch.no_grad():
        expected = reference(kspace, mask)
        for name in ("epoch=49.ckpt", "state_dict.pt"):
            net = load_state_dict(VarNet(**SMALL), tmp_path / name, submodule="varnet").eval()
            assert float((net(kspace, mask) - expected).abs().max()) <= 1e-5, name
    with pytest.raises(MedvitError, match=r"epoch=49.ckpt: the checkpoint does not fit VarNet: .*missing"):
        load_state_dict(VarNet(**{**SMALL, "num_cascades": 3}), tmp_path / "epoch=49.ckpt", submodule="varnet")
    with pytest.raises(MedvitError, match="load it with submodule='varnet'"):  # without the submodule: a hint
        load_state_dict(VarNet(**SMALL), tmp_path / "epoch=49.ckpt")


def test_temporal_context_keeps_fastmri_parameters():
    """num_adj_frames adds no parameters (fastMRI weights fit); the output is the middle frame's
    coils' RSS (without cascades: that frame's zero-filled image)."""
    torch.manual_seed(0)
    plain = VarNet(**SMALL)
    temporal = VarNet(**SMALL, num_adj_frames=3)
    assert list(plain.state_dict()) == list(temporal.state_dict())
    temporal.load_state_dict(plain.state_dict())
    kspace, mask = _slice(num_coils=2, h=32, w=40, acceleration=4)
    frames = torch.cat([_slice(num_coils=2, h=32, w=40, acceleration=4, seed=s)[0] for s in (1, 0, 2)], dim=1)
    with torch.no_grad():
        zero = VarNet(**{**SMALL, "num_cascades": 0}, num_adj_frames=3)(frames, mask)
        out = temporal.eval()(frames, mask)
    torch.testing.assert_close(zero, zero_filled(torch.view_as_complex(kspace), coil_axis=1), atol=1e-5, rtol=1e-5)
    assert out.shape == (1, 32, 40) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="needs multi-coil"):
        VarNet(single_coil=True, num_adj_frames=3)
