"""torchrun with 2 CPU processes (gloo) trains what one process trains, given the same global batch."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from attnsight.train import distributed

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")

# dropout 0 and full softmax: nothing random within a step, so the two runs can agree to rounding
# (a high learning rate, so that 12 steps of warm-up already move the weights far)
TRAIN = ["recsys", "train", "--format", "sequences", "--epochs", "4", "--patience", "10", "--dropout", "0", "--lr", "0.1",
         "--dim", "16", "--heads", "2", "--layers", "1", "--max-len", "12", "--batch-size", "16", "--device", "cpu",
         "--json"]


def _sequences(path: Path) -> Path:
    """48 users, 12 items each: every row of a batch has as many targets, so the mean loss over a
    rank's half of a batch, averaged over ranks, is the mean over the whole batch."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(48):
        start = int(rng.integers(1, 30))
        lines.append(" ".join(str(1 + (start + 2 * i + int(rng.integers(0, 2))) % 40) for i in range(12)))
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # one torchrun job at a time across pytest-xdist workers: concurrent standalone jobs on one
    # host can collide on their rendezvous ports
    with open(Path(tempfile.gettempdir()) / "attnsight-torchrun.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("ddp")
    data = _sequences(tmp / "seqs.txt")
    _run([sys.executable, "-m", "attnsight", *TRAIN, "--data", str(data), "--out", str(tmp / "single")], tmp)
    ddp = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "attnsight", *TRAIN, "--data", str(data), "--out", str(tmp / "ddp")], tmp)
    return tmp / "single", tmp / "ddp", ddp


def test_two_gloo_ranks_match_one_process(runs) -> None:
    single, ddp, _ = runs
    a, b = load_file(single / "model.safetensors"), load_file(ddp / "model.safetensors")
    assert a.keys() == b.keys()
    moved = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved < 1e-4, moved
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (single, ddp))
    assert ma["epochs"] == mb["epochs"] == 4
    losses = [h["loss"] for h in ma["history"]["train"]]
    assert losses[0] - losses[-1] > 0.3, losses  # it learned: agreeing is not trivial
    for key in ("ndcg@10", "hr@10"):
        assert mb["valid"][key] == pytest.approx(ma["valid"][key], abs=1e-6)
        assert mb["test"][key] == pytest.approx(ma["test"][key], abs=1e-6)
    assert [h["loss"] for h in mb["history"]["train"]] == pytest.approx(
        [h["loss"] for h in ma["history"]["train"]], rel=1e-4)


def test_only_rank_zero_writes_and_prints(runs) -> None:
    _, ddp, done = runs
    # one JSON document on stdout (rank 1 is silent), one checkpoint file, one bundle
    payload = json.loads(done.stdout)
    assert payload["test"]["ndcg@10"] == pytest.approx(json.loads((ddp / "metrics.json").read_text())["test"]["ndcg@10"])
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["train.pt"]


def test_resume_under_torchrun_goes_on(runs, tmp_path) -> None:
    """A finished 4-epoch run asked for 5 epochs with --resume trains one more epoch, on both ranks."""
    _, ddp, _ = runs
    data = _sequences(tmp_path / "seqs.txt")
    args = [a if a != "4" else "5" for a in TRAIN]
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "attnsight",
          *args, "--data", str(data), "--out", str(ddp), "--resume"], tmp_path)
    metrics = json.loads((ddp / "metrics.json").read_text())
    assert metrics["epochs"] == 5
    assert len(metrics["history"]["train"]) == 5


def _reviews(root: Path) -> list[str]:
    from attnsight.data.synthetic import make_reviews

    texts = make_reviews(200, "en", seed=0)
    (root / "reviews.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                                                for t, y in zip(texts.texts, texts.labels)))
    return ["text", "train", "--data", "reviews.jsonl", "--epochs", "3", "--lr", "3e-3", "--vocab-size", "300",
            "--max-len", "48", "--dim", "32", "--layers", "1", "--heads", "2", "--dropout", "0",
            "--batch-size", "16", "--wide-buckets", "256",  # rank 0 fits the wide head, the others take it
            "--layer-lr-decay", "0.5"]  # DistributedDataParallel over parameter groups of their own rates


def _transactions(root: Path) -> list[str]:
    from attnsight.data.synthetic import make_transactions

    make_transactions(customers=60, terminals=120, days=40).write_csv(root / "tx.csv")
    return ["risk", "train", "--data", "tx.csv", "--account-col", "customer", "--time-col", "timestamp",
            "--label-col", "fraud", "--entity-col", "terminal", "--id-col", "transaction_id", "--numeric", "amount",
            "--categorical", "channel", "--history-len", "6", "--label-delay-days", "2", "--valid-days", "3",
            "--gap-days", "2", "--test-days", "5", "--dim", "16", "--layers", "1", "--heads", "2", "--epochs", "2",
            "--keep-known", "--dropout", "0"]


@pytest.mark.parametrize("task", [_reviews, _transactions], ids=["text", "risk"])
def test_text_and_risk_train_under_torchrun(task, tmp_path) -> None:
    args = [*task(tmp_path), "--device", "cpu", "--seed", "0", "--json"]
    single = json.loads(_run([sys.executable, "-m", "attnsight", *args, "--out", "single"], tmp_path).stdout)
    ddp = json.loads(_run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "attnsight", *args, "--out", "ddp"], tmp_path).stdout)
    assert ddp["valid"] == pytest.approx(single["valid"], abs=1e-6)
    # each rank scored its share of the test set, all with the same model (the wide head fitted on rank 0)
    flat = [{k: v for k, v in metrics["test"].items() if isinstance(v, float)} for metrics in (ddp, single)]
    assert flat[0] and flat[0] == pytest.approx(flat[1], abs=1e-6)
    assert [h["loss"] for h in ddp["history"]["train"]] == pytest.approx(
        [h["loss"] for h in single["history"]["train"]], rel=1e-4)
    a, b = load_file(tmp_path / "single" / "model.safetensors"), load_file(tmp_path / "ddp" / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4


def test_alone_the_helpers_are_identity() -> None:
    assert not distributed.active()
    assert distributed.shard_gather(5, lambda rows: rows * 10).tolist() == [0, 10, 20, 30, 40]
    assert distributed.agree(True) and not distributed.agree(False)
    assert distributed.mean(2.5) == 2.5


def test_each_rank_takes_its_slice_of_the_global_batch(monkeypatch) -> None:
    from attnsight.train.trainer import _shards

    batches = [{"items": torch.arange(6)}, {"items": torch.arange(1)}, {"items": torch.arange(3)}]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    # the 1-row batch is skipped on every rank; a 3-row batch splits 2 + 1
    assert [b["items"].tolist() for b in _shards(batches)] == [[3, 4, 5], [2]]
    monkeypatch.setenv("RANK", "0")
    assert [b["items"].tolist() for b in _shards(batches)] == [[0, 1, 2], [0, 1]]
