"""fastMRI (the reference for masks, FFTs and E2E-VarNet), imported only where installed.

fastmri is not a dependency: ``make test`` installs it with ``--no-deps`` (it imports
without torchvision); elsewhere point ``MEDVIT_FASTMRI_PATH`` at a folder holding it
(``pip install --target DIR --no-deps fastmri``). Tests that need it skip otherwise.
"""

import os
import sys

import pytest


def import_fastmri():
    """The ``fastmri`` package, or skip the calling test saying how to get it."""
    path = os.environ.get("MEDVIT_FASTMRI_PATH")
    if path and path not in sys.path:
        sys.path.append(path)
    return pytest.importorskip(
        "fastmri", reason="fastmri is not installed: pip install --no-deps fastmri (or set MEDVIT_FASTMRI_PATH)"
    )
