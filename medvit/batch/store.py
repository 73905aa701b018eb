"""Where a cohort's results live: the CSV, the journal, the id mapping and the provenance sidecar.

For ``out_csv = "cohort.csv"``:

- ``cohort.csv``: the table, one row per case, sorted by id; only ever replaced whole
  (:func:`medvit.io.atomic_path`), so it is a valid table at every moment.
- ``cohort.journal.jsonl``: one JSON line per finished case, appended and fsync'd as each case
  finishes, so a kill loses only the cases in flight. It exists while a run is going or after
  one was stopped; a finished run folds it into the CSV and deletes it.
- ``cohort.ids.csv``: anonymous id -> case name (only with ``anonymise``); sensitive, keep it
  apart from the table you share.
- ``cohort.provenance.json``: what produced the table (see ``runner.run_cohort``).

A record (a journal line, or a CSV row read back) is a dict with ``image``, ``status``,
``error``, ``settings_hash``, ``input_hash`` and ``result`` (column -> value); journal
lines also carry ``seconds`` and ``finished`` (UTC time). Values read from the CSV are
strings, written back unchanged.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medvit.errors import MedvitError
from medvit.io.atomic import atomic_path, atomic_write_text

try:  # POSIX: lock the journal so two runs never write the same cohort
    import fcntl
except ImportError:  # Windows: no lock; do not run two runs on one out_csv
    fcntl = None

log = logging.getLogger("medvit.batch")

BOOKKEEPING = ("image", "status", "error")
PROVENANCE_COLUMNS = ("settings_hash", "input_hash")
_REQUIRED = ("image", "status", "settings_hash", "input_hash")


@dataclass(frozen=True)
class CohortFiles:
    """The files of one cohort run, all beside the CSV and named after it."""

    csv: Path
    journal: Path
    ids: Path
    provenance: Path


def cohort_files(out_csv: str | os.PathLike) -> CohortFiles:
    """The journal, id-mapping and provenance paths that go with ``out_csv``."""
    out = Path(out_csv)
    stem = out.name[:-4] if out.name.lower().endswith(".csv") else out.name
    return CohortFiles(
        csv=out,
        journal=out.with_name(f"{stem}.journal.jsonl"),
        ids=out.with_name(f"{stem}.ids.csv"),
        provenance=out.with_name(f"{stem}.provenance.json"),
    )


# -- the table ---------------------------------------------------------------------------------


def read_table(path: Path) -> dict[str, dict]:
    """Records (id -> record) of an existing cohort CSV; ``{}`` if there is none.

    Raises:
        MedvitError: the file is not a table this runner wrote (so it is not overwritten
            by accident; pass ``resume=False`` to replace it).
    """
    if not path.exists():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            missing = [col for col in _REQUIRED if col not in header]
            if missing:
                raise MedvitError(
                    f"{path} exists but is not a medvit cohort table (no column {', '.join(missing)}); "
                    "move it away or pass resume=False to replace it"
                )
            result_cols = [c for c in header if c not in BOOKKEEPING and c not in PROVENANCE_COLUMNS]
            records = {}
            for row in reader:
                records[row["image"]] = {
                    "image": row["image"],
                    "status": row["status"],
                    "error": row.get("error") or "",
                    "settings_hash": row["settings_hash"],
                    "input_hash": row["input_hash"],
                    # an error row keeps what its case measured before failing (written back as is)
                    "result": {c: row.get(c) or "" for c in result_cols},
                }
    except (csv.Error, UnicodeDecodeError) as err:
        raise MedvitError(f"{path} is not a readable CSV ({err}); move it away or pass resume=False") from None
    return records


def result_columns(records: Sequence[Mapping], columns: Sequence[str] | None = None) -> list[str]:
    """The result columns in table order.

    ``columns`` if given; otherwise the keys of the first ok record (records in id order),
    then keys only later records have, in the order they first appear: ok records first, then
    the error records (what those measured before failing).
    """
    if columns is not None:
        return list(columns)
    order: dict[str, None] = {}
    for ok in (True, False):
        for record in records:
            if (record["status"] == "ok") == ok:
                order.update(dict.fromkeys(record["result"]))
    return list(order)


def write_table(path: Path, records: Sequence[Mapping], columns: Sequence[str]) -> None:
    """Replace the CSV atomically: ``image, status, error``, ``columns``, ``settings_hash, input_hash``.

    ``records`` must already be in id order. A result value missing from a record, ``None``
    or NaN is an empty cell; other values are written as ``str(value)``, so integers stay
    integers even in a column with empty cells.
    """
    header = [*BOOKKEEPING, *columns, *PROVENANCE_COLUMNS]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            for rec in records:
                result = rec["result"]
                writer.writerow(
                    [rec["image"], rec["status"], rec["error"]]
                    + [_cell(result.get(col)) for col in columns]
                    + [rec["settings_hash"], rec["input_hash"]]
                )
            # Contents on disk before the rename, or a power cut can leave an empty file.
            fh.flush()
            os.fsync(fh.fileno())


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


# -- the journal -------------------------------------------------------------------------------


class Journal:
    """Append-only log of finished cases, one JSON object per line, locked while open.

    Opening it takes an exclusive lock (POSIX), reads the records already there and cuts
    off a last line without its newline: a record half-written when the process was
    killed. That case then counts as not done, and later appends start on a fresh line.

    Args:
        path: the journal file (created if missing).
        reset: start empty (``resume=False``), discarding earlier records.
    """

    def __init__(self, path: Path, reset: bool = False):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._lock()
            if reset:
                os.ftruncate(self._fd, 0)
            self.records = self._load()
        except BaseException:
            os.close(self._fd)
            raise

    def _lock(self) -> None:
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MedvitError(
                f"another run is writing this cohort ({self.path} is locked); wait for it or use another out_csv"
            ) from None

    def _load(self) -> list[dict]:
        data = self.path.read_bytes()
        whole = data.rfind(b"\n") + 1
        if whole < len(data):
            log.warning("%s: dropping an incomplete last line (a run was killed while writing it)", self.path)
            os.ftruncate(self._fd, whole)
        records = []
        for number, line in enumerate(data[:whole].splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                valid = isinstance(record, dict) and all(isinstance(record.get(k), str) for k in _REQUIRED)
            except ValueError:
                valid = False
            if not valid:
                log.warning("%s line %d is not a case record; ignored", self.path, number)
                continue
            record.setdefault("error", "")
            record.setdefault("result", {})
            records.append(record)
        return records

    def append(self, record: Mapping) -> None:
        """Add one record and fsync: once this returns, the case survives a kill."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def close(self, remove: bool = False) -> None:
        """Release the lock; ``remove``: delete the file first (its records are in the CSV)."""
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


# -- side files --------------------------------------------------------------------------------


def read_ids(path: Path) -> dict[str, str]:
    """name -> anonymous id from a mapping file; ``{}`` if there is none."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["name"]: row["image"] for row in csv.DictReader(fh)}


def write_ids(path: Path, mapping: Mapping[str, str]) -> None:
    """Write the mapping atomically as ``image,name`` (anonymous id, case name), sorted by id."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["image", "name"])
            writer.writerows(sorted((anon, name) for name, anon in mapping.items()))


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def remove_stale_temporaries(files: CohortFiles) -> None:
    """Delete temporary files a killed run left beside the cohort's files.

    ``atomic_path`` names them ``.<name>.<pid>.<random>.tmp<suffix>``; a kill during a write
    leaves one behind. Call only while holding the journal's lock: then no other run of this
    cohort is writing, so every such file is stale.
    """
    for target in (files.csv, files.ids, files.provenance):
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp*"):
            stale.unlink(missing_ok=True)


def merge(*sources: Iterable[Mapping]) -> dict[str, dict]:
    """id -> record, a later record for an id replacing an earlier one."""
    merged: dict[str, dict] = {}
    for source in sources:
        for record in source:
            merged[record["image"]] = dict(record)
    return merged
