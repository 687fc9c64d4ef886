"""`attnsight risk ...`: train, evaluate, score, explain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from attnsight.cli.options import ConfigFile, Encoding, check_ranges, names, run_dirs
from attnsight.cli.render import console, metrics_table, print_json, progress
from attnsight.errors import AttnsightError
from attnsight.files import write_atomic

if TYPE_CHECKING:
    from attnsight.data.events import Events
    from attnsight.scorer import RiskScorer

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

ModelDir = Annotated[Path, typer.Option("--model", help="Bundle folder written by `risk train`.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
Since = Annotated[Optional[str], typer.Option(help="Only events on or after this date (YYYY-MM-DD); "
                                                   "earlier rows serve as history.")]
History = Annotated[Optional[Path], typer.Option(help="Earlier events (same columns) read before --data, as history.")]
RISK_METRICS = ("roc_auc", "average_precision", "precision@100", "card_precision@100")

# what `train` and `tune risk` read, and how they split it by time and seed it
Labelled = Annotated[Path, typer.Option(help="Labelled events: csv/tsv/jsonl/parquet, .gz too.")]
AccountCol = Annotated[str, typer.Option(help="Account (card, user) id column.")]
TimeCol = Annotated[str, typer.Option(help="Timestamp column: epoch seconds or ISO dates.")]
LabelCol = Annotated[str, typer.Option(help="0/1 label column (1: the risk to score, e.g. fraud).")]
Numeric = Annotated[Optional[list[str]], typer.Option(help="Numeric column(s), repeatable or comma-separated.")]
Categorical = Annotated[Optional[list[str]], typer.Option(help="Categorical column(s), likewise.")]
EntityCol = Annotated[Optional[str], typer.Option(help="A second entity to attend over (terminal, merchant).")]
IdCol = Annotated[Optional[str], typer.Option(help="Event id column, shown by score and explain.")]
LabelDelayDays = Annotated[int, typer.Option(help="Days before a label is known (used as input only then).")]
TrainDays = Annotated[Optional[int], typer.Option(help="Training days (default: all before validation).")]
ValidDays = Annotated[int, typer.Option(help="Validation days (model selection), after training.")]
GapDays = Annotated[int, typer.Option(help="Days between validation and test.")]
TestDays = Annotated[int, typer.Option(help="Test days.")]
TestStart = Annotated[Optional[str], typer.Option(help="First test day, YYYY-MM-DD (default: the last days).")]
KeepKnown = Annotated[bool, typer.Option(help="Keep accounts already known compromised in validation and test.")]
Epochs = Annotated[int, typer.Option(help="Most epochs (early stopping on validation average precision).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]


def _load(model: Path, device: str):  # -> RiskScorer
    from attnsight.scorer import RiskScorer

    return RiskScorer.from_pretrained(model, device=device)


def _events(scorer: Any, data: Path, history: Optional[Path], since: Optional[str],
            encoding: str):  # -> (Events, rows)
    """The file's events after any --history, and the rows to use: the file's, on or after --since."""
    import numpy as np

    events, rows = scorer.load(data, history, encoding)
    rows = np.intersect1d(rows, events.since(since))
    if len(rows) == 0:
        raise AttnsightError(f"{data}: no events on or after {since}")
    return events, rows


def load_inputs(options: Mapping[str, Any]) -> Events:
    """The event table `train` reads, from its option values by name."""
    from attnsight.data.events import EventSchema, read_events

    o = options
    schema = EventSchema(o["account_col"], o["time_col"], names(o["numeric"]), names(o["categorical"]),
                         o["label_col"], o["entity_col"], o["id_col"])
    return read_events(Path(o["data"]), schema, encoding=o["encoding"], require_labels=True)


def fit_model(events: Events, options: Mapping[str, Any], out: Optional[Path], callbacks: Sequence[Any]) -> RiskScorer:
    """The scorer `train` fits (and each `tune risk` trial, with out=None), from option values by name."""
    from attnsight.scorer import RiskScorer

    o = options
    scorer = RiskScorer(
        history_len=o["history_len"], label_delay_days=o["label_delay_days"], dim=o["dim"], num_layers=o["layers"],
        num_heads=o["heads"], dropout=o["dropout"], epochs=o["epochs"], pretrain_epochs=o["pretrain_epochs"],
        batch_size=o["batch_size"], lr=o["lr"], pos_weight=o["pos_weight"], negative_rate=o["negative_rate"],
        patience=o["patience"], time_budget=o["time_budget"], train_days=o["train_days"], valid_days=o["valid_days"],
        gap_days=o["gap_days"], test_days=o["test_days"], test_start=o["test_start"], exclude_known=not o["keep_known"],
        baseline=o["baseline"], device=o["device"], seed=o["seed"], resume=o["resume"], **run_dirs(out),
    )
    return scorer.fit(events, callbacks=callbacks, dataset=Path(o["data"]).name)


@app.command()
def train(
    ctx: typer.Context,
    data: Labelled,
    out: Annotated[Path, typer.Option(help="Folder for the bundle (created).")],
    config: ConfigFile = None,
    encoding: Encoding = "utf-8",
    account_col: AccountCol = "account",
    time_col: TimeCol = "timestamp",
    label_col: LabelCol = "label",
    numeric: Numeric = None,
    categorical: Categorical = None,
    entity_col: EntityCol = None,
    id_col: IdCol = None,
    history_len: Annotated[int, typer.Option(help="Previous events read per account (and per entity).")] = 32,
    label_delay_days: LabelDelayDays = 7,
    train_days: TrainDays = None,
    valid_days: ValidDays = 7,
    gap_days: GapDays = 7,
    test_days: TestDays = 7,
    test_start: TestStart = None,
    keep_known: KeepKnown = False,
    dim: Annotated[int, typer.Option(help="Hidden size.")] = 64,
    layers: Annotated[int, typer.Option(help="Transformer blocks.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 4,
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.1,
    epochs: Epochs = 20,
    pretrain_epochs: Annotated[int, typer.Option(help="Masked-feature pretraining epochs first (0: none).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Events per batch.")] = 256,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    pos_weight: Annotated[Optional[float], typer.Option(help="Loss weight of positives (default √(neg/pos)).")] = None,
    negative_rate: Annotated[float, typer.Option(help="Share of negative events trained on (speed).")] = 1.0,
    patience: Annotated[int, typer.Option(help="Epochs without validation gain before stopping.")] = 3,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds of training at most.")] = None,
    baseline: Annotated[bool, typer.Option(help="Also train the gradient-boosting baseline.")] = True,
    device: Device = "auto",
    seed: Seed = 42,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoints in OUT/checkpoints.")] = False,
    json_out: Json = False,
) -> None:
    """Train a risk scorer on an event table, split by time, and write a bundle to OUT."""
    check_ranges(ctx.params, "risk")
    events = load_inputs(ctx.params)  # every option by name, as `tune risk` builds its trials
    if not json_out:
        console.print(f"read {len(events):,} events of {len(events.accounts):,} accounts from {data}")
    scorer = fit_model(events, ctx.params, out, progress(json_out))
    scorer.save_pretrained(out)
    metrics = scorer.metrics_
    if json_out:
        print_json(metrics)
        return
    p = metrics["protocol"]
    rows = {"attnsight (attention)": metrics["test"]}
    if "gradient_boosting" in metrics["baselines"]:
        rows["gradient boosting (handbook features)"] = metrics["baselines"]["gradient_boosting"]["test"]
    title = (f"Test {p['test'][0]} … {p['test'][1]} ({int(metrics['test']['events']):,} events, "
             f"{int(metrics['test']['positives']):,} positive); trained on {p['train'][0]} … {p['train'][1]}")
    console.print(metrics_table(title, rows, RISK_METRICS))
    if not metrics["test"]["positives"]:
        console.print("the test days hold no positive label, so ROC AUC and average precision are undefined (nan): "
                      "give test days with some (--test-start, --test-days) to measure the model", style="yellow")
    console.print(f"bundle written to {out} ({metrics['epochs']} epochs, "
                  f"{metrics['train_seconds']:.0f} s, stopped by {metrics['stopped_by']})")


@app.command()
def evaluate(
    model: ModelDir,
    data: Annotated[Path, typer.Option(help="Labelled events, in the columns the model was trained on.")],
    history: History = None,
    since: Since = None,
    keep_known: Annotated[Optional[bool], typer.Option(
        "--keep-known/--leave-out-known",
        help="Keep, or leave out, the events of accounts already known compromised on their day "
             "(default: as the model's own test did).")] = None,
    encoding: Encoding = "utf-8",
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """ROC-AUC, average precision, precision@k and card precision@100 per day on labelled events."""
    scorer = _load(model, device)
    events, rows = _events(scorer, data, history, since, encoding)
    metrics = scorer.evaluate(events, rows, exclude_known=None if keep_known is None else not keep_known)
    if json_out:
        print_json(metrics)
        return
    title = f"{data.name} ({int(metrics['events']):,} events, {int(metrics['positives']):,} positive)"
    console.print(metrics_table(title, {"attnsight": metrics}, RISK_METRICS))
    if metrics["excluded_known_accounts"]:
        console.print(f"{metrics['excluded_known_accounts']:,} events of accounts already known compromised on "
                      "their day left out, as in the model's test (--keep-known keeps them)", highlight=False)


def _check_scores_out(out: Path, inputs: list[Path]) -> None:
    """The scores' CSV is refused where writing it would destroy what the command reads or a
    bundle: an input file named by mistake, a file inside a bundle folder, a name not .csv."""
    from attnsight.models.base import bundle_task

    if out.is_dir():
        raise AttnsightError(f"--out {out} is a folder; give the scores' file name (e.g. scores.csv)")
    if out.suffix.lower() != ".csv":
        raise AttnsightError(f"--out {out}: the scores are written as CSV; give a .csv file name (e.g. scores.csv)")
    if out.exists() and any(p.exists() and out.samefile(p) for p in inputs):
        raise AttnsightError(f"--out {out} is a file this command reads; give the scores a file of their own")
    bundle = next((p for p in out.resolve().parents if bundle_task(p)), None)  # another program's config.json is none
    if bundle is not None:  # its logs/ or checkpoints/ too: a bundle folder is the bundle's
        raise AttnsightError(f"--out {out} is inside the bundle folder {bundle}; give the scores a file outside it")


@app.command()
def score(
    model: ModelDir,
    data: Annotated[Path, typer.Option(help="Events to score (and their history, earlier in time).")],
    history: History = None,
    since: Since = None,
    encoding: Encoding = "utf-8",
    out: Annotated[Optional[Path], typer.Option(help="Write every score to this CSV (id, account, time, score).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Highest-risk events shown.")] = 10,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Risk score (probability) of each event, from its account's and entity's earlier events."""
    import polars as pl

    if out:
        _check_scores_out(out, [data, *([history] if history else [])])
    scorer = _load(model, device)
    events, rows = _events(scorer, data, history, since, encoding)
    scores = scorer.score(events, rows)
    table = pl.DataFrame({
        "event": events.event_ids(rows),
        "account": events.accounts[events.account[rows]].tolist(),
        "time": pl.Series(events.time[rows] * 1_000_000).cast(pl.Datetime("us", "UTC")),
        "score": scores,
    })
    table = table.with_columns(pl.col("time").dt.to_string("%Y-%m-%d %H:%M:%S"))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)  # as the train commands' --out
        write_atomic(out, table.write_csv)
    ranked = table.sort("score", descending=True, maintain_order=True)
    if json_out:
        print_json(ranked.to_dicts())
        return
    from rich.table import Table

    view = Table(title=f"Highest risk of {len(rows):,} events", title_justify="left")
    for column in ("event", "account", "time", "score"):
        view.add_column(column, justify="right" if column == "score" else "left")
    for r in ranked.head(top).iter_rows(named=True):
        view.add_row(r["event"], r["account"], r["time"], f"{r['score']:.4f}")
    console.print(view)
    if out:
        console.print(f"{len(rows):,} scores written to {out}")


@app.command()
def explain(
    model: ModelDir,
    data: Annotated[Path, typer.Option(help="Events (with their history, earlier in time).")],
    event: Annotated[Optional[list[str]], typer.Option(help="Event id(s) to explain (default: the riskiest).")] = None,
    history: History = None,
    since: Since = None,
    encoding: Encoding = "utf-8",
    riskiest: Annotated[int, typer.Option(min=1, help="Without --event: explain this many highest-risk events.")
                        ] = 3,
    top: Annotated[int, typer.Option(min=1, help="Attended past events listed per event.")] = 5,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """For scored events: the past events of the account and the entity that they attended to most."""
    import numpy as np

    scorer = _load(model, device)
    events, candidates = _events(scorer, data, history, since, encoding)
    if event:
        ids = np.asarray(events.event_ids(candidates))
        missing = [e for e in event if e not in set(ids)]
        if missing:
            raise AttnsightError(f"{data}: no event {missing[0]!r} (ids come from the id column, else 'line N')")
        rows = candidates[np.isin(ids, event)]
    else:
        scores = scorer.score(events, candidates)
        rows = candidates[np.argsort(-scores, kind="stable")[:riskiest]]
    explanations = scorer.explain(events, rows, top)
    if json_out:
        print_json(explanations)
        return
    from rich.table import Table

    for e in explanations:
        view = Table(title=f"event {e.event} (account {e.account}): risk {e.score:.4f}", title_justify="left")
        for column in ("attention", "from", "event", "time", "before", "label", "fields"):
            view.add_column(column, justify="right" if column in ("attention", "before") else "left",
                            overflow="fold")
        for a in e.attended:
            fields = ", ".join(f"{k}={v}" for k, v in a.fields.items())
            label = "?" if a.label is None else str(a.label)
            view.add_row(f"{a.weight:.2f}", a.source, a.event, a.time[:19], _duration(a.seconds_before), label, fields)
        console.print(view)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"
