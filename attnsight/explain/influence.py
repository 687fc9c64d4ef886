"""Item influence: which history items drive the recommendation of which others, from the attention
of many users' predictions.

Pure functions over arrays: the recommender supplies, for a sample of users, the rolled-out
attention of each prediction over the items of their history and the top-k items it recommends.
A user's attention is shared by its k recommendations (one prediction scores them all), so the
influence of history item s on recommended item t sums, over the users who got t, the attention
their prediction gave s. Popular items are behind many recommendations whatever they are, so a
pair is judged against what the two items' popularity alone predicts (its lift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


@dataclass
class Pair:
    """People whose history holds `source` get `target` recommended, because of `source` this much."""

    source: str  # the history item (the driver)
    target: str  # the recommended item
    count: int  # recommendations of target to users whose prediction read source (one per user)
    attention: float  # their predictions' attention on source, summed
    mean: float  # attention / count: how much each of those recommendations rests on source
    share: float  # of all the attention behind target's recommendations, the part on source
    lift: float  # share over source's share of the attention behind all recommendations (1 = no more than usual)


@dataclass
class ItemInfluence:
    item: str
    drives: list[Pair] = field(default_factory=list)  # the items it pushes, strongest first
    driven_by: list[Pair] = field(default_factory=list)  # the items that push it, strongest first


@dataclass
class Influence:
    """Pairs ranked by attention beyond what popularity predicts: attention × (1 − 1/lift)."""

    users: int
    recommendations: int
    pairs: list[Pair]  # the strongest overall
    items: dict[str, ItemInfluence]  # every item in a pair that passed, by id


def item_influence(
    attention: sparse.csr_matrix,
    recommended: np.ndarray,
    items: Sequence[str],
    top: int = 10,
    min_count: int = 3,
) -> Influence:
    """Aggregate source → target influence over users.

    attention (U, V): each user's prediction's attention over the item columns it read (rows sum to
    1; a stored entry for every item read, zero or not); recommended (U, k): the columns of each
    user's top-k items, -1 where there were fewer. Only pairs behind at least `min_count`
    recommendations and with more attention than popularity predicts (lift > 1) are reported: the
    `top` strongest overall, and per item the `top` it drives and is driven by.
    """
    users, num_items = attention.shape
    if recommended.shape[0] != users:
        raise ValueError(f"{recommended.shape[0]} rows of recommendations for {users} users")
    user, column = np.nonzero(recommended >= 0)
    got = sparse.csr_matrix((np.ones(len(user)), (user, recommended[user, column])), (users, num_items))
    read = attention.copy()
    read.data[:] = 1.0
    weight = (attention.T @ got).tocsr()  # (V, V) source × target: summed attention
    count = (read.T @ got).tocoo()  # (V, V): how many recommendations; its pattern holds every pair
    source, target = count.row, count.col
    summed = np.asarray(weight[source, target]).ravel()
    # each recommendation carries its user's attention, 1 in all: totals per source, per target, overall
    by_source = np.asarray(weight.sum(axis=1)).ravel()
    by_target = np.asarray(weight.sum(axis=0)).ravel()
    total = by_source.sum()
    expected = by_source[source] * by_target[target] / max(total, 1e-12)  # were source and target independent
    excess = summed - expected
    keep = np.flatnonzero((count.data >= min_count) & (excess > 1e-9 * total))  # beyond float rounding
    keep = keep[np.argsort(-excess[keep], kind="stable")]
    pairs = []
    for j in keep:
        s, t = source[j], target[j]
        share = summed[j] / by_target[t]
        pairs.append(Pair(items[s], items[t], int(count.data[j]), float(summed[j]), float(summed[j] / count.data[j]),
                          float(share), float(share * total / by_source[s])))
    per_item: dict[str, ItemInfluence] = {}
    for pair in pairs:  # strongest first, so each list comes out ranked
        drives = per_item.setdefault(pair.source, ItemInfluence(pair.source)).drives
        driven_by = per_item.setdefault(pair.target, ItemInfluence(pair.target)).driven_by
        if len(drives) < top:
            drives.append(pair)
        if len(driven_by) < top:
            driven_by.append(pair)
    return Influence(users, len(user), pairs[:top], per_item)
