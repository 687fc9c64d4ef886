"""Attention rollout against a hand computation, and the last-position-only paths against full ones."""

from __future__ import annotations

import pytest
import torch

from attnsight.explain import attention_rollout
from attnsight.nn import TransformerEncoder, build_attention_mask


def test_rollout_by_hand() -> None:
    # one head, two layers, two positions
    a1 = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])
    a2 = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # residual: 0.5 A + 0.5 I, rows already sum to 1
    r1 = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    r2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = r2 @ r1
    torch.testing.assert_close(attention_rollout([a1, a2])[0], expected)
    torch.testing.assert_close(attention_rollout([a1, a2], position=-1)[0], expected[1])
    torch.testing.assert_close(attention_rollout([a1, a2], position=0)[0], expected[0])


def test_heads_are_averaged() -> None:
    heads = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    # mean: [[1, 0], [0.5, 0.5]] → with residual: [[1, 0], [0.25, 0.75]]
    torch.testing.assert_close(attention_rollout([heads])[0], torch.tensor([[1.0, 0.0], [0.25, 0.75]]))


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_last_only_matches_the_full_encoder(norm_first: bool, num_layers: int) -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(16, num_layers, 2, 32, 0.0, 0.0, norm_first).eval()
    x = torch.randn(3, 7, 16)
    valid = torch.ones(3, 7, dtype=torch.bool)
    valid[0, :3] = False  # left padding
    mask = build_attention_mask(valid, causal=True)
    full = encoder(x, mask, output_attentions=True)
    last = encoder(x, mask, output_attentions=True, last_only=True)
    assert last.last_hidden_state.shape == (3, 1, 16)
    torch.testing.assert_close(last.last_hidden_state[:, 0], full.last_hidden_state[:, -1], atol=1e-5, rtol=1e-5)
    assert last.attentions[-1].shape == (3, 2, 1, 7)
    torch.testing.assert_close(last.attentions[-1][:, :, 0], full.attentions[-1][:, :, -1], atol=1e-6, rtol=1e-5)
    # the rollout row from the one-row top layer is the full rollout's last row
    torch.testing.assert_close(attention_rollout(last.attentions, position=-1),
                               attention_rollout(full.attentions)[:, -1], atol=1e-6, rtol=1e-5)
