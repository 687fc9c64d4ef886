"""Audience segments: users clustered by their attention-based representations, each described by
what its members attend to, and how that differs from the whole audience; and trends: how each
segment's attention shifts from one time window to the next.

Pure functions over arrays: the recommender supplies each user's representation (the hidden
state that scores their next item) and the rolled-out attention of that prediction over the
items of their history (for trends, of their history up to each window's end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from attnsight.errors import ConfigError

_EPOCH_SECONDS = (1e8, 1e10)  # timestamps in this range (1973 to 2286) read as epoch seconds


@dataclass
class Attended:
    """An item or category in a segment: the share of the segment's attention it gets, and its lift
    (that share over the whole audience's share: 2.0 = twice as much attention as on average)."""

    name: str
    attention: float
    lift: float


@dataclass
class Segment:
    segment: int
    users: int
    share: float  # of the audience
    items: list[Attended]  # most attended first
    categories: list[Attended]  # most attended first (empty without item categories)
    distinctive: list[Attended]  # highest lift among items at least `min_share` of the segment attends to
    examples: list[str]  # a few member user ids, the closest to the centre first


@dataclass
class Segmentation:
    k: int
    silhouette: float  # of the chosen k, on the users it was measured on
    silhouettes: dict[int, float] = field(default_factory=dict)  # every k tried, when k was chosen
    segments: list[Segment] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # each user's segment number, in the order users were given


@dataclass
class Window:
    start: str
    end: str
    users: int  # users with events by its end: those whose attention it shows


@dataclass
class Shift:
    """A category's (or item's) share of a segment's attention in its first and last window."""

    name: str
    start: float
    end: float
    change: float  # end - start, in share points


@dataclass
class SegmentTrend:
    segment: int
    users: list[int]  # members with events by each window's end
    shares: dict[str, list[float | None]]  # most attended overall first: share per window (None: no members yet)
    riser: Shift | None  # the biggest gain from first to last window, if any
    faller: Shift | None  # the biggest loss, if any


@dataclass
class Trends:
    by: str  # "category", or "item" without item categories
    windows: list[Window]
    segments: list[SegmentTrend]


def choose_k(vectors: np.ndarray, ks: Sequence[int] = range(2, 11), sample: int = 5000,
             seed: int = 0) -> tuple[int, dict[int, float]]:
    """The k of k-means with the highest silhouette (on a sample of at most `sample` users)."""
    ks = [k for k in ks if 2 <= k < len(vectors)]
    if not ks:
        raise ConfigError(f"too few users ({len(vectors)}) to compare segmentations (k-means needs 3 or more)")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), min(sample, len(vectors)), replace=False)
    scores = {}
    for k in ks:
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(vectors[rows])
        scores[k] = float(silhouette_score(vectors[rows], labels)) if len(set(labels)) > 1 else -1.0
    return max(scores, key=scores.get), scores


def segment_users(
    vectors: np.ndarray,
    attention: sparse.csr_matrix,
    users: Sequence[str],
    items: Sequence[str],
    categories: Sequence[str | None] | None = None,
    k: int | None = None,
    top: int = 5,
    min_share: float = 0.01,
    seed: int = 0,
) -> Segmentation:
    """Cluster users (rows of `vectors`, L2-normalised first: the direction is what ranks items) with
    k-means, k chosen by silhouette when not given, and describe each cluster.

    attention (U, V): each user's attention over item columns (rows sum to 1); categories (V,): each
    item's category or None.
    """
    units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    silhouettes: dict[int, float] = {}
    if k is None:
        k, silhouettes = choose_k(units, seed=seed)
    if not 1 <= k <= len(units):
        raise ConfigError(f"k must be between 1 and the number of users ({len(units)}), not {k}")
    model = KMeans(k, n_init=10, random_state=seed).fit(units)
    labels = model.labels_
    silhouette = silhouettes.get(k)
    if silhouette is None:
        silhouette = float(silhouette_score(units, labels)) if 1 < k < len(units) else float("nan")
    overall = _shares(attention)
    cat_matrix = _category_matrix(categories) if categories is not None else None
    overall_cat = overall @ cat_matrix[0] if cat_matrix is not None else None
    segments = []
    number = np.zeros(k, dtype=int)  # k-means cluster → segment number
    for c in np.argsort(-np.bincount(labels, minlength=k), kind="stable"):  # largest first
        number[c] = len(segments) + 1
        members = np.flatnonzero(labels == c)
        share = _shares(attention[members])
        lift = np.divide(share, overall, out=np.zeros_like(share), where=overall > 0)
        most = [i for i in np.argsort(-share, kind="stable")[:top] if share[i] > 0]
        frequent = np.flatnonzero(share >= min_share)
        distinctive = frequent[np.argsort(-lift[frequent], kind="stable")[:top]]
        cats: list[Attended] = []
        if cat_matrix is not None:
            cat_share = share @ cat_matrix[0]
            cat_lift = np.divide(cat_share, overall_cat, out=np.zeros_like(cat_share), where=overall_cat > 0)
            cats = [Attended(cat_matrix[1][j], float(cat_share[j]), float(cat_lift[j]))
                    for j in np.argsort(-cat_share, kind="stable")[:top] if cat_share[j] > 0]
        closest = members[np.argsort(np.linalg.norm(units[members] - model.cluster_centers_[c], axis=1))[:3]]
        segments.append(Segment(
            segment=len(segments) + 1,
            users=len(members),
            share=len(members) / len(units),
            items=[Attended(items[i], float(share[i]), float(lift[i])) for i in most],
            categories=cats,
            distinctive=[Attended(items[i], float(share[i]), float(lift[i])) for i in distinctive],
            examples=[users[u] for u in closest],
        ))
    return Segmentation(k, silhouette, silhouettes, segments, number[labels].tolist())


def time_windows(times: np.ndarray, windows: int) -> np.ndarray:
    """(W + 1,) boundaries of `windows` consecutive windows holding equal numbers of events: the first
    time, then the w/W quantiles of the event times (actual event times, never interpolated)."""
    if windows < 1:
        raise ValueError(f"windows must be at least 1, not {windows}")
    # events sharing a time cannot be parted, so more windows than distinct times, or a quantile
    # that falls inside a run of tied times twice, would repeat a window with no events of its own
    # (each one a full pass over the users)
    ends = _ends(times, windows)
    if len(np.unique(ends)) < windows:
        most = min(windows - 1, len(np.unique(times)))
        fits = next(w for w in range(most, 0, -1) if len(np.unique(_ends(times, w))) == w)
        raise ConfigError(f"{windows} windows of equal event counts cannot be cut: too many events share a time "
                          f"for some boundaries to differ; ask for at most {fits} windows")
    return np.concatenate([[times.min()], ends])


def _ends(times: np.ndarray, windows: int) -> np.ndarray:
    return np.quantile(times, np.arange(1, windows + 1) / windows, method="inverted_cdf")


def bound_labels(bounds: np.ndarray, clock: Literal["time", "position"]) -> list[str]:
    """Window boundaries as shown: UTC dates for epoch seconds (date-times where dates repeat), the
    share of each user's history for positions, the numbers otherwise."""
    if clock == "position":
        return [f"{b:.0%} of history" for b in bounds]
    if _EPOCH_SECONDS[0] <= bounds.min() and bounds.max() < _EPOCH_SECONDS[1]:
        when = [datetime.fromtimestamp(int(b), tz=timezone.utc) for b in bounds]
        dates = [w.strftime("%Y-%m-%d") for w in when]
        return dates if len(set(dates)) == len(dates) else [w.strftime("%Y-%m-%d %H:%M") for w in when]
    return [str(b) for b in bounds]


def segment_trends(
    attention: Sequence[sparse.csr_matrix],
    labels: Sequence[np.ndarray],
    bounds: Sequence[str],
    items: Sequence[str],
    categories: Sequence[str | None] | None = None,
    top: int = 5,
    segments: Sequence[int] | None = None,
) -> Trends:
    """Each segment's share of attention per category (per item without categories) in each window;
    `segments`: those to report (default: those among the labels), one with no user read has none.

    attention[w] (N_w, V): the attention of each user's prediction from their history up to the end
    of window w, over item columns (rows sum to 1; users with no events by then left out);
    labels[w] (N_w,): those users' segments; bounds (W + 1,): the window boundaries as shown.
    """
    if not len(attention) == len(labels) == len(bounds) - 1:
        raise ValueError(f"{len(attention)} attention matrices and {len(labels)} label arrays for "
                         f"{len(bounds) - 1} windows")
    to_names, names = _category_matrix(categories) if categories is not None else (None, list(items))
    windows = [Window(bounds[w], bounds[w + 1], len(labels[w])) for w in range(len(attention))]
    result = []
    if segments is None:
        segments = sorted(set(np.concatenate([np.asarray(x) for x in labels]).tolist()))
    for segment in segments:
        shares = np.full((len(windows), len(names)), np.nan)  # NaN: no members in that window yet
        users = []
        for w, (matrix, members) in enumerate(zip(attention, labels)):
            rows = np.flatnonzero(np.asarray(members) == segment)
            users.append(len(rows))
            if len(rows):
                share = _shares(matrix[rows])
                shares[w] = share @ to_names if to_names is not None else share
        present = np.flatnonzero(users)
        if not len(present):  # none of its members among the users read (a sample of a large audience)
            result.append(SegmentTrend(segment=segment, users=users, shares={}, riser=None, faller=None))
            continue
        first, last = shares[present[0]], shares[present[-1]]
        change = last - first
        riser, faller = (Shift(names[j], float(first[j]), float(last[j]), float(change[j]))
                         for j in (np.argmax(change), np.argmin(change)))
        mean = np.nanmean(shares[present], axis=0)
        shown = [j for j in np.argsort(-mean, kind="stable")[:top] if mean[j] > 0]
        result.append(SegmentTrend(
            segment=segment,
            users=users,
            shares={names[j]: [None if np.isnan(x) else float(x) for x in shares[:, j]] for j in shown},
            riser=riser if riser.change > 0 else None,
            faller=faller if faller.change < 0 else None,
        ))
    return Trends("category" if to_names is not None else "item", windows, result)


def _shares(attention: sparse.csr_matrix) -> np.ndarray:
    """(V,) each item's share of these users' attention (each user counts once)."""
    totals = np.asarray(attention.sum(axis=0)).ravel()
    return totals / max(attention.shape[0], 1)


def _category_matrix(categories: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """(V, C) one-hot item → category, and the category names; items without one map to none."""
    names = sorted({c for c in categories if c is not None})
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(categories), len(names)))
    for i, c in enumerate(categories):
        if c is not None:
            matrix[i, index[c]] = 1.0
    return matrix, names
