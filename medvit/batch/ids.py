"""Case ids, anonymised ids and the fingerprints that decide whether a case must be redone.

Ids come only from the names the user gave (paths), never from file headers: a header can
hold a patient name, and reading it would mean opening every file just to name it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from medvit.errors import MedvitError

# Suffixes that are one format: "scan.nii.gz" has stem "scan", not "scan.nii".
_COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz", ".csv.gz")
ID_LENGTH = 16  # hex characters of sha256 kept: 64 bits, no collisions in any real cohort


def case_ids(
    inputs: Sequence[str | os.PathLike],
    how: str | Callable[[Path], str] = "name",
    root: str | os.PathLike | None = None,
) -> list[str]:
    """The case id of each input, in the same order.

    Args:
        inputs: files or folders (a DICOM series is a folder).
        how: ``"name"`` (file or folder name, e.g. ``"cxr_001.png"``), ``"stem"`` (the name
            without its suffix, ``.nii.gz`` counted as one), ``"relative"`` (the path relative
            to ``root``, with ``/`` separators, e.g. ``"patient7/ct"``), or a function
            ``Path -> str``.
        root: the folder ``"relative"`` ids start from; default the deepest folder that
            holds every input. Give it explicitly when a cohort can grow: the common folder
            of a subset can be deeper, which would change every id (and defeat resuming).

    Raises:
        MedvitError: for an unknown ``how``, an empty id, or two inputs with the same id
            (the message names them; ``"relative"`` ids are unique for distinct paths).
    """
    paths = [Path(p) for p in inputs]
    if callable(how):
        ids = [how(p) for p in paths]
    elif how == "name":
        ids = [p.name for p in paths]
    elif how == "stem":
        ids = [_stem(p) for p in paths]
    elif how == "relative":
        base = Path(root) if root is not None else _common_folder(paths)
        ids = [_relative(p, base) for p in paths]
    else:
        raise MedvitError(f"case_id must be 'name', 'stem', 'relative' or a function, not {how!r}")
    for path, case in zip(paths, ids):
        if not isinstance(case, str) or not case.strip():
            raise MedvitError(f"case id of {path} is {case!r}; ids must be non-empty strings")
    duplicates = sorted(case for case, n in Counter(ids).items() if n > 1)
    if duplicates:
        shown = ", ".join(duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
        raise MedvitError(
            f"{len(duplicates)} case id(s) occur more than once: {shown}; "
            "use case_id='relative' (path relative to the cohort folder) or a function"
        )
    return ids


def _stem(path: Path) -> str:
    name = path.name
    for compound in _COMPOUND_SUFFIXES:
        if name.lower().endswith(compound):
            return name[: -len(compound)]
    return path.stem


def _common_folder(paths: list[Path]) -> Path:
    absolute = [p.absolute() for p in paths]
    if len(absolute) == 1:
        return absolute[0].parent
    return Path(os.path.commonpath(absolute))


def _relative(path: Path, base: Path) -> str:
    try:
        return path.absolute().relative_to(base.absolute()).as_posix()
    except ValueError:
        raise MedvitError(f"{path} is not inside the root folder {base}") from None


def anonymise_ids(names: Iterable[str], salt: str | bool, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map each case name to an anonymous id.

    Args:
        names: the case ids from :func:`case_ids`.
        salt: a secret string: ids are ``sha256(salt + name)[:16]``, the same for the same
            salt (so cohorts can be linked and resumed without the mapping file). ``True``:
            random ids, reproducible only through the mapping file (``known``).
        known: name -> id from an earlier run's mapping file; reused for ``salt=True`` so a
            re-run keeps its ids (and resumes).

    Returns:
        name -> id, in the order of ``names``.
    """
    known = dict(known or {})
    result: dict[str, str] = {}
    if salt is True:
        taken = set(known.values())
        for name in names:
            if name in known:
                result[name] = known[name]
                continue
            new = secrets.token_hex(ID_LENGTH // 2)
            while new in taken:  # 64 random bits never collide in practice; be sure anyway
                new = secrets.token_hex(ID_LENGTH // 2)
            taken.add(new)
            result[name] = new
        return result
    if not isinstance(salt, str) or not salt:
        raise MedvitError("anonymise must be True (random ids) or a non-empty salt string")
    for name in names:
        result[name] = hashlib.sha256((salt + name).encode("utf-8")).hexdigest()[:ID_LENGTH]
    if len(set(result.values())) != len(result):  # astronomically unlikely; never merge two cases
        raise MedvitError("two case names hash to the same anonymous id; use another salt")
    return result


def file_sha256(path: str | os.PathLike) -> str:
    """Full sha256 (hex) of a file's bytes, e.g. a checkpoint for the provenance sidecar."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_provenance(settings: dict, bundle: str) -> dict:
    """A cohort run's provenance: the bundle's name and, when ``settings["checkpoint"]`` is set,
    the checkpoint's sha256 (the path in ``settings`` made a string, as settings must be JSON).

    Raises:
        MedvitError: the checkpoint file does not exist.
    """
    provenance = {"bundle": bundle}
    if settings.get("checkpoint"):
        if not Path(settings["checkpoint"]).is_file():
            raise MedvitError(f"{settings['checkpoint']}: no such checkpoint file")
        settings["checkpoint"] = os.fspath(settings["checkpoint"])
        provenance["checkpoint_sha256"] = file_sha256(settings["checkpoint"])
    return provenance


def input_hash(path: str | os.PathLike) -> str:
    """Fingerprint of an input, to notice that it changed since it was processed.

    A file: sha256 of its bytes. A folder (e.g. a DICOM series): sha256 of the sorted list of
    its files (recursively) with their sizes and modification times. Folders are not read
    whole: they can hold gigabytes, and the metadata changes whenever a file is rewritten. A
    copy that does not keep modification times (``cp`` without ``-p``) therefore counts as
    changed. Returns ``""`` when the input cannot be read (the case then runs, and records
    why it failed).
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    stat = full.stat()
                    rel = full.relative_to(path).as_posix()
                    digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        else:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()[:ID_LENGTH]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal settings give equal text (and hash)."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    except (TypeError, ValueError) as err:
        raise MedvitError(f"settings and provenance must be JSON-serialisable: {err}") from None


def _jsonable(value: Any) -> Any:
    # Values settings commonly hold that json does not know.
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def function_name(fn: Callable) -> str:
    """``module:qualname`` of a function: how workers import it, and part of the fingerprint."""
    if isinstance(fn, functools.partial):
        return f"{function_name(fn.func)} (partial)"
    if not hasattr(fn, "__qualname__"):  # a callable object: its class (never its address)
        fn = type(fn)
    return f"{fn.__module__}:{fn.__qualname__}"


def _describe(fn: Callable) -> Any:
    # A partial's bound arguments decide its results as much as the settings do.
    if isinstance(fn, functools.partial):
        return {"function": _describe(fn.func), "args": list(fn.args), "keywords": dict(fn.keywords)}
    return function_name(fn)


def settings_hash(settings: Mapping[str, Any], case_fn: Callable, provenance: Mapping[str, Any] | None = None) -> str:
    """Fingerprint of everything that decides a case's result besides its input.

    sha256 (first 16 hex) of the canonical JSON of the settings, the case function's
    ``module:qualname``, ``medvit.__version__`` and the caller's ``provenance`` (e.g. the
    bundle name and version). Rows computed under another fingerprint are redone.
    """
    import medvit

    payload = {
        "case_fn": _describe(case_fn),
        "medvit": medvit.__version__,
        "provenance": dict(provenance or {}),
        "settings": dict(settings),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:ID_LENGTH]
