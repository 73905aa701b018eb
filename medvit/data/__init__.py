"""Sample data that several methods share: real files shipped by installed packages.

Each method's synthetic cases live with the method (``medvit.brats.synthetic``,
``medvit.cmrxrecon.phantoms``, ``medvit.thorax.phantoms``, ``medvit.uni4eye.phantoms``);
:mod:`medvit.data.synthetic_dicom` writes DICOM series of any volume.
"""

from medvit.data.samples import PYDICOM_SAMPLES, fundus_photo, mni152, pydicom_dir, pydicom_sample

__all__ = ["PYDICOM_SAMPLES", "fundus_photo", "mni152", "pydicom_dir", "pydicom_sample"]
