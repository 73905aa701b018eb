"""fastMRI's .h5 files: ``kspace`` [slices, coils, H, W] complex (single-coil: [slices, H, W]),
``mask`` [W] for undersampled files, ``reconstruction_rss`` / ``reconstruction_esc`` targets,
and attributes (``acquisition``, ``max``, ``norm``, ``patient_id``).

W is the phase-encoding axis that masks select lines of. Slices are read one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from medvit.errors import VariableReadError
from medvit.io.atomic import atomic_path
from medvit.io.hdf5 import OpenFile, dataset, open_hdf5, read_complex

TARGETS = ("reconstruction_rss", "reconstruction_esc")


class FastMRIKSpace(OpenFile):
    """The k-space of a fastMRI file, read a slice at a time.

    Attributes:
        shape: ``(slices, coils, H, W)``; coils is 1 for single-coil files.
        single_coil: whether ``kspace`` has 3 axes in the file.
        mask: bool (W,) from the file's ``mask``, or None (a fully sampled file).
        attrs: the file's attributes.

    Raises:
        ImageReadError: the file is missing, not HDF5, truncated or damaged.
        VariableReadError: ``kspace`` missing, not complex, of the wrong rank; a ``mask``
            that does not fit its W axis.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = open_hdf5(self.path)
        try:
            self._ds = dataset(self._file, "kspace")
            if self._ds.ndim not in (3, 4):
                raise VariableReadError(
                    self.path, "kspace", f"has {self._ds.ndim} axes {self._ds.shape}; expected [slices, coils, H, W] or [slices, H, W]"
                )
            read_complex(self._ds, (slice(0, 0),))  # dtype check, without reading data
            self.single_coil = self._ds.ndim == 3
            shape = self._ds.shape
            self.shape = (shape[0], 1, *shape[1:]) if self.single_coil else tuple(shape)
            self.mask = self._read_mask()
            self.attrs = dict(self._file.attrs)
        except BaseException:
            self._file.close()
            raise

    def _read_mask(self) -> np.ndarray | None:
        if "mask" not in self._file:
            return None
        mask = np.asarray(self._file["mask"][()]).ravel()
        if mask.shape[0] != self.shape[-1]:
            raise VariableReadError(
                self.path, "mask", f"has {mask.shape[0]} entries but kspace has W = {self.shape[-1]} (shape {self._ds.shape})"
            )
        return mask.astype(bool)

    @property
    def num_slices(self) -> int:
        return self.shape[0]

    def read_slice(self, index: int) -> np.ndarray:
        """Slice ``index``: complex64 ``(coils, H, W)``."""
        if not 0 <= index < self.num_slices:
            raise IndexError(f"slice {index} outside {self.num_slices} slices")
        kspace = read_complex(self._ds, index)
        return kspace[None] if self.single_coil else kspace

    def slices(self) -> Iterator[tuple[int, np.ndarray]]:
        """Every ``(index, kspace)``, one slice in memory at a time."""
        for index in range(self.num_slices):
            yield index, self.read_slice(index)

    def read_target(self, index: int, name: str = "reconstruction_rss") -> np.ndarray | None:
        """The file's reference image of slice ``index`` (float32), or None where it has none."""
        if name not in self._file:
            return None
        return np.asarray(self._file[name][index], dtype=np.float32)


def write_fastmri_h5(
    path: str | os.PathLike,
    kspace: np.ndarray,
    mask: np.ndarray | None = None,
    targets: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, object] | None = None,
) -> Path:
    """Write a fastMRI-layout file atomically (kspace as complex64, one chunk per slice).

    Args:
        kspace: complex [slices, coils, H, W] or [slices, H, W].
        mask: bool (W,), for undersampled files.
        targets: e.g. ``{"reconstruction_rss": float32 [slices, h, w]}``.
        attrs: file attributes (``acquisition``, ``max``, ...).
    """
    import h5py

    kspace = np.asarray(kspace, dtype=np.complex64)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as file:
            file.create_dataset("kspace", data=kspace, chunks=(1, *kspace.shape[1:]))
            if mask is not None:
                file.create_dataset("mask", data=np.asarray(mask, dtype=bool))
            for name, image in (targets or {}).items():
                file.create_dataset(name, data=np.asarray(image, dtype=np.float32))
            file.attrs.update(dict(attrs or {}))
    return Path(path)
