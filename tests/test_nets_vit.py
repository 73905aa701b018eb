"""The one ViT of medvit (MAE thorax classifier, MAE pre-training, Uni4Eye encoder): shapes,
masking, and loading timm / MAE-layout checkpoints."""

import pytest
import torch

from medvit.errors import MedvitError
from medvit.nets import MaskedAutoencoder, ViT, build_mae, build_vit, load_checkpoint
from medvit.nets.mae import patchify, random_masking, unpatchify
from medvit.nets.vit_checkpoints import medvit_to_timm

TINY = dict(in_channels=3, img_size=32, patch_size=16, hidden_size=48, num_layers=2, num_heads=3)


def test_build_vit_gives_logits_per_finding_and_the_paper_sizes():
    model = build_vit("vit_small_patch16", num_classes=14)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(21.67e6, rel=0.01)  # timm's vit_small: 21.7 M
    small = ViT(**TINY, num_classes=14)
    assert small(torch.rand(2, 3, 32, 32)).shape == (2, 14)
    with pytest.raises(ValueError, match="built for"):
        small(torch.rand(1, 3, 48, 48))
    with pytest.raises(ValueError, match="unknown ViT"):
        build_vit("vit_huge_patch99")


@pytest.mark.parametrize("shape", [(2, 3, 32, 48), (1, 2, 32, 32, 16)])
def test_patchify_round_trips_2d_and_3d(shape):
    images = torch.rand(shape)
    patches = patchify(images, 16)
    grid = [s // 16 for s in shape[2:]]
    assert patches.shape == (shape[0], int(torch.tensor(grid).prod()), 16 ** len(grid) * shape[1])
    first_pixel_of_second_patch = images[(0, slice(None), 0, 16) + (0,) * (len(grid) - 2)]
    assert torch.equal(patches[0, 1, :shape[1]], first_pixel_of_second_patch)  # channels last
    assert torch.equal(unpatchify(patches, 16, grid, shape[1]), images)


def test_random_masking_keeps_the_rest_and_marks_the_masked():
    tokens = torch.arange(2 * 10 * 4, dtype=torch.float32).reshape(2, 10, 4)
    kept, mask, ids_restore = random_masking(tokens, 0.7)
    assert kept.shape == (2, 3, 4) and mask.sum(dim=1).tolist() == [7, 7]
    for b in range(2):
        visible = tokens[b][mask[b] == 0]
        assert torch.equal(torch.sort(kept[b][:, 0]).values, torch.sort(visible[:, 0]).values)


def test_mae_loss_is_on_masked_patches_and_trains():
    torch.manual_seed(0)
    model = MaskedAutoencoder(ViT(**TINY, global_pool=False), decoder_hidden_size=32, decoder_num_layers=1,
                              decoder_num_heads=4, mask_ratio=0.75)
    images = torch.rand(4, 3, 32, 32)
    out = model(images)
    assert out["pred"].shape == (4, 4, 16 * 16 * 3) and out["mask"].sum() == 4 * 3
    assert not model.encoder.pos_embed.requires_grad  # fixed sin-cos in pre-training
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    first = None
    for _ in range(30):
        loss = model(images)["loss"]
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.5 * first


def test_mae_pretraining_checkpoint_fine_tunes_into_a_classifier(tmp_path):
    """A MAE file in timm / MAE names (decoder included, nested under "model") loads into the
    classifier: encoder taken, decoder and norm ignored, head and fc_norm new; the position
    embedding is interpolated for another input size."""
    torch.manual_seed(0)
    mae = MaskedAutoencoder(ViT(**TINY, global_pool=False), 32, 1, 4)
    torch.save({"model": medvit_to_timm(mae.state_dict()), "epoch": 799}, tmp_path / "mae.pth")
    names = torch.load(tmp_path / "mae.pth")["model"]
    assert "blocks.0.attn.proj.weight" in names and "decoder_pred.weight" in names and "mask_token" in names

    classifier = ViT(**TINY, num_classes=14)
    report = load_checkpoint(classifier, tmp_path / "mae.pth")
    assert sorted(report["initialised"]) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert "decoder.pred.weight" in report["ignored"] and "norm.weight" in report["ignored"]
    assert torch.equal(classifier.blocks[1].mlp.linear2.weight, mae.encoder.blocks[1].mlp.linear2.weight)

    bigger = ViT(**{**TINY, "img_size": 64}, num_classes=14)
    load_checkpoint(bigger, tmp_path / "mae.pth")
    assert bigger.pos_embed.shape == (1, 17, 48)
    assert torch.equal(bigger.pos_embed[:, 0], mae.encoder.pos_embed[:, 0])

    reloaded = MaskedAutoencoder(ViT(**TINY, global_pool=False), 32, 1, 4)
    assert load_checkpoint(reloaded, tmp_path / "mae.pth")["initialised"] == []
    images = torch.rand(1, 3, 32, 32)
    torch.manual_seed(1)
    expected = mae(images)["loss"]
    torch.manual_seed(1)
    assert torch.equal(reloaded(images)["loss"], expected)


def test_checkpoints_that_do_not_fit_name_the_file_and_parameter(tmp_path):
    torch.save({"model": {"weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(MedvitError, match=r"other\.pth: .*not in the checkpoint"):
        load_checkpoint(ViT(**TINY), tmp_path / "other.pth")
    wider = medvit_to_timm(ViT(**{**TINY, "hidden_size": 96}).state_dict())
    torch.save(wider, tmp_path / "wider.pth")
    with pytest.raises(MedvitError, match=r"wider\.pth: .* has shape"):
        load_checkpoint(ViT(**TINY), tmp_path / "wider.pth")


def test_build_mae_uses_the_papers_decoders():
    mae = build_mae("vit_small_patch16")
    assert mae.mask_ratio == 0.9
    assert len(mae.decoder.blocks) == 2 and mae.decoder.embed.out_features == 512
    assert len(build_mae("vit_base_patch16").decoder.blocks) == 8


def test_layer_decay_gives_deeper_blocks_more_lr_and_spares_norms_from_decay():
    from medvit.nets import layer_decay_param_groups

    model = ViT(**TINY, num_classes=14)
    groups = layer_decay_param_groups(model, lr=1e-3, weight_decay=0.05, layer_decay=0.5)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert lr_of[id(model.head.weight)] == 1e-3
    assert lr_of[id(model.blocks[1].attn.qkv.weight)] == 1e-3 * 0.5  # last of 2 blocks
    assert lr_of[id(model.blocks[0].attn.qkv.weight)] == 1e-3 * 0.25
    assert lr_of[id(model.patch_embed.proj.weight)] == lr_of[id(model.cls_token)] == 1e-3 * 0.125
    assert decay_of[id(model.blocks[0].norm1.weight)] == 0 and decay_of[id(model.pos_embed)] == 0
    assert decay_of[id(model.blocks[0].mlp.linear1.weight)] == 0.05
