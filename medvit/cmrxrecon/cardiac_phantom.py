"""A short-axis cardiac cine phantom: the thorax at mid-ventricle, the left ventricle beating.

:mod:`medvit.cmrxrecon.phantoms` builds its training data on real brain anatomy (no installed
package ships a cardiac template); a page that shows cardiac reconstruction shows this instead:
ellipses and rings with bSSFP-like contrast (blood and fat bright, myocardium dark, lungs black),
sized in millimetres. The left ventricle's cavity shrinks over the frames while its wall
thickens (the myocardial area is kept), the right ventricle follows.

The readout (kx) is 2× oversampled, as in CMRxRecon's files: the field of view along kx is twice
the readout's, the thorax fills its central half; pixels are square.
"""

from __future__ import annotations

import numpy as np

from medvit.cmrxrecon.phantoms import coil_maps
from medvit.recon import fft2c

# (centre x, centre y, semi-axis x, semi-axis y) in mm; x to the image's right (patient left), y down
BODY = (0.0, 10.0, 170.0, 115.0)
FAT_MM = 12.0  # subcutaneous fat
LUNGS = ((-78.0, 0.0, 55.0, 78.0), (85.0, 8.0, 48.0, 70.0))
SPINE = ((0.0, 80.0, 16.0, 16.0), (0.0, 104.0, 6.0, 6.0))  # vertebral body, spinal canal
AORTA = (22.0, 64.0, 11.0, 11.0)
LV_CENTRE, LV_CAVITY_MM, LV_WALL_MM = (30.0, -8.0), 24.0, 9.0
RV = (-14.0, -22.0, 34.0, 26.0)
# bSSFP-like intensities
SIGNAL = {"soft tissue": 0.35, "fat": 0.85, "lung": 0.03, "bone": 0.25, "csf": 0.9, "blood": 1.0, "myocardium": 0.22}
FOV_READOUT_MM = 380.0  # without the oversampling


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def cardiac_frame(x: np.ndarray, y: np.ndarray, contraction: float) -> np.ndarray:
    """Signal at points (x, y) in mm for a contraction in [0, 1] (0 end-diastole, 1 end-systole)."""
    image = np.zeros(x.shape, np.float32)
    cx, cy, ax, ay = BODY
    image[_ellipse(x, y, cx, cy, ax, ay)] = SIGNAL["fat"]
    image[_ellipse(x, y, cx, cy, ax - FAT_MM, ay - FAT_MM)] = SIGNAL["soft tissue"]
    for lung in LUNGS:
        image[_ellipse(x, y, *lung)] = SIGNAL["lung"]
    image[_ellipse(x, y, *SPINE[0])] = SIGNAL["bone"]
    image[_ellipse(x, y, *SPINE[1])] = SIGNAL["csf"]
    image[_ellipse(x, y, *AORTA)] = SIGNAL["blood"]
    cavity = LV_CAVITY_MM * (1.0 - 0.35 * contraction)
    wall_area = (LV_CAVITY_MM + LV_WALL_MM) ** 2 - LV_CAVITY_MM**2  # kept: the wall thickens as it contracts
    outer = np.sqrt(cavity**2 + wall_area)
    rx, ry, rax, ray = RV
    squeeze = 1.0 - 0.2 * contraction
    image[_ellipse(x, y, rx, ry, rax * squeeze + 4, ray * squeeze + 4)] = SIGNAL["myocardium"]
    image[_ellipse(x, y, rx, ry, rax * squeeze, ray * squeeze)] = SIGNAL["blood"]
    lx, ly = LV_CENTRE
    image[_ellipse(x, y, lx, ly, outer, outer)] = SIGNAL["myocardium"]
    image[_ellipse(x, y, lx, ly, cavity, cavity)] = SIGNAL["blood"]
    return image


def cardiac_cine(num_frames: int = 6, num_ky: int = 96, num_kx: int = 192, num_coils: int = 4, noise: float = 0.002,
                 seed: int = 0, supersample: int = 3) -> dict:
    """Fully sampled multi-coil k-space of one short-axis cine slice.

    Returns:
        dict with ``kspace`` complex64 (frames, coils, ky, kx), ``images`` complex64 (frames, ky,
        kx) with magnitude ≤ 1, and ``pixel_mm`` (ky, kx): the pixel size of the images in mm.
    """
    size = FOV_READOUT_MM / (num_kx / 2)  # oversampling doubles the field of view, not the resolution
    pixel_mm = (size, size)
    # pixel centres, supersampled so that the edges are partial volumes, not stair steps
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = ((np.arange(num_ky)[:, None] + offsets[None]).ravel() - num_ky / 2) * pixel_mm[0]
    xs = ((np.arange(num_kx)[:, None] + offsets[None]).ravel() - num_kx / 2) * pixel_mm[1]
    y, x = np.meshgrid(ys, xs, indexing="ij")
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        fine = cardiac_frame(x, y, float(np.sin(np.pi * t / num_frames) ** 2))
        frames.append(fine.reshape(num_ky, supersample, num_kx, supersample).mean(axis=(1, 3)))
    gy, gx = np.meshgrid(np.linspace(-1, 1, num_ky), np.linspace(-1, 1, num_kx), indexing="ij")
    phase = rng.uniform(-1, 1) * gx + rng.uniform(-1, 1) * gy + rng.uniform(-np.pi, np.pi)
    images = (np.stack(frames) * np.exp(1j * phase)).astype(np.complex64)
    kspace = fft2c(images[:, None] * coil_maps(num_coils, num_ky, num_kx, seed))
    kspace += noise * (rng.normal(size=kspace.shape) + 1j * rng.normal(size=kspace.shape))
    return {"kspace": kspace.astype(np.complex64), "images": images, "pixel_mm": pixel_mm}
