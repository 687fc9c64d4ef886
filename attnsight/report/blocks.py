"""What a report is made of: sections (one per bundle) of parts (data, curves, metrics, ...) of
blocks (paragraphs, notes, tables, figures) that `page` knows how to render.

Every plain `str` here is user or model text and is escaped on the page; markup that is
already safe (inline SVG, highlighted texts built with escaping) arrives as `markupsafe.Markup`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

Cell = str | Markup


@dataclass
class Paragraph:
    text: Cell


@dataclass
class Note:
    """Something the report could not show and why (data not given, nothing to show)."""

    text: Cell


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    numeric: frozenset[int] = frozenset()  # right-aligned columns


@dataclass
class Figure:
    svg: Markup
    caption: str = ""


Block = Paragraph | Note | Table | Figure


@dataclass
class Part:
    """One sub-section of a bundle's section, e.g. "Training curves"."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""  # set by `page.render`


@dataclass
class Section:
    """Everything the report shows about one bundle."""

    title: str
    summary: str  # one line: dataset, training date and device, epochs
    parts: list[Part] = field(default_factory=list)
    anchor: str = ""  # set by `page.render`
