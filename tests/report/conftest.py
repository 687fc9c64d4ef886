"""Tiny bundles of every task, trained once per session on the project's synthetic data with the
serve tests' tiny configs (`serve_fixtures`), the data files the report reads beside them, and one
report over all three.

Item titles and one review hide markup (`<script>`): the report must show it as text."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from serve_fixtures import RECSYS_TINY, train_risk, train_text

from attnsight.data.synthetic import make_audience, make_reviews
from attnsight.recommender import SequentialRecommender
from attnsight.report import Report, make_report

SCRIPT = "<script>alert(1)</script>"
# a review whose HTML entities the classifier's cleaning decodes: it reads (and shows) a literal <script>
SCRIPT_REVIEW = "&lt;script&gt;alert(1)&lt;/script&gt; the room was dirty, and the staff was rude."


@pytest.fixture(scope="session")
def hidden_markup() -> str:
    """What the item titles and the first review hide: the page must show it, never run it."""
    return SCRIPT


@pytest.fixture(scope="session")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def recsys_bundle(root) -> Path:
    audience = make_audience(num_users=60, num_items=40, mean_events=12)
    info = {row["item"]: {"title": f"{row['title']} {SCRIPT}", "category": row["category"]}
            for row in audience.items.to_dicts()}
    rec = SequentialRecommender(**{**RECSYS_TINY, "epochs": 2})
    rec.fit(audience.interactions, item_info=info, dataset="synthetic audience")
    rec.save_pretrained(root / "recsys")
    return root / "recsys"


@pytest.fixture(scope="session")
def reviews_csv(root) -> Path:
    reviews = make_reviews(300, "en", seed=0)
    frame = pl.concat([pl.DataFrame({"text": [SCRIPT_REVIEW], "label": ["negative"]}), reviews.frame])
    frame.write_csv(root / "reviews.csv")
    return root / "reviews.csv"


@pytest.fixture(scope="session")
def text_bundle(root) -> Path:
    train_text(root / "text")
    return root / "text"


@pytest.fixture(scope="session")
def risk_bundle(root) -> Path:
    train_risk(root / "risk")  # writes the transactions it learnt beside the bundle
    return root / "risk"


@pytest.fixture(scope="session")
def transactions_csv(risk_bundle) -> Path:
    return risk_bundle.parent / "transactions.csv"


@pytest.fixture(scope="session")
def bundles(recsys_bundle, text_bundle, risk_bundle) -> list[Path]:
    return [recsys_bundle, text_bundle, risk_bundle]


@pytest.fixture(scope="session")
def data(reviews_csv, transactions_csv) -> list[Path]:
    return [transactions_csv, reviews_csv]  # in neither bundle's order: files are matched by their columns


@pytest.fixture(scope="session")
def report(bundles, data) -> Report:
    return make_report(bundles, data=data)
