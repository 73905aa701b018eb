"""Readers and writers for hospital data.

Reading with numpy only (fast, used by ``medvit info``)::

    array, meta = medvit.io.read_image("ct_folder/")     # (X, Y, Z), meta["affine"] in RAS
    medvit.io.describe("cxr.dcm")                          # what medvit will feed a bundle

As MONAI tensors (imports torch and MONAI)::

    image = medvit.io.load_image("ct_folder/")             # MetaTensor (1, X, Y, Z)
    LoadImaged(keys="image", reader="medvit.io.MedvitReader")
"""

from medvit.errors import ImageReadError
from medvit.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from medvit.io.reader import describe, image_kind, read_image

_LAZY = {
    "MedvitReader": "medvit.io.monai_reader",
    "load_image": "medvit.io.monai_reader",
    "save_nifti": "medvit.io.writers",
    "save_png": "medvit.io.writers",
}

__all__ = [
    "ImageReadError",
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
