"""The web page's server side: `/` and its static files, and the endpoints the page needs beside the
predict ones (users, items, segments, the risk schema, the attention behind a recommendation and
the side features it shares, baselines in /v1/models), each checked against the Python API over the
tiny bundles."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from attnsight.data.side import SideSchema, SideTable
from attnsight.data.synthetic import make_audience
from attnsight.recommender import SequentialRecommender
from attnsight.scorer import RiskScorer
from attnsight.serve import Settings, create_app
from serve_fixtures import RECSYS_TINY, RISK_SCHEMA, Bundles, train_bundles


def train_featured_recsys(path: Path) -> SequentialRecommender:
    """A recsys bundle whose items are fused from their id and their category (a side feature), so
    that its recommendations name the categories they share with their reasons (the web page's e2e
    test serves it too)."""
    torch.manual_seed(0)
    audience = make_audience(num_users=150, num_items=60, mean_events=15, seed=1)
    categories = SideTable(audience.items["item"].to_list(), SideSchema("item", categorical=("category",)),
                           categorical={"category": audience.items["category"].to_list()})
    rec = SequentialRecommender(**RECSYS_TINY).fit(audience.interactions, dataset="synthetic",
                                                   item_features=categories)
    rec.save_pretrained(path)
    return rec


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> Bundles:
    return train_bundles(tmp_path_factory.mktemp("ui-bundles"))


@pytest.fixture(scope="module")
def rec(bundles) -> SequentialRecommender:
    return SequentialRecommender.from_pretrained(bundles.recsys, device="cpu")


@pytest.fixture(scope="module")
def scorer(bundles) -> RiskScorer:
    return RiskScorer.from_pretrained(bundles.risk, device="cpu")


@pytest.fixture
def client(bundles, tmp_path) -> Iterator[TestClient]:
    settings = Settings(models=bundles.paths, store=f"sqlite:///{tmp_path / 'events.db'}", device="cpu")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def ok(response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


# ----------------------------------------------------------------------------- the page


def test_the_page_and_its_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>attnsight</title>" in page.text
    assert '/static/app.js' in page.text and '/static/app.css' in page.text
    for view in ("users", "text", "items", "transactions", "models"):
        assert f'id="{view}"' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for writes_html in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
        assert writes_html not in script.text  # model and user strings go through textContent only
    style = client.get("/static/app.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert client.get("/static/missing.js").status_code == 404


def test_the_page_uses_no_outside_resource(client):
    for path in ("/", "/static/app.js", "/static/app.css"):
        assert "http://" not in client.get(path).text and "https://" not in client.get(path).text


def test_new_endpoints_are_in_the_openapi_schema_and_the_page_is_not(client):
    paths = ok(client.get("/openapi.json"))["paths"]
    for path in ("/v1/users", "/v1/items", "/v1/segments", "/v1/risk/schema"):
        assert "get" in paths[path], path
    assert "/" not in paths


# ----------------------------------------------------------------------------- users and items


def test_users_lists_the_bundles_users_with_their_history_lengths(client, rec):
    body = ok(client.get("/v1/users", params={"limit": 5}))
    assert body["model"] == "recsys" and body["version"] == 1
    assert body["total"] == len(rec.sequences_.users)
    assert [u["user"] for u in body["users"]] == rec.sequences_.users[:5]
    assert [u["history_length"] for u in body["users"]] == rec.sequences_.lengths[:5].tolist()
    prefix = rec.sequences_.users[0][:-1]
    found = ok(client.get("/v1/users", params={"prefix": prefix, "limit": 10_000}))
    assert found["total"] == len(found["users"]) == sum(u.startswith(prefix) for u in rec.sequences_.users)


def test_items_lists_the_catalogue_most_popular_first(client, rec):
    body = ok(client.get("/v1/items", params={"model": "recsys", "limit": 10_000}))
    assert body["total"] == len(rec.item_vocab_) == len(body["items"])
    assert {i["item"] for i in body["items"]} == set(rec.item_vocab_.ids)
    popularity = [i["popularity"] for i in body["items"]]
    assert popularity == sorted(popularity, reverse=True)
    first = body["items"][0]
    assert first["popularity"] == int(rec.item_popularity(rec.item_vocab_.encode([first["item"]]))[0])
    assert ok(client.get("/v1/items", params={"limit": 3}))["items"] == body["items"][:3]


@pytest.mark.parametrize("url", ["/v1/users", "/v1/items", "/v1/segments"])
def test_listing_endpoints_check_their_model_and_limit(client, url):
    assert client.get(url, params={"model": "nope"}).status_code == 404
    assert client.get(url, params={"model": "text"}).status_code == 422  # a text bundle, not a recsys one
    if url != "/v1/segments":
        response = client.get(url, params={"limit": 0})
        assert response.status_code == 422 and "limit" in response.json()["detail"]


def test_recommend_returns_the_attention_over_the_history_when_asked(client, rec):
    user = rec.sequences_.users[2]
    python = rec.recommend(user=user, k=5)
    plain, with_attention = ok(client.post("/v1/recommend", json={"requests": [
        {"user": user, "k": 5}, {"user": user, "k": 5, "attention": True}]}))["results"]
    assert plain["attention"] is None
    assert [a["item"] for a in with_attention["attention"]] == python.history
    assert [a["attention"] for a in with_attention["attention"]] == pytest.approx(python.attention, abs=1e-5)
    assert sum(a["attention"] for a in with_attention["attention"]) == pytest.approx(1.0, abs=1e-4)
    assert len(with_attention["attention"]) == with_attention["history_length"]
    assert with_attention["items"] == plain["items"]
    assert all(i["features"] == [] for i in plain["items"])  # a model without item features


def test_recommend_names_the_side_features_each_recommendation_shares(tmp_path):
    rec = train_featured_recsys(tmp_path / "featured")
    users = rec.sequences_.users[:10]
    expected = [rec.recommend(user=u, k=5).items for u in users]
    settings = Settings(models=(tmp_path / "featured",), store=f"sqlite:///{tmp_path / 'events.db'}", device="cpu")
    with TestClient(create_app(settings)) as client:
        results = ok(client.post("/v1/recommend", json={"requests": [{"user": u, "k": 5} for u in users]}))["results"]
    served = [f for r in results for i in r["items"] for f in i["features"]]
    python = [f for items in expected for i in items for f in i.features]
    assert python, "no recommendation of the featured model shares a category with its reasons"
    assert [(f["feature"], f["value"], f["shared"]) for f in served] == [(f.feature, f.value, f.shared) for f in python]
    assert [f["weight"] for f in served] == pytest.approx([f.weight for f in python], abs=1e-5)


# ----------------------------------------------------------------------------- segments


def test_segments_equal_the_python_api_and_name_each_users_segment(client, rec):
    expected = rec.segments()
    users = rec.sequences_.users[:4]
    body = ok(client.get("/v1/segments", params={"user": users}))
    assert body["k"] == expected.k and body["silhouette"] == pytest.approx(expected.silhouette)
    assert [s["segment"] for s in body["segments"]] == [s.segment for s in expected.segments]
    assert sum(s["users"] for s in body["segments"]) == len(rec.sequences_.users)
    assert body["segments"][0]["items"][0]["name"] == expected.segments[0].items[0].name
    assert body["members"] == dict(zip(users, expected.labels[:4]))
    assert ok(client.get("/v1/segments"))["members"] == {}


def test_segments_of_an_unknown_user_are_a_404_naming_them(client):
    response = client.get("/v1/segments", params={"user": "nobody-like-this"})
    assert response.status_code == 404 and "nobody-like-this" in response.json()["detail"]


def test_segments_are_computed_once_per_loaded_version_however_many_ask_at_once(client):
    served = client.app.state.registry.get("recsys", "recsys")
    compute, calls = served.predictor.segments, []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return compute(*args, **kwargs)

    served.predictor.segments = counted  # this app's predictor only
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(client.get("/v1/segments").status_code))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 4 and len(calls) == 1
    reloaded = ok(client.post("/v1/models/reload", json={"name": "recsys"}))
    assert reloaded["version"] == 2
    assert ok(client.get("/v1/segments"))["version"] == 2  # the new version computes its own


# ----------------------------------------------------------------------------- risk schema, models


def test_risk_schema_names_the_bundles_columns_and_categories(client, scorer):
    body = ok(client.get("/v1/risk/schema"))
    assert body["model"] == "risk"
    assert (body["account"], body["time"], body["entity"], body["id"], body["label"]) == (
        RISK_SCHEMA.account, RISK_SCHEMA.time, RISK_SCHEMA.entity, RISK_SCHEMA.id, RISK_SCHEMA.label)
    assert body["numeric"] == list(RISK_SCHEMA.numeric)
    assert body["categorical"] == dict(zip(RISK_SCHEMA.categorical, scorer.vocabularies_))
    assert body["history_len"] == scorer.history_len
    assert client.get("/v1/risk/schema", params={"model": "recsys"}).status_code == 422


def test_models_carry_the_dataset_and_the_baselines_test_metrics(client, bundles):
    models = {m["name"]: m for m in ok(client.get("/v1/models"))["models"]}
    recsys = bundles.recommender.metrics_
    assert models["recsys"]["dataset"] == recsys["dataset"]
    assert models["recsys"]["baselines"]["popularity"]["ndcg@10"] == pytest.approx(
        recsys["baselines"]["popularity"]["test"]["ndcg@10"])
    assert "majority" in models["text"]["baselines"]
    assert models["risk"]["baselines"] == {}  # trained with baseline=False
