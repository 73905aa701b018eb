"""Retinal vessel biomarkers (PVBM: Fhima, Behar et al.), as plain functions over numpy arrays.

Images and masks are (H, W) in scikit-image's (row, column) order; an optic disc is its
centre (x, y) = (column, row) and radius, in pixels. Modules: ``regions`` (disc, ROI,
zone B), ``skeleton_graph`` and ``geometry`` (PVBM's geometric biomarkers).
"""
