"""A summary table of a cohort table's numeric columns (mean, standard deviation, count)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_summary(table, path: Path, columns, by: Sequence[str] = ()) -> None:
    """Mean, standard deviation and count of each of ``columns`` over the ok rows, atomically.

    Args:
        by: columns to group the rows by first (one summary row per group and metric,
            the group's values leading); none: the whole table.
    """
    from medvit.io.atomic import atomic_path

    ok = table[table["status"] == "ok"]
    groups = ok.groupby(list(by), sort=True) if by else [((), ok)]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([*by, "metric", "mean", "std", "n"])
            for key, rows in groups:
                key = key if isinstance(key, tuple) else (key,)
                for column in columns:
                    values = rows[column].astype(float).to_numpy() if column in rows else np.zeros(0)
                    values = values[~np.isnan(values)]
                    if values.size:
                        std = values.std(ddof=1) if values.size > 1 else math.nan
                        writer.writerow([*key, column, f"{values.mean():.6g}", f"{std:.6g}", values.size])
