"""One line per training epoch (loss, and the validation metric when it ran) for bundle runs
from Python.

:func:`medvit.bundle.run.run_config` quietens MONAI's log (its INFO lines are per iteration and
mixed with many others), so without this a training run prints nothing for minutes. MONAI's
``StatsHandler`` prints per iteration or metrics only; the mean loss of an epoch is not a metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ignite is imported where a trainer is attached: an inference run needs none of it
    from ignite.engine import Engine

# config ids of the trainer and its validator in medvit's train.json / pretrain.json
TRAINER_IDS = ("train#trainer", "trainer")
EVALUATOR_IDS = ("validate#evaluator", "evaluator")


def _loss(output) -> float | None:
    """The loss in an engine's iteration output: a dict (``decollate=False``) or a list of
    per-item dicts that all carry the batch loss (MONAI's decollated output)."""
    if isinstance(output, list) and output and isinstance(output[0], dict):
        output = output[0]
    loss = output.get("loss") if isinstance(output, dict) else None
    if loss is None:
        return None
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


class EpochLog:
    """Prints ``epoch 3/12: loss 0.4512; val_mean_dice 0.6103 (2.1 s)`` when an epoch ends (the
    epoch's mean loss, its training metrics, and its validation metrics when validated); in a long
    run every n-th epoch only (:meth:`every`).

    Args:
        evaluator: the validation engine; its metrics are shown for the epochs it ran at.
        write: where the lines go (default ``print``, flushed).
    """

    def __init__(self, evaluator: Engine | None = None, write: Callable[[str], None] | None = None):
        self.evaluator = evaluator
        self.write = write or (lambda line: print(line, flush=True))
        self._losses: list[float] = []
        self._start = 0.0

    def attach(self, engine: Engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _started(self, engine: Engine) -> None:
        self.write(f"  training {engine.state.max_epochs} epochs of {engine.state.epoch_length} iterations")

    def _epoch_started(self, engine: Engine) -> None:
        self._losses, self._start = [], time.perf_counter()

    def _iteration_completed(self, engine: Engine) -> None:
        loss = _loss(engine.state.output)
        if loss is not None:
            self._losses.append(loss)

    def _epoch_completed(self, engine: Engine) -> None:
        epoch, epochs = engine.state.epoch, engine.state.max_epochs
        validated = self.evaluator is not None and self.evaluator.state.epoch == epoch  # it ran after this epoch
        if not (validated or epoch in (1, epochs) or epoch % self.every(epochs) == 0):
            return
        parts = [f"loss {sum(self._losses) / len(self._losses):.4f}"] if self._losses else []
        parts += [f"{k} {v:.4f}" for k, v in engine.state.metrics.items() if isinstance(v, (int, float))]
        if validated:
            parts += [f"{k} {v:.4f}" for k, v in self.evaluator.state.metrics.items() if isinstance(v, (int, float))]
        self.write(f"  epoch {epoch}/{epochs}: {'; '.join(parts) or 'done'} ({time.perf_counter() - self._start:.1f} s)")

    @staticmethod
    def every(epochs: int) -> int:
        """Show every n-th epoch: about ten lines for a long run (plus the first, the last and
        those validated)."""
        return max(1, epochs // 10)


def attach_epoch_log(parser) -> EpochLog | None:
    """Attach an :class:`EpochLog` to the trainer of a parsed bundle config (a
    ``ConfigParser`` after ``ConfigWorkflow.initialize``); None when the config trains nothing.

    The parser caches what it instantiates, so the trainer found here is the one ``run`` runs.
    """
    trainer_id = next((i for i in TRAINER_IDS if i in parser), None)
    if trainer_id is None:
        return None
    from ignite.engine import Engine

    trainer = parser.get_parsed_content(trainer_id)
    if not isinstance(trainer, Engine):
        return None
    evaluator_id = next((i for i in EVALUATOR_IDS if i in parser), None)
    evaluator = parser.get_parsed_content(evaluator_id) if evaluator_id else None
    log = EpochLog(evaluator if isinstance(evaluator, Engine) else None)
    log.attach(trainer)
    return log
