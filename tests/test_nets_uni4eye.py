"""Uni4Eye: one encoder for 2D images and 3D volumes, dual (image / gradient) decoders, masked
losses, checkpoints into the 2D path and into the fine-tuning classifier."""

import pytest
import torch

from medvit.errors import MedvitError
from medvit.nets import Uni4Eye, UnifiedViT, ViT, layer_decay_param_groups, load_checkpoint
from medvit.nets.mae import masked_mse, patchify
from medvit.nets.vit_checkpoints import load_classifier, medvit_to_timm
from medvit.nets.gradient import GradientMagnituded, gradient_magnitude

TINY = dict(img_size_2d=32, img_size_3d=(32, 32, 16), patch_size=8, hidden_size=48, num_layers=2, num_heads=3)
TINY_DECODER = dict(decoder_hidden_size=32, decoder_num_layers=1, decoder_num_heads=4)


def tiny_uni4eye(**kwargs) -> Uni4Eye:
    return Uni4Eye(**TINY, **TINY_DECODER, **kwargs)


def test_gradient_magnitude_is_the_mean_absolute_sobel_derivative():
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0  # a vertical edge: only d/dy (last axis) responds
    grad = gradient_magnitude(step)
    assert grad.shape == step.shape and type(grad) is torch.Tensor
    # MONAI's normalised Sobel: |Gy| = 0.5 at the two pixels beside the edge; 0.5·|Gx| + 0.5·|Gy|
    assert grad[0, 0, 5, 6:10].tolist() == pytest.approx([0.0, 0.25, 0.25, 0.0])
    cube = torch.zeros(1, 1, 8, 8, 8)
    cube[..., 4:] = 1.0
    assert gradient_magnitude(cube)[0, 0, 3, 3, 2:6].tolist() == pytest.approx([0, 0.5 / 3, 0.5 / 3, 0])
    out = GradientMagnituded("image")({"image": step[0]})
    assert torch.allclose(out["image_gradient"], grad[0])
    with pytest.raises(ValueError, match="2D or 3D"):
        gradient_magnitude(torch.rand(1, 1, 8))


@pytest.mark.parametrize("shape, tokens, patch_values", [((2, 1, 32, 32), 16, 64), ((2, 1, 32, 32, 16), 32, 512)])
def test_one_model_pretrains_on_images_and_volumes(shape, tokens, patch_values):
    torch.manual_seed(0)
    model = tiny_uni4eye(lambda_image=1.0, lambda_gradient=0.5)
    x = torch.rand(shape)
    out = model(x)
    assert set(out) == {"loss", "loss_image", "loss_gradient", "pred_image", "pred_gradient", "mask"}
    assert out["pred_image"].shape == out["pred_gradient"].shape == (2, tokens, patch_values)
    assert out["mask"].sum(dim=1).tolist() == [tokens * 3 / 4] * 2  # mask ratio 0.75
    target = patchify(x, 8)
    assert torch.allclose(out["loss_image"], masked_mse(out["pred_image"], target, out["mask"]))
    gradient_target = patchify(gradient_magnitude(x), 8)
    assert torch.allclose(out["loss_gradient"], masked_mse(out["pred_gradient"], gradient_target, out["mask"]))
    assert torch.allclose(out["loss"], out["loss_image"] + 0.5 * out["loss_gradient"])
    out["loss"].backward()
    # the blocks are shared; only the matching patch embedding learns from this batch
    volume = len(shape) == 5
    assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert (model.encoder.patch_embed_3d.proj.weight.grad is not None) == volume
    assert (model.encoder.patch_embed.proj.weight.grad is not None) == (not volume)
    assert not model.encoder.pos_embed.requires_grad and not model.encoder.pos_embed_3d.requires_grad
    encoded = model.encode(x)
    assert encoded.shape == (2, 1 + tokens, 48)
    assert model.to_images(out["pred_image"], len(shape) - 2).shape == shape


def test_paper_sizes_give_196_and_1372_tokens():
    encoder = UnifiedViT(hidden_size=48, num_layers=1, num_heads=3)
    assert encoder.grid_size == (14, 14) and encoder.grid_size_3d == (14, 14, 7)
    assert encoder.pos_embed.shape == (1, 197, 48) and encoder.pos_embed_3d.shape == (1, 1373, 48)


def test_wrong_inputs_are_refused_with_the_size_expected():
    model = tiny_uni4eye()
    with pytest.raises(ValueError, match=r"built for \(32, 32, 16\)"):
        model(torch.rand(1, 1, 32, 32, 24))  # wrong depth
    with pytest.raises(ValueError, match="H, W, D"):
        model(torch.rand(1, 1, 32))
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_uni4eye(mask_ratio=1.0)


def test_timm_checkpoint_fills_the_2d_path_and_uni4eye_fills_the_classifier(tmp_path):
    torch.manual_seed(0)
    timm_model = ViT(in_channels=3, img_size=16, patch_size=8, hidden_size=48, num_layers=2, num_heads=3, global_pool=False)
    path = tmp_path / "mae_pretrain_vit.pth"
    torch.save({"model": medvit_to_timm(timm_model.state_dict())}, path)
    model = tiny_uni4eye()
    report = load_checkpoint(model, path)
    assert torch.equal(model.encoder.blocks[1].mlp.linear1.weight, timm_model.blocks[1].mlp.linear1.weight)
    # RGB kernels summed onto the grey input; 2x2 position grid interpolated onto 4x4
    assert torch.allclose(model.encoder.patch_embed.proj.weight, timm_model.patch_embed.proj.weight.sum(1, keepdim=True))
    assert any(k.startswith("encoder.patch_embed_3d.") for k in report["initialised"])
    assert any(k.startswith("decoder_gradient.") for k in report["initialised"])

    pretrained = tmp_path / "uni4eye.pt"
    torch.save(model.state_dict(), pretrained)
    again = tiny_uni4eye()
    assert load_checkpoint(again, pretrained) == {"initialised": [], "ignored": []}  # both decoders too
    assert torch.equal(again.decoder_gradient.pred_3d.weight, model.decoder_gradient.pred_3d.weight)
    classifier = UnifiedViT(**TINY, num_classes=3)
    report = load_checkpoint(classifier, pretrained)
    assert sorted(report["initialised"]) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert torch.equal(classifier.patch_embed_3d.proj.weight, model.encoder.patch_embed_3d.proj.weight)
    assert classifier(torch.rand(2, 1, 32, 32, 16)).shape == (2, 3)
    assert classifier(torch.rand(2, 1, 32, 32)).shape == (2, 3)

    with pytest.raises(MedvitError, match="uni4eye.pt: not a fine-tuned classifier: fc_norm"):
        load_classifier(UnifiedViT(**TINY, num_classes=3), pretrained)

    other = tmp_path / "deeper.pt"
    torch.save(UnifiedViT(**{**TINY, "hidden_size": 24}).state_dict(), other)
    with pytest.raises(MedvitError, match="deeper.pt"):
        load_checkpoint(classifier, other)


def test_layer_decay_puts_both_patch_embeddings_at_the_bottom():
    classifier = UnifiedViT(**TINY, num_classes=2)
    groups = layer_decay_param_groups(classifier, lr=1.0, layer_decay=0.5)
    bottom = {id(p) for g in groups if g["lr_scale"] == 0.5**3 for p in g["params"]}
    assert id(classifier.patch_embed_3d.proj.weight) in bottom and id(classifier.patch_embed.proj.weight) in bottom
    assert id(classifier.pos_embed_3d) in bottom


def test_uni4eye_pp_layout_loads_both_paths(tmp_path):
    """Uni4Eye++'s files name the 2D / 3D pairs proj2 / proj3, pos_embed2 / 3, decoder_pred2 / 3."""
    torch.manual_seed(0)
    source = tiny_uni4eye(in_channels=3)
    names = {"patch_embed.proj.": "patch_embed.proj2.", "patch_embed_3d.proj.": "patch_embed.proj3.",
             "pos_embed": "pos_embed2", "pos_embed_3d": "pos_embed3", "decoder_pos_embed": "decoder_pos_embed2",
             "decoder_pos_embed_3d": "decoder_pos_embed3", "decoder_pred.": "decoder_pred2.",
             "decoder.pred_3d.": "decoder_pred3."}
    state = {}
    for key, value in medvit_to_timm(source.state_dict()).items():
        if key.startswith("decoder_gradient."):
            continue
        prefix = next((p for p in sorted(names, key=len, reverse=True) if key == p or (p.endswith(".") and key.startswith(p))), None)
        state[names[prefix] + key[len(prefix):] if prefix else key] = value
    assert "patch_embed.proj3.weight" in state and "decoder_pred3.weight" in state
    path = tmp_path / "uni4eye_pp.pth"
    torch.save({"model": {**state, "controller.weight": torch.zeros(2)}, "epoch": 799}, path)
    model = tiny_uni4eye()
    report = load_checkpoint(model, path)
    assert torch.allclose(model.encoder.patch_embed_3d.proj.weight, source.encoder.patch_embed_3d.proj.weight.sum(1, keepdim=True))
    assert torch.equal(model.decoder.pos_embed_3d, source.decoder.pos_embed_3d)
    assert torch.equal(model.encoder.blocks[1].attn.qkv.weight, source.encoder.blocks[1].attn.qkv.weight)
    assert {"decoder.pred_3d.weight", "encoder.controller.weight"} <= set(report["ignored"])  # 3-channel outputs
