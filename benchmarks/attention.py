"""Our attention step against a plain matmul-softmax-matmul reference, forward + backward.

    python benchmarks/attention.py [--batch 128 --length 200 --dim 64 --heads 2 --repeats 20]

At the SASRec shape (B=128, T=200, C=64, 2 heads, causal), on heads q, k, v of shape
(B, nh, T, hs): ours is `attnsight.nn.attend` (the fused SDPA kernel with our boolean mask);
the reference materialises scores = q kᵀ/√d, masks them, softmaxes and multiplies by v.
The whole MultiHeadAttention layer (with its input and output projections, identical on both
sides) is timed too and reported as `speedup_layer_fwd_bwd`. Speed is a ratio measured in one
run, the two sides alternating so that they share any machine noise.
Writes benchmarks/results/attention_<device>.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine, now, update_results  # noqa: E402

from attnsight.nn import MultiHeadAttention, attend, build_attention_mask  # noqa: E402


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The textbook formula, written out: what a hand-rolled attention layer does."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


def reference_layer(layer: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    B, T, C = x.shape
    q, k, v = layer.qkv(x).split(C, dim=2)
    q, k, v = (t.view(B, T, layer.num_heads, C // layer.num_heads).transpose(1, 2) for t in (q, k, v))
    return layer.proj(reference(q, k, v, mask).transpose(1, 2).reshape(B, T, C))


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn().sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def race(ours: Callable[[], torch.Tensor], ref: Callable[[], torch.Tensor], repeats: int,
         device: torch.device) -> tuple[float, float]:
    """Median fwd+bwd seconds of each, alternating, after a warm-up."""
    for _ in range(3):
        timed(ours, device), timed(ref, device)
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours, device))
        b.append(timed(ref, device))
    return statistics.median(a), statistics.median(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    B, T, C, nh = args.batch, args.length, args.dim, args.heads
    q, k, v = (torch.randn(B, nh, T, C // nh, device=device, requires_grad=True) for _ in range(3))
    mask = build_attention_mask(torch.ones(B, T, dtype=torch.bool, device=device), causal=True)

    # exactness: outputs and gradients of the two paths
    out_ours = attend(q, k, v, mask)[0]
    grads_ours = torch.autograd.grad(out_ours.sum(), (q, k, v))
    out_ref = reference(q, k, v, mask)
    grads_ref = torch.autograd.grad(out_ref.sum(), (q, k, v))
    max_abs_diff = float((out_ours - out_ref).detach().abs().max())
    max_abs_diff_grad = max(float((a - b).abs().max()) for a, b in zip(grads_ours, grads_ref))

    t_ours, t_ref = race(lambda: attend(q, k, v, mask)[0], lambda: reference(q, k, v, mask), args.repeats, device)
    layer = MultiHeadAttention(C, nh).to(device)
    x = torch.randn(B, T, C, device=device, requires_grad=True)
    l_ours, l_ref = race(lambda: layer(x, mask)[0], lambda: reference_layer(layer, x, mask), args.repeats, device)
    result = {
        "shape": {"batch": B, "length": T, "dim": C, "heads": nh, "causal": True},
        "dtype": "float32",
        "device": str(device),
        "repeats": args.repeats,
        "median_seconds_fwd_bwd": {"attnsight": t_ours, "reference": t_ref},
        "speedup_fwd_bwd": t_ref / t_ours,
        "max_abs_diff": max_abs_diff,
        "max_abs_diff_grad": max_abs_diff_grad,
        "layer_median_seconds_fwd_bwd": {"attnsight": l_ours, "reference": l_ref},
        "speedup_layer_fwd_bwd": l_ref / l_ours,
        "machine": machine(),
        "date": now(),
    }
    path = update_results(f"attention_{device.type}", result)
    print(f"attention fwd+bwd B={B} T={T} C={C} heads={nh} causal, {device}, {torch.get_num_threads()} threads:\n"
          f"  attention step: ours {t_ours * 1e3:.1f} ms, reference {t_ref * 1e3:.1f} ms, "
          f"speedup {t_ref / t_ours:.2f}x, max_abs_diff {max_abs_diff:.2e} (grads {max_abs_diff_grad:.2e})\n"
          f"  whole layer (with projections): ours {l_ours * 1e3:.1f} ms, reference {l_ref * 1e3:.1f} ms, "
          f"speedup {l_ref / l_ours:.2f}x\n  -> {path}")


if __name__ == "__main__":
    main()
