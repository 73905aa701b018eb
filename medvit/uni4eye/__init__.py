"""Uni4Eye (Cai et al., MICCAI 2022): data and training pieces (``bundles/uni4eye_ophthalmic_mim``).

- :mod:`medvit.uni4eye.items`: the mixed 2D / 3D dataset description (a JSON list), the
  loading transform (grey, intensity, size; wrong depth resized or refused), and the batch
  sampler that interleaves 2D and 3D batches.
- :mod:`medvit.uni4eye.training`: the masked-image-modelling iteration for MONAI's
  ``SupervisedTrainer``, its loss log, and loading a pre-trained encoder for fine-tuning.
- :mod:`medvit.uni4eye.transforms`: the preprocessing as dictionary transforms (the bundle's
  ``preprocessing``; training loads items through the same list).
- :mod:`medvit.uni4eye.classify`: what the bundle's ``inference.json`` reads (inputs, columns)
  and the Python entry points over the bundle's configs.
- :mod:`medvit.uni4eye.evaluation`: AUC, accuracy and kappa over the labelled items (``evaluate.json``).
- :mod:`medvit.uni4eye.figures`: input, masked input, reconstruction, gradient map and its
  reconstruction side by side (the demo and the notebook).
- :mod:`medvit.uni4eye.phantoms`: fundus-like photos, OCT-like B-scans and volumes.

The network itself (:class:`medvit.nets.Uni4Eye`, :class:`medvit.nets.UnifiedViT`) shares the ViT of :mod:`medvit.nets`.
"""

from medvit._lazy import lazy_exports

_LAZY = {
    "fundus_like": "medvit.uni4eye.phantoms",
    "oct_volume": "medvit.uni4eye.phantoms",
    "write_ophthalmic_dataset": "medvit.uni4eye.phantoms",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
