"""`attnsight recsys ...`: train, evaluate, recommend, audience, segments (and their trends), influence."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from attnsight.cli.options import ConfigFile, Encoding, check_ranges, names, run_dirs
from attnsight.cli.render import (
    because_text,
    cleaning_table,
    console,
    item_label,
    metrics_table,
    print_json,
    progress,
)
from attnsight.errors import AttnsightError

if TYPE_CHECKING:
    from rich.table import Table

    from attnsight.data.cleaning import CleaningConfig
    from attnsight.data.readers import Interactions
    from attnsight.explain.influence import Pair
    from attnsight.explain.segments import SegmentTrend, Trends
    from attnsight.recommender import SequentialRecommender

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

ModelDir = Annotated[Path, typer.Option("--model", help="Bundle folder written by `recsys train`.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]

# what `train` and `tune recsys` read, and how they clean, split and seed it
Data = Annotated[Path, typer.Option(help="Interactions: csv/tsv/jsonl/parquet, .dat, pairs or sequences; .gz too.")]
Format = Annotated[str, typer.Option(help="auto|csv|tsv|jsonl|parquet|dat|pairs|sequences")]
UserCol = Annotated[str, typer.Option(help="User id column (tabular formats).")]
ItemCol = Annotated[str, typer.Option(help="Item id column (tabular formats).")]
TimeCol = Annotated[str, typer.Option(help="Timestamp column: numbers or dates (used when present).")]
RatingCol = Annotated[str, typer.Option(help="Rating column (used when present).")]
MinRating = Annotated[Optional[float], typer.Option(help="Keep events rated at least this (explicit → implicit).")]
MinUserEvents = Annotated[int, typer.Option(help="k-core: minimum events per user.")]
MinItemEvents = Annotated[int, typer.Option(help="k-core: minimum events per item.")]
MinLen = Annotated[int, typer.Option(help="Minimum sequence length (3 = one train, valid and test item).")]
KeepDuplicates = Annotated[bool, typer.Option(help="Keep repeated identical events.")]
Split = Annotated[str, typer.Option(help="loo (leave-one-out) | temporal (global time cuts).")]
Epochs = Annotated[int, typer.Option(help="Most next-item epochs (early stopping ends sooner).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
# side features: a table per kind, its columns named by role (repeatable or comma-separated)
ItemFeatures = Annotated[Optional[Path], typer.Option(
    help="Item table (csv/tsv/jsonl/parquet, MovieLens .dat; .gz): the --item-col id and the columns named below.")]
UserFeatures = Annotated[Optional[Path], typer.Option(help="User table, likewise, keyed by --user-col.")]
ItemVectors = Annotated[Optional[Path], typer.Option(
    help="Precomputed item embeddings (any modality): .parquet, .npz (ids, vectors) or .npy (+ <stem>.ids.txt).")]
Text = Annotated[Optional[list[str]], typer.Option(help="Text column(s): title, description.")]
Categorical = Annotated[Optional[list[str]], typer.Option(help="Categorical column(s): one value each.")]
Tags = Annotated[Optional[list[str]], typer.Option(help="Multi-valued column(s), split on '|': Action|Comedy.")]
Numeric = Annotated[Optional[list[str]], typer.Option(help="Numeric column(s).")]
SideText = Annotated[str, typer.Option(
    help="How side tables' text columns are read: wordpiece (a vocabulary trained on them, learned with the "
         "model) | minilm (the offline all-MiniLM-L6-v2's sentence embedding; the [minilm] extra).")]


def _load(model: Path, device: str):  # -> SequentialRecommender
    from attnsight.recommender import SequentialRecommender

    return SequentialRecommender.from_pretrained(model, device=device)


def _result_rows(metrics: dict[str, Any], split: str) -> dict[str, dict[str, float]]:
    rows = {"attnsight SASRec": metrics[split]}
    for name, parts in metrics.get("baselines", {}).items():
        rows[name] = parts[split]
    return rows


def check_options(options: Mapping[str, Any]) -> None:
    """One-line errors for option values that cannot work together, before any data is read."""
    from attnsight.data.features import TEXT_ENCODERS
    from attnsight.data.splits import PROTOCOLS
    from attnsight.train.sampling import SAMPLERS

    o = options
    for name, allowed in (("sampler", SAMPLERS), ("split", PROTOCOLS), ("side_text", TEXT_ENCODERS)):
        if o.get(name) is not None and o[name] not in allowed:
            raise AttnsightError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, not {o[name]!r}")
    roles = [(f"--{role}-col", o.get(f"{role}_col")) for role in ("user", "item", "time", "rating")]
    for i, (flag, column) in enumerate(roles):
        other = next((f for f, c in roles[:i] if c and c == column), None)
        if other:
            raise AttnsightError(f"{other} and {flag} name the same column {column!r}: each role needs its own")
    if o.get("stream") and (o.get("encoding") or "utf-8").lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise AttnsightError(f"--stream reads UTF-8 only (polars' lazy scans), not {o['encoding']}: "
                             "convert the file, or read it without --stream")
    for kind in ("item", "user"):
        if o.get(f"{kind}_features") is None:
            given = next((role for role in ("text", "categorical", "tags", "numeric") if o.get(f"{kind}_{role}")), None)
            if given:
                raise AttnsightError(f"--{kind}-{given} needs --{kind}-features (the table holding that column)")


def load_inputs(options: Mapping[str, Any]) -> tuple[Interactions, CleaningConfig]:
    """The log `train` reads and how it cleans it, from its option values by name."""
    from attnsight.data.cleaning import CleaningConfig
    from attnsight.data.readers import read_interactions, scan_interactions

    o = options
    check_options(o)
    if o.get("stream"):
        interactions = scan_interactions(Path(o["data"]), o["format"], o["user_col"], o["item_col"], o["time_col"],
                                         o["rating_col"])
    else:
        interactions = read_interactions(Path(o["data"]), o["format"], o["user_col"], o["item_col"], o["time_col"],
                                         o["rating_col"], o["encoding"])
    cleaning = CleaningConfig(o["min_rating"], not o["keep_duplicates"], o["min_user_events"], o["min_item_events"],
                              o["min_len"])
    return interactions, cleaning


def read_side(options: Mapping[str, Any], kind: str):  # -> SideTable | None
    """The `kind` (item or user) side table `train` reads, with its columns by role; None without one."""
    from attnsight.data.side import SideSchema, read_side_table

    o = options
    path = o.get(f"{kind}_features")
    if path is None:
        return None
    roles = {role: names(o.get(f"{kind}_{role}")) for role in ("text", "categorical", "tags", "numeric")}
    if not any(roles.values()):
        raise AttnsightError(f"--{kind}-features {path}: name its columns by role with --{kind}-text, "
                             f"--{kind}-categorical, --{kind}-tags or --{kind}-numeric")
    return read_side_table(Path(path), SideSchema(o.get(f"{kind}_col") or kind, **roles))


def read_item_vectors(path: Optional[Path], id_col: str):  # -> Vectors | None
    from attnsight.data.side import read_vectors

    return None if path is None else read_vectors(Path(path), id_col)


def fit_model(inputs: tuple[Interactions, CleaningConfig], options: Mapping[str, Any], out: Optional[Path],
              callbacks: Sequence[Any]) -> SequentialRecommender:
    """The recommender `train` fits (and each `tune recsys` trial, with out=None), from option values by name."""
    from attnsight.recommender import SequentialRecommender

    o = options
    rec = SequentialRecommender(
        max_len=o["max_len"], dim=o["dim"], num_layers=o["layers"], num_heads=o["heads"], dropout=o["dropout"],
        epochs=o["epochs"], pretrain_epochs=o["pretrain_epochs"], batch_size=o["batch_size"], lr=o["lr"],
        lr_decay=o.get("lr_decay", False),
        negatives=o["negatives"], sampler=o["sampler"], windows=o["windows"], patience=o["patience"], time_budget=o["time_budget"],
        split=o["split"], device=o["device"], seed=o["seed"], resume=o["resume"],
        side_text=o.get("side_text") or "wordpiece", **run_dirs(out),
    )
    interactions, cleaning = inputs
    return rec.fit(interactions, cleaning, callbacks=callbacks, dataset=Path(o["data"]).name,
                   item_features=read_side(o, "item"),
                   item_vectors=read_item_vectors(o.get("item_vectors"), o["item_col"]),
                   user_features=read_side(o, "user"))


@app.command()
def train(
    ctx: typer.Context,
    data: Data,
    out: Annotated[Path, typer.Option(help="Folder for the bundle (created).")],
    config: ConfigFile = None,
    format: Format = "auto",
    user_col: UserCol = "user",
    item_col: ItemCol = "item",
    time_col: TimeCol = "timestamp",
    rating_col: RatingCol = "rating",
    encoding: Encoding = "utf-8",
    min_rating: MinRating = None,
    min_user_events: MinUserEvents = 1,
    min_item_events: MinItemEvents = 1,
    min_len: MinLen = 3,
    keep_duplicates: KeepDuplicates = False,
    stream: Annotated[bool, typer.Option(
        help="Read with polars lazy scans in bounded memory (a log larger than memory: uncompressed "
             "csv/tsv/jsonl/parquet, or a folder or glob of Parquet parts).")] = False,
    split: Split = "loo",
    max_len: Annotated[int, typer.Option(help="Longest history the model reads.")] = 200,
    dim: Annotated[int, typer.Option(help="Hidden size.")] = 64,
    layers: Annotated[int, typer.Option(help="Transformer blocks.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.2,
    epochs: Epochs = 200,
    pretrain_epochs: Annotated[int, typer.Option(help="Masked-item (cloze) pretraining epochs first.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch.")] = 128,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    lr_decay: Annotated[bool, typer.Option(help="Decay the learning rate linearly to 0 at the last of --epochs.")
                        ] = False,
    negatives: Annotated[int, typer.Option(help="0 = full softmax; N = sampled softmax with N negatives.")] = 0,
    sampler: Annotated[str, typer.Option(
        help="Negatives for --negatives N: uniform | log-uniform (by popularity) | in-batch; logQ-corrected.")
    ] = "uniform",
    windows: Annotated[bool, typer.Option(help="Train on every max-len window of longer histories.")] = False,
    patience: Annotated[int, typer.Option(help="Epochs without validation NDCG@10 gain before stopping.")] = 10,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds of training at most.")] = None,
    device: Device = "auto",
    seed: Seed = 42,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoints in OUT/checkpoints.")] = False,
    item_features: ItemFeatures = None,
    item_text: Text = None,
    item_categorical: Categorical = None,
    item_tags: Tags = None,
    item_numeric: Numeric = None,
    item_vectors: ItemVectors = None,
    user_features: UserFeatures = None,
    user_text: Text = None,
    user_categorical: Categorical = None,
    user_tags: Tags = None,
    user_numeric: Numeric = None,
    side_text: SideText = "wordpiece",
    json_out: Json = False,
) -> None:
    """Train a recommender from a behaviour log and write a bundle to OUT; with side features,
    items (and users) are fused from their id and what the tables say about them."""
    check_ranges(ctx.params, "recsys")
    inputs = load_inputs(ctx.params)  # every option by name, as `tune recsys` builds its trials
    # the default column may be absent (timestamps are used when present), a named one may not; by the
    # source's name, as Typer may bring its own copy of click
    if ctx.get_parameter_source("time_col").name != "DEFAULT" and "timestamp" not in inputs[0].frame.columns:
        raise AttnsightError(f"{data}: no column {time_col!r} (--time-col)")
    if not json_out:
        console.print(f"read {len(inputs[0]):,} events from {data}")
    rec = fit_model(inputs, ctx.params, out, progress(json_out))
    rec.save_pretrained(out)
    if json_out:
        print_json(rec.metrics_)
        return
    console.print(cleaning_table(rec.metrics_["cleaning"]))
    console.print(metrics_table(f"Test ({rec.metrics_['protocol']['split']}, full ranking, seen items excluded)",
                                _result_rows(rec.metrics_, "test")))
    if rec.metrics_.get("side"):
        console.print(_side_summary(rec.metrics_["side"]))
    console.print(f"bundle written to {out} ({rec.metrics_['epochs']} epochs, "
                  f"{rec.metrics_['train_seconds']:.0f} s, stopped by {rec.metrics_['stopped_by']})")


def _side_summary(side: dict[str, Any]) -> str:
    """How the side data matched: every mismatch counted, none dropped silently."""
    lines = []
    tables = (("item", side.get("table")), ("item vector", side.get("vectors")), ("user", side.get("users")))
    for kind, report in tables:
        if report:
            repeated = f", {report['repeated']:,} rows repeating an id (the first kept)" if report.get("repeated") else ""
            lines.append(f"{kind} side data {report['source']}: {report['matched']:,} matched, {report['unknown']:,} "
                         f"rows for ids not in the log, {report['missing']:,} ids without a row{repeated}")
    if side.get("features"):
        lines.append(f"item features: {', '.join(dict.fromkeys(side['features']))}; "
                     f"{side['items_without_id']:,} items never in training, represented by features alone")
    return "\n".join(lines)


@app.command("add-items")
def add_items(
    model: ModelDir,
    item_features: ItemFeatures = None,
    item_vectors: ItemVectors = None,
    item_col: ItemCol = "item",
    json_out: Json = False,
) -> None:
    """Add new items, known only by their features, to a bundle trained with item features (written
    back in place): they are recommended, have an audience and similar items at once."""
    from attnsight.data.side import read_side_table

    rec = _load(model, "cpu")
    if rec.item_space_ is None:
        raise AttnsightError(f"{model} was trained without item features: it cannot represent new items")
    table = None if item_features is None else read_side_table(item_features, dataclasses.replace(
        rec.item_space_.schema, id=item_col), scale=rec.item_space_.numeric_stats)
    result = rec.add_items(table, read_item_vectors(item_vectors, item_col))
    rec.save_pretrained(model)
    _print_added({**result, "repeated": table.repeated if table is not None else 0}, "items", json_out)


@app.command("add-users")
def add_users(
    model: ModelDir,
    user_features: Annotated[Path, typer.Option(help="User table with the columns the bundle was trained on.")],
    user_col: UserCol = "user",
    json_out: Json = False,
) -> None:
    """Add new users, known only by their features, to a bundle trained with user features (written
    back in place): `recsys recommend --user` serves them from their profile alone."""
    from attnsight.data.side import read_side_table

    rec = _load(model, "cpu")
    if rec.user_space_ is None:
        raise AttnsightError(f"{model} was trained without user features: it cannot represent users by them")
    table = read_side_table(user_features, dataclasses.replace(rec.user_space_.schema, id=user_col),
                            scale=rec.user_space_.numeric_stats)
    result = rec.add_users(table)
    rec.save_pretrained(model)
    _print_added({**result, "repeated": table.repeated}, "users", json_out)


def _print_added(result: dict[str, Any], kind: str, json_out: bool) -> None:
    if json_out:
        print_json(result)
        return
    console.print(f"added {result['added']:,} {kind} ({result['already_known']:,} already known); "
                  f"{result[kind]:,} {kind} now")
    if result["repeated"]:
        console.print(f"{result['repeated']:,} row(s) repeated an id of the table: the first row of each id was used",
                      style="yellow")
    for key, what in (("without_row", "no row in --item-features"), ("without_vector", "no vector in --item-vectors")):
        if result.get(key):
            console.print(f"{result[key]:,} new {kind} had {what}: those features are missing", style="yellow")


@app.command()
def evaluate(
    model: ModelDir,
    split: Annotated[Optional[str], typer.Option(help="Protocol to re-run; defaults to the one trained with.")] = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Re-run the test protocol on the bundle's histories, beside the popularity baseline."""
    check_options({"split": split})
    rec = _load(model, device)
    if (split or rec.split) == "temporal" and rec.sequences_.timestamps is None:
        raise AttnsightError(f"{model} was trained on a log without timestamps: the temporal split needs them; "
                             f"use --split loo")
    result = rec.evaluate(split)
    if json_out:
        print_json(result)
        return
    rows = {"attnsight SASRec": result["test"], "popularity": result["popularity"]}
    console.print(metrics_table(f"Test ({split or rec.split}, full ranking, seen items excluded)", rows))


@app.command()
def recommend(
    model: ModelDir,
    user: Annotated[Optional[str], typer.Option(help="A user id known to the bundle.")] = None,
    history: Annotated[Optional[str], typer.Option(help='Item ids, oldest first: "i1 i2 i3" (a session).')] = None,
    k: Annotated[int, typer.Option(min=1, help="How many items.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Allow items already in the history.")] = False,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Top-k next items for a user or a session, each with the history items that drove it."""
    if (user is None) == (history is None):
        raise AttnsightError("give exactly one of --user or --history")
    rec = _load(model, device)
    result = rec.recommend(user=user, history=history.split() if history else None, k=k,
                           exclude_seen=not include_seen)
    if json_out:
        print_json({"user": user, **dataclasses.asdict(result)})
        return
    info = rec.item_info_
    from rich.table import Table

    table = Table(title=f"Recommendations for {'user ' + user if user else 'the session'}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("score", justify="right")
    table.add_column("because of (attention)")
    for rank, r in enumerate(result.items, start=1):
        table.add_row(str(rank), item_label(r.item, info), f"{r.score:.2f}", because_text(r, info))
    console.print(table if result.items else "nothing left to recommend: the history holds every item "
                                             "(--include-seen recommends among them)")
    if user is not None and not result.history:
        console.print(f"user {user} has no history yet: recommended from their profile (user features) alone")
    if result.unknown_items:
        console.print(f"{result.unknown_items} history item(s) not in the catalogue were skipped", style="yellow")


@app.command()
def audience(
    model: ModelDir,
    item: Annotated[str, typer.Option(help="The item (or campaign) to find an audience for.")],
    k: Annotated[int, typer.Option(min=1, help="How many users.")] = 100,
    include_seen: Annotated[bool, typer.Option(help="Keep users who already have the item.")] = False,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """The users most likely to engage with ITEM next."""
    rec = _load(model, device)
    users = rec.audience(item, k=k, exclude_seen=not include_seen)
    if json_out:
        print_json({"item": item, "audience": [{"user": u, "score": s} for u, s in users]})
        return
    from rich.table import Table

    table = Table(title=f"Audience for {item_label(item, rec.item_info_)}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("user")
    table.add_column("score", justify="right")
    for rank, (u, s) in enumerate(users, start=1):
        table.add_row(str(rank), u, f"{s:.2f}")
    console.print(table)


@app.command()
def segments(
    model: ModelDir,
    k: Annotated[Optional[int], typer.Option(help="Number of segments (default: chosen by silhouette, 2-10).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Items and categories shown per segment.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed of k-means (and of the users sampled for --windows).")] = 0,
    windows: Annotated[Optional[int], typer.Option(
        help="Also show how each segment's attention shifts over this many time windows of equal event counts.")
    ] = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Audience segments: users clustered by what their predictions attend to, and what sets each apart."""
    rec = _load(model, device)
    if k is not None and not 1 <= k <= len(rec.sequences_):
        raise AttnsightError(f"--k must be between 1 and the number of users ({len(rec.sequences_)}), not {k}")
    if windows is not None and windows < 1:
        raise AttnsightError(f"--windows must be at least 1, not {windows}")
    result = rec.segments(k=k, top=top, seed=seed)
    trends = rec.trends(result.labels, windows=windows, top=top, seed=seed) if windows is not None else None
    if json_out:
        out = dataclasses.asdict(result)
        out["labels"] = dict(zip(rec.sequences_.users, result.labels))  # user → segment, for targeting
        if trends is not None:
            out["trends"] = dataclasses.asdict(trends)
        print_json(out)
        return
    from rich.table import Table

    chosen = "chosen by silhouette" if result.silhouettes else "given"
    table = Table(title=f"{result.k} segments of {len(rec.sequences_):,} users (k {chosen}; silhouette "
                        f"{result.silhouette:.3f})", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("users", justify="right")
    table.add_column("attends to (lift vs all users)")
    table.add_column("most distinctive items (lift)")
    for s in result.segments:
        focus = s.categories or s.items
        table.add_row(
            str(s.segment), f"{s.users:,}\n{s.share:.0%}",
            "\n".join(f"{a.name} {a.attention:.0%} (×{a.lift:.1f})" for a in focus),
            "\n".join(f"{item_label(a.name, rec.item_info_)} ×{a.lift:.1f}" for a in s.distinctive),
        )
    console.print(table)
    if trends is None:
        return
    sampled = trends.windows[-1].users
    console.print(f"\nAttention by {trends.by} over {len(trends.windows)} windows of equal event counts: at each "
                  f"window's end, the prediction of each of {sampled:,} sampled users from their history up to then")
    for trend in trends.segments:
        console.print(_trend_table(trend, trends, rec.item_info_))


def _trend_table(trend: SegmentTrend, trends: Trends, info: dict[str, dict[str, str]]) -> Table:
    """One segment: its share of attention per category (or item) at the end of each window."""
    from rich.table import Table

    def name(x: str) -> str:
        return item_label(x, info) if trends.by == "item" else x

    moves = [f"{word} {name(m.name)} {m.start:.1%} → {m.end:.1%} ({100 * m.change:+.1f} pts)"
             for word, m in (("rising:", trend.riser), ("falling:", trend.faller)) if m is not None]
    caption = "; ".join(moves) or (None if any(trend.users) else "none of its users among those sampled")
    table = Table(title=f"Segment {trend.segment}", title_justify="left", caption=caption, caption_justify="left")
    table.add_column(trends.by)
    for window in trends.windows:
        table.add_column(f"to {window.end}", justify="right")
    table.add_column("change", justify="right")
    table.add_row("members", *(f"{n:,}" for n in trend.users), "", style="dim")
    for label, shares in trend.shares.items():
        known = [x for x in shares if x is not None]
        table.add_row(name(label), *("–" if x is None else f"{x:.1%}" for x in shares),
                      f"{100 * (known[-1] - known[0]):+.1f} pts")
    return table


@app.command()
def influence(
    model: ModelDir,
    top: Annotated[int, typer.Option(help="Pairs shown (per list with --item).")] = 10,
    users: Annotated[int, typer.Option(help="Known users sampled; their top-k recommendations are read.")] = 1000,
    k: Annotated[int, typer.Option(help="Recommendations per user.")] = 10,
    min_count: Annotated[int, typer.Option(help="Fewest recommendations behind a pair shown.")] = 3,
    item: Annotated[Optional[str], typer.Option(help="Show what this item drives and what drives it.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the user sample.")] = 0,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Item influence: which history items most often drive the recommendation of which others."""
    for option, value in (("--top", top), ("--users", users), ("--k", k), ("--min-count", min_count)):
        if value < 1:
            raise AttnsightError(f"{option} must be at least 1, not {value}")
    rec = _load(model, device)
    if item is not None and item not in rec.item_vocab_:
        raise AttnsightError(f"unknown item {item!r}")
    from attnsight.explain.influence import ItemInfluence

    result = rec.influence(users=users, k=k, top=top, min_count=min_count, seed=seed)
    found = result.items.get(item, ItemInfluence(item)) if item is not None else None
    if json_out:  # what the tables show; every item's lists are in the Python result
        print_json(found or {"users": result.users, "recommendations": result.recommendations,
                             "pairs": result.pairs})
        return
    info = rec.item_info_
    shown = min(k, len(rec.item_vocab_))  # a k beyond the catalogue recommends all of it
    scope = f"{result.recommendations:,} recommendations (top {shown}) to {result.users:,} sampled users"
    if found is None:
        _print_pairs(f"What drives recommendations: {scope}", result.pairs, info)
        return
    _print_pairs(f"What {item_label(item, info)} drives: {scope}", found.drives, info)
    _print_pairs(f"What drives {item_label(item, info)}", found.driven_by, info)


def _print_pairs(title: str, pairs: Sequence[Pair], info: dict[str, dict[str, str]]) -> None:
    """Driver → recommended item, strongest first."""
    from rich.table import Table

    if not pairs:
        console.print(f"{title}: no pair behind enough recommendations (--min-count) with a lift over 1")
        return
    table = Table(title=title, title_justify="left", caption_justify="left",
                  caption="users: who had the driver and got the item; attention: its mean on the driver; share: "
                          "of the attention behind the item's recommendations; lift: that share over the driver's "
                          "share of all of it")
    table.add_column("#", justify="right")
    table.add_column("driver (in the history)")
    table.add_column("recommended")
    table.add_column("users", justify="right")
    table.add_column("attention", justify="right")
    table.add_column("share", justify="right")
    table.add_column("lift", justify="right")
    for rank, p in enumerate(pairs, start=1):
        table.add_row(str(rank), item_label(p.source, info), item_label(p.target, info), f"{p.count:,}",
                      f"{p.mean:.2f}", f"{p.share:.1%}", f"×{p.lift:.1f}")
    console.print(table)
