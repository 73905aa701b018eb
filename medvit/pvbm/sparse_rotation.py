"""Bilinear rotation of a sparse mask, computed only where the result can be non-zero.

The fractal analysis rotates a vessel mask 25 times (``skimage.transform.rotate(mask,
angle, resize=True, order=1, cval=0)``) and then needs only the non-zero pixels of each
copy. A vessel mask is ~5-10 % vessel, so warping every output pixel wastes most of the
work: here the output pixels within reach of an input pixel are found first (the rotated
input positions, grown by the bilinear footprint) and interpolated alone. The values are
the same bits as ``rotate`` gives (same transform, same interpolation formula); scikit-image
has no sparse warp, hence this module.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import SimilarityTransform

PAD = 4


def rotation_matrix(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The output→input map and output shape of ``skimage.transform.rotate(..., resize=True)``.

    Built exactly as scikit-image builds it (rotation about the image centre, then a
    translation that fits the rotated corners), so the sampled positions are identical.

    Args:
        shape: (H, W) of the input image.
        angle: degrees, counter-clockwise.

    Returns:
        (3, 3) float64 affine matrix taking output (col, row, 1) to input (col, row, 1), and
        the output shape (H', W').
    """
    rows, cols = shape
    center = np.array((cols, rows)) / 2.0 - 0.5
    transform = (
        SimilarityTransform(translation=-center)
        + SimilarityTransform(rotation=np.deg2rad(angle))
        + SimilarityTransform(translation=center)
    )
    corners = transform.inverse(np.array([[0, 0], [0, rows - 1], [cols - 1, rows - 1], [cols - 1, 0]]))
    min_col, min_row = corners.min(axis=0)
    max_col, max_row = corners.max(axis=0)
    out_shape = tuple(int(v) for v in np.around((max_row - min_row + 1, max_col - min_col + 1)))
    matrix = (SimilarityTransform(translation=(min_col, min_row)) + transform).params.copy()
    matrix[2] = (0, 0, 1)
    return matrix, out_shape


class SparseRotation:
    """Bilinear rotations of one (H, W) float image with values ≥ 0 (a 0/1 mask), sparse.

    ``SparseRotation(mask)(angle)`` gives the non-zero pixels of ``rotate(mask, angle,
    resize=True, order=1, cval=0, mode="constant")`` as ``(rows, cols, values, (H', W'))``:
    int32 coordinates in raster order, float64 values clipped to the input's maximum as
    ``rotate`` clips them. What every angle shares (the input's non-zero pixels, a padded
    copy) is prepared once.
    """

    def __init__(self, image: np.ndarray):
        self.image = np.asarray(image, dtype=np.float64)
        self.rows, self.cols = np.nonzero(self.image)
        self.maximum = float(self.image.max()) if self.image.size else 0.0
        # A candidate samples within 2√2 px of a non-zero input pixel (see _candidates), so
        # its corners lie within 4 px of the image: a 4 px zero border spares bounds checks.
        self.padded = np.pad(self.image, PAD).ravel()
        self.stride = self.image.shape[1] + 2 * PAD

    def __call__(self, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
        matrix, (out_h, out_w) = rotation_matrix(self.image.shape, angle)
        if self.rows.size == 0:
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty, np.zeros(0), (out_h, out_w)
        out_rows, out_cols = self._candidates(matrix, out_h, out_w)

        # Bilinear interpolation with scikit-image's formula: corners floor / ceil, weights
        # from the fractional parts, zero outside the image. On an integer position skimage
        # takes ceil == floor; taking the next pixel instead gives the same bits, as its
        # weight is exactly 0.
        x = matrix[0, 0] * out_cols + matrix[0, 1] * out_rows + matrix[0, 2]
        y = matrix[1, 0] * out_cols + matrix[1, 1] * out_rows + matrix[1, 2]
        row0, col0 = np.floor(y), np.floor(x)
        d_row, d_col = y - row0, x - col0
        top_left = (row0.astype(np.intp) + PAD) * self.stride + col0.astype(np.intp) + PAD
        padded = self.padded
        top = (1 - d_col) * padded[top_left] + d_col * padded[top_left + 1]
        top_left += self.stride
        bottom = (1 - d_col) * padded[top_left] + d_col * padded[top_left + 1]
        values = (1 - d_row) * top + d_row * bottom
        keep = values != 0
        return out_rows[keep], out_cols[keep], np.minimum(values[keep], self.maximum), (out_h, out_w)

    def _candidates(self, matrix: np.ndarray, out_h: int, out_w: int) -> tuple[np.ndarray, np.ndarray]:
        """Output pixels that can be non-zero, (rows, cols) int32 in raster order.

        An output pixel is non-zero only if it samples within 1 px (per axis) of a non-zero
        input pixel, i.e. within √2 of where that pixel lands: the output pixels
        floor(q) - 1 .. floor(q) + 2 along each axis of each landing position q.
        """
        inverse = np.linalg.inv(matrix)
        rows, cols = self.rows, self.cols
        land_x = np.floor(inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]).astype(np.intp)
        land_y = np.floor(inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]).astype(np.intp)
        row_lo, col_lo = max(int(land_y.min()) - 1, 0), max(int(land_x.min()) - 1, 0)
        row_hi, col_hi = min(int(land_y.max()) + 3, out_h), min(int(land_x.max()) + 3, out_w)
        height, width = row_hi - row_lo, col_hi - col_lo
        marks = np.zeros((height + 3, width + 3), dtype=bool)  # margin: 1 before, 2 after
        marks[land_y - row_lo + 1, land_x - col_lo + 1] = True
        grown = _grow(_grow(marks, axis=0), axis=1)
        out_rows, out_cols = np.nonzero(grown[1 : height + 1, 1 : width + 1])
        # int32 halves the memory traffic of everything downstream (box indices in fractal.py)
        return (out_rows + row_lo).astype(np.int32), (out_cols + col_lo).astype(np.int32)


def rotated_nonzero(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Non-zero pixels of ``rotate(image, angle, resize=True, order=1, cval=0, mode="constant")``.

    Args:
        image: (H, W) float array with values ≥ 0 (a 0/1 mask).
        angle: degrees, counter-clockwise.

    Returns:
        ``(rows, cols, values, (H', W'))``, see :class:`SparseRotation` (which to use for
        many angles of one image).
    """
    return SparseRotation(image)(angle)


def _grow(marks: np.ndarray, axis: int) -> np.ndarray:
    """``marks`` OR-ed with its copies shifted by -1, +1 and +2 along ``axis``."""
    grown = marks.copy()
    a, b = np.moveaxis(grown, axis, 0), np.moveaxis(marks, axis, 0)
    a[:-1] |= b[1:]
    a[1:] |= b[:-1]
    a[2:] |= b[:-2]
    return grown
