"""`attnsight risk ...` end to end in process: train (repeated and comma-separated column flags),
evaluate --since, score --out, explain --event / riskiest, --json outputs, and one-line errors
that exit 2 through the real entry point."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from cli_helpers import assert_one_line_error, invoke, run_main

from attnsight.data.synthetic import make_transactions

COLUMNS = ["--account-col", "customer", "--time-col", "timestamp", "--label-col", "fraud", "--entity-col", "terminal",
           "--id-col", "transaction_id"]
SMALL = ["--history-len", "6", "--label-delay-days", "2", "--valid-days", "3", "--gap-days", "2", "--test-days", "5",
         "--dim", "16", "--layers", "1", "--heads", "2", "--epochs", "1", "--device", "cpu", "--seed", "0",
         "--keep-known"]  # 60 customers: leaving out the known-compromised ones leaves almost no positives
SINCE = "2025-02-05"


def flat(text: str) -> str:
    """Printed output with whitespace collapsed: the console may wrap long lines."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("risk-cli")
    frame = make_transactions(customers=60, terminals=120, days=40)
    rng = np.random.default_rng(0)
    frame = frame.with_columns(
        fee=(pl.col("amount") * 0.01).round(2),
        mcc=pl.Series(rng.choice(["grocery", "fuel", "travel"], frame.height)),
    ).select("customer", "timestamp", "amount", "fee", "channel", "mcc", "fraud", "terminal", "transaction_id")
    data = root / "transactions.csv"
    frame.write_csv(data)
    bundle = root / "bundle"
    train = invoke("risk", "train", "--data", data, "--out", bundle, *COLUMNS, "--numeric", "amount,fee",
                   "--categorical", "channel", "--categorical", "mcc", *SMALL, "--json")
    return {"root": root, "data": data, "bundle": bundle, "frame": frame, "train": json.loads(train.stdout)}


def rows_since(frame: pl.DataFrame, date: str) -> pl.DataFrame:
    start = int(datetime.fromisoformat(date).replace(tzinfo=timezone.utc).timestamp())
    return frame.filter(pl.col("timestamp") >= start)


# ----------------------------------------------------------------------------- train


def test_help_lists_the_risk_commands():
    result = invoke("risk", "--help")
    for command in ("train", "evaluate", "score", "explain"):
        assert command in result.stdout


def test_train_json_and_bundle(workspace):
    m = workspace["train"]
    assert m["task"] == "risk" and m["dataset"] == "transactions.csv"
    assert m["epochs"] == 1 and m["protocol"]["test"] == ["2025-02-05", "2025-02-09"]
    for metric in ("roc_auc", "average_precision", "precision@100", "card_precision@100"):
        assert 0.0 <= m["test"][metric] <= 1.0, metric
        assert 0.0 <= m["baselines"]["gradient_boosting"]["test"][metric] <= 1.0, metric
    bundle = workspace["bundle"]
    for name in ("config.json", "model.safetensors", "metrics.json"):
        assert (bundle / name).is_file(), name
    config = json.loads((bundle / "config.json").read_text())
    # comma-separated and repeated flags both name columns
    assert config["schema"]["numeric"] == ["amount", "fee"]
    assert config["schema"]["categorical"] == ["channel", "mcc"]
    assert config["schema"]["account"] == "customer" and config["schema"]["entity"] == "terminal"
    assert config["model"]["num_numeric"] == 2 and config["model"]["history_len"] == 6
    # channel, mcc (3 values + unknown each), hour (24 + 1), weekday (7 + 1)
    assert config["model"]["categorical_sizes"] == [4, 4, 25, 8]
    assert json.loads((bundle / "metrics.json").read_text())["test"] == pytest.approx(m["test"], nan_ok=True)


def test_train_with_tables(workspace):
    out = workspace["root"] / "bundle-tables"
    result = invoke("risk", "train", "--data", workspace["data"], "--out", out, *COLUMNS, "--numeric", "amount",
                    "--numeric", "fee", "--categorical", "channel,mcc", *SMALL, "--no-baseline")
    text = flat(result.stdout)
    assert f"read {workspace['frame'].height:,} events of 60 accounts" in text
    assert "(attention)" in text and "gradient" not in text
    assert "bundle written to" in text
    config = json.loads((out / "config.json").read_text())
    assert config["schema"]["numeric"] == ["amount", "fee"] and config["schema"]["categorical"] == ["channel", "mcc"]


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_since_json(workspace):
    result = invoke("risk", "evaluate", "--model", workspace["bundle"], "--data", workspace["data"], "--since", SINCE,
                    "--device", "cpu", "--json")
    metrics = json.loads(result.stdout)
    later = rows_since(workspace["frame"], SINCE)
    assert metrics["events"] == later.height  # every event since the date (known accounts included)
    assert metrics["positives"] == later["fraud"].sum()
    assert 0.0 <= metrics["average_precision"] <= 1.0
    everything = json.loads(invoke("risk", "evaluate", "--model", workspace["bundle"], "--data", workspace["data"],
                                   "--device", "cpu", "--json").stdout)
    assert everything["events"] == workspace["frame"].height


def test_evaluate_leaves_out_known_accounts_as_a_test_does(workspace):
    later = rows_since(workspace["frame"], SINCE)
    kept = json.loads(invoke("risk", "evaluate", "--model", workspace["bundle"], "--data", workspace["data"],
                             "--since", SINCE, "--leave-out-known", "--device", "cpu", "--json").stdout)
    assert kept["excluded_known_accounts"] > 0  # the bundle was trained --keep-known: asked for here
    assert kept["events"] + kept["excluded_known_accounts"] == later.height
    table = invoke("risk", "evaluate", "--model", workspace["bundle"], "--data", workspace["data"], "--since", SINCE,
                   "--leave-out-known", "--device", "cpu").stdout
    assert f"{kept['excluded_known_accounts']:,} events of accounts already known compromised" in flat(table)


def test_evaluate_table(workspace):
    result = invoke("risk", "evaluate", "--model", workspace["bundle"], "--data", workspace["data"], "--since", SINCE,
                    "--device", "cpu")
    assert "ROC AUC" in result.stdout and "attnsight" in result.stdout
    assert f"{rows_since(workspace['frame'], SINCE).height:,} events" in flat(result.stdout)


# ----------------------------------------------------------------------------- score


@pytest.fixture(scope="module")
def scored(workspace) -> tuple[list[dict], list[dict]]:
    out = workspace["root"] / "scores" / "all.csv"  # its folder is made
    result = invoke("risk", "score", "--model", workspace["bundle"], "--data", workspace["data"], "--out", out,
                    "--device", "cpu", "--json")
    with out.open(newline="") as f:
        written = list(csv.DictReader(f))
    return json.loads(result.stdout), written


def test_score_out_never_overwrites_its_input_or_a_bundle(workspace, tmp_path, monkeypatch, capsys):
    data = tmp_path / "tx.csv"
    shutil.copy(workspace["data"], data)
    before = data.read_bytes(), (workspace["bundle"] / "config.json").read_bytes()
    base = ["risk", "score", "--model", workspace["bundle"], "--data", data, "--device", "cpu", "--out"]
    for out, message in [(data, "is a file this command reads"),
                         (workspace["bundle"] / "config.json", "give a .csv file name"),
                         (workspace["bundle"] / "scores.csv", "is inside the bundle folder"),
                         (workspace["bundle"] / "logs" / "scores.csv", "is inside the bundle folder"),
                         (tmp_path, "is a folder")]:
        assert_one_line_error(monkeypatch, capsys, [*base, out], f"--out {out}", message)
    assert (data.read_bytes(), (workspace["bundle"] / "config.json").read_bytes()) == before


def test_score_out_csv(workspace, scored):
    ranked, written = scored
    frame = workspace["frame"]
    out = workspace["root"] / "scores" / "all.csv"
    assert out.read_text().splitlines()[0] == "event,account,time,score"
    assert len(written) == frame.height
    assert sorted(int(r["event"]) for r in written) == sorted(frame["transaction_id"].to_list())
    by_id = {str(t): (c, ts) for t, c, ts in frame.select("transaction_id", "customer", "timestamp").iter_rows()}
    for r in written[:50]:
        customer, timestamp = by_id[r["event"]]
        assert r["account"] == customer
        assert r["time"] == datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        assert 0.0 < float(r["score"]) < 1.0
    # the file is in time order; the JSON is ranked by score, highest first
    assert [r["time"] for r in written] == sorted(r["time"] for r in written)
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True) and len(ranked) == frame.height
    assert {r["event"]: pytest.approx(r["score"]) for r in ranked} == {r["event"]: float(r["score"]) for r in written}


def test_score_since_and_table(workspace):
    result = invoke("risk", "score", "--model", workspace["bundle"], "--data", workspace["data"], "--since", SINCE,
                    "--device", "cpu", "--json")
    assert len(json.loads(result.stdout)) == rows_since(workspace["frame"], SINCE).height
    table = invoke("risk", "score", "--model", workspace["bundle"], "--data", workspace["data"], "--top", "3",
                   "--device", "cpu")
    assert f"Highest risk of {workspace['frame'].height:,} events" in flat(table.stdout)


def test_score_with_a_history_file_scores_only_the_new_events(workspace, scored, tmp_path):
    frame = workspace["frame"]
    cut = frame.height // 2
    while frame["timestamp"][cut] == frame["timestamp"][cut - 1]:  # both files stay in time order
        cut += 1
    frame[:cut].write_csv(tmp_path / "old.csv")
    frame[cut:].write_csv(tmp_path / "new.csv")
    result = invoke("risk", "score", "--model", workspace["bundle"], "--data", tmp_path / "new.csv", "--history",
                    tmp_path / "old.csv", "--device", "cpu", "--json")
    got = {r["event"]: r["score"] for r in json.loads(result.stdout)}
    # with the old events as history, the new events score as they do in the whole file
    expected = {r["event"]: r["score"] for r in scored[0] if int(r["event"]) in set(frame["transaction_id"][cut:])}
    assert len(expected) == frame.height - cut
    assert got == pytest.approx(expected)


def test_a_history_file_that_repeats_events_of_the_data_is_refused(monkeypatch, capsys, workspace):
    # each repeated event would be read in its own history
    line = assert_one_line_error(monkeypatch, capsys, ["risk", "score", "--model", workspace["bundle"], "--data",
                                                       workspace["data"], "--history", workspace["data"]],
                                 "transactions.csv", "column 'transaction_id'", "is in the history too",
                                 f"({workspace['frame'].height:,} are)")
    assert "line 2," in line  # the first event in time order is the file's first row


def test_score_reads_a_file_in_another_encoding(monkeypatch, capsys, workspace, scored, tmp_path):
    frame = workspace["frame"]
    first = frame["customer"][0]
    renamed = frame.with_columns(pl.col("customer").replace(first, first + "-é"))  # an account id is a key, not an input
    latin = tmp_path / "latin.csv"
    latin.write_bytes(renamed.write_csv().encode("latin-1"))
    assert_one_line_error(monkeypatch, capsys, ["risk", "score", "--model", workspace["bundle"], "--data", latin],
                          "latin.csv", "not valid utf-8", "--encoding")
    result = invoke("risk", "score", "--model", workspace["bundle"], "--data", latin, "--encoding", "latin-1",
                    "--device", "cpu", "--json")
    ranked = json.loads(result.stdout)
    assert first + "-é" in {r["account"] for r in ranked}
    assert {r["event"]: r["score"] for r in ranked} == pytest.approx({r["event"]: r["score"] for r in scored[0]})


# ----------------------------------------------------------------------------- explain


def test_explain_event_json(workspace):
    frame = workspace["frame"]
    event = str(frame["transaction_id"][frame.height - 5])  # a late event: it has a history
    result = invoke("risk", "explain", "--model", workspace["bundle"], "--data", workspace["data"], "--event", event,
                    "--top", "4", "--device", "cpu", "--json")
    explanations = json.loads(result.stdout)
    assert len(explanations) == 1
    e = explanations[0]
    assert e["event"] == event and e["account"] == frame["customer"][frame.height - 5]
    assert 0.0 < e["score"] < 1.0
    assert 0 < len(e["attended"]) <= 4
    timestamp = frame["timestamp"][frame.height - 5]
    times = dict(zip(frame["transaction_id"].cast(pl.String).to_list(), frame["timestamp"].to_list()))
    for a in e["attended"]:
        assert set(a) == {"source", "event", "time", "seconds_before", "weight", "fields", "label"}
        assert a["source"] in ("account", "entity") and 0.0 <= a["weight"] <= 1.0
        assert a["seconds_before"] == timestamp - times[a["event"]] > 0
        assert set(a["fields"]) >= {"customer", "amount", "fee", "channel", "mcc"}
        assert (a["label"] is None) == (a["seconds_before"] < 2 * 86_400)


def test_explain_riskiest_by_default(workspace, scored):
    ranked, _ = scored
    result = invoke("risk", "explain", "--model", workspace["bundle"], "--data", workspace["data"], "--riskiest", "2",
                    "--device", "cpu", "--json")
    explanations = json.loads(result.stdout)
    assert [e["event"] for e in explanations] == [r["event"] for r in ranked[:2]]
    assert [e["score"] for e in explanations] == pytest.approx([r["score"] for r in ranked[:2]])


def test_explain_tables(workspace):
    frame = workspace["frame"]
    event = str(frame["transaction_id"][frame.height - 1])
    result = invoke("risk", "explain", "--model", workspace["bundle"], "--data", workspace["data"], "--event", event,
                    "--device", "cpu")
    assert f"event {event} (account {frame['customer'][frame.height - 1]})" in flat(result.stdout)
    assert "attention" in result.stdout and "before" in result.stdout


# ----------------------------------------------------------------------------- errors


def test_missing_numeric_column_names_the_flag(monkeypatch, capsys, workspace, tmp_path):
    assert_one_line_error(monkeypatch, capsys, ["risk", "train", "--data", workspace["data"], "--out", tmp_path / "b",
                                                *COLUMNS, "--numeric", "amount,tip", *SMALL],
                          "transactions.csv", "no column 'tip'", "--numeric / --categorical")


def test_missing_account_column_names_the_flag(monkeypatch, capsys, workspace, tmp_path):
    assert_one_line_error(monkeypatch, capsys, ["risk", "train", "--data", workspace["data"], "--out", tmp_path / "b",
                                                "--label-col", "fraud", *SMALL],
                          "no column 'account'", "--account-col")


def test_bad_label_names_line_and_column(monkeypatch, capsys, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("account,timestamp,label\nA,1,0\nB,2,1\nC,3,fraud\n")
    assert_one_line_error(monkeypatch, capsys, ["risk", "train", "--data", data, "--out", tmp_path / "b", *SMALL],
                          "bad.csv", "line 4", "column 'label'", "label is not 0/1")


def test_unknown_event_id(monkeypatch, capsys, workspace):
    assert_one_line_error(monkeypatch, capsys, ["risk", "explain", "--model", workspace["bundle"], "--data",
                                                workspace["data"], "--event", "no-such-event", "--device", "cpu"],
                          "no event 'no-such-event'")


def test_not_a_risk_bundle(monkeypatch, capsys, tmp_path, workspace):
    (tmp_path / "config.json").write_text(json.dumps({"task": "text", "model": {}}))
    assert_one_line_error(monkeypatch, capsys, ["risk", "score", "--model", tmp_path, "--data", workspace["data"],
                                                "--device", "cpu"],
                          "not a risk model")
    assert_one_line_error(monkeypatch, capsys, ["risk", "evaluate", "--model", tmp_path / "nothing", "--data",
                                                workspace["data"], "--device", "cpu"],
                          "no such bundle folder")


def test_bad_since_date(monkeypatch, capsys, workspace):
    assert_one_line_error(monkeypatch, capsys, ["risk", "evaluate", "--model", workspace["bundle"], "--data",
                                                workspace["data"], "--since", "last week", "--device", "cpu"],
                          "not a date")


@pytest.mark.parametrize("command, flag", [("score", "--top"), ("explain", "--top"), ("explain", "--riskiest")])
def test_counts_shown_must_be_at_least_one(monkeypatch, capsys, workspace, command, flag):
    code, _, err = run_main(monkeypatch, capsys, "risk", command, "--model", workspace["bundle"], "--data",
                            workspace["data"], flag, "-1", "--device", "cpu")
    assert code == 2 and f"Invalid value for '{flag}'" in err and "Traceback" not in err


def test_evaluate_refuses_what_it_cannot_measure(monkeypatch, capsys, workspace, tmp_path):
    frame, bundle = workspace["frame"], workspace["bundle"]
    negatives = tmp_path / "negatives.csv"
    frame.filter(pl.col("fraud") == 0).write_csv(negatives)
    assert_one_line_error(monkeypatch, capsys, ["risk", "evaluate", "--model", bundle, "--data", negatives,
                                                "--device", "cpu"],
                          "negatives.csv", "labels are all the same")  # as training refuses it: no AUC
    unlabelled = tmp_path / "unlabelled.csv"
    frame.drop("fraud").write_csv(unlabelled)
    assert_one_line_error(monkeypatch, capsys, ["risk", "evaluate", "--model", bundle, "--data", unlabelled,
                                                "--device", "cpu"],
                          "unlabelled.csv", "column 'fraud': missing label; no row has one to evaluate against")
    anonymous = tmp_path / "anonymous.csv"
    frame.drop("customer").write_csv(anonymous)
    assert_one_line_error(monkeypatch, capsys, ["risk", "score", "--model", bundle, "--data", anonymous,
                                                "--device", "cpu"],
                          "no column 'customer'", "the model was trained with --account-col customer")


@pytest.mark.parametrize("flags, fragment", [
    (["--numeric", "fraud"], "--label-col and --numeric name the same column 'fraud'"),
    (["--categorical", "fraud"], "--label-col and --categorical name the same column 'fraud'"),
    (["--entity-col", "customer"], "--account-col and --entity-col name the same column 'customer'"),
    (["--test-start", "2030-01-01"], "test start 2030-01-01 is outside the data's days (2025-01-01 …"),
])
def test_train_refuses_columns_and_dates_that_cannot_work(monkeypatch, capsys, workspace, tmp_path, flags, fragment):
    args = ["risk", "train", "--data", workspace["data"], "--out", tmp_path / "b", "--account-col", "customer",
            "--label-col", "fraud", *flags, *SMALL]
    assert_one_line_error(monkeypatch, capsys, args, fragment)
    assert not (tmp_path / "b").exists()
