"""Readers and writers for hospital data.

k-space (h5py, read a slice at a time; CMRxRecon's files: :class:`medvit.cmrxrecon.CMRxKSpace`)::

    medvit.io.FastMRIKSpace("file_brain_AXT2_200_2000019.h5")               # fastMRI .h5

Reading with numpy only (fast, used by ``medvit info``)::

    array, meta = medvit.io.read_image("ct_folder/")     # (X, Y, Z), meta["affine"] in RAS
    array, meta = medvit.io.read_image("oct_bscans/")    # a folder of B-scan PNGs: (x, depth, slice)
    medvit.io.describe("cxr.dcm")                          # what medvit will feed a bundle

As MONAI tensors (imports torch and MONAI)::

    image = medvit.io.load_image("ct_folder/")             # MetaTensor (1, X, Y, Z)
    LoadImaged(keys="image", reader="medvit.io.MedvitReader")
"""

from medvit.errors import ImageReadError, VariableReadError
from medvit.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from medvit.io.reader import describe, image_kind, read_image

_LAZY = {
    "FastMRIKSpace": "medvit.io.fastmri_h5",
    "write_fastmri_h5": "medvit.io.fastmri_h5",
    "read_mat_variable": "medvit.io.matlab",
    "write_mat_v73": "medvit.io.matlab",
    "MedvitReader": "medvit.io.monai_reader",
    "load_image": "medvit.io.monai_reader",
    "save_nifti": "medvit.io.writers",
    "save_png": "medvit.io.writers",
}

__all__ = [
    "ImageReadError",
    "VariableReadError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "describe",
    "image_kind",
    "read_image",
    *_LAZY,
]


def __getattr__(name: str):
    # torch / MONAI are imported only when these are first used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medvit.io' has no attribute '{name}'")
