"""Transformer encoder: shapes, attention outputs, right-aligned positions, causality."""

from __future__ import annotations

import pytest
import torch

from attnsight.models import SASRec, SASRecConfig
from attnsight.nn import EncoderOutput, LearnedPositions, TransformerEncoder, build_attention_mask


def _encoder(num_layers: int = 2) -> TransformerEncoder:
    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=16, num_layers=num_layers, num_heads=2, ffn_dim=32, dropout=0.0, attn_dropout=0.0)
    return encoder.eval()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_encoder_shapes_and_attentions(num_layers: int) -> None:
    enc = _encoder(num_layers)
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    valid = torch.tensor([[False, True, True, True, True]] * 3)
    mask = build_attention_mask(valid, causal=True)

    out = enc(x, mask, output_attentions=True)
    assert isinstance(out, EncoderOutput)
    assert out.last_hidden_state.shape == (3, 5, 16)
    assert isinstance(out.attentions, tuple)
    assert len(out.attentions) == num_layers
    for layer in out.attentions:
        assert layer.shape == (3, 2, 5, 5)
        torch.testing.assert_close(layer.sum(-1), torch.ones(3, 2, 5), atol=1e-5, rtol=0)

    plain = enc(x, mask)
    assert plain.attentions is None
    # asking for weights takes the explicit path but must not change the result
    torch.testing.assert_close(plain.last_hidden_state, out.last_hidden_state, atol=1e-5, rtol=1e-5)


def test_encoder_ends_with_layer_norm() -> None:
    enc = _encoder(1)
    h = enc(torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(2))).last_hidden_state
    torch.testing.assert_close(h.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)


def test_learned_positions_are_right_aligned() -> None:
    torch.manual_seed(0)
    pos = LearnedPositions(max_len=6, dim=8)
    full = pos(6)
    assert full.shape == (6, 8)
    for length in range(1, 7):
        part = pos(length)
        assert part.shape == (length, 8)
        torch.testing.assert_close(part, full[-length:])
    assert not torch.allclose(pos(3), full[:3])  # left alignment would be a different answer


def test_learned_positions_too_long() -> None:
    pos = LearnedPositions(max_len=4, dim=8)
    with pytest.raises(ValueError, match="max_len"):
        pos(5)


def _sasrec() -> SASRec:
    torch.manual_seed(0)
    return SASRec(SASRecConfig(num_items=20, max_len=8, dim=16, num_layers=2, num_heads=2, ffn_dim=32, dropout=0.0)).eval()


def test_causal_mode_does_not_look_at_the_future() -> None:
    model = _sasrec()
    items = torch.tensor([[0, 3, 7, 2, 9, 11]])
    changed = items.clone()
    changed[0, 4] = 15  # a future item for positions 0..3
    with torch.no_grad():
        a = model(items, causal=True).hidden
        b = model(changed, causal=True).hidden
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=1e-6, rtol=0)
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-3  # the changed slot and later ones do see it


def test_bidirectional_mode_looks_at_the_future() -> None:
    model = _sasrec()
    items = torch.tensor([[0, 3, 7, 2, 9, 11]])
    changed = items.clone()
    changed[0, 4] = 15
    with torch.no_grad():
        a = model(items, causal=False).hidden
        b = model(changed, causal=False).hidden
    assert (a[:, 1:4] - b[:, 1:4]).abs().max(dim=-1).values.min() > 1e-4  # every earlier real slot changes


def test_left_padding_does_not_change_real_positions() -> None:
    model = _sasrec()
    with torch.no_grad():
        short = model(torch.tensor([[3, 7, 2]])).hidden
        padded = model(torch.tensor([[0, 0, 0, 3, 7, 2]])).hidden
    torch.testing.assert_close(short, padded[:, -3:], atol=1e-5, rtol=1e-5)
