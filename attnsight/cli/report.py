"""`attnsight report`: one self-contained HTML page over trained bundles."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from attnsight.cli.render import console, print_json


def report(
    model: Annotated[list[Path], typer.Option("--model", help="Bundle folder: recsys, text or risk (repeat for "
                                                             "several; one section each, in this order).")],
    out: Annotated[Path, typer.Option(help="The HTML file to write (self-contained: opens offline).")] =
        Path("report.html"),
    data: Annotated[list[Path] | None, typer.Option(
        help="Data a bundle reads, matched by columns (repeat): texts to explain (a 'text' column) for a text "
             "bundle, events to score (its event columns) for a risk bundle.")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the --data files (csv, tsv, jsonl).")] = "utf-8",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the sampled texts and of the segments' k-means.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of a table.")] = False,
) -> None:
    """Write an HTML report: data, training curves, metrics beside baselines, and what each model attends to."""

    from attnsight.report import make_report
    from attnsight.report.page import check_html_name

    check_html_name(out, "report.html")  # before the minutes of building it
    start = time.perf_counter()
    with nullcontext() if json_out else console.status("building the report…"):
        result = make_report(model, device=device, data=data or (), seed=seed, encoding=encoding)
    path = result.write(out)
    seconds = time.perf_counter() - start
    bundles = [{"path": str(b.path), "task": b.task, "data": str(b.data) if b.data else None}
               for b in result.bundles]
    if json_out:
        print_json({"path": str(path), "bytes": path.stat().st_size, "seconds": round(seconds, 2),
                    "bundles": bundles, "sections": [{"title": s.title, "parts": [p.title for p in s.parts]}
                                                     for s in result.sections]})
        return
    from rich.table import Table

    table = Table(title="Report sections", title_justify="left", show_lines=True)
    table.add_column("bundle", overflow="fold")
    table.add_column("task")
    table.add_column("data read", overflow="fold")
    table.add_column("parts", no_wrap=True)
    for b, s in zip(bundles, result.sections):
        table.add_row(b["path"], b["task"], b["data"] or "—", "\n".join(p.title for p in s.parts))
    console.print(table)
    console.print(f"report written to {path} ({path.stat().st_size / 2**20:.1f} MB, "
                  f"{seconds:.0f} s); it loads nothing from the network: open it in any browser")
