"""k-space files: CMRxRecon MATLAB v7.3 (and v5 masks / submissions) and fastMRI .h5."""

import tracemalloc

import h5py
import numpy as np
import pytest
import scipy.io

from medvit.errors import ImageReadError, VariableReadError
from medvit.cmrxrecon import CMRxKSpace, read_cmrx_mask, read_submission, write_submission
from medvit.io import (
    FastMRIKSpace,
    read_mat_variable,
    write_fastmri_h5,
    write_mat_v73,
)
from medvit.cmrxrecon.layout import acceleration_folder, folder_acceleration, kspace_variable, line_mask, mask_path
from medvit.recon import cmrx_mask
from tests.kspace_data import random_complex


def _mask_2d(num_ky=40, num_kx=12, acceleration=4):
    return np.repeat(cmrx_mask(num_ky, acceleration, acs_lines=8)[:, None], num_kx, axis=1)


@pytest.fixture
def cine(tmp_path):
    """A small multi-coil file [t=3, z=2, coil=4, ky=40, kx=12] with kspace_full and kspace_sub04."""
    full = random_complex((3, 2, 4, 40, 12))
    mask = _mask_2d()
    path = write_mat_v73(tmp_path / "cine_sax.mat", {"kspace_full": full, "kspace_sub04": full * mask})
    write_mat_v73(mask_path(path), {"mask04": mask})
    return path, full, mask


def test_v73_file_is_matlab_shaped(cine):
    path, full, mask = cine
    raw = path.read_bytes()
    assert raw.startswith(b"MATLAB 7.3 MAT-file") and raw[124:128] == b"\x00\x02IM"
    assert scipy.io.matlab.matfile_version(str(path)) == (2, 0)  # scipy sees v7.3
    with pytest.raises(NotImplementedError):  # ...and sends readers to an HDF5 reader
        scipy.io.loadmat(path)
    with h5py.File(path, "r") as file:
        ds = file["kspace_full"]
        assert ds.dtype.names == ("real", "imag") and ds.dtype["real"] == np.float32
        assert ds.attrs["MATLAB_class"] == b"single"
        assert ds.chunks == (1, 1, 4, 40, 12)  # one (frame, slice) per chunk
    with h5py.File(mask_path(path), "r") as file:
        assert file["mask04"].dtype == np.uint8 and file["mask04"].attrs["MATLAB_class"] == b"logical"
        assert file["mask04"].attrs["MATLAB_int_decode"] == 1
    assert not list(path.parent.glob(".*tmp*"))  # written through a temporary file, renamed


def test_cmrx_kspace_reads_one_slice_at_a_time(cine):
    path, full, mask = cine
    with CMRxKSpace(path, "kspace_full") as kspace:
        assert kspace.shape == (3, 2, 4, 40, 12) and not kspace.single_coil
        assert kspace.acceleration is None and kspace.read_line_mask().all()
        assert (kspace.num_frames, kspace.num_slices, kspace.num_coils) == (3, 2, 4)
        np.testing.assert_array_equal(kspace.read_slice(2, 1), full[2, 1])
        assert [index for index, _ in kspace.slices()] == [(t, z) for t in range(3) for z in range(2)]
        with pytest.raises(IndexError):
            kspace.read_slice(3, 0)
    with CMRxKSpace(path, "kspace_sub04") as sub:
        assert sub.acceleration == 4
        lines = sub.check_mask(read_cmrx_mask(mask_path(path), 4), mask_path(path), "mask04")
        np.testing.assert_array_equal(lines, mask[:, 0])
        np.testing.assert_array_equal(sub.read_line_mask(), lines)  # from cine_sax_mask.mat beside it
        np.testing.assert_array_equal(sub.read_slice(0, 0)[:, ~lines], 0)


def test_streaming_holds_one_slice_not_the_file(tmp_path):
    full = random_complex((8, 4, 4, 64, 64))  # 16 MiB of k-space; one slice is 128 KiB
    path = write_mat_v73(tmp_path / "big.mat", {"kspace_full": full})
    with CMRxKSpace(path) as kspace:
        tracemalloc.start()
        coils = kspace.read_slice(5, 3)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    np.testing.assert_array_equal(coils, full[5, 3])
    assert peak < 1 << 20, f"reading one slice allocated {peak / 2**20:.1f} MiB"


def test_single_coil_variable_has_one_coil(tmp_path):
    single = random_complex((2, 3, 40, 12))
    path = write_mat_v73(tmp_path / "T1map.mat", {"kspace_single_full": single})
    with CMRxKSpace(path) as kspace:  # the file's only k-space variable
        assert kspace.variable == "kspace_single_full" and kspace.single_coil
        assert kspace.shape == (2, 3, 1, 40, 12)
        np.testing.assert_array_equal(kspace.read_slice(1, 2), single[1, 2][None])


def test_bad_cmrx_files_name_file_and_variable(tmp_path, cine):
    path, full, mask = cine
    with pytest.raises(VariableReadError, match=r"cine_sax.mat: variable 'kspace_sub08' is not in the file; it holds: kspace_full, kspace_sub04"):
        CMRxKSpace(path, "kspace_sub08")
    with pytest.raises(VariableReadError, match="ambiguous: the file holds kspace_full, kspace_sub04"):
        CMRxKSpace(path)
    real = write_mat_v73(tmp_path / "real.mat", {"kspace_sub04": np.abs(full)})
    with pytest.raises(VariableReadError, match=r"real.mat: variable 'kspace_sub04' is not complex \(stored as float32\)"):
        CMRxKSpace(real)
    flat = write_mat_v73(tmp_path / "flat.mat", {"kspace_full": full[0]})
    with pytest.raises(VariableReadError, match=r"'kspace_full' has 4 axes .* expected 5, \[t, z, coil, ky, kx\]"):
        CMRxKSpace(flat)
    truncated = tmp_path / "truncated.mat"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=r"truncated.mat: truncated HDF5 file"):
        CMRxKSpace(truncated)
    v5 = tmp_path / "v5.mat"
    scipy.io.savemat(v5, {"kspace_full": full[0, 0]})
    with pytest.raises(ImageReadError, match="not an HDF5 file"):
        CMRxKSpace(v5)
    with pytest.raises(ImageReadError, match="no such file"):
        CMRxKSpace(tmp_path / "missing.mat")


def test_masks_that_do_not_fit_the_kspace(tmp_path, cine):
    path, full, mask = cine
    with CMRxKSpace(path, "kspace_sub04") as kspace:
        with pytest.raises(VariableReadError, match=r"'mask04' has shape \(12, 40\) \(its axes are swapped\) but cine_sax.mat:kspace_sub04 has \(ky, kx\) = \(40, 12\)"):
            kspace.check_mask(mask.T, "m.mat", "mask04")
        other = _mask_2d(acceleration=8)
        with pytest.raises(VariableReadError, match="samples on ky lines that mask08 leaves out"):
            kspace.check_mask(other, "m.mat", "mask08")
    ragged = mask.copy()
    ragged[0, 3] = ~ragged[0, 3]
    with pytest.raises(VariableReadError, match="varies along kx"):
        line_mask(ragged, "m.mat", "mask04")
    with pytest.raises(VariableReadError, match="not binary"):
        line_mask(mask * 2, "m.mat", "mask04")


def test_masks_read_alike_from_v73_and_v5(tmp_path, cine):
    path, full, mask = cine
    np.testing.assert_array_equal(read_cmrx_mask(mask_path(path), 4), mask)
    v5 = tmp_path / "v5_mask.mat"
    scipy.io.savemat(v5, {"mask04": mask.T.astype(float)})  # MATLAB order (kx, ky), as MATLAB saves it
    np.testing.assert_array_equal(read_cmrx_mask(v5, 4), mask)
    with pytest.raises(VariableReadError, match="variable 'mask08' is not in the file; it holds: mask04"):
        read_cmrx_mask(v5, 8)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ImageReadError, match="not a readable MATLAB file"):
        read_mat_variable(tmp_path / "junk.mat", "mask04")


def test_submission_is_what_the_challenge_loads(tmp_path):
    images = np.random.default_rng(0).uniform(size=(171, 123, 2, 3))
    path = write_submission(tmp_path / "P001" / "cine_sax.mat", images)
    loaded = scipy.io.loadmat(path)["img4ranking"]  # the challenge's loadmat
    assert loaded.dtype == np.float32 and loaded.shape == (171, 123, 2, 3)
    np.testing.assert_allclose(loaded, images, rtol=1e-6)
    np.testing.assert_array_equal(read_submission(path), loaded)
    with h5py.File(tmp_path / "v73.mat", "w") as file:  # a v7.3 submission, as MATLAB's -v7.3 would hold it
        file["img4ranking"] = loaded.T
    np.testing.assert_array_equal(read_submission(tmp_path / "v73.mat"), loaded)
    with pytest.raises(ValueError, match="real images"):
        write_submission(tmp_path / "bad.mat", images[..., 0])


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.mat"
    write_mat_v73(target, {"x": np.ones((2, 2))})
    before = target.read_bytes()
    with pytest.raises(ValueError, match="MATLAB has no class"):
        write_mat_v73(target, {"x": np.ones((2, 2)), "y": np.array(["text"], dtype=object)})
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.mat"]


def test_layout_names():
    assert [acceleration_folder(a) for a in (None, 4, 10)] == ["FullSample", "AccFactor04", "AccFactor10"]
    assert folder_acceleration("AccFactor08") == 8 and folder_acceleration("FullSample") is None
    assert kspace_variable(8) == "kspace_sub08" and kspace_variable(None, single_coil=True) == "kspace_single_full"
    with pytest.raises(ValueError, match="not a CMRxRecon acceleration folder"):
        folder_acceleration("P001")


def test_fastmri_h5_round_trip_and_errors(tmp_path):
    kspace = random_complex((3, 4, 16, 10))
    mask = np.zeros(10, bool)
    mask[[0, 4, 5, 6]] = True
    rss = np.ones((3, 8, 8), np.float32)
    path = write_fastmri_h5(tmp_path / "file1.h5", kspace * mask, mask, {"reconstruction_rss": rss}, {"acquisition": "AXT2"})
    with h5py.File(path, "r") as file:
        assert file["kspace"].dtype == np.complex64  # h5py's native complex, as fastMRI's files
    with FastMRIKSpace(path) as data:
        assert data.shape == (3, 4, 16, 10) and data.num_slices == 3 and not data.single_coil
        np.testing.assert_array_equal(data.mask, mask)
        np.testing.assert_array_equal(data.read_slice(1), kspace[1] * mask)
        np.testing.assert_array_equal(data.read_target(2), rss[2])
        assert data.read_target(0, "reconstruction_esc") is None and data.attrs["acquisition"] == "AXT2"
    single = write_fastmri_h5(tmp_path / "single.h5", kspace[:, 0])
    with FastMRIKSpace(single) as data:
        assert data.single_coil and data.shape == (3, 1, 16, 10) and data.mask is None
    bad_mask = write_fastmri_h5(tmp_path / "bad_mask.h5", kspace, np.ones(16, bool))
    with pytest.raises(VariableReadError, match=r"bad_mask.h5: variable 'mask' has 16 entries but kspace has W = 10"):
        FastMRIKSpace(bad_mask)
    with h5py.File(tmp_path / "real.h5", "w") as file:
        file["kspace"] = np.abs(kspace)
    with pytest.raises(VariableReadError, match="'kspace' is not complex"):
        FastMRIKSpace(tmp_path / "real.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as file:
        file["image"] = rss
    with pytest.raises(VariableReadError, match="'kspace' is not in the file; it holds: image"):
        FastMRIKSpace(tmp_path / "empty.h5")
