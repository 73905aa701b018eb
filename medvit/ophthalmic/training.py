"""Uni4Eye pre-training and fine-tuning pieces for MONAI's engines (the bundle's configs).

Pre-training runs MONAI's ``SupervisedTrainer`` with :func:`mim_iteration` as its
``iteration_update`` (the network's own masked losses, no labels) over batches that
:class:`~medvit.ophthalmic.items.InterleavedBatchSampler` makes 2D or 3D in turn;
:class:`MimLossLog` writes the losses of every step, per kind, to a CSV.
Fine-tuning loads the pre-trained encoder into the classifier with :func:`pretrained_encoder`.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

LOSS_COLUMNS = ("epoch", "iteration", "spatial_dims", "loss", "loss_image", "loss_gradient")
logger = logging.getLogger(__name__)


def mim_iteration(engine, batchdata: dict) -> dict:
    """One masked-image-modelling step of :class:`medvit.nets.Uni4Eye` (``engine.network``):
    forward on ``batchdata["image"]`` (a 2D or a 3D batch), backward of its ``loss``, optimiser
    step (with autocast and the engine's grad scaler when ``amp``).

    Returns:
        ``{"loss", "loss_image", "loss_gradient"}`` as floats and ``spatial_dims``.
    """
    import torch

    images = batchdata["image"]
    images = (images.as_tensor() if hasattr(images, "as_tensor") else images).to(engine.state.device)
    engine.network.train()
    engine.optimizer.zero_grad(set_to_none=True)
    device_type = images.device.type
    with torch.autocast(device_type, enabled=bool(engine.amp) and device_type == "cuda"):
        out = engine.network(images)
    scaler = getattr(engine, "scaler_", None)
    if engine.amp and scaler is not None:
        scaler.scale(out["loss"]).backward()
        scaler.step(engine.optimizer)
        scaler.update()
    else:
        out["loss"].backward()
        engine.optimizer.step()
    result = {key: float(out[key].detach()) for key in ("loss", "loss_image", "loss_gradient")}
    return {**result, "spatial_dims": images.ndim - 2}


class MimLossLog:
    """Handler: every step's losses with its kind (2D / 3D) to ``path`` (CSV, rewritten
    atomically at each epoch's end). Attach on one rank only."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self.record)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write)

    def record(self, engine) -> None:
        output = engine.state.output
        self.rows.append({"epoch": engine.state.epoch, "iteration": engine.state.iteration,
                          **{key: output[key] for key in LOSS_COLUMNS[2:]}})

    def write(self, engine=None) -> None:
        from medvit.io.atomic import atomic_path

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOSS_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)


def loss_trend(path: str | os.PathLike, epochs: int = 1) -> dict[int, dict[str, tuple[float, float]]]:
    """From a :class:`MimLossLog` CSV: per kind (2, 3) and loss, its mean over the first and
    over the last ``epochs`` epochs, ``(first, last)``."""
    import pandas as pd

    table = pd.read_csv(path)
    first, last = table["epoch"].min(), table["epoch"].max()
    trend = {}
    for dims, rows in table.groupby("spatial_dims"):
        early = rows[rows["epoch"] < first + epochs]
        late = rows[rows["epoch"] > last - epochs]
        trend[int(dims)] = {key: (float(early[key].mean()), float(late[key].mean())) for key in LOSS_COLUMNS[3:]}
    return trend


def pretrained_encoder(network, checkpoint: str | os.PathLike | None = None, map_location: str = "cpu"):
    """``network`` (a :class:`~medvit.nets.UnifiedViT` classifier) with the encoder weights of
    ``checkpoint`` (a Uni4Eye pre-training checkpoint, or a timm / MAE ViT for the 2D path);
    unchanged when ``checkpoint`` is None or empty (training from scratch)."""
    from medvit.errors import MedvitError
    from medvit.nets import load_checkpoint

    if not checkpoint:
        return network
    if not Path(checkpoint).is_file():
        raise MedvitError(f"{checkpoint}: no such pre-training checkpoint")
    report = load_checkpoint(network, checkpoint, map_location=map_location)
    logger.info("encoder from %s; new: %s", checkpoint, ", ".join(report["initialised"]) or "nothing")
    return network
