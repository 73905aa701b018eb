"""Find medvit's bundles and read their metadata (JSON only: no torch, no MONAI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from medvit.errors import MedvitError

SCHEMA_NAME = "metadata-schema.json"


def bundles_root() -> Path:
    """The ``bundles/`` folder: ``$MEDVIT_BUNDLES`` if set, else the one beside the package."""
    env = os.environ.get("MEDVIT_BUNDLES")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "bundles"
    if not root.is_dir():
        raise MedvitError(f"bundles folder not found at {root}; set MEDVIT_BUNDLES to the folder holding the bundles")
    return root


def bundle_dirs(root: Path | None = None) -> list[Path]:
    """Every bundle folder (a folder holding ``configs/``), sorted by name."""
    root = root or bundles_root()
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "configs").is_dir())


def bundle_info(path: Path) -> dict:
    """Name, version, task and the configs a bundle provides, from its ``metadata.json``."""
    meta_file = path / "configs" / "metadata.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise MedvitError(f"{meta_file}: unreadable bundle metadata ({err})") from None
    configs = sorted(p.stem for p in (path / "configs").glob("*.json") if p.stem != "metadata")
    return {
        "name": path.name,
        "version": meta.get("version"),
        "task": meta.get("task"),
        "configs": configs,
        "path": str(path),
    }


def list_bundles(root: Path | None = None) -> list[dict]:
    """:func:`bundle_info` of every bundle."""
    return [bundle_info(p) for p in bundle_dirs(root)]
