"""Lazy attribute exports for packages whose members import heavy libraries (torch, MONAI).

``__getattr__, __dir__ = lazy_exports(__name__, {"Name": "package.module", ...})`` in a
package's ``__init__`` makes ``package.Name`` import ``package.module`` on first use only
(PEP 562), so ``import package`` and CLI start-up stay fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` resolving ``exports`` (name → module) on demand."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *exports])

    return __getattr__, __dir__
