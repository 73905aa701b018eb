"""Segmentation pipelines of the bundles: a case in, label maps and a table row out."""
