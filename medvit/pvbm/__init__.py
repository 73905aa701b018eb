"""Retinal vessel biomarkers (PVBM: Fhima, Behar et al.), as plain functions over numpy arrays.

Images and masks are (H, W) in scikit-image's (row, column) order; an optic disc is its
centre (x, y) = (column, row) and radius, in pixels. Modules:

- ``regions``: disc distance, measurement region, zone B.
- ``skeleton_graph``, ``geometry``: PVBM's geometric biomarkers (walk, segments, angles, perimeter).
- ``sparse_rotation``, ``fractal``: multifractal D0, D1, D2 and singularity length.
- ``central_retinal``: CRAE / CRVE (Knudtson, Hubbard).
- ``vessels``, ``optic_disc``, ``network``: classical and MONAI U-Net segmentation, disc detection.
- ``masks``: user-supplied vessel / artery-vein masks.
- ``pipeline``: one photo → one row; ``cohort``: a folder → one CSV (``medvit biomarkers``).
- ``segmentation_metrics``, ``evaluation``: Dice / clDice against reference masks.
- ``overlay``: a picture of what was measured.
"""
