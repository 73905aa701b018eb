"""Paths to real sample images that installed packages already ship (no downloads).

- the fundus photograph of scikit-image (``skimage.data.retina``, 1411×1411 RGB);
- pydicom's test files: small CT/MR/CR studies under ``dicomdirtests/`` and single files;
- the MNI152 2009a T1 template with grey / white matter maps, shipped in nilearn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from medvit.errors import MedvitError

# Named pydicom samples: what each shows about reading hospital DICOM.
PYDICOM_SAMPLES = {
    "ct_volume": "dicomdirtests/98892001/CT5N",  # one CT series, 5 slices 2.5 mm apart, files out of order
    "ct_gap": "dicomdirtests/77654033/CT2",  # one CT series with ~160 slices missing
    "mr_several_series": "dicomdirtests/98892003/MR1",  # three localizer series in one folder
    "mr_mixed_orientations": "dicomdirtests/98892003/MR700",  # projections: 7 orientations, one series
    "ct_scout_orientations": "dicomdirtests/98892001/CT2N",  # two scouts, orthogonal, one series
    "study_several_series": "dicomdirtests/77654033",  # a study folder: 3 CR + 1 CT series
    "no_pixel_files": "dicomdirtests/TINY_ALPHA",  # a DICOMDIR file-set whose files hold no pixels
    "cr_monochrome1": "dicomdirtests/77654033/CR1/6154",  # computed radiograph, MONOCHROME1
    "ct_slice": "CT_small.dcm",  # one CT slice with rescale slope/intercept
    "mr_slice": "MR_small.dcm",
    "mr_slice_jpeg2000": "MR_small_jp2klossless.dcm",  # the same slice, JPEG 2000 compressed
    "rgb_jpeg": "SC_rgb_jpeg_dcmtk.dcm",  # secondary capture, YBR JPEG
    "palette_colour": "examples_palette.dcm",
    "truncated": "MR_truncated.dcm",  # pixel data cut short
    "not_an_image": "rtplan.dcm",  # an RT plan: DICOM without pixels
}

MNI152 = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def _package_dir(package: str, extra: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise MedvitError(f"sample data needs the '{package}' package: pip install 'medvit[{extra}]'")
    return Path(spec.origin).parent


def _existing(path: Path) -> Path:
    if not path.exists():
        raise MedvitError(f"sample file missing from the installed package: {path}")
    return path


def fundus_photo() -> Path:
    """scikit-image's fundus photograph (retina.jpg, 1411×1411 RGB JPEG)."""
    return _existing(_package_dir("skimage", "samples") / "data" / "retina.jpg")


def pydicom_dir() -> Path:
    """The folder of pydicom's bundled test files."""
    return _existing(_package_dir("pydicom", "samples") / "data" / "test_files")


def pydicom_sample(name: str) -> Path:
    """One of :data:`PYDICOM_SAMPLES` by name (a file or a folder)."""
    if name not in PYDICOM_SAMPLES:
        raise MedvitError(f"unknown pydicom sample '{name}'; known: {', '.join(PYDICOM_SAMPLES)}")
    return _existing(pydicom_dir() / PYDICOM_SAMPLES[name])


def mni152(kind: str = "t1") -> Path:
    """The MNI152 2009a symmetric template (197×233×189, 1 mm, RAS) shipped in nilearn.

    Args:
        kind: "t1" (brain-extracted T1), "gm" or "wm" (tissue probability maps, 0-255).
    """
    if kind not in MNI152:
        raise MedvitError(f"unknown MNI152 image '{kind}'; known: {', '.join(MNI152)}")
    return _existing(_package_dir("nilearn", "samples") / "datasets" / "data" / MNI152[kind])
