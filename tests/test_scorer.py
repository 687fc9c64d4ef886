"""RiskScorer end to end on synthetic card transactions: the metrics record, bundles that score
identically after a round trip, explanations that only point at earlier events of the same account
or terminal (with labels only once they are known), pretraining, and fit errors."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from attnsight.data.events import DAY, UNLABELLED, EventSchema, read_events, time_split
from attnsight.data.synthetic import make_transactions
from attnsight.errors import AttnsightError, DataError
from attnsight.evaluate.risk import risk_metrics
from attnsight.scorer import RiskScorer

DELAY_DAYS = 2
TINY = dict(history_len=6, dim=16, num_layers=1, num_heads=2, epochs=2, batch_size=256, label_delay_days=DELAY_DAYS,
            valid_days=3, gap_days=2, test_days=5, device="cpu", seed=0,
            exclude_known=False)  # 60 customers: leaving out the known-compromised ones leaves almost no positives
SCHEMA = EventSchema("customer", "timestamp", ("amount",), ("channel",), "fraud", "terminal", "transaction_id")
METRICS = ("roc_auc", "average_precision", "precision@100", "precision@500", "card_precision@100")
BUNDLE_FILES = ("config.json", "model.safetensors", "metrics.json")


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    frame = make_transactions(customers=60, terminals=120, days=40)
    path = tmp_path_factory.mktemp("risk") / "transactions.csv"
    frame.select("customer", "timestamp", "amount", "channel", "fraud", "terminal", "transaction_id").write_csv(path)
    return path


@pytest.fixture(scope="module")
def events(csv_path):
    return read_events(csv_path, SCHEMA)


@pytest.fixture(scope="module")
def scorer(csv_path) -> RiskScorer:
    return RiskScorer(**TINY).fit(csv_path, SCHEMA)  # from a path, with a schema


@pytest.fixture(scope="module")
def all_scores(scorer, events) -> np.ndarray:
    return scorer.score(events)


def in_unit_interval(value: float) -> bool:
    return 0.0 <= value <= 1.0


# ----------------------------------------------------------------------------- metrics record


def test_metrics_record(scorer, events):
    m = scorer.metrics_
    assert m["task"] == "risk" and m["dataset"] == "transactions.csv"
    for key in ("test", "valid", "baselines", "protocol", "epochs", "best_epoch", "stopped_by", "pretrain",
                "train_seconds", "params", "history", "versions"):
        assert key in m, key
    assert m["pretrain"] is None and 1 <= m["epochs"] <= 2
    assert m["params"] == scorer.get_params() and m["params"]["history_len"] == 6
    gb = m["baselines"]["gradient_boosting"]
    assert "entity_risk_7d" in gb["features"] and "account_mean_amount_30d" in gb["features"]
    for name, metrics in (("test", m["test"]), ("valid", m["valid"]), ("baseline", gb["test"])):
        for metric in METRICS:
            assert in_unit_interval(metrics[metric]), (name, metric, metrics[metric])
    # the test period has both classes, so its AUC is a number
    assert 0 < m["test"]["positives"] < m["test"]["events"]
    p = m["protocol"]
    assert p["split"] == "time" and p["label_delay_days"] == DELAY_DAYS and p["gap_days"] == 2
    # 40 days from 2025-01-01: test = the last 5 days, gap 2, valid 3, train the rest
    assert p["test"] == ["2025-02-05", "2025-02-09"]
    assert p["valid"] == ["2025-01-31", "2025-02-02"]
    assert p["train"] == ["2025-01-01", "2025-01-30"]
    assert p["rows"]["test"] == m["test"]["events"] == gb["test"]["events"]
    assert p["test_excluded_known_accounts"] == 0  # exclude_known=False: every test event is kept
    json.dumps(m)  # the record is plain JSON


def test_test_metrics_are_the_scores_of_the_split(scorer, events, all_scores):
    split = time_split(events, None, 3, 2, 5, None, DELAY_DAYS, False)
    assert len(split.test) == scorer.metrics_["protocol"]["rows"]["test"]
    expected = risk_metrics(events.label[split.test], all_scores[split.test], events.account[split.test],
                            events.days[split.test])
    for metric in METRICS:
        assert scorer.metrics_["test"][metric] == pytest.approx(expected[metric], abs=1e-6), metric


def test_scores_are_probabilities(all_scores, events):
    assert all_scores.shape == (len(events),)
    assert ((all_scores > 0) & (all_scores < 1)).all()
    assert all_scores.std() > 0  # not one constant


def test_score_and_evaluate_since(scorer, events, all_scores):
    since = "2025-02-05"
    start = int(datetime(2025, 2, 5, tzinfo=timezone.utc).timestamp())
    rows = events.since(since)
    assert rows.tolist() == np.flatnonzero(events.time >= start).tolist()
    assert 0 < len(rows) < len(events)
    scores = scorer.score(events, rows)
    np.testing.assert_allclose(scores, all_scores[rows], rtol=1e-5, atol=1e-7)  # a row's score ignores the batch
    metrics = scorer.evaluate(events, rows)
    assert metrics["events"] == len(rows)
    assert metrics["positives"] == events.label[rows].sum()
    with pytest.raises(AttnsightError, match="no events to score"):
        scorer.score(events, events.since("2031-01-01"))
    with pytest.raises(AttnsightError, match="not a date"):
        events.since("soon")


# ----------------------------------------------------------------------------- bundles


def test_save_and_load_round_trip(scorer, events, all_scores, csv_path, tmp_path):
    scorer.save_pretrained(tmp_path / "bundle")
    for name in BUNDLE_FILES:
        assert (tmp_path / "bundle" / name).is_file(), name
    loaded = RiskScorer.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.schema_ == SCHEMA
    assert loaded.get_params() == scorer.get_params()
    assert loaded.vocabularies_ == scorer.vocabularies_ == [["atm", "online", "pos"]]
    again, rows = loaded.load(csv_path)  # read in the bundle's schema
    assert rows.tolist() == list(range(len(events)))
    scores = loaded.score(again, rows)
    np.testing.assert_array_equal(scores, all_scores)
    assert loaded.metrics_["test"] == pytest.approx(scorer.metrics_["test"])
    assert loaded.evaluate(again) == pytest.approx(scorer.evaluate(events))


def test_history_file_then_new_events(scorer, events, all_scores, csv_path, tmp_path):
    # the same table cut in two: scoring the second part after the first as history gives the same scores
    lines = csv_path.read_text().splitlines()
    cut = 1 + len(lines) // 2
    # cut between two timestamps so both files stay in time order
    while lines[cut].split(",")[1] == lines[cut - 1].split(",")[1]:
        cut += 1
    (tmp_path / "old.csv").write_text("\n".join(lines[:cut]) + "\n")
    (tmp_path / "new.csv").write_text("\n".join([lines[0], *lines[cut:]]) + "\n")
    both, new_rows = scorer.load(tmp_path / "new.csv", history=tmp_path / "old.csv")
    assert len(both) == len(events)
    assert both.ids.tolist() == events.ids.tolist()
    assert new_rows.tolist() == list(range(cut - 1, len(events)))  # only the new file's events are to be scored
    np.testing.assert_allclose(scorer.score(both, new_rows), all_scores[new_rows], rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- explanations


@pytest.fixture(scope="module")
def explained(scorer, events):
    rows = np.arange(len(events) - 60, len(events))
    return rows, scorer.explain(events, rows, top=8)


def test_explanations_point_at_earlier_events_of_the_same_account_or_terminal(events, explained, all_scores):
    rows, explanations = explained
    assert len(explanations) == len(rows)
    row_of = {event_id: i for i, event_id in enumerate(events.event_ids(np.arange(len(events))))}
    sources, shown_labels = set(), set()
    for row, e in zip(rows, explanations):
        assert row_of[e.event] == row
        assert e.account == events.accounts[events.account[row]]
        assert e.score == pytest.approx(all_scores[row], abs=1e-5)
        assert 0 < len(e.attended) <= 8
        weights = [a.weight for a in e.attended]
        assert all(0.0 <= w <= 1.0 for w in weights) and sum(weights) <= 1.0 + 1e-6
        assert weights == sorted(weights, reverse=True)  # most attended first
        for a in e.attended:
            past = row_of[a.event]
            assert past < row  # an earlier row ...
            assert a.seconds_before == events.time[row] - events.time[past] > 0  # ... strictly earlier in time
            expected_time = datetime.fromtimestamp(int(events.time[past]), tz=timezone.utc)
            assert a.time == expected_time.isoformat(sep=" ")
            sources.add(a.source)
            if a.source == "account":
                assert events.account[past] == events.account[row]
                assert a.fields["customer"] == e.account
            else:
                assert a.source == "entity"
                assert events.entity[past] == events.entity[row] >= 0
                assert a.fields["terminal"] == events.entities[events.entity[row]]
            assert a.fields["amount"] == pytest.approx(events.numeric[past, 0])
            assert a.fields["channel"] == events.categorical[past, 0]
            # a label is shown only once it is known: at least the label delay old
            if a.seconds_before >= DELAY_DAYS * DAY:
                assert a.label == events.label[past]
                shown_labels.add("known")
            else:
                assert a.label is None
                shown_labels.add("unknown")
    assert sources == {"account", "entity"}
    assert shown_labels == {"known", "unknown"}  # both cases were checked


def test_explain_top_limits_the_list(scorer, events, explained):
    rows, full = explained
    short = scorer.explain(events, rows[:5], top=2)
    for s, f in zip(short, full[:5]):
        assert len(s.attended) == min(2, len(f.attended))
        assert [a.event for a in s.attended] == [a.event for a in f.attended[:2]]


def test_first_event_of_a_new_account_and_terminal_attends_to_nothing(scorer, events):
    assert scorer.explain(events, np.array([0]))[0].attended == []


# ----------------------------------------------------------------------------- pretraining, determinism


def test_pretraining_runs_and_is_recorded(events):
    scorer = RiskScorer(**{**TINY, "epochs": 1, "pretrain_epochs": 1, "baseline": False}).fit(events)
    pre = scorer.metrics_["pretrain"]
    assert pre["epochs"] == 1 and pre["best_epoch"] == 1
    assert math.isfinite(pre["masked_loss"]) and pre["masked_loss"] > 0
    assert scorer.metrics_["baselines"] == {}
    assert scorer.metrics_["train_seconds"] >= pre["seconds"]
    assert in_unit_interval(scorer.metrics_["test"]["average_precision"])


def test_fit_is_deterministic_for_a_seed(events):
    params = {**TINY, "epochs": 1, "baseline": False}
    a = RiskScorer(**params).fit(events).score(events)
    b = RiskScorer(**params).fit(events).score(events)
    np.testing.assert_array_equal(a, b)
    c = RiskScorer(**{**params, "seed": 1}).fit(events).score(events)
    assert not np.allclose(a, c)


# ----------------------------------------------------------------------------- errors


def test_fit_with_one_label_only(events):
    for value in (0, 1):
        same = dataclasses.replace(events, label=np.full(len(events), value, dtype=np.int8))
        with pytest.raises(DataError, match="labels are all the same") as info:
            RiskScorer(**TINY).fit(same)
        assert events.source in str(info.value)


def test_fit_without_positives_in_the_training_period(events):
    label = events.label.copy()
    label[events.days < 35] = 0  # positives only in the test days
    assert label.sum() > 0
    with pytest.raises(DataError, match="no positive labels in the training period"):
        RiskScorer(**TINY).fit(dataclasses.replace(events, label=label))


def test_fit_errors(events, csv_path):
    with pytest.raises(DataError, match="no positive labels in the validation days"):
        RiskScorer(**{**TINY, "valid_days": 0}).fit(events)
    with pytest.raises(DataError, match="too few"):
        RiskScorer(**{**TINY, "test_days": 40}).fit(events)
    with pytest.raises(DataError, match="training needs a label on every event"):
        RiskScorer(**TINY).fit(dataclasses.replace(events, label=None))
    open_label = events.label.copy()
    open_label[5] = UNLABELLED
    with pytest.raises(DataError, match="training needs a label on every event"):
        RiskScorer(**TINY).fit(dataclasses.replace(events, label=open_label))
    with pytest.raises(DataError, match="no label column"):
        RiskScorer(**TINY).fit(csv_path, dataclasses.replace(SCHEMA, label=None))
    with pytest.raises(AttnsightError, match="needs a schema"):
        RiskScorer(**TINY).fit(csv_path)


def test_unfitted_and_bad_bundles(events, tmp_path):
    with pytest.raises(AttnsightError, match="not trained"):
        RiskScorer().score(events)
    with pytest.raises(AttnsightError, match="not a model bundle"):
        RiskScorer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"task": "text"}))
    with pytest.raises(AttnsightError, match="not a risk model"):
        RiskScorer.from_pretrained(tmp_path)


def test_a_bundle_with_a_config_cut_down_or_a_profile_cut_short(scorer, tmp_path):
    bundle = tmp_path / "bundle"
    scorer.save_pretrained(bundle)
    config = json.loads((bundle / "config.json").read_text())
    (bundle / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "schema"}))
    with pytest.raises(AttnsightError, match=r"damaged bundle \(KeyError: 'schema'\)"):
        RiskScorer.from_pretrained(bundle, device="cpu")
    (bundle / "config.json").write_text(json.dumps(config))
    (bundle / "profile.json").write_text("{")
    with pytest.raises(AttnsightError, match=r"damaged bundle \(ValueError: profile.json: "):
        RiskScorer.from_pretrained(bundle, device="cpu")


def test_evaluate_needs_both_classes(scorer, events):
    negatives = np.flatnonzero(events.label == 0)
    with pytest.raises(DataError, match="labels are all the same; risk scoring needs positives and negatives"):
        scorer.evaluate(events, negatives)  # ROC AUC and AP have nothing to rank positives against


def test_evaluate_needs_labels(scorer, events):
    with pytest.raises(DataError, match="no labels to evaluate"):
        scorer.evaluate(dataclasses.replace(events, label=None))


def test_open_labels_are_scored_as_unknown_but_not_evaluated(scorer, events, all_scores):
    open_label = events.label.copy()
    open_label[-50:] = UNLABELLED  # the outcomes of the last 50 events are not known yet
    unknown = dataclasses.replace(events, label=open_label)
    rows = np.arange(len(events) - 50, len(events))
    assert events.time[-1] - events.time[-50] < DELAY_DAYS * DAY
    # an event's own label is never an input, so a row's score only changes when an earlier open
    # label (visible after the delay) would have been seen: within the last 50 none is that old
    np.testing.assert_allclose(scorer.score(unknown, rows), all_scores[rows], atol=1e-6)
    assert all(a.label is None for e in scorer.explain(unknown, rows[-3:], top=8) for a in e.attended
               if a.event in set(unknown.event_ids(rows)))
    with pytest.raises(DataError, match="missing label") as info:
        scorer.evaluate(unknown, rows)
    assert info.value.line == int(events.lines[rows[0]]) and info.value.column == "fraud"
    assert scorer.evaluate(unknown, np.arange(len(events) - 50))["events"] == len(events) - 50


def test_from_records_scores_like_the_file(scorer, events, all_scores, csv_path):
    import polars as pl

    rows = pl.read_csv(csv_path, infer_schema_length=0).to_dicts()  # strings, as a JSON client might send
    history, new = rows[:-20], [{k: v for k, v in r.items() if k != "fraud"} for r in rows[-20:]]
    merged, at = scorer.from_records(new, history)
    assert len(at) == 20 and merged.label[at].tolist() == [UNLABELLED] * 20
    np.testing.assert_allclose(scorer.score(merged, at), all_scores[-20:], atol=1e-5)


# ----------------------------------------------------------------------------- arguments of the Python API


def test_events_read_in_other_columns_are_refused_not_scored(scorer, csv_path):
    no_amount = read_events(csv_path, dataclasses.replace(SCHEMA, numeric=()))
    with pytest.raises(AttnsightError, match=r"read with numeric columns \(\), the model's are \('amount',\)"):
        scorer.score(no_amount)
    no_entity = read_events(csv_path, dataclasses.replace(SCHEMA, entity=None))
    with pytest.raises(AttnsightError, match="entity columns None, the model's are 'terminal'"):
        scorer.explain(no_entity, [0])
    with pytest.raises(TypeError, match="scorer.load"):
        scorer.score(str(csv_path))
    with pytest.raises(TypeError, match="not list: read_events reads a file"):
        RiskScorer(**TINY).fit([{"customer": "c1"}], SCHEMA)
    with pytest.raises(DataError, match="^request: no rows$"):
        scorer.from_records([])
    # the label and event id are not inputs: events read without them score the same
    unlabelled = read_events(csv_path, dataclasses.replace(SCHEMA, label=None, id=None))
    assert scorer.score(unlabelled, [5, 9]) == pytest.approx(scorer.score(read_events(csv_path, SCHEMA), [5, 9]))


def test_rows_are_checked(scorer, events):
    last = len(events) - 1
    with pytest.raises(IndexError, match=f"row -1 is not one of the {len(events)} events"):
        scorer.score(events, [-1])
    with pytest.raises(IndexError, match=f"row {last + 1} is not one"):
        scorer.explain(events, [0, last + 1])
    with pytest.raises(TypeError, match="list of row numbers"):
        scorer.score(events, np.zeros(len(events), dtype=bool))
    for call in (lambda: scorer.explain(events, []), lambda: scorer.evaluate(events, [])):
        with pytest.raises(AttnsightError, match="no events to score"):
            call()
    with pytest.raises(AttnsightError, match="top must be at least 1, not 0"):
        scorer.explain(events, [last], top=0)
