"""SASRec: its loss, scores, sampled loss, prediction modes and the bundle round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from attnsight.models import SASRec, SASRecConfig, read_bundle_config

NUM_ITEMS = 20


def _model(mode: str = "causal", max_len: int = 8, seed: int = 0) -> SASRec:
    torch.manual_seed(seed)
    config = SASRecConfig(num_items=NUM_ITEMS, max_len=max_len, dim=16, num_layers=2, num_heads=2, ffn_dim=32,
                          dropout=0.0, mode=mode)
    return SASRec(config).eval()


ITEMS = torch.tensor([[0, 0, 3, 5, 7, 9], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 12, 13]])
TARGETS = torch.tensor([[0, 0, 5, 7, 9, 11], [2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 13, 20]])


def test_forward_loss_equals_full_softmax_ce_from_score() -> None:
    model = _model()
    out = model(ITEMS, TARGETS)
    assert out.loss is not None and out.loss.shape == () and torch.isfinite(out.loss)
    assert out.hidden.shape == (3, 6, 16)
    at = TARGETS != 0
    logits = model.score(out.hidden[at])
    assert logits.shape == (int(at.sum()), NUM_ITEMS + 1)
    expected = F.cross_entropy(logits, TARGETS[at])
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    # the loss is taken only where there is a target: padding targets change nothing
    assert at.sum() < at.numel()
    out.loss.backward()
    assert model.item_embedding.weight.grad is not None
    assert torch.isfinite(model.item_embedding.weight.grad).all()


def test_forward_without_targets_has_no_loss() -> None:
    out = _model()(ITEMS)
    assert out.loss is None and out.attentions is None
    out = _model()(ITEMS, output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (3, 2, 6, 6)


def test_score_padding_column_is_minus_inf() -> None:
    model = _model()
    with torch.no_grad():
        hidden = model(ITEMS).hidden
        scores = model.score(hidden)
    assert scores.shape == (3, 6, NUM_ITEMS + 1)
    assert torch.all(scores[..., 0] == float("-inf"))
    assert torch.isfinite(scores[..., 1:]).all()
    # the [MASK] row of the embedding table is not a candidate
    assert scores.shape[-1] == model.config.mask_index


def test_sampled_loss_masks_accidental_hits() -> None:
    model = _model()
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(3, 16, generator=g)
    targets = torch.tensor([4, 9, 2])
    negatives = torch.tensor([9, 5, 4, 11])  # 4 and 9 are accidental hits for rows 0 and 1
    loss = model.sampled_loss(hidden, targets, negatives)

    emb = model.item_embedding.weight.detach()
    rows = []
    for h, t in zip(hidden, targets):
        negs = [int(n) for n in negatives if int(n) != int(t)]
        logits = torch.cat([(h * emb[t]).sum()[None], h @ emb[negs].T])
        rows.append(F.cross_entropy(logits[None], torch.tensor([0])))
    expected = torch.stack(rows).mean()
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)

    unmasked_logits = torch.cat([(hidden * emb[targets]).sum(-1, keepdim=True), hidden @ emb[negatives].T], 1)
    unmasked = F.cross_entropy(unmasked_logits, torch.zeros(3, dtype=torch.long))
    assert abs(loss.item() - unmasked.item()) > 1e-3


def test_predict_causal_is_last_hidden_state() -> None:
    model = _model("causal")
    out = model.predict(ITEMS, output_attentions=True)
    assert out.hidden.shape == (3, 16)
    torch.testing.assert_close(out.hidden, model(ITEMS, causal=True).hidden[:, -1])
    assert out.attentions[0].shape == (3, 2, 6, 6)


def test_predict_cloze_appends_mask() -> None:
    model = _model("cloze")
    out = model.predict(ITEMS, output_attentions=True)
    assert out.hidden.shape == (3, 16)
    with_mask = torch.cat([ITEMS, torch.full((3, 1), model.config.mask_index)], dim=1)
    expected = model(with_mask, causal=False).hidden[:, -1]
    torch.testing.assert_close(out.hidden, expected)
    assert out.attentions[0].shape == (3, 2, 7, 7)  # the [MASK] slot is read too
    # and it is not what the causal reading gives
    assert not torch.allclose(out.hidden, model(ITEMS, causal=True).hidden[:, -1], atol=1e-4)


def test_predict_cloze_at_max_len_drops_oldest_item() -> None:
    model = _model("cloze", max_len=6)
    out = model.predict(ITEMS)
    shifted = torch.cat([ITEMS[:, 1:], torch.full((3, 1), model.config.mask_index)], dim=1)
    torch.testing.assert_close(out.hidden, model(shifted, causal=False).hidden[:, -1])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _model()
    model.save_pretrained(tmp_path / "bundle", extra={"protocol": {"split": "loo"}})
    files = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert files == ["config.json", "model.safetensors"]  # no pickles, no leftover .tmp
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert config["task"] == "recsys"
    assert config["model"]["num_items"] == NUM_ITEMS and config["model"]["dim"] == 16
    assert config["protocol"] == {"split": "loo"}
    assert "attnsight_version" in config
    assert set(load_file(str(tmp_path / "bundle" / "model.safetensors"))) == set(model.state_dict())

    loaded = SASRec.from_pretrained(tmp_path / "bundle").eval()
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    with torch.no_grad():
        assert torch.equal(model(ITEMS).hidden, loaded(ITEMS).hidden)
        assert torch.equal(model.predict(ITEMS).hidden, loaded.predict(ITEMS).hidden)


def test_load_of_another_task_raises(tmp_path: Path) -> None:
    _model().save_pretrained(tmp_path)
    payload = read_bundle_config(tmp_path)
    payload["task"] = "text"
    (tmp_path / "config.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="text"):
        SASRec.from_pretrained(tmp_path)


def test_load_of_a_folder_without_bundle_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SASRec.from_pretrained(tmp_path)
