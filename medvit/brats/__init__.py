"""Swin UNETR brain-tumour segmentation (Hatamizadeh et al., BraTS 2021): ``bundles/brats_swin_unetr_segmentation``.

- :mod:`~medvit.brats.network`: the MONAI < 1.5 patch merging the published BraTS 2021
  weights need (the network is MONAI's ``SwinUNETR``).
- :mod:`~medvit.brats.series`: which series of a case folder are T1, T1ce, T2 and FLAIR.
- :mod:`~medvit.brats.preprocessing`: the bundle's preprocessing steps MONAI lacks (a case folder
  → its series, loaded per DICOM series, checked, registered, brain-masked, QC'd).
- :mod:`~medvit.brats.transforms`: TC/WT/ET channels → BraTS label map, volumes, NIfTI / DICOM SEG
  (the bundle's postprocessing).
- :mod:`~medvit.brats.segment`: the bundle run from Python (cohort, one case, a case's volume).
- :mod:`~medvit.brats.labels`: the BraTS label codes of each region (defined once here).
- :mod:`~medvit.brats.qc`, :mod:`~medvit.brats.registration`, :mod:`~medvit.brats.evaluation`
  (Dice / HD95), :mod:`~medvit.brats.synthetic` (BraTS-like cases on MNI152 anatomy).
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "LegacyPatchMerging": "medvit.brats.network",
    "REGION_LABELS": "medvit.brats.labels",
    "BRATS_SERIES": "medvit.brats.series",
    "MODALITIES": "medvit.brats.synthetic",
    "brats_like_case": "medvit.brats.synthetic",
    "write_brats_case": "medvit.brats.synthetic",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
