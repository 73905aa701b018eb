"""Case functions for tests/test_batch.py: top-level, so worker processes can import them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medvit.batch.worker import with_measured
from medvit.errors import MedvitError
from medvit.io.photo import read_photo


def _log_call(calls: str | None, path: str) -> None:
    # One line per call, appended with O_APPEND: safe from several worker processes.
    if calls:
        fd = os.open(calls, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{Path(path).name}\n".encode())
        finally:
            os.close(fd)


def image_stats(path: str, threshold: int = 128, calls: str | None = None) -> dict:
    """Size, mean grey level and the fraction of pixels above ``threshold`` of a photo."""
    _log_call(calls, path)
    array, _ = read_photo(path)
    grey = array.mean(axis=-1) if array.ndim == 3 else array.astype(float)
    return {
        "width": array.shape[0],
        "height": array.shape[1],
        "mean": np.round(grey.mean(), 6),  # a numpy scalar: the runner converts it
        "above": round(float((grey > threshold).mean()), 6),
        "colour": array.ndim == 3,
    }


def stats_or_exit(path: str, crash_flag: str, crash_on: str, calls: str | None = None) -> dict:
    """``image_stats``, but the process dies on ``crash_on`` while ``crash_flag`` exists."""
    if Path(path).name == crash_on and os.path.exists(crash_flag):
        os._exit(3)  # no cleanup, no exception: as a segfault or the OOM killer would
    return image_stats(path, calls=calls)


def stats_or_refuse(path: str, darker_than: float) -> dict:
    """``image_stats`` and a ``grade``; a photo darker than ``darker_than`` is refused, its error
    carrying what was measured before (the mean, as a numpy scalar, and the grade)."""
    stats = image_stats(path)
    if stats["mean"] < darker_than:
        error = MedvitError(f"{path}: too dark to measure (mean {stats['mean']:.1f})")
        raise with_measured(error, {"mean": stats["mean"], "grade": "reject"})
    return {**stats, "grade": "good"}


def bad_result(path: str, kind: str) -> dict:
    """Returns what a case function must not."""
    if kind == "array":
        return {"pixels": np.zeros(3)}
    if kind == "reserved":
        return {"status": "fine"}
    if kind == "list":
        return [1, 2]
    return {"value": 1}


def thread_settings(path: str) -> dict:
    """The thread-count variables the worker running this case sees."""
    return {"omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}


def slow_digest(path: str, seconds: float = 0.4) -> dict:
    """The sha256 of a file's bytes, taking ``seconds``: a case long enough to be killed mid-run."""
    import hashlib
    import time

    time.sleep(seconds)
    return {"digest": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]}


def run_slow_cohort(folder: str, out_csv: str, workers: int) -> int:
    """A cohort run of :func:`slow_digest` as a command would do it: Ctrl-C / SIGTERM exit 128 + signal."""
    import signal

    from medvit.batch import run_cohort

    try:
        run_cohort(sorted(Path(folder).iterdir()), slow_digest, out_csv, workers=workers, progress=False)
    except KeyboardInterrupt as err:
        return 128 + getattr(err, "signum", signal.SIGINT)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(run_slow_cohort(sys.argv[1], sys.argv[2], int(sys.argv[3])))
