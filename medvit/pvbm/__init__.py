"""Retinal vessel biomarkers (PVBM: Fhima, Behar et al.), as plain functions over numpy arrays.

Images and masks are (H, W) in scikit-image's (row, column) order; an optic disc is its
centre (x, y) = (column, row) and radius, in pixels. Modules:

- ``regions``: disc distance, measurement region, zone B.
- ``skeleton_graph``, ``geometry``: PVBM's geometric biomarkers (walk, segments, angles, perimeter).
- ``sparse_rotation``, ``fractal``: multifractal D0, D1, D2 and singularity length.
- ``central_retinal``: CRAE / CRVE (Knudtson, Hubbard).
- ``photo``: the one path from a photo file or array to the checked [0, 1] photo.
- ``quality``: is it a fundus photograph? Measures of a photo and the verdict they give.
- ``vessels``, ``optic_disc``: classical segmentation and disc detection.
- ``network``: the vessel segmenters the bundle's ``network`` can be (MONAI U-Net, the
  classical one as a module) and the bundle's predictor.
- ``masks``: user-supplied vessel / artery-vein masks.
- ``pipeline``: masks and disc → one row; ``transforms``: the bundle's dictionary transforms;
  ``cohort``: a folder → one CSV (``medvit biomarkers``, the bundle's ``inference.json``).
- ``segmentation_metrics``, ``evaluation``: Dice / clDice against reference masks.
- ``overlay``: a picture of what was measured.
"""
