"""`attnsight demo`: every task on generated data (behaviour, reviews, transactions), end to end, and
the report over the bundles it leaves, in under three minutes on two CPU cores."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from attnsight.cli.options import check_ranges
from attnsight.cli.render import because_text, cleaning_table, console, item_label, metrics_table, print_json
from attnsight.errors import AttnsightError

# the smallest audience every task trains on and the demo shows: 3 items in each of the 8 categories
# give every user the 3 events a train/valid/test split needs; with fewer than 10 users the first
# one may have seen every item the model knows, leaving nothing to recommend
MIN_USERS, MIN_ITEMS = 10, 24


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the bundle and the generated data.")] = Path("attnsight-demo"),
    users: Annotated[int, typer.Option(help=f"Synthetic users to generate (at least {MIN_USERS}).")] = 1500,
    items: Annotated[int, typer.Option(help=f"Synthetic catalogue size (at least {MIN_ITEMS}).")] = 320,
    time_budget: Annotated[float, typer.Option(help="Seconds of recommender training.")] = 60.0,
    text_budget: Annotated[float, typer.Option(help="Seconds of text classifier training (pretraining included).")] = 20.0,
    risk_budget: Annotated[float, typer.Option(help="Seconds of risk model training.")] = 20.0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the data and the model.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    _check_options(out, users, items, {"time_budget": time_budget, "text_budget": text_budget,
                                       "risk_budget": risk_budget}, device, seed)
    import polars as pl
    from rich.rule import Rule
    from rich.table import Table

    from attnsight.data.side import SideSchema, read_side_table
    from attnsight.data.synthetic import make_audience
    from attnsight.recommender import SequentialRecommender
    from attnsight.report import write_report
    from attnsight.train.callbacks import RichProgress

    audience = make_audience(num_users=users, num_items=items, seed=seed)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    audience.interactions.frame.write_csv(data_dir / "interactions.csv")
    audience.items.write_csv(data_dir / "items.csv")
    pl.DataFrame({"user": list(audience.interests), "likes": ["|".join(c) for c in audience.interests.values()]}
                 ).write_csv(data_dir / "users.csv")
    info = {row["item"]: {"title": row["title"], "category": row["category"]} for row in audience.items.to_dicts()}
    if not json_out:
        console.print(Rule("attnsight demo"))
        console.print(f"generated {len(audience.interactions):,} events of {users:,} users over {items} items "
                      f"(8 categories, interests drifting over time) -> {data_dir}/")

    rec = SequentialRecommender(max_len=50, epochs=100, patience=5, time_budget=time_budget, device=device, seed=seed)
    # items known by title and category, users by the interests they follow: fused with the ids by attention
    rec.fit(audience.interactions, item_info=info, callbacks=[] if json_out else [RichProgress()],
            dataset="synthetic audience",
            item_features=read_side_table(data_dir / "items.csv", SideSchema("item", text=("title",),
                                                                             categorical=("category",))),
            user_features=read_side_table(data_dir / "users.csv", SideSchema("user", tags=("likes",))))
    rec.save_pretrained(out)

    shown_users = rec.sequences_.users[:3]
    recommendations = {u: rec.recommend(user=u, k=5) for u in shown_users}
    target = recommendations[shown_users[0]].items[0].item
    top_audience = rec.audience(target, k=10)
    text = _text_demo(out, text_budget, device, seed, json_out)
    risk = _risk_demo(out, risk_budget, device, seed, json_out)
    report = write_report([out, out / "text", out / "risk"], out / "report.html", device=device,
                          data=[data_dir / "reviews.csv", data_dir / "transactions.csv"], seed=seed)
    if json_out:
        print_json({"metrics": rec.metrics_, "recommendations": recommendations,
                    "audience": {"item": target, "users": [{"user": u, "score": s} for u, s in top_audience]},
                    "bundle": str(out), "text": text, "risk": risk, "report": str(report)})
        return

    m = rec.metrics_
    console.print(cleaning_table(m["cleaning"]))
    rows = {"attnsight SASRec": m["test"], "most popular": m["baselines"]["popularity"]["test"]}
    console.print(metrics_table(f"Test, leave-one-out, full ranking over {len(rec.item_vocab_)} items, "
                                f"seen items excluded ({m['epochs']} epochs, {m['train_seconds']:.0f} s)", rows))
    for user, result in recommendations.items():
        console.print(Rule(f"user {user}", style="dim"))
        recent = ", ".join(item_label(i, info) for i in result.history[-5:])
        console.print(f"last watched: {recent}")
        table = Table(show_header=True, box=None, pad_edge=False)
        table.add_column("recommended")
        table.add_column("score", justify="right")
        table.add_column("because you watched (attention)")
        for r in result.items:
            table.add_row(item_label(r.item, info), f"{r.score:.2f}", because_text(r, info))
        console.print(table)
    console.print(Rule(f"top audience for {item_label(target, info)}", style="dim"))
    console.print(", ".join(f"{u} ({s:.2f})" for u, s in top_audience))
    _print_text_demo(text)
    _print_risk_demo(risk)
    console.print(Rule())
    here, text_model, risk_model = (shlex.quote(str(path)) for path in (out, out / "text", out / "risk"))
    transactions = shlex.quote(str(out / "data" / "transactions.csv"))
    console.print(f"bundles written to {out}/ (recommender), {out}/text/ (reviews) and "
                  f"{out}/risk/ (transactions); try:\n"
                  f"  attnsight recsys recommend --model {here} --user {shown_users[0]}\n"
                  f"  attnsight recsys audience --model {here} --item {target} --k 20\n"
                  f"  attnsight text explain --model {text_model} --text \"the staff was rude but the view was lovely\"\n"
                  f"  attnsight risk explain --model {risk_model} --data {transactions} --riskiest 2\n"
                  f"  attnsight serve --model {here} --model {text_model} --model {risk_model}\n"
                  "    then open http://127.0.0.1:8000/ (the web page) or http://127.0.0.1:8000/docs (the REST API)")
    console.print(f"report: open {report} in a browser (one self-contained HTML file: data, training "
                  "curves, metrics, recommendations and segments, attended words, riskiest transactions)")


def _check_options(out: Path, users: int, items: int, budgets: dict[str, float], device: str, seed: int) -> None:
    """One-line errors for option values the demo cannot run with, before it writes anything into --out
    (a demo folder from an earlier run stays whole)."""
    from attnsight.report.page import check_html_name

    check_ranges({"out": out, "device": device, "seed": seed, **budgets}, "recsys")
    for folder, task in (("data", None), ("text", "text"), ("risk", "risk")):  # the bundles' own folders too
        check_ranges({"out": out / folder}, task)
    check_html_name(out / "report.html", "report.html")
    for flag, value, low in (("--users", users, MIN_USERS), ("--items", items, MIN_ITEMS)):
        if value < low:
            raise AttnsightError(f"{flag} must be at least {low}, not {value}")


def _text_demo(out: Path, budget: float, device: str, seed: int, json_out: bool) -> dict[str, Any]:
    """The audience's reviews, English and Chinese: MLM pretraining, fine-tuning, explanations."""
    import polars as pl

    from attnsight.classifier import TextClassifier
    from attnsight.data.synthetic import make_reviews
    from attnsight.data.texts import Texts
    from attnsight.train.callbacks import RichProgress

    parts = [make_reviews(600, language, seed=seed + i) for i, language in enumerate(("en", "zh"))]
    reviews = Texts(pl.concat([p.frame for p in parts]), "synthetic reviews")
    reviews.frame.write_csv(out / "data" / "reviews.csv")
    clf = TextClassifier(dim=64, num_layers=2, num_heads=2, vocab_size=1000, max_len=64, epochs=15,
                         pretrain_epochs=5, lr=1e-3, patience=4, time_budget=budget, device=device, seed=seed)
    clf.fit(reviews, callbacks=[] if json_out else [RichProgress()], dataset="synthetic reviews")
    clf.save_pretrained(out / "text")
    shown = [parts[0].texts[0], parts[1].texts[0]]
    return {"metrics": clf.metrics_, "explanations": clf.explain(shown),
            "insights": clf.insights(reviews.texts, top=30)}


def _print_text_demo(text: dict[str, Any]) -> None:
    from rich.rule import Rule

    from attnsight.explain.text import strongest_words

    m = text["metrics"]
    console.print(Rule("reviews: sentiment, English and Chinese", style="dim"))
    rows = {"attnsight (MLM-pretrained)": m["test"], "majority class": m["baselines"]["majority"]["test"]}
    console.print(metrics_table(f"Test, {m['protocol']['test']} reviews ({m['train_seconds']:.0f} s)", rows,
                                ("accuracy", "macro_f1")))
    for e in text["explanations"]:
        console.print(Text.assemble((e.label, "bold"), f" {e.text}\n  attended: {strongest_words(e.words, 3)}"),
                      highlight=False)
    for label, rows_ in text["insights"].items():
        distinctive = [r["word"] for r in rows_ if r["lift"] > 1.2][:6]  # words of every review say nothing
        console.print(f"'{label}' reviews are about: " + ", ".join(distinctive), highlight=False)


def _risk_demo(out: Path, budget: float, device: str, seed: int, json_out: bool) -> dict[str, Any]:
    """The audience's card transactions: risk scores from attention over each card's and terminal's
    history, beside gradient boosting on hand-made features, and why the riskiest event scored high."""
    from attnsight.data.events import EventSchema, read_events
    from attnsight.data.synthetic import make_transactions
    from attnsight.scorer import RiskScorer
    from attnsight.train.callbacks import RichProgress

    path = out / "data" / "transactions.csv"
    make_transactions(seed=seed).write_csv(path)
    events = read_events(path, EventSchema(account="customer", time="timestamp", numeric=("amount",),
                                           categorical=("channel",), label="fraud", entity="terminal",
                                           id="transaction_id"))
    scorer = RiskScorer(history_len=16, dim=32, epochs=30, negative_rate=0.25, patience=5, time_budget=budget,
                        device=device, seed=seed)
    scorer.fit(events, callbacks=[] if json_out else [RichProgress()], dataset="synthetic transactions")
    scorer.save_pretrained(out / "risk")
    rows = events.since(scorer.metrics_["protocol"]["test"][0])
    riskiest = rows[[scorer.score(events, rows).argmax()]]
    return {"metrics": scorer.metrics_, "explanations": scorer.explain(events, riskiest, top=3)}


def _print_risk_demo(risk: dict[str, Any]) -> None:
    from rich.rule import Rule

    m = risk["metrics"]
    console.print(Rule("transactions: fraud risk from card and terminal histories", style="dim"))
    rows = {"attnsight (attention)": m["test"]}
    if "gradient_boosting" in m["baselines"]:
        rows["gradient boosting"] = m["baselines"]["gradient_boosting"]["test"]
    console.print(metrics_table(f"Test {m['protocol']['test'][0]} … {m['protocol']['test'][1]}, "
                                f"{int(m['test']['events']):,} transactions ({m['train_seconds']:.0f} s)", rows,
                                ("roc_auc", "average_precision", "precision@100")))
    for e in risk["explanations"]:
        console.print(f"riskiest: transaction {e.event} of {e.account}, risk {e.score:.2f}; it attended to:")
        for a in e.attended:
            label = {None: "label not known yet", 0: "genuine", 1: "fraud"}[a.label]
            console.print(f"  {a.weight:.2f}  {a.source} transaction {a.event}, {a.seconds_before / 86_400:.1f} days "
                          f"before, amount {a.fields.get('amount')}, {label}", highlight=False)
