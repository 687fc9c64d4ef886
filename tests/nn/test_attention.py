"""Multi-head attention (SDPA path vs explicit path), the attention mask, and the chunked loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnsight.nn import MultiHeadAttention, attention_with_weights, build_attention_mask, chunked_cross_entropy


def _valid() -> torch.Tensor:
    # Row 0: two padding slots then three items; row 1: full; row 2: a single item.
    return torch.tensor(
        [
            [False, False, True, True, True],
            [True, True, True, True, True],
            [False, False, False, False, True],
        ]
    )


# ----------------------------------------------------------------------------- mask


def test_build_attention_mask_causal_small_case() -> None:
    mask = build_attention_mask(torch.tensor([[False, True, True]]), causal=True)
    assert mask.shape == (1, 1, 3, 3)
    assert mask.dtype == torch.bool
    expected = torch.tensor(
        [
            [True, False, False],  # padding query: itself only (never an all-masked row)
            [False, True, False],  # first item: itself, not the padding, not the future
            [False, True, True],  # second item: both items
        ]
    )
    assert torch.equal(mask[0, 0], expected)


def test_build_attention_mask_bidirectional_small_case() -> None:
    mask = build_attention_mask(torch.tensor([[False, True, True]]), causal=False)
    expected = torch.tensor(
        [
            [True, True, True],  # padding query: the real keys and itself
            [False, True, True],
            [False, True, True],
        ]
    )
    assert torch.equal(mask[0, 0], expected)


def test_build_attention_mask_shape_and_no_empty_rows() -> None:
    valid = _valid()
    for causal in (True, False):
        mask = build_attention_mask(valid, causal)
        assert mask.shape == (3, 1, 5, 5)
        assert mask.any(dim=-1).all()  # every query may attend somewhere
        # no real query ever attends to a padding key
        real_q = valid[:, None, :, None]
        pad_k = ~valid[:, None, None, :]
        assert not (mask & real_q & pad_k).any()
    causal_mask = build_attention_mask(valid, True)
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    assert not (causal_mask & future).any()


# ----------------------------------------------------------------------------- scaling pin


def test_attention_with_weights_matches_hand_computed_scaling() -> None:
    # d = 4, so the scores are divided by sqrt(4) = 2.
    q = torch.tensor([[[[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]]]])  # (1, 1, 2, 4)
    k = torch.tensor([[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]]])
    v = torch.tensor([[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]]])
    out, weights = attention_with_weights(q, k, v)
    # q kᵀ = [[2, 0], [0, 2]]; / 2 = [[1, 0], [0, 1]]; softmax row 0 = [e, 1] / (e + 1)
    p = math.e / (math.e + 1.0)  # 0.7310585786
    assert p == pytest.approx(0.7310585786)
    expected_w = torch.tensor([[[[p, 1 - p], [1 - p, p]]]])
    expected_out = torch.tensor([[[[p, 1 - p, 0.0, 0.0], [1 - p, p, 0.0, 0.0]]]])
    torch.testing.assert_close(weights, expected_w, atol=1e-6, rtol=0)
    torch.testing.assert_close(out, expected_out, atol=1e-6, rtol=0)

    # The buggy variant (scale a copy of q, multiply with the unscaled q) is softmax(q kᵀ) v:
    # row 0 would be [e², 1] / (e² + 1) = 0.8808, which must not be what we compute.
    buggy = math.e**2 / (math.e**2 + 1.0)
    assert buggy == pytest.approx(0.8807970780)
    assert abs(weights[0, 0, 0, 0].item() - buggy) > 0.1
    buggy_out = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
    assert not torch.allclose(out, buggy_out, atol=1e-3)
    # Scaling twice (by d instead of sqrt(d)) is also wrong: softmax([0.5, 0]) = 0.6225.
    assert abs(weights[0, 0, 0, 0].item() - 1 / (1 + math.exp(-0.5))) > 0.05


def test_attention_with_weights_matches_sdpa_kernel() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    mask = build_attention_mask(_valid()[:2], causal=True)
    out, weights = attention_with_weights(q, k, v, mask)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    by_hand = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(weights, by_hand, atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------- module


def _mha(dim: int = 16, heads: int = 2) -> MultiHeadAttention:
    torch.manual_seed(0)
    return MultiHeadAttention(dim, heads).eval()


@pytest.mark.parametrize("causal", [True, False])
def test_sdpa_path_equals_explicit_path(causal: bool) -> None:
    mha = _mha()
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    mask = build_attention_mask(_valid(), causal)
    fast, none = mha(x, mask, need_weights=False)
    slow, weights = mha(x, mask, need_weights=True)
    assert none is None
    assert weights is not None and weights.shape == (3, 2, 5, 5)
    assert fast.shape == slow.shape == (3, 5, 16)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_sdpa_path_equals_explicit_path_without_mask() -> None:
    mha = _mha()
    x = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(mha(x)[0], mha(x, need_weights=True)[0], atol=1e-5, rtol=1e-5)


def test_weights_rows_sum_to_one_and_are_zero_on_masked_keys() -> None:
    mha = _mha()
    valid = _valid()
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(3))
    mask = build_attention_mask(valid, causal=True)
    _, weights = mha(x, mask, need_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 5), atol=1e-6, rtol=0)
    masked = ~mask.expand_as(weights)
    assert masked.any()
    assert torch.all(weights[masked] == 0)
    # future keys of a real query get nothing
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    assert torch.all(weights[..., future] == 0)
    # padding keys of a real query get nothing (row 0: slots 0 and 1 are padding)
    assert torch.all(weights[0, :, 2:, :2] == 0)
    # the single real item of row 2 attends only to itself
    torch.testing.assert_close(weights[2, :, 4, 4], torch.ones(2))
    # real keys that are allowed do get some weight
    assert torch.all(weights[1, :, 4, :] > 0)


def test_padding_rows_give_no_nan_and_gradient_flows() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2)
    valid = _valid()
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(4), requires_grad=True)
    for need_weights in (False, True):
        mha.zero_grad()
        x.grad = None
        out, _ = mha(x, build_attention_mask(valid, causal=True), need_weights=need_weights)
        assert torch.isfinite(out).all()
        out[valid].pow(2).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert x.grad[valid].abs().sum() > 0
        for name, p in mha.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_dim_must_divide_by_heads() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


# ----------------------------------------------------------------------------- chunked loss


def _reference_ce(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = hidden @ weight.T
    logits = logits.masked_fill(torch.arange(weight.shape[0]) == 0, float("-inf"))
    return F.cross_entropy(logits, targets)


@pytest.mark.parametrize("chunk", [1, 3, 4, 7, 100])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_cross_entropy_matches_full_softmax(chunk: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(5)
    n, c, v = 7, 6, 11  # 7 rows: not divisible by 3 or 4, smaller than 100
    hidden = torch.randn(n, c, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, c, generator=g, dtype=dtype, requires_grad=True)
    targets = torch.randint(1, v, (n,), generator=g)
    tol = dict(atol=1e-10, rtol=1e-10) if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-5)

    got = chunked_cross_entropy(hidden, weight, targets, chunk=chunk)
    want = _reference_ce(hidden, weight, targets)
    torch.testing.assert_close(got, want, **tol)
    # A non-unit upstream gradient must be carried through as well.
    gh, gw = torch.autograd.grad(3.0 * got, (hidden, weight))
    rh, rw = torch.autograd.grad(3.0 * want, (hidden, weight))
    torch.testing.assert_close(gh, rh, **tol)
    torch.testing.assert_close(gw, rw, **tol)
    # Column 0 (padding) takes no probability mass, so its embedding gets no gradient.
    assert torch.all(gw[0] == 0)


def test_chunked_cross_entropy_frozen_weight_and_no_grad() -> None:
    """Gradients are taken in the forward pass: only for inputs that want them, never under no_grad."""
    g = torch.Generator().manual_seed(7)
    hidden = torch.randn(9, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(13, 5, generator=g, dtype=torch.float64)  # frozen
    targets = torch.randint(1, 13, (9,), generator=g)
    got = chunked_cross_entropy(hidden, weight, targets, chunk=4)
    (gh,) = torch.autograd.grad(got, hidden)
    want = _reference_ce(hidden, weight, targets)
    (rh,) = torch.autograd.grad(want, hidden)
    torch.testing.assert_close(gh, rh)
    with torch.no_grad():
        loss = chunked_cross_entropy(hidden, weight, targets, chunk=4)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, want.detach())


def test_chunked_cross_entropy_differs_from_loss_with_padding_column() -> None:
    g = torch.Generator().manual_seed(6)
    hidden = torch.randn(5, 4, generator=g, dtype=torch.float64)
    weight = torch.randn(6, 4, generator=g, dtype=torch.float64)
    weight[0] = hidden.mean(0) * 5  # make padding a strong competitor
    targets = torch.randint(1, 6, (5,), generator=g)
    with_pad = F.cross_entropy(hidden @ weight.T, targets)
    assert abs(chunked_cross_entropy(hidden, weight, targets, chunk=2).item() - with_pad.item()) > 1e-3


def test_chunked_cross_entropy_empty_input_is_zero() -> None:
    hidden = torch.zeros(0, 4, requires_grad=True)
    weight = torch.randn(6, 4, requires_grad=True)
    loss = chunked_cross_entropy(hidden, weight, torch.zeros(0, dtype=torch.long))
    assert loss.shape == ()
    assert loss.item() == 0.0
    loss.backward()  # stays differentiable: a batch with no targets must not crash training
    assert hidden.grad is not None and hidden.grad.shape == (0, 4)
