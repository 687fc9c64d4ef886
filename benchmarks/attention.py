"""Our attention layer against a plain matmul-softmax-matmul reference, forward + backward.

    python benchmarks/attention.py [--batch 128 --length 200 --dim 64 --heads 2 --repeats 20]

Both sides are the same MultiHeadAttention module (same projection weights, same input); only
the attention step differs: ours runs F.scaled_dot_product_attention (fused kernel, causal
mask), the reference materialises scores = q kᵀ/√d, masks, softmaxes and multiplies by v.
Speed is a ratio measured in one run, alternating the two to share any machine noise.
Writes benchmarks/results/attention_<device>.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine, now, update_results  # noqa: E402

from attnsight.nn import MultiHeadAttention, build_attention_mask  # noqa: E402


def reference(layer: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The textbook formula, written out: what a hand-rolled attention layer does."""
    B, T, C = x.shape
    q, k, v = layer.qkv(x).split(C, dim=2)
    q, k, v = (t.view(B, T, layer.num_heads, C // layer.num_heads).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return layer.proj((weights @ v).transpose(1, 2).reshape(B, T, C))


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
    layer = MultiHeadAttention(args.dim, args.heads).to(device)
    x = torch.randn(args.batch, args.length, args.dim, device=device, requires_grad=True)
    valid = torch.ones(args.batch, args.length, dtype=torch.bool, device=device)
    mask = build_attention_mask(valid, causal=True)

    def ours() -> torch.Tensor:
        return layer(x, mask)[0]

    def ref() -> torch.Tensor:
        return reference(layer, x, mask)

    def fwd_bwd(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    # exactness: outputs and input gradients of the two paths
    out_ours = ours()
    grad_ours = torch.autograd.grad(out_ours.sum(), x)[0]
    out_ref = ref()
    grad_ref = torch.autograd.grad(out_ref.sum(), x)[0]
    max_abs_diff = float((out_ours - out_ref).abs().max())
    max_abs_diff_grad = float((grad_ours - grad_ref).abs().max())

    for _ in range(3):  # warm-up
        fwd_bwd(ours), fwd_bwd(ref)
    times_ours, times_ref = [], []
    for _ in range(args.repeats):
        times_ours.append(fwd_bwd(ours))
        times_ref.append(fwd_bwd(ref))
    t_ours, t_ref = statistics.median(times_ours), statistics.median(times_ref)
    result = {
        "shape": {"batch": args.batch, "length": args.length, "dim": args.dim, "heads": args.heads, "causal": True},
        "dtype": "float32",
        "device": str(device),
        "repeats": args.repeats,
        "median_seconds_fwd_bwd": {"attnsight": t_ours, "reference": t_ref},
        "speedup_fwd_bwd": t_ref / t_ours,
        "max_abs_diff": max_abs_diff,
        "max_abs_diff_grad": max_abs_diff_grad,
        "machine": machine(),
        "date": now(),
    }
    path = update_results(f"attention_{device.type}", result)
    print(f"attention fwd+bwd B={args.batch} T={args.length} C={args.dim} h={args.heads} causal on {device}: "
          f"ours {t_ours * 1e3:.1f} ms, reference {t_ref * 1e3:.1f} ms, speedup {t_ref / t_ours:.2f}x, "
          f"max_abs_diff {max_abs_diff:.2e} (grad {max_abs_diff_grad:.2e}) -> {path}")


if __name__ == "__main__":
    main()
