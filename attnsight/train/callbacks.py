"""Trainer callbacks: a rich progress bar and a log line per epoch."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attnsight.train.trainer import Trainer, TrainResult

log = logging.getLogger(__name__)


class RichProgress:
    """One bar per epoch with the running loss, and (unless `epoch_lines` is off: the bar alone, gone
    when training ends) a line per epoch with validation metrics."""

    def __init__(self, console: Console | None = None, metrics: tuple[str, ...] = ("ndcg@10", "hr@10"),
                 epoch_lines: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.metrics = metrics
        self.epoch_lines = epoch_lines
        self._progress: Progress | None = None
        self._task = None
        self._steps = 0

    def on_train_start(self, trainer: Trainer, epochs: int, steps_per_epoch: int) -> None:
        self._steps = steps_per_epoch
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(f"{trainer.name} epoch 1", total=steps_per_epoch, loss=float("nan"))

    def on_step(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, completed=step + 1, loss=loss, description=f"{trainer.name} epoch {epoch}"
            )

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.epoch_lines:
            shown = "  ".join(f"{m} {logs[f'valid_{m}']:.4f}" for m in self.metrics if f"valid_{m}" in logs)
            self.console.print(
                f"{trainer.name} epoch {epoch:>3}  loss {logs['loss']:.4f}  {shown}  [{logs['seconds']:.0f}s]",
                highlight=False,
            )
        if self._progress is not None:
            self._progress.reset(self._task, total=self._steps)

    def on_train_end(self, trainer: Trainer, result: TrainResult | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class LogProgress:
    """Epoch lines through `logging`, for runs in the background or without a terminal."""

    def on_train_start(self, trainer: Trainer, epochs: int, steps_per_epoch: int) -> None:
        log.info("%s: up to %d epochs of %d steps on %s", trainer.name, epochs, steps_per_epoch, trainer.device)

    def on_step(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        log.info("%s epoch %d %s", trainer.name, epoch, " ".join(f"{k}={v:.4g}" for k, v in logs.items()))

    def on_train_end(self, trainer: Trainer, result: TrainResult | None) -> None:
        if result is None:  # ended by an exception, which says why itself
            return
        log.info("%s: stopped by %s after %d epochs, best epoch %d", trainer.name, result.stopped_by,
                 result.epochs, result.best_epoch)
