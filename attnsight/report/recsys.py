"""The recommender's own parts: example users' recommendations with the history that drove them,
and the audience segments. Each part is a function (bundle, seed) -> Part and PARTS lists them in
report order, so another analysis of the recommender is one more function in that tuple."""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from attnsight.explain.segments import Segment
from attnsight.recommender import RecommendResult, SequentialRecommender
from attnsight.report import figures
from attnsight.report.blocks import Figure, Note, Paragraph, Part, Table
from attnsight.report.bundles import Bundle
from attnsight.report.common import dim

EXAMPLE_USERS, K, RECENT = 3, 5, 8  # users shown, items recommended to each, latest history items in the heatmap
MAP_USERS = 2000  # points drawn on the segment map: more only blur it and grow the page


def _name(rec: SequentialRecommender, item: str) -> str:
    return rec.item_info_.get(item, {}).get("title") or item


def _cell(rec: SequentialRecommender, item: str) -> Markup:
    """An item as a table cell: its title, then its id and category in grey."""
    category = rec.item_info_.get(item, {}).get("category")
    title = rec.item_info_.get(item, {}).get("title")
    return dim(title, f"{item} · {category}" if category else item) if title else dim(item, category or "")


def _drivers(rec: SequentialRecommender, result: RecommendResult, user: str) -> Figure:
    """The heatmap of which history items drove which recommendation, for the latest RECENT items
    and every older one that drove something."""
    history, attention = result.history, result.attention
    driving: list[set[int]] = []
    for r in result.items:  # an evidence item's position: its most attended occurrence (the one `because` lists)
        driving.append({max((j for j, h in enumerate(history) if h == e.item), key=lambda j: attention[j])
                        for e in r.because})
    rows = sorted(set(range(max(0, len(history) - RECENT), len(history))).union(*driving))
    cells = np.full((len(rows), len(result.items)), np.nan)
    for c, positions in enumerate(driving):
        for r, j in enumerate(rows):
            if j in positions:
                cells[r, c] = attention[j]
    labels = [f"{j - len(history)}: {_name(rec, history[j])}" for j in rows]
    svg = figures.drivers_heatmap(labels, [_name(rec, r.item) for r in result.items], cells,
                                  [attention[j] for j in rows], f"User {user}: which history items drove each "
                                                                "recommendation")
    return Figure(svg, f"Rows: user {user}'s history items read by the model (-1 = the latest). Left column: the "
                       "share of the prediction's attention each received; right: that share again where the item "
                       "is among the reasons given for the recommendation in that column.")


def recommendations_part(bundle: Bundle, seed: int) -> Part:
    rec: SequentialRecommender = bundle.predictor
    part = Part("Recommendations and the history that drove them")
    part.blocks.append(Paragraph(
        f"The top {K} items for the bundle's first {EXAMPLE_USERS} users, items they already have left out. Each "
        "comes with the history items that drove it: those the prediction attended to (attention rolled out over "
        "the layers), the ones most similar to the recommended item first."))
    for user in rec.sequences_.users[:EXAMPLE_USERS]:
        result = rec.recommend(user=user, k=K)
        recent = ", ".join(_name(rec, i) for i in result.history[-5:])
        part.blocks.append(Paragraph(Markup("<strong>User {}</strong>: {} history items read; the latest: {}.")
                                     .format(user, len(result.history), recent)))
        if not result.items:
            part.blocks.append(Note(f"Nothing left to recommend to user {user}: they have every item."))
            continue
        rows = [[str(n), _cell(rec, r.item), f"{r.score:.2f}",
                 Markup("; ").join(Markup("{} {}").format(_cell(rec, e.item), f"{e.attention:.2f}")
                                   for e in r.because)]
                for n, r in enumerate(result.items, 1)]
        part.blocks.append(Table(["#", "recommended", "score (logit)", "because of (attention share)"], rows,
                                 f"Recommendations for user {user}", frozenset({0, 2})))
        part.blocks.append(_drivers(rec, result, user))
    return part


def _headline(rec: SequentialRecommender, segment: Segment) -> str:
    """A segment's legend entry: its number, what it attends to most, its share of the users."""
    top = (segment.categories[0].name if segment.categories
           else _name(rec, segment.items[0].name) if segment.items else "")
    return f"{segment.segment}: {figures.short(top, 24)} ({segment.share:.0%})"


def segments_part(bundle: Bundle, seed: int) -> Part:
    from sklearn.decomposition import PCA

    rec: SequentialRecommender = bundle.predictor
    part = Part("Audience segments")
    if len(rec.sequences_) < 3:
        part.blocks.append(Note(f"{len(rec.sequences_)} users: too few to segment."))
        return part
    segmentation = rec.segments(seed=seed)
    chosen = (f"k = {segmentation.k} chosen among {min(segmentation.silhouettes)} to {max(segmentation.silhouettes)} "
              f"by silhouette ({segmentation.silhouette:.2f})" if segmentation.silhouettes
              else f"k = {segmentation.k} (silhouette {segmentation.silhouette:.2f})")
    part.blocks.append(Paragraph(
        f"Users clustered by k-means on the representation that scores their next item ({chosen}); each segment "
        "described by what its members' predictions attend to. Lift: a segment's share of attention over the "
        "whole audience's (2.0 = twice the average)."))
    vectors = rec.user_vectors().float().cpu().numpy()
    units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # as the clustering sees them
    pca = PCA(2, random_state=seed).fit(units)
    shown = np.sort(np.random.default_rng(seed).permutation(len(units))[:MAP_USERS])
    names = {s.segment: _headline(rec, s) for s in segmentation.segments}
    sampled = f" ({len(shown):,} of the {len(units):,} users, drawn at random)" if len(shown) < len(units) else ""
    part.blocks.append(Figure(figures.segment_map(pca.transform(units[shown]), np.asarray(segmentation.labels)[shown],
                                                  names, pca.explained_variance_ratio_),
                              f"Each point is a user{sampled}; nearby users get similar recommendations. Colours: "
                              "segments, named by the category (or item) they attend to most."))
    by = "categories" if any(s.categories for s in segmentation.segments) else "items"
    rows = []
    for s in segmentation.segments:
        focus = ", ".join(f"{_name(rec, a.name) if by == 'items' else a.name} {a.attention:.0%} (lift {a.lift:.1f})"
                          for a in (s.categories if by == "categories" else s.items))
        distinctive = Markup("; ").join(Markup("{} {}").format(_cell(rec, a.name), f"lift {a.lift:.1f}")
                                        for a in s.distinctive)
        rows.append([str(s.segment), f"{s.users:,}", f"{s.share:.0%}", focus or "—", distinctive,
                     ", ".join(s.examples)])
    part.blocks.append(Table(["segment", "users", "share", f"most attended {by} (share, lift)",
                              "distinctive items", "example users"], rows, "Segment descriptions",
                             frozenset({0, 1, 2})))
    return part


PARTS = (recommendations_part, segments_part)
