"""Pure metric functions and leakage-free evaluation protocols."""

from attnsight.evaluate.classification import classification_metrics, classification_report
from attnsight.evaluate.metrics import DEFAULT_KS, hit_rate, mrr, ndcg, ranking_metrics, target_ranks
from attnsight.evaluate.ranking import DotScorer, evaluate_ranking, popularity_scorer, seen_mask

__all__ = [
    "DEFAULT_KS",
    "DotScorer",
    "classification_metrics",
    "classification_report",
    "evaluate_ranking",
    "hit_rate",
    "mrr",
    "ndcg",
    "popularity_scorer",
    "ranking_metrics",
    "seen_mask",
    "target_ranks",
]
