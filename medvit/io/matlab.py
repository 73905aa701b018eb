"""MATLAB .mat files: v7.3 (HDF5) written and read with h5py, v5 with scipy.

Axis order: MATLAB stores arrays column-major, so h5py (row-major) sees every v7.3
variable with its axes reversed — MATLAB's ``(kx, ky, coil, z, t)`` reads as
``[t, z, coil, ky, kx]``. The functions here hand out and take arrays in that reversed
("h5py") order whatever the file version, unless ``matlab_order=True``.

What makes a v7.3 file MATLAB's: a 512-byte user block opening with the text header
("MATLAB 7.3 MAT-file ...") and the version / endian bytes ``0x0200 'IM'`` at offset 124,
a ``MATLAB_class`` attribute on every variable ("single", "double", "logical" with
``MATLAB_int_decode`` = 1, integer classes), complex values as a compound of ``real`` and
``imag``, and at least two dimensions. :func:`write_mat_v73` writes all of that (the layout
hdf5storage and MATLAB itself write), and scipy recognises the result as version 7.3; it
was not opened in MATLAB on the machines that test medvit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError, VariableReadError, first_line
from medvit.io.atomic import atomic_path
from medvit.io.hdf5 import complex_fields, dataset, open_hdf5, read_complex

USERBLOCK_SIZE = 512
MATLAB_CLASSES = {
    "float64": "double", "float32": "single", "complex128": "double", "complex64": "single", "bool": "logical",
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16",
    "int32": "int32", "uint32": "uint32", "int64": "int64", "uint64": "uint64",
}


def _header() -> bytes:
    """The 128-byte MAT-file header at the start of the user block."""
    text = (f"MATLAB 7.3 MAT-file, Platform: {sys.platform}-Python (medvit), "
            f"Created on: {time.strftime('%a %b %d %H:%M:%S %Y')} HDF5 schema 1.00 .")
    # text padded to 116 bytes, 8 bytes of subsystem offset, version 0x0200, endian 'IM'
    return text.encode("ascii")[:116].ljust(116, b" ") + bytes(8) + b"\x00\x02IM"


def _matlab_array(array: np.ndarray) -> tuple[np.ndarray, dict]:
    """The stored form of one variable and its MATLAB attributes."""
    matlab_class = MATLAB_CLASSES.get(array.dtype.name)
    if matlab_class is None:
        raise ValueError(f"MATLAB has no class for dtype {array.dtype}")
    if array.ndim < 2:  # MATLAB has no 0-D or 1-D arrays: a vector is a column
        array = array.reshape(1, -1)
    attrs = {"MATLAB_class": np.bytes_(matlab_class)}
    if array.dtype.kind == "c":
        part = array.real.dtype
        stored = np.empty(array.shape, [("real", part), ("imag", part)])
        stored["real"], stored["imag"] = array.real, array.imag
        return stored, attrs
    if array.dtype == bool:
        attrs["MATLAB_int_decode"] = np.int32(1)
        return array.astype(np.uint8), attrs
    return array, attrs


def write_mat_v73(path: str | os.PathLike, variables: Mapping[str, np.ndarray]) -> Path:
    """Write arrays as a MATLAB v7.3 .mat file, atomically.

    Args:
        path: the .mat file to write.
        variables: name → array in h5py order (MATLAB's axes reversed). Arrays of 4 or more
            axes are chunked one ``[i, j, ...]`` sub-array per chunk, so a (frame, slice) of
            k-space reads back with one chunk read.

    Returns:
        the path written.
    """
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_SIZE) as file:
            for name, array in variables.items():
                stored, attrs = _matlab_array(np.asarray(array))
                chunks = (1, 1, *stored.shape[2:]) if stored.ndim >= 4 else None
                ds = file.create_dataset(name, data=stored, chunks=chunks)
                for key, value in attrs.items():
                    ds.attrs[key] = value
        with open(tmp, "r+b") as fh:  # the user block is ours to fill once HDF5 has closed the file
            fh.write(_header())
    return Path(path)


def write_mat_v5(path: str | os.PathLike, variables: Mapping[str, np.ndarray]) -> Path:
    """Write arrays in MATLAB order as a v5 .mat file (scipy's ``savemat``), atomically."""
    from scipy.io import savemat

    with atomic_path(path) as tmp:
        savemat(tmp, dict(variables))
    return Path(path)


def is_mat_v73(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5-based (v7.3) MAT-file rather than v5."""
    import h5py

    return Path(path).is_file() and h5py.is_hdf5(path)


def mat_variables(path: str | os.PathLike) -> list[str]:
    """The variable names of a .mat file (v7.3 or v5), sorted."""
    if is_mat_v73(path):
        import h5py

        with open_hdf5(path) as file:
            return sorted(k for k, v in file.items() if isinstance(v, h5py.Dataset) and not k.startswith("#"))
    from scipy.io import whosmat
    from scipy.io.matlab import MatReadError

    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise ImageReadError(path, "is an empty file, not a MATLAB file")
    try:
        return sorted(entry[0] for entry in whosmat(path))
    except (MatReadError, ValueError, OSError, TypeError, IndexError) as err:  # scipy: IndexError on short files
        raise ImageReadError(path, f"not a readable MATLAB file ({first_line(err)})") from None


def _decode(ds) -> np.ndarray:
    if complex_fields(ds) is not None:
        return read_complex(ds)
    try:
        array = ds[()]
    except OSError as err:
        raise VariableReadError(ds.file.filename, ds.name.lstrip("/"), f"cannot be read ({first_line(err)})") from None
    if ds.attrs.get("MATLAB_class", b"") in (b"logical", "logical"):
        array = array.astype(bool)
    return np.asarray(array)


def read_mat_variable(path: str | os.PathLike, name: str, matlab_order: bool = False) -> np.ndarray:
    """One whole variable of a .mat file (v7.3 or v5), for small ones (masks, ranking images).

    Args:
        path: the .mat file.
        name: the variable.
        matlab_order: return MATLAB's axis order instead of h5py's (reversed).

    Raises:
        ImageReadError: missing, empty, truncated or non-MAT file.
        VariableReadError: no such variable (the message lists those there are).
    """
    path = Path(path)
    if is_mat_v73(path):
        with open_hdf5(path) as file:
            array = _decode(dataset(file, name))
        return array.T if matlab_order else array
    from scipy.io import loadmat

    if not path.is_file():
        raise ImageReadError(path, "no such file")
    names = mat_variables(path)
    if name not in names:
        raise VariableReadError(path, name, f"is not in the file; it holds: {', '.join(names) or 'nothing'}")
    from scipy.io.matlab import MatReadError

    try:
        array = loadmat(path, variable_names=[name])[name]
    except (MatReadError, ValueError, OSError, TypeError, IndexError) as err:  # scipy: IndexError on short files
        raise ImageReadError(path, f"not a readable MATLAB file ({first_line(err)})") from None
    return array if matlab_order else array.T
