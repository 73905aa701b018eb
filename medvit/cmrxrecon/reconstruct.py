"""Reconstructing CMRxRecon k-space files into submissions, one (frame, slice) at a time.

A file ``.../AccFactor08/P001/cine_sax.mat`` (``kspace_sub08``, with ``cine_sax_mask.mat``
beside it) becomes ``<output_dir>/.../AccFactor08/P001/cine_sax.mat`` holding ``img4ranking``:
the ranked slices and frames only (:mod:`medvit.cmrxrecon.scoring`), or with
``ranking_only=False`` every slice and frame at full size (``medvit recon-score`` reduces
those as the challenge's ``run4Ranking.m`` does). Each slice goes through E2E-VarNet
(:class:`medvit.nets.VarNet`) as fastMRI lays it out: ``(coils, kx, ky)`` with the
phase-encoding axis ky last, so the network's ``(kx, ky)`` output is MATLAB's ``(sx, sy)``.
With temporal context (the network's ``num_adj_frames``) the neighbouring frames, circularly,
go in as extra coils. The zero-filled and SENSE baselines are there to compare against,
never in place of the network.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError

METHODS = ("varnet", "zero_filled", "sense")
COLUMNS = ("task", "kind", "acceleration", "coils", "slices", "frames", "method", "weights", "seconds", "output")
OUTPUT_CSV = "reconstructions.csv"


def adjacent_frames(t: int, num_frames: int, num_adj_frames: int = 1) -> list[int]:
    """The ``num_adj_frames`` frames centred on ``t``, wrapping around (cine is periodic):
    ``adjacent_frames(0, 12, 5) == [10, 11, 0, 1, 2]``."""
    half = num_adj_frames // 2
    return [(t + offset) % num_frames for offset in range(-half, half + 1)]


def task_of(kind: str, path: str | os.PathLike = "") -> str:
    """``cine`` for ``cine_*`` files, ``mapping`` for ``T1map`` / ``T2map`` (which frames are ranked)."""
    if kind.startswith("cine"):
        return "cine"
    if kind in ("T1map", "T2map"):
        return "mapping"
    raise MedvitError(f"{path}: '{kind}' is not a CMRxRecon file name (cine_sax, cine_lax, T1map, T2map), "
                      "so which frames are ranked is unknown")


def varnet_input(kspace: np.ndarray, lines: np.ndarray):
    """One slice as :class:`~medvit.nets.VarNet` takes it.

    Args:
        kspace: complex (coils, ky, kx), as :meth:`CMRxKSpace.read_slice` gives it.
        lines: bool (ky,), the sampled lines; the others are zeroed.

    Returns:
        ``(masked_kspace, mask)``: float32 (1, coils, kx, ky, 2) and bool (1, 1, 1, ky, 1).
    """
    import torch

    from medvit.recon.masks import apply_mask

    masked = apply_mask(np.asarray(kspace, dtype=np.complex64), lines, axis=-2)
    tensor = torch.view_as_real(torch.from_numpy(np.ascontiguousarray(np.swapaxes(masked, -1, -2))))
    return tensor[None].contiguous(), torch.from_numpy(np.asarray(lines, dtype=bool)).view(1, 1, 1, -1, 1)


def input_scale(kspace: np.ndarray) -> float:
    """The maximum of the zero-filled RSS of a slice: inputs are divided by it (the network is
    scale-equivariant; this keeps its activations near 1 whatever the scanner's scale)."""
    from medvit.recon.baselines import zero_filled

    peak = float(zero_filled(kspace).max())
    return peak if peak > 0 else 1.0


def read_frames(kspace_file, t: int, z: int, num_adj_frames: int = 1, read=None) -> np.ndarray:
    """Frame ``t`` of slice ``z`` with its neighbours stacked as extra coils: (frames × coils, ky, kx).
    ``read(t, z)``: the file's ``read_slice`` (default), or a cached one."""
    read = read or kspace_file.read_slice
    return np.concatenate([read(f, z) for f in adjacent_frames(t, kspace_file.num_frames, num_adj_frames)])


def varnet_slice(network, kspace_file, lines: np.ndarray, t: int, z: int, device="cpu", read=None) -> np.ndarray:
    """Reconstruct frame ``t`` of slice ``z`` with a VarNet: magnitude (ky, kx), on the file's scale."""
    stacked = read_frames(kspace_file, t, z, getattr(network, "num_adj_frames", 1), read)
    return varnet_stacked(network, stacked, kspace_file.num_coils, lines, device)


def varnet_frame(network, frames: np.ndarray, t: int, lines: np.ndarray, device="cpu") -> np.ndarray:
    """Frame ``t`` of one slice's k-space frames (frames, coils, ky, kx) by a VarNet (its
    neighbouring frames as extra coils when the network takes them): magnitude (ky, kx)."""
    adjacent = adjacent_frames(t, len(frames), getattr(network, "num_adj_frames", 1))
    return varnet_stacked(network, np.concatenate([frames[f] for f in adjacent]), frames.shape[1], lines, device)


def varnet_stacked(network, stacked: np.ndarray, num_coils: int, lines: np.ndarray, device="cpu") -> np.ndarray:
    """VarNet on frames stacked as coils (frames × coils, ky, kx), the middle frame's coils
    setting the input scale: magnitude (ky, kx) of the middle frame, on the input's scale."""
    import torch

    centre = stacked[(len(stacked) // num_coils // 2) * num_coils:][:num_coils]
    scale = input_scale(centre)
    masked, mask = varnet_input(stacked / scale, lines)
    with torch.no_grad():
        image = network(masked.to(device), mask.to(device))[0]
    return image.T.cpu().numpy() * scale


def baseline_slice(method: str, kspace: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Zero-filled RSS or CG-SENSE (ACS coil maps) of one slice: magnitude (ky, kx)."""
    from medvit.recon.baselines import sense, zero_filled

    if method == "zero_filled":
        return zero_filled(kspace)
    if method == "sense":
        return np.abs(sense(kspace, lines))
    raise MedvitError(f"unknown reconstruction method '{method}'; known: {', '.join(METHODS)}")


def selected_images(kspace_file, reconstruct: Callable[[int, int], np.ndarray], task: str | None = None) -> np.ndarray:
    """Reconstruct slices and frames of an open file one at a time.

    Args:
        kspace_file: an open :class:`~medvit.io.CMRxKSpace`.
        reconstruct: ``(t, z)`` → magnitude (ky, kx).
        task: "cine" / "mapping": only the slices and frames the challenge ranks; None: all.

    Returns:
        float32 (sx, sy, z', t') in MATLAB's order (sx = kx, sy = ky), full size.
    """
    from medvit.cmrxrecon.scoring import ranking_frames, ranking_slices

    slices, frames = range(kspace_file.num_slices), range(kspace_file.num_frames)
    if task is not None:
        slices, frames = slices[ranking_slices(len(slices))], frames[ranking_frames(len(frames), task)]
    images = np.stack([[reconstruct(t, z) for t in frames] for z in slices])  # (z', t', ky, kx)
    return images.transpose(3, 2, 0, 1).astype(np.float32)


@functools.lru_cache(maxsize=2)
def load_varnet(network_json: str, checkpoint: str | None, device: str = "cpu"):
    """A VarNet of these constructor arguments (JSON) with a checkpoint's weights, in eval mode (kept: cached)."""
    from medvit.nets import VarNet, load_state_dict

    network = VarNet(**json.loads(network_json))
    if checkpoint:
        load_state_dict(network, checkpoint, map_location=device, submodule="varnet")
    return network.to(device).eval()


def reconstruct_cmrx_file(
    path: str,
    *,
    root: str,
    output_dir: str,
    method: str = "varnet",
    network: dict | None = None,
    checkpoint: str | None = None,
    device: str | None = None,
    ranking_only: bool = True,
) -> dict:
    """Reconstruct one undersampled k-space file into a submission file; return its CSV row.

    Args:
        path: a CMRxRecon k-space file (``kspace_subRR`` or ``kspace_single_subRR``) with its
            ``*_mask.mat`` beside it.
        root: the folder the input tree starts at; the output keeps the path below it.
        output_dir: where the submission tree goes.
        method: "varnet" (the bundle's), or the baselines "zero_filled" / "sense" for comparison.
        network: :class:`~medvit.nets.VarNet` keyword arguments (``num_cascades``, ``chans``,
            ``num_adj_frames`` for temporal context, ``single_coil`` ...).
        checkpoint: VarNet weights (a state dict, fastMRI's released files, or a fastMRI
            Lightning checkpoint); None runs random weights (tests only: the row says so).
        device: "cuda" / "cpu"; default CUDA when available.
        ranking_only: write only what the challenge ranks (``img4ranking``, cropped); False:
            every slice and frame at full size.
    """
    import torch

    from medvit.cmrxrecon.layout import CMRxKSpace, write_submission
    from medvit.cmrxrecon.scoring import ranking_crop

    start = time.perf_counter()
    path = Path(path)
    kind = path.stem
    task = task_of(kind, path)
    weights = "" if method != "varnet" else (Path(checkpoint).name if checkpoint else "random (no checkpoint)")
    with CMRxKSpace(path) as kspace:
        if kspace.acceleration is None:
            raise MedvitError(f"{path}: '{kspace.variable}' is fully sampled: nothing to reconstruct")
        lines = kspace.read_line_mask()
        if method == "varnet":
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = load_varnet(json.dumps(network or {}, sort_keys=True), checkpoint, device)
            if model.single_coil != kspace.single_coil:
                wanted = "single-coil" if model.single_coil else "multi-coil"
                raise MedvitError(f"{path}: {kspace.variable} is {'single' if kspace.single_coil else 'multi'}-coil "
                                  f"k-space but the network is {wanted} (network_args#single_coil)")

            # neighbouring frames overlap from one frame to the next (selected_images runs t within z): read each once
            read = functools.lru_cache(maxsize=2 * model.num_adj_frames)(kspace.read_slice)

            def reconstruct(t, z):
                return varnet_slice(model, kspace, lines, t, z, device, read)
        else:
            def reconstruct(t, z):
                return baseline_slice(method, kspace.read_slice(t, z), lines)
        images = selected_images(kspace, reconstruct, task if ranking_only else None)
        row = {"acceleration": kspace.acceleration, "coils": kspace.num_coils}
    target = Path(output_dir) / path.relative_to(root)
    write_submission(target, ranking_crop(images) if ranking_only else images)
    return {**row, "task": task, "kind": kind, "slices": images.shape[2], "frames": images.shape[3],
            "method": method, "weights": weights, "seconds": round(time.perf_counter() - start, 3),
            "output": os.path.relpath(target, output_dir)}


def undersampled_files(dataset_dir: str | os.PathLike, accelerations=None) -> list[Path]:
    """The k-space files to reconstruct under ``dataset_dir``: every ``.mat`` but the masks and
    ``FullSample`` folders; in ``AccFactorRR`` folders only the ``accelerations`` asked for."""
    from medvit.cmrxrecon.layout import folder_acceleration

    root = Path(dataset_dir)
    if not root.is_dir():
        raise MedvitError(f"{root}: no such folder")
    wanted = None if accelerations is None else {int(r) for r in accelerations}
    files = []
    for path in sorted(root.rglob("*.mat")):
        folders = path.relative_to(root).parts[:-1]
        if path.stem.endswith("_mask") or "FullSample" in folders:
            continue
        factors = [folder_acceleration(f) for f in folders if f.startswith("AccFactor")]
        if wanted is not None and factors and factors[-1] not in wanted:
            continue
        files.append(path)
    if not files:
        raise MedvitError(f"{root}: no undersampled k-space files (.mat outside FullSample folders"
                          + (f", AccFactor {sorted(wanted)}" if wanted else "") + ")")
    return files


def run_cmrx_reconstruction(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, accelerations=(4, 8, 10),
                            workers: int = 1, scheduler=None, progress: bool = True, resume: bool = True, **options):
    """Reconstruct every undersampled file under ``dataset_dir`` into a submission tree in ``output_dir``.

    One row per file in ``<output_dir>/reconstructions.csv`` (the cohort runner: a bad file gets
    an error row and the others go on; a re-run skips files done with the same settings).
    ``options`` are :func:`reconstruct_cmrx_file`'s keyword arguments.
    """
    from medvit.batch import run_cohort
    from medvit.batch.ids import checkpoint_provenance

    root = Path(dataset_dir).resolve()
    if options.get("method", "varnet") != "varnet":  # a baseline's output (and resume key) owes nothing to the network
        options = {key: value for key, value in options.items() if key not in ("network", "checkpoint", "device")}
    settings = {"root": str(root), "output_dir": os.fspath(Path(output_dir).resolve()), **options}
    provenance = checkpoint_provenance(settings, "cmrxrecon_varnet_reconstruction")
    return run_cohort(undersampled_files(root, accelerations), reconstruct_cmrx_file, Path(output_dir) / OUTPUT_CSV,
                      settings, columns=COLUMNS, workers=workers, scheduler=scheduler, case_id="relative", root=root,
                      progress=progress, resume=resume, provenance=provenance)
