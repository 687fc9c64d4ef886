"""The `attnsight` command end to end: help, a tiny trained bundle, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import cli_helpers

from attnsight.cli import app

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}
BUNDLE_FILES = ("config.json", "model.safetensors", "items.json", "users.json", "histories.safetensors", "metrics.json")


def attnsight(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnsight", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["demo", "recsys", "text", "risk", "tune", "report", "serve"]),
        (["demo"], ["--users", "--items", "--time-budget", "--text-budget", "--risk-budget", "--out", "--json"]),
        (["recsys"], ["train", "evaluate", "recommend", "audience", "segments", "influence", "add-items", "add-users"]),
        (["recsys", "train"], ["--data", "--out", "--format", "--user-col", "--encoding", "--min-rating", "--split",
                                 "--stream", "--negatives", "--sampler", "--config", "--item-features", "--item-text",
                                 "--item-categorical", "--item-tags", "--item-numeric", "--item-vectors",
                                 "--user-features", "--user-text", "--user-categorical", "--user-tags",
                                 "--user-numeric", "--side-text"]),
        (["recsys", "add-items"], ["--model", "--item-features", "--item-vectors", "--item-col", "--json"]),
        (["recsys", "add-users"], ["--model", "--user-features", "--user-col", "--json"]),
        (["recsys", "influence"], ["--model", "--top", "--users", "--k", "--min-count", "--item", "--seed", "--json"]),
        (["recsys", "segments"], ["--model", "--k", "--top", "--windows", "--json"]),
        (["report"], ["--model", "--out", "--data", "--device", "--seed", "--json"]),
        (["recsys", "evaluate"], ["--model", "--split", "--json"]),
        (["recsys", "recommend"], ["--model", "--user", "--history", "--k", "--include-seen", "--json"]),
        (["recsys", "audience"], ["--model", "--item", "--k", "--json"]),
        (["text"], ["pretrain", "train", "evaluate", "predict", "explain", "insights"]),
        (["text", "pretrain"], ["--data", "--out", "--corpus", "--text-col", "--vocab-size", "--mask-prob", "--nsp",
                                "--whole-word-masking"]),
        (["text", "train"], ["--data", "--out", "--valid", "--test", "--label-col", "--encoder", "--init",
                             "--pretrain-epochs", "--class-weights", "--label-smoothing", "--pooling"]),
        (["text", "explain"], ["--model", "--text", "--data", "--html", "--method", "--json"]),
        (["text", "insights"], ["--model", "--data", "--top", "--min-count", "--json"]),
        (["risk"], ["train", "evaluate", "score", "explain"]),
        (["risk", "train"], ["--data", "--out", "--account-col", "--time-col", "--label-col", "--numeric",
                             "--categorical", "--entity-col", "--id-col", "--history-len", "--label-delay-days",
                             "--train-days", "--valid-days", "--gap-days", "--test-days", "--test-start",
                             "--pretrain-epochs", "--negative-rate", "--pos-weight", "--baseline"]),
        (["risk", "score"], ["--model", "--data", "--history", "--since", "--out", "--json"]),
        (["risk", "explain"], ["--model", "--data", "--event", "--riskiest", "--top", "--json"]),
    ],
)
def test_help(command, expected):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    for option in expected:
        assert option in result.output, option


@pytest.mark.parametrize("args, fragment", [
    (["text", "predict", "--model", "m", "--limit", "0"], "Invalid value for '--limit': Input should be greater than or equal to 1"),
    (["recsys", "recommend", "--model", "m", "--user", "u", "--k", "-1"], "Invalid value for '--k'"),
    (["recsys", "train", "--data", "x.csv", "--out", "m", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["text", "predict", "--text", "hi"], "Missing option '--model'."),
    (["text", "predcit"], "No such command 'predcit'."),
])
def test_usage_errors_end_in_one_line_through_main(monkeypatch, capsys, args, fragment):
    # an option out of its range or of the wrong type, one missing, a typo'd command: as data errors end
    line = cli_helpers.assert_one_line_error(monkeypatch, capsys, args, fragment)
    assert line.endswith(" --help`)")


def test_help_through_main_exits_zero_and_a_bare_group_shows_its_help(monkeypatch, capsys):
    code, out, _ = cli_helpers.run_main(monkeypatch, capsys, "text", "predict", "--help")
    assert code == 0 and "--limit" in out
    code, out, err = cli_helpers.run_main(monkeypatch, capsys, "text")
    assert code == 2 and "predict" in out + err and "error:" not in err


def test_ctrl_c_says_interrupted_and_exits_130(monkeypatch, capsys, tmp_path):
    import attnsight.data.synthetic

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(attnsight.data.synthetic, "make_audience", interrupt)
    code, out, err = cli_helpers.run_main(monkeypatch, capsys, "demo", "--out", tmp_path / "demo")
    assert code == 130 and err.strip() == "interrupted" and "Traceback" not in out + err


def test_help_does_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from attnsight.cli import app; "
            "r = CliRunner().invoke(app, ['recsys', 'train', '--help']); "
            "assert r.exit_code == 0; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- a trained bundle


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, object]:
    from attnsight.data.synthetic import make_audience

    root = tmp_path_factory.mktemp("cli")
    csv = root / "audience.csv"
    make_audience(num_users=60, num_items=40, mean_events=12).interactions.frame.write_csv(csv)
    bundle = root / "bundle"
    result = attnsight("recsys", "train", "--data", csv, "--out", bundle, "--max-len", 20, "--dim", 16, "--layers", 1,
                       "--heads", 1, "--epochs", 2, "--batch-size", 32, "--device", "cpu", cwd=root)
    assert result.returncode == 0, result.stderr
    return {"root": root, "csv": csv, "bundle": bundle, "train_stdout": result.stdout}


@pytest.fixture(scope="module")
def log(workspace) -> pl.DataFrame:
    return pl.read_csv(workspace["csv"], schema_overrides={"user": pl.String, "item": pl.String})


def test_train_writes_a_bundle(workspace):
    bundle = workspace["bundle"]
    for name in BUNDLE_FILES:
        assert (bundle / name).is_file(), name
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["protocol"]["split"] == "loo"
    assert metrics["cleaning"]["rows_out"] > 0 and metrics["cleaning"]["users_out"] == 60
    assert json.loads((bundle / "users.json").read_text())[0] == "u00001"
    assert "bundle written to" in workspace["train_stdout"]


def test_recommend_for_a_user(workspace, log):
    result = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--user", "u00001", "--k", 4,
                       "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["user"] == "u00001" and payload["unknown_items"] == 0
    history = log.filter(pl.col("user") == "u00001")["item"].to_list()
    assert payload["history"] == history[-20:]  # oldest first, the last --max-len items
    assert len(payload["items"]) == 4
    scores = [r["score"] for r in payload["items"]]
    assert scores == sorted(scores, reverse=True)
    for rec in payload["items"]:
        assert rec["item"] not in history  # seen items are excluded
        assert 1 <= len(rec["because"]) <= 3
        for evidence in rec["because"]:
            assert evidence["item"] in payload["history"] and 0 <= evidence["attention"] <= 1
    assert sum(payload["attention"]) == pytest.approx(1.0, abs=1e-4)


def test_recommend_table(workspace):
    result = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--user", "u00002", "--k", 3,
                       "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "Recommendations for user u00002" in result.stdout
    assert "because of (attention)" in result.stdout


def test_recommend_for_a_session_counts_unknown_items(workspace):
    known = json.loads((workspace["bundle"] / "items.json").read_text())[:3]
    history = " ".join([known[0], "no-such-item", known[1], known[2]])
    table = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--history", history, "--k", 3,
                      "--device", "cpu")
    assert table.returncode == 0, table.stderr
    assert "1 history item(s) not in the catalogue were skipped" in " ".join(table.stdout.split())
    as_json = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--history", history, "--k", 3,
                        "--device", "cpu", "--json")
    payload = json.loads(as_json.stdout)
    assert payload["user"] is None and payload["unknown_items"] == 1
    assert payload["history"] == known
    assert len(payload["items"]) == 3
    assert all(r["because"] and r["item"] not in known for r in payload["items"])


def test_audience(workspace, log):
    item = log["item"].value_counts(sort=True)["item"][0]  # the most popular item
    result = attnsight("recsys", "audience", "--model", workspace["bundle"], "--item", item, "--k", 5,
                       "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["item"] == item
    users = [entry["user"] for entry in payload["audience"]]
    assert len(users) == 5 and len(set(users)) == 5
    scores = [entry["score"] for entry in payload["audience"]]
    assert scores == sorted(scores, reverse=True)
    had_it = set(log.filter(pl.col("item") == item)["user"].to_list())
    assert not set(users) & had_it  # users who already have the item are left out
    assert set(users) <= set(log["user"].to_list())


def test_evaluate(workspace):
    result = attnsight("recsys", "evaluate", "--model", workspace["bundle"], "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"test", "popularity"}
    for part in payload.values():
        for metric in ("hr@10", "ndcg@10", "hr@1", "mrr@10"):
            assert 0.0 <= part[metric] <= 1.0
        assert part["ndcg@10"] <= part["hr@10"]
    trained = json.loads((workspace["bundle"] / "metrics.json").read_text())
    # the bundle re-evaluates to what training reported: the saved model is the one measured
    assert payload["test"]["hr@10"] == pytest.approx(trained["test"]["hr@10"], abs=1e-6)
    assert payload["test"]["ndcg@10"] == pytest.approx(trained["test"]["ndcg@10"], abs=1e-6)


# ----------------------------------------------------------------------------- one-line errors


def test_error_missing_file(tmp_path):
    result = attnsight("recsys", "train", "--data", tmp_path / "nope.csv", "--out", tmp_path / "b")
    assert_one_line_error(result, "nope.csv", "no such file")
    assert not (tmp_path / "b").exists()


def test_error_misnamed_column(tmp_path):
    data = tmp_path / "log.csv"
    data.write_text("visitor,item,timestamp\n1,a,1\n")
    result = attnsight("recsys", "train", "--data", data, "--out", tmp_path / "b")
    assert_one_line_error(result, "log.csv", "'user'", "visitor, item, timestamp", "--user-col")


def test_error_bad_timestamp_row(tmp_path):
    data = tmp_path / "log.csv"
    data.write_text("user,item,timestamp\nu,a,1\nu,b,tuesday\nu,c,3\n")
    result = attnsight("recsys", "train", "--data", data, "--out", tmp_path / "b")
    assert_one_line_error(result, "log.csv", "line 3", "column 'timestamp'", "tuesday")


def test_error_unknown_user(workspace):
    result = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--user", "nobody", "--device", "cpu")
    assert_one_line_error(result, "unknown user 'nobody'")


def test_error_unknown_item(workspace):
    result = attnsight("recsys", "audience", "--model", workspace["bundle"], "--item", "nothing", "--device", "cpu")
    assert_one_line_error(result, "unknown item 'nothing'")


def test_error_user_and_history(workspace):
    result = attnsight("recsys", "recommend", "--model", workspace["bundle"], "--user", "u00001", "--history", "a b")
    assert_one_line_error(result, "exactly one of --user or --history")


def test_error_not_a_bundle(tmp_path):
    result = attnsight("recsys", "evaluate", "--model", tmp_path, "--device", "cpu")
    assert_one_line_error(result, str(tmp_path))


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-len", "0"], "--max-len must be at least 3, not 0"),
    (["--negatives", "-4"], "--negatives must be at least 0, not -4"),
    (["--dim", "30", "--heads", "4"], "--dim must be a multiple of --heads"),
])
def test_error_an_option_out_of_its_range(workspace, tmp_path, flags, message):
    result = attnsight("recsys", "train", "--data", workspace["csv"], "--out", tmp_path / "b", *flags)
    assert_one_line_error(result, message)
    assert not (tmp_path / "b").exists()  # refused before anything was read or written


def test_error_a_text_bundle_is_not_a_recommender(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"task": "text"}))
    result = attnsight("recsys", "recommend", "--model", tmp_path, "--user", "u1", "--device", "cpu")
    assert_one_line_error(result, str(tmp_path), "a 'text' bundle, not a recsys model")
    (tmp_path / "config.json").write_text("{}")
    result = attnsight("recsys", "recommend", "--model", tmp_path, "--user", "u1", "--device", "cpu")
    assert_one_line_error(result, str(tmp_path), "its config.json names no task")
    result = attnsight("recsys", "recommend", "--model", tmp_path / "nope", "--user", "u1", "--device", "cpu")
    assert_one_line_error(result, str(tmp_path / "nope"), "no such bundle folder")


def test_error_a_damaged_bundle(workspace, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(workspace["bundle"], damaged)
    (damaged / "model.safetensors").write_bytes(b"not weights")
    result = attnsight("recsys", "recommend", "--model", damaged, "--user", "u00001", "--device", "cpu")
    assert_one_line_error(result, str(damaged / "model.safetensors"), "unreadable")
    (damaged / "config.json").write_text("{half a config")
    result = attnsight("recsys", "recommend", "--model", damaged, "--user", "u00001", "--device", "cpu")
    assert_one_line_error(result, str(damaged / "config.json"), "not a bundle's config")


# ----------------------------------------------------------------------------- demo


def test_demo(tmp_path):
    # the text part's budget leaves room for a loaded machine: at half speed 4 s trained a one-class model
    result = attnsight("demo", "--users", 80, "--items", 40, "--time-budget", 3, "--text-budget", 8,
                       "--risk-budget", 3, "--out", "tmp", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    out = tmp_path / "tmp"
    for name in ("config.json", "model.safetensors", "items.json", "metrics.json"):
        assert (out / name).is_file(), name
    assert (out / "data" / "interactions.csv").is_file() and (out / "data" / "items.csv").is_file()
    assert set(payload) >= {"metrics", "recommendations", "audience", "bundle"}
    assert len(payload["recommendations"]) == 3
    assert all(len(r["items"]) == 5 for r in payload["recommendations"].values())
    assert len(payload["audience"]["users"]) == 10
    assert 0.0 <= payload["metrics"]["test"]["hr@10"] <= 1.0
    assert len(json.loads((out / "items.json").read_text())) == 40
    # the reviews part: a text bundle, English and Chinese explanations, insights per class
    for name in ("config.json", "model.safetensors", "tokenizer.json", "labels.json", "metrics.json"):
        assert (out / "text" / name).is_file(), name
    assert (out / "data" / "reviews.csv").is_file()
    text = payload["text"]
    assert text["metrics"]["protocol"]["test"] == 120
    assert 0.0 <= text["metrics"]["test"]["accuracy"] <= 1.0
    assert len(text["explanations"]) == 2
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text["explanations"][1]["text"])
    assert abs(sum(w["weight"] for w in text["explanations"][0]["words"]) - 1.0) < 1e-4
    assert set(text["insights"]) == {"negative", "positive"}
    # the transactions part: a risk bundle, metrics beside the baseline, the riskiest event explained
    for name in ("config.json", "model.safetensors", "metrics.json"):
        assert (out / "risk" / name).is_file(), name
    assert (out / "data" / "transactions.csv").is_file()
    risk = payload["risk"]
    assert 0.0 <= risk["metrics"]["test"]["average_precision"] <= 1.0
    assert 0.0 <= risk["metrics"]["baselines"]["gradient_boosting"]["test"]["roc_auc"] <= 1.0
    [explanation] = risk["explanations"]
    assert 1 <= len(explanation["attended"]) <= 3
    assert all(a["seconds_before"] >= 0 and a["source"] in ("account", "entity") for a in explanation["attended"])


def test_segments(workspace):
    result = attnsight("recsys", "segments", "--model", workspace["bundle"], "--k", 3, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["k"] == 3 and len(payload["segments"]) == 3
    assert sum(s["users"] for s in payload["segments"]) == 60
    for s in payload["segments"]:
        assert s["items"] and sum(x["attention"] for x in s["items"]) <= 1 + 1e-6
    chosen = attnsight("recsys", "segments", "--model", workspace["bundle"])
    assert chosen.returncode == 0 and "chosen by silhouette" in chosen.stdout
    assert_one_line_error(attnsight("recsys", "segments", "--model", workspace["bundle"], "--k", 0), "--k must be")


def test_demo_at_its_smallest_sizes_and_bad_options_that_leave_it_whole(tmp_path):
    result = attnsight("demo", "--users", 10, "--items", 24, "--time-budget", 1, "--text-budget", 1,
                       "--risk-budget", 1, "--device", "cpu", "--out", "dm", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["recommendations"]) == 3
    before = {p: p.read_bytes() for p in (tmp_path / "dm").rglob("*") if p.is_file()}
    (tmp_path / "dfile").write_text("not a folder")
    for args, fragment in [(["--users", 9], "--users must be at least 10, not 9"),
                           (["--users", -5], "--users must be at least 10, not -5"),
                           (["--items", 1], "--items must be at least 24, not 1"),
                           (["--time-budget", 0], "--time-budget must be positive, not 0"),
                           (["--text-budget", -1], "--text-budget must be positive, not -1"),
                           (["--risk-budget", 0], "--risk-budget must be positive, not 0")]:
        # refused before a file is written: the earlier demo's data and bundles stay as they were
        assert_one_line_error(attnsight("demo", "--out", "dm", *args, cwd=tmp_path), fragment)
    assert {p: p.read_bytes() for p in (tmp_path / "dm").rglob("*") if p.is_file()} == before
    assert_one_line_error(attnsight("demo", "--out", "dfile", cwd=tmp_path), "--out dfile is a file, not a folder")
    (tmp_path / "dsub").mkdir()
    (tmp_path / "dsub" / "risk").write_text("not the risk bundle's folder")
    assert_one_line_error(attnsight("demo", "--out", "dsub", cwd=tmp_path), "--out dsub/risk is a file, not a folder")
    assert sorted(p.name for p in (tmp_path / "dsub").iterdir()) == ["risk"]  # found before any training


def test_paths_with_brackets_print_as_they_are(workspace, tmp_path):
    out = tmp_path / "runs[/prod]x"  # rich markup, were it read as such: a closing tag
    result = attnsight("recsys", "train", "--data", workspace["csv"], "--out", out, "--max-len", 10, "--dim", 8,
                       "--layers", 1, "--heads", 1, "--epochs", 1, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert f"bundle written to {out} (1 epochs" in " ".join(result.stdout.split())
    assert (out / "config.json").is_file()


# ----------------------------------------------------------------------------- option checks


@pytest.mark.parametrize("args, flag", [
    (["recommend", "--user", "u00001", "--k", "-1"], "--k"),
    (["recommend", "--user", "u00001", "--k", "0"], "--k"),
    (["audience", "--item", "i0001", "--k", "-5"], "--k"),
    (["segments", "--top", "-1"], "--top"),
])
def test_error_counts_must_be_at_least_one(workspace, monkeypatch, capsys, args, flag):
    from cli_helpers import run_main

    code, _, err = run_main(monkeypatch, capsys, "recsys", args[0], "--model", workspace["bundle"], *args[1:],
                            "--device", "cpu")
    assert code == 2 and f"Invalid value for '{flag}'" in err and "Traceback" not in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--sampler", "popular"], "--sampler must be one of uniform, log-uniform, in-batch, not 'popular'"),
    (["--split", "random"], "--split must be one of loo, temporal, not 'random'"),
    (["--side-text", "bert"], "--side-text must be one of wordpiece, minilm, not 'bert'"),
    (["--user-col", "item"], "--user-col and --item-col name the same column 'item'"),
    (["--item-text", "title"], "--item-text needs --item-features"),
    (["--user-tags", "likes"], "--user-tags needs --user-features"),
])
def test_error_options_refused_before_the_data_is_read(workspace, tmp_path, monkeypatch, capsys, flags, message):
    from cli_helpers import assert_one_line_error as one_line_error

    missing = tmp_path / "not-read.csv"  # refused first: a file that is not there is never reached
    one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", missing, "--out", tmp_path / "b", *flags],
                   message)


def test_error_a_named_time_column_must_exist(workspace, tmp_path, monkeypatch, capsys):
    from cli_helpers import assert_one_line_error as one_line_error

    one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", workspace["csv"], "--out", tmp_path / "b",
                                         "--time-col", "tstamp", "--split", "temporal"],
                   "audience.csv", "no column 'tstamp' (--time-col)")
    assert not (tmp_path / "b").exists()


def test_the_default_time_column_may_be_absent(tmp_path, monkeypatch, capsys):
    from cli_helpers import assert_one_line_error as one_line_error

    untimed = tmp_path / "untimed.csv"
    untimed.write_text("user,item\n" + "".join(f"u{u},i{(u + n) % 5}\n" for u in range(4) for n in range(4)))
    # read without timestamps: only the temporal split, later, asks for them
    one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", untimed, "--out", tmp_path / "b", "--split",
                                         "temporal", "--device", "cpu"], "the temporal split needs timestamps")
