"""The report over one or more bundles: each bundle's section is the parts every task has (data,
curves, metrics) then its task's own, each a function (bundle, seed) -> Part."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attnsight import __version__
from attnsight.errors import AttnsightError
from attnsight.report import recsys, risk, text
from attnsight.report.blocks import Section
from attnsight.report.bundles import Bundle, load, match_data, read_config
from attnsight.report.common import COMMON_PARTS, VIEWS, summary
from attnsight.report.page import render, write_html

logger = logging.getLogger(__name__)
TASK_PARTS = {"recsys": recsys.PARTS, "text": text.PARTS, "risk": risk.PARTS}


@dataclass
class Report:
    """The page and what it shows: one section per bundle, in the order given."""

    bundles: list[Bundle]
    sections: list[Section]
    html: str

    def write(self, out: Path) -> Path:
        """Write the page (see `write_html`)."""
        return write_html(out, self.html, "report.html")


def _section(bundle: Bundle, seed: int) -> Section:
    section = Section(f"{VIEWS[bundle.task].name}: {bundle.path}", summary(bundle))
    for make in (*COMMON_PARTS, *TASK_PARTS[bundle.task]):
        start = time.perf_counter()
        section.parts.append(make(bundle, seed))
        logger.info("%s: %s in %.1f s", bundle.name, section.parts[-1].title, time.perf_counter() - start)
    return section


def make_report(models: Sequence[str | Path] | str | Path, *, device: str = "cpu",
                data: Sequence[str | Path] | str | Path = (), seed: int = 0, encoding: str = "utf-8") -> Report:
    """Load each bundle (recsys, text, risk), give it the `data` file whose columns it reads (text
    files in `encoding`), and build its section. Every bundle and data file is checked before any
    model is loaded. One bundle or data file may be given by itself, not in a list."""
    models, data = ([m] if isinstance(m, (str, Path)) else m for m in (models, data))
    if not models:
        raise AttnsightError("no bundle to report on: give at least one --model")
    bundles = [Bundle(Path(m), config["task"], config) for m, config in ((m, read_config(Path(m))) for m in models)]
    match_data(bundles, [Path(d) for d in data], encoding)
    sections = []
    for bundle in bundles:
        load(bundle, device)
        sections.append(_section(bundle, seed))
    kinds = ", ".join(dict.fromkeys(VIEWS[b.task].name.lower() for b in bundles))
    subtitle = f"{len(bundles)} bundle{'s' if len(bundles) > 1 else ''} ({kinds}) · attnsight {__version__}"
    return Report(bundles, sections, render(sections, "attnsight report", subtitle))


def build_report(models: Sequence[str | Path] | str | Path, *, device: str = "cpu",
                 data: Sequence[str | Path] | str | Path = (), seed: int = 0, encoding: str = "utf-8") -> str:
    """The report's self-contained HTML page (see `make_report`)."""
    return make_report(models, device=device, data=data, seed=seed, encoding=encoding).html


def write_report(models: Sequence[str | Path] | str | Path, out: str | Path, *, device: str = "cpu",
                 data: Sequence[str | Path] | str | Path = (), seed: int = 0, encoding: str = "utf-8") -> Path:
    """Build the report (see `make_report`) and write it to `out`, an .html file."""
    return make_report(models, device=device, data=data, seed=seed, encoding=encoding).write(out)
