"""Start-up of the ``medvit`` command: wall time and peak RSS of fresh processes, median of N.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--compare OTHER_CHECKOUT] [--without ignite ...]

Timed, each in a new process under ``/usr/bin/time`` (one thread, runs interleaved so that a
busy machine slows every variant alike):

- ``medvit --help``;
- ``python -c "import monai"`` (what every bundle run pays first);
- ``medvit biomarkers DIR --out X.csv --measures pvbm --n-rotations 1`` on one photo
  (skimage's retina resized to 512², classical vessels, detected disc): the 1-photo command.

``--compare DIR``: also the same commands with another checkout first on ``PYTHONPATH`` (e.g.
main, for before/after). ``--without PKG`` (repeatable, comma-separated): also the commands with
those packages made unimportable (a ``sitecustomize`` meta-path blocker), to see what an install
without them would cost (e.g. the viewer/test extras' ``matplotlib,sklearn``, or ``ignite``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = '''import os, sys
_blocked = set(filter(None, os.environ.get("MEDVIT_BENCH_BLOCK", "").split(",")))
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, _Blocker())
'''


def write_photo(folder: Path, size: int = 512) -> None:
    import numpy as np
    import skimage.data
    import skimage.io
    import skimage.transform

    photo = skimage.transform.resize(skimage.data.retina(), (size, size), anti_aliasing=True, preserve_range=True)
    skimage.io.imsave(folder / "retina.png", photo.astype(np.uint8), check_contrast=False)


def timed(command: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: less sensitive to a busy machine) and peak RSS
    (MB) of ``command`` in a fresh process."""
    result = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *command], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    wall, user, system, rss_kb = result.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), float(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", metavar="DIR", help="another checkout to time the same commands with")
    parser.add_argument("--without", action="append", default=[], metavar="PKG[,PKG]",
                        help="also time with these packages made unimportable")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="medvit-startup-"))
    (work / "photos").mkdir()
    write_photo(work / "photos")
    (work / "block").mkdir()
    (work / "block" / "sitecustomize.py").write_text(BLOCKER)

    setups = {f"{ROOT.name}": (ROOT, "")}
    if args.compare:
        setups[f"{Path(args.compare).name}"] = (Path(args.compare).resolve(), "")
    for blocked in args.without:
        setups[f"{ROOT.name} without {blocked}"] = (ROOT, blocked)
    commands = {
        "medvit --help": ["-m", "medvit.cli", "--help"],
        "import monai": ["-c", "import monai"],
        "medvit biomarkers (1 photo)": ["-m", "medvit.cli", "biomarkers", str(work / "photos"), "--out",
                                        str(work / "out" / "biomarkers.csv"), "--measures", "pvbm",
                                        "--n-rotations", "1", "--quiet", "--restart"],
    }
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(args.runs):
        for setup, (root, blocked) in setups.items():
            env = {**os.environ, "OMP_NUM_THREADS": "1", "MEDVIT_BENCH_BLOCK": blocked,
                   "PYTHONPATH": os.pathsep.join([str(root), *([str(work / "block")] if blocked else [])])}
            for name, command in commands.items():
                results.setdefault((setup, name), []).append(timed([sys.executable, *command], env))
    print(f"median of {args.runs} fresh processes, one thread; load average {os.getloadavg()[0]:.1f} at the end")
    for (setup, name), runs in results.items():
        wall, cpu, rss = (statistics.median(values) for values in zip(*runs))
        print(f"{setup:<48} {name:<28} wall {wall:5.2f} s (min {min(w for w, _, _ in runs):.2f})  "
              f"CPU {cpu:5.2f} s  peak RSS {rss:4.0f} MB")


if __name__ == "__main__":
    main()
