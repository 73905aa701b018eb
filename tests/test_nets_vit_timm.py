"""medvit's ViT equals timm's ``VisionTransformer`` for the same weights (logits within 1e-5).

timm needs torchvision, which is not in medvit's install; this runs where timm is installed
(the benchmark environment: ``benchmarks/vit.py`` says how) and is skipped elsewhere.
"""

import pytest
import torch

timm_vit = pytest.importorskip("timm.models.vision_transformer", reason="timm is not installed (bench env only)")


@pytest.mark.parametrize("name, width, heads", [("vit_small_patch16", 384, 6), ("vit_base_patch16", 768, 12)])
def test_logits_equal_timm_for_a_timm_checkpoint(tmp_path, name, width, heads):
    from medvit.nets import build_vit, load_checkpoint

    torch.manual_seed(0)
    reference = timm_vit.VisionTransformer(embed_dim=width, depth=12, num_heads=heads, global_pool="avg",
                                           num_classes=14).eval()
    torch.save({"model": reference.state_dict()}, tmp_path / "checkpoint.pth")
    model = build_vit(name, num_classes=14).eval()
    report = load_checkpoint(model, tmp_path / "checkpoint.pth")
    assert report == {"initialised": [], "ignored": []}
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        difference = (model(images) - reference(images)).abs().max().item()
    assert difference <= 1e-5, difference
