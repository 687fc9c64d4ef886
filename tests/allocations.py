"""Not a test module: a recorder of the tensors torch allocates, for tests that bound a step's memory
(`from allocations import Allocations`)."""

from __future__ import annotations

import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class Allocations(TorchDispatchMode):
    """Records the shape of every tensor an op makes while active (views make none)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: set[tuple[int, ...]] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view:
            return out
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.shapes.add(tuple(t.shape))
        return out

    def largest(self, but: tuple[int, ...] | None = None) -> int:
        """The most elements of any tensor made, leaving out tensors of shape `but`."""
        return max((math.prod(s) for s in self.shapes if s != but), default=0)
