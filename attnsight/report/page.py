"""The report's one page: sections of parts of blocks (see `blocks`) as a self-contained HTML file.

No template engine: each block kind is one small function. Plain strings are escaped by
`markupsafe.escape` (through `Markup.format` and `Markup.join`); a `Markup` passes as it is. The
page loads nothing: no script, no stylesheet link, figures inline (SVG, their rasters as data URIs).
`write_html` writes it, and `text explain --html`'s page, only to a .html name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from markupsafe import Markup

from attnsight.errors import AttnsightError
from attnsight.files import write_text_atomic
from attnsight.report.blocks import Block, Figure, Note, Paragraph, Section, Table


def check_html_name(out: Path, example: str) -> None:
    """Refuse a folder, or a name that is not .html/.htm: a data file or a bundle's own file given
    there by mistake would be overwritten by the page."""
    if out.is_dir():
        raise AttnsightError(f"{out}: is a folder; give the page's file name (e.g. {example})")
    if out.suffix.lower() not in (".html", ".htm"):
        raise AttnsightError(f"{out}: the page written there is HTML; give a .html file name (e.g. {example})")


def write_html(out: Path, page: str, example: str) -> Path:
    """Write a page (its folder made) through a temporary file and rename, so a reader never sees half of it."""
    out = Path(out)
    check_html_name(out, example)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, page)
    return out


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;color:#222;
margin:0 auto;max-width:76em;padding:1.5em 2em;line-height:1.5}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #d95f02;padding-bottom:.2em;margin-top:2.2em}
h3{margin-top:1.6em;color:#444}nav ul{padding-left:1.2em}nav li{margin:.15em 0}
.meta,.dim,figcaption,caption{color:#666;font-size:.9em}
.note{background:#f6f6f6;border-left:4px solid #bbb;padding:.5em .8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
caption{text-align:left;font-weight:600;color:#333;padding-bottom:.3em}
th,td{border-bottom:1px solid #e3e3e3;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
.bar{display:inline-block;height:.7em;background:#d95f02;vertical-align:middle}
.attnsight-text p{margin:0}.attnsight-text span{border-radius:3px;padding:0 1px}
"""


def _paragraph(block: Paragraph) -> Markup:
    return Markup("<p>{}</p>").format(block.text)


def _note(block: Note) -> Markup:
    return Markup('<p class="note">{}</p>').format(block.text)


def _table(block: Table) -> Markup:
    def cell(tag: str, column: int, value: object) -> Markup:
        kind = ' class="num"' if column in block.numeric else ""
        return Markup("<{0}{1}>{2}</{0}>").format(Markup(tag), Markup(kind), value)

    head = Markup("").join(cell("th", c, name) for c, name in enumerate(block.columns))
    rows = Markup("\n").join(Markup("<tr>{}</tr>").format(Markup("").join(cell("td", c, v) for c, v in enumerate(row)))
                             for row in block.rows)
    caption = Markup("<caption>{}</caption>").format(block.caption) if block.caption else Markup("")
    return Markup("<table>{}<thead><tr>{}</tr></thead><tbody>\n{}\n</tbody></table>").format(caption, head, rows)


def _figure(block: Figure) -> Markup:
    caption = Markup("<figcaption>{}</figcaption>").format(block.caption) if block.caption else Markup("")
    return Markup("<figure>{}{}</figure>").format(block.svg, caption)


_RENDER: dict[type, Callable[..., Markup]] = {Paragraph: _paragraph, Note: _note, Table: _table, Figure: _figure}


def _block(block: Block) -> Markup:
    return _RENDER[type(block)](block)


def _contents(sections: Sequence[Section]) -> Markup:
    items = Markup("\n").join(
        Markup('<li><a href="#{}">{}</a><ul>{}</ul></li>').format(
            s.anchor, s.title, Markup("").join(Markup('<li><a href="#{}">{}</a></li>').format(p.anchor, p.title)
                                               for p in s.parts))
        for s in sections)
    return Markup("<nav><h2>Contents</h2><ul>\n{}\n</ul></nav>").format(items)


def _section(section: Section) -> Markup:
    parts = Markup("\n").join(
        Markup('<section id="{}"><h3>{}</h3>\n{}</section>').format(
            p.anchor, p.title, Markup("\n").join(_block(b) for b in p.blocks))
        for p in section.parts)
    return Markup('<section id="{}"><h2>{}</h2><p class="meta">{}</p>\n{}</section>').format(
        section.anchor, section.title, section.summary, parts)


def render(sections: Sequence[Section], title: str, subtitle: str) -> str:
    """The whole page; sections and parts get their anchors (s1, s1-2, ...) here."""
    for s, section in enumerate(sections, 1):
        section.anchor = f"s{s}"
        for p, part in enumerate(section.parts, 1):
            part.anchor = f"s{s}-{p}"
    body = Markup("\n").join(_section(s) for s in sections)
    return str(Markup(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{0}</title><style>{1}</style></head>\n<body><header><h1>{0}</h1>"
        '<p class="meta">{2}</p></header>\n{3}\n<main>\n{4}\n</main></body></html>\n'
    ).format(title, Markup(_CSS), subtitle, _contents(sections), body))
