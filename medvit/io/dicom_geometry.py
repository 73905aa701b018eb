"""Voxel-to-world affines from DICOM geometry, in MONAI's (column, row, slice) index order."""

from __future__ import annotations

import numpy as np

# DICOM patient space is LPS; MONAI and NIfTI use RAS.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def dicom_affine(
    orientation: np.ndarray | None,
    first_position: np.ndarray | None,
    pixel_spacing: tuple[float, float],
    slice_step: np.ndarray | None = None,
) -> np.ndarray:
    """The 4×4 RAS affine of an image whose array is indexed (column, row[, slice]).

    Args:
        orientation: ImageOrientationPatient, 6 direction cosines (row direction, then
            column direction), or None when absent (projection radiographs).
        first_position: ImagePositionPatient of the first slice (mm, LPS), or None.
        pixel_spacing: (row spacing, column spacing) in mm, DICOM's PixelSpacing order.
        slice_step: vector (mm, LPS) from one slice to the next, or None for one slice;
            the first-to-last vector divided by (n - 1), so gantry tilt is kept as shear.
    """
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)
    if orientation is None:
        row_dir, col_dir = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    else:
        row_dir, col_dir = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row_dir, col_dir)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * col_spacing  # index i runs along a row: column spacing
    affine[:3, 1] = col_dir * row_spacing
    affine[:3, 2] = normal if slice_step is None else np.asarray(slice_step, float)
    if first_position is not None:
        affine[:3, 3] = np.asarray(first_position, float)
    return LPS_TO_RAS @ affine
