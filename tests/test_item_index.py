"""ItemIndex: exact top-k (chunked), exclusions, the faiss index above the threshold, its recall,
the measurement report, and the recommender serving through it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from attnsight import SequentialRecommender
from attnsight.data.synthetic import make_audience
from attnsight.index import ItemIndex, measure_index, recall_at_k


def _clustered(n: int, dim: int = 16, clusters: int = 20, seed: int = 0) -> torch.Tensor:
    """Gaussian-mixture vectors: what ANN indexes are built for (uniform noise is their worst case)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(clusters, dim, generator=torch.Generator().manual_seed(99))
    return centers[torch.randint(0, clusters, (n,), generator=g)] + 0.5 * torch.randn(n, dim, generator=g)


ITEMS, QUERIES = _clustered(3000), _clustered(40, seed=1)


@pytest.mark.parametrize("chunk", [97, 65_536])
def test_exact_search_is_topk_of_the_whole_matrix(chunk: int) -> None:
    index = ItemIndex(ITEMS, chunk=chunk)
    assert index.backend == "exact"
    scores, ids = index.search(QUERIES, 10)
    top = torch.topk(QUERIES @ ITEMS.T, 10)
    assert torch.equal(ids, top.indices)
    torch.testing.assert_close(scores, top.values)


def test_excluded_rows_are_left_out_and_short_results_padded() -> None:
    items = torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0]])
    index = ItemIndex(items)
    scores, ids = index.search(torch.tensor([[1.0], [1.0], [-1.0]]), 3,
                               [np.array([0, 2]), None, np.array([4, 3, 2, 1])])
    assert ids.tolist() == [[1, 3, 4], [0, 1, 2], [0, -1, -1]]
    assert scores.tolist() == [[4.0, 2.0, 1.0], [5.0, 4.0, 3.0], [-5.0, float("-inf"), float("-inf")]]
    # a catalogue smaller than k: its rows, however large k (2^31 once asked for 16 GB of padding)
    for k in (7, 2**31, 2**63 - 1):
        scores, ids = index.search(torch.tensor([[1.0]]), k)
        assert ids.tolist() == [[0, 1, 2, 3, 4]]


def test_faiss_above_the_threshold_with_high_recall() -> None:
    pytest.importorskip("faiss")
    index = ItemIndex(ITEMS, threshold=1000, nprobe=8)
    assert index.backend == "faiss" and index.build_seconds > 0
    assert ItemIndex(ITEMS, threshold=3001).backend == "exact"
    assert recall_at_k(index, QUERIES, 10) >= 0.9
    assert recall_at_k(ItemIndex(ITEMS), QUERIES, 10) == 1.0
    # exclusions hold for the approximate search too
    history = index.search(QUERIES[:1], 5)[1][0].numpy()
    _, ids = index.search(QUERIES[:1], 5, [history])
    assert not set(ids[0].tolist()) & set(history.tolist()) and (ids >= 0).all()


def test_without_faiss_search_stays_exact_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.warns(RuntimeWarning, match="faiss is not installed"):
        index = ItemIndex(ITEMS, threshold=1000)
    assert index.backend == "exact"
    with pytest.raises(ImportError):
        ItemIndex(ITEMS, backend="faiss")


def test_measure_index_reports_recall_latency_and_size() -> None:
    pytest.importorskip("faiss")
    report = measure_index(ItemIndex(ITEMS, threshold=1000, nprobe=8), QUERIES, latency_queries=10).as_dict()
    assert report["items"] == 3000 and report["dim"] == 16 and report["backend"] == "faiss"
    assert 0.9 <= report["recall_at_10"] <= 1.0
    assert 0 < report["index_p50_ms"] <= report["index_p99_ms"] and 0 < report["exact_p50_ms"] <= report["exact_p99_ms"]
    assert report["build_seconds"] > 0 and report["index_mb"] > 3000 * 16 * 4 / 2**20


@pytest.fixture(scope="module")
def rec() -> SequentialRecommender:
    audience = make_audience(num_users=100, num_items=60, mean_events=12, seed=5)
    return SequentialRecommender(max_len=20, dim=16, num_layers=1, num_heads=1, epochs=3, device="cpu",
                                 seed=0).fit(audience.interactions)


def test_recommender_serves_through_faiss_from_the_threshold(rec: SequentialRecommender, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    rec.save_pretrained(tmp_path)
    assert not [p for p in tmp_path.iterdir() if "index" in p.name]  # built when served, never saved
    served = SequentialRecommender.from_pretrained(tmp_path, device="cpu").set_params(index_threshold=10)
    users = rec.sequences_.users[:10]
    exact, approximate = [rec.recommend(user=u, k=5) for u in users], [served.recommend(user=u, k=5) for u in users]
    assert rec.item_index().backend == "exact" and served.item_index().backend == "faiss"
    # 60 items make one inverted list: the search is exhaustive, so the same items come back
    for a, b in zip(exact, approximate):
        assert [r.item for r in a.items] == [r.item for r in b.items]
        assert [r.score for r in a.items] == pytest.approx([r.score for r in b.items], abs=1e-5)
        assert [[e.item for e in r.because] for r in a.items] == [[e.item for e in r.because] for r in b.items]
