"""Sample data: real files shipped by installed packages, and seeded synthetic cases."""

from medvit.data.brats import MODALITIES as BRATS_MODALITIES
from medvit.data.brats import brats_like_case, write_brats_case
from medvit.data.cmrxrecon import synthetic_images, synthetic_kspace, write_cmrx_tree
from medvit.data.ophthalmic import fundus_like, oct_volume, write_ophthalmic_dataset
from medvit.data.samples import PYDICOM_SAMPLES, fundus_photo, mni152, pydicom_dir, pydicom_sample

__all__ = [
    "BRATS_MODALITIES",
    "PYDICOM_SAMPLES",
    "brats_like_case",
    "fundus_like",
    "fundus_photo",
    "mni152",
    "oct_volume",
    "pydicom_dir",
    "pydicom_sample",
    "synthetic_images",
    "synthetic_kspace",
    "write_brats_case",
    "write_cmrx_tree",
    "write_ophthalmic_dataset",
]
