"""Print the README's benchmark tables (markdown) from benchmarks/results/*.json.

    python benchmarks/table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS  # noqa: E402


def seqrec_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    rows = []
    for variant, m in r.get("runs", {}).items():
        t, v = m["test"], m["valid"]
        rows.append(
            f"| {r['dataset'].split(' (')[0]} | attnsight {variant} "
            f"| {m['epochs']}{' (' + str(m['pretrain_epochs']) + ' cloze)' if m['pretrain_epochs'] else ''} "
            f"| {m['seconds_per_epoch']:.0f} | {m['train_seconds'] / 60:.0f} min | {m['peak_rss_mb'] / 1024:.1f} GB "
            f"| {v['ndcg@10']:.4f} / {v['hr@10']:.4f} | **{t['ndcg@10']:.4f} / {t['hr@10']:.4f}** |"
        )
    pop = r["baselines"]["popularity"]
    rows.append(f"| | most popular | | | | | {pop['valid']['ndcg@10']:.4f} / {pop['valid']['hr@10']:.4f} "
                f"| {pop['test']['ndcg@10']:.4f} / {pop['test']['hr@10']:.4f} |")
    for model, peer in r["peer"].items():
        if isinstance(peer, dict):
            s = peer["test_seen_excluded"]
            rows.append(f"| | RecBole {model} (peer, {peer['budget_minutes']} min budget) | {peer['epochs_run']} "
                        f"| {peer['seconds_per_epoch']:,} | {peer['budget_minutes']} min "
                        f"| {peer['peak_rss_mb'] / 1024:.1f} GB | | {s['ndcg@10']:.4f} / {s['hr@10']:.4f} |")
    for model, anchor in r["anchors"].items():
        if isinstance(anchor, dict):
            rows.append(f"| | {model} (published anchor) | | | | | | {anchor['ndcg@10']:.4f} / {anchor['hr@10']:.4f} |")
    return rows


def text_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    dataset = r["dataset"].split(" (")[0]
    rows = []
    for variant, m in r.get("runs", {}).items():
        t, v = m["test"], m["valid"]
        pretrain = m.get("pretrain") or {}
        epochs = f"{m['epochs']}" + (f" (+{pretrain['epochs']} MLM)" if pretrain.get("in_this_run") else "")
        rows.append(
            f"| {dataset} | attnsight {variant} | {epochs} | {m['train_seconds'] / 60:.0f} min "
            f"| {m['peak_rss_mb'] / 1024:.1f} GB | {v['accuracy']:.4f} / {v['macro_f1']:.4f} "
            f"| **{t['accuracy']:.4f} / {t['macro_f1']:.4f}** |"
        )
    majority = r["baselines"]["majority"]["test"]
    rows.append(f"| | majority class | | | | | {majority['accuracy']:.4f} / {majority['macro_f1']:.4f} |")
    for model, anchor in r["anchors"].items():
        if isinstance(anchor, dict):
            rows.append(f"| | {model} (anchor) | | | | | {anchor['accuracy']:.4f} / |")
    return rows


def risk_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    rows = []

    def row(model: str, m: dict, epochs: str, train_seconds: float, ratio: str) -> str:
        t = m["test"]
        return (f"| {model} | {epochs} | {train_seconds / 60:.1f} min | {ratio} | {m['peak_rss_mb'] / 1024:.1f} GB "
                f"| {t['roc_auc']:.4f} | **{t['average_precision']:.4f}** | {t['precision@100']:.3f} "
                f"| {t['card_precision@100']:.3f} |")

    base = None
    for variant, m in r.get("runs", {}).items():
        base = m["baselines"]["gradient_boosting"]  # the same split and seed in every run: the same result
        pretrain = m.get("pretrain") or {}
        epochs = f"{m['epochs']}" + (f" (+{pretrain['epochs']} masked-feature)" if pretrain else "")
        ratio = f"{m['train_seconds'] / base['train_seconds']:.0f}×"
        rows.append(row(f"attnsight {variant}", m, epochs, m["train_seconds"], ratio))
    if base is not None:
        rows.append(row("gradient boosting on the handbook's features (each run's own baseline)", base, "",
                        base["train_seconds"], "1×"))
    for model, anchor in r.get("anchors", {}).items():
        if isinstance(anchor, dict):
            rows.append(f"| {model} (published anchor) | | | | | {anchor['roc_auc']:.3f} | {anchor['average_precision']:.3f} "
                        f"| | {anchor['card_precision@100']:.3f} |")
    return rows


def serve_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    rows = [f"| recommend + explanations, {x['replicas']} server process{'es' if x['replicas'] > 1 else ''} "
            f"| {x['clients']} | {x['requests_per_s']:,.0f} req/s | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['errors']} |"
            for x in r["recommend"]]
    for kind, x in r["ingest"].items():
        rows.append(f"| events, {kind} ({x['events_per_request']} per request) | {x['clients']} "
                    f"| {x['events_per_s']:,.0f} events/s | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['errors']} |")
    k = r["kill_check"]
    rows.append(f"| kill -9 mid-stream, restart | {k['clients']} | {k['acknowledged']:,} acknowledged, "
                f"**{k['lost']} lost** | | | |")
    return rows


def scale_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    g, i, t = r["generate"], r["ingest"], r["train"]
    rows = [f"| ingest {g['events'] / 1e6:.0f}M events, {i['users'] / 1e6:.1f}M users, {i['items'] / 1e6:.1f}M items "
            f"(lazy scan → cleaning → sequences) | {i['seconds']:.0f} s | **{i['peak_rss_mb'] / 1024:.1f} GB** peak RSS "
            f"(goal < 6 GB) |"]
    for kind, x in t["samplers"].items():
        rows.append(f"| train step, sampled softmax ({t['negatives']} {kind} negatives), {t['items'] / 1e6:.1f}M items, "
                    f"{x['positions_per_step']:,} positions | {x['seconds_per_step']:.2f} s / step "
                    f"| {t['peak_rss_mb'] / 1024:.1f} GB peak RSS |")
    for table, x in r["serve"].items():
        if isinstance(x, dict) and "items" in x:
            rows.append(f"| top-10, faiss IVF vs exact, {x['items'] / 1e6:.1f}M × {x['dim']} ({table.replace('_', ' ')}) "
                        f"| p50 / p99 {x['index_p50_ms']:.1f} / **{x['index_p99_ms']:.1f} ms** vs exact "
                        f"{x['exact_p50_ms']:.1f} / {x['exact_p99_ms']:.1f} ms | recall@10 **{x['recall_at_10']:.3f}** |")
    return rows


def faithfulness_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    rows = []
    for task in ("recsys", "text", "risk"):
        for model, entry in r.get(task, {}).items():
            if not isinstance(entry, dict) or "runs" not in entry:
                continue
            for k, x in entry["runs"].items():
                d = x["drop"]

                def cell(method: str) -> str:  # a wide model's explanations also mixed with its wide head's
                    mixed = d.get(f"{method} + wide")
                    return f"{d[method]:.3f}" + (f" ({mixed:.3f} + wide)" if mixed is not None else "")

                rows.append(f"| {task} | {model} | {k[2:]} | {x['mean_probability']:.3f} | {cell('attention')} "
                            f"| {cell('integrated_gradients')} | {d['random']:.3f} "
                            f"| {x['most_faithful'].replace('_', ' ')} |")
    return rows


def multimodal_rows(name: str) -> list[str]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return []
    runs = json.loads(path.read_text())["runs"]

    def cell(m: dict) -> str:
        return f"{m['ndcg@10']:.4f} / {m['hr@10']:.4f}"

    rows = []
    if "warm" in runs:
        w = runs["warm"]
        side, ids, same = w["with_side"], w["ids_only"], w["valid_ndcg@10_at_the_same_epoch"]
        rows.append(f"| ML-1M-LOO test | attnsight, id + titles, genres (items) + gender, age, occupation (users) "
                    f"| {cell(side['test'])} | {side['epochs']} epochs, {side['train_seconds'] / 60:.0f} min, "
                    f"{side['peak_rss_mb'] / 1024:.1f} GB |")
        rows.append(f"| | attnsight, ids only (the foundation run) | {cell(ids['test'])} | {ids['epochs']} epochs, "
                    f"{ids['train_seconds'] / 60:.0f} min, {ids['peak_rss_mb'] / 1024:.1f} GB |")
        rows.append(f"| | most popular | {cell(w['popularity']['test'])} | |")
        rows.append(f"| ML-1M-LOO valid NDCG@10 after {same['epochs']} epochs | with side information / ids only "
                    f"| **{same['with_side']:.4f}** / {same['ids_only']:.4f} | |")
    on, off = runs.get("cold, features on"), runs.get("cold, features off")
    minilm = runs.get("cold, features on, titles by MiniLM")

    def trained(run: dict) -> str:
        return f"{run['train']['epochs']} epochs, {run['train']['train_seconds'] / 60:.0f} min, " \
               f"{run['train']['peak_rss_mb'] / 1024:.1f} GB"

    if on:
        c = on["cold_items"]
        rows.append(f"| cold items: {c['added']['added']} held out, added from features; {c['events']:,} first events "
                    f"on them, ranked among the new items | attnsight (features) | {cell(c['model_new_items'])} "
                    f"| {trained(on)} |")
        if minilm:
            rows.append(f"| | attnsight (features, titles read by MiniLM) "
                        f"| {cell(minilm['cold_items']['model_new_items'])} | {trained(minilm)} |")
        rows.append(f"| | popularity within genre | {cell(c['genre_popularity_new_items'])} | |")
        rows.append("| | any ids-only model | 0 / 0 (by construction) | |")
        rows.append(f"| the same, ranked among all items | attnsight (features) | {cell(c['model_all_items'])} | |")
        if minilm:
            rows.append(f"| | attnsight (features, titles read by MiniLM) "
                        f"| {cell(minilm['cold_items']['model_all_items'])} | |")
        rows.append(f"| | popularity within genre | {cell(c['genre_popularity_all_items'])} | |")
        u = on["cold_users"]
        rows.append(f"| cold users: {u['users']} held out, first 3 events → the 4th | attnsight (features + profile) "
                    f"| {cell(u['model'])} | |")
        if minilm:
            rows.append(f"| | attnsight (features + profile, titles read by MiniLM) "
                        f"| {cell(minilm['cold_users']['model'])} | |")
        rows.append(f"| | attnsight (features, no profile) | {cell(u['model_without_profile'])} | |")
        if off:
            rows.append(f"| | attnsight (ids only) | {cell(off['cold_users']['model'])} | {trained(off)} |")
        rows.append(f"| | most popular | {cell(u['popularity'])} | |")
        rows.append(f"| cold users, no event: profile alone → the 1st | attnsight (profile) "
                    f"| {cell(u['model_profile_alone_first_event'])} | |")
        rows.append(f"| | most popular | {cell(u['popularity_first_event'])} | |")
    return rows


def main() -> None:
    print("| dataset | model | epochs | s / epoch | training | peak RSS | valid NDCG@10 / HR@10 | test NDCG@10 / HR@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("seqrec_ml1m_loo", "seqrec_beauty"):
        for row in seqrec_rows(name):
            print(row)
    print("\n| dataset | model | epochs | training | peak RSS | valid accuracy / macro-F1 | test accuracy / macro-F1 |")
    print("|---|---|---|---|---|---|---|")
    for name in ("text_chnsenticorp", "text_banking77", "text_sst2", "text_imdb"):
        for row in text_rows(name):
            print(row)
    print("\n| model | epochs | training | time vs baseline | peak RSS | test ROC-AUC | test AP | P@100 | card P@100 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in risk_rows("risk_fraud_sim"):
        print(row)
    print("\n| service load | clients | throughput | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for row in serve_rows("serve_load"):
        print(row)
    rows = faithfulness_rows("explain_faithfulness")
    if rows:
        print("\n| explanation faithfulness | bundle | k deleted | p before | drop: attention | drop: integrated gradients "
              "| drop: random | most faithful |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
    rows = multimodal_rows("multimodal_ml1m")
    if rows:
        print("\n| side information and cold start | model | NDCG@10 / HR@10 | training |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    rows = scale_rows("scale")
    if rows:
        print("\n| scale (generated data) | time | memory / quality |")
        print("|---|---|---|")
        print("\n".join(rows))
    attention = RESULTS / "attention_cpu.json"
    if attention.is_file():
        a = json.loads(attention.read_text())
        s = a["median_seconds_fwd_bwd"]
        print(f"\nAttention step, fwd+bwd, B={a['shape']['batch']} T={a['shape']['length']} C={a['shape']['dim']} "
              f"{a['shape']['heads']} heads causal, fp32 CPU ({a['machine']['torch_threads']} threads): "
              f"{s['attnsight'] * 1e3:.0f} ms vs {s['reference'] * 1e3:.0f} ms for matmul-softmax-matmul, "
              f"**{a['speedup_fwd_bwd']:.2f}×** (whole layer with projections {a['speedup_layer_fwd_bwd']:.2f}×), "
              f"max_abs_diff {a['max_abs_diff']:.1e}.")


if __name__ == "__main__":
    main()
