"""Audience segments: users clustered by their attention-based representations, each described by
what its members attend to, and how that differs from the whole audience.

Pure functions over arrays: the recommender supplies each user's representation (the hidden
state that scores their next item) and the rolled-out attention of that prediction over the
items of their history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score


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


def choose_k(vectors: np.ndarray, ks: Sequence[int] = range(2, 11), sample: int = 5000,
             seed: int = 0) -> tuple[int, dict[int, float]]:
    """The k of k-means with the highest silhouette (on a sample of at most `sample` users)."""
    ks = [k for k in ks if 2 <= k < len(vectors)]
    if not ks:
        raise ValueError(f"too few users ({len(vectors)}) to compare segmentations")
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
        raise ValueError(f"k must be between 1 and the number of users ({len(units)}), not {k}")
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
