"""``run_cohort``: run a per-case function over a cohort, one CSV row per case, resumable."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medvit.batch import executors, store
from medvit.batch.executors import Case
from medvit.batch.ids import anonymise_ids, canonical_json, case_ids, function_name, input_hash, settings_hash
from medvit.batch.progress import ProgressLog, is_terminal, skipped_line
from medvit.batch.worker import RESERVED
from medvit.errors import MedvitError

if TYPE_CHECKING:
    import pandas as pd

# How often the CSV is rewritten from the journal during a run. The journal already makes
# every finished case durable; this only bounds how stale the CSV a reader sees can be.
CHECKPOINT_SECONDS = 30.0


def run_cohort(
    inputs: Sequence[str | os.PathLike],
    case_fn: Callable[..., Mapping[str, Any]],
    out_csv: str | os.PathLike,
    settings: Mapping[str, Any] | None = None,
    *,
    columns: Sequence[str] | None = None,
    workers: int = 1,
    scheduler: Any = None,
    case_id: str | Callable[[Path], str] = "name",
    root: str | os.PathLike | None = None,
    anonymise: bool | str = False,
    resume: bool = True,
    progress: bool = True,
    provenance: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``case_fn(path, **settings)`` on every input and write one CSV row per case.

    Args:
        inputs: files or folders (a DICOM series), one case each.
        case_fn: returns a dict column -> scalar (number, string, bool, None) for one
            input. For ``workers > 1`` or ``scheduler`` it must be a top-level function
            of an importable module (it is pickled by name). Whatever it raises becomes
            that case's error row; the run goes on. The row keeps the columns measured
            before the failure that the exception carries
            (:func:`medvit.batch.worker.with_measured`).
        out_csv: the table. Beside it: ``<stem>.journal.jsonl`` while running,
            ``<stem>.provenance.json``, and ``<stem>.ids.csv`` when anonymising.
        settings: keyword arguments for ``case_fn``; JSON-serialisable, since their
            fingerprint decides what a re-run may reuse.
        columns: the result columns, in order; other keys the case returns are not
            written, missing ones are empty. Default: the keys of the first ok row in id
            order, then any further keys other rows have.
        workers: 1 runs in this process; more runs a process pool of that many spawned
            processes with one compute thread each. Ignored with ``scheduler``.
        scheduler: a Dask scheduler address (``"tcp://host:port"``, ``"tls://..."``) or a
            ``distributed.Client``: run the cases on that cluster.
        case_id: how a case is named in the table (see :func:`medvit.batch.case_ids`):
            ``"name"``, ``"stem"``, ``"relative"`` (to ``root``) or a function of the path.
            Never read from file headers.
        root: the folder ``"relative"`` ids start from (default: the inputs' common folder).
        anonymise: ``False``; a salt string: ids are ``sha256(salt + id)[:16]``; or
            ``True``: random ids. Either way the mapping (id -> name) is written to
            ``<stem>.ids.csv``, and error messages have the input's path replaced by the
            id (what the case function returns is its own responsibility).
        resume: reuse rows of an earlier run on the same ``out_csv``: an ``ok`` row is
            kept if its ``settings_hash`` and ``input_hash`` match this run; error rows,
            and rows of changed inputs or other settings, are redone. ``False``: start over.
        progress: show a tqdm progress bar on a terminal, or else log a line every few cases
            and at the end (:mod:`medvit.batch.progress`); and say how many cases a resumed
            run skipped as done.
        provenance: extra facts that define the method (e.g. bundle name and version):
            written to the sidecar and part of the settings fingerprint.

    Returns:
        The table as written: one row per input, sorted by ``image``; columns ``image,
        status, error``, the result columns, ``settings_hash, input_hash``.

    Raises:
        MedvitError: no inputs, duplicate case ids, settings that are not JSON, a
            ``case_fn`` that cannot be sent to workers, an ``out_csv`` that is not a cohort
            table (with ``resume=True``), or another run holding the same ``out_csv``.
    """
    import pandas as pd

    settings = dict(settings or {})
    paths = [os.fspath(p) for p in inputs]
    _check_arguments(paths, case_fn, settings, columns, workers, scheduler)
    fingerprint = settings_hash(settings, case_fn, provenance)  # also checks they are JSON
    names = case_ids(paths, case_id, root)
    files = store.cohort_files(out_csv)
    started = _now()

    # The journal's lock is taken first: nothing below may race another run on this cohort.
    journal = store.Journal(files.journal, reset=not resume)
    run = None
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(interrupt_on_sigterm())
        store.remove_stale_temporaries(files)
        if anonymise:
            mapping = anonymise_ids(names, anonymise, store.read_ids(files.ids) if resume else None)
            # Written before any row uses the ids, so no id in the table lacks its name.
            store.write_ids(files.ids, mapping)
            ids = [mapping[name] for name in names]
        else:
            ids = names
        previous = store.merge(store.read_table(files.csv).values(), journal.records) if resume else {}
        run = _Run(files, journal, fingerprint, columns, previous, anonymise=bool(anonymise))
        cases = sorted(map(Case, ids, paths, _hash_inputs(paths)))
        todo = [case for case in cases if not run.up_to_date(case)]
        run.start(cases, skipped=len(cases) - len(todo))
        if progress and run.skipped:
            print(skipped_line(run.skipped, len(cases)), file=sys.stderr, flush=True)

        with _progress(len(cases), len(todo), progress) as bar:
            run.bar = bar
            if todo and scheduler is not None:
                executors.run_on_dask(todo, case_fn, settings, run.done, scheduler)
            elif todo and workers > 1:
                executors.run_in_pool(todo, case_fn, settings, run.done, min(workers, len(todo)))
            elif todo:
                executors.run_in_process(todo, case_fn, settings, run.done)
        run.complete = True
    finally:
        stack.close()  # a second SIGTERM now ends the process at once: every file is written atomically
        if run is not None and run.started:
            # Also when interrupted: the table then holds everything finished so far.
            run.write_table()
            _write_provenance(files, run, started, case_fn, settings, provenance, workers, scheduler)
        # After a complete run the journal's records are all in the table. After an
        # interruption it is kept (its records may be newer than the table); an empty one
        # is not worth keeping.
        has_records = bool(journal.records) or (run is not None and run.computed > 0)
        journal.close(remove=(run is not None and run.complete) or not has_records)

    table = pd.read_csv(files.csv, dtype={c: str for c in (*store.BOOKKEEPING, *store.PROVENANCE_COLUMNS)})
    table["error"] = table["error"].fillna("")
    return table


class CohortInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM; SIGINT is Python's own KeyboardInterrupt):
    the rows finished so far and the provenance are written; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def interrupt_on_sigterm():
    """While a run lasts, SIGTERM (what ``kill``, schedulers and containers send) ends it the way
    Ctrl-C does: in-flight cases are stopped, the table and provenance are written, then
    :class:`CohortInterrupted` propagates. Only possible in the main thread; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise CohortInterrupted(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_arguments(paths, case_fn, settings, columns, workers, scheduler) -> None:
    if not paths:
        raise MedvitError("no inputs to run")
    if not callable(case_fn):
        raise MedvitError(f"case_fn must be a function, not {type(case_fn).__name__}")
    if not isinstance(workers, int) or workers < 1:
        raise MedvitError(f"workers must be a whole number >= 1, not {workers!r}")
    bad_keys = [k for k in settings if not isinstance(k, str)]
    if bad_keys:
        raise MedvitError(f"settings keys must be strings: {bad_keys!r}")
    reserved = sorted(RESERVED.intersection(columns or ()))
    if reserved:
        raise MedvitError(f"columns may not include the runner's own columns: {', '.join(reserved)}")
    if workers > 1 or scheduler is not None:
        # Workers import the function by name; find out now rather than once per case.
        try:
            pickle.dumps((case_fn, settings))
        except Exception as err:
            raise MedvitError(
                f"case_fn and settings must pickle to run in worker processes ({function_name(case_fn)}: {err}); "
                "use a top-level function of an importable module, or workers=1"
            ) from None


@contextlib.contextmanager
def _progress(total: int, todo: int, enabled: bool):
    """tqdm's bar on a terminal; a :class:`~medvit.batch.progress.ProgressLog` (a line every few
    cases and at the end) when stderr is a file or a pipe; nothing when not ``enabled``."""
    if not enabled or not todo:
        yield None
    elif is_terminal():
        from tqdm.auto import tqdm

        with tqdm(total=total, initial=total - todo, unit="case") as bar:
            yield bar
    else:
        yield ProgressLog(todo)


def _hash_inputs(paths: list[str]) -> list[str]:
    # Reading is I/O bound and hashlib releases the GIL on large buffers: a few threads help.
    with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
        return list(pool.map(input_hash, paths))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Run:
    """The state of one run: records by id, what is done, when the CSV was last written."""

    def __init__(self, files, journal, fingerprint, columns, previous, anonymise):
        self.files = files
        self.journal = journal
        self.fingerprint = fingerprint
        self.columns = columns
        self.records = previous
        self.anonymise = anonymise
        self.cases: list[Case] = []
        self.skipped = self.computed = 0
        self.started = self.complete = False
        self.bar = None
        self.last_write = time.monotonic()

    def up_to_date(self, case: Case) -> bool:
        record = self.records.get(case.image)
        return (
            record is not None
            and record["status"] == "ok"
            and record["settings_hash"] == self.fingerprint
            and record["input_hash"] == case.input_hash != ""  # an unreadable input is never up to date
        )

    def start(self, cases: list[Case], skipped: int) -> None:
        wanted = {case.image for case in cases}
        # The table is this cohort: rows of inputs no longer given are dropped.
        self.records = {k: v for k, v in self.records.items() if k in wanted}
        self.cases = cases
        self.skipped = skipped
        self.started = True
        self.write_table()  # resume=False empties it now; otherwise it just tidies it

    def done(self, case: Case, outcome: dict) -> None:
        error = outcome["error"]
        if self.anonymise and error:
            error = _scrub(error, case)
        record = {
            "image": case.image,
            "status": outcome["status"],
            "error": error,
            "settings_hash": self.fingerprint,
            "input_hash": case.input_hash,
            "result": outcome["result"],
            "seconds": outcome["seconds"],
            "finished": _now(),
        }
        self.journal.append(record)  # durable from here on
        self.records[case.image] = record
        self.computed += 1
        if isinstance(self.bar, ProgressLog):
            self.bar.update(1, failed=outcome["status"] != "ok")
        elif self.bar is not None:
            self.bar.update(1)
        if time.monotonic() - self.last_write >= CHECKPOINT_SECONDS:
            self.write_table()

    def write_table(self) -> None:
        records = [self.records[k] for k in sorted(self.records)]
        store.write_table(self.files.csv, records, store.result_columns(records, self.columns))
        self.last_write = time.monotonic()

    def counts(self) -> dict[str, int]:
        """Rows by status, counting only rows computed under this run's settings and inputs."""
        fresh = [
            record
            for case in self.cases
            if (record := self.records.get(case.image)) is not None
            and record["settings_hash"] == self.fingerprint
            and record["input_hash"] == case.input_hash
        ]
        return {
            "inputs": len(self.cases),
            "ok": sum(r["status"] == "ok" for r in fresh),
            "error": sum(r["status"] == "error" for r in fresh),
            "skipped": self.skipped,
            "computed": self.computed,
            "pending": len(self.cases) - self.skipped - self.computed,
        }


def _scrub(message: str, case: Case) -> str:
    # Error messages often quote the path (ImageReadError does); the path names the patient.
    path = Path(case.path)
    for text in sorted({case.path, str(path.absolute()), path.as_posix(), path.name}, key=len, reverse=True):
        if text:
            message = message.replace(text, case.image)
    return message


def _write_provenance(files, run: _Run, started, case_fn, settings, provenance, workers, scheduler) -> None:
    import medvit

    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:
        numpy_version = None
    if scheduler is not None:
        address = scheduler if isinstance(scheduler, str) else getattr(getattr(scheduler, "scheduler", None), "address", "?")
        executor = f"dask {address}"
    else:
        executor = "in-process" if workers == 1 else f"process pool, {workers} workers"
    store.write_json(
        files.provenance,
        {
            "medvit_version": medvit.__version__,
            "python": platform.python_version(),
            "numpy": numpy_version,
            "platform": platform.platform(),
            "case_fn": function_name(case_fn),
            "settings": json.loads(canonical_json(settings)),
            "provenance": json.loads(canonical_json(dict(provenance or {}))),
            "settings_hash": run.fingerprint,
            "executor": executor,
            "anonymised": run.anonymise,
            "started": started,
            "finished": _now(),
            "complete": run.complete,
            "counts": run.counts(),
            "table": files.csv.name,
            "ids_file": files.ids.name if run.anonymise else None,
        },
    )
