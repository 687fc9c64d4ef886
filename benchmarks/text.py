"""Text classification on real data, beside the published anchors.

    python benchmarks/text.py --dataset chnsenticorp --variant scratch+mlm
    python benchmarks/text.py --dataset banking77 --variant minilm
    python benchmarks/text.py --dataset sst2 --variant scratch

Each (dataset, variant) runs in its own process (so peak RSS is its own), checkpoints every epoch
under benchmarks/.runs/ (--resume continues), and merges its metrics into
benchmarks/results/text_<dataset>.json. Splits: the official train/test where one exists
(validation: a seeded stratified 10% of train); ChnSentiCorp has none, so a seeded stratified
80/10/10 split (seed 42). The test set is read once, after model selection on validation.
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

from attnsight.classifier import TextClassifier  # noqa: E402
from attnsight.data.texts import read_texts  # noqa: E402
from attnsight.train.callbacks import LogProgress  # noqa: E402

DATASETS = {
    "chnsenticorp": {
        "name": "ChnSentiCorp (hotel reviews, 2 classes)",
        "train": ("chnsenticorp_htl_all/ChnSentiCorp_htl_all.csv", "review", "label"),
        "test": None,  # stratified 80/10/10
        "scratch": {"max_len": 256, "vocab_size": 8000},
        "anchors": {"source": "mission description (attention classifier); Chinese-BERT-wwm tables",
                    "attention classifier (mission)": {"accuracy": 0.91},
                    "BERT-base-Chinese": {"accuracy": 0.950}},
        "goal": {"variant": "scratch+mlm", "accuracy": 0.91},
    },
    "banking77": {
        "name": "Banking77 (77 intents, official split)",
        "train": ("banking77/train.csv", "text", "category"),
        "test": ("banking77/test.csv", "text", "category"),
        "scratch": {"max_len": 64, "vocab_size": 6000},
        "anchors": {"source": "Casanueva et al. 2020", "BERT-large fine-tuned": {"accuracy": 0.9366}},
        "goal": {"variant": "minilm", "accuracy": 0.937},
    },
    "sst2": {
        "name": "SST-2 (GLUE, train → dev)",
        "train": ("sst2/train.tsv", "sentence", "label"),
        "test": ("sst2/dev.tsv", "sentence", "label"),
        "scratch": {"max_len": 64, "vocab_size": 8000},
        "anchors": {"source": "Turc et al. 2019 (BERT-Tiny)", "BERT-Tiny (pretrained)": {"accuracy": 0.832}},
        "goal": {"variant": "minilm", "accuracy": 0.90, "scratch": 0.82},
    },
    "imdb": {
        "name": "IMDb (official train/test)",
        "train": ("imdb/train.csv.gz", "text", "label"),
        "test": ("imdb/test.csv.gz", "text", "label"),
        "scratch": {"max_len": 256, "vocab_size": 16000},
        "anchors": {},
        "goal": {},
    },
}

VARIANTS = ("scratch", "scratch+mlm", "minilm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--variant", choices=VARIANTS, default="scratch")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=1, help="fine-tunings from the same encoder (seeds 42, "
                        "43, ...), the best on validation kept")
    parser.add_argument("--time-budget", type=float, default=3600.0, help="seconds of training in all")
    parser.add_argument("--max-len", type=int, help="tokens per text (default per dataset; 128 for MiniLM)")
    parser.add_argument("--truncation", choices=["head", "head+tail"], default="head")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--bigram-buckets", type=int, default=0, help="scratch: hashed token-pair embeddings")
    parser.add_argument("--wide-buckets", type=int, default=0, help="a wide head (logistic regression on TF-IDF "
                        "of tokens and token pairs hashed into this many buckets) mixed with the attention head")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--pooling", choices=["cls", "mean"], help="default: cls scratch, mean MiniLM")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="default 5e-4 scratch, 5e-5 MiniLM")
    parser.add_argument("--layer-lr-decay", type=float, default=1.0, help="each block at this times the rate of "
                        "the one above it (1: one rate)")
    parser.add_argument("--whole-word-masking", action="store_true", help="scratch+mlm: mask whole words "
                        "(jieba's for Chinese), as Chinese-BERT-wwm does")
    parser.add_argument("--pretrain-lr-decay", action="store_true", help="scratch+mlm: decay the pretraining "
                        "rate linearly to 0 at the last of --pretrain-epochs (default: constant after warm-up)")
    parser.add_argument("--corpus", choices=DATASETS, help="scratch+mlm: also pretrain on this dataset's "
                        "texts (train and test files, labels unused)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    spec = DATASETS[args.dataset]
    path, text_col, label_col = spec["train"]
    train = read_texts(DATA / path, text_col, label_col, require_labels=True)
    test = None
    if spec["test"]:
        path, text_col, label_col = spec["test"]
        test = read_texts(DATA / path, text_col, label_col, require_labels=True)
    minilm = args.variant == "minilm"
    scratch = spec["scratch"]
    # settings that differ from the defaults name the run, so runs of one variant sit side by side
    defaults = parser.parse_args(["--dataset", args.dataset])
    named = ("dim", "layers", "heads", "bigram_buckets", "wide_buckets", "dropout", "label_smoothing", "pooling",
             "max_len", "truncation", "lr", "layer_lr_decay", "patience", "restarts", "corpus")
    named += ("pretrain_epochs", "pretrain_lr_decay", "whole_word_masking") if args.variant == "scratch+mlm" else ()
    changed = [(name, getattr(args, name)) for name in named if getattr(args, name) != getattr(defaults, name)]
    options = [name if value is True else f"{name} {value}" for name, value in changed]
    run_name = ", ".join([args.variant, *options])
    run_dir = RUNS / f"text-{args.dataset}-{run_name.replace(', ', '-').replace(' ', '')}"
    clf = TextClassifier(
        encoder="minilm" if minilm else "scratch",
        max_len=args.max_len or (128 if minilm else scratch["max_len"]),
        truncation=args.truncation,
        vocab_size=scratch["vocab_size"],
        dim=args.dim,
        num_layers=args.layers,
        num_heads=args.heads,
        bigram_buckets=args.bigram_buckets,
        wide_buckets=args.wide_buckets,
        dropout=args.dropout,
        label_smoothing=args.label_smoothing,
        pooling=args.pooling,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs if args.variant == "scratch+mlm" else 0,
        whole_word_masking=args.whole_word_masking,
        pretrain_lr_decay=args.pretrain_lr_decay,
        batch_size=args.batch_size,
        lr=args.lr,
        layer_lr_decay=args.layer_lr_decay,
        patience=args.patience,
        restarts=args.restarts,
        time_budget=args.time_budget,
        device=args.device,
        checkpoint_dir=str(run_dir),
        resume=args.resume,
    )
    started = time.perf_counter()
    corpus = []
    if args.corpus:
        other = DATASETS[args.corpus]
        corpus = [read_texts(DATA / part[0], part[1], None) for part in (other["train"], other["test"]) if part]
    clf.fit(train, test=test, corpus=corpus, callbacks=[LogProgress()], dataset=spec["name"])
    metrics = clf.metrics_
    metrics["wall_seconds"] = time.perf_counter() - started
    recorded = RESULTS / f"text_{args.dataset}.json"
    earlier = json.loads(recorded.read_text())["runs"].get(run_name) if args.resume and recorded.is_file() else None
    if earlier:  # a resumed run's peak is the highest of its processes', not only the last one's
        metrics["peak_rss_mb"] = max(metrics["peak_rss_mb"], earlier["peak_rss_mb"])
    clf.save_pretrained(run_dir / "bundle")
    update_results(f"text_{args.dataset}", {
        "task": "text",
        "dataset": spec["name"],
        "protocol": metrics["protocol"],
        "anchors": spec["anchors"],
        "goal": spec["goal"],
        "machine": machine(),
        "runs": {run_name: metrics},
        "baselines": metrics["baselines"],
        "date": now(),
    })
    t = metrics["test"]
    print(f"{spec['name']} [{run_name}]  test accuracy {t['accuracy']:.4f}  macro-F1 {t['macro_f1']:.4f}  "
          f"(majority {metrics['baselines']['majority']['test']['accuracy']:.4f})  epochs {metrics['epochs']}  "
          f"{metrics['train_seconds']:.0f} s  peak RSS {metrics['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
