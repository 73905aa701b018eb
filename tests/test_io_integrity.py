"""Damaged compressed files and non-finite values are errors that name the file (issue 17, items 2-3)."""

import gzip
import zlib

import nibabel as nib
import numpy as np
import pytest

from medvit.errors import ImageReadError
from medvit.io import read_image
from tests.conftest import run_cli


def _volume(seed=0):
    return np.random.default_rng(seed).normal(size=(16, 16, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def good_gz(tmp_path_factory):
    path = tmp_path_factory.mktemp("nifti") / "good.nii.gz"
    nib.save(nib.Nifti1Image(_volume(), np.eye(4)), path)
    return path


def _payload_flip_that_still_inflates(raw: bytes) -> bytes:
    """A copy with one byte of the deflate stream changed such that it still decompresses
    (to wrong voxels): only the CRC can tell."""
    header = 10  # nibabel writes no optional gzip header fields
    for offset in range(len(raw) // 2, len(raw) - 8):
        damaged = bytearray(raw)
        damaged[offset] ^= 0x01
        try:
            out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(bytes(damaged[header:-8]))
        except zlib.error:
            continue
        if len(out) == len(gzip.decompress(raw)):
            return bytes(damaged)
    raise AssertionError("no silent corruption found")


@pytest.mark.parametrize("damage", ["payload", "crc", "length", "truncated", "no trailer", "not gzip"])
def test_a_damaged_nii_gz_is_one_clear_error(good_gz, tmp_path, damage):
    raw = good_gz.read_bytes()
    damaged = {
        "payload": lambda: _payload_flip_that_still_inflates(raw),
        "crc": lambda: raw[:-8] + bytes([raw[-8] ^ 0xFF]) + raw[-7:],
        "length": lambda: raw[:-4] + bytes([raw[-4] ^ 0x01]) + raw[-3:],
        "truncated": lambda: raw[: len(raw) * 2 // 3],
        "no trailer": lambda: raw[:-8],
        "not gzip": lambda: gzip.decompress(raw),  # a plain .nii misnamed .nii.gz
    }[damage]()
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(damaged)
    with pytest.raises(ImageReadError, match=r"scan\.nii\.gz: .*gzip stream is damaged"):
        read_image(path)
    result = run_cli("info", str(path))
    assert result.returncode == 1 and "scan.nii.gz" in result.stderr and "Traceback" not in result.stderr


def test_an_intact_nii_gz_reads_as_written(good_gz):
    array, _ = read_image(good_gz)
    np.testing.assert_array_equal(array, _volume())


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_reported_by_info_and_refused_by_the_bundles_reader(tmp_path, value):
    from monai.transforms import Compose, LoadImaged

    import medvit.io.monai_reader  # noqa: F401

    volume = _volume()
    volume[3, 4, 5] = value
    path = tmp_path / "nan.nii"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    result = run_cli("info", str(path))
    assert result.returncode == 0 and '"non_finite_values": 1' in result.stdout
    assert "1 of 4096 values are NaN or infinite" in result.stdout
    with pytest.raises(Exception) as raised:  # noqa: PT011 - in a Compose MONAI wraps it: the message is what counts
        Compose([LoadImaged(keys="image", reader="medvit.io.MedvitReader")])({"image": str(path)})
    from medvit.batch.worker import error_message

    assert error_message(raised.value) == f"{path}: 1 of 4096 values are NaN or infinite"
