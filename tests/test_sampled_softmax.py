"""Sampled softmax with the logQ correction: the loss by hand, the samplers' frequencies, what the
correction buys, and a step's memory that does not grow with the catalogue."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from allocations import Allocations

from attnsight import SequentialRecommender
from attnsight.data.synthetic import make_audience
from attnsight.errors import AttnsightError
from attnsight.models import SASRec, SASRecConfig
from attnsight.train import NegativeSampler, NextItemObjective
from attnsight.train.sampling import log_uniform_probs


def _model(num_items: int, dim: int = 8, seed: int = 0) -> SASRec:
    torch.manual_seed(seed)
    config = SASRecConfig(num_items=num_items, max_len=8, dim=dim, num_layers=1, num_heads=1, ffn_dim=16, dropout=0.0)
    return SASRec(config).eval()


def test_logq_corrected_loss_by_hand() -> None:
    model = _model(5, dim=2)
    with torch.no_grad():
        model.item_embedding.weight.zero_()
        model.item_embedding.weight[[1, 2, 3, 5]] = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    targets = torch.tensor([1, 3])
    negatives = torch.tensor([3, 2, 5])  # 3 is an accidental hit for row 1
    q = [1.0, 0.4, 0.3, 0.2, 0.05, 0.05]
    loss = model.sampled_loss(hidden, targets, negatives, torch.log(torch.tensor(q)))

    # row 0, target 1: h·e = 1 (item 1), 1 (item 3), 0 (item 2), -1 (item 5); each minus log Q
    row0 = [1 - math.log(0.4), 1 - math.log(0.2), 0 - math.log(0.3), -1 - math.log(0.05)]
    # row 1, target 3: h·e = 2 (item 3); item 3 among the negatives is masked; 2 (item 2), 0 (item 5)
    row1 = [2 - math.log(0.2), 2 - math.log(0.3), 0 - math.log(0.05)]
    expected = np.mean([math.log(sum(math.exp(x) for x in row)) - row[0] for row in (row0, row1)])
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # a constant log Q (the uniform sampler's) cancels: the same as no correction
    flat = model.sampled_loss(hidden, targets, negatives, torch.full((6,), math.log(0.2)))
    torch.testing.assert_close(flat, model.sampled_loss(hidden, targets, negatives))
    assert abs(flat.item() - loss.item()) > 0.1


def test_log_uniform_probs_sum_to_one_and_fall() -> None:
    p = log_uniform_probs(1000)
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.diff(p) < 0)
    assert p[0] == pytest.approx(math.log(2) / math.log(1001))


def test_log_uniform_sampler_draws_popularity_ranks_with_p_k() -> None:
    num_items, draws = 50, 200_000
    counts = np.zeros(num_items + 1, dtype=np.int64)
    popularity = np.random.default_rng(0).permutation(num_items) * 3 + 1  # item order is not popularity order
    counts[1:] = popularity
    sampler = NegativeSampler("log-uniform", num_items, counts)
    drawn = sampler.draw(draws, torch.tensor([1]), torch.Generator().manual_seed(0)).numpy()
    assert drawn.min() >= 1 and drawn.max() <= num_items
    rank_of_item = np.empty(num_items + 1, dtype=np.int64)
    rank_of_item[1:] = np.argsort(np.argsort(-popularity, kind="stable"), kind="stable")
    observed = np.bincount(rank_of_item[drawn], minlength=num_items)
    expected = log_uniform_probs(num_items) * draws
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 85.4, chi2  # the 99.9th percentile of chi-square with 49 degrees of freedom
    assert np.bincount(drawn).argmax() == int(np.argmax(counts))  # the most popular item is drawn most
    # log Q of each item is log P(its popularity rank)
    log_q = sampler.log_q(torch.device("cpu"))
    np.testing.assert_allclose(log_q[1:].exp().numpy(), log_uniform_probs(num_items)[rank_of_item[1:]], rtol=1e-5)


def test_in_batch_sampler_draws_the_batch_targets() -> None:
    counts = np.array([0, 5, 3, 2, 0])
    sampler = NegativeSampler("in-batch", 4, counts)
    targets = torch.tensor([1, 1, 2, 3, 1])
    drawn = sampler.draw(3, targets, torch.Generator().manual_seed(0))
    assert len(drawn) == 3 and set(drawn.tolist()) <= {1, 2, 3}
    assert sorted(sampler.draw(99, targets).tolist()) == sorted(targets.tolist())  # all of them, at most
    np.testing.assert_allclose(sampler.log_q(torch.device("cpu"))[1:4].exp().numpy(), [0.5, 0.3, 0.2], rtol=1e-6)


def _learned_distribution(correct: bool, p: np.ndarray, steps: int = 300, batch: int = 256) -> np.ndarray:
    """Train item embeddings and one user vector with in-batch negatives on targets drawn from p;
    the softmax of the learned scores over the catalogue."""
    num_items = len(p)
    model = _model(num_items, dim=8)
    user = torch.nn.Parameter(torch.randn(8) * 0.1)
    counts = np.concatenate([[0], np.round(p * 1_000_000)])
    sampler = NegativeSampler("in-batch", num_items, counts)
    optimizer = torch.optim.Adam([user, model.item_embedding.weight], lr=0.05)
    g = torch.Generator().manual_seed(0)
    probs = torch.from_numpy(p)
    for _ in range(steps):
        targets = torch.multinomial(probs, batch, replacement=True, generator=g) + 1
        negatives = sampler.draw(batch, targets, g)
        log_q = sampler.log_q(torch.device("cpu")) if correct else None
        loss = model.sampled_loss(user.expand(batch, -1), targets, negatives, log_q)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return torch.softmax(model.item_embedding.weight[1 : num_items + 1] @ user, 0).numpy()


def test_in_batch_logq_correction_removes_the_popularity_penalty() -> None:
    # one context whose next item follows a skewed popularity: the full softmax would learn p itself
    p = 1.0 / np.arange(1, 21) ** 1.2
    p /= p.sum()
    kl = {correct: float(np.sum(p * np.log(p / _learned_distribution(correct, p)))) for correct in (True, False)}
    # uncorrected, popular items are the most frequent negatives and get pushed down: the
    # learned distribution flattens; corrected, it is close to p
    assert kl[True] < 0.06, kl
    assert kl[False] > 5 * kl[True], kl


def _largest_in_step(num_items: int, negatives: int, sampler: str) -> int:
    """The most elements of any tensor a training step makes, but the item table's gradient."""
    model = _model(num_items).train()
    counts = np.arange(num_items + 1)
    objective = NextItemObjective(negatives, NegativeSampler(sampler, num_items, counts))
    g = torch.Generator().manual_seed(0)
    batch = {"items": torch.randint(1, num_items + 1, (16, 8), generator=g),
             "targets": torch.randint(1, num_items + 1, (16, 8), generator=g)}
    with Allocations() as made:
        objective(model, batch).backward()
    return made.largest(but=tuple(model.item_embedding.weight.shape))


@pytest.mark.parametrize("sampler", ["uniform", "log-uniform", "in-batch"])
def test_step_memory_does_not_grow_with_the_catalogue(sampler: str) -> None:
    small, large = _largest_in_step(1_000, 32, sampler), _largest_in_step(100_000, 32, sampler)
    assert small == large, (small, large)


def test_full_softmax_step_does_grow_with_the_catalogue() -> None:
    # the check above can fail: the full softmax makes (positions × catalogue) logits
    assert _largest_in_step(100_000, 0, "uniform") > 10 * _largest_in_step(1_000, 0, "uniform")


@pytest.fixture(scope="module")
def audience():
    return make_audience(num_users=120, num_items=60, mean_events=12, seed=3)


def test_recommender_trains_with_in_batch_negatives(audience, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = []
    original = NegativeSampler.draw

    def recording(self, k, targets, generator=None):
        out = original(self, k, targets, generator)
        drawn.append((self.kind, set(out.tolist()) <= set(targets.tolist())))
        return out

    monkeypatch.setattr(NegativeSampler, "draw", recording)
    rec = SequentialRecommender(max_len=20, dim=16, num_layers=1, num_heads=1, batch_size=16, lr=1e-2, device="cpu",
                                epochs=8, negatives=16, sampler="in-batch").fit(audience.interactions)
    assert drawn and all(kind == "in-batch" and inside for kind, inside in drawn)
    assert rec.get_params()["sampler"] == "in-batch"
    losses = [h["loss"] for h in rec.metrics_["history"]["train"]]
    assert losses[-1] < losses[0]


def test_recommender_rejects_a_bad_sampler(audience) -> None:
    with pytest.raises(AttnsightError, match="unknown sampler"):
        SequentialRecommender(negatives=8, sampler="zipf", epochs=1).fit(audience.interactions)
    with pytest.raises(AttnsightError, match="negatives > 0"):
        SequentialRecommender(sampler="log-uniform", epochs=1).fit(audience.interactions)
