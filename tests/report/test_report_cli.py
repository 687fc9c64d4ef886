"""`attnsight report` in process: the page it writes, its --json summary and table, and one-line errors
that exit 2 through the real entry point."""

from __future__ import annotations

import json

import polars as pl
from cli_helpers import assert_one_line_error, invoke


def test_help_lists_the_options():
    result = invoke("report", "--help")
    for option in ("--model", "--out", "--data", "--encoding", "--device", "--seed", "--json"):
        assert option in result.output, option


def test_report_writes_the_page_and_a_json_summary(bundles, data, reviews_csv, transactions_csv, tmp_path):
    out = tmp_path / "report.html"
    args = [a for b in bundles for a in ("--model", b)] + [a for d in data for a in ("--data", d)]
    payload = json.loads(invoke("report", *args, "--out", out, "--device", "cpu", "--json").stdout)
    assert payload["path"] == str(out) and payload["bytes"] == out.stat().st_size > 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [(b["path"], b["task"], b["data"]) for b in payload["bundles"]] == [
        (str(bundles[0]), "recsys", None), (str(bundles[1]), "text", str(reviews_csv)),
        (str(bundles[2]), "risk", str(transactions_csv))]
    parts = [s["parts"] for s in payload["sections"]]
    assert parts[0][-1] == "Audience segments" and parts[1][-1] == "Attended words per class"
    assert parts[2][-1] == "Top-risk events and their evidence"


def test_report_prints_its_sections_and_where_it_went(recsys_bundle, tmp_path):
    out = tmp_path / "nested" / "report.html"
    result = invoke("report", "--model", recsys_bundle, "--out", out, "--device", "cpu")
    text = " ".join(result.stdout.split())
    assert "Audience segments" in text and "report written to" in text and out.is_file()


def test_a_missing_bundle_is_one_line(monkeypatch, capsys, tmp_path):
    out = tmp_path / "report.html"
    assert_one_line_error(monkeypatch, capsys, ["report", "--model", tmp_path / "nope", "--out", out],
                          "nope", "no such bundle folder")
    assert not out.exists()


def test_an_out_that_is_no_html_name_is_refused_before_the_bundles_are_read(monkeypatch, capsys, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("kept")
    assert_one_line_error(monkeypatch, capsys, ["report", "--model", tmp_path / "nope", "--out", out],
                          "scores.csv: the page written there is HTML; give a .html file name")
    assert out.read_text() == "kept"


def test_an_unreadable_data_file_is_one_line(monkeypatch, capsys, recsys_bundle, tmp_path):
    assert_one_line_error(monkeypatch, capsys, ["report", "--model", recsys_bundle, "--data", tmp_path / "gone.csv",
                                                "--out", tmp_path / "report.html"], "gone.csv", "no such file")
    (tmp_path / "binary.parquet").write_bytes(b"\x00\x01 not parquet")
    assert_one_line_error(monkeypatch, capsys, ["report", "--model", recsys_bundle, "--data",
                                                tmp_path / "binary.parquet", "--out", tmp_path / "report.html"],
                          "binary.parquet")


def test_data_in_another_encoding_reads_with_encoding(monkeypatch, capsys, text_bundle, risk_bundle, reviews_csv,
                                                      transactions_csv, tmp_path):
    frame = pl.read_csv(reviews_csv).with_columns(pl.concat_str(pl.lit("café "), pl.col("text")).alias("text"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(frame.write_csv().encode("latin-1"))
    out = tmp_path / "report.html"
    args = ["report", "--model", text_bundle, "--model", risk_bundle, "--data", latin, "--data", transactions_csv,
            "--out", out, "--device", "cpu"]
    # the error's advice names an option the report has
    assert_one_line_error(monkeypatch, capsys, args, "latin.csv", "not valid utf-8", "--encoding latin-1")
    assert not out.exists()
    payload = json.loads(invoke(*args, "--encoding", "latin-1", "--json").stdout)
    assert [b["data"] for b in payload["bundles"]] == [str(latin), str(transactions_csv)]
    assert "café" in out.read_text(encoding="utf-8")
