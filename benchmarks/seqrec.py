"""Sequential recommendation on real data, side by side with the published anchors and RecBole.

    python benchmarks/seqrec.py --dataset ml1m --variant sasrec         # ~40 min on 2 cores
    python benchmarks/seqrec.py --dataset ml1m --variant sasrec+cloze
    python benchmarks/seqrec.py --dataset beauty --variant sasrec

Each (dataset, variant) runs in its own process (so peak RSS is its own), checkpoints every
epoch under benchmarks/.runs/ (--resume continues), and merges its metrics into
benchmarks/results/seqrec_<dataset>.json. Protocol: leave-one-out, full ranking over the whole
catalogue, items already in the history excluded, test read once after model selection on valid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, RESULTS, RUNS, machine, now, update_results  # noqa: E402

from attnsight import SequentialRecommender, read_interactions  # noqa: E402
from attnsight.data.cleaning import CleaningConfig  # noqa: E402
from attnsight.train.callbacks import LogProgress  # noqa: E402

DATASETS = {
    "ml1m": {
        "result": "seqrec_ml1m_loo",
        "name": "ML-1M-LOO (gSASRec train_input, one complete sequence per line)",
        "path": "movielens_1m/sasrec_ml1m_gsasrec_split/train_input.txt.gz",
        "format": "sequences",
        "params": {"max_len": 200, "dropout": 0.2},
        "anchors": {
            "source": "Klenitskiy & Vasilev, RecSys 2023 (full ML-1M, LOO, full ranking)",
            "SASRec+": {"ndcg@10": 0.1821, "hr@10": 0.3152},
            "BERT4Rec": {"ndcg@10": 0.1537, "hr@10": 0.2843},
        },
        "peer": {
            "library": "RecBole 1.2.1, measured on this machine 2026-11-24 (../shared/PEERS.md)",
            "SASRec": {"budget_minutes": 25, "epochs_run": 0.215, "seconds_per_epoch": 6980, "peak_rss_mb": 7300,
                       "test_seen_excluded": {"ndcg@10": 0.0817, "hr@10": 0.1513}},
            "BERT4Rec": {"budget_minutes": 10, "epochs_run": 0.069, "seconds_per_epoch": 8670, "peak_rss_mb": 7600,
                         "test_seen_excluded": {"ndcg@10": 0.0172, "hr@10": 0.0348}},
        },
    },
    "beauty": {
        "result": "seqrec_beauty",
        "name": "Amazon Beauty (BERT4Rec preprocessing, user item pairs)",
        "path": "amazon_beauty_bert4rec/beauty.txt.gz",
        "format": "pairs",
        "params": {"max_len": 50, "dropout": 0.5},
        "anchors": {
            "source": "Klenitskiy & Vasilev, RecSys 2023",
            "SASRec+": {"ndcg@10": 0.0327, "hr@10": 0.0533},
        },
        "peer": {
            "library": "RecBole 1.2.1, measured on this machine 2026-11-24 (../shared/PEERS.md)",
            "SASRec": {"budget_minutes": 10, "epochs_run": 1.70, "seconds_per_epoch": 332, "peak_rss_mb": 1600,
                       "test_seen_excluded": {"ndcg@10": 0.0125, "hr@10": 0.0237}},
        },
    },
}


TOP_LEVEL = ("valid", "test", "epochs", "train_seconds", "seconds_per_epoch", "peak_rss_mb", "device", "seed")


def summarize(result: str) -> Path:
    """Put the run with the best validation NDCG@10 at the top, in metrics.json shape.

    Chosen on validation only, like every other model choice here; all runs stay under "runs".
    """
    runs = json.loads((RESULTS / f"{result}.json").read_text())["runs"]
    primary = max(runs, key=lambda name: runs[name]["valid"]["ndcg@10"])
    return update_results(result, {"primary_run": primary, **{k: runs[primary][k] for k in TOP_LEVEL}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--summarize", action="store_true", help="only re-select the top-level run")
    parser.add_argument("--variant", choices=["sasrec", "sasrec+cloze"], default="sasrec")
    parser.add_argument("--time-budget", type=float, default=2400.0, help="seconds of training in all")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", action="store_true", help="decay the rate linearly to 0 at the last of --epochs")
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--windows", action="store_true", help="train on every window of long histories")
    parser.add_argument("--negatives", type=int, default=0, help="0 = full softmax; N = sampled softmax")
    parser.add_argument("--dropout", type=float, help="override the dataset's default dropout")
    parser.add_argument("--heads", type=int, default=2, help="attention heads per layer")
    parser.add_argument("--ffn-dim", type=int, help="feed-forward width (default 4 x dim)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    spec = DATASETS[args.dataset]
    if args.summarize:
        print(summarize(spec["result"]))
        return
    params = {**spec["params"], "num_heads": args.heads, "ffn_dim": args.ffn_dim}
    if args.dropout is not None:
        params["dropout"] = args.dropout
    # (label in results, slug in the run directory) for every setting that differs from the defaults
    options = [(f"{args.negatives} sampled negatives", f"neg{args.negatives}")] if args.negatives else []
    options += [("all windows", "all")] if args.windows else []
    options += [(f"dropout {args.dropout}", f"drop{args.dropout}")] if args.dropout is not None else []
    options += [(f"{args.heads} head{'s' * (args.heads > 1)}", f"h{args.heads}")] if args.heads != 2 else []
    options += [(f"ffn {args.ffn_dim}", f"ffn{args.ffn_dim}")] if args.ffn_dim else []
    options += [(f"{args.epochs} epochs, linear decay", f"decay{args.epochs}")] if args.lr_decay else []
    run_name = ", ".join([args.variant, *(label for label, _ in options)])
    run_dir = RUNS / "-".join([args.dataset, args.variant, *(slug for _, slug in options)])
    data = read_interactions(DATA / spec["path"], format=spec["format"])
    rec = SequentialRecommender(
        **params,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs if args.variant == "sasrec+cloze" else 0,
        lr=args.lr,
        lr_decay=args.lr_decay,
        patience=args.patience,
        negatives=args.negatives,
        windows=args.windows,
        time_budget=args.time_budget,
        device=args.device,
        checkpoint_dir=str(run_dir),
        resume=args.resume,
    )
    started = time.perf_counter()
    # The files are already 5-core filtered and time-ordered: no cleaning beyond the LOO minimum.
    rec.fit(data, cleaning=CleaningConfig(dedupe=False), callbacks=[LogProgress()], dataset=spec["name"])
    metrics = rec.metrics_
    metrics["wall_seconds"] = time.perf_counter() - started
    previous = RESULTS / f"{spec['result']}.json"
    if args.resume and previous.is_file():  # a resumed run's peak is the larger of its processes'
        before = json.loads(previous.read_text()).get("runs", {}).get(run_name, {})
        metrics["peak_rss_mb"] = max(metrics["peak_rss_mb"], before.get("peak_rss_mb", 0.0))
    rec.save_pretrained(run_dir / "bundle")

    update = {
        "task": "recsys",
        "dataset": spec["name"],
        "protocol": metrics["protocol"],
        "anchors": spec["anchors"],
        "peer": spec["peer"],
        "machine": machine(),
        "runs": {run_name: metrics},
        "baselines": metrics["baselines"],
        "date": now(),
    }
    update_results(spec["result"], update)
    path = summarize(spec["result"])
    test, pop = metrics["test"], metrics["baselines"]["popularity"]["test"]
    print(f"{spec['name']} [{run_name}]  test NDCG@10 {test['ndcg@10']:.4f}  HR@10 {test['hr@10']:.4f}  "
          f"(popularity {pop['ndcg@10']:.4f} / {pop['hr@10']:.4f})  epochs {metrics['epochs']}  "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch  peak RSS {metrics['peak_rss_mb']:.0f} MB  -> {path}")


if __name__ == "__main__":
    main()
