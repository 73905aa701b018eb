"""Rigid co-registration of one MRI series onto another (SimpleITK, Mattes mutual information).

Hospital series of one session are often not voxel-aligned (the patient moved between
sequences); BraTS inputs are. Mutual information handles the different contrasts (T1 vs
FLAIR). Written with SimpleITK's registration framework; MONAI has no intensity-based rigid
registration.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from monai.data.utils import affine_to_spacing

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])


def to_sitk(volume: np.ndarray, affine: np.ndarray):
    """(X, Y, Z) array with RAS affine → SimpleITK image (LPS physical space, float32)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(volume, (2, 1, 0)), dtype=np.float32))
    spacing = np.asarray(affine_to_spacing(np.asarray(affine, dtype=np.float64), r=3))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in LPS_FROM_RAS @ affine[:3, 3]])
    image.SetDirection([float(v) for v in (LPS_FROM_RAS @ affine[:3, :3] / spacing).ravel()])
    return image


def from_sitk(image) -> np.ndarray:
    """SimpleITK image → (X, Y, Z) float32 array (the inverse of :func:`to_sitk`'s layout)."""
    return np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)).astype(np.float32)


def rigid_register(moving: np.ndarray, moving_affine: np.ndarray, fixed: np.ndarray, fixed_affine: np.ndarray,
                   iterations: int = 200, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Rigidly align ``moving`` to ``fixed`` and resample it onto the fixed grid.

    Args:
        moving, fixed: (X, Y, Z) volumes; ``*_affine``: their (4, 4) RAS affines.
        iterations: optimiser iterations per resolution level (3 levels, 4-2-1 shrink).
        seed: of the metric's random sampling, so results repeat.

    Returns:
        ``(resampled, info)``: the moved volume on the fixed grid (X, Y, Z) float32, and
        ``{"translation_mm": |t|, "rotation_deg": angle, "metric": final MI value}``.
    """
    fixed_image, moving_image = to_sitk(fixed, fixed_affine), to_sitk(moving, moving_affine)
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.2, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=iterations,
                                                    gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed_image, moving_image)
    moved = sitk.Resample(moving_image, fixed_image, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(transform).GetNthTransform(0))
    angles = np.array([euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()])
    info = {"translation_mm": float(np.linalg.norm(euler.GetTranslation())),
            "rotation_deg": float(np.degrees(np.linalg.norm(angles))), "metric": float(method.GetMetricValue())}
    return from_sitk(moved), info
