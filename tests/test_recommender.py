"""SequentialRecommender end to end on a small synthetic audience (tiny config, CPU, seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from attnsight import SequentialRecommender
from attnsight.data.synthetic import make_audience
from attnsight.errors import AttnsightError
from attnsight.explain import attention_rollout
from attnsight.models import SASRec

TINY = dict(max_len=20, dim=32, num_layers=1, num_heads=2, dropout=0.1, batch_size=32, lr=3e-3, device="cpu",
            seed=0)
METRICS_KEYS = {"task", "dataset", "protocol", "valid", "test", "epochs", "train_seconds", "seconds_per_epoch",
                "peak_rss_mb", "device", "seed"}


@pytest.fixture(scope="module")
def audience():
    return make_audience(num_users=150, num_items=60, mean_events=15, seed=1)


@pytest.fixture(scope="module")
def fitted(audience) -> SequentialRecommender:
    return SequentialRecommender(epochs=15, patience=15, **TINY).fit(audience.interactions, dataset="synthetic")


def _history_ids(rec: SequentialRecommender, user: str) -> list[str]:
    return rec.item_vocab_.decode(rec.history_of(user).tolist())


def _rolled_out(rec: SequentialRecommender, user: str) -> list[float]:
    """The predicting slot's rolled-out attention over the history items, computed here."""
    history = torch.from_numpy(rec.history_of(user)[-rec.max_len:])[None]
    model = rec.model_
    if model.config.mode == "cloze":  # read with a [MASK] appended, bidirectionally
        mask = torch.full((1, 1), model.config.mask_index)
        history = torch.cat([history[:, -(rec.max_len - 1):], mask], dim=1)
    out = model(history, causal=model.config.mode == "causal", output_attentions=True)  # every position
    weights = attention_rollout(out.attentions)[0, -1]
    if model.config.mode == "cloze":
        weights = weights[:-1]  # the appended [MASK] is not a history item
    return (weights / weights.sum()).tolist()


def test_fit_beats_popularity(fitted: SequentialRecommender) -> None:
    m = fitted.metrics_
    model, popularity = m["test"]["ndcg@10"], m["baselines"]["popularity"]["test"]["ndcg@10"]
    assert model > popularity + 0.05, (model, popularity)
    assert m["test"]["hr@10"] > m["baselines"]["popularity"]["test"]["hr@10"]
    assert m["valid"]["ndcg@10"] > m["baselines"]["popularity"]["valid"]["ndcg@10"]


def test_lr_decay_falls_linearly_to_zero_at_the_last_epoch(audience) -> None:
    def rates(**params) -> list[float]:
        rec = SequentialRecommender(epochs=4, patience=10, **params, **TINY).fit(audience.interactions)
        return [h["lr"] for h in rec.metrics_["history"]["train"]]

    constant, decayed = rates(), rates(lr_decay=True)  # both still in warm-up: 5 steps an epoch
    assert len(constant) == len(decayed) == 4
    assert constant == sorted(constant) and constant[-1] > 0
    assert decayed[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(d < c for d, c in zip(decayed, constant))


def test_metrics_have_the_documented_keys(fitted: SequentialRecommender) -> None:
    m = fitted.metrics_
    assert METRICS_KEYS <= set(m)
    assert m["task"] == "recsys" and m["dataset"] == "synthetic" and m["seed"] == 0 and m["device"] == "cpu"
    assert m["protocol"]["split"] == "loo" and m["protocol"]["ranking"] == "full" and m["protocol"]["exclude_seen"]
    assert m["protocol"]["test_users"] == 150
    assert {"ndcg@10", "hr@10", "mrr@10"} <= set(m["valid"]) and {"ndcg@10", "hr@10", "mrr@10"} <= set(m["test"])
    assert 1 <= m["epochs"] <= 15
    assert m["train_seconds"] > 0 and m["peak_rss_mb"] > 0
    assert m["seconds_per_epoch"] == pytest.approx(m["train_seconds"] / m["epochs"])
    json.dumps(m)  # serialisable as metrics.json


def test_recommend_for_a_user(fitted: SequentialRecommender) -> None:
    user = fitted.sequences_.users[3]
    history = _history_ids(fitted, user)
    result = fitted.recommend(user=user, k=5)
    assert len(result.items) == 5
    ids = [r.item for r in result.items]
    assert len(set(ids)) == 5
    assert not set(ids) & set(history)  # seen items are excluded
    scores = [r.score for r in result.items]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) for s in scores)
    assert result.history == history[-20:]  # the part the model read (max_len 20)
    assert len(result.attention) == len(result.history)
    assert sum(result.attention) == pytest.approx(1.0, abs=1e-5)
    assert all(w >= 0 for w in result.attention)
    assert result.attention == pytest.approx(_rolled_out(fitted, user), abs=1e-6)
    assert result.unknown_items == 0
    assert len(set(result.history)) == len(result.history)  # the synthetic users never repeat an item
    for r in result.items:
        assert 1 <= len(r.because) <= 3
        for ev in r.because:
            assert ev.item in result.history  # evidence is drawn from the user's own history
            assert ev.attention == pytest.approx(result.attention[result.history.index(ev.item)])


def test_recommend_can_include_seen_items(fitted: SequentialRecommender) -> None:
    user = fitted.sequences_.users[0]
    everything = fitted.recommend(user=user, k=60, exclude_seen=False)
    assert len(everything.items) == 60  # the whole catalogue, seen items included
    assert set(_history_ids(fitted, user)) <= {r.item for r in everything.items}


def test_recommend_for_a_history_with_unknown_items(fitted: SequentialRecommender) -> None:
    known = _history_ids(fitted, fitted.sequences_.users[5])[:4]
    result = fitted.recommend(history=[*known[:2], "no-such-item", *known[2:]], k=3)
    assert result.unknown_items == 1
    assert result.history == known
    assert len(result.items) == 3 and not {r.item for r in result.items} & set(known)
    with pytest.raises(AttnsightError):
        fitted.recommend(history=["nope", "nada"])
    with pytest.raises(AttnsightError):
        fitted.recommend(user="not-a-user")
    with pytest.raises(AttnsightError):
        fitted.recommend()


def test_audience_excludes_users_who_have_the_item(fitted: SequentialRecommender) -> None:
    item = fitted.item_vocab_.ids[0]
    users = fitted.audience(item, k=10)
    assert len(users) == 10
    names = [u for u, _ in users]
    assert len(set(names)) == 10
    for name in names:
        assert item not in _history_ids(fitted, name)
    scores = [s for _, s in users]
    assert scores == sorted(scores, reverse=True)
    owners = [u for u in fitted.sequences_.users if item in _history_ids(fitted, u)]
    assert owners  # the exclusion was put to the test
    with pytest.raises(AttnsightError):
        fitted.audience("no-such-item")


def test_save_and_load_round_trip(fitted: SequentialRecommender, tmp_path: Path) -> None:
    fitted.save_pretrained(tmp_path / "bundle")
    names = {p.name for p in (tmp_path / "bundle").iterdir()}
    assert {"config.json", "model.safetensors", "items.json", "users.json", "histories.safetensors",
            "metrics.json"} <= names
    assert not {n for n in names if n.endswith((".pt", ".pkl", ".bin", ".tmp"))}
    assert METRICS_KEYS <= set(json.loads((tmp_path / "bundle" / "metrics.json").read_text()))

    loaded = SequentialRecommender.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.get_params() == {**fitted.get_params(), "device": "cpu"}
    user = fitted.sequences_.users[7]
    a, b = fitted.recommend(user=user, k=5), loaded.recommend(user=user, k=5)
    assert [r.item for r in a.items] == [r.item for r in b.items]
    assert [r.score for r in a.items] == pytest.approx([r.score for r in b.items], abs=1e-5)
    assert [[e.item for e in r.because] for r in a.items] == [[e.item for e in r.because] for r in b.items]
    item = fitted.item_vocab_.ids[2]
    assert [u for u, _ in fitted.audience(item, k=8)] == [u for u, _ in loaded.audience(item, k=8)]
    assert loaded.metrics_["test"] == fitted.metrics_["test"]


def test_from_pretrained_of_a_non_bundle_raises(tmp_path: Path) -> None:
    with pytest.raises(AttnsightError):
        SequentialRecommender.from_pretrained(tmp_path)


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("items.json", '["x"]', "items.json, users.json and histories.safetensors do not fit the model"),
    ("users.json", "[]", "items.json, users.json and histories.safetensors do not fit the model"),
    ("histories.safetensors", "cut short", "SafetensorError"),
    ("profile.json", "{", "ValueError: profile.json: Expecting property name"),
])
def test_a_damaged_bundle_is_one_line_naming_it(fitted: SequentialRecommender, tmp_path: Path, name: str,
                                                content: str, fragment: str) -> None:
    bundle = tmp_path / "bundle"
    fitted.save_pretrained(bundle)
    (bundle / name).write_text(content)
    with pytest.raises(AttnsightError, match="damaged bundle") as info:
        SequentialRecommender.from_pretrained(bundle, device="cpu")
    assert str(info.value).startswith(f"{bundle}: ") and fragment in str(info.value) and "\n" not in str(info.value)


def test_users_too_short_to_train_on_are_a_one_line_error() -> None:
    events = [(user, item) for user in ("u1", "u2") for item in ("a", "b", "c")]  # 3 each: all held out but one
    frame = pl.DataFrame({"user": [u for u, _ in events], "item": [i for _, i in events]})
    with pytest.raises(AttnsightError, match="no user has 2 events left to train on"):
        SequentialRecommender(epochs=1, **TINY).fit(frame)


def test_unfitted_raises() -> None:
    with pytest.raises(AttnsightError):
        SequentialRecommender().recommend(user="u1")


def test_pretrain_only_gives_a_cloze_model_that_recommends(audience) -> None:
    rec = SequentialRecommender(epochs=0, pretrain_epochs=3, **TINY).fit(audience.interactions)
    assert rec.model_.config.mode == "cloze"
    assert rec.metrics_["pretrain_epochs"] == 3 and rec.metrics_["epochs"] == 3
    user = rec.sequences_.users[1]
    result = rec.recommend(user=user, k=4)
    history = _history_ids(rec, user)
    assert len(result.items) == 4 and not {r.item for r in result.items} & set(history)
    # the [MASK] slot is not a history item: one weight per history item the model read
    assert len(result.attention) == len(result.history) == min(len(history), 19)
    assert sum(result.attention) == pytest.approx(1.0, abs=1e-5)
    assert result.attention == pytest.approx(_rolled_out(rec, user), abs=1e-6)
    assert all(e.item in result.history for r in result.items for e in r.because)


def test_sampled_softmax_trains(audience, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = SASRec.sampled_loss

    def counting(self, hidden, targets, negatives, *rest):
        calls.append(len(negatives))
        return original(self, hidden, targets, negatives, *rest)

    monkeypatch.setattr(SASRec, "sampled_loss", counting)
    rec = SequentialRecommender(epochs=8, negatives=8, **TINY).fit(audience.interactions)
    assert calls and set(calls) == {8}
    losses = [h["loss"] for h in rec.metrics_["history"]["train"]]
    assert losses[-1] < losses[0]
    assert rec.metrics_["test"]["ndcg@10"] > rec.metrics_["baselines"]["popularity"]["test"]["ndcg@10"]


def test_refit_on_other_data_forgets_the_old_users(audience) -> None:
    import polars as pl

    from attnsight.data.readers import Interactions

    rec = SequentialRecommender(epochs=1, **TINY).fit(audience.interactions)
    assert rec.recommend(user="u00101", k=2).items  # fills the user lookup: u00101 is row 100 here
    frame = audience.interactions.frame.filter(pl.col("user") >= "u00101")
    rec.fit(Interactions(frame))
    assert rec.sequences_.users[0] == "u00101"  # now row 0
    expected = frame.filter(pl.col("user") == "u00101")["item"].to_list()
    assert _history_ids(rec, "u00101") == expected
    assert rec.user_vectors().shape[0] == 50


def test_get_and_set_params() -> None:
    rec = SequentialRecommender(dim=16, epochs=3)
    params = rec.get_params()
    assert params["dim"] == 16 and params["epochs"] == 3 and params["max_len"] == 200
    assert {"negatives", "pretrain_epochs", "seed", "device", "split"} <= set(params)
    assert rec.set_params(dim=32, seed=5) is rec
    assert rec.dim == 32 and rec.get_params()["seed"] == 5
    clone = SequentialRecommender(**rec.get_params())
    assert clone.get_params() == rec.get_params()
    with pytest.raises(ValueError):
        rec.set_params(no_such_param=1)
    assert not hasattr(rec, "model_")  # __init__ and set_params learn nothing


def test_fit_takes_a_polars_frame_and_names_missing_columns(audience) -> None:
    import polars as pl

    frame = audience.interactions.frame.rename({"user": "customer"})
    with pytest.raises(AttnsightError, match="no user column .*customer"):
        SequentialRecommender(epochs=1, **TINY).fit(frame)
    rec = SequentialRecommender(epochs=1, **TINY).fit(audience.interactions.frame.with_columns(pl.lit(1).alias("x")))
    assert len(rec.item_vocab_) == audience.interactions.frame["item"].n_unique()


def test_counts_and_histories_of_the_python_api_are_checked(fitted, audience) -> None:
    history = audience.interactions.frame["item"].to_list()[:5]
    with pytest.raises(ValueError, match="k must be at least 1, not -1"):
        fitted.recommend(history=history, k=-1)
    with pytest.raises(TypeError, match="k must be a whole number, not 2.5"):
        fitted.similar_items(history[0], k=2.5)
    with pytest.raises(ValueError, match="explain must be at least 0"):
        fitted.recommend(history=history, explain=-1)
    with pytest.raises(ValueError, match="k must be at least 1, not 0"):
        fitted.audience(history[0], k=0)
    with pytest.raises(TypeError, match="not the text"):
        fitted.recommend(history=history[0])
    # any sequence of ids is a history, a numpy array or a polars Series as well as a list
    expected = [r.item for r in fitted.recommend(history=history, k=3).items]
    assert [r.item for r in fitted.recommend(history=np.array(history), k=3).items] == expected
    assert [r.item for r in fitted.recommend(history=pl.Series(history), k=3).items] == expected
    assert fitted.recommend_batch([], []) == []
    with pytest.raises(AttnsightError, match="no histories to score"):
        fitted.scores([])


def test_reasons_name_each_history_item_once(fitted, audience) -> None:
    items = audience.interactions.frame["item"].unique(maintain_order=True).to_list()
    result = fitted.recommend(history=[items[0]] * 12 + [items[1]] * 3, k=4, explain=3)
    for rec in result.items:
        reasons = [e.item for e in rec.because]
        assert sorted(reasons) == sorted(set(reasons)) and 1 <= len(reasons) <= 2  # two distinct items to give
