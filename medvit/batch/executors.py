"""Three ways to run the cases: in this process, in a local process pool, on a Dask cluster.

Each takes the cases to run and calls ``on_done(case, outcome)`` in the calling thread as
each finishes, in completion order; ``outcome`` is :func:`medvit.batch.worker.run_case`'s
dict. A case's own failure is an outcome, never an exception here.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

from medvit.batch.worker import THREAD_ENV, error_message, init_worker, run_case
from medvit.errors import MedvitError, first_line

log = logging.getLogger("medvit.batch")

CRASHED = (
    "BrokenProcessPool: the worker process died while running this case "
    "(killed, out of memory, or a crash in native code)"
)


class Case(NamedTuple):
    """One input to run: its id in the table, the path given to the case function, its hash."""

    image: str
    path: str
    input_hash: str


OnDone = Callable[[Case, dict], None]


def failed(message: str) -> dict:
    """An outcome for a case that did not produce one itself (its worker died)."""
    return {"status": "error", "error": message, "result": {}, "seconds": None}


def run_in_process(cases: Sequence[Case], case_fn: Callable, settings: Mapping[str, Any], on_done: OnDone) -> None:
    """One case after another in this process: simplest to debug (breakpoints, tracebacks).

    A case that kills the process (``os._exit``, a segfault) ends the run; the journal keeps
    what finished, and a re-run continues after it.
    """
    for case in cases:
        on_done(case, run_case(case_fn, case.path, settings))


# -- local process pool ------------------------------------------------------------------------


@contextlib.contextmanager
def pinned_threads() -> Iterator[None]:
    """Set the thread-count variables to 1 in this process's environment while the pool lives.

    Worker processes are started with the "spawn" method, so each is a fresh interpreter
    that inherits the environment at its start: the variables are in place before anything
    in it (even a re-import of the caller's ``__main__``) imports numpy or torch, which read
    them once at import. An initializer alone runs too late for that. "spawn" rather than
    "fork": forking a parent whose BLAS / OpenMP / torch threads are running can deadlock,
    and spawn behaves the same on Linux, macOS and Windows. The previous values are restored
    afterwards.
    """
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update(dict.fromkeys(THREAD_ENV, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)


def _stop(pool: ProcessPoolExecutor) -> None:
    # On an interrupt, end the running cases now rather than waiting for them to finish.
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()


def run_in_pool(
    cases: Sequence[Case], case_fn: Callable, settings: Mapping[str, Any], on_done: OnDone, workers: int
) -> None:
    """Run the cases in ``workers`` spawned processes, one compute thread each.

    At most ``workers`` cases are in flight, so when a worker dies (the pool then fails
    every case in flight) only those few are suspects: each is re-run alone in a fresh
    one-process pool, and the one that kills that too gets an error row. The rest of the
    cohort goes on in a new pool.
    """
    pending = deque(cases)
    with pinned_threads():
        while pending:
            suspects = _run_until_broken(pending, case_fn, settings, on_done, workers)
            if suspects:
                log.warning("a worker process died; re-running the %d case(s) it may have been on, one at a time", len(suspects))
            for case in suspects:
                _run_alone(case, case_fn, settings, on_done)


def _run_until_broken(
    pending: deque[Case], case_fn: Callable, settings: Mapping[str, Any], on_done: OnDone, workers: int
) -> list[Case]:
    """Drain ``pending`` through one pool; return the cases in flight if the pool broke."""
    pool = _new_pool(workers)
    running: dict = {}
    clean = False
    try:
        while pending or running:
            while pending and len(running) < workers:
                case = pending.popleft()
                try:
                    running[pool.submit(run_case, case_fn, case.path, settings)] = case
                except BrokenProcessPool:
                    pending.appendleft(case)
                    clean = True
                    return list(running.values())
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = []
            for future in done:
                case = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(case)
                    continue
                except Exception as err:  # e.g. settings that do not pickle
                    outcome = failed(error_message(err))
                on_done(case, outcome)
            if broken:
                clean = True
                return broken + list(running.values())
        clean = True
        return []
    finally:
        if clean:
            pool.shutdown(wait=True, cancel_futures=True)
        else:
            _stop(pool)


def _run_alone(case: Case, case_fn: Callable, settings: Mapping[str, Any], on_done: OnDone) -> None:
    pool = _new_pool(1)
    clean = False
    try:
        future = pool.submit(run_case, case_fn, case.path, settings)
        try:
            outcome = future.result()
        except BrokenProcessPool:
            outcome = failed(CRASHED)
        except Exception as err:
            outcome = failed(error_message(err))
        on_done(case, outcome)
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


# -- Dask --------------------------------------------------------------------------------------


def run_on_dask(
    cases: Sequence[Case], case_fn: Callable, settings: Mapping[str, Any], on_done: OnDone, scheduler: Any
) -> None:
    """Submit every case to a Dask cluster and collect them as they finish.

    Args:
        scheduler: the scheduler's address (``"tcp://host:8786"``; ``"tls://..."`` takes its
            certificates from the Dask config, ``distributed.comm.tls.*``), or a connected
            ``distributed.Client``, used as is and left open.

    The workers must see the input paths (a shared file system) and be able to import the
    case function (medvit and the function's module installed there). Dask's nanny starts
    workers with one BLAS / OpenMP thread by default. A worker that dies is retried by
    Dask on another worker, up to ``distributed.scheduler.allowed-failures`` times; then the
    case's row says ``KilledWorker``.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise MedvitError("running on a Dask scheduler needs dask.distributed: pip install 'medvit[distributed]'") from None
    own = isinstance(scheduler, str)
    if own:
        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise MedvitError(f"cannot connect to the Dask scheduler at {scheduler}: {first_line(err)}") from None
    else:
        client = scheduler
    futures: dict = {}
    try:
        # Settings go as one dict, not **settings: a setting named like one of submit's own
        # arguments (key, workers, retries, ...) would otherwise be taken by Dask.
        futures = {client.submit(run_case, case_fn, case.path, settings, pure=False): case for case in cases}
        for future in as_completed(list(futures), loop=client.loop):
            case = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as err:  # KilledWorker, lost connection, ...
                outcome = failed(error_message(err))
            future.release()
            on_done(case, outcome)
    finally:
        if futures:  # stopped early: do not leave the cluster working for nobody
            with contextlib.suppress(Exception):
                client.cancel(list(futures))
        if own:
            client.close()
