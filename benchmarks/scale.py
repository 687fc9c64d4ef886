"""Scale on generated data: a log of 50M events over 1M users and 1M items.

    python benchmarks/scale.py                     # every phase, ~15 min on 2 cores
    python benchmarks/scale.py --phase serve       # one phase (the ones before it must have run)

Phases, each in its own process so that its peak RSS is its own:
- generate: Parquet parts under benchmarks/.runs/scale/data (seeded; user uniform, item half
  Zipf-popular and half uniform, times uniform over ~3 years), skipped when already there.
- ingest: `scan_interactions` (polars lazy scans) → cleaning → per-user sequences. Goal: peak
  RSS < 6 GB.
- train: SASRec over the 1M-item catalogue with sampled softmax (log-uniform and in-batch
  negatives, logQ-corrected) for a bounded time each: seconds per step, peak RSS.
- serve: top-10 by faiss IVF index vs exact search over 1M item vectors, for user
  representations of the trained model, and for a Gaussian mixture and pure noise as harder
  tables: recall@10 of the index against exact, p50/p99 ms per single query. Goal: p99 ≤ 10 ms
  at recall@10 ≥ 0.95.
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RUNS, machine, now, update_results  # noqa: E402

WORK = RUNS / "scale"
PHASES = ("generate", "ingest", "train", "serve")


def generate(args: argparse.Namespace) -> dict:
    import polars as pl

    out = WORK / "data"
    manifest = out / "manifest.json"
    spec = {"events": args.events, "users": args.users, "items": args.items, "seed": 0, "parts": args.parts}
    if manifest.is_file() and json.loads(manifest.read_text()) == spec:
        return {"skipped": "already generated", **spec}
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.parquet"):
        old.unlink()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    per_part = args.events // args.parts
    for part in range(args.parts):
        popular = rng.random(per_part) < 0.5
        items = np.where(popular, (rng.zipf(1.3, per_part) - 1) % args.items, rng.integers(0, args.items, per_part))
        pl.DataFrame({
            "user": rng.integers(0, args.users, per_part),
            "item": items,
            "timestamp": 1_600_000_000 + rng.integers(0, 100_000_000, per_part),
        }).write_parquet(out / f"part-{part:04d}.parquet")
    manifest.write_text(json.dumps(spec))
    return {"seconds": time.perf_counter() - start, "bytes": sum(p.stat().st_size for p in out.glob("*.parquet")),
            **spec}


def ingest(args: argparse.Namespace) -> dict:
    from attnsight.data.cleaning import CleaningConfig, clean_interactions
    from attnsight.data.readers import scan_interactions
    from attnsight.data.sequences import build_sequences
    from attnsight.train.trainer import peak_rss_mb

    start = time.perf_counter()
    log = scan_interactions(WORK / "data")
    scanned = time.perf_counter() - start
    clean, report = clean_interactions(log, CleaningConfig())
    del log  # what a caller that scanned to train would do
    sequences, vocab = build_sequences(clean)
    del clean
    seconds = time.perf_counter() - start
    sequences.save(WORK / "sequences.safetensors")  # for the next phases (not timed)
    return {"seconds": seconds, "scan_seconds": scanned, "peak_rss_mb": peak_rss_mb(), "events": int(len(sequences.items)),
            "users": len(sequences), "items": len(vocab), "cleaning": report.as_dict(), "goal_peak_rss_mb": 6144}


def _sequences():
    from attnsight.data.sequences import Sequences

    from safetensors.numpy import load_file

    offsets = load_file(str(WORK / "sequences.safetensors"))["offsets"]
    return Sequences.load(WORK / "sequences.safetensors", [str(u) for u in range(len(offsets) - 1)])


def train(args: argparse.Namespace) -> dict:
    import torch

    from attnsight.models.sasrec import SASRec, SASRecConfig
    from attnsight.train import NextItemObjective, SequenceBatcher, Trainer, TrainerConfig
    from attnsight.train.sampling import NegativeSampler
    from attnsight.train.trainer import peak_rss_mb

    sequences = _sequences()
    num_items = int(sequences.items.max())
    histories = [sequences[u] for u in range(len(sequences))]
    batcher = SequenceBatcher(histories, args.max_len, args.batch_size, shift=True)
    del histories
    counts = np.bincount(batcher.targets.ravel(), minlength=num_items + 1)
    results = {}
    for kind in ("log-uniform", "in-batch"):
        torch.manual_seed(0)
        model = SASRec(SASRecConfig(num_items=num_items, max_len=args.max_len, dim=args.dim))
        objective = NextItemObjective(args.negatives, NegativeSampler(kind, num_items, counts))
        steps = _StepTimes()
        config = TrainerConfig(epochs=1, time_budget=args.train_seconds, device=args.device, seed=0)
        result = Trainer(config, [steps]).fit(model, batcher.epoch, len(batcher), objective)
        results[kind] = {"steps": len(steps.times), "seconds_per_step": steps.median(), "loss": result.history[-1]["loss"],
                         "positions_per_step": args.batch_size * args.max_len}
        torch.save(model.state_dict(), WORK / "model.pt")
    return {"samplers": results, "negatives": args.negatives, "batch_size": args.batch_size, "max_len": args.max_len,
            "dim": args.dim, "items": num_items, "parameters": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": peak_rss_mb(), "device": args.device}


class _StepTimes:
    """Wall time of each training step after the first few (allocations, warm caches)."""

    def __init__(self, skip: int = 3) -> None:
        self.times: list[float] = []
        self.skip, self.last = skip, None

    def on_train_start(self, trainer, epochs: int, steps_per_epoch: int) -> None:
        self.last = time.perf_counter()

    def on_step(self, trainer, epoch: int, step: int, loss: float) -> None:
        current = time.perf_counter()
        if step >= self.skip:
            self.times.append(current - self.last)
        self.last = current

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, trainer, result) -> None: ...

    def median(self) -> float:
        return float(np.median(self.times)) if self.times else float("nan")


def serve(args: argparse.Namespace) -> dict:
    import torch

    from attnsight.data.sequences import pad_left
    from attnsight.index import ItemIndex, measure_index
    from attnsight.models.sasrec import SASRec, SASRecConfig
    from attnsight.train.trainer import peak_rss_mb

    torch.set_num_threads(1)  # one query at a time on one core, as one service worker serves it
    sequences = _sequences()
    state = torch.load(WORK / "model.pt", weights_only=True)
    model = SASRec(SASRecConfig(num_items=int(sequences.items.max()), max_len=args.max_len, dim=args.dim))
    model.load_state_dict(state)
    model.eval()
    rng = np.random.default_rng(1)
    users = rng.choice(len(sequences), args.queries, replace=False)
    with torch.no_grad():
        queries = model.predict(torch.from_numpy(pad_left([sequences[u] for u in users], args.max_len))).hidden
    items = model.item_embedding.weight[1 : model.config.num_items + 1].detach().contiguous()
    trained = measure_index(ItemIndex(items, backend="faiss", nprobe=args.nprobe), queries).as_dict()
    # A few minutes of training leave most of the table near its initialisation and the top-10s
    # dominated by the popular items that moved, an easy case; a mixture of 1000 Gaussian
    # clusters with spread norms is a harder, more realistic one, and N(0, I) the worst case.
    mixture, mixture_queries = _mixture(len(items), args.dim, args.queries, rng)
    harder = measure_index(ItemIndex(mixture, backend="faiss", nprobe=args.nprobe), mixture_queries).as_dict()
    del mixture
    noise = torch.from_numpy(rng.standard_normal((len(items), args.dim), dtype=np.float32))
    worst = measure_index(ItemIndex(noise, backend="faiss", nprobe=args.nprobe),
                          torch.from_numpy(rng.standard_normal((args.queries, args.dim), dtype=np.float32))).as_dict()
    return {"trained_model": trained, "gaussian_mixture": harder, "gaussian_noise": worst, "queries": args.queries,
            "nprobe": args.nprobe, "peak_rss_mb": peak_rss_mb(), "goal": {"p99_ms": 10, "recall_at_10": 0.95}}


def _mixture(n: int, dim: int, queries: int, rng: np.random.Generator):
    """n item vectors and `queries` query vectors from 1000 clusters (centres N(0, I), spread 1),
    item norms scaled by a lognormal(0, 0.3)."""
    import torch

    centres = rng.standard_normal((1000, dim), dtype=np.float32)

    def draw(count: int) -> np.ndarray:
        return centres[rng.integers(0, 1000, count)] + rng.standard_normal((count, dim), dtype=np.float32)

    items = draw(n) * rng.lognormal(0, 0.3, (n, 1)).astype(np.float32)
    return torch.from_numpy(items), torch.from_numpy(draw(queries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=("all", *PHASES), default="all")
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=50, help="Parquet files the log is written as")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--train-seconds", type=float, default=90.0, help="per sampler")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--nprobe", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--name", default="scale", help="results file benchmarks/results/<name>.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    phases = PHASES if args.phase == "all" else (args.phase,)
    if args.child:  # one phase in this process: print its result as JSON
        print(json.dumps({"phase": phases[0], "result": globals()[phases[0]](args)}))
        return
    for phase in phases:
        command = [sys.executable, __file__, *sys.argv[1:], "--phase", phase, "--child"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"phase {phase} failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])["result"]
        print(f"{phase:>8}: {json.dumps(result)}", flush=True)
        # a phase's result replaces the last run's whole
        update_results(args.name, {"task": "scale", "machine": machine(), "date": now(), phase: result}, merge=False)


if __name__ == "__main__":
    main()
