import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medvit.data import pydicom_sample

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
