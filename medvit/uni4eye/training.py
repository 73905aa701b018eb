"""Uni4Eye pre-training and fine-tuning pieces for MONAI's engines (the bundle's configs).

Pre-training runs MONAI's ``SupervisedTrainer`` with :func:`medvit.nets.mae.mae_loss` as its
loss (the network's own masked losses, no labels) over batches that
:class:`~medvit.uni4eye.items.InterleavedBatchSampler` makes 2D or 3D in turn;
:class:`MimLossLog` writes the losses of every step, per kind, to a CSV.
Fine-tuning loads the pre-trained encoder into the classifier with :func:`pretrained_encoder`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd
from ignite.engine import Events

from medvit.io.atomic import atomic_path
from medvit.nets.vit_checkpoints import load_pretrained_encoder

LOSS_COLUMNS = ("epoch", "iteration", "spatial_dims", "loss", "loss_image", "loss_gradient")


class MimLossLog:
    """Handler: every step's losses with its kind (2D / 3D) to ``path`` (CSV, rewritten
    atomically at each epoch's end). Attach on one rank only."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.record)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write)

    def record(self, engine) -> None:
        output = engine.state.output  # the trainer's: "image", "pred" (the network's dict), "loss"
        losses = {key: float(output["pred"][key].detach()) for key in LOSS_COLUMNS[3:]}
        self.rows.append({"epoch": engine.state.epoch, "iteration": engine.state.iteration,
                          "spatial_dims": output["image"].ndim - 2, **losses})

    def write(self, engine=None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOSS_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)


def loss_trend(path: str | os.PathLike, epochs: int = 1) -> dict[int, dict[str, tuple[float, float]]]:
    """From a :class:`MimLossLog` CSV: per kind (2, 3) and loss, its mean over the first and
    over the last ``epochs`` epochs, ``(first, last)``."""
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
    if checkpoint:
        load_pretrained_encoder(network, checkpoint, map_location)
    return network
