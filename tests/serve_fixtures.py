"""Tiny bundles for the REST service tests: a recommender, a text classifier and a risk scorer,
each trained in seconds on the project's synthetic data with the TINY configs of the model tests,
and saved into one folder (served under their folder names: recsys, text, risk).

Not a test module: test modules import it (`from serve_fixtures import train_bundles`) and wrap
`train_bundles` in a module-scoped fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attnsight.classifier import TextClassifier
from attnsight.data.events import EventSchema
from attnsight.data.synthetic import make_audience, make_reviews, make_transactions
from attnsight.recommender import SequentialRecommender
from attnsight.scorer import RiskScorer

RECSYS_TINY = dict(max_len=20, dim=32, num_layers=1, num_heads=2, dropout=0.1, batch_size=32, lr=3e-3, device="cpu",
                   seed=0, epochs=4, patience=4)
TEXT_TINY = dict(dim=32, num_layers=1, num_heads=2, vocab_size=300, max_len=48, epochs=6, lr=3e-3, batch_size=32,
                 device="cpu", seed=0, test_size=0.25)
RISK_TINY = dict(history_len=6, dim=16, num_layers=1, num_heads=2, epochs=2, batch_size=256, label_delay_days=2,
                 valid_days=3, gap_days=2, test_days=5, device="cpu", seed=0, exclude_known=False, baseline=False)
RISK_SCHEMA = EventSchema("customer", "timestamp", ("amount",), ("channel",), "fraud", "terminal", "transaction_id")
RISK_COLUMNS = ("customer", "timestamp", "amount", "channel", "fraud", "terminal", "transaction_id")


@dataclass
class Bundles:
    """Where the bundles lie, the fitted objects they were saved from, and the data they learnt."""

    root: Path
    recsys: Path
    text: Path
    risk: Path
    recommender: SequentialRecommender
    classifier: TextClassifier
    scorer: RiskScorer
    transactions: list[dict[str, Any]]  # the risk training rows, as dicts of strings and numbers

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return self.recsys, self.text, self.risk


def train_recsys(path: Path, **overrides: Any) -> SequentialRecommender:
    """The recommender bundle; overrides (seed, epochs) give another model of the same catalogue."""
    torch.manual_seed(0)
    audience = make_audience(num_users=150, num_items=60, mean_events=15, seed=1)
    rec = SequentialRecommender(**{**RECSYS_TINY, **overrides}).fit(audience.interactions, dataset="synthetic")
    rec.save_pretrained(path)
    return rec


def train_text(path: Path) -> TextClassifier:
    torch.manual_seed(0)
    clf = TextClassifier(**TEXT_TINY).fit(make_reviews(400, "en", seed=0), dataset="reviews-en")
    clf.save_pretrained(path)
    return clf


def train_risk(path: Path) -> tuple[RiskScorer, list[dict[str, Any]]]:
    torch.manual_seed(0)
    frame = make_transactions(customers=60, terminals=120, days=40).select(*RISK_COLUMNS)
    csv = path.parent / "transactions.csv"
    frame.write_csv(csv)
    scorer = RiskScorer(**RISK_TINY).fit(csv, RISK_SCHEMA)
    scorer.save_pretrained(path)
    return scorer, frame.to_dicts()


def train_bundles(root: Path) -> Bundles:
    """Train and save the three bundles under root/{recsys,text,risk} (a few seconds each on one thread)."""
    torch.set_num_threads(1)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    recsys, text, risk = root / "recsys", root / "text", root / "risk"
    rec = train_recsys(recsys)
    clf = train_text(text)
    scorer, rows = train_risk(risk)
    return Bundles(root, recsys, text, risk, rec, clf, scorer, rows)
