"""Every damaged or tricky input gives one clear line naming the file and the problem, never a
library's bare exception or a silent misreading (issue 17, items 9-10)."""

import struct
import zlib

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import run_cli

CT = get_testdata_file("CT_small.dcm")


def _nifti(path, array, affine=np.eye(4)):
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def _patched(path, edits):
    data = bytearray(path.read_bytes())
    for offset, value in edits:
        data[offset:offset + len(value)] = value
    path.write_bytes(bytes(data))
    return path


def _png_declaring(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))
    return path


def _dicom(path, **changes):
    ds = pydicom.dcmread(CT)
    for keyword, value in changes.items():
        if keyword == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = value
        else:
            setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=False)
    return path


def _cut(path, size):
    path.write_bytes(open(CT, "rb").read()[:size])
    return path


def _big_endian_claim(path):
    raw = open(CT, "rb").read()
    little = b"1.2.840.10008.1.2.1"
    path.write_bytes(raw.replace(little, b"1.2.840.10008.1.2.2", 1))
    return path


def _hdf5(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=np.zeros((2, 4, 8, 8), np.complex64))
    return path


CASES = {
    "bad_ts.dcm": (lambda p: _dicom(p, TransferSyntaxUID="1.2.3.4"), "Transfer Syntax UID 1.2.3.4 is not a transfer syntax"),
    "cut300.dcm": (lambda p: _cut(p, 300), "CT Image Storage object but no pixel data could be read: the file is cut short"),
    "cut_in_pixels.dcm": (lambda p: _cut(p, 20000), "cut short|PixelData holds|cannot decode"),
    "big_endian.dcm": (_big_endian_claim, "cut short or damaged .*Big Endian"),
    "bits8.dcm": (lambda p: _dicom(p, BitsAllocated=8, BitsStored=8, HighBit=7), "PixelData holds 32,768 bytes .* BitsAllocated 8"),
    "slope0.dcm": (lambda p: _dicom(p, RescaleSlope=0), "RescaleSlope is 0"),
    "zero_axis.nii": (lambda p: _nifti(p, np.zeros((8, 0, 8), np.float32)), r"zero-size axis \(shape \(8, 0, 8\)\)"),
    "zero_axis_first.nii": (lambda p: _nifti(p, np.zeros((0, 8, 8), np.float32)), "zero-size axis"),
    "singular.nii": (lambda p: _patched(_nifti(p, np.zeros((8, 8, 8), np.float32)),
                                        [(252, struct.pack("<hh", 0, 1)), (312, struct.pack("<4f", 0, 0, 0, 0))]),
                     "affine .* is singular"),
    "huge_header.nii": (lambda p: _patched(_nifti(p, np.zeros((2, 2, 2), np.float32)),
                                           [(40, struct.pack("<8h", 3, 30000, 30000, 30000, 1, 1, 1, 1))]),
                        "declares 30000x30000x30000 float32 voxels .* the header is damaged or the file cut short"),
    "bomb.png": (lambda p: _png_declaring(p, 100000, 100000), "refused: Image size .* decompression bomb"),
    "kspace.h5": (_hdf5, "is an HDF5 / MATLAB file .* not an image"),
    "empty.mat": (lambda p: p.write_bytes(b"") or p, "is an empty file"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_info_gives_one_line_naming_the_file_and_the_problem(tmp_path, name):
    make, message = CASES[name]
    path = make(tmp_path / name)
    result = run_cli("info", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"medvit info: error: {path}: ")
    assert pytest.importorskip("re").search(message, lines[0]), lines[0]


def test_pixel_spacing_zero_is_not_taken_as_a_size(tmp_path):
    path = _dicom(tmp_path / "spacing0.dcm", PixelSpacing=[0, 0])
    result = run_cli("info", str(path))
    assert result.returncode == 0 and '"spacing_source": "PixelSpacing [0.0, 0.0] is not a pixel size; none"' in result.stdout
    assert '"spacing": [\n    1.0,\n    1.0' in result.stdout


def test_a_complex_nifti_is_described_and_refused_by_the_bundles(tmp_path):
    from monai.transforms import Compose, LoadImaged

    import medvit.io.monai_reader  # noqa: F401
    from medvit.batch.worker import error_message

    path = _nifti(tmp_path / "complex.nii", np.ones((8, 8, 8), np.complex64))
    result = run_cli("info", str(path))
    assert result.returncode == 0 and '"dtype": "complex64"' in result.stdout
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the message is what counts
        Compose([LoadImaged(keys="image", reader="medvit.io.MedvitReader")])({"image": str(path)})
    assert error_message(raised.value) == f"{path}: has complex values (complex64): the bundles take real-valued images (save the magnitude)"


def test_good_and_bad_paths_together_describe_the_good_and_name_the_bad(tmp_path):
    good = _nifti(tmp_path / "good.nii", np.ones((4, 4, 4), np.float32))
    bad = tmp_path / "bad.mat"
    bad.write_text("hello")
    result = run_cli("info", str(good), str(bad))
    assert result.returncode == 1 and '"path": "' + str(good) in result.stdout
    assert result.stderr.strip() == f"medvit info: error: {bad}: not a supported image (NIfTI, DICOM file or series folder, PNG/JPEG/TIFF)"


@pytest.mark.parametrize("content", [b"", b"hello, not a MAT file"])
def test_a_mat_file_that_is_not_one_is_a_clear_error(tmp_path, content):
    from medvit.errors import ImageReadError
    from medvit.io import read_mat_variable

    path = tmp_path / "kspace.mat"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=r"kspace\.mat: (is an empty file|not a readable MATLAB file)"):
        read_mat_variable(path, "kspace_sub04")
