"""Faithfulness of explanations by the deletion test, on bundles trained on real data.

    python benchmarks/faithfulness.py --task recsys   # the ML-1M-LOO "all windows" bundle of benchmarks/seqrec.py
    python benchmarks/faithfulness.py --task text     # the SST-2 and Banking77 bundles of benchmarks/text.py
    python benchmarks/faithfulness.py --task risk     # the fraud bundle of benchmarks/risk.py (pretrained row)

The predicted outcome's probability (the top recommended item; the predicted class; the fraud
score of the riskiest test events) before and after deleting the k inputs (history items,
tokens, past events) that the attention rollout (the explanation the product shows),
integrated gradients (Captum) or chance rank highest; for a text model with a wide head, also
each of the two mixed with that head's evidence (what its explanations show). Writes
benchmarks/results/explain_faithfulness.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import DATA, RUNS, machine, now, update_results  # noqa: E402

from attnsight.explain.faithfulness import (  # noqa: E402
    classifier_explanations,
    deletion_test,
    recommender_explanations,
    scorer_explanations,
)
from attnsight.train.trainer import peak_rss_mb  # noqa: E402


def _runs(explained, ks: list[int], label: str) -> dict:
    """The deletion test at each k, on explanations computed once."""
    runs = {}
    for k in ks:
        start = time.perf_counter()
        result = deletion_test(*explained, k)
        result["seconds"] = time.perf_counter() - start
        runs[f"k={k}"] = result
        drops = "  ".join(f"{m} {d:.4f}" for m, d in result["drop"].items())
        print(f"{label} k={k}: mean p {result['mean_probability']:.4f}  drop: {drops}  "
              f"most faithful: {result['most_faithful']}", flush=True)
    return runs


def recsys(args: argparse.Namespace, ks: list[int]) -> dict:
    from attnsight.recommender import SequentialRecommender

    rec = SequentialRecommender.from_pretrained(RUNS / "ml1m-sasrec-all" / "bundle", device="cpu")
    start = time.perf_counter()
    explained = recommender_explanations(rec, users=args.examples)
    runs = _runs(explained, ks, "recsys ML-1M-LOO")
    return {"ML-1M-LOO": {"bundle": "all windows run", "users": args.examples, "runs": runs,
                          "seconds": time.perf_counter() - start}}


# text bundles of benchmarks/text.py and their datasets; the last two have a wide head (mixed 0.95
# and 0.55), whose explanations mix in its evidence
TEXT_RUNS = {"text-sst2-scratch": "sst2", "text-sst2-minilm-max_len64": "sst2", "text-banking77-scratch": "banking77",
             "text-sst2-scratch-wide_buckets131072": "sst2",
             "text-sst2-minilm-wide_buckets131072-max_len64-lr5e-05": "sst2"}


def text(args: argparse.Namespace, ks: list[int]) -> dict:
    from text import DATASETS

    from attnsight.classifier import TextClassifier
    from attnsight.data.texts import read_texts

    out = {}
    for run in args.runs.split(","):
        dataset = TEXT_RUNS[run]
        path, text_col, label_col = DATASETS[dataset]["test"]
        texts = read_texts(DATA / path, text_col=text_col, label_col=label_col).texts
        sample = np.random.default_rng(0).permutation(len(texts))[: args.examples]
        clf = TextClassifier.from_pretrained(RUNS / run / "bundle", device="cpu")
        chosen = [texts[i] for i in sample]
        start = time.perf_counter()
        explained = classifier_explanations(clf, chosen)
        runs = _runs(explained, ks, f"text {run}")
        out[run] = {"dataset": DATASETS[dataset]["name"], "texts": len(chosen), "runs": runs,
                    "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}
    return out


def risk(args: argparse.Namespace, ks: list[int]) -> dict:
    from risk import PATH, SCHEMA

    from attnsight.data.events import read_events, time_split
    from attnsight.scorer import RiskScorer

    scorer = RiskScorer.from_pretrained(RUNS / "risk-attention-epochs12-pretrain_epochs2" / "bundle", device="cpu")
    events = read_events(DATA / PATH, SCHEMA)
    split = time_split(events, scorer.train_days, scorer.valid_days, scorer.gap_days, scorer.test_days,
                       test_start=scorer.test_start)
    riskiest = split.test[np.argsort(-scorer.score(events, split.test), kind="stable")[: args.examples]]
    start = time.perf_counter()
    explained = scorer_explanations(scorer, events, riskiest)
    runs = _runs(explained, ks, "risk")
    return {"fraud_handbook_simulated": {"events": "the riskiest test events by the model's score",
                                         "count": len(riskiest), "runs": runs, "seconds": time.perf_counter() - start}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("recsys", "text", "risk"), required=True)
    parser.add_argument("--examples", type=int, default=500, help="users, texts or events")
    parser.add_argument("--ks", default="1,3,5")
    parser.add_argument("--runs", default=",".join(TEXT_RUNS), help="text: the bundles, comma-separated; "
                        "their entries replace those of the same name and keep the others")
    args = parser.parse_args()
    ks = [int(x) for x in args.ks.split(",")]
    result = {"recsys": recsys, "text": text, "risk": risk}[args.task](args, ks)
    if args.task == "text":  # one entry per bundle, each with its own peak RSS
        update_results("explain_faithfulness", {"machine": machine(), "date": now(), "text": result})
        return
    update_results("explain_faithfulness", {"machine": machine(), "date": now(),
                                            args.task: {**result, "peak_rss_mb": peak_rss_mb()}}, merge=False)


if __name__ == "__main__":
    main()
