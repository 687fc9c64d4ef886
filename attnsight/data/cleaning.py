"""Cleaning a behaviour log, with a report of everything removed and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import polars as pl

from attnsight.data.readers import Interactions
from attnsight.errors import DataError


@dataclass
class CleaningConfig:
    min_rating: float | None = None  # explicit → implicit: keep events rated at least this
    dedupe: bool = True  # drop repeated events (same user, item and time; consecutive repeats without time)
    min_user_events: int = 1  # k-core: users need at least this many events
    min_item_events: int = 1  # k-core: items need at least this many events
    min_seq_len: int = 3  # users need this many events to give a train, a valid and a test item


@dataclass
class CleaningReport:
    rows_in: int = 0
    below_min_rating: int = 0
    duplicates: int = 0
    kcore_rounds: int = 0
    dropped_by_user_filter: int = 0  # rows of users under min_user_events / min_seq_len
    dropped_by_item_filter: int = 0  # rows of items under min_item_events
    rows_out: int = 0
    users_out: int = 0
    items_out: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def clean_interactions(
    interactions: Interactions, config: CleaningConfig | None = None
) -> tuple[Interactions, CleaningReport]:
    """Apply the rating threshold, de-duplication and k-core filtering (to a fixed point)."""
    config = config or CleaningConfig()
    frame = interactions.frame.with_row_index("_row")
    report = CleaningReport(rows_in=frame.height)

    if config.min_rating is not None:
        if not interactions.has_rating:
            raise DataError(interactions.source, "--min-rating given but the data has no rating column")
        kept = frame.filter(pl.col("rating") >= config.min_rating)
        report.below_min_rating = frame.height - kept.height
        frame = kept

    if config.dedupe:
        if interactions.has_timestamp:
            # a sort and a comparison with the previous row: a hash-based unique() takes ~14
            # bytes of memory per event more, which a log of 50M events cannot spare
            key = ["user", "item", "timestamp"]
            repeat = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in key).fill_null(False)
            kept = frame.lazy().sort([*key, "_row"]).filter(~repeat).sort("_row").collect()
        else:
            repeat = pl.col("item") == pl.col("item").shift(1).over("user")
            kept = frame.filter(~repeat.fill_null(False))
        report.duplicates = frame.height - kept.height
        frame = kept

    min_user = max(config.min_user_events, config.min_seq_len)
    while True:
        report.kcore_rounds += 1
        before = frame.height
        frame = frame.filter(pl.len().over("user") >= min_user)
        report.dropped_by_user_filter += before - frame.height
        middle = frame.height
        frame = frame.filter(pl.len().over("item") >= config.min_item_events)
        report.dropped_by_item_filter += middle - frame.height
        if frame.height == before:
            break

    if frame.height == 0:
        raise DataError(interactions.source, f"no events left after cleaning; lower --min-len ({config.min_seq_len}), "
                                             f"--min-user-events ({config.min_user_events}) or --min-item-events "
                                             f"({config.min_item_events})")
    report.rows_out = frame.height
    report.users_out = frame["user"].n_unique()
    report.items_out = frame["item"].n_unique()
    return replace(interactions, frame=frame.sort("_row").drop("_row")), report
