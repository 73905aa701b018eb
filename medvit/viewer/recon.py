"""Reconstructions side by side: zero-filled, SENSE (and VarNet when given) against the fully
sampled reference, with error maps and the challenge's PSNR / SSIM / NMSE per frame."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from medvit.bundle.registry import bundles_root
from medvit.bundle.workflow import bundle_component
from medvit.cmrxrecon import CMRxKSpace
from medvit.cmrxrecon.cardiac_phantom import cardiac_cine
from medvit.cmrxrecon.reconstruct import BUNDLE_NAME
from medvit.cmrxrecon.scoring import score_image
from medvit.demo import CMRX_TOY_NETWORK
from medvit.errors import MedvitError
from medvit.recon.baselines import sense, zero_filled
from medvit.recon.masks import cmrx_mask
from medvit.viewer.samples import sample_output


@dataclass
class Comparison:
    """Magnitude images (frames, ky, kx) per method, the line mask and the scores per frame."""

    images: dict[str, np.ndarray]
    mask: np.ndarray  # bool (ky,)
    scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    acceleration: int = 0
    pixel_mm: tuple[float, float] | None = None  # (ky, kx) when known

    def shown(self, method: str, frame: int) -> np.ndarray:
        """One frame as displayed: the central half of the 2× oversampled readout (kx), as scanners show it."""
        return readout_crop(self.images[method][frame])

    def error(self, method: str, frame: int) -> np.ndarray:
        """|method − reference| of one frame, each image scaled by its own maximum (as scored)."""
        ref = self.images["reference"][frame]
        pred = self.images[method][frame]
        return np.abs(pred / max(float(pred.max()), 1e-12) - ref / max(float(ref.max()), 1e-12))

    def mean_scores(self) -> dict[str, dict[str, float]]:
        return {m: {k: float(np.mean([s[k] for s in rows])) for k in rows[0]} for m, rows in self.scores.items()}


def readout_crop(image: np.ndarray) -> np.ndarray:
    """(..., ky, kx) → (..., ky, kx // 2): the central half of the readout, without its 2× oversampling."""
    nx = image.shape[-1]
    return image[..., nx // 4: nx // 4 + nx // 2]


def compare(kspace: np.ndarray, acceleration: int, sense_iterations: int = 10, varnet=None,
            pixel_mm: tuple[float, float] | None = None) -> Comparison:
    """Undersample fully sampled multi-coil k-space (frames, coils, ky, kx) with the CMRxRecon
    mask of ``acceleration`` and reconstruct every frame each way.

    Args:
        varnet: optional :class:`~medvit.nets.VarNet` (e.g. :func:`varnet_network`), run on each
            frame as the bundle runs it (:func:`medvit.cmrxrecon.reconstruct.varnet_frame`).
        pixel_mm: the images' pixel size (ky, kx) in mm, when known (for display).
    """
    kspace = np.asarray(kspace)
    if kspace.ndim != 4:
        raise MedvitError(f"expected k-space (frames, coils, ky, kx), got shape {kspace.shape}")
    mask = cmrx_mask(kspace.shape[-2], acceleration)
    masked = kspace * mask[None, None, :, None]
    methods = {"reference": [], "zero-filled": [], "SENSE": []}
    if varnet is not None:
        from medvit.cmrxrecon.reconstruct import varnet_frame

        methods["VarNet"] = []
    for t, (frame, sampled) in enumerate(zip(kspace, masked)):
        methods["reference"].append(zero_filled(frame))  # fully sampled: the reference
        methods["zero-filled"].append(zero_filled(sampled))
        methods["SENSE"].append(np.abs(sense(sampled, mask, iterations=sense_iterations)))
        if varnet is not None:
            methods["VarNet"].append(varnet_frame(varnet, masked, t, mask))
    images = {name: np.stack(frames).astype(np.float32) for name, frames in methods.items()}
    scores = {name: [score_image(images[name][t], images["reference"][t]) for t in range(len(kspace))]
              for name in images if name != "reference"}
    return Comparison(images, mask, scores, int(acceleration), pixel_mm)


def sample_kspace(num_frames: int = 6, seed: int = 0) -> tuple[np.ndarray, tuple[float, float]]:
    """A synthetic multi-coil short-axis cine slice (:mod:`medvit.cmrxrecon.cardiac_phantom`): its
    k-space (frames, coils, ky, kx) and pixel size (ky, kx) in mm."""
    data = cardiac_cine(num_frames=num_frames, num_ky=96, num_kx=192, num_coils=4, seed=seed)
    return data["kspace"], data["pixel_mm"]


def read_kspace_slice(path, z: int = 0) -> np.ndarray:
    """All frames of one slice of a fully sampled CMRxRecon ``.mat`` as (frames, coils, ky, kx)."""
    with CMRxKSpace(path) as kspace:
        if not 0 <= z < kspace.num_slices:
            raise MedvitError(f"{path}: slice {z} out of range (0..{kspace.num_slices - 1})")
        if kspace.single_coil:
            raise MedvitError(f"{path}: single-coil k-space; the comparison needs multi-coil data (SENSE)")
        kspace.check_fully_sampled()  # it is the reference every reconstruction is scored against
        return np.stack([kspace.read_slice(t, z) for t in range(kspace.num_frames)])


def varnet_network(checkpoint: str, network_json: str = "{}"):
    """The bundle's ``network`` (a VarNet of these constructor arguments, JSON, with the checkpoint's
    weights, on the CPU), built once per process and settings.

    Raises:
        MedvitError: the checkpoint is missing or does not fit the arguments.
    """
    try:
        arguments = json.loads(network_json or "{}")
    except ValueError as err:
        raise MedvitError(f"VarNet arguments are not JSON: {err}") from None
    if not isinstance(arguments, dict):
        raise MedvitError(f"VarNet arguments must be a JSON object, not {network_json!r}")
    overrides = {f"network_def#{key}": value for key, value in arguments.items()}
    return bundle_component(bundles_root() / BUNDLE_NAME, "network", ckpt_path=checkpoint, load_pretrain=True,
                            device="cpu", **overrides)


def toy_varnet(make: bool = True) -> tuple[str, str] | None:
    """The ``medvit demo`` step's toy VarNet as ``(checkpoint path, constructor arguments as
    JSON)`` for :func:`varnet_network`; trained once on first use (a few CPU minutes), None when
    it is not there and ``make`` is False."""
    folder = sample_output("recon", make=make)
    if folder is None or not (folder / "model.pt").is_file():
        return None
    arguments = {key.split("#", 1)[1]: value for key, value in CMRX_TOY_NETWORK.items()}
    return str(folder / "model.pt"), json.dumps(arguments, sort_keys=True)
