"""Finding the series of a multi-series case (e.g. BraTS's T1, T1ce, T2, FLAIR) in a folder.

A case is a folder. Each named series is a NIfTI file matched by a file-name pattern or, failing that, a DICOM series in the folder (any
depth) matched by its SeriesDescription. Patterns and descriptions are the user's to change:
hospital protocols name series in their own ways.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from medvit.errors import MedvitError

@dataclass(frozen=True)
class SeriesRef:
    """Where one series of a case is: a NIfTI file, or a DICOM folder and the series' UID."""

    path: Path
    series_uid: str | None = None

    def __str__(self) -> str:
        return f"{self.path} (series {self.series_uid})" if self.series_uid else str(self.path)


def list_cases(dataset_dir: str | os.PathLike) -> list[Path]:
    """The case folders of a dataset: its sub-folders, sorted by name (hidden ones skipped)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise MedvitError(f"{root}: not a folder of cases")
    cases = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise MedvitError(f"{root}: no case folders in it (one folder per case, holding its series)")
    return cases


def find_case_series(
    case_dir: str | os.PathLike,
    names: Sequence[str],
    file_patterns: Mapping[str, Sequence[str]],
    descriptions: Mapping[str, str],
) -> dict[str, SeriesRef]:
    """Locate each named series of a case.

    Args:
        case_dir: the case folder.
        names: the series to find, in the order wanted.
        file_patterns: name → glob patterns for NIfTI files in ``case_dir``.
        descriptions: name → regular expression on DICOM SeriesDescription (case-insensitive);
            a name without one matches descriptions containing it.

    Returns:
        name → :class:`SeriesRef`, in ``names`` order.

    Raises:
        MedvitError: a series matched by nothing, or by several files / series (naming them).
    """
    case = Path(case_dir)
    found: dict[str, SeriesRef] = {}
    for name in names:
        files = sorted({p for pattern in file_patterns.get(name, ()) for p in case.glob(pattern) if p.is_file()})
        if len(files) > 1:
            raise MedvitError(f"{case.name}: several files match the {name} series: {', '.join(p.name for p in files)}")
        if files:
            found[name] = SeriesRef(files[0])
    missing = [name for name in names if name not in found]
    if missing:
        found.update(_dicom_series(case, missing, descriptions))
    return {name: found[name] for name in names}


def _dicom_series(case: Path, names: Sequence[str], descriptions: Mapping[str, str]) -> dict[str, SeriesRef]:
    from medvit.io.dicom_series import list_series

    try:
        series = list_series(case)
    except MedvitError:  # no DICOM file at all: every wanted series is then missing
        series = []
    found = {}
    for name in names:
        pattern = re.compile(descriptions.get(name, re.escape(name)), re.IGNORECASE)
        matches = [s for s in series if pattern.search(s.description or "")]
        listed = "; ".join(f"'{s.description}' ({len(s.slices)} slices)" for s in series) or "none"
        if not matches:
            raise MedvitError(f"{case.name}: no {name} series (no NIfTI file matching the pattern, "
                              f"no DICOM series described like /{pattern.pattern}/; DICOM series found: {listed})")
        if len(matches) > 1:
            raise MedvitError(f"{case.name}: several DICOM series could be {name}: "
                              + "; ".join(f"'{s.description}' {s.uid}" for s in matches))
        found[name] = SeriesRef(case, matches[0].uid)
    return found
