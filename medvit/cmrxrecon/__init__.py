"""CMRxRecon k-space reconstruction with E2E-VarNet: ``bundles/cmrxrecon_varnet_reconstruction``.

- :mod:`~medvit.cmrxrecon.layout`: the challenge's ``.mat`` v7.3 files and folder tree.
- :mod:`~medvit.cmrxrecon.reconstruct`: the bundle's predictor, a k-space file → its images (VarNet or a baseline).
- :mod:`~medvit.cmrxrecon.transforms`: the bundle's dictionary transforms (open the file, crop, write the submission, row).
- :mod:`~medvit.cmrxrecon.scoring`: ranked slices / frames, PSNR / SSIM / NMSE as the challenge scores.
- :mod:`~medvit.cmrxrecon.evaluation`: ``medvit recon-score`` and the bundle's ``evaluate.json``.
- :mod:`~medvit.cmrxrecon.training`: training samples and the SSIM loss of ``train.json``.
- :mod:`~medvit.cmrxrecon.phantoms`: synthetic multi-coil k-space in the challenge's layout.

The k-space maths (FFTs, RSS, SENSE, sampling masks) is :mod:`medvit.recon`.
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "CMRxKSpace": "medvit.cmrxrecon.layout",
    "read_cmrx_mask": "medvit.cmrxrecon.layout",
    "write_submission": "medvit.cmrxrecon.layout",
    "read_submission": "medvit.cmrxrecon.layout",
    "matlab_round": "medvit.cmrxrecon.scoring",
    "ranking_volume": "medvit.cmrxrecon.scoring",
    "score_images": "medvit.cmrxrecon.scoring",
    "score_volume": "medvit.cmrxrecon.scoring",
    "synthetic_images": "medvit.cmrxrecon.phantoms",
    "synthetic_kspace": "medvit.cmrxrecon.phantoms",
    "write_cmrx_tree": "medvit.cmrxrecon.phantoms",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
