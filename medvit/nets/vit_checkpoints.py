"""Loading timm / MAE / medical_mae ViT checkpoints into medvit's :class:`~medvit.nets.vit.ViT`.

Those files are ``{"model": state_dict}`` with timm ``VisionTransformer`` key names; MAE
pre-training files also carry the decoder (``decoder_embed``, ``mask_token``,
``decoder_pos_embed``, ``decoder_blocks``, ``decoder_norm``, ``decoder_pred``). Loading maps
the names, interpolates the position embedding when the patch grid differs (bicubic for 2D,
trilinear for 3D, as MAE's ``interpolate_pos_embed``), drops what a classifier does not use
(decoder, a head of another size, ``norm`` under global pooling) and refuses anything else
that does not fit, naming the file and the parameters.
"""

from __future__ import annotations

import logging
import os
import re

import torch
import torch.nn.functional as F

from medvit.errors import MedvitError
from medvit.nets.checkpoints import read_state_dict

logger = logging.getLogger(__name__)

# timm / MAE name fragment -> medvit name fragment (inside MONAI's SABlock and MLPBlock).
BLOCK_RENAMES = ((".attn.proj.", ".attn.out_proj."), (".mlp.fc1.", ".mlp.linear1."), (".mlp.fc2.", ".mlp.linear2."))
# MAE's flat decoder names -> medvit's ``decoder.`` submodule.
DECODER_RENAMES = (("decoder_embed.", "decoder.embed."), ("mask_token", "decoder.mask_token"),
                   ("decoder_pos_embed", "decoder.pos_embed"), ("decoder_blocks.", "decoder.blocks."),
                   ("decoder_norm.", "decoder.norm."), ("decoder_pred.", "decoder.pred."))

# Uni4Eye++ (Cai et al.; github.com/Davidczy/Uni4Eye_pp) pre-training files: a 2D and a 3D
# projection / position table, one decoder with a 2D and a 3D output -> medvit's Uni4Eye.
UNI4EYE_PP_RENAMES = (("patch_embed.proj2.", "patch_embed.proj."), ("patch_embed.proj3.", "patch_embed_3d.proj."),
                      ("pos_embed2", "pos_embed"), ("pos_embed3", "pos_embed_3d"),
                      ("decoder_pos_embed2", "decoder.pos_embed"), ("decoder_pos_embed3", "decoder.pos_embed_3d"),
                      ("decoder_pred2.", "decoder.pred."), ("decoder_pred3.", "decoder.pred_3d."))


def _rename(key: str, pairs, forward: bool) -> str:
    for timm_name, medvit_name in pairs:
        old, new = (timm_name, medvit_name) if forward else (medvit_name, timm_name)
        key = key.replace(old, new)
    return key


def timm_to_medvit(state: dict) -> dict:
    """Rename a timm / MAE ViT state dict to medvit's names (encoder keys as in :class:`ViT`,
    MAE decoder keys under ``decoder.``; Uni4Eye++'s 2D / 3D keys as :class:`~medvit.nets.Uni4Eye`'s)."""
    renamed = {}
    for key, value in state.items():
        key = _rename(key, BLOCK_RENAMES, forward=True)
        pair = next((pair for pair in UNI4EYE_PP_RENAMES if key.startswith(pair[0])), None)
        pair = pair or next((pair for pair in DECODER_RENAMES if key.startswith(pair[0])), None)
        renamed[pair[1] + key[len(pair[0]):] if pair else key] = value
    return renamed


def medvit_to_timm(state: dict) -> dict:
    """Inverse of :func:`timm_to_medvit`; a :class:`MaskedAutoencoder`'s ``encoder.`` prefix is dropped."""
    renamed = {}
    for key, value in state.items():
        key = _rename(key.removeprefix("encoder."), BLOCK_RENAMES, forward=False)
        decoder = next((pair for pair in DECODER_RENAMES if key.startswith(pair[1])), None)
        renamed[decoder[0] + key[len(decoder[1]):] if decoder else key] = value
    return renamed


def resize_position_embedding(table: torch.Tensor, grid_size: tuple[int, ...], num_prefix_tokens: int = 1) -> torch.Tensor:
    """Interpolate a (1, prefix + N_old, D) position table onto ``grid_size`` patches.

    The old grid is taken as square / cubic (as published checkpoints are). The class token's
    row is kept as is.
    """
    prefix, grid = table[:, :num_prefix_tokens], table[:, num_prefix_tokens:]
    dims = len(grid_size)
    side = round(grid.shape[1] ** (1 / dims))
    if side**dims != grid.shape[1]:
        raise ValueError(f"a position table of {grid.shape[1]} patches is not a square / cubic grid")
    if (side,) * dims == tuple(grid_size):
        return table
    width = grid.shape[-1]
    grid = grid.reshape(1, *(side,) * dims, width).movedim(-1, 1)
    mode = "bicubic" if dims == 2 else "trilinear"
    grid = F.interpolate(grid.float(), size=tuple(grid_size), mode=mode, align_corners=False).to(table.dtype)
    return torch.cat([prefix, grid.movedim(1, -1).reshape(1, -1, width)], dim=1)


def load_checkpoint(model: torch.nn.Module, path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """Load a timm / MAE / medical_mae (or medvit) ViT checkpoint into ``model``.

    ``model`` is a :class:`~medvit.nets.vit.ViT` or a :class:`~medvit.nets.mae.MaskedAutoencoder`
    (or :class:`~medvit.nets.uni4eye.Uni4Eye` / its encoder: a 2D checkpoint fills the 2D path).
    Accepts ``{"model": ...}`` / ``{"state_dict": ...}`` nesting and ``module.`` prefixes. A
    model's ``checkpoint_optional`` (name prefixes) lists further parameters a checkpoint may
    lack (Uni4Eye's 3D patch embedding). RGB patch kernels are summed onto a one-channel model.

    Returns:
        what was not taken from the file: ``{"initialised": [...], "ignored": [...]}`` parameter
        names (e.g. a new classification head; a pre-training decoder when fine-tuning).

    Raises:
        MedvitError: naming the file, when parameters the model needs are missing, or shapes
            differ beyond the head and the position embedding.
    """
    state = read_state_dict(path, map_location)
    prefix = "encoder." if hasattr(model, "encoder") else ""
    if any(".attn.out_proj." in key for key in state):  # medvit's own names: make the encoder's flat
        state = {key.removeprefix("encoder."): value for key, value in state.items()}
    else:
        state = timm_to_medvit(state)
    # decoders (MAE's ``decoder.``, Uni4Eye's ``decoder_gradient.``) sit beside the encoder
    state = {key if key.startswith("decoder") else prefix + key: value for key, value in state.items()}
    own = model.state_dict()
    ignored = [key for key in state if key not in own]
    state = {key: value for key, value in state.items() if key in own}
    for key in (k for k in state if k.endswith("pos_embed")):
        target = own[key]
        grid = _grid_of(model, key)
        if state[key].shape != target.shape and grid is not None:
            try:
                state[key] = resize_position_embedding(state[key], grid)
            except ValueError as err:
                raise MedvitError(f"{path}: {key}: {err}") from None
    for key in [k for k in state if state[k].shape != own[k].shape]:
        if re.search(r"patch_embed(_3d)?\.proj\.weight$", key) and own[key].shape[1] == 1 \
                and state[key].ndim == own[key].ndim:
            state[key] = state[key].sum(dim=1, keepdim=True)  # RGB kernels onto grey input (timm's rule)
        elif key.startswith(("head.", "decoder.pred")):
            ignored.append(key)  # a head for another label set / a decoder output for other channels
            del state[key]
        else:
            raise MedvitError(f"{path}: {key} has shape {tuple(state[key].shape)}, the model needs "
                              f"{tuple(own[key].shape)} (another architecture?)")
    initialised = [key for key in own if key not in state]
    allowed = tuple(p + name for p in {"", prefix} for name in ("head.", "fc_norm.", "decoder."))
    allowed += tuple(getattr(model, "checkpoint_optional", ()))
    needed = [key for key in initialised if not key.startswith(allowed)]
    if needed:
        raise MedvitError(f"{path}: {len(needed)} parameter(s) the model needs are not in the checkpoint, "
                          f"e.g. {needed[0]} (not a ViT checkpoint, or another depth / width?)")
    model.load_state_dict(state, strict=False)
    return {"initialised": initialised, "ignored": sorted(ignored)}


def load_classifier(model: torch.nn.Module, path: str | os.PathLike, map_location: str = "cpu") -> torch.nn.Module:
    """:func:`load_checkpoint` for inference: every parameter must come from the file.

    Raises:
        MedvitError: naming the file, when it lacks the head (or other parameters): a
            pre-training checkpoint given where a fine-tuned classifier is needed.
    """
    report = load_checkpoint(model, path, map_location=map_location)
    if report["initialised"]:
        raise MedvitError(f"{path}: not a fine-tuned classifier: {', '.join(report['initialised'][:4])} "
                          "are not in it (a pre-training checkpoint? fine-tune it with train.json first)")
    return model


def load_pretrained_encoder(network: torch.nn.Module, path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """:func:`load_checkpoint` to start fine-tuning: the file must exist; what was new and what
    was not used is logged. Returns the report."""
    from pathlib import Path

    if not path or not Path(path).is_file():
        raise MedvitError(f"{path}: no such checkpoint file")
    report = load_checkpoint(network, path, map_location=str(map_location))
    logger.info("loaded %s; new: %s; not used: %d parameter(s)", path, ", ".join(report["initialised"]) or "none",
                len(report["ignored"]))
    return report


def _grid_of(model: torch.nn.Module, key: str) -> tuple[int, ...] | None:
    """The patch grid a ``*pos_embed`` parameter of ``model`` belongs to."""
    owner = model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else model
    # ``pos_embed`` goes with ``grid_size``, ``pos_embed_3d`` with ``grid_size_3d`` (Uni4Eye)
    grid = getattr(owner, "grid_size" + key.rsplit(".", 1)[-1].removeprefix("pos_embed"), None)
    if grid is None and hasattr(model, "encoder"):
        grid = model.encoder.grid_size
    return tuple(grid) if grid is not None else None
