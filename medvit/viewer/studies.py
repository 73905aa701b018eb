"""Opening a study: a bundle's output folder, a cohort CSV, or an uploaded file.

Uploads are written to a private folder (names sanitised, zip archives extracted safely),
then read through :func:`medvit.io.read_image` like any other path, so the viewer has no
reader of its own. Every failure is a :class:`medvit.errors.MedvitError` naming the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from medvit.errors import MedvitError
from medvit.io import atomic_write_bytes, read_image
from medvit.io.dicom_series import choose_series, list_series

# name of each bundle's cohort table → the viewer page that shows its cases
OUTPUT_TABLES = {
    "volumes.csv": "volume",
    "biomarkers.csv": "fundus",
    "predictions.csv": "cxr",
}
COHORT_COLUMNS = ("image", "status", "error")
NO_STATUS = "(no status)"  # what a row whose status cell is empty is called
# what each case page reads from its bundle's table besides the cohort columns
PAGE_COLUMNS = {
    "volume": ("segmentation", "wt_ml", "tc_ml", "et_ml", "ncr_ml", "ed_ml", "spacing_mm", "qc_flags"),
    "fundus": (),
    "cxr": ("top_finding", "saliency"),
}
MAX_ZIP_FILES = 5000
MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed total: a DICOM series zip is far below, a zip bomb is not


MAX_NAME = 100  # characters of an upload's file name kept (file systems allow 255 bytes)


def safe_name(name: str) -> str:
    """A file name from an upload's name: no folders, only harmless characters, at most
    :data:`MAX_NAME` long (the suffix kept), never empty."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".")
    if len(base) > MAX_NAME:
        suffix = "".join(Path(base).suffixes)[-20:]
        base = base[: MAX_NAME - len(suffix)] + suffix
    return base or "upload"


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, max_files: int = MAX_ZIP_FILES,
                 max_bytes: int = MAX_ZIP_BYTES) -> Path:
    """Extract a zip into ``dest`` refusing anything that would land outside it.

    Raises:
        MedvitError: not a zip, absolute or ``..`` member paths, links, too many files or bytes.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise MedvitError(f"{archive.name}: not a readable zip archive ({error})") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > max_files:
            raise MedvitError(f"{archive.name}: {len(members)} files, more than the {max_files} the viewer opens")
        if sum(m.file_size for m in members) > max_bytes:
            total = sum(m.file_size for m in members)
            raise MedvitError(f"{archive.name}: expands to {total / 1024**2:,.0f} MB, more than the "
                              f"{max_bytes / 1024**2:,.0f} MB an upload may take here")
        root = dest.resolve()
        for member in members:
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise MedvitError(f"{archive.name}: holds a symbolic link ({member.filename}); refused")
            target = (root / member.filename).resolve()
            if member.filename.startswith(("/", "\\")) or root not in target.parents:
                raise MedvitError(f"{archive.name}: member {member.filename!r} would be written outside the folder; refused")
        # extracted beside the destination, renamed into place when whole: a damaged member
        # (bad CRC) leaves nothing behind
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            for member in members:
                target = partial / member.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise MedvitError(f"{archive.name}: a damaged zip archive ({error})") from None
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    return root


def save_upload(name: str, data: bytes, dest_dir: str | os.PathLike, max_bytes: int = MAX_ZIP_BYTES) -> Path:
    """Write an uploaded file under ``dest_dir``; a zip is extracted and its folder returned.

    The result is what :func:`medvit.io.read_image` opens: a NIfTI / DICOM / photo file, or a
    folder holding a DICOM series (a zip holding one single image file gives that file).
    """
    if not data:
        raise MedvitError(f"{name}: the upload is empty")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = atomic_write_bytes(dest / safe_name(name), data)
    if not zipfile.is_zipfile(path):
        return path
    try:
        folder = safe_extract(path, dest / (path.stem + "_files"), max_bytes=max_bytes)
    finally:
        path.unlink()
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if not files:
        raise MedvitError(f"{name}: the zip holds no files")
    return files[0] if len(files) == 1 else folder


def upload_title(name: str, path: str | os.PathLike) -> str:
    """What an upload is called on its page: the file's name; a zip extracted to a folder (a
    DICOM series) by the zip's name, not the folder's (``<stem>_files``, made up here). Its
    series are labelled by their SeriesDescription where the page lists them.

    Args:
        name: the uploaded file's name, as the browser sent it.
        path: what :func:`save_upload` returned for it.
    """
    path = Path(path)
    return safe_name(name) if path.is_dir() else path.name


@dataclass
class Study:
    """An image opened for viewing: the array (spatial axes first, channels last when any),
    its metadata (MONAI's layout), and where it came from."""

    path: Path
    array: np.ndarray
    meta: dict
    label: str = ""

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "")

    @property
    def is_dicom(self) -> bool:
        return self.kind.startswith("dicom")


def open_image(path: str | os.PathLike, label: str = "") -> Study:
    """Read ``path`` with :func:`medvit.io.read_image` (any format medvit reads)."""
    array, meta = read_image(path)
    return Study(Path(path), array, meta, label or Path(path).name)


def open_upload(name: str, data: bytes, dest_dir: str | os.PathLike) -> Study:
    """Save an upload (see :func:`save_upload`) and read it."""
    return open_image(save_upload(name, data, dest_dir), label=name)


@dataclass
class OutputFolder:
    """A bundle run's output: its cohort table, which page shows its cases, its provenance."""

    folder: Path
    table_path: Path
    page: str
    table: object  # pandas DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def settings(self) -> dict:
        return self.provenance.get("settings", {})

    @property
    def dataset_dir(self) -> str | None:
        """The folder the run read its inputs from, as its provenance records it."""
        # runs of a bundle's config record it in the provenance and the config (medvit.bundle.workflow.Cohort)
        return (self.provenance.get("provenance", {}).get("dataset_dir")
                or self.settings.get("config", {}).get("dataset_dir") or self.settings.get("dataset_dir"))

    def failed(self):
        return self.table[self.table["status"] != "ok"]


def find_output_table(folder: str | os.PathLike) -> Path:
    """The cohort table of a bundle's output folder (in it or one level down)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MedvitError(f"{folder}: no such folder")
    for depth in ("", "*/"):
        for name in OUTPUT_TABLES:
            found = sorted(folder.glob(depth + name))
            if found:
                return found[0]
    raise MedvitError(f"{folder}: not the output of a medvit bundle (no {', '.join(OUTPUT_TABLES)} in it)")


def read_cohort_table(path: str | os.PathLike, required: tuple[str, ...] = ("image", "status")):
    """A cohort CSV as a DataFrame (numbers as numbers), checked for the columns it needs."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"image": str, "status": str, "error": str}, keep_default_na=True)
    except FileNotFoundError:
        raise MedvitError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise MedvitError(f"{path}: not a readable CSV table ({str(error).splitlines()[0]})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise MedvitError(f"{path}: missing column(s) {', '.join(missing)} (a medvit cohort table has "
                          f"{', '.join(COHORT_COLUMNS)} then its results)")
    if "error" not in table.columns:
        table["error"] = ""
    table["error"] = table["error"].fillna("")
    # a row without a status is one of its own kind: filters offer it, counts take it as not ok
    table["status"] = table["status"].fillna("").str.strip().replace("", NO_STATUS)
    return table


def open_output(folder: str | os.PathLike, expect: str | None = None) -> OutputFolder:
    """Open a bundle's output folder; ``expect`` names the page that must show it."""
    table_path = find_output_table(folder)
    page = OUTPUT_TABLES[table_path.name]
    if expect and page != expect:
        wanted = [name for name, p in OUTPUT_TABLES.items() if p == expect]
        raise MedvitError(f"{folder}: holds {table_path.name}, the output of another bundle "
                          f"(this page shows folders with {', '.join(wanted)})")
    provenance_path = table_path.with_name(table_path.stem + ".provenance.json")
    provenance = {}
    if provenance_path.is_file():
        try:
            provenance = json.loads(provenance_path.read_text())
        except ValueError:
            provenance = {}
    table = read_cohort_table(table_path, required=("image", "status", *PAGE_COLUMNS[page]))
    return OutputFolder(Path(folder), table_path, page, table, provenance)


def locate_input(output: OutputFolder, image: str, root: str | os.PathLike | None = None) -> Path | None:
    """Where a row's input (``image`` is its id: a name or a path relative to the dataset) is,
    when it can be found: under ``root``, the run's recorded dataset folder, or a folder beside
    the output folder (as ``medvit demo`` lays them out)."""
    parent = output.table_path.parent
    roots = [root, output.settings.get("root"), output.dataset_dir]
    # beside the output folder (never inside it: results are filed under the cases' names too)
    roots += sorted(p for p in parent.parent.iterdir() if p.is_dir() and p != parent)
    for base in roots:
        if base and (Path(base) / image).exists():
            return Path(base) / image
    return None


def numeric_columns(table) -> list[str]:
    """Result columns holding numbers (not the bookkeeping ones)."""
    skip = {"settings_hash", "input_hash"}
    return [c for c in table.columns if c not in skip and table[c].dtype.kind in "if" and table[c].notna().any()]


def group_columns(table, max_groups: int = 12) -> list[str]:
    """Columns that split a cohort into a few groups (text or small integer codes)."""
    skip = {"image", "error", "settings_hash", "input_hash", "segmentation", "dicom_seg", "saliency"}
    columns = []
    for c in table.columns:
        if c in skip:
            continue
        values = table[c].dropna()
        if 1 < values.nunique() <= max_groups and (values.dtype.kind in "Ob" or values.dtype.kind in "iu"):
            columns.append(c)
    return columns


def dicom_tags(path: str | os.PathLike, series_uid: str | None = None, limit: int = 400) -> list[dict]:
    """The header of a DICOM file (or of the first file of a series in a folder), as rows
    ``{"tag", "keyword", "value"}`` without pixel data, for the viewer's tag panel."""
    path = Path(path)
    if path.is_dir():  # the series as medvit.io reads it (same UID matching, DICOMDIR / non-image files skipped)
        path = choose_series(path, list_series(path), series_uid).slices[0].path
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError) as error:
        raise MedvitError(f"{path}: not a readable DICOM file ({error})") from None
    rows = []
    for element in ds.iterall():
        if element.VR in ("SQ", "OB", "OW", "OF", "UN"):
            continue
        value = str(element.value)
        rows.append({"tag": f"({element.tag.group:04X},{element.tag.element:04X})", "keyword": element.keyword,
                     "value": value if len(value) <= 120 else value[:117] + "..."})
        if len(rows) >= limit:
            break
    return rows

