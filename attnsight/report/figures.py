"""The report's plots, each returned as inline SVG markup.

Figures are built with matplotlib's object API (`matplotlib.figure.Figure`), never pyplot: no
global backend is chosen or switched, so a caller's own plotting (a notebook) is left alone,
and the style lives in an `rc_context` for the duration of one figure only. Text stays text in
the SVG (`svg.fonttype: none`): the page is smaller, and the browser draws scripts (Chinese) that
matplotlib's bundled font lacks.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "attnsight",  # ids derived from content, not random: the same report twice is the same file
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Noto Sans CJK SC", "Microsoft YaHei"],
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}
_OURS, _OTHERS = "#d95f02", ("#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#a6761d")
_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}  # no links, no timestamps


@dataclass
class Curve:
    """One training phase (pretraining, fine-tuning) as the report plots it."""

    phase: str
    epochs: list[int]
    loss: list[float]
    metric: str | None  # the validation metric shown, None when the phase logged none
    values: list[float]
    best_epoch: int | None


def plain(text: str) -> str:
    """User text as matplotlib shows it verbatim: a `$` would otherwise start mathtext."""
    return text.replace("$", r"\$")


def short(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # drawn by the browser
        yield Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Figure) -> Markup:
    """The figure as an `<svg>` element to inline (no XML prolog, no DOCTYPE pointing to the web).
    matplotlib names the elements of every figure alike (figure_1, axes_1, its markers), so each
    figure's ids and the references to them take a prefix of their own, from the figure's content
    (the same inputs still make the same page)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # matplotlib escapes the text it writes
    prefix = "f" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'(href="#|url\(#)([^")]+)', rf"\1{prefix}-\2", text)
    return Markup(text)


def training_curves(curves: Sequence[Curve]) -> Markup:
    """Per phase: the training loss and the validation metric by epoch, the kept epoch marked."""
    with _figure(10, 3.0 * len(curves)) as fig:
        axes = fig.subplots(len(curves), 2, squeeze=False)
        for (loss_ax, metric_ax), c in zip(axes, curves):
            loss_ax.plot(c.epochs, c.loss, marker="o", markersize=3, color=_OURS, label="training loss")
            loss_ax.set(title=f"{c.phase}: training loss", xlabel="epoch", ylabel="loss (mean over batches)")
            if c.metric is not None:
                metric_ax.plot(c.epochs, c.values, marker="o", markersize=3, color=_OTHERS[0],
                               label=f"validation {c.metric}")
                metric_ax.set(title=f"{c.phase}: validation {c.metric}", xlabel="epoch",
                              ylabel=f"{c.metric} (higher is better)")
            else:
                metric_ax.set_axis_off()
            for ax in (loss_ax, metric_ax) if c.metric is not None else (loss_ax,):
                if c.best_epoch is not None:
                    ax.axvline(c.best_epoch, color="grey", linestyle="--", linewidth=1,
                               label=f"kept: epoch {c.best_epoch}")
                ax.xaxis.get_major_locator().set_params(integer=True)
                ax.legend(loc="best")
        return to_svg(fig)


def metric_bars(models: Mapping[str, Mapping[str, float | None]], metrics: Sequence[str], title: str) -> Markup:
    """Grouped bars: one group per metric, one bar per model (ours first), values printed on them; an
    undefined metric (null in metrics.json) has no bar."""
    metrics = [m for m in metrics if any(m in values for values in models.values())]
    models = {name: {m: np.nan if v is None else v for m, v in values.items()} for name, values in models.items()}
    width = 0.8 / max(len(models), 1)
    with _figure(max(6.0, 1.8 * len(metrics) + 3.0), 3.6) as fig:
        ax = fig.add_subplot()
        x = np.arange(len(metrics))
        for i, (name, values) in enumerate(models.items()):
            heights = [values.get(m, np.nan) for m in metrics]
            bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, heights, width, label=plain(name),
                          color=_OURS if i == 0 else _OTHERS[(i - 1) % len(_OTHERS)])
            ax.bar_label(bars, labels=[f"{h:.3f}" if np.isfinite(h) else "" for h in heights], fontsize=8, padding=2)
        ax.set_xticks(x, [textwrap.fill(m.replace("_", " "), 14) for m in metrics])
        shown = [values[m] for values in models.values() for m in metrics if m in values]
        top = max((v for v in shown if np.isfinite(v)), default=1.0)
        ax.set(title=title, ylabel="score (0 to 1, higher is better)", ylim=(0, min(1.0, top) * 1.15 or 1.0))
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return to_svg(fig)


def drivers_heatmap(history: Sequence[str], recommended: Sequence[str], cells: np.ndarray,
                    overall: Sequence[float], title: str) -> Markup:
    """History items (rows, oldest first) × recommended items (columns): the attention a history item
    got where it drove that recommendation (blank where it did not), beside its attention overall."""
    with _figure(10, 1.2 + 0.36 * len(history)) as fig:
        whole, ax = fig.subplots(1, 2, width_ratios=[1, len(recommended)], sharey=True)
        peak = max(float(np.nanmax(cells)) if np.isfinite(cells).any() else 0.0, max(overall, default=0.0)) or 1.0
        column = np.asarray(overall, dtype=float)[:, None]
        for axis, values in ((whole, column), (ax, cells)):
            image = axis.imshow(values, cmap="Oranges", vmin=0, vmax=peak, aspect="auto")
            axis.grid(False)
            for (r, c), v in np.ndenumerate(values):
                if np.isfinite(v):
                    axis.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                              color="white" if v > 0.6 * peak else "black")
        whole.set_xticks([0], ["all\nrecommendations"])
        whole.set_yticks(range(len(history)), [plain(short(h, 34)) for h in history])
        whole.set_ylabel("history items read (oldest at top)")
        ax.set_xticks(range(len(recommended)), [plain(short(r, 18)) for r in recommended], rotation=25, ha="right")
        ax.set_xlabel("recommended items (best first)")
        ax.set_title(title, loc="left")
        fig.colorbar(image, ax=ax, label="attention share (0 to 1)", fraction=0.04, pad=0.02)
        return to_svg(fig)


def segment_map(xy: np.ndarray, labels: Sequence[int], names: Mapping[int, str], variance: Sequence[float]) -> Markup:
    """Users as points (2-D PCA of their representations), coloured by segment."""
    labels = np.asarray(labels)
    colours = matplotlib.colormaps["tab10"]
    with _figure(9, 5.5) as fig:
        ax = fig.add_subplot()
        for i, (segment, name) in enumerate(names.items()):
            member = labels == segment
            ax.scatter(xy[member, 0], xy[member, 1], s=9, alpha=0.65, color=colours(i % 10), label=plain(name),
                       linewidths=0)
        ax.set(title="Audience map: each point a user, placed by what their history predicts (PCA)",
               xlabel=f"principal component 1 ({variance[0]:.0%} of variance)",
               ylabel=f"principal component 2 ({variance[1]:.0%} of variance)")
        ax.legend(title="segment (share of users)", loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=2)
        return to_svg(fig)


def word_bars(insights: Mapping[str, Sequence[Mapping[str, float]]], top: int, lift: float) -> Markup:
    """Per class, the words its texts' predictions attend to most (share of the class's attention),
    the ones distinctive of the class (lift at least `lift`) in colour."""
    classes = list(insights)
    columns = min(len(classes), 3)
    rows = -(-len(classes) // columns)
    with _figure(3.6 * columns + 0.5, 0.3 * top * rows + 1.2) as fig:
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
        for ax, label in zip(axes, classes):
            words = list(insights[label])[:top][::-1]  # most attended at the top
            colours = [_OURS if w["lift"] >= lift else "#bbbbbb" for w in words]
            ax.barh(range(len(words)), [100 * w["attention"] for w in words], color=colours)
            ax.set_yticks(range(len(words)), [plain(short(str(w["word"]), 20)) for w in words])
            ax.set(title=f"predicted '{plain(short(label, 24))}'", xlabel="share of the class's attention (%)")
            ax.grid(axis="y", visible=False)
        for ax in axes[len(classes):]:
            ax.set_axis_off()
        handles = [matplotlib.patches.Patch(color=_OURS, label=f"distinctive of the class (lift ≥ {lift:g})"),
                   matplotlib.patches.Patch(color="#bbbbbb", label="common across classes")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2)
        return to_svg(fig)


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Markup:
    values = np.asarray(matrix)
    with _figure(1.6 + 0.9 * len(labels), 1.2 + 0.8 * len(labels)) as fig:
        ax = fig.add_subplot()
        ax.imshow(values, cmap="Blues")
        ax.grid(False)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:,}", ha="center", va="center", color="white" if v > values.max() / 2 else "black")
        names = [plain(short(label, 14)) for label in labels]
        ax.set_xticks(range(len(labels)), names, rotation=25, ha="right")
        ax.set_yticks(range(len(labels)), names)
        ax.set(title="Test confusion matrix (texts)", xlabel="predicted class", ylabel="true class")
        return to_svg(fig)


def score_histogram(scores: np.ndarray, labels: np.ndarray | None) -> Markup:
    """Risk scores of the scored events, by known outcome when there are labels (log count axis)."""
    bins = np.linspace(0, 1, 41)
    with _figure(9, 3.6) as fig:
        ax = fig.add_subplot()
        if labels is None or not (labels >= 0).any():
            ax.hist(scores, bins=bins, color=_OTHERS[0], label="scored events")
        else:
            for value, name, colour in ((0, "genuine", _OTHERS[0]), (1, "fraud / positive", _OURS)):
                ax.hist(scores[labels == value], bins=bins, color=colour, alpha=0.75, label=name)
            if (labels < 0).any():
                ax.hist(scores[labels < 0], bins=bins, color="#bbbbbb", alpha=0.75, label="label not known")
        ax.set_yscale("log")
        ax.set(title="Risk scores of the scored events", xlabel="risk score (probability, 0 to 1)",
               ylabel="events (log scale)", xlim=(0, 1))
        ax.legend(loc="upper right")
        return to_svg(fig)
