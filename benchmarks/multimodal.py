"""Side information and cold start on ML-1M: titles and genres from movies.dat, gender, age and
occupation from users.dat, each fused by attention.

    python benchmarks/multimodal.py --experiment warm                  # ML-1M-LOO with side features
    python benchmarks/multimodal.py --experiment cold --features on    # 10 % of items and users held out
    python benchmarks/multimodal.py --experiment cold --features off   # the same, ids only

warm: the foundation benchmark's protocol (leave-one-out, full ranking, seen items excluded) with
each item the attention fusion of its id, title tokens and genres, and each user's profile (gender,
age, occupation) added to their prediction; the id-only numbers are the foundation run's
(benchmarks/results/seqrec_ml1m_loo.json, "sasrec, all windows"), with its validation NDCG@10 at
the epoch this run stopped, since a busy machine can run fewer epochs in the same time.

cold: a seeded 10 % of the items is removed from every history and a seeded 10 % of the users from
training altogether; the model trains on the rest (LOO for early stopping). Then
- cold items: the held-out items are added to the catalogue from their features alone
  (`add_items`, no retraining); each training user's first event on a held-out item is the target,
  the events before it the history; ranked over the whole catalogue and over the new items only.
  Baseline: popularity within genre (the mean share of the user's history in the item's genres,
  ties broken by training popularity). A model that only knows ids cannot represent these items:
  it scores 0 by construction.
- cold users: each held-out user's first 3 (kept) events are the history, the 4th the target,
  ranked over the training catalogue; with features, the user is added by their users.dat row
  (`add_users`), and is also ranked from that profile alone (no event: the first is the target).
Results merge into benchmarks/results/multimodal_ml1m.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, RESULTS, RUNS, machine, now, update_results  # noqa: E402

from attnsight import SequentialRecommender, read_interactions  # noqa: E402
from attnsight.data.cleaning import CleaningConfig, clean_interactions  # noqa: E402
from attnsight.data.readers import Interactions  # noqa: E402
from attnsight.data.sequences import build_sequences  # noqa: E402
from attnsight.data.side import SideSchema, SideTable, read_side_table  # noqa: E402
from attnsight.data.vocab import Vocabulary  # noqa: E402
from attnsight.evaluate.ranking import evaluate_ranking  # noqa: E402
from attnsight.train.callbacks import LogProgress  # noqa: E402
from attnsight.train.trainer import peak_rss_mb  # noqa: E402

ML1M = DATA / "movielens_1m"
SPLIT = ML1M / "sasrec_ml1m_gsasrec_split"
RESULT = "multimodal_ml1m"
DATASET = "ML-1M-LOO (gSASRec train_input) + movies.dat titles and genres"
PARAMS = {"max_len": 200, "dropout": 0.2, "windows": True, "epochs": 200, "patience": 10}
HELD_OUT = 0.10


def movie_features() -> tuple[SideTable, dict[str, int]]:
    """movies.dat keyed by SASRec item id (through sas_to_original_items.txt), and the counts of the join."""
    table = read_side_table(ML1M / "movies.dat", SideSchema("item", text=("title",), tags=("genres",)))
    pairs = [line.split() for line in (SPLIT / "sas_to_original_items.txt").read_text().splitlines() if line.strip()]
    to_sas = {original: sas for sas, original in pairs}
    kept = table.subset(list(to_sas))
    kept.ids = [to_sas[i] for i in kept.ids]
    return kept, {"movies": len(table), "mapped": len(kept), "catalogue": len(pairs)}


def user_features() -> SideTable:
    """users.dat keyed by SASRec user id (through sas_to_original_users.txt)."""
    table = read_side_table(ML1M / "users.dat", SideSchema("user", categorical=("gender", "age", "occupation")))
    pairs = [line.split() for line in (SPLIT / "sas_to_original_users.txt").read_text().splitlines() if line.strip()]
    to_sas = {original: sas for sas, original in pairs}
    kept = table.subset(list(to_sas))
    kept.ids = [to_sas[i] for i in kept.ids]
    return kept


def genre_scorer(items: list[str], table: SideTable, counts: np.ndarray):  # -> ScoreFn
    """Popularity within genre: each catalogue item (`items`, in index order) scores the mean share of
    the user's history in its genres (to 0.1 %), ties broken by its training popularity, then at
    random (seeded): the new items have no popularity, and the ranking counts a tie in the target's
    favour. Score = share bucket + the item's place in that order / (N + 1), exact in float32."""
    genres = sorted({g for row in table.tags["genres"] for g in row})
    column = {g: j for j, g in enumerate(genres)}
    rows = {i: r for r, i in enumerate(table.ids)}
    matrix = np.zeros((len(items) + 1, len(genres)), dtype=np.float32)
    for index, item in enumerate(items, start=1):
        for g in table.tags["genres"][rows[item]] if item in rows else []:
            matrix[index, column[g]] = 1.0
    per_item = torch.from_numpy(matrix / np.maximum(matrix.sum(1, keepdims=True), 1))
    popularity = np.pad(counts, (0, len(matrix) - len(counts)))
    order = np.lexsort((np.random.default_rng(0).random(len(matrix)), popularity))  # by popularity, then random
    place = np.empty(len(matrix), dtype=np.float32)
    place[order] = np.arange(len(matrix)) / (len(matrix) + 1)
    tie = torch.from_numpy(place)
    as_tensor = torch.from_numpy(matrix)

    def score(histories):
        share = torch.stack([as_tensor[torch.as_tensor(h)].sum(0) for h in histories])
        share = share / share.sum(1, keepdim=True).clamp(min=1)
        return torch.floor(share @ per_item.T * 1000) + tie

    return score


def only(columns: np.ndarray, score_fn):  # -> ScoreFn
    """A scorer whose ranking is restricted to these catalogue columns."""
    def score(histories):
        scores = score_fn(histories).clone()
        keep = torch.zeros(scores.shape[1], dtype=torch.bool)
        keep[torch.as_tensor(columns)] = True
        return scores.masked_fill(~keep, float("-inf"))

    return score


def warm(args: argparse.Namespace) -> dict:
    data = read_interactions(SPLIT / "train_input.txt.gz", format="sequences")
    table, join = movie_features()
    rec = SequentialRecommender(**PARAMS, time_budget=args.time_budget, device=args.device,
                                checkpoint_dir=str(RUNS / "ml1m-side-warm"), resume=args.resume)
    rec.fit(data, cleaning=CleaningConfig(dedupe=False), callbacks=[LogProgress()], dataset=DATASET,
            item_features=table, user_features=user_features())
    foundation = json.loads((RESULTS / "seqrec_ml1m_loo.json").read_text())["runs"]["sasrec, all windows"]
    m = rec.metrics_
    epochs = len(m["history"]["train"])
    return {"warm": {
        "join": join,
        "side": m["side"],
        "with_side": {k: m[k] for k in ("valid", "test", "epochs", "train_seconds", "seconds_per_epoch", "peak_rss_mb")},
        "ids_only": {"source": "seqrec_ml1m_loo.json, run 'sasrec, all windows'",
                     **{k: foundation[k] for k in ("valid", "test", "epochs", "train_seconds", "peak_rss_mb")}},
        "valid_ndcg@10_at_the_same_epoch": {
            "epochs": epochs, "with_side": max(e["valid_ndcg@10"] for e in m["history"]["train"]),
            "ids_only": max(e["valid_ndcg@10"] for e in foundation["history"]["train"][:epochs])},
        "popularity": m["baselines"]["popularity"],
        "params": m["params"],
    }}


def held_out() -> tuple[pl.DataFrame, pl.DataFrame, set[str], set[str]]:
    """The whole log, its training part, and the seeded held-out items and users."""
    frame = read_interactions(SPLIT / "train_input.txt.gz", format="sequences").frame
    rng = np.random.default_rng(0)
    items = np.array(sorted(frame["item"].unique().to_list()))
    users = np.array(sorted(frame["user"].unique().to_list()))
    cold_items = set(rng.choice(items, round(HELD_OUT * len(items)), replace=False).tolist())
    cold_users = set(rng.choice(users, round(HELD_OUT * len(users)), replace=False).tolist())
    train = frame.filter(~pl.col("user").is_in(list(cold_users)) & ~pl.col("item").is_in(list(cold_items)))
    return frame, train, cold_items, cold_users


def cold_item_cases(frame: pl.DataFrame, users: list[str], cold_items: set[str], vocab) -> tuple[list, np.ndarray]:
    """Each training user's first event on a held-out item (the target) and the events before it."""
    sequences = {u: g["item"].to_list() for (u,), g in frame.group_by("user", maintain_order=True)}
    histories, targets = [], []
    for user in users:
        events = sequences[user]
        first = next((p for p, i in enumerate(events) if i in cold_items), None)
        if first:  # at least one event before it
            histories.append(vocab.encode(events[:first]))
            targets.append(vocab.index(events[first]))
    return histories, np.array(targets)


def genre_baselines(items: list[str], added: int, table: SideTable, counts: np.ndarray, histories: list,
                    targets: np.ndarray) -> dict:
    n = len(items)
    baseline = genre_scorer(items, table, counts)
    return {"genre_popularity_all_items": evaluate_ranking(baseline, histories, targets, n),
            "genre_popularity_new_items": evaluate_ranking(only(np.arange(n - added + 1, n + 1), baseline), histories,
                                                           targets, n)}


def rescore(args: argparse.Namespace) -> dict:
    """The cold-item baselines again, on the catalogue the cold run built (no training): the same
    cleaning and vocabulary, the held-out items appended as `add_items` appends them."""
    frame, train, cold_items, _ = held_out()
    table, _ = movie_features()
    clean, _ = clean_interactions(Interactions(train, "ml1m-cold-train"), CleaningConfig(dedupe=False))
    sequences, vocab = build_sequences(clean)
    new = [i for i in table.subset(sorted(cold_items)).ids if i not in vocab]
    catalogue = Vocabulary([*vocab.ids, *new])
    histories, targets = cold_item_cases(frame, sequences.users, cold_items, catalogue)
    counts = np.bincount(sequences.items, minlength=len(vocab) + 1)
    run = json.loads((RESULTS / f"{RESULT}.json").read_text())["runs"]["cold, features on"]
    if run["cold_items"]["events"] != len(targets) or run["cold_items"]["added"]["added"] != len(new):
        raise SystemExit("the rebuilt catalogue does not match the cold run's")
    run["cold_items"].update(genre_baselines(catalogue.ids, len(new), table, counts, histories, targets))
    return {"cold, features on": run}


def cold(args: argparse.Namespace) -> dict:
    frame, train, cold_items, cold_users = held_out()
    table, join = movie_features()
    features = args.features == "on"
    name = f"cold, features {args.features}" + (", titles by MiniLM" if args.side_text == "minilm" else "")
    rec = SequentialRecommender(**PARAMS, time_budget=args.time_budget, device=args.device, side_text=args.side_text,
                                checkpoint_dir=str(RUNS / f"ml1m-side-cold-{args.features}-{args.side_text}"),
                                resume=args.resume)
    started = time.perf_counter()
    users_table = user_features()
    rec.fit(Interactions(train, "ml1m-cold-train"), cleaning=CleaningConfig(dedupe=False),
            callbacks=[LogProgress()], dataset=DATASET, item_features=table if features else None,
            user_features=users_table if features else None)
    train_seconds = time.perf_counter() - started
    counts = np.bincount(rec.sequences_.items, minlength=len(rec.item_vocab_) + 1)
    sequences = {u: g["item"].to_list() for (u,), g in frame.group_by("user", maintain_order=True)}

    # cold users: first 3 kept events → the 4th; with features, also their profile alone → the 1st
    histories, targets, firsts, users = [], [], [], []
    for user in sorted(cold_users):
        kept = rec.item_vocab_.encode([i for i in sequences[user] if i not in cold_items])
        kept = kept[kept > 0]
        if len(kept) >= 4:
            histories.append(kept[:3])
            targets.append(kept[3])
            firsts.append(kept[0])
            users.append(user)
    n = len(rec.item_vocab_)
    popularity = lambda h, *_: torch.from_numpy(counts.astype(np.float32)).expand(len(h), -1)  # noqa: E731
    nothing = [np.zeros(0, dtype=np.int64)] * len(users)
    result = {"cold_users": {
        "users": len(histories),
        "popularity": evaluate_ranking(popularity, histories, np.array(targets), n),
        "popularity_first_event": evaluate_ranking(popularity, nothing, np.array(firsts), n),
    }}
    if features:
        result["cold_users"]["added"] = rec.add_users(users_table.subset(users))
        profiles = rec.profile_rows(users)
        result["cold_users"]["model"] = evaluate_ranking(rec.scores, histories, np.array(targets), n,
                                                         profiles=profiles)
        result["cold_users"]["model_without_profile"] = evaluate_ranking(rec.scores, histories, np.array(targets), n)
        result["cold_users"]["model_profile_alone_first_event"] = evaluate_ranking(
            rec.scores, nothing, np.array(firsts), n, profiles=profiles)
    else:
        result["cold_users"]["model"] = evaluate_ranking(rec.scores, histories, np.array(targets), n)
    if features:  # cold items: added from their features, then each warm user's first event on one
        added = rec.add_items(table.subset(sorted(cold_items)))
        histories, targets = cold_item_cases(frame, rec.sequences_.users, cold_items, rec.item_vocab_)
        n = len(rec.item_vocab_)
        new_columns = np.arange(n - added["added"] + 1, n + 1)
        result["cold_items"] = {
            "added": added, "events": len(targets),
            "model_all_items": evaluate_ranking(rec.scores, histories, targets, n),
            "model_new_items": evaluate_ranking(only(new_columns, rec.scores), histories, targets, n),
            **genre_baselines(rec.item_vocab_.ids, added["added"], table, counts, histories, targets),
            "ids_only": "0 by construction: a model of ids cannot represent an item it never saw",
        }
    m = rec.metrics_
    result["train"] = {"test_loo": m["test"], "valid_loo": m["valid"], "epochs": m["epochs"],
                       "train_seconds": m["train_seconds"], "wall_seconds": train_seconds,
                       "peak_rss_mb": max(m["peak_rss_mb"], peak_rss_mb())}
    result["held_out"] = {"items": len(cold_items), "users": len(cold_users), "seed": 0, "share": HELD_OUT}
    result["join"] = join
    return {name: result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", choices=["warm", "cold", "rescore"], required=True,
                        help="rescore: the cold run's genre baselines again, without training")
    parser.add_argument("--features", choices=["on", "off"], default="on", help="cold: with item features or ids only")
    parser.add_argument("--side-text", choices=["wordpiece", "minilm"], default="wordpiece",
                        help="cold: how titles are read (learned WordPiece tokens, or MiniLM sentence embeddings)")
    parser.add_argument("--time-budget", type=float, default=3600.0, help="seconds of training")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    runs = {"warm": warm, "cold": cold, "rescore": rescore}[args.experiment](args)
    path = update_results(RESULT, {"task": "recsys", "dataset": DATASET, "machine": machine(), "date": now(),
                                   "runs": runs})
    print(json.dumps(runs, indent=1)[:3000])
    print(f"-> {path}")


if __name__ == "__main__":
    main()
