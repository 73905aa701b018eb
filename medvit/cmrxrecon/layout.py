"""The CMRxRecon 2023 challenge's files: k-space and masks (MATLAB v7.3), submissions (v5).

Layout: ``{MultiCoil|SingleCoil}/{Cine|Mapping}/{TrainingSet|ValidationSet}/
{FullSample|AccFactor04|AccFactor08|AccFactor10}/P###/`` holding ``cine_lax.mat``,
``cine_sax.mat``, ``T1map.mat``, ``T2map.mat`` with their ``*_mask.mat`` (and ``T1map.csv``).

Variables (h5py order, MATLAB's reversed):

- multi-coil k-space ``kspace_full``, ``kspace_sub04/08/10``: ``[t, z, coil, ky, kx]``;
- single-coil ``kspace_single_full``, ``kspace_single_sub04/08/10``: ``[t, z, ky, kx]``;
- masks ``mask04/08/10``: ``[ky, kx]``, the same for every coil, slice and frame;
- submissions ``img4ranking``: single precision, MATLAB order ``(sx, sy, z, t)``.

A cine file is ~12 × 11 × 10 × 512 × 246 complex values, so k-space is read one
(frame, slice) at a time (:class:`CMRxKSpace`), never whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from medvit.errors import VariableReadError
from medvit.io.hdf5 import OpenFile, dataset, open_hdf5, read_complex
from medvit.io.matlab import read_mat_variable, write_mat_v5

COIL_FOLDERS = ("MultiCoil", "SingleCoil")
TASK_FOLDERS = {"cine_lax": "Cine", "cine_sax": "Cine", "T1map": "Mapping", "T2map": "Mapping"}
SPLITS = ("TrainingSet", "ValidationSet", "TestSet")
SUBMISSION_VARIABLE = "img4ranking"


def acceleration_folder(acceleration: int | None) -> str:
    """``FullSample`` for None, else ``AccFactor04`` and so on."""
    return "FullSample" if acceleration is None else f"AccFactor{acceleration:02d}"


def folder_acceleration(folder: str) -> int | None:
    """The inverse of :func:`acceleration_folder` (None for ``FullSample``)."""
    if folder == "FullSample":
        return None
    match = re.fullmatch(r"AccFactor(\d+)", folder)
    if match is None:
        raise ValueError(f"'{folder}' is not a CMRxRecon acceleration folder (FullSample, AccFactor04, ...)")
    return int(match.group(1))


def case_dir(
    root: str | os.PathLike,
    case: str,
    kind: str = "cine_sax",
    acceleration: int | None = None,
    split: str = "TrainingSet",
    single_coil: bool = False,
) -> Path:
    """``root/{MultiCoil|SingleCoil}/{Cine|Mapping}/split/{FullSample|AccFactorRR}/case``."""
    if kind not in TASK_FOLDERS:
        raise ValueError(f"unknown CMRxRecon file kind '{kind}'; known: {', '.join(TASK_FOLDERS)}")
    coil = COIL_FOLDERS[1] if single_coil else COIL_FOLDERS[0]
    return Path(root) / coil / TASK_FOLDERS[kind] / split / acceleration_folder(acceleration) / case


def kspace_variable(acceleration: int | None = None, single_coil: bool = False) -> str:
    """``kspace_full``, ``kspace_sub04``, ``kspace_single_sub08``, ..."""
    base = "kspace_single" if single_coil else "kspace"
    return f"{base}_full" if acceleration is None else f"{base}_sub{acceleration:02d}"


def mask_variable(acceleration: int) -> str:
    """``mask04``, ``mask08``, ``mask10``."""
    return f"mask{acceleration:02d}"


def mask_path(kspace_path: str | os.PathLike) -> Path:
    """The mask file beside a k-space file: ``cine_sax.mat`` → ``cine_sax_mask.mat``."""
    path = Path(kspace_path)
    return path.with_name(f"{path.stem}_mask.mat")


class CMRxKSpace(OpenFile):
    """One k-space variable of a CMRxRecon file, read one (frame, slice) at a time.

    ::

        with CMRxKSpace("AccFactor08/P001/cine_sax.mat") as kspace:   # finds kspace_sub08
            for (t, z), coils in kspace.slices():                     # (coil, ky, kx) complex64
                ...

    Args:
        path: a v7.3 .mat file of the challenge.
        variable: the variable to read; by default the file's only ``kspace*`` variable.

    Attributes:
        shape: ``(t, z, coil, ky, kx)``; ``coil`` is 1 for single-coil k-space.
        single_coil: whether the variable is a ``kspace_single_*`` one (4 axes in the file).

    Raises:
        ImageReadError: the file is missing, not HDF5 (v7.3), truncated or damaged.
        VariableReadError: the variable is missing (or the choice ambiguous), not complex,
            or has the wrong number of axes.
    """

    def __init__(self, path: str | os.PathLike, variable: str | None = None):
        self.path = Path(path)
        self._file = open_hdf5(self.path)
        try:
            self.variable = variable or self._only_kspace_variable()
            self._ds = dataset(self._file, self.variable)
            self.single_coil = self.variable.startswith("kspace_single")
            expected = 4 if self.single_coil else 5
            if self._ds.ndim != expected:
                axes = "[t, z, ky, kx]" if self.single_coil else "[t, z, coil, ky, kx]"
                raise VariableReadError(
                    self.path, self.variable,
                    f"has {self._ds.ndim} axes {self._ds.shape}; expected {expected}, {axes} as h5py reads MATLAB's order",
                )
            read_complex(self._ds, (slice(0, 0),))  # dtype check, without reading data
        except BaseException:
            self._file.close()
            raise
        shape = self._ds.shape
        self.shape = (shape[0], shape[1], 1, *shape[2:]) if self.single_coil else tuple(shape)

    def _only_kspace_variable(self) -> str:
        names = sorted(name for name in self._file if name.startswith("kspace"))
        if len(names) != 1:
            raise VariableReadError(
                self.path, "kspace*",
                f"is ambiguous: the file holds {', '.join(names)}; name one" if names else "is not in the file",
            )
        return names[0]

    @property
    def num_frames(self) -> int:
        return self.shape[0]

    @property
    def num_slices(self) -> int:
        return self.shape[1]

    @property
    def num_coils(self) -> int:
        return self.shape[2]

    def read_slice(self, t: int, z: int) -> np.ndarray:
        """Frame ``t`` of slice ``z``: complex64 ``(coil, ky, kx)`` (one coil for single-coil data).

        Raises:
            VariableReadError: the slice holds NaN or infinite values (a reconstruction would
                spread them over the whole image).
        """
        if not (0 <= t < self.num_frames and 0 <= z < self.num_slices):
            raise IndexError(f"(t={t}, z={z}) outside {self.num_frames} frames × {self.num_slices} slices")
        kspace = read_complex(self._ds, (t, z))
        bad = kspace.size - int(np.count_nonzero(np.isfinite(kspace)))
        if bad:
            raise VariableReadError(self.path, self.variable, f"has {bad} NaN or infinite value(s) in frame {t}, slice {z}")
        return kspace[None] if self.single_coil else kspace

    def slices(self) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """Every ``((t, z), kspace)``, frame-major, one slice in memory at a time."""
        for t in range(self.num_frames):
            for z in range(self.num_slices):
                yield (t, z), self.read_slice(t, z)

    @property
    def acceleration(self) -> int | None:
        """R of a ``kspace_subRR`` variable; None for fully sampled k-space."""
        match = re.search(r"_sub(\d+)$", self.variable)
        return int(match.group(1)) if match else None

    def check_fully_sampled(self) -> CMRxKSpace:
        """This file, checked to be a fully sampled reference; returns it.

        Raises:
            VariableReadError: the variable is undersampled k-space (``kspace_subRR``: scoring
                against it would rank zero-filled above every real reconstruction), or its
                first slice has ky lines without a single sample (undersampled data stored as
                ``kspace_full``).
        """
        if self.acceleration is not None:
            raise VariableReadError(
                self.path, self.variable,
                f"is undersampled k-space (R = {self.acceleration}), not a fully sampled reference: "
                "use the case's FullSample file (kspace_full)",
            )
        empty = int(np.count_nonzero(~np.any(self.read_slice(0, 0), axis=(0, 2))))
        if empty:
            raise VariableReadError(
                self.path, self.variable,
                f"has {empty} of {self.shape[-2]} ky lines without a sample in frame 0, slice 0: "
                "undersampled, not a fully sampled reference",
            )
        return self

    def read_line_mask(self) -> np.ndarray:
        """The sampled ky lines, bool (ky,): from the ``*_mask.mat`` file beside this one, checked
        against the k-space (:meth:`check_mask`); every line for fully sampled k-space."""
        if self.acceleration is None:
            return np.ones(self.shape[-2], dtype=bool)
        path, name = mask_path(self.path), mask_variable(self.acceleration)
        return self.check_mask(read_cmrx_mask(path, self.acceleration), path, name)

    def check_mask(self, mask: np.ndarray, mask_file: str | os.PathLike, mask_name: str) -> np.ndarray:
        """Check that a ``[ky, kx]`` mask belongs to this k-space; return its ky line vector.

        Raises:
            VariableReadError: shapes differ (transposed axes named as such), the mask is not
                one set of ky lines, or the first slice has samples on lines the mask leaves out.
        """
        ky_kx = self.shape[-2:]
        if mask.shape != ky_kx:
            hint = " (its axes are swapped)" if mask.shape == ky_kx[::-1] else ""
            raise VariableReadError(
                mask_file, mask_name,
                f"has shape {mask.shape}{hint} but {self.path.name}:{self.variable} has (ky, kx) = {ky_kx}",
            )
        lines = line_mask(mask, mask_file, mask_name)
        first = self.read_slice(0, 0)
        if np.any(first[:, ~lines]):
            raise VariableReadError(
                self.path, self.variable,
                f"has samples on ky lines that {mask_name} leaves out: the k-space axes or the mask do not match",
            )
        return lines


def line_mask(mask: np.ndarray, path: str | os.PathLike = "", name: str = "mask") -> np.ndarray:
    """The ky line vector of a ``[ky, kx]`` mask whose every ky line is sampled whole or not at all."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise VariableReadError(path, name, f"has {mask.ndim} axes; a CMRxRecon mask is 2-D (kx, ky)")
    if not np.isin(mask, (0, 1)).all():
        raise VariableReadError(path, name, "is not binary (values other than 0 and 1)")
    lines = mask.astype(bool)
    if not (lines == lines[:, :1]).all():
        raise VariableReadError(path, name, "varies along kx: not a mask of ky lines")
    return lines[:, 0].copy()


def read_cmrx_mask(path: str | os.PathLike, acceleration: int) -> np.ndarray:
    """The mask ``maskRR`` of a ``*_mask.mat`` file (v7.3 or v5) as bool ``[ky, kx]``."""
    name = mask_variable(acceleration)
    mask = read_mat_variable(path, name)
    line_mask(mask, path, name)  # binary, 2-D, whole lines
    return mask.astype(bool)


def challenge_parts(path: str | os.PathLike) -> tuple[str, ...] | None:
    """The challenge's six levels of a file's path, ``(coil, task, split, acceleration, case,
    file)`` (e.g. ``MultiCoil/Cine/TestSet/AccFactor04/P001/cine_sax.mat``), or None when the
    path does not end in them."""
    parts = Path(path).parts[-6:]
    if len(parts) != 6 or parts[0] not in COIL_FOLDERS or parts[1] not in TASK_FOLDERS.values():
        return None
    if parts[3] != "FullSample" and re.fullmatch(r"AccFactor\d+", parts[3]) is None:
        return None
    return parts


def challenge_base(folder: str | os.PathLike) -> Path:
    """The folder a challenge tree's levels start from: the parent of ``MultiCoil`` / ``SingleCoil``
    when ``folder`` is that level or lies below it (``ChallengeData/MultiCoil/Cine`` →
    ``ChallengeData``), else ``folder`` itself (``ChallengeData``, ``Submission``)."""
    folder = Path(folder)
    for level in (folder, *folder.parents):
        if level.name in COIL_FOLDERS:
            return level.parent
    return folder


def submission_relative_path(source: str | os.PathLike, root: str | os.PathLike) -> Path:
    """Where the submission of k-space file ``source`` goes below the submission folder: its path
    below ``root`` (the dataset folder), with the challenge's levels above ``root`` put back, so
    that a tree read from ``ChallengeData/MultiCoil`` is written as ``MultiCoil/Cine/...`` as the
    challenge's submission format has it (files outside the challenge's layout keep their path
    below ``root``).

    Raises:
        ValueError: ``source`` is not under ``root``.
    """
    source = Path(source)
    relative = source.relative_to(root)
    parts = challenge_parts(source)
    if parts is not None and len(relative.parts) < len(parts):
        return Path(*parts)
    return relative


def write_submission(path: str | os.PathLike, images: np.ndarray) -> Path:
    """Write reconstructed magnitude images as the challenge wants them.

    Args:
        path: e.g. ``Submission/MultiCoil/Cine/ValidationSet/AccFactor04/P001/cine_sax.mat``.
        images: real (sx, sy, z, t) — usually :func:`medvit.recon.ranking_volume` of the
            full reconstruction.

    Writes variable ``img4ranking`` in single precision with scipy's ``savemat`` (v5), atomically.
    """
    images = np.asarray(images)
    if images.ndim != 4 or np.iscomplexobj(images):
        raise ValueError(f"img4ranking holds real images (sx, sy, z, t); got {images.dtype} {images.shape}")
    return write_mat_v5(path, {SUBMISSION_VARIABLE: images.astype(np.float32)})


def read_submission(path: str | os.PathLike) -> np.ndarray:
    """``img4ranking`` of a submission file (v5 or v7.3) as float32 ``(sx, sy, z, t)``."""
    images = read_mat_variable(path, SUBMISSION_VARIABLE, matlab_order=True)
    if images.ndim < 2 or np.iscomplexobj(images):
        raise VariableReadError(path, SUBMISSION_VARIABLE, f"is not real images (sx, sy[, z, t]): {images.dtype} {images.shape}")
    return images.astype(np.float32)
