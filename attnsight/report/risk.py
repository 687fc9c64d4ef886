"""The risk scorer's own part: the highest-risk events of the bundle's data file and the past
events (of the account and of the second entity) whose attention raised their scores."""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from attnsight.data.events import UNLABELLED, Events, read_events
from attnsight.report import figures
from attnsight.report.blocks import Figure, Note, Paragraph, Part, Table
from attnsight.report.bundles import Bundle
from attnsight.report.common import utc
from attnsight.scorer import RiskScorer

MAX_EVENTS, TOP, EXPLAINED, EVIDENCE = 50_000, 10, 3, 3  # scored; listed; explained; past events per explanation


def _ago(seconds: int) -> str:
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"


def _outcome(label: int | None) -> str:
    return "not known" if label is None or label == UNLABELLED else {0: "genuine", 1: "positive"}[label]


def _bar(weight: float, peak: float) -> Markup:
    """An attention share as a number beside a bar (CSS only), full width for the explanation's largest."""
    return Markup('<span class="bar" style="width:{:.0f}px"></span> {:.2f}').format(60 * weight / peak, weight)


def _rows(bundle: Bundle, events: Events) -> tuple[np.ndarray, str]:
    """The rows to score: those of the bundle's test period when the file reaches it (the period the
    model never trained on), else the whole file; the latest MAX_EVENTS of them."""
    start = (bundle.metrics.get("protocol") or {}).get("test", [None])[0]
    rows, where = np.arange(len(events)), "(all of them: the bundle records no test period)"
    if start:
        rows, where = events.since(start), f"from {start} on (the bundle's test period)"
        if len(rows) == 0:
            rows, where = np.arange(len(events)), "(all of them: none is in the bundle's test period)"
    if len(rows) > MAX_EVENTS:
        rows, where = rows[-MAX_EVENTS:], f"(the latest {MAX_EVENTS:,})"
    return rows, where


def top_risk_part(bundle: Bundle, seed: int) -> Part:
    part = Part("Top-risk events and their evidence")
    scorer: RiskScorer = bundle.predictor
    if bundle.data is None:
        columns = ", ".join(scorer.schema_.columns())
        part.blocks.append(Note(f"Needs events to score, which the bundle does not keep: give a data file with the "
                                f"columns {columns} (--data; the label column is optional)."))
        return part
    events = read_events(bundle.data, scorer.schema_, encoding=bundle.encoding)
    rows, where = _rows(bundle, events)
    scores = scorer.score(events, rows)
    order = np.argsort(-scores, kind="stable")
    labels = events.label[rows] if events.label is not None else None
    part.blocks.append(Paragraph(f"{len(rows):,} events of {bundle.data.name} scored, {where}; each score is read "
                                 "from the account's and the entity's earlier events, with labels used only once "
                                 "they were known."))
    part.blocks.append(Figure(figures.score_histogram(scores, labels),
                              "How the scores spread; with labels in the file, by outcome."))
    schema = scorer.schema_
    features = [*schema.numeric, *schema.categorical]
    top_rows = rows[order[:TOP]]
    table = []
    for rank, (row, score) in enumerate(zip(top_rows, scores[order[:TOP]]), 1):
        values = [f"{float(v):,.6g}" for v in events.numeric[row]] + [str(v) for v in events.categorical[row]]
        outcome = _outcome(int(events.label[row])) if events.label is not None else "—"
        table.append([str(rank), events.event_ids(np.array([row]))[0], str(events.accounts[events.account[row]]),
                      utc(int(events.time[row])), f"{score:.4f}", *values, outcome])
    part.blocks.append(Table(["#", "event", schema.account, "time (UTC)", "risk (0 to 1)", *features, "outcome"],
                             table, f"The {len(top_rows)} highest-risk events",
                             frozenset({0, 4, *range(5, 5 + len(schema.numeric))})))
    for e in scorer.explain(events, top_rows[:EXPLAINED], top=EVIDENCE):
        peak = max((a.weight for a in e.attended), default=0.0) or 1.0
        evidence = [[_bar(a.weight, peak), a.source, a.event, a.time[:16], _ago(a.seconds_before),
                     _outcome(a.label),
                     ", ".join(f"{k}={v}" for k, v in a.fields.items())] for a in e.attended]
        part.blocks.append(Table(["attention", "from", "event", "time (UTC)", "before", "outcome known then",
                                  "fields"], evidence,
                                 f"Event {e.event} of {e.account} (risk {e.score:.4f}): the past events it attended "
                                 "to most"))
    return part


PARTS = (top_risk_part,)
