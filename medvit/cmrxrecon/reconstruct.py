"""Reconstructing CMRxRecon k-space files into submissions, one (frame, slice) at a time.

``bundles/cmrxrecon_varnet_reconstruction/configs/inference.json`` composes the run: a file
``.../AccFactor08/P001/cine_sax.mat`` (``kspace_sub08``, with ``cine_sax_mask.mat`` beside it) is
opened with its mask (``preprocessing``: :class:`~medvit.cmrxrecon.transforms.LoadCMRxKSpaced`),
:class:`KSpacePredictor` reconstructs the slices and frames the challenge ranks (or, with
``ranking_only`` false, all of them), each through ``inferer(masked_kspace, network, mask)``, and
``postprocessing`` writes ``<output_dir>/.../AccFactor08/P001/cine_sax.mat`` holding
``img4ranking`` (cropped as the challenge's ``run4Ranking.m`` does, or full size: ``medvit
recon-score`` reduces those) and the file's row.

Each slice goes through E2E-VarNet (:class:`medvit.nets.VarNet`) as fastMRI lays it out:
``(coils, kx, ky)`` with the phase-encoding axis ky last, so the network's ``(kx, ky)`` output is
MATLAB's ``(sx, sy)``. With temporal context (the network's ``num_adj_frames``) the neighbouring
frames, circularly, go in as extra coils. The zero-filled and SENSE baselines (``method``) are
there to compare against, never in place of the network.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.bundle.workflow import CasePredictor, bundle_component
from medvit.cmrxrecon.layout import folder_acceleration
from medvit.cmrxrecon.scoring import ranking_frames, ranking_slices
from medvit.errors import MedvitError
from medvit.nets import load_state_dict
from medvit.recon.baselines import sense, zero_filled
from medvit.recon.masks import apply_mask

BUNDLE_NAME = "cmrxrecon_varnet_reconstruction"
METHODS = ("varnet", "zero_filled", "sense")
# The config ids a baseline (no network) does not use: null in its cases' config, so that neither
# the network's settings nor its checkpoint change a baseline's fingerprint.
NETWORK_IDS = ("network_def", "network_args", "network", "inferer", "ckpt_path", "load_pretrain", "checkpoint",
               "device", "amp")


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
    masked = apply_mask(np.asarray(kspace, dtype=np.complex64), lines, axis=-2)
    tensor = torch.view_as_real(torch.from_numpy(np.ascontiguousarray(np.swapaxes(masked, -1, -2))))
    return tensor[None].contiguous(), torch.from_numpy(np.asarray(lines, dtype=bool)).view(1, 1, 1, -1, 1)


def input_scale(kspace: np.ndarray) -> float:
    """The maximum of the zero-filled RSS of a slice: inputs are divided by it (the network is
    scale-equivariant; this keeps its activations near 1 whatever the scanner's scale)."""
    peak = float(zero_filled(kspace).max())
    return peak if peak > 0 else 1.0


def read_frames(kspace_file, t: int, z: int, num_adj_frames: int = 1, read=None) -> np.ndarray:
    """Frame ``t`` of slice ``z`` with its neighbours stacked as extra coils: (frames × coils, ky, kx).
    ``read(t, z)``: the file's ``read_slice`` (default), or a cached one."""
    read = read or kspace_file.read_slice
    return np.concatenate([read(f, z) for f in adjacent_frames(t, kspace_file.num_frames, num_adj_frames)])


def varnet_slice(network, kspace_file, lines: np.ndarray, t: int, z: int, device="cpu", read=None,
                 inferer: Callable | None = None) -> np.ndarray:
    """Reconstruct frame ``t`` of slice ``z`` with a VarNet (run by ``inferer``, see :func:`varnet_stacked`):
    magnitude (ky, kx), on the file's scale."""
    stacked = read_frames(kspace_file, t, z, getattr(network, "num_adj_frames", 1), read)
    return varnet_stacked(network, stacked, kspace_file.num_coils, lines, device, inferer)


def varnet_frame(network, frames: np.ndarray, t: int, lines: np.ndarray, device="cpu") -> np.ndarray:
    """Frame ``t`` of one slice's k-space frames (frames, coils, ky, kx) by a VarNet (its
    neighbouring frames as extra coils when the network takes them): magnitude (ky, kx)."""
    adjacent = adjacent_frames(t, len(frames), getattr(network, "num_adj_frames", 1))
    return varnet_stacked(network, np.concatenate([frames[f] for f in adjacent]), frames.shape[1], lines, device)


def varnet_stacked(network, stacked: np.ndarray, num_coils: int, lines: np.ndarray, device="cpu",
                   inferer: Callable | None = None) -> np.ndarray:
    """VarNet on frames stacked as coils (frames × coils, ky, kx), the middle frame's coils
    setting the input scale: magnitude (ky, kx) of the middle frame, on the input's scale.

    ``inferer``: how the network is run, ``inferer(masked_kspace, network, mask)`` (a MONAI
    inferer passes the mask on to the network); default: ``network(masked_kspace, mask)``.
    """
    centre = stacked[(len(stacked) // num_coils // 2) * num_coils:][:num_coils]
    scale = input_scale(centre)
    masked, mask = varnet_input(stacked / scale, lines)
    masked, mask = masked.to(device), mask.to(device)
    with torch.no_grad():
        image = inferer(masked, network, mask) if inferer is not None else network(masked, mask)
    return image[0].float().T.cpu().numpy() * scale


def baseline_slice(method: str, kspace: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Zero-filled RSS or CG-SENSE (ACS coil maps) of one slice: magnitude (ky, kx)."""
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
    slices, frames = range(kspace_file.num_slices), range(kspace_file.num_frames)
    if task is not None:
        slices, frames = slices[ranking_slices(len(slices))], frames[ranking_frames(len(frames), task)]
    images = np.stack([[reconstruct(t, z) for t in frames] for z in slices])  # (z', t', ky, kx)
    return images.transpose(3, 2, 0, 1).astype(np.float32)


def load_varnet_weights(network, path: str | os.PathLike, map_location: str = "cpu"):
    """The bundle's checkpoint loader (``network#loader``): a VarNet state dict, fastMRI's released
    files, or a fastMRI Lightning checkpoint (its ``varnet.`` parameters)."""
    return load_state_dict(network, path, map_location=map_location, submodule="varnet")


class KSpacePredictor(CasePredictor):
    """One k-space file → its reconstructed images: the bundle's ``predictor``.

    ``predict`` reconstructs the file's ranked slices and frames (all of them without
    ``ranking_only``) one (frame, slice) at a time: for ``method`` "varnet" through
    ``inferer(masked_kspace, network, mask)`` (:func:`varnet_stacked`, the neighbouring frames as
    extra coils when the network takes them), for a baseline by :func:`baseline_slice` without a
    network.

    Args:
        network: the VarNet (:func:`~medvit.bundle.workflow.load_network`); None for a baseline.
        preprocessing: opens the file (:class:`~medvit.cmrxrecon.transforms.LoadCMRxKSpaced`),
            giving ``image`` (the open :class:`~medvit.cmrxrecon.layout.CMRxKSpace`), ``mask``
            (bool (ky,)) and ``task``.
        method: "varnet", or the baselines "zero_filled" / "sense".
        ranking_only: reconstruct only what the challenge ranks.
        amp: autocast; off by default (the network's FFTs want float32, and cuFFT half precision
            takes power-of-two sizes only).
        Others: as :class:`~medvit.bundle.workflow.CasePredictor`.

    ``pred``: float32 (sx, sy, z', t') in MATLAB's order (sx = kx, sy = ky), full size.
    """

    def __init__(self, network, preprocessing: Callable, inferer: Callable | None = None,
                 postprocessing: Callable | None = None, evaluation: Callable | None = None, device=None,
                 amp: bool | None = False, method: str = "varnet", ranking_only: bool = True,
                 image_key: str = "image", mask_key: str = "mask", pred_key: str = "pred"):
        if method not in METHODS:
            raise MedvitError(f"unknown reconstruction method '{method}'; known: {', '.join(METHODS)}")
        if method == "varnet" and (network is None or inferer is None):
            raise MedvitError("method 'varnet' needs the network and the inferer")
        super().__init__(network if method == "varnet" else None, preprocessing, inferer, postprocessing, evaluation,
                         device, bool(amp), image_key, pred_key)
        self.method, self.ranking_only, self.mask_key = method, bool(ranking_only), mask_key

    def predict(self, data: dict) -> np.ndarray:
        lines = np.asarray(data[self.mask_key], dtype=bool)
        # the preprocessing opened the file; reading it ends here
        with data[self.image_key] as kspace:
            reconstruct = self._varnet(kspace, lines) if self.method == "varnet" else self._baseline(kspace, lines)
            return selected_images(kspace, reconstruct, data["task"] if self.ranking_only else None)

    def _varnet(self, kspace, lines: np.ndarray) -> Callable[[int, int], np.ndarray]:
        network = self.network
        if network.single_coil != kspace.single_coil:
            wanted = "single-coil" if network.single_coil else "multi-coil"
            raise MedvitError(f"{kspace.path}: {kspace.variable} is {'single' if kspace.single_coil else 'multi'}-coil "
                              f"k-space but the network is {wanted} (network_args#single_coil)")
        # neighbouring frames overlap from one frame to the next (selected_images runs t within z): read each once
        read = functools.lru_cache(maxsize=2 * network.num_adj_frames)(kspace.read_slice)

        def reconstruct(t: int, z: int) -> np.ndarray:
            with torch.autocast(device_type=self.device.type, enabled=self.amp):
                return varnet_slice(network, kspace, lines, t, z, self.device, read, self.inferer)

        return reconstruct

    def _baseline(self, kspace, lines: np.ndarray) -> Callable[[int, int], np.ndarray]:
        return lambda t, z: baseline_slice(self.method, kspace.read_slice(t, z), lines)

    def case_config(self, config: dict) -> dict:
        """A baseline's cases owe nothing to the network: its ids are null there (see :data:`NETWORK_IDS`)."""
        if self.method == "varnet":
            return config
        return {**config, **{key: None for key in NETWORK_IDS if key in config}}

    def describe(self) -> dict:
        return {**super().describe(), "method": self.method} if self.method == "varnet" else {"method": self.method}


def undersampled_files(dataset_dir: str | os.PathLike, accelerations=None) -> list[Path]:
    """The k-space files to reconstruct under ``dataset_dir``: every ``.mat`` but the masks and
    ``FullSample`` folders; in ``AccFactorRR`` folders only the ``accelerations`` asked for."""
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


def bundle_overrides(method: str | None = None, network: dict | None = None, checkpoint: str | os.PathLike | None = None,
                     device: str | None = None, ranking_only: bool | None = None, **others) -> dict:
    """Config overrides for the bundle from Python arguments (``network``: ``network_args``
    entries; ``checkpoint``: the VarNet weights, None for random ones)."""
    overrides = {f"network_args#{key}": value for key, value in (network or {}).items()}
    overrides["load_pretrain"] = bool(checkpoint)
    if checkpoint:
        overrides["ckpt_path"] = os.fspath(checkpoint)
    for key, value in (("method", method), ("device", device), ("ranking_only", ranking_only)):
        if value is not None:
            overrides[key] = value
    return {**overrides, **others}


def reconstruct_cmrx_file(path: str | os.PathLike, *, root: str | os.PathLike, output_dir: str | os.PathLike,
                          method: str = "varnet", network: dict | None = None, checkpoint: str | os.PathLike | None = None,
                          device: str | None = None, ranking_only: bool = True) -> dict:
    """Reconstruct one undersampled k-space file into a submission file with the bundle's predictor
    (built once per process and settings); returns its row.

    Args:
        path: a CMRxRecon k-space file (``kspace_subRR`` or ``kspace_single_subRR``) with its
            ``*_mask.mat`` beside it.
        root: the folder the input tree starts at; the output keeps the path below it.
        output_dir: where the submission tree goes.
        method: "varnet" (the bundle's), or the baselines "zero_filled" / "sense" for comparison.
        network: :class:`~medvit.nets.VarNet` keyword arguments (``network_args``).
        checkpoint: VarNet weights; None runs random weights (tests only: the row says so).
        device: "cuda" / "cpu"; default CUDA when available.
        ranking_only: write only what the challenge ranks (cropped); False: every slice and
            frame at full size.
    """
    overrides = bundle_overrides(method, network, checkpoint, device, ranking_only, dataset_dir=os.fspath(root),
                                 output_dir=os.fspath(output_dir))
    return bundle_component(bundles_root() / BUNDLE_NAME, "predictor", **overrides)(os.fspath(path))


def run_cmrx_reconstruction(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, *, accelerations=(4, 8, 10),
                            method: str = "varnet", network: dict | None = None,
                            checkpoint: str | os.PathLike | None = None, device: str | None = None,
                            ranking_only: bool = True, **options):
    """The bundle's ``inference.json`` on every undersampled file under ``dataset_dir``: a submission
    tree in ``output_dir`` and one row per file in ``<output_dir>/reconstructions.csv`` (a bad
    file gets an error row and the others go on; a re-run skips files done with the same
    settings). ``options``: further config ids (``workers``, ``scheduler``, ``progress``,
    ``resume``, ...). Returns the table."""
    overrides = bundle_overrides(method, network, checkpoint, device, ranking_only, accelerations=list(accelerations),
                                 **options)
    return run_config(bundles_root() / BUNDLE_NAME, "inference.json", dataset_dir=os.fspath(dataset_dir),
                      output_dir=os.fspath(output_dir), **overrides)
