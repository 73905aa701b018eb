"""The quality-control columns of a bundle's table as the viewer shows them: which they are, the
warnings a row carries, and each measure with its unit and the range the method expects.

The bundles write their QC beside the results (issue 16, item 4): ``qc_flags`` (text, flags
joined by "; ") and measures named ``qc_*`` (BraTS: head volume, share of the segmentation
outside the head; PVBM: the fundus photo's field of view and colour measures); a confidence
column (``*_confidence``) is shown with them. Columns this module does not know are shown by
their name, so a new measure appears without a change here.
"""

from __future__ import annotations

import math

import pandas as pd

from medvit.brats import qc as brats_qc
from medvit.pvbm import quality as fundus_qc

FLAGS = "qc_flags"
FLAG_SEPARATOR = "; "
NOT_FUNDUS = "not a fundus photograph"  # how the PVBM bundle's error row for such a photo begins
# known measures: column → (what it is, unit, the range the method expects or "")
MEASURES = {
    "qc_head_ml": ("head (or brain mask) volume", "mL", ""),
    "qc_outside_head_fraction": ("share of the segmentation outside the head", "%",
                                 f"≤ {brats_qc.MAX_OUTSIDE_HEAD_FRACTION:.0%}"),
    "qc_fov_fraction": ("field of view's share", "%", "> 0%"),
    "qc_fov_solidity": ("field of view solidity", "ratio", f"≥ {fundus_qc.MIN_FOV_SOLIDITY}"),
    "qc_surround_brightness": ("surround / field brightness", "ratio",
                               f"≤ {fundus_qc.MAX_SURROUND_BRIGHTNESS}"),
    "qc_red_share": ("red share of mean colour", "ratio", f"≥ {fundus_qc.MIN_RED_SHARE}"),
    "qc_blue_share": ("blue share of mean colour", "ratio", f"≤ {fundus_qc.MAX_BLUE_SHARE}"),
}


def is_qc_column(name: str) -> bool:
    """A QC column: ``qc_*``, or a confidence the method gives its result (``*_confidence``)."""
    return name.startswith("qc_") or name.endswith("_confidence")


def qc_columns(columns) -> list[str]:
    """The QC columns among ``columns``, in their order, ``qc_flags`` first."""
    found = [c for c in columns if is_qc_column(str(c))]
    return sorted(found, key=lambda c: c != FLAGS)


def flags_of(value) -> list[str]:
    """The flags in a ``qc_flags`` cell (text joined by "; "; empty or NaN: none)."""
    if not isinstance(value, str):
        return []
    return [flag.strip() for flag in value.split(FLAG_SEPARATOR) if flag.strip()]


def flagged(table: pd.DataFrame) -> pd.Series:
    """(rows,) bool: the rows whose ``qc_flags`` hold a flag (all False without that column)."""
    if FLAGS not in table.columns:
        return pd.Series(False, index=table.index)
    return table[FLAGS].map(lambda value: bool(flags_of(value)))


def format_measure(name: str, value) -> str:
    """A measure as the QC table shows it: fractions in %, other numbers to 4 significant digits."""
    if value is None or isinstance(value, str) and not value.strip():
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "not measured"
    if name.endswith("_fraction"):
        return f"{number:.1%}"
    return f"{number:.4g}"


def qc_measures(row) -> pd.DataFrame:
    """The QC measures of a row (a mapping or pandas Series): one line per ``qc_*`` / confidence
    column other than ``qc_flags``, columns measure, value, unit, expected, column."""
    lines = []
    for name in qc_columns(list(row.keys())):
        if name == FLAGS:
            continue
        label, unit, expected = MEASURES.get(name, (name.removeprefix("qc_").replace("_", " "), "", ""))
        lines.append({"measure": label, "value": format_measure(name, row[name]), "unit": unit,
                      "expected": expected, "column": name})
    return pd.DataFrame(lines, columns=["measure", "value", "unit", "expected", "column"])


def refused_as_not_fundus(error) -> bool:
    """Whether a PVBM error row is the bundle refusing a photo as not a fundus photograph (its
    reasons are measured again on the page: the error text joins them with "; ", which the
    reasons themselves contain)."""
    return isinstance(error, str) and f": {NOT_FUNDUS}" in error
