"""torchrun / DistributedDataParallel support: one process per device, data sharded by rank.

Under `torchrun --nproc_per_node N -m attnsight ...` every process runs the same command; the
environment torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT) is all it takes.
Every rank draws the same global batch (same seed) and trains on its slice of it, so N ranks
with a global batch B follow the gradient a single process would take on B. Evaluation is
split across ranks the same way and gathered, so every rank sees the same metrics and takes
the same early-stopping decision. Outside torchrun all of this is a no-op.
"""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True outside torchrun and on rank 0 under it: the process that writes files and prints."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its local rank."""
    if device.type == "cuda" and world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init(device: torch.device) -> bool:
    """Join the process group torchrun started (gloo on CPU, NCCL on CUDA); False when not under torchrun."""
    if world_size() <= 1:
        return False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_shutdown)
    return True


def _shutdown() -> None:
    # DistributedDataParallel wrappers sit in reference cycles: collected here, while the interpreter
    # is whole, rather than during its teardown, where gloo's pending work aborts the process
    gc.collect()
    # together: a rank that tears its group down while another still writes can abort in gloo
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard_gather(n: int, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`compute(rows)` over rows 0..n-1, split across ranks and gathered back in order on every rank.

    `compute` returns an array whose first axis matches `rows`. Alone, it runs on every row.
    """
    if not active():
        return compute(np.arange(n))
    world, me = dist.get_world_size(), dist.get_rank()
    parts: list[np.ndarray | None] = [None] * world
    dist.all_gather_object(parts, np.asarray(compute(np.arange(me, n, world))))
    first = parts[0]
    out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
    for r, part in enumerate(parts):
        out[r::world] = part
    return out


def from_main(compute: Callable[[], T]) -> T:
    """`compute()` run on rank 0 only and its (picklable) result given to every rank: work whose
    result is the same everywhere, done once. Alone, it just runs."""
    if not active():
        return compute()
    box = [compute() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree(flag: bool) -> bool:
    """True on every rank when it is true on any (one rank out of time stops them all)."""
    if not active():
        return flag
    t = _tensor([int(flag)], torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean(value: float) -> float:
    """The mean of a number over ranks (a training loss: each rank saw its own slice)."""
    if not active():
        return value
    t = _tensor([value], torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def _tensor(values: list[float], dtype: torch.dtype) -> torch.Tensor:
    # NCCL reduces CUDA tensors only
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor(values, dtype=dtype, device=device)


def barrier() -> None:
    if active():
        dist.barrier()
