"""A summary table of a cohort table's numeric columns (mean, standard deviation, count)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np


def write_summary(table, path: Path, columns) -> None:
    """Mean, standard deviation and count of each of ``columns`` over the ok rows, atomically."""
    from medvit.io.atomic import atomic_path

    ok = table[table["status"] == "ok"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["metric", "mean", "std", "n"])
            for column in columns:
                values = ok[column].astype(float).to_numpy() if column in ok else np.zeros(0)
                values = values[~np.isnan(values)]
                if values.size:
                    writer.writerow([column, f"{values.mean():.6g}", f"{values.std(ddof=1) if values.size > 1 else math.nan:.6g}", values.size])
