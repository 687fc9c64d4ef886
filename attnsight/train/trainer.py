"""One Trainer for every objective: AdamW, warm-up, clipping, early stopping, budget, checkpoints.

It knows nothing about the model: it gets batches, a loss function and an evaluation function.
Under torchrun it trains with DistributedDataParallel (see attnsight.train.distributed).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import math
import pickle
import re
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from attnsight.errors import AttnsightError, ConfigError, last_line
from attnsight.files import write_atomic
from attnsight.train import distributed
from attnsight.train.batches import Batch

log = logging.getLogger(__name__)

LossFn = Callable[[nn.Module, Batch], Tensor]
EvalFn = Callable[[nn.Module], dict[str, float]]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _config_of(model: nn.Module) -> dict | None:
    """The model's settings (the dataclass every attnsight model keeps as `config`), as a checkpoint stores them."""
    config = getattr(model, "config", None)
    return asdict(config) if is_dataclass(config) else None


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when there is one, else the CPU; 'cpu', 'cuda' and 'cuda:N' are taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for, but no CUDA device is available (--device auto uses one when there is)")
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device} asked for, but this machine has CUDA devices 0 to "
                          f"{torch.cuda.device_count() - 1} only")
    return torch.device(device)


@dataclass
class TrainerConfig:
    epochs: int = 200  # upper bound; early stopping and the time budget usually end sooner
    lr: float = 1e-3  # AdamW learning rate after warm-up
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    linear_decay: bool = False  # then decay linearly to 0 at the last step of `epochs` (fine-tuning)
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    patience: int = 10  # evaluations without improvement of `monitor` before stopping
    monitor: str = "ndcg@10"  # validation metric that selects the model (higher is better)
    eval_every: int = 1  # epochs between validations
    time_budget: float | None = None  # seconds of training, after which the best model is kept
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    checkpoint: str | None = None  # file for atomic per-epoch checkpoints (resume with resume=True)
    resume: bool = False
    log_dir: str | None = None  # TensorBoard scalars
    data_digest: str | None = None  # `data_digest` of what the run trains on: a resume on other data is refused


def data_digest(*parts: Sequence[str] | np.ndarray) -> str:
    """A short hash of a run's data (texts and labels, items, event arrays), kept in its checkpoints."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            for value in part:
                digest.update(value.encode("utf-8") + b"\0")
        digest.update(b"\1")  # parts end here, so ["ab"], ["c"] and ["a"], ["bc"] differ
    return digest.hexdigest()[:16]


@dataclass
class TrainResult:
    best_metrics: dict[str, float]
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "epochs"  # epochs | early_stopping | time_budget


class Callback(Protocol):
    def on_train_start(self, trainer: Trainer, epochs: int, steps_per_epoch: int) -> None: ...
    def on_step(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None: ...
    # result is None when training ends by an exception, which goes on once every callback has seen it
    def on_train_end(self, trainer: Trainer, result: TrainResult | None) -> None: ...


class Trainer:
    def __init__(self, config: TrainerConfig, callbacks: Sequence[Callback] = (), name: str = "train") -> None:
        self.config = config
        self.callbacks = list(callbacks)
        self.name = name  # tags logs and progress: "pretrain", "train"
        self.device = distributed.local_device(resolve_device(config.device))
        self.distributed = distributed.init(self.device)
        self.main = distributed.is_main_process()  # the one rank that logs, reports and writes checkpoints
        if not self.main:
            self.callbacks = []

    def fit(
        self,
        model: nn.Module,
        batches: Callable[[np.random.Generator], Iterable[Batch]],
        steps_per_epoch: int,
        loss_fn: LossFn,
        evaluate: EvalFn | None = None,
        param_groups: Sequence[dict] | None = None,
    ) -> TrainResult:
        """Train until epochs, patience or the time budget run out; the model ends at its best state.

        `batches(rng)` yields one epoch of batches; seeding it per epoch makes a resumed run
        draw the same batches as an uninterrupted one. Under torchrun every rank draws the same
        global batches and trains on its own slice of each. `param_groups` (each with an "lr_scale"
        of at most 1) give parts of the model their own share of the learning rate.
        """
        cfg = self.config
        model.to(self.device)
        step_module = _LossModule(model, loss_fn)
        if self.distributed:
            # static graph: the same parameters take part in every step, and those that never do
            # (a pretraining head during fine-tuning) are handled without a per-step graph search
            step_module = nn.parallel.DistributedDataParallel(
                step_module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                static_graph=True,
            )
        # the fused kernel updates each tensor in one pass (a step with a 65,536-row embedding table
        # took 443 ms per-operation and 251 ms fused on CPU)
        groups = [{"params": model.parameters()}] if param_groups is None else \
            [{"params": g["params"], "lr": cfg.lr * g["lr_scale"]} for g in param_groups]
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                      fused=self.device.type in ("cpu", "cuda"))
        warmup, total = max(cfg.warmup_steps, 1), max(cfg.epochs * steps_per_epoch, 1)

        def schedule(step: int) -> float:
            rise = min(1.0, (step + 1) / warmup)
            return rise * max(0.0, 1.0 - step / total) if cfg.linear_decay else rise

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        state = _State(best_score=-math.inf)
        if cfg.resume and cfg.checkpoint and Path(cfg.checkpoint).is_file():
            state = self._load(cfg.checkpoint, model, optimizer, scheduler)
            more_epochs = state.finished == "epochs" and state.epoch < cfg.epochs
            more_time = state.finished == "time_budget" and (cfg.time_budget or math.inf) > state.seconds
            if more_epochs or more_time:
                state.finished = None  # asked for more than the finished run had: go on
            log.info("%s: resumed from %s at epoch %d", self.name, cfg.checkpoint, state.epoch)
        writer = _tensorboard(cfg.log_dir) if self.main else None
        for cb in self.callbacks:
            cb.on_train_start(self, cfg.epochs, steps_per_epoch)
        try:
            start = time.perf_counter() - state.seconds
            stopped_by = state.finished or "epochs"
            while state.finished is None and state.epoch < cfg.epochs:
                epoch = state.epoch + 1
                model.train()
                losses = []
                torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout and objective sampling
                rng = np.random.default_rng([cfg.seed, epoch])
                out_of_time = False
                for step, batch in enumerate(_shards(batches(rng))):
                    loss = self._step(step_module, model, optimizer, scheduler, batch)
                    losses.append(loss)
                    for cb in self.callbacks:
                        cb.on_step(self, epoch, step, loss)
                    if cfg.time_budget and distributed.agree(time.perf_counter() - start > cfg.time_budget):
                        out_of_time = True
                        break
                loss = distributed.mean(float(np.mean(losses))) if losses else math.nan
                if losses and not math.isfinite(loss):
                    # before the epoch is checkpointed: a resume goes on from the last finite weights
                    raise AttnsightError(f"{self.name}: training diverged (loss {loss} in epoch {epoch}); "
                                         f"lower the learning rate (now {cfg.lr:g})")
                logs = {"loss": loss, "lr": max(scheduler.get_last_lr())}  # the full rate: groups scale it down
                if evaluate is not None and (epoch % cfg.eval_every == 0 or out_of_time or epoch == cfg.epochs):
                    model.eval()
                    logs.update({f"valid_{k}": v for k, v in evaluate(model).items()})
                    score = logs.get(f"valid_{cfg.monitor}", math.nan)
                    if score > state.best_score:
                        state.best_score, state.best_epoch, state.bad_evals = score, epoch, 0
                        state.best_state = copy.deepcopy(model.state_dict())
                        state.best_metrics = {k[6:]: v for k, v in logs.items() if k.startswith("valid_")}
                    else:
                        state.bad_evals += 1
                state.epoch, state.seconds = epoch, time.perf_counter() - start
                logs["seconds"] = state.seconds
                state.history.append({"epoch": epoch, **logs})
                if writer is not None:
                    for key, value in logs.items():
                        writer.add_scalar(f"{self.name}/{key}", value, epoch)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                if cfg.checkpoint:
                    self._save(cfg.checkpoint, model, optimizer, scheduler, state)
                if out_of_time:
                    stopped_by = "time_budget"
                    break
                if evaluate is not None and state.bad_evals >= cfg.patience:
                    stopped_by = "early_stopping"
                    break
            if cfg.checkpoint and state.finished is None:
                # a resumed run skips a phase that already ended; the last weights (not the best) are
                # kept so that a run extended to more epochs goes on as an uninterrupted one would
                state.finished = stopped_by
                self._save(cfg.checkpoint, model, optimizer, scheduler, state)
        except BaseException:
            # Ctrl-C, a diverged loss, a pruned trial: a progress bar still stops (and gives the terminal
            # its cursor back) before the error goes on
            for cb in self.callbacks:
                cb.on_train_end(self, None)
            raise
        finally:
            if writer is not None:
                writer.close()
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        result = TrainResult(
            state.best_metrics, state.best_epoch or state.epoch, state.epoch, state.seconds, state.history, stopped_by
        )
        for cb in self.callbacks:
            cb.on_train_end(self, result)
        return result

    def _step(self, step_module: nn.Module, model: nn.Module, optimizer, scheduler, batch: Batch) -> float:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self._autocast():
            loss = step_module(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
        optimizer.step()
        scheduler.step()
        return float(loss.detach())

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _save(self, path: str, model: nn.Module, optimizer, scheduler, state: _State) -> None:
        """Rank 0 writes; the others wait for it, so a resume on any rank reads the same file."""
        if not self.main:
            distributed.barrier()
            return
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "best_state": state.best_state,
            "meta": {
                "model_config": _config_of(model),
                "epoch": state.epoch,
                "best_score": state.best_score,
                "best_epoch": state.best_epoch,
                "bad_evals": state.bad_evals,
                "seconds": state.seconds,
                "best_metrics": state.best_metrics,
                "history": state.history,
                "finished": state.finished,
                "data_digest": self.config.data_digest,
            },
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp: torch.save(payload, tmp))  # a crash leaves the previous checkpoint whole
        distributed.barrier()

    def _load(self, path: str, model: nn.Module, optimizer, scheduler) -> _State:
        try:
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            reason = str(exc).strip().split(". ")[0].rstrip(".")[:200] or type(exc).__name__
            raise AttnsightError(f"{path}: unreadable checkpoint ({reason}); remove it to start afresh") from None
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
        except (RuntimeError, ValueError) as exc:  # torch's own message is a page of tensor shapes
            raise AttnsightError(f"{path}: this checkpoint does not fit the run being resumed ({last_line(exc)}); "
                                 "resume with the options it was started with, or start afresh without --resume") from None
        meta = payload["meta"]
        # options that change no weight's shape (heads, dropout, pooling) would load silently into another model
        written, current = meta.get("model_config"), _config_of(model)
        if written is not None and current is not None and written != current:
            key = next(k for k in current if written.get(k) != current[k])
            raise AttnsightError(f"{path}: this checkpoint is of a model with {key} {written.get(key)!r}, not "
                                 f"{current[key]!r}; resume with the options it was started with, or start afresh "
                                 "without --resume")
        trained_on = meta.get("data_digest")
        if trained_on and self.config.data_digest and trained_on != self.config.data_digest:
            raise AttnsightError(f"{path}: this checkpoint was trained on other data (its texts, labels, items or "
                                 "events differ); resume on the data it was started with, or start afresh without "
                                 "--resume")
        return _State(
            epoch=meta["epoch"],
            best_score=meta["best_score"],
            best_epoch=meta["best_epoch"],
            bad_evals=meta["bad_evals"],
            seconds=meta["seconds"],
            best_metrics=meta["best_metrics"],
            history=meta["history"],
            best_state=payload["best_state"],
            finished=meta.get("finished"),
        )


class _LossModule(nn.Module):
    """The model with its loss as forward(): DistributedDataParallel syncs gradients of what
    runs through its forward, and objectives call model methods other than forward."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Batch) -> Tensor:
        return self.loss_fn(self.model, batch)


def _shards(batches: Iterable[Batch]) -> Iterator[Batch]:
    """This rank's slice of each global batch (all of it outside torchrun). A last batch with
    fewer rows than ranks is skipped on every rank alike, so all ranks take the same steps."""
    world, rank = distributed.world_size(), distributed.rank()
    for batch in batches:
        if world == 1:
            yield batch
            continue
        size = len(next(iter(batch.values())))
        if size < world:
            continue
        yield {k: v.tensor_split(world)[rank] for k, v in batch.items()}


@dataclass
class _State:
    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_evals: int = 0
    seconds: float = 0.0
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = None
    finished: str | None = None  # how training ended, once it has


def _tensorboard(log_dir: str | None):  # -> SummaryWriter | None
    if not log_dir:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir)
