"""Full-softmax cross-entropy over a large output vocabulary, without materialising all logits."""

from __future__ import annotations

import torch
from torch import Tensor


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Mean CE of `hidden @ weight.T` against targets, computed `chunk` rows at a time.

    The plain path materialises (N, V) logits, their log-softmax and its gradient: three
    N×V buffers that dominate a step's time and memory. Here each chunk's logits are made,
    reduced to a log-sum-exp and dropped; the backward pass recomputes them chunk by chunk
    and turns them into gradients in place. Column 0 (padding) never takes probability mass.
    On CUDA under autocast the inputs are cast to fp32: the softmax needs the range.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor, chunk: int) -> Tensor:
        n = hidden.shape[0]
        lse = torch.empty(n, dtype=hidden.dtype, device=hidden.device)
        target_logit = torch.empty_like(lse)
        for s in range(0, n, chunk):
            logits = hidden[s : s + chunk] @ weight.T
            logits[:, 0] = float("-inf")
            lse[s : s + chunk] = torch.logsumexp(logits, dim=1)
            target_logit[s : s + chunk] = logits.gather(1, targets[s : s + chunk, None])[:, 0]
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk = chunk
        return (lse - target_logit).mean()

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        hidden, weight, targets, lse = ctx.saved_tensors
        n, chunk = hidden.shape[0], ctx.chunk
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        scale = grad / n
        for s in range(0, n, chunk):
            h = hidden[s : s + chunk]
            p = h @ weight.T
            p[:, 0] = float("-inf")
            p.sub_(lse[s : s + chunk, None]).exp_()  # softmax, in place
            p[torch.arange(len(h), device=p.device), targets[s : s + chunk]] -= 1
            p.mul_(scale)
            grad_hidden[s : s + chunk] = p @ weight
            grad_weight.addmm_(p.T, h)
        return grad_hidden, grad_weight, None, None


def chunked_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, chunk: int = 512) -> Tensor:
    """Mean cross-entropy of logits hidden (N, C) @ weight (V, C)ᵀ; column 0 is excluded."""
    if hidden.shape[0] == 0:
        return hidden.sum() * 0.0
    return _ChunkedCrossEntropy.apply(hidden, weight, targets, chunk)
