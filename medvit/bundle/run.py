"""Running a bundle's configs from Python, as ``python -m monai.bundle run`` does (demo, notebooks, tests)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def run_config(bundle: Path, config: str | list[str], **overrides) -> None:
    """``python -m monai.bundle run`` of one of the bundle's configs (or a base config and one
    on top, as ``['inference.json', 'evaluate.json']``), its log quietened.

    ``bundle_root`` defaults to the bundle; ``overrides`` are config ids → values.
    """
    from monai.bundle import run

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="parsing config_file", category=UserWarning)
        logging.disable(logging.INFO)
        try:
            files = [str(Path(bundle) / "configs" / name) for name in ([config] if isinstance(config, str) else config)]
            run(config_file=files if len(files) > 1 else files[0], **{"bundle_root": str(bundle), **overrides})
        finally:
            logging.disable(logging.NOTSET)
