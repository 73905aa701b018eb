"""Run a per-case function over a cohort: one CSV row per case, resumable, local or on Dask.

::

    from medvit.batch import run_cohort

    table = run_cohort(sorted(Path("cxr").glob("*.png")), my_case_fn, "out/cohort.csv",
                       settings={"threshold": 0.5}, workers=4)

``my_case_fn(path, **settings)`` returns a dict of scalars for one input. Re-running the same
call redoes only what is missing, failed, changed on disk or computed with other settings.

Importing this package is cheap (standard library only): worker processes import it before
the case function, and must not load numpy before their thread settings are in place.
"""

from __future__ import annotations

from medvit._lazy import lazy_exports

_LAZY = {
    "run_cohort": "medvit.batch.runner",
    "case_ids": "medvit.batch.ids",
    "input_hash": "medvit.batch.ids",
    "settings_hash": "medvit.batch.ids",
    "cohort_files": "medvit.batch.store",
    "CohortFiles": "medvit.batch.store",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
