"""Reading checkpoints the way published ones are stored, and loading them with clear errors;
the architecture medvit's training stores beside the weights.

A checkpoint written by a bundle's ``train.json`` (MONAI's ``CheckpointSaver`` with
``save_dict = {"model": @network, "network_args": NetworkArgs(...)}``) is
``{"model": state_dict, "network_args": {...}}``: the weights as every loader here reads them
(:data:`NESTING_KEYS`), and the ``network_args`` the network was built from, so that inference
with ``--ckpt_path`` alone builds the same network (:func:`checkpoint_network_args`, referenced
by each ``inference.json``'s ``network_def``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medvit.errors import MedvitError, first_line

# Where medvit's training stores the network's constructor arguments beside the weights.
NETWORK_ARGS_KEY = "network_args"
# Keys under which training scripts nest the weights (MONAI / Swin UNETR research code: "state_dict";
# MAE / timm: "model"; ignite: "network"), and prefixes that wrappers add.
NESTING_KEYS = ("state_dict", "model", "network", "net")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _data_only_globals() -> list:
    """Classes that training scripts leave in checkpoints beside the tensors (e.g. a Lightning
    checkpoint's ``hyper_parameters`` holding a data path) and that carry data only."""
    import argparse
    import pathlib

    return [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath, argparse.Namespace]


def _load_tensors(path, map_location):
    """``torch.load`` with ``weights_only``, :func:`_data_only_globals` allowed (Lightning
    checkpoints' hyper-parameters): one read, whatever the file holds."""
    import torch

    with torch.serialization.safe_globals(_data_only_globals()):
        return torch.load(path, map_location=map_location, weights_only=True)


def read_state_dict(path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """The tensors of a checkpoint file: unwrapped from ``{"state_dict": ...}``-style nesting,
    ``module.`` (DataParallel / DDP) and ``_orig_mod.`` (torch.compile) prefixes removed.

    ``map_location`` defaults to CPU, so GPU checkpoints load on CPU-only machines. Only
    tensors are read (``weights_only``): a checkpoint cannot run code.

    Raises:
        MedvitError: unreadable file or no state dict in it, naming the file.
    """
    try:
        state = _load_tensors(path, map_location)
    except Exception as err:  # noqa: BLE001 - torch raises pickle, zip and OS errors alike
        raise MedvitError(f"{path}: cannot read the checkpoint ({first_line(err)})") from None
    for key in NESTING_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) for k in state):
        raise MedvitError(f"{path}: no state dict (parameter name -> tensor) in the checkpoint")
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def submodule_state(state: dict, submodule: str) -> dict:
    """The parameters of one attribute of a wrapping module, its prefix removed: ``submodule="varnet"``
    turns a fastMRI Lightning ``VarNetModule``'s ``varnet.cascades.0...`` into ``cascades.0...`` and
    leaves out the rest (its SSIM loss's ``loss.w`` window)."""
    prefix = f"{submodule}."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_state_dict(network, path: str | os.PathLike, map_location: str = "cpu", strict: bool = True,
                    submodule: str | None = None):
    """Load a checkpoint file into ``network`` (see :func:`read_state_dict`); returns the network.

    Args:
        submodule: when the checkpoint is of a module wrapping the network as this attribute
            (a Lightning module's ``varnet``), load that attribute's parameters
            (:func:`submodule_state`); a checkpoint without that prefix loads as it is.

    Raises:
        MedvitError: the checkpoint does not fit the network, with the first missing /
            unexpected / mis-shaped parameter names (a wrong ``feature_size`` or channel count
            is the usual cause).
    """
    state = read_state_dict(path, map_location)
    if submodule and any(k.startswith(f"{submodule}.") for k in state):
        state = submodule_state(state, submodule)
    own = network.state_dict()
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if shapes or (strict and (missing or unexpected)):
        parts = []
        if shapes:
            parts.append(f"shapes differ for {len(shapes)} parameter(s), e.g. {shapes[0]}")
        if strict and missing:
            parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
        if strict and unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
        wrappers = sorted({k.split(".", 1)[0] for k in unexpected if "." in k})
        parts += [f"the network is under '{p}.' in it: load it with submodule='{p}'" for p in wrappers
                  if missing and all(k in submodule_state(state, p) for k in missing)]
        raise MedvitError(f"{path}: the checkpoint does not fit {type(network).__name__}: " + "; ".join(parts))
    network.load_state_dict(state, strict=strict)
    return network


class NetworkArgs:
    """The network's arguments as a checkpoint handler saves them: ``CheckpointSaver`` (ignite's
    ``Checkpoint``) stores each ``save_dict`` entry's ``state_dict()``, so
    ``save_dict = {"model": @network, "network_args": NetworkArgs(@network_args)}`` writes
    ``{"model": weights, "network_args": {...}}`` (:func:`checkpoint_network_args` reads it back).

    Args:
        args: JSON values (numbers, strings, booleans, lists, dicts), as a config holds them.
    """

    def __init__(self, args: Mapping[str, Any]):
        try:
            self.args = json.loads(json.dumps(dict(args)))
        except (TypeError, ValueError) as err:
            raise MedvitError(f"network_args to store in a checkpoint must be JSON values: {err}") from None

    def state_dict(self) -> dict:
        return copy.deepcopy(self.args)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.args = dict(state)


def read_network_args(path: str | os.PathLike | None) -> dict | None:
    """The ``network_args`` a checkpoint carries (medvit's training stores them), or None: no file,
    not readable (the weights' loader says why), or a checkpoint without them (published ones).

    The file is memory-mapped, so looking costs no read of the weights (a file in torch's legacy
    format is not looked into).
    """
    import torch

    if not path or not Path(path).is_file():
        return None
    try:
        with torch.serialization.safe_globals(_data_only_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable or legacy format: no stored arguments
        return None
    args = state.get(NETWORK_ARGS_KEY) if isinstance(state, dict) else None
    return dict(args) if isinstance(args, dict) else None


def checkpoint_network_args(checkpoint: str | os.PathLike | None, network_args: Mapping[str, Any]) -> dict:
    """``network_args`` with the values the checkpoint was trained with: a bundle's
    ``network_def`` takes its arguments from this, so ``--ckpt_path FILE`` alone builds the network
    that fits FILE. Only the keys of ``network_args`` are taken (the config says what the
    architecture is); a checkpoint without stored arguments leaves ``network_args`` as they are.
    An explicit ``--network_def#...`` override still decides its argument (and a mismatch is the
    loader's one-line error, naming what the checkpoint was trained with).
    """
    stored = read_network_args(checkpoint) or {}
    return {key: stored.get(key, value) for key, value in dict(network_args).items()}


def describe_network_args(path: str | os.PathLike | None) -> str:
    """``" (it was trained with network_args {...})"`` for a checkpoint carrying them, else ``""``:
    appended to a load error, so a mismatch says what would fit."""
    args = read_network_args(path)
    return f" (it was trained with network_args {json.dumps(args, sort_keys=True)})" if args else ""
