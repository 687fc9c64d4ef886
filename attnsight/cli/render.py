"""Rich tables for what the commands print, and the JSON they print with --json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsight.files import json_text

# markup off: paths, ids, titles and texts from the user's data print as they are, brackets and all
console = Console(markup=False)
METRIC_ORDER = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10")


def progress(json_out: bool) -> list[Any]:
    """Training callbacks for a command: a progress bar, or silence when the output is JSON."""
    import logging

    from attnsight.train.callbacks import RichProgress

    if json_out:
        logging.getLogger("attnsight").setLevel(logging.WARNING)
        return []
    return [RichProgress()]


def print_json(payload: Any) -> None:
    """Machine output: plain JSON on stdout, nothing else (`json_text`: NaN prints as null)."""
    print(json_text(payload))


def cleaning_table(report: dict[str, int]) -> Table:
    table = Table(title="Cleaning", show_header=False, title_justify="left")
    labels = {
        "rows_in": "events read",
        "below_min_rating": "below --min-rating",
        "duplicates": "duplicate events",
        "dropped_by_user_filter": "events of users under the minimum",
        "dropped_by_item_filter": "events of items under the minimum",
        "kcore_rounds": "k-core rounds",
        "rows_out": "events kept",
        "users_out": "users",
        "items_out": "items",
    }
    for key, label in labels.items():
        table.add_row(label, f"{report.get(key, 0):,}")
    return table


def metrics_table(title: str, rows: dict[str, dict[str, float]], columns: Sequence[str] = METRIC_ORDER) -> Table:
    """One row per model (ours, baselines), one column per metric."""
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    for metric in columns:
        table.add_column(metric.upper().replace("_", " "), justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics.get(m, float('nan')):.4f}" for m in columns))
    return table


def item_label(item: str, info: dict[str, dict[str, str]]) -> str:
    fields = info.get(item, {})
    title = fields.get("title")
    category = fields.get("category")
    label = f"{item} {title}" if title else item
    return f"{label} ({category})" if category else label


def because_text(recommendation: Any, info: dict[str, dict[str, str]]) -> str:
    """A `Recommendation`'s reasons: the history items it attended to (with their attention), and
    the side features it shares with them ("genres Sci-Fi (3)"), by its fusion attention."""
    text = ", ".join(f"{item_label(e.item, info)} {e.attention:.2f}" for e in recommendation.because)
    if recommendation.features:
        text += "; sharing " + ", ".join(f"{f.feature} {f.value} ({f.shared})" for f in recommendation.features)
    return text
