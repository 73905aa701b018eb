import os
import shutil
import subprocess
import sys
from pathlib import Path

# One intra-op thread per process (before torch is imported; inherited by the CLI, worker and
# streamlit subprocesses the tests start): on the 2-core CI machine torch's default two threads
# made the default suite 15 min 4 s against 12 min 34 s on one (same tests, measured 2026-12-05).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from medvit.data import pydicom_sample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed ``medvit`` command as a user would."""
    env = {**os.environ, "PYTHONWARNINGS": ""}
    return subprocess.run(
        [sys.executable, "-m", "medvit.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def ct_series_copy(tmp_path: Path) -> Path:
    """A writable copy of pydicom's 5-slice CT series."""
    dest = tmp_path / "ct"
    shutil.copytree(pydicom_sample("ct_volume"), dest)
    return dest
