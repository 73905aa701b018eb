"""What runs in a worker: one case, its failure turned into a one-line message.

Only the standard library is imported here, so a worker process starts fast and the
thread settings below apply before the case function imports numpy or torch.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from medvit.errors import MedvitError

# Columns the runner writes itself; a case function may not return them.
RESERVED = frozenset({"image", "status", "error", "settings_hash", "input_hash"})

# Thread-pool sizes of the numeric libraries. One thread per worker: N workers each
# starting N BLAS / OpenMP threads would oversubscribe the cores N-fold.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


# How often a worker checks that the run that started it is still there.
PARENT_POLL_SECONDS = 0.5


def init_worker() -> None:
    """Process-pool initializer: one compute thread per worker, and an end with the parent.

    The parent already set the variables when it started this process (see
    ``executors.pinned_threads``); setting them again covers a pool started another way.
    They only take effect in libraries imported afterwards, hence torch, if the worker's
    ``__main__`` already imported it, is told directly.
    """
    for name in THREAD_ENV:
        os.environ[name] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    exit_with_parent(os.getppid())


def exit_with_parent(parent_pid: int, poll: float = PARENT_POLL_SECONDS) -> threading.Thread:
    """End this process as soon as ``parent_pid`` is no longer its parent (killed, even with
    SIGKILL, which runs no clean-up there): a worker must not compute for nobody, holding
    hundreds of MB. A daemon thread polls ``os.getppid()`` (the orphan is re-parented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os._exit(1)

    thread = threading.Thread(target=watch, name="medvit-exit-with-parent", daemon=True)
    thread.start()
    return thread


def run_case(case_fn: Callable[..., Mapping[str, Any]], path: str, settings: Mapping[str, Any]) -> dict:
    """Run ``case_fn(path, **settings)`` and never raise for the case's own failure.

    Returns:
        ``{"status": "ok" | "error", "error": one line or "", "result": {column: scalar},
        "seconds": float}``; ``result`` holds plain Python scalars only, so it pickles and
        serialises to JSON. An error's ``result`` is what the case measured before it failed,
        where the exception carries it (:func:`with_measured`), else empty.
    """
    start = time.perf_counter()
    try:
        result = clean_result(case_fn(path, **settings))
        outcome = {"status": "ok", "error": "", "result": result}
    # SystemExit too: a case calling sys.exit() is that case failing, not the cohort.
    # KeyboardInterrupt is the user stopping the run, so it propagates.
    except (Exception, SystemExit) as err:
        outcome = {"status": "error", "error": error_message(err), "result": measured_before(err)}
    outcome["seconds"] = round(time.perf_counter() - start, 3)
    return outcome


# The attribute of an exception holding the columns its case measured before failing.
MEASURED = "medvit_measured"


def with_measured(err: BaseException, measured: Mapping[str, Any]) -> BaseException:
    """``err`` carrying the columns its case measured before it failed (e.g. a photo's quality
    grade, when the grade refuses it): :func:`run_case` writes them into the case's error row,
    whose ``status`` stays "error". Returns ``err``, to be raised: ``raise with_measured(err, row)``."""
    setattr(err, MEASURED, dict(measured))
    return err


def measured_before(err: BaseException) -> dict[str, Any]:
    """The columns ``err`` carries (:func:`with_measured`), cleaned as a result; ``{}`` if none, or if
    they are no valid result (the error itself is what the row must say, not a second one)."""
    measured = getattr(unwrap_monai_error(err), MEASURED, None)
    if not measured:
        return {}
    try:
        return clean_result(measured)
    except MedvitError:
        return {}


def error_message(err: BaseException) -> str:
    """One line saying why a case failed.

    A :class:`MedvitError` is written for a person already: its message as is (its lines
    joined with ``"; "``). Anything else: ``"Type: first line of message"`` (library
    messages can run to pages).
    """
    err = unwrap_monai_error(err)
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if isinstance(err, MedvitError) and lines:
        return "; ".join(lines)
    name = type(err).__name__
    return f"{name}: {lines[0]}" if lines else name


# How MONAI wraps the error of a transform (``Compose``, once per nesting level), of a
# config component's constructor and of a config expression.
MONAI_WRAPPERS = ("applying transform", "Failed to instantiate component", "Failed to evaluate")


def unwrap_monai_error(err: BaseException) -> BaseException:
    """The error raised inside MONAI's machinery, from under the ``RuntimeError`` wrappers it adds
    (:data:`MONAI_WRAPPERS`): that one says what is wrong."""
    while isinstance(err, RuntimeError) and str(err).startswith(MONAI_WRAPPERS) and err.__cause__ is not None:
        err = err.__cause__
    return err


@contextlib.contextmanager
def unwrapped_errors():
    """Raise the error MONAI's machinery wrapped (see :func:`unwrap_monai_error`) instead of its
    ``RuntimeError``: a caller from Python gets the :class:`MedvitError` that names the file."""
    try:
        yield
    except RuntimeError as err:
        cause = unwrap_monai_error(err)
        if cause is err:
            raise
        raise cause from None


def clean_result(result: Any) -> dict[str, Any]:
    """Check a case's returned row and convert numpy scalars to Python ones.

    Raises:
        MedvitError: not a dict with string keys and scalar values, or a reserved column.
    """
    if not isinstance(result, Mapping):
        raise MedvitError(f"case function returned {type(result).__name__}, expected a dict of column -> scalar")
    clean: dict[str, Any] = {}
    for key, value in result.items():
        if not isinstance(key, str):
            raise MedvitError(f"case function returned a non-string column name {key!r}")
        if key in RESERVED:
            raise MedvitError(f"case function returned reserved column {key!r} (the runner writes it)")
        if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy scalar / 0-d array
            value = value.item()
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise MedvitError(
                f"case function returned {type(value).__name__} for column {key!r}; expected a number, string, bool or None"
            )
        if isinstance(value, float) and math.isnan(value):
            value = None  # an empty cell; NaN is not valid JSON in the journal
        clean[key] = value
    return clean
