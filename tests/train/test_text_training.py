"""Text training pieces: masked-token and classification objectives, token batching, and the
classification metrics, each against values worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnsight.evaluate.classification import classification_metrics, classification_report
from attnsight.models.text import TextConfig, TextTransformer
from attnsight.train import ClassificationObjective, MaskedTokenObjective, TokenBatcher
from attnsight.train.batches import bucketed, pad_right, padded_width

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = (PAD, UNK, CLS, SEP, MASK)


class Spy(torch.nn.Module):
    """Stands in for a TextTransformer: records what the objective feeds it, and which positions it
    asks MLM logits for (each position's hidden state is its flat index + 1; the objective's
    padding rows are zeros)."""

    def __init__(self, vocab_size: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size)
        self.shape = shape
        self.bias = torch.nn.Parameter(torch.zeros(vocab_size))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        self.inputs = input_ids.clone()
        self.mask = attention_mask.clone()
        index = torch.arange(1, input_ids.numel() + 1, dtype=torch.float32).view(*input_ids.shape, 1)
        return SimpleNamespace(hidden=index)

    def mlm_logits(self, hidden):
        flat = hidden[:, 0].long() - 1
        self.chosen_flat = flat[flat >= 0]
        return self.bias.expand(len(hidden), -1)

    def chosen(self) -> torch.Tensor:
        out = torch.zeros(self.shape, dtype=torch.bool)
        out.view(-1)[self.chosen_flat] = True
        return out


def mlm_batch(rows: int = 4) -> dict[str, torch.Tensor]:
    ids = torch.tensor([
        [CLS, 10, 11, UNK, 12, SEP, PAD, PAD],
        [CLS, 13, MASK, 14, SEP, PAD, PAD, PAD],
        [CLS, 15, 16, 17, 18, 19, 20, SEP],
        [CLS, SEP, PAD, PAD, PAD, PAD, PAD, PAD],
    ])[:rows]
    return {"input_ids": ids, "attention_mask": ids != PAD}


def real_non_special(ids: torch.Tensor) -> torch.Tensor:
    return ids >= 5  # ids 0-4 are the special tokens


# ----------------------------------------------------------------------------- masked tokens


def test_mask_prob_one_chooses_every_real_non_special_token():
    batch = mlm_batch()
    spy = Spy(50, tuple(batch["input_ids"].shape))
    torch.manual_seed(0)
    loss = MaskedTokenObjective(MASK, SPECIALS, mask_prob=1.0)(spy, batch)
    assert torch.isfinite(loss)
    assert torch.equal(spy.chosen(), real_non_special(batch["input_ids"]))
    # special tokens and padding are fed to the model unchanged
    keep = ~real_non_special(batch["input_ids"])
    assert torch.equal(spy.inputs[keep], batch["input_ids"][keep])
    assert torch.equal(spy.mask, batch["attention_mask"])


def test_padding_counts_by_attention_mask_not_only_by_pad_id():
    batch = mlm_batch()
    batch["attention_mask"][2, 5:] = False  # tokens 19, 20, SEP are padding by the mask
    spy = Spy(50, tuple(batch["input_ids"].shape))
    MaskedTokenObjective(MASK, SPECIALS, mask_prob=1.0)(spy, batch)
    expected = real_non_special(batch["input_ids"]) & batch["attention_mask"]
    assert torch.equal(spy.chosen(), expected)


def test_a_batch_that_drew_no_mask_still_chooses_one_token():
    batch = mlm_batch()
    spy = Spy(50, tuple(batch["input_ids"].shape))
    MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.0)(spy, batch)
    chosen = spy.chosen()
    assert chosen.sum() == 1 and chosen[0, 1]  # the first real non-special token


def test_80_10_10_split_and_mask_rate():
    rows, width, vocab = 200, 100, 1000
    torch.manual_seed(0)
    ids = torch.randint(5, vocab, (rows, width))
    ids[:, 0], ids[:, -1] = CLS, SEP
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool)}
    spy = Spy(vocab, (rows, width))
    torch.manual_seed(1)
    MaskedTokenObjective(MASK, SPECIALS, mask_prob=1.0)(spy, batch)
    chosen = spy.chosen()
    assert torch.equal(chosen, real_non_special(ids))
    before, after = ids[chosen], spy.inputs[chosen]
    n = len(before)
    masked = (after == MASK).float().mean().item()
    kept = (after == before).float().mean().item()
    randomised = ((after != MASK) & (after != before)).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.015)
    assert kept == pytest.approx(0.1, abs=0.01)
    assert randomised == pytest.approx(0.1, abs=0.01)
    assert n == rows * (width - 2)

    torch.manual_seed(2)
    MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.15)(spy, batch)
    rate = spy.chosen().sum().item() / n
    assert rate == pytest.approx(0.15, abs=0.01)
    assert not (spy.chosen() & ~real_non_special(ids)).any()


def tiny_model(**overrides) -> TextTransformer:
    torch.manual_seed(0)
    base = dict(vocab_size=40, max_len=16, dim=16, num_layers=1, num_heads=2, ffn_dim=32, dropout=0.0,
                attn_dropout=0.0)
    return TextTransformer(TextConfig(**{**base, **overrides}))


def test_masked_token_loss_is_finite_and_decreases():
    model = tiny_model()
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 40, (16, 10), generator=g)
    ids[:, 0], ids[:, -1] = CLS, SEP
    ids[::2, 7:] = PAD
    ids[::2, 6] = SEP
    batch = {"input_ids": ids, "attention_mask": ids != PAD}
    objective = MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.3)

    def loss_with_fixed_masks() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return objective(model, batch).item()

    start = loss_with_fixed_masks()
    assert np.isfinite(start) and start == pytest.approx(np.log(40), rel=0.2)  # ~uniform at init
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        optimiser.zero_grad()
        loss = objective(model, batch)
        assert torch.isfinite(loss)
        loss.backward()
        optimiser.step()
    assert loss_with_fixed_masks() < 0.9 * start


def test_masked_rows_are_padded_to_few_counts_and_the_padding_adds_nothing_to_the_loss():
    model = tiny_model(vocab_size=50).eval()
    batch = mlm_batch()
    chosen = real_non_special(batch["input_ids"])
    assert int(chosen.sum()) == 11
    seen, forward, mlm_logits = {}, model.forward, model.mlm_logits

    def spy_forward(inputs, *args):
        seen["inputs"] = inputs
        return forward(inputs, *args)

    model.forward = spy_forward
    model.mlm_logits = lambda hidden: seen.setdefault("rows", len(hidden)) and mlm_logits(hidden)
    torch.manual_seed(0)
    loss = MaskedTokenObjective(MASK, SPECIALS, mask_prob=1.0)(model, batch)
    assert seen["rows"] == padded_width(11) == 16  # five rows of padding
    with torch.no_grad():
        hidden = forward(seen["inputs"], batch["attention_mask"]).hidden
        expected = F.cross_entropy(mlm_logits(hidden[chosen]), batch["input_ids"][chosen])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_whole_word_masking_chooses_all_tokens_of_a_word_or_none():
    ids = torch.randint(5, 1000, (64, 12))
    ids[:, 0], ids[:, -1] = CLS, SEP
    words = torch.tensor([-1, 0, 0, 0, 1, 2, 2, 3, 3, 3, 3, -1]).repeat(64, 1)  # words of 3, 1, 2, 4 tokens
    spy = Spy(1000, tuple(ids.shape))
    batch = {"input_ids": ids, "attention_mask": ids != PAD, "word_ids": words}
    torch.manual_seed(0)
    MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.5)(spy, batch)
    chosen = spy.chosen()
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    for word, positions in ((0, [1, 2, 3]), (1, [4]), (2, [5, 6]), (3, [7, 8, 9, 10])):
        block = chosen[:, positions]
        assert (block.all(1) | ~block.any(1)).all(), word  # never half a word
    share = chosen[:, 1:-1].float().mean().item()
    assert 0.35 < share < 0.65  # about half the words, so about half the tokens


def test_a_batch_of_special_tokens_only_gives_a_zero_loss_that_backpropagates():
    model = tiny_model()
    ids = torch.tensor([[CLS, UNK, SEP], [CLS, SEP, PAD]])
    objective = MaskedTokenObjective(MASK, (PAD, UNK, CLS, SEP, MASK), mask_prob=1.0)
    loss = objective(model, {"input_ids": ids, "attention_mask": ids != PAD})
    assert float(loss.detach()) == 0.0
    loss.backward()  # a training step over such a batch is a no-op, not a crash
    assert model.mlm_bias.grad is not None and float(model.mlm_bias.grad.abs().sum()) == 0.0


def test_nsp_adds_the_next_sentence_loss():
    model = tiny_model(nsp=True).eval()
    batch = mlm_batch(3)
    batch["labels"] = torch.tensor([0, 1, 1])
    batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    torch.manual_seed(5)
    mlm_only = MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.5)(model, batch)
    torch.manual_seed(5)
    both = MaskedTokenObjective(MASK, SPECIALS, mask_prob=0.5, nsp=True)(model, batch)
    nsp = both - mlm_only  # the same masks: the same seed draws the same random numbers
    # the NSP term is the cross-entropy of a freshly initialised [CLS] head: about log 2
    assert nsp.item() == pytest.approx(np.log(2), abs=0.1)


# ----------------------------------------------------------------------------- classification


def test_classification_loss_with_weights_and_smoothing_by_hand():
    model = tiny_model(num_labels=3).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)  # spread-out logits
    ids = torch.tensor([[CLS, 10, 11, SEP, PAD], [CLS, 12, SEP, PAD, PAD], [CLS, 13, 14, 15, SEP],
                        [CLS, 16, SEP, PAD, PAD]])
    labels = torch.tensor([0, 2, 1, 2])
    weights = torch.tensor([0.5, 1.0, 2.0])
    eps = 0.2
    batch = {"input_ids": ids, "attention_mask": ids != PAD, "labels": labels}
    loss = ClassificationObjective(weights, eps)(model, batch)

    with torch.no_grad():
        logits = model(ids, ids != PAD).logits
    logp = torch.log_softmax(logits, -1)
    K = 3
    nll = -(weights[labels] * logp[torch.arange(4), labels]).sum() / weights[labels].sum()
    smooth = -(logp * weights).sum(-1).sum() / K / weights[labels].sum()
    expected = (1 - eps) * nll + eps * smooth
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=weights, label_smoothing=eps).item(), rel=1e-5)
    plain = ClassificationObjective()(model, batch)
    assert plain.item() == pytest.approx(-logp[torch.arange(4), labels].mean().item(), rel=1e-5)
    assert plain.item() != pytest.approx(loss.item(), rel=1e-3)


# ----------------------------------------------------------------------------- batching


def test_pad_right():
    out = pad_right([np.array([1, 2, 3]), np.array([4]), np.array([5, 6, 7, 8, 9])], 4, value=-1)
    assert out.tolist() == [[1, 2, 3, -1], [4, -1, -1, -1], [5, 6, 7, 8]]
    assert out.dtype == np.int64


ROWS = [np.array([2, 10 + i] + [20] * (i % 5) + [3]) for i in range(23)]  # row i's second token is 10 + i


def test_batch_is_right_padded_with_mask_labels_and_types():
    labels = np.arange(23) % 3
    types = [np.zeros(len(r), dtype=np.int64) + 1 for r in ROWS]
    batcher = TokenBatcher(ROWS, 8, labels, types, pad_id=7)
    rows = np.array([0, 4, 1])
    batch = batcher.batch(rows)
    assert batch["input_ids"].tolist() == [
        [2, 10, 3, 7, 7, 7, 7],
        [2, 14, 20, 20, 20, 20, 3],
        [2, 11, 20, 3, 7, 7, 7],
    ]
    assert batch["attention_mask"].dtype == torch.bool
    assert batch["attention_mask"].sum(1).tolist() == [3, 7, 4]
    assert batch["attention_mask"].tolist()[0] == [True, True, True, False, False, False, False]
    assert batch["labels"].tolist() == [0, 1, 1]
    assert batch["token_type_ids"].tolist()[0] == [1, 1, 1, 0, 0, 0, 0]  # type padding is 0
    assert len(batcher) == 3


def test_padded_widths_are_few_and_close_to_the_longest_row():
    """Eight widths per doubling: few shapes for the CPU allocator, little padding."""
    assert [padded_width(n) for n in (1, 3, 8, 9, 33, 40, 41, 64, 65, 129, 257)] == [
        8, 8, 8, 16, 40, 40, 48, 64, 80, 160, 320]
    widths = {padded_width(n) for n in range(1, 513)}
    assert len(widths) == 20
    assert all(padded_width(n) - n < max(8, n / 4) for n in range(1, 513))


def test_widths_are_padded_widths_within_the_longest_text():
    """Never wider than the data needs."""
    rows = [np.full(n, 9) for n in (3, 33, 40, 70, 70)]
    batcher = TokenBatcher(rows, 1)
    widths = [batcher.batch(np.array([i]))["input_ids"].shape[1] for i in range(len(rows))]
    assert widths == [8, 40, 40, 70, 70]
    batch = batcher.batch(np.array([0]))
    assert batch["attention_mask"].sum().item() == 3 and batch["input_ids"][0, 3:].eq(0).all()


def test_whole_texts_travel_with_their_truncations_padded_to_their_own_width():
    windows = [np.array([2, 10, 3]), np.array([2, 11, 12, 3])]
    whole = [np.array([2, 10, *range(20, 30), 3]), np.array([2, 11, 12, 3])]  # the first was truncated
    batch = TokenBatcher(windows, 2, pad_id=7, wide_ids=whole).batch(np.array([1, 0]))
    assert batch["input_ids"].shape == (2, 4)  # the encoder's width: the longest window
    assert batch["wide_ids"].shape == (2, padded_width(13))
    assert batch["wide_ids"][1, :13].tolist() == whole[0].tolist() and batch["wide_ids"][1, 13:].eq(7).all()
    assert batch["wide_ids"][0, :4].tolist() == whole[1].tolist() and batch["wide_ids"][0, 4:].eq(7).all()
    assert "wide_ids" not in TokenBatcher(windows, 2).batch(np.array([0, 1]))


def test_epoch_yields_every_row_exactly_once():
    batcher = TokenBatcher(ROWS, 4, np.arange(23))
    seen = []
    for batch in batcher.epoch(np.random.default_rng(0)):
        assert batch["input_ids"].shape[0] <= 4
        lengths = batch["attention_mask"].sum(1)
        # the longest row's padded width, capped by the data's longest row (7 tokens)
        assert batch["input_ids"].shape[1] == min(padded_width(int(lengths.max())), 7)
        rows = batch["labels"].tolist()
        assert [int(x) - 10 for x in batch["input_ids"][:, 1]] == rows  # labels travel with their row
        assert lengths.tolist() == [len(ROWS[r]) for r in rows]
        seen.extend(rows)
    assert sorted(seen) == list(range(23))
    other = [b["labels"].tolist() for b in batcher.epoch(np.random.default_rng(1))]
    again = [b["labels"].tolist() for b in batcher.epoch(np.random.default_rng(0))]
    first = [b["labels"].tolist() for b in batcher.epoch(np.random.default_rng(0))]
    assert again == first and other != first


def test_in_order_covers_all_rows_longest_first():
    batcher = TokenBatcher(ROWS, 5)
    seen, lengths = [], []
    for rows, batch in batcher.in_order():
        assert (batch["input_ids"][:, 1] - 10).tolist() == rows.tolist()
        assert "labels" not in batch
        seen.extend(rows.tolist())
        lengths.extend(len(ROWS[r]) for r in rows)
    assert sorted(seen) == list(range(23))
    assert lengths == sorted(lengths, reverse=True)


def test_bucketed_partitions_the_rows():
    lengths = np.array([len(r) for r in ROWS])
    batches = bucketed(lengths, 4, np.random.default_rng(0), bucket=2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(23))
    assert all(1 <= len(b) <= 4 for b in batches) and len(batches) == 6


def test_no_texts_is_an_error():
    with pytest.raises(ValueError, match="no texts"):
        TokenBatcher([], 4)


# ----------------------------------------------------------------------------- metrics

Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 0, 1, 1, 0]  # class 2 is never predicted


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, 3)
    # precision: c0 2/4, c1 1/4, c2 0 (never predicted); recall: c0 2/3, c1 1/2, c2 0/3
    # f1: c0 4/7, c1 1/3, c2 0
    assert m["accuracy"] == pytest.approx(3 / 8)
    assert m["macro_precision"] == pytest.approx((0.5 + 0.25 + 0) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["macro_f1"] == pytest.approx((4 / 7 + 1 / 3 + 0) / 3)
    assert m["examples"] == 8


def test_classes_absent_from_the_data_count_as_zero():
    m = classification_metrics(Y_TRUE, Y_PRED, 4)
    assert m["macro_precision"] == pytest.approx(0.75 / 4)
    assert m["macro_f1"] == pytest.approx((4 / 7 + 1 / 3) / 4)
    assert m["accuracy"] == pytest.approx(3 / 8)


def test_classification_report_by_hand():
    r = classification_report(Y_TRUE, Y_PRED, ["neg", "neu", "pos"])
    assert r["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [1, 2, 0]]  # rows true, columns predicted
    assert r["labels"] == ["neg", "neu", "pos"]
    assert r["per_class"]["neg"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7, "support": 3})
    assert r["per_class"]["neu"] == pytest.approx({"precision": 0.25, "recall": 0.5, "f1": 1 / 3, "support": 2})
    assert r["per_class"]["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    assert r["accuracy"] == pytest.approx(3 / 8) and r["macro_f1"] == pytest.approx(19 / 63)
