"""medvit biomarkers vs pvbm 3.0.1.8 on the same vessel masks and discs, in one run.

    .venv/bin/python benchmarks/biomarkers.py [--images 12] [--pvbm-images 2]

``--measures pvbm`` (default) times pvbm's columns, like for like; ``--measures all`` the default
run's columns (with the fovea and AutoMorph's per-zone measures).

Cohort: the real fundus photo (skimage's retina, 1411²) in its 8 mirror/rotation copies (repeated),
each with its classical vessel mask (medvit.pvbm.vessels) and optic disc given, so both
tools measure the same pixels. Printed:

- pvbm's per-image analysis time (geometry + 2.x perimeter + multifractal, the tutorial's
  settings), in this process on one thread;
- the marginal time per image of a ``medvit biomarkers --masks --disc --workers 1`` run
  (time N images minus time 1, start-up excluded) and the ratio to pvbm;
- the command's start-up (time of 1 image minus the marginal time);
- throughput with 2 workers vs 1 (threads pinned to one per worker by the runner), as
  marginal time per image in both cases (pool start-up excluded), and whole wall times;
- peak memory (RSS high-water mark of the command's process).

Needs pvbm (``make install`` puts it in .venv with ``--no-deps``).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # pvbm and the in-process steps on one core, as the workers run

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dihedral(array: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 rotations / mirrors of an image (rows, cols first)."""
    out = np.rot90(array, k % 4)
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def make_cohort(folder: Path, n: int) -> tuple[Path, Path, Path]:
    """n photos, their vessel masks and a disc CSV (the detected disc, moved with each copy)."""
    import skimage.data

    from medvit.pvbm.optic_disc import detect_optic_disc
    from medvit.pvbm.vessels import field_of_view, vessel_mask

    photo = skimage.data.retina()
    fov = field_of_view(photo)
    vessels = vessel_mask(photo, fov=fov)
    x, y, r = detect_optic_disc(photo, vessels=vessels, fov=fov)
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True), masks.mkdir()
    disc_marker = np.zeros(photo.shape[:2], bool)
    disc_marker[int(round(y)), int(round(x))] = True
    rows = ["image,x,y,radius"]
    for k in range(n):
        name = f"eye{k:02d}.png"
        Image.fromarray(dihedral(photo, k % 8)).save(images / name)
        Image.fromarray(dihedral(vessels, k % 8).astype(np.uint8) * 255).save(masks / name)
        cy, cx = np.argwhere(dihedral(disc_marker, k % 8))[0]
        rows.append(f"{name},{cx},{cy},{r}")
    (folder / "discs.csv").write_text("\n".join(rows) + "\n")
    return images, masks, folder / "discs.csv"


def pvbm_seconds(images: Path, masks: Path, discs: Path, count: int) -> float:
    """pvbm's mean analysis time per image on the same masks, discs and measurement region."""
    from medvit.pvbm.geometry import vessel_skeleton
    from medvit.pvbm.regions import measurement_region
    from tests.pvbm_reference import pvbm_geometry, pvbm_multifractal, pvbm_perimeter

    with open(discs, newline="") as fh:
        disc = {row["image"]: (float(row["x"]), float(row["y"]), float(row["radius"])) for row in csv.DictReader(fh)}
    times = []
    for path in sorted(images.iterdir())[:count]:
        mask = np.array(Image.open(masks / path.name)) > 0
        x, y, r = disc[path.name]
        start = time.perf_counter()
        region = measurement_region(mask.shape, x, y, r)
        skeleton = vessel_skeleton(mask) & region  # pvbm's pipeline skeletonises too
        measured = mask & region
        pvbm_geometry(measured, skeleton, x, y, r)
        pvbm_perimeter(measured)
        pvbm_multifractal(measured)
        times.append(time.perf_counter() - start)
    return float(np.mean(times))


def run_medvit(images: Path, masks: Path, discs: Path, out: Path, workers: int, only: int | None = None,
               measures: str = "pvbm"):
    """Wall time (s) of one ``medvit biomarkers`` command (a fresh process, as a user runs it)
    and the peak RSS (MB) of its largest process."""
    if only is not None:
        subset = out.parent / f"subset{only}"
        subset.mkdir(exist_ok=True)
        for path in sorted(images.iterdir())[:only]:
            shutil.copy(path, subset / path.name)
        images = subset
    arguments = ["biomarkers", str(images), "--out", str(out), "--masks", str(masks),
                 "--disc", str(discs), "--workers", str(workers), "--quiet", "--restart", "--measures", measures]
    command = [sys.executable, "-c", _LAUNCHER, *arguments]
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True)
    stdout, stderr = process.stdout, process.stderr
    elapsed = time.perf_counter() - start
    if process.returncode != 0 or "0 failed" not in stdout:
        raise SystemExit(f"medvit biomarkers failed:\n{stdout}\n{stderr}")
    peak_mb = float(stderr.strip().splitlines()[-1].split("peak_rss_mb=")[1])
    return elapsed, peak_mb


# Runs the CLI and reports its peak RSS. Read from /proc (VmHWM, this process's own memory
# map): ru_maxrss would carry over the high-water mark of the (large) benchmark process that
# forked it, since Linux keeps it across exec.
_LAUNCHER = """
import sys
sys.argv = ["medvit", *sys.argv[1:]]
try:
    from medvit.cli import main
    code = main()
finally:
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(f"peak_rss_mb={peak_kb / 1024:.0f}", file=sys.stderr)
sys.exit(code)
"""

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12, help="cohort size N")
    parser.add_argument("--pvbm-images", type=int, default=2, help="images pvbm is timed on")
    parser.add_argument("--measures", choices=("pvbm", "all"), default="pvbm",
                        help="pvbm: pvbm's columns, like for like (default); all: with the fovea and AutoMorph's")
    args = parser.parse_args()
    n = max(3, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images, masks, discs = make_cohort(folder, n)
        pvbm = pvbm_seconds(images, masks, discs, args.pvbm_images)
        one, _ = run_medvit(images, masks, discs, folder / "one.csv", workers=1, only=1, measures=args.measures)
        all_one, peak_one_mb = run_medvit(images, masks, discs, folder / "w1.csv", workers=1, measures=args.measures)
        two_one, _ = run_medvit(images, masks, discs, folder / "two.csv", workers=2, only=2, measures=args.measures)
        all_two, peak_two_mb = run_medvit(images, masks, discs, folder / "w2.csv", workers=2, measures=args.measures)
        same = (folder / "w1.csv").read_text() == (folder / "w2.csv").read_text()
    marginal = (all_one - one) / (n - 1)
    # steady-state throughput with 2 workers: N images minus 2 (one each, pool start-up)
    marginal_two = (all_two - two_one) / (n - 2)
    print(f"cohort: {n} × 1411² photos with masks and discs given; {os.cpu_count()} CPU cores; "
          f"--measures {args.measures}")
    print(f"pvbm 3.0.1.8 analysis per image (mean of {args.pvbm_images}): {pvbm:7.2f} s")
    print(f"medvit marginal time per image, --workers 1: {marginal:7.2f} s   ratio pvbm/medvit: {pvbm / marginal:5.1f}x")
    print(f"medvit start-up (1 image minus marginal):    {one - marginal:7.2f} s   (1-image command: {one:.2f} s)")
    print(f"cohort wall time, 1 worker: {all_one:6.2f} s; 2 workers: {all_two:6.2f} s "
          f"(wall-time speed-up {all_one / all_two:4.2f}x, start-up included); identical tables: {same}")
    print(f"throughput (marginal s/image): 1 worker {marginal:.2f}, 2 workers {marginal_two:.2f}; "
          f"speed-up {marginal / marginal_two:4.2f}x")
    print(f"peak memory (RSS): {peak_one_mb:.0f} MB for the 1-worker command; "
          f"{peak_two_mb:.0f} MB for the 2-worker command's main process (each worker holds one image too)")


if __name__ == "__main__":
    main()
