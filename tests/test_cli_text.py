"""`attnsight text ...` end to end in process: pretrain, train --init, evaluate, predict, explain,
insights, and one-line errors that exit 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from cli_helpers import assert_one_line_error, invoke, run_main

from attnsight.data.synthetic import make_reviews

SMALL = ["--vocab-size", "300", "--max-len", "48", "--dim", "32", "--layers", "1", "--heads", "2", "--device", "cpu",
         "--seed", "0"]
FROM_INIT = ["--max-len", "48", "--device", "cpu", "--seed", "0"]  # SMALL less the shape the encoder brings
NEGATIVE = "booked online. the room was dirty, and the staff was rude."
POSITIVE = "arrived late. the bed was comfortable, and the breakfast was delicious."


def write_reviews(path: Path, num: int, seed: int) -> Path:
    """Reviews with named columns and integer labels (1 positive, 0 negative)."""
    texts = make_reviews(num, "en", seed=seed)
    pl.DataFrame({
        "id": list(range(num)),
        "review": texts.texts,
        "stars": [1 if label == "positive" else 0 for label in texts.labels],
    }).write_csv(path)
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path | dict]:
    root = tmp_path_factory.mktemp("text-cli")
    train_csv = write_reviews(root / "train.csv", 400, seed=0)
    test_csv = write_reviews(root / "test.csv", 120, seed=7)
    encoder, bundle = root / "encoder", root / "bundle"
    pretrain = invoke("text", "pretrain", "--data", train_csv, "--out", encoder, "--text-col", "review", "--epochs", 2,
                      "--bigram-buckets", 256, "--lr-decay", *SMALL, "--json")
    train = invoke("text", "train", "--data", train_csv, "--out", bundle, "--init", encoder, "--text-col", "review",
                   "--label-col", "stars", "--epochs", 6, "--lr", "3e-3", "--test-size", "0.25", "--wide-buckets", 512,
                   "--layer-lr-decay", "0.8", *FROM_INIT, "--json")
    return {"root": root, "train_csv": train_csv, "test_csv": test_csv, "encoder": encoder, "bundle": bundle,
            "pretrain": json.loads(pretrain.stdout), "train": json.loads(train.stdout)}


# ----------------------------------------------------------------------------- help


def test_help_lists_the_text_commands():
    result = invoke("text", "--help")
    for command in ("pretrain", "train", "evaluate", "predict", "explain", "insights"):
        assert command in result.output
    train = invoke("text", "train", "--help")
    for option in ("--data", "--out", "--init", "--text-col", "--label-col", "--encoder", "--pretrain-epochs"):
        assert option in train.output


# ----------------------------------------------------------------------------- a pretrained and a trained bundle


def test_pretrain_writes_an_encoder(workspace):
    payload = workspace["pretrain"]
    assert 1 <= payload["epochs"] <= 2 and 0 <= payload["valid"]["mlm_accuracy"] <= 1
    assert payload["texts"] > 300 and "history" not in payload
    assert payload["cleaning"]["rows_in"] == 400 and payload["cleaning"]["rows_out"] == payload["texts"]
    assert json.loads((workspace["encoder"] / "config.json").read_text())["pretrain"]["cleaning"] == payload["cleaning"]
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (workspace["encoder"] / name).is_file(), name
    # fine-tuning from the encoder (--init) keeps its token-pair embeddings, and adds the wide head
    encoder, trained = (json.loads((workspace[b] / "config.json").read_text())["model"] for b in ("encoder", "bundle"))
    assert encoder["bigram_buckets"] == trained["bigram_buckets"] == 256
    assert encoder["wide_buckets"] == 0 and trained["wide_buckets"] == 512
    assert json.loads((workspace["encoder"] / "config.json").read_text())["params"]["pretrain_lr_decay"] is True
    assert json.loads((workspace["bundle"] / "config.json").read_text())["params"]["layer_lr_decay"] == 0.8


def test_train_from_the_encoder(workspace):
    metrics = workspace["train"]
    assert metrics["task"] == "text" and metrics["dataset"] == "train.csv"
    assert metrics["test"]["accuracy"] >= 0.85
    assert metrics["test"]["accuracy"] >= metrics["baselines"]["majority"]["test"]["accuracy"] + 0.3
    assert metrics["pretrain"] is not None and metrics["pretrain"]["in_this_run"] is False
    assert set(metrics["test"]["per_class"]) == {"0", "1"}  # integer labels stay strings
    bundle = workspace["bundle"]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "labels.json", "metrics.json"):
        assert (bundle / name).is_file(), name
    assert json.loads((bundle / "labels.json").read_text()) == ["0", "1"]
    assert json.loads((bundle / "metrics.json").read_text())["test"] == metrics["test"]
    encoder_vocab = json.loads((workspace["encoder"] / "tokenizer.json").read_text())["model"]["vocab"]
    assert json.loads((bundle / "tokenizer.json").read_text())["model"]["vocab"] == encoder_vocab


def test_train_prints_a_summary(workspace, monkeypatch, capsys):
    result = invoke("text", "train", "--data", workspace["train_csv"], "--out", workspace["root"] / "table-bundle",
                    "--text-col", "review", "--label-col", "stars", "--epochs", 1, "--wide-buckets", 256,
                    "--restarts", 2, *SMALL)
    assert "cleaning: 400 texts in" in result.stdout and "0 byte-order marks" in result.stdout
    assert "majority class" in result.stdout and "bundle written to" in result.stdout
    assert "attention head alone" in result.stdout and "wide head alone (mix " in result.stdout
    restarts = json.loads((workspace["root"] / "table-bundle" / "metrics.json").read_text())["restarts"]
    scores = ", ".join(f"{run['valid']['macro_f1']:.4f}" for run in restarts["runs"])
    assert f"2 fine-tunings, validation macro-F1 {scores}: kept number {restarts['chosen']}" in result.stdout
    assert "differ only in case" not in result.stdout
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", workspace["train_csv"], "--out",
                                                workspace["root"] / "never", "--restarts", 0],
                          "--restarts must be at least 1, not 0")


def test_train_warns_of_labels_that_look_alike(workspace, tmp_path):
    frame = pl.read_csv(workspace["train_csv"])
    data = tmp_path / "mixed.csv"  # a third of the positive reviews labelled "1.0", as a spreadsheet may write them
    frame.with_columns(pl.when((pl.col("stars") == 1) & (pl.col("id") % 3 == 0)).then(pl.lit("1.0"))
                       .otherwise(pl.col("stars").cast(pl.String)).alias("stars")).write_csv(data)
    result = invoke("text", "train", "--data", data, "--out", tmp_path / "b", "--text-col", "review", "--label-col",
                    "stars", "--epochs", 1, *SMALL)
    assert "labels '1', '1.0' differ only in case, spacing or how a number is written, and were trained as " \
           "separate classes" in result.stdout.replace("\n", " ")


def test_evaluate(workspace):
    args = ("text", "evaluate", "--model", workspace["bundle"], "--data", workspace["test_csv"], "--text-col", "review",
            "--label-col", "stars", "--device", "cpu")
    report = json.loads(invoke(*args, "--json").stdout)
    assert report["examples"] == 120 and report["labels"] == ["0", "1"]
    assert sum(map(sum, report["confusion_matrix"])) == 120
    assert report["accuracy"] >= 0.85
    table = invoke(*args).stdout
    assert "Per class" in table and "test.csv (120 texts)" in table


def test_predict_json(workspace):
    result = invoke("text", "predict", "--model", workspace["bundle"], "--text", NEGATIVE, "--text", POSITIVE,
                    "--device", "cpu", "--json")
    payload = json.loads(result.stdout)
    assert [p["text"] for p in payload] == [NEGATIVE, POSITIVE]
    assert [p["label"] for p in payload] == ["0", "1"]
    for p in payload:
        assert set(p["probabilities"]) == {"0", "1"}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert p["probabilities"][p["label"]] == max(p["probabilities"].values())


def test_predict_from_a_file_with_limit(workspace):
    result = invoke("text", "predict", "--model", workspace["bundle"], "--data", workspace["test_csv"], "--text-col",
                    "review", "--limit", 3, "--device", "cpu", "--json")
    payload = json.loads(result.stdout)
    expected = pl.read_csv(workspace["test_csv"])["review"].to_list()[:3]
    assert [p["text"] for p in payload] == expected
    table = invoke("text", "predict", "--model", workspace["bundle"], "--text", NEGATIVE, "--device", "cpu").stdout
    assert "Predictions" in table and "┃ line" not in table


def test_commands_read_the_columns_the_bundle_was_trained_on(workspace, tmp_path):
    # trained on --text-col review --label-col stars: evaluate, predict, insights and the report read those
    config = json.loads((workspace["bundle"] / "config.json").read_text())
    assert config["columns"] == {"text": "review", "label": "stars"}
    base = ("--model", workspace["bundle"], "--data", workspace["test_csv"], "--device", "cpu", "--json")
    assert json.loads(invoke("text", "evaluate", *base).stdout)["examples"] == 120
    assert len(json.loads(invoke("text", "predict", *base, "--limit", 2).stdout)) == 2
    assert set(json.loads(invoke("text", "insights", *base, "--min-count", 1).stdout)) == {"0", "1"}
    report = json.loads(invoke("report", "--model", workspace["bundle"], "--data", workspace["test_csv"], "--out",
                               tmp_path / "r.html", "--device", "cpu", "--json").stdout)
    assert report["bundles"][0]["data"] == str(workspace["test_csv"])
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Needs texts" not in page


def test_texts_from_a_file_carry_their_line(workspace):
    # a one-column file: the blank and whitespace-only lines are skipped, so rows and lines part ways
    data = workspace["root"] / "lines.csv"
    data.write_text(f'review\n"{NEGATIVE}"\n\n   \n"{POSITIVE}"\n')
    base = ("--model", workspace["bundle"], "--data", data, "--text-col", "review", "--device", "cpu")
    predicted = json.loads(invoke("text", "predict", *base, "--json").stdout)
    assert [(p["line"], p["text"], p["label"]) for p in predicted] == [(2, NEGATIVE, "0"), (5, POSITIVE, "1")]
    explained = json.loads(invoke("text", "explain", *base, "--limit", 1, "--json").stdout)
    assert [(e["line"], e["label"]) for e in explained] == [(2, "0")]
    table = invoke("text", "predict", *base).stdout
    assert "┃ line" in table and re.search(r"\b5\b\W+arrived late", table) is not None, table
    assert re.search(r"line 5.*\b1\b", invoke("text", "explain", *base).stdout) is not None


def test_explain_writes_a_self_contained_html_file(workspace):
    html_file = workspace["root"] / "explained.html"
    result = invoke("text", "explain", "--model", workspace["bundle"], "--text", NEGATIVE,
                    "--text", "a <b>bold</b> & odd one", "--html", html_file, "--device", "cpu")
    page = html_file.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert page.count('<div class="attnsight-text">') == 2
    assert ">dirty</span>" in page and ">rude</span>" in page
    assert "<b>" not in page  # the texts are cleaned (tags removed) and escaped
    assert "attended:" in result.stdout and "highlighted texts written to" in result.stdout
    payload = json.loads(invoke("text", "explain", "--model", workspace["bundle"], "--text", NEGATIVE,
                                "--device", "cpu", "--json").stdout)
    (e,) = payload
    assert e["label"] == "0" and e["truncated"] is False
    assert sum(w["weight"] for w in e["words"]) == pytest.approx(1.0, abs=1e-5)
    assert [w["word"] for w in e["words"]][:3] == ["booked", "online", "."]


def test_explain_html_goes_only_to_an_html_name_and_marks_truncated_texts(workspace, tmp_path, monkeypatch, capsys):
    config = workspace["bundle"] / "config.json"
    before = config.read_bytes()
    for target in (config, workspace["train_csv"]):  # a bundle's or a data file, given by mistake
        assert_one_line_error(monkeypatch, capsys, ["text", "explain", "--model", workspace["bundle"], "--text", "hi",
                                                    "--html", target], "the page written there is HTML; give a .html file name")
    assert config.read_bytes() == before
    page = tmp_path / "new" / "folder" / "page.html"  # its folder is made
    invoke("text", "explain", "--model", workspace["bundle"], "--text", " ".join([NEGATIVE] * 20), "--text", POSITIVE,
           "--html", page, "--device", "cpu")
    headings = re.findall(r"<h3[^>]*>(.*?)</h3>", page.read_text(encoding="utf-8"))
    assert len(headings) == 2 and headings[0].endswith("(truncated)") and "truncated" not in headings[1], headings


def test_insights_json(workspace):
    result = invoke("text", "insights", "--model", workspace["bundle"], "--data", workspace["test_csv"], "--text-col",
                    "review", "--top", 5, "--min-count", 3, "--device", "cpu", "--json")
    payload = json.loads(result.stdout)
    assert set(payload) == {"0", "1"}
    for rows in payload.values():
        assert 1 <= len(rows) <= 5
        for r in rows:
            assert set(r) == {"word", "attention", "texts", "frequency", "mean_attention", "lift"}
            assert r["texts"] >= 3 and 0 < r["frequency"] <= 1
    table = invoke("text", "insights", "--model", workspace["bundle"], "--data", workspace["test_csv"], "--text-col",
                   "review", "--limit", 50, "--device", "cpu").stdout
    assert "What '0' texts are about" in table


# ----------------------------------------------------------------------------- one-line errors


def test_error_missing_label_column(tmp_path, monkeypatch, capsys):
    data = tmp_path / "reviews.csv"
    data.write_text("text,stars\ngreat room,1\nrude staff,0\n")
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", data, "--out", tmp_path / "b"],
                          str(data), "no label column 'label'", "text, stars", "--label-col")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--dropout", "1.5"], "--dropout must be at least 0 and below 1, not 1.5"),
    (["--max-len", "1"], "--max-len must be at least 3, not 1"),
    (["--lr", "-1"], "--lr must be positive and finite, not -1"),
    (["--layer-lr-decay", "0"], "--layer-lr-decay must be above 0 and at most 1, not 0"),
    (["--valid-size", "0.6", "--test-size", "0.5"], "the validation and test shares (0.6 + 0.5) leave no texts"),
    (["--dim", "30", "--heads", "4"], "--dim must be a multiple of --heads (each head takes an equal share), "
                                      "not 30 for 4 heads"),
    (["--bigram-buckets", "1"], "--bigram-buckets must be 0 (off) or at least 2, not 1"),
    (["--wide-buckets", "-3"], "--wide-buckets must be 0 (off) or at least 2, not -3"),
    (["--seed", "-1"], "--seed must be at least 0, not -1"),
    (["--lr", "inf"], "--lr must be positive and finite, not inf"),
    (["--vocab-size", "3"], "--vocab-size must be at least 100, not 3"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N, not 'tpu'"),
])
def test_error_an_option_out_of_its_range(workspace, tmp_path, monkeypatch, capsys, flags, message):
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", workspace["train_csv"], "--text-col",
                                                "review", "--label-col", "stars", "--out", tmp_path / "b", "--epochs",
                                                1, "--vocab-size", 200, "--device", "cpu", *flags], message)
    assert_one_line_error(monkeypatch, capsys, ["text", "pretrain", "--data", workspace["train_csv"], "--text-col",
                                                "review", "--out", tmp_path / "e", "--mask-prob", "1"],
                          "--mask-prob must be above 0 and below 1, not 1")


def test_error_empty_label_names_the_line(tmp_path, monkeypatch, capsys):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngreat room,1\nrude staff,\n")
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", data, "--out", tmp_path / "b"],
                          "reviews.csv", "line 3", "column 'label'", "empty label")


def test_error_predict_needs_text_or_data(workspace, monkeypatch, capsys):
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", workspace["bundle"], "--device", "cpu"],
                          "--text", "--data")
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", workspace["bundle"], "--text", "x",
                                                "--data", workspace["test_csv"], "--device", "cpu"], "not both")


def test_error_no_such_model(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "no-bundle"
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", missing, "--text", "hello"],
                          str(missing), "no such bundle folder")
    assert_one_line_error(monkeypatch, capsys, ["text", "evaluate", "--model", missing, "--data", tmp_path / "x.csv"],
                          str(missing))


def test_error_recommender_bundle_is_not_a_text_model(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"task": "seqrec"}))
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", tmp_path, "--text", "hi"],
                          "not a text model")


def test_error_unknown_labels_in_evaluation(workspace, tmp_path, monkeypatch, capsys):
    data = tmp_path / "other.csv"
    data.write_text("review,stars\nfine,1\n\nawful,5\nso-so,3\nbad,5\n")  # the first unknown one on line 4
    assert_one_line_error(monkeypatch, capsys, ["text", "evaluate", "--model", workspace["bundle"], "--data", data,
                                                "--text-col", "review", "--label-col", "stars", "--device", "cpu"],
                          "other.csv, line 4, column 'stars': a label the model does not know: '5' (2 in all: 3, 5)")


def test_success_exits_zero_through_main(workspace, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "text", "predict", "--model", workspace["bundle"], "--text",
                              NEGATIVE, "--device", "cpu", "--json")
    assert code in (0, None) and not err.strip()
    assert json.loads(out)[0]["label"] == "0"


def test_error_options_that_contradict_each_other(workspace, tmp_path, monkeypatch, capsys):
    base = ["text", "train", "--data", workspace["train_csv"], "--text-col", "review", "--label-col", "stars",
            "--out", tmp_path / "b", "--device", "cpu"]
    assert_one_line_error(monkeypatch, capsys, [*base, "--init", workspace["encoder"], "--encoder", "minilm"],
                          "--init and --encoder minilm both name the encoder to start from")
    assert_one_line_error(monkeypatch, capsys, [*base, "--corpus", workspace["test_csv"]],
                          "--corpus is text for the pretraining that --pretrain-epochs N runs first")
    out_file = tmp_path / "a-file"
    out_file.write_text("kept")
    assert_one_line_error(monkeypatch, capsys, [*base[:-4], "--out", out_file], f"--out {out_file} is a file")
    assert out_file.read_text() == "kept"
    # an --init or MiniLM encoder has its own shape: a flag that would be ignored is refused instead
    init = ["--init", workspace["encoder"]]
    for flags, message in [
        ([*init, "--dim", "64"], f"--dim shapes an encoder trained from scratch; --init {workspace['encoder']} has "
                                 "its own: leave --dim out"),
        ([*init, "--layers", "3"], "leave --layers out"),
        (["--encoder", "minilm", "--vocab-size", "500"], "--encoder minilm has its own: leave --vocab-size out"),
        ([*init, "--max-len", "49"], f"--max-len 49 is more than --init {workspace['encoder']} reads: at most 48"),
        (["--encoder", "minilm", "--max-len", "600"], "--max-len 600 is more than --encoder minilm reads: at most 512"),
        (["--init", tmp_path / "gone"], "gone: no such bundle folder"),
        (["--init", workspace["bundle"] / "checkpoints"], "not a model bundle (no config.json)"),
    ]:
        assert_one_line_error(monkeypatch, capsys, [*base, *flags], message)  # before the data is read


def test_an_init_encoder_s_shape_is_what_the_bundle_records(workspace):
    config = json.loads((workspace["bundle"] / "config.json").read_text())
    assert config["params"]["dim"] == config["model"]["dim"] == 32
    assert config["params"]["bigram_buckets"] == config["model"]["bigram_buckets"] == 256  # from the encoder


@pytest.mark.parametrize(("flags", "message"), [
    (["--valid-size", "0"], "--valid-size 0 leaves no validation texts: give a share above 0 or a --valid file"),
    (["--test-size", "0"], "--test-size 0 leaves no test texts: give a share above 0 or a --test file"),
])
def test_error_no_share_left_for_validation_or_test(workspace, tmp_path, monkeypatch, capsys, flags, message):
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", workspace["train_csv"], "--text-col",
                                                "review", "--label-col", "stars", "--out", tmp_path / "b", "--epochs",
                                                1, *SMALL, *flags], message)


def test_error_a_class_too_rare_to_split(tmp_path, monkeypatch, capsys):
    data = write_reviews(tmp_path / "reviews.csv", 40, seed=1)
    with data.open("a") as f:
        f.write("40,so so,mid\n")
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", data, "--text-col", "review",
                                                "--label-col", "stars", "--out", tmp_path / "b", *SMALL],
                          "the rarest class, 'mid', has 1")


def test_error_pretraining_one_text(tmp_path, monkeypatch, capsys):
    data = tmp_path / "one.csv"
    data.write_text("text\nhello world\n")
    assert_one_line_error(monkeypatch, capsys, ["text", "pretrain", "--data", data, "--out", tmp_path / "e", *SMALL],
                          "pretraining needs 2 texts or more", "not 1")


def test_error_a_pretraining_bundle_cannot_predict(workspace, monkeypatch, capsys):
    encoder = workspace["encoder"]
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", encoder, "--text", "hi", "--device",
                                                "cpu"], f"{encoder} is a pretraining bundle (no labels)",
                          f"attnsight text train --init {encoder}")


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("tokenizer.json", None, "tokenizer.json: not a readable tokenizer"),
    ("tokenizer.json", "garbage", "tokenizer.json: not a readable tokenizer"),
    ("labels.json", "{}", "labels.json is not the list of the model's 2 labels"),
    ("profile.json", "x", "ValueError: profile.json: Expecting value"),
    ("metrics.json", "x", "ValueError: metrics.json: Expecting value"),
])
def test_error_a_damaged_bundle(workspace, tmp_path, monkeypatch, capsys, name, content, fragment):
    damaged = tmp_path / "damaged"
    shutil.copytree(workspace["bundle"], damaged)
    if content is None:
        (damaged / name).unlink()
    else:
        (damaged / name).write_text(content)
    assert_one_line_error(monkeypatch, capsys, ["text", "predict", "--model", damaged, "--text", "hi", "--device",
                                                "cpu"], f"{damaged}: damaged bundle", fragment)


@pytest.mark.parametrize("flags", [["--limit", "-1"], ["--limit", "0"], ["--top", "0"]])
def test_error_counts_below_one(workspace, monkeypatch, capsys, flags):
    assert_one_line_error(monkeypatch, capsys, ["text", "explain", "--model", workspace["bundle"], "--data",
                                                workspace["test_csv"], "--text-col", "review", "--device", "cpu",
                                                *flags], f"Invalid value for '{flags[0]}'")


def test_error_out_holding_a_bundle_of_another_task(workspace, tmp_path, monkeypatch, capsys):
    other = tmp_path / "recsys-bundle"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"task": "recsys"}))
    for command in ("train", "pretrain"):
        assert_one_line_error(monkeypatch, capsys, ["text", command, "--data", workspace["train_csv"], "--out", other],
                              f"--out {other} holds a recsys bundle: give a folder of its own to this text model")
    assert sorted(p.name for p in other.iterdir()) == ["config.json"]


def test_error_out_holding_files_no_bundle_wrote(workspace, tmp_path, monkeypatch, capsys):
    # a pretraining saved there would remove metrics.json; a user's config.json would be replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": 1}')
    (mine / "notes.txt").write_text("kept")
    for command in ("train", "pretrain"):
        assert_one_line_error(monkeypatch, capsys, ["text", command, "--data", workspace["train_csv"], "--out", mine],
                              f"--out {mine} holds metrics.json but no bundle: saving one there would replace or "
                              "remove it")
    (mine / "config.json").write_text('{"learning_rate": 0.1}')
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", workspace["train_csv"], "--out", mine],
                          f"--out {mine} holds a config.json that is no attnsight bundle's")
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "metrics.json", "notes.txt"]
    assert (mine / "metrics.json").read_text() == '{"mine": 1}'
