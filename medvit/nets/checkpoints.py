"""Reading checkpoints the way published ones are stored, and loading them with clear errors."""

from __future__ import annotations

import os

from medvit.errors import MedvitError, first_line

# Keys under which training scripts nest the weights (MONAI / Swin UNETR research code: "state_dict";
# MAE / timm: "model"; ignite: "network"), and prefixes that wrappers add.
NESTING_KEYS = ("state_dict", "model", "network", "net")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """The tensors of a checkpoint file: unwrapped from ``{"state_dict": ...}``-style nesting,
    ``module.`` (DataParallel / DDP) and ``_orig_mod.`` (torch.compile) prefixes removed.

    ``map_location`` defaults to CPU, so GPU checkpoints load on CPU-only machines. Only
    tensors are read (``weights_only``): a checkpoint cannot run code.

    Raises:
        MedvitError: unreadable file or no state dict in it, naming the file.
    """
    import torch

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
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


def load_state_dict(network, path: str | os.PathLike, map_location: str = "cpu", strict: bool = True):
    """Load a checkpoint file into ``network`` (see :func:`read_state_dict`); returns the network.

    Raises:
        MedvitError: the checkpoint does not fit the network, with the first missing /
            unexpected / mis-shaped parameter names (a wrong ``feature_size`` or channel count
            is the usual cause).
    """
    state = read_state_dict(path, map_location)
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
        raise MedvitError(f"{path}: the checkpoint does not fit {type(network).__name__}: " + "; ".join(parts))
    network.load_state_dict(state, strict=strict)
    return network
