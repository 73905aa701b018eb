"""medvit's readers as a MONAI ``ImageReader``, so bundles load with ``LoadImaged``.

``LoadImaged(keys="image", reader="medvit.io.MedvitReader")`` reads NIfTI, DICOM series,
DICOM files and photos with medvit's checks; a list of paths (e.g. BraTS' four series)
becomes one multi-channel image, refused unless they share grid and affine.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence

import numpy as np
from monai.data import ImageReader
from monai.utils import ensure_tuple

from medvit.errors import ImageReadError
from medvit.io.reader import read_image

AFFINE_TOLERANCE = 1e-3  # mm

# LoadImage instantiates every MONAI reader, and the GPU DICOM one warns on machines
# without nvImageCodec even though medvit never uses it.
warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader")


def quiet_gpu_dicom_reader_notices() -> None:
    """Silence MONAI's notices that its GPU DICOM reader (nvImageCodec) is unavailable.

    ``LoadImage`` builds that reader whenever it is created, also when told to use
    :class:`MedvitReader`, and it logs a warning and warns once per process on machines
    without nvImageCodec. medvit never uses that reader. Called when this module is imported,
    so bundle configs that import medvit before building ``LoadImaged`` stay quiet.
    """
    logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader", category=UserWarning)


quiet_gpu_dicom_reader_notices()


class MedvitReader(ImageReader):
    """MONAI reader over :func:`medvit.io.read_image`.

    Args:
        series_uid: for folders holding several DICOM series, which one to read.
    """

    def __init__(self, series_uid: str | None = None):
        super().__init__()
        self.series_uid = series_uid

    def verify_suffix(self, filename: Sequence[os.PathLike] | os.PathLike) -> bool:
        # medvit decides by content (and reports what it cannot read), not by suffix.
        return True

    def read(self, data: Sequence[os.PathLike] | os.PathLike, **kwargs):
        return [os.fspath(p) for p in ensure_tuple(data)]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        images = [read_image(path, self.series_uid) for path in img]
        for path, (array, _) in zip(img, images):
            check_finite(array, path)
        if len(images) == 1:
            array, meta = images[0]
            return array, _tensor_meta(meta)
        first_array, first_meta = images[0]
        for path, (array, meta) in zip(img[1:], images[1:]):
            if array.shape != first_array.shape:
                raise ImageReadError(path, f"shape {array.shape} differs from {img[0]}'s {first_array.shape}")
            if np.abs(meta["affine"] - first_meta["affine"]).max() > AFFINE_TOLERANCE:
                raise ImageReadError(path, f"is not on the same voxel grid as {img[0]} (affines differ); register first")
        meta = _tensor_meta(first_meta)
        meta["original_channel_dim"] = 0
        meta["filename_or_obj"] = list(img)
        return np.stack([array for array, _ in images], axis=0), meta


def check_finite(array: np.ndarray, path) -> None:
    """Refuse NaN / infinite values (a network would turn them into NaN outputs, never an error)
    and complex values (no bundle takes them; a silent cast would drop the imaginary part).

    Raises:
        ImageReadError: naming the file and what is wrong.
    """
    if array.dtype.kind == "c":
        raise ImageReadError(path, f"has complex values ({array.dtype}): the bundles take real-valued images "
                                   "(save the magnitude)")
    if array.dtype.kind == "f":
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ImageReadError(path, f"{bad} of {array.size} values are NaN or infinite")


def _tensor_meta(meta: dict) -> dict:
    """Metadata fit for a MetaTensor that may be collated: no None, no ragged lists."""
    kept = {k: v for k, v in meta.items() if v is not None and not isinstance(v, list)}
    if meta.get("warnings"):
        kept["warnings"] = "\n".join(meta["warnings"])
    return kept


def load_image(path: str | os.PathLike | Sequence[str | os.PathLike], series_uid: str | None = None):
    """Read an image (or several as channels) as a channel-first float32 ``MetaTensor``.

    Returns:
        MetaTensor of shape (C, X, Y[, Z]) with ``affine``, spacing and medvit's metadata.
    """
    from monai.transforms import LoadImage

    loader = LoadImage(reader=MedvitReader(series_uid), image_only=True, ensure_channel_first=True)
    paths = [os.fspath(p) for p in path] if isinstance(path, (list, tuple)) else os.fspath(path)
    return loader(paths)
