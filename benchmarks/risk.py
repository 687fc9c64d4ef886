"""Risk scoring on the Fraud Detection Handbook's simulated transactions, beside gradient boosting.

    python benchmarks/risk.py                      # attention model + HistGradientBoosting baseline
    python benchmarks/risk.py --pretrain-epochs 5  # with masked-feature pretraining first

Split (by day, as in the handbook's chapter 3): test 2018-08-08 … 2018-08-14, a 7-day gap before
it (fraud labels arrive after 7 days), validation 2018-07-25 … 2018-07-31 (model selection),
training the `--train-days` days before it. Test days leave out the customers already known to
be compromised. Both models see the same training period and are scored on the same test
events. Writes benchmarks/results/risk_fraud_sim.json; checkpoints under benchmarks/.runs/.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, RUNS, machine, now, update_results  # noqa: E402

from attnsight.data.events import EventSchema, read_events  # noqa: E402
from attnsight.scorer import RiskScorer  # noqa: E402
from attnsight.train.callbacks import LogProgress  # noqa: E402

PATH = "fraud_handbook_simulated/transactions.csv.gz"
SCHEMA = EventSchema(account="CUSTOMER_ID", time="TX_DATETIME", numeric=("TX_AMOUNT",), label="TX_FRAUD",
                     entity="TERMINAL_ID", id="TRANSACTION_ID")
ANCHORS = {
    "source": "Le Borgne et al. 2022, Fraud Detection Handbook, ch. 3.4 (7 training days from 2018-07-25, "
              "test 2018-08-08 … 08-14; different training period from ours)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-days", type=int, default=21)
    parser.add_argument("--history-len", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pretrain-epochs", type=int, default=0)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--negative-rate", type=float, default=0.25, help="share of genuine events trained on")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--time-budget", type=float, default=3600.0, help="seconds of training in all")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    defaults = parser.parse_args([])
    options = [f"{name} {getattr(args, name)}" for name in
               ("epochs", "train_days", "history_len", "dim", "layers", "heads", "dropout", "pretrain_epochs",
                "negative_rate", "lr") if getattr(args, name) != getattr(defaults, name)]
    run_name = ", ".join(["attention", *options])
    run_dir = RUNS / f"risk-{run_name.replace(', ', '-').replace(' ', '')}"
    started = time.perf_counter()
    events = read_events(DATA / PATH, SCHEMA)
    read_seconds = time.perf_counter() - started
    logging.info("read %d events in %.0f s", len(events), read_seconds)
    scorer = RiskScorer(
        history_len=args.history_len, label_delay_days=7, dim=args.dim, num_layers=args.layers,
        num_heads=args.heads, dropout=args.dropout, epochs=args.epochs, pretrain_epochs=args.pretrain_epochs,
        batch_size=args.batch_size, lr=args.lr, negative_rate=args.negative_rate, patience=args.patience,
        time_budget=args.time_budget, train_days=args.train_days, valid_days=7, gap_days=7, test_days=7,
        test_start="2018-08-08", device=args.device, checkpoint_dir=str(run_dir), resume=args.resume,
    )
    scorer.fit(events, callbacks=[LogProgress()], dataset="Fraud Detection Handbook, simulated transactions")
    metrics = scorer.metrics_
    metrics["read_seconds"] = read_seconds
    metrics["wall_seconds"] = time.perf_counter() - started
    scorer.save_pretrained(run_dir / "bundle")
    baseline = metrics["baselines"]["gradient_boosting"]
    update_results("risk_fraud_sim", {
        "task": "risk",
        "dataset": metrics["dataset"],
        "protocol": metrics["protocol"],
        "anchors": ANCHORS,
        "goal": "attention model's test average precision above the gradient-boosting baseline's",
        "machine": machine(),
        "runs": {run_name: metrics},
        "baselines": {"gradient_boosting": baseline},
        "date": now(),
    })
    for name, result in (("attention", metrics), ("gradient boosting", baseline)):
        t = result["test"]
        print(f"{name:18s} AUC {t['roc_auc']:.4f}  AP {t['average_precision']:.4f}  P@100 {t['precision@100']:.3f}  "
              f"CP@100 {t['card_precision@100']:.3f}  train {result['train_seconds']:.0f} s  "
              f"peak RSS {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
