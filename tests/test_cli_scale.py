"""`recsys train --stream` (lazy scans) and `--sampler` (sampled softmax negatives) from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cli_helpers import assert_one_line_error, invoke

SMALL = ["--epochs", "2", "--dim", "16", "--layers", "1", "--heads", "1", "--max-len", "20", "--device", "cpu",
         "--dropout", "0", "--json"]


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> tuple[Path, Path]:
    """The same log as one CSV and as a folder of Parquet parts (integer ids)."""
    root = tmp_path_factory.mktemp("scale-cli")
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"user": rng.integers(0, 60, 1500), "item": rng.integers(0, 80, 1500),
                          "timestamp": rng.integers(0, 10_000, 1500)})
    frame.write_csv(root / "log.csv")
    (root / "parts").mkdir()
    for i, part in enumerate(frame.iter_slices(500)):
        part.write_parquet(root / "parts" / f"part-{i}.parquet")
    return root / "log.csv", root / "parts"


def _train(*args: object) -> dict:
    return json.loads(invoke("recsys", "train", *args, *SMALL).stdout)


def test_a_streamed_log_trains_the_model_of_a_read_one(log, tmp_path) -> None:
    csv, parts = log
    read = _train("--data", csv, "--out", tmp_path / "read")
    streamed = _train("--data", parts, "--out", tmp_path / "streamed", "--stream")
    assert streamed["cleaning"] == read["cleaning"]
    assert streamed["valid"] == pytest.approx(read["valid"])
    assert streamed["test"] == pytest.approx(read["test"])
    # the bundle speaks raw ids either way
    items = json.loads((tmp_path / "streamed" / "items.json").read_text())
    assert sorted(items, key=int) == sorted(json.loads((tmp_path / "read" / "items.json").read_text()), key=int)


@pytest.mark.parametrize("sampler", ["log-uniform", "in-batch"])
def test_sampled_softmax_samplers(log, tmp_path, sampler) -> None:
    metrics = _train("--data", log[0], "--out", tmp_path / sampler, "--negatives", "16", "--sampler", sampler)
    assert metrics["params"]["sampler"] == sampler and metrics["params"]["negatives"] == 16
    assert metrics["valid"]["ndcg@10"] > 0


def test_errors(log, tmp_path, monkeypatch, capsys) -> None:
    csv, parts = log
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", csv, "--out", tmp_path / "m",
                                                "--sampler", "log-uniform"], "log-uniform", "negatives > 0")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", parts, "--out", tmp_path / "m",
                                                "--stream", "--user-col", "customer"], "no user column 'customer'")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", csv, "--out", tmp_path / "m",
                                                "--stream", "--encoding", "latin-1"],
                          "--stream reads UTF-8 only (polars' lazy scans), not latin-1")
    assert not (tmp_path / "m").exists()
