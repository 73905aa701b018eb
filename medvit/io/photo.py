"""Photographs (PNG, JPEG, TIFF): fundus images and exported radiographs, via Pillow.

Laid out as MONAI's ``PILReader`` lays them out (``reverse_indexing=True``): (x, y[, c]).
"""

from __future__ import annotations

import os

import numpy as np

from medvit.errors import ImageReadError, first_line
from medvit.io._capture import captured_warnings
from medvit.io.meta import image_meta

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MODE_TO_ARRAY = {"1": "L", "P": "RGB", "LA": "L", "RGBA": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "I;16": "I;16"}


def read_photo(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a photograph.

    Returns:
        ``(array, meta)``: array of shape (width, height) for grey or (width, height, 3) for
        colour (alpha dropped, palettes expanded), uint8 / uint16 as stored; the affine
        is the identity (units are pixels, ``meta["spacing_unit"] == "pixel"``).
    """
    from PIL import Image, UnidentifiedImageError

    with captured_warnings() as messages:
        try:
            with Image.open(os.fspath(path)) as img:
                mode = MODE_TO_ARRAY.get(img.mode, img.mode)
                pixels = np.asarray(img.convert(mode) if mode != img.mode else img)
                source_mode = img.mode
        except FileNotFoundError:
            raise ImageReadError(path, "no such file") from None
        except UnidentifiedImageError:
            raise ImageReadError(path, "not an image file (Pillow cannot identify its format)") from None
        except Image.DecompressionBombError as err:
            raise ImageReadError(path, f"refused: {first_line(err)} (a decompression bomb, or a damaged header)") from None
        except (OSError, ValueError, SyntaxError) as err:
            raise ImageReadError(path, f"damaged or truncated image ({first_line(err)})") from None
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    array = pixels.swapaxes(0, 1)
    meta = image_meta(
        path,
        "photo",
        array,
        np.eye(4),
        channel_last=array.ndim == 3,
        space=None,
        modality=None,
        photometric_interpretation="RGB" if array.ndim == 3 else "MONOCHROME2",
        source_mode=source_mode,
        spacing_unit="pixel",
        warnings=messages,
    )
    return array, meta
