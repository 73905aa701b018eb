"""Which series of a BraTS case folder are T1, T1ce, T2 and FLAIR.

By default NIfTI files named as BraTS names them (``<case>_t1.nii.gz``), else DICOM series
whose SeriesDescription matches; both are the user's to change (hospital protocols name
series in their own ways): ``file_patterns`` / ``descriptions`` in the bundle's config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from medvit.io.cases import SeriesRef, find_case_series

BRATS_SERIES = ("t1", "t1ce", "t2", "flair")
BRATS_FILE_PATTERNS = {name: [f"*_{name}.nii.gz", f"*_{name}.nii"] for name in BRATS_SERIES}
_CONTRAST = r"(ce|gd|gad|post|\+c|c\+|contrast)"
# Case-insensitive regular expressions on SeriesDescription, searched anywhere in it.
BRATS_DESCRIPTIONS = {
    "t1": rf"^(?!.*{_CONTRAST}).*t1",
    "t1ce": rf"t1.*{_CONTRAST}|{_CONTRAST}.*t1",
    "t2": r"^(?!.*flair).*t2",
    "flair": r"flair",
}


def find_brats_series(case_dir: str | os.PathLike, file_patterns: Mapping[str, Sequence[str]] | None = None,
                      descriptions: Mapping[str, str] | None = None) -> dict[str, SeriesRef]:
    """The four series of a case, BraTS naming and descriptions overridden by the given ones
    (see :func:`medvit.io.cases.find_case_series`)."""
    return find_case_series(case_dir, BRATS_SERIES, {**BRATS_FILE_PATTERNS, **(file_patterns or {})},
                            {**BRATS_DESCRIPTIONS, **(descriptions or {})})
