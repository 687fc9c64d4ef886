"""RiskTransformer: shapes, padding invariance, time buckets; EventBatcher's label-delay rule (no
label leaks into a batch before it is known); the masked-feature loss and its objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnsight.models.risk import TIME_BUCKETS, UNKNOWN, RiskConfig, RiskTransformer, time_bucket
from attnsight.train import EventBatcher, MaskedEventObjective, RiskObjective

DAY = 86_400
H = 4  # history per sequence
CONFIG = RiskConfig(num_numeric=2, categorical_sizes=[5, 25, 8], history_len=H, dim=16, num_layers=1,
                    num_heads=2, ffn_dim=32, dropout=0.1, attn_dropout=0.1)


def model(config: RiskConfig = CONFIG, seed: int = 0) -> RiskTransformer:
    torch.manual_seed(seed)
    return RiskTransformer(config).eval()


def random_batch(batch: int = 3, seed: int = 0, config: RiskConfig = CONFIG) -> dict[str, torch.Tensor]:
    """Token 0 the current event, then H account and H entity events; the first few history slots padding."""
    g = torch.Generator().manual_seed(seed)
    T = 1 + 2 * H
    columns = [torch.randint(0, size, (batch, T), generator=g) for size in config.categorical_sizes]
    categorical = torch.stack(columns, dim=-1) if columns else torch.zeros(batch, T, 0, dtype=torch.long)
    valid = torch.ones(batch, T, dtype=torch.bool)
    valid[0, 1:3] = False  # row 0: two padded account slots
    valid[1, 1:5] = False  # row 1: no account history
    valid[1, 5:7] = False  # ... and two padded entity slots
    delta = torch.randint(0, 30 * DAY, (batch, T), generator=g)
    delta[:, 0] = 0
    return {
        "numeric": torch.randn(batch, T, config.num_numeric, generator=g),
        "categorical": categorical,
        "delta": delta,
        "known": torch.randint(0, 3, (batch, T), generator=g) * valid,
        "source": torch.tensor([0] + [1] * H + [2] * H).expand(batch, -1),
        "valid": valid,
        "target": torch.tensor([1.0, 0.0, 0.0][:batch] + [0.0] * max(0, batch - 3)),
    }


# ----------------------------------------------------------------------------- shapes


def test_output_shapes():
    batch = random_batch()
    out = model()(batch, output_attentions=True)
    assert out.logits.shape == (3,)
    assert out.hidden.shape == (3, 1 + 2 * H, 16)
    assert len(out.attentions) == 1 and out.attentions[0].shape == (3, 2, 1 + 2 * H, 1 + 2 * H)
    assert torch.isfinite(out.logits).all()
    assert model()(batch).attentions is None


def test_numbers_only_and_categories_only():
    for config in (RiskConfig(num_numeric=3, dim=16, num_layers=1, num_heads=2, ffn_dim=32, history_len=H),
                   RiskConfig(num_numeric=0, categorical_sizes=[4], dim=16, num_layers=1, num_heads=2, ffn_dim=32,
                              history_len=H)):
        batch = random_batch(2, config=config)
        out = model(config)(batch)
        assert out.logits.shape == (2,) and torch.isfinite(out.logits).all()


# ----------------------------------------------------------------------------- padding


def test_padded_positions_do_not_change_the_logits():
    m = model()
    batch = random_batch()
    out = m(batch)
    before = out.logits
    changed = {k: v.clone() for k, v in batch.items()}
    pad = ~batch["valid"]
    g = torch.Generator().manual_seed(5)
    changed["numeric"][pad] = torch.randn(int(pad.sum()), 2, generator=g) * 100
    changed["categorical"][pad] = torch.tensor([4, 24, 7])
    changed["delta"][pad] = 12_345
    changed["known"][pad] = 2
    after = m(changed)
    torch.testing.assert_close(after.logits, before, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(after.hidden[:, 0], out.hidden[:, 0], rtol=1e-5, atol=1e-5)  # the current event
    # the same change at a real history position does move the current event: the checks above can fail
    real = {k: v.clone() for k, v in batch.items()}
    real["numeric"][0, 5] = 100.0
    moved = m(real)
    assert (moved.hidden[0, 0] - out.hidden[0, 0]).abs().max() > 1e-3  # 100x above the tolerance
    assert moved.logits[0] != before[0]
    torch.testing.assert_close(moved.logits[1:], before[1:], rtol=1e-5, atol=1e-6)  # other rows untouched


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    m = model()
    batch = random_batch()
    torch.testing.assert_close(m(batch).logits, m(batch).logits, rtol=0, atol=0)
    m.train()
    torch.manual_seed(1)
    a = m(batch).logits
    torch.manual_seed(2)
    assert not torch.allclose(a, m(batch).logits)


# ----------------------------------------------------------------------------- time buckets


def test_time_bucket_monotone_and_in_range():
    seconds = torch.tensor([0, 1, 59, 60, 179, 180, 3_600, DAY, 7 * DAY, 365 * DAY, 10**10, 10**12])
    buckets = time_bucket(seconds)
    assert buckets.dtype == torch.long
    assert (buckets[1:] >= buckets[:-1]).all()  # never decreases with the time gap
    assert int(buckets.min()) >= 1 and int(buckets.max()) <= TIME_BUCKETS - 1  # 0 is the event itself
    # by hand: floor(2 * log2(1 + minutes)) + 1
    # 0 s -> 1; 60 s (1 min) -> floor(2 * 1) + 1 = 3; 180 s (3 min) -> floor(2 * 2) + 1 = 5;
    # 3600 s (60 min) -> floor(2 * log2 61) + 1 = floor(11.86) + 1 = 12; a huge gap -> the last bucket
    assert buckets[0] == 1 and buckets[3] == 3 and buckets[5] == 5 and buckets[6] == 12
    assert buckets[-1] == TIME_BUCKETS - 1
    assert time_bucket(torch.tensor([-500])).item() == 1  # a negative gap is clamped to 0
    # a day and a week are told apart
    assert buckets[7] < buckets[8]


def test_time_buckets_cover_every_index_of_the_embedding():
    seconds = torch.logspace(0, 12, 2000)
    buckets = time_bucket(seconds)
    assert set(buckets.tolist()) | {0} == set(range(TIME_BUCKETS))


# ----------------------------------------------------------------------------- EventBatcher leakage


def leakage_batcher(label_delay: int = 2 * DAY) -> EventBatcher:
    # rows: 0 positive at day 0; 1 negative at day 0.5; 2 positive at day 1; 3 the current event (positive)
    # at day 2 + 100 s; 4 a positive exactly label_delay before a later current event 5.
    time = np.array([0, DAY // 2, DAY, 2 * DAY + 100, 3 * DAY, 5 * DAY], dtype=np.int64)
    labels = np.array([1, 0, 1, 1, 1, 0])
    numeric = np.arange(12, dtype=np.float32).reshape(6, 2)
    categorical = np.ones((6, 1), dtype=np.int64)
    rows = np.array([3, 5])
    history = np.array([
        [-1, 0, 1, 2, -1, -1, -1, -1],  # account: padding then rows 0, 1, 2 (oldest first); no entity events
        [-1, -1, -1, 4, -1, -1, 2, 3],  # account: row 4; entity: rows 2, 3
    ])
    sources = np.array([1] * H + [2] * H)
    return EventBatcher(numeric, categorical, time, rows, history, sources, batch_size=8, labels=labels,
                        label_delay=label_delay)


def test_event_batcher_shows_labels_only_after_the_delay():
    batch = leakage_batcher().batch(np.array([0, 1]))
    known = batch["known"].tolist()
    # example 0, current time 2 days + 100 s, delay 2 days:
    #   row 0 (positive, 2 d + 100 s old) -> known positive 2; row 1 (negative, 1.5 d + 100 s old) -> 0
    #   row 2 (positive, 1 d + 100 s old) -> 0; the current event itself -> 0 though positive; padding -> 0
    assert known[0] == [0, 0, 2, 0, 0, 0, 0, 0, 0]
    # example 1, current time 5 days: row 4 (positive) exactly 2 days old -> known 2;
    #   entity rows 2 (positive, 4 d old) -> 2 and 3 (positive, 3 d - 100 s old) -> 2
    assert known[1] == [0, 0, 0, 0, 2, 0, 0, 2, 2]
    assert batch["target"].tolist() == [1.0, 0.0]  # the current events' own labels are targets only
    assert batch["valid"].tolist()[0] == [True, False, True, True, True, False, False, False, False]
    assert batch["delta"][0, 2].item() == 2 * DAY + 100 and batch["delta"][0, 0].item() == 0
    assert batch["source"].tolist()[0] == [0, 1, 1, 1, 1, 2, 2, 2, 2]
    # features are gathered from the right rows: token 0 of example 0 is row 3
    assert batch["numeric"][0, 0].tolist() == [6.0, 7.0] and batch["numeric"][0, 2].tolist() == [0.0, 1.0]


def test_event_batcher_a_negative_outside_the_delay_shows_known_1():
    batch = leakage_batcher(label_delay=DAY).batch(np.array([0]))
    # delay 1 day: row 0 (2 d old, positive) -> 2; row 1 (1.5 d old, negative) -> 1; row 2 (1 d + 100 s) -> 2
    assert batch["known"].tolist()[0][:4] == [0, 0, 2, 1]
    assert batch["known"][0, 4].item() == 2


def test_event_batcher_never_shows_the_current_label_even_without_delay():
    batch = leakage_batcher(label_delay=0).batch(np.array([0, 1]))
    assert (batch["known"][:, 0] == 0).all()
    assert batch["known"][1, 8].item() == 2  # row 3 is a past event of example 1, 2 days old


def test_event_batcher_without_labels_and_epochs():
    b = leakage_batcher()
    unlabelled = EventBatcher(b.numeric.numpy(), b.categorical.numpy(), b.time.numpy(), b.rows, b.history,
                              np.array([1] * H + [2] * H), batch_size=1)
    batch = unlabelled.batch(np.array([0, 1]))
    assert "target" not in batch and (batch["known"] == 0).all()
    assert len(unlabelled) == 2
    seen = sorted(int(batch["numeric"][0, 0, 0]) for batch in unlabelled.epoch(np.random.default_rng(0)))
    assert seen == [6, 10]  # each example once: rows 3 and 5
    positions = [p.tolist() for p, _ in unlabelled.in_order()]
    assert positions == [[0], [1]]


# ----------------------------------------------------------------------------- losses


def test_masked_feature_loss_is_finite_and_positive():
    m = model()
    batch = random_batch()
    masked = torch.zeros_like(batch["valid"])
    masked[:, 0] = True
    masked[2, 3] = True
    out = m(batch, feature_mask=masked)
    loss = m.masked_feature_loss(out.hidden, batch, masked)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() > 0
    # the hidden feature embedding changes the masked events' hidden states
    assert not torch.allclose(out.hidden[:, 0], m(batch).hidden[:, 0])


def test_masked_feature_loss_with_all_unknown_categories_stays_finite():
    m = model()
    batch = random_batch()
    batch["categorical"][:] = UNKNOWN
    masked = batch["valid"].clone()
    loss = m.masked_feature_loss(m(batch, feature_mask=masked).hidden, batch, masked)
    assert torch.isfinite(loss)


def test_masked_event_objective_gives_gradients():
    m = model().train()
    torch.manual_seed(0)
    loss = MaskedEventObjective(mask_prob=0.3)(m, random_batch())
    assert torch.isfinite(loss)
    loss.backward()
    for name in ("feature_mask", "numeric_out.weight", "categorical_out.0.weight", "encoder"):
        grads = [p.grad for n, p in m.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name
        assert any(float(g.abs().sum()) > 0 for g in grads), name
    # the risk head is not part of this loss
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for n, p in m.named_parameters()
               if n.startswith("head"))


@pytest.mark.parametrize("pos_weight", [1.0, 5.0])
def test_risk_objective_is_weighted_binary_cross_entropy(pos_weight):
    m = model()
    batch = random_batch()
    loss = RiskObjective(pos_weight)(m, batch)
    logits = m(batch).logits
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, batch["target"], pos_weight=torch.tensor(pos_weight))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert m.head[-1].weight.grad is not None and float(m.head[-1].weight.grad.abs().sum()) > 0
