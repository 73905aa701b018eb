"""``medvit viewer``: start the Streamlit app with the repository's hardened settings, wherever
it is started from.

Streamlit reads ``.streamlit/config.toml`` only from the folder it is started in, so started
elsewhere it would listen on every interface and show error details. The command passes each
setting of the repository's ``.streamlit/config.toml`` as a command-line flag instead.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from medvit.errors import MedvitError

REPOSITORY = Path(__file__).resolve().parents[2]
APP = REPOSITORY / "apps" / "viewer" / "app.py"
CONFIG = REPOSITORY / ".streamlit" / "config.toml"


def hardened_flags(config: Path = CONFIG) -> list[str]:
    """``--section.option value`` for every setting of the viewer's Streamlit config file."""
    try:
        settings = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise MedvitError(f"{config}: cannot read the viewer's settings ({err})") from None
    flags = []
    for section, options in settings.items():
        for option, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags += [f"--{section}.{option}", text]
    return flags


def streamlit_command(port: int | None = None, address: str | None = None, extra: list[str] | None = None) -> list[str]:
    """The ``streamlit run`` command line of the viewer: the hardened settings, then the port,
    an explicit ``address`` (exposing the viewer is the user's choice) and further flags."""
    if not APP.is_file():
        raise MedvitError(f"{APP}: the viewer app is not there (it ships with the repository, not the wheel)")
    command = [sys.executable, "-m", "streamlit", "run", str(APP), *hardened_flags()]
    if port is not None:
        command += ["--server.port", str(int(port))]
    if address is not None:
        command += ["--server.address", address]
    return command + list(extra or [])
