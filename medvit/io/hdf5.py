"""Opening HDF5 files (MATLAB v7.3 .mat, fastMRI .h5) with errors that name the file and variable.

Datasets are read a slice at a time (h5py slicing reads only what is asked for), and
complex values, which HDF5 has no type for, are decoded from their compound form:
fields ``real``/``imag`` (MATLAB) or ``r``/``i`` (h5py's own, fastMRI).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.errors import ImageReadError, VariableReadError, first_line

COMPLEX_FIELDS = (("real", "imag"), ("r", "i"))


def open_hdf5(path: str | os.PathLike, mode: str = "r"):
    """``h5py.File(path, mode)``; a missing, non-HDF5, truncated or damaged file raises ImageReadError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "is an empty file")
    if not h5py.is_hdf5(path):
        raise ImageReadError(path, "not an HDF5 file (MATLAB v7.3 .mat or fastMRI .h5)")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        problem = "truncated" if "truncated" in str(err) else "damaged"
        raise ImageReadError(path, f"{problem} HDF5 file ({first_line(err)})") from None


class OpenFile:
    """Base of readers holding an open h5py file in ``self._file``: ``close`` and ``with``."""

    _file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dataset(file, name: str):
    """The dataset ``name`` of an open file; a missing one raises VariableReadError listing what is there."""
    import h5py

    if name not in file or not isinstance(file[name], h5py.Dataset):
        present = sorted(key for key, item in file.items() if isinstance(item, h5py.Dataset) and not key.startswith("#"))
        raise VariableReadError(file.filename, name, f"is not in the file; it holds: {', '.join(present) or 'nothing'}")
    return file[name]


def complex_fields(ds) -> tuple[str, str] | None:
    """The (real, imaginary) field names of a compound complex dataset, or None."""
    names = ds.dtype.names or ()
    return next((fields for fields in COMPLEX_FIELDS if set(fields) <= set(names)), None)


def read_complex(ds, index=()) -> np.ndarray:
    """``ds[index]`` as complex64, from MATLAB's or h5py's compound complex.

    Raises:
        VariableReadError: the dataset is not complex, or its stored data cannot be read
            (a file cut short after its header).
    """
    fields = complex_fields(ds)
    if fields is None and ds.dtype.kind != "c":
        raise VariableReadError(
            ds.file.filename, ds.name.lstrip("/"),
            f"is not complex (stored as {ds.dtype}); k-space must be a compound of 'real' and 'imag'",
        )
    try:
        raw = ds[index]
    except OSError as err:
        raise VariableReadError(ds.file.filename, ds.name.lstrip("/"), f"cannot be read ({first_line(err)})") from None
    if fields is None:
        return raw.astype(np.complex64, copy=False)
    out = np.empty(raw.shape, np.complex64)
    out.real, out.imag = raw[fields[0]], raw[fields[1]]
    return out
