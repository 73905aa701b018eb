"""Uni4Eye's data and training pieces (``bundles/uni4eye_ophthalmic_mim``).

- :mod:`medvit.ophthalmic.items`: the mixed 2D / 3D dataset description (a JSON list), the
  loading transform (grey, intensity, size; wrong depth resized or refused), and the batch
  sampler that interleaves 2D and 3D batches.
- :mod:`medvit.ophthalmic.training`: the masked-image-modelling iteration for MONAI's
  ``SupervisedTrainer``, its loss log, and loading a pre-trained encoder for fine-tuning.
- :mod:`medvit.ophthalmic.classify`: class probabilities per item (the cohort runner) and
  the evaluation (AUC, accuracy, kappa).
- :mod:`medvit.ophthalmic.figures`: input, masked input, reconstruction, gradient map and its
  reconstruction side by side (the demo and the notebook).
"""
