"""MAE thorax disease classification (Xiao et al., WACV 2023): ``bundles/mae_thorax_classification``.

- :mod:`~medvit.thorax.transforms`: radiograph → display intensities → the network's input.
- :mod:`~medvit.thorax.classify`: the per-image outputs (probability row, saliency map).
- :mod:`~medvit.thorax.saliency`: Grad-CAM of a ViT.
- :mod:`~medvit.thorax.training`, :mod:`~medvit.thorax.augment`: the fine-tuning recipe.
- :mod:`~medvit.thorax.evaluation`: per-label ROC AUC; :mod:`~medvit.thorax.phantoms`: CXR-like phantoms.
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "CHESTXRAY14_LABELS": "medvit.thorax.phantoms",
    "cxr_phantom": "medvit.thorax.phantoms",
    "write_cxr_phantoms": "medvit.thorax.phantoms",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
