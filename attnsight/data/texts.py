"""Reading and cleaning labelled or unlabelled texts, with a report of everything changed or dropped."""

from __future__ import annotations

import bisect
import html
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import regex

from attnsight.data.readers import TABLE_FORMATS, check_path, first_bad, read_table
from attnsight.errors import AttnsightError, DataError, last_line

TEXT_FORMATS = ("auto", *TABLE_FORMATS)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# a word as Unicode has it (the `regex` module's \w takes in combining marks, which `re`'s splits
# off: "फ़िल्म" is one word) with an inner apostrophe, else one grapheme: a mark, an emoji with its
# modifiers ("👍🏽")
_WORD = regex.compile(r"\w+(?:'\w+)?|(?!\s)\X")
# jieba's HMM pass over a run of characters it does not know grows with the square of the run (100,000
# repeats of one character took 100 s), so long runs are segmented piece by piece
_PIECE = 2000


@dataclass
class Texts:
    """One row per text: column `text`, `label` (string) when the data has labels, and `line` (the
    file line; for Parquet the data row) when read from a file."""

    frame: pl.DataFrame
    source: str = "<memory>"

    @property
    def has_labels(self) -> bool:
        return "label" in self.frame.columns

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].to_list()

    @property
    def labels(self) -> list[str]:
        return self.frame["label"].to_list()

    @property
    def lines(self) -> list[int] | None:
        return self.frame["line"].to_list() if "line" in self.frame.columns else None

    def __len__(self) -> int:
        return self.frame.height

    @classmethod
    def from_lists(cls, texts: Sequence[str], labels: Sequence[object] | None = None, source: str = "<memory>"
                   ) -> Texts:
        """Texts (and labels, strings or numbers) held in memory; a missing one (None, NaN) is named
        by its row, as a file's would be, rather than read as the word "None"."""
        if isinstance(texts, str):  # a text is a sequence too, of characters
            raise TypeError("texts must be a list of texts, not one text: put it in a list")
        data: dict[str, list[str]] = {"text": _strings(texts, source, "text")}
        if labels is not None:
            if len(labels) != len(texts):
                raise DataError(source, f"{len(texts)} texts but {len(labels)} labels")
            data["label"] = _strings(labels, source, "label")
        return cls(pl.DataFrame(data, schema={k: pl.String for k in data}), source)

    def take(self, rows: np.ndarray) -> Texts:
        return Texts(self.frame[rows], self.source)


def _strings(values: Iterable[object], source: str, what: str) -> list[str]:
    out = []
    for row, value in enumerate(values, start=1):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise DataError(source, f"missing {what}", row=row)
        out.append(str(value))
    return out


def read_texts(
    path: str | Path,
    text_col: str = "text",
    label_col: str | None = "label",
    format: str = "auto",
    encoding: str = "utf-8",
    require_labels: bool = False,
) -> Texts:
    """Read a CSV/TSV/JSONL/Parquet file (optionally .gz) with a text column and an optional label column.

    Labels are kept as strings, so integer and string labels round-trip exactly. With
    `require_labels`, a missing label column or an empty label is an error naming the line.
    """
    path = Path(path)
    fmt = check_path(path, format, TEXT_FORMATS)
    if fmt not in TABLE_FORMATS:
        raise DataError(path, f"texts are read from {', '.join(TABLE_FORMATS)} files, not {fmt}")
    frame, first_line = read_table(path, fmt, encoding, [c for c in (text_col, label_col) if c])
    columns = ", ".join(frame.columns)
    if text_col not in frame.columns:
        raise DataError(path, f"no text column {text_col!r} (columns: {columns}); name it with --text-col")
    lines = first_line if isinstance(first_line, list) else range(first_line, first_line + frame.height)
    out = frame.select(text=pl.col(text_col).fill_null(""), line=pl.Series(list(lines), dtype=pl.Int64))
    if label_col and label_col in frame.columns:
        label = frame[label_col].str.strip_chars()
        if require_labels:
            first_bad(path, label.is_null() | (label == ""), first_line, label_col, "empty label")
        out = out.with_columns(label=label)
    elif require_labels:
        raise DataError(path, f"no label column {label_col!r} (columns: {columns}); name it with --label-col")
    return Texts(out, str(path))


def check_known_labels(texts: Texts, known: Sequence[str], what: str, column: str = "label") -> None:
    """Refuse labels outside `known`, naming the first one's line (or row) and listing them all."""
    unknown = ~texts.frame["label"].is_in(list(known))
    if not unknown.any():
        return
    row = int(unknown.arg_true()[0])
    names = sorted(set(texts.frame["label"].filter(unknown).to_list()))
    more = ", ..." if len(names) > 5 else ""
    listed = f" ({len(names)} in all: {', '.join(names[:5])}{more})" if len(names) > 1 else ""
    lines = texts.lines
    raise DataError(texts.source, f"{what}: {texts.frame['label'][row]!r}{listed}",
                    line=lines[row] if lines else None, column=column, row=None if lines else row + 1)


def look_alike_labels(labels: Sequence[str]) -> list[list[str]]:
    """Groups of distinct labels that differ only in case and spacing ("Positive", "positive") or
    in how a number is written ("1", "1.0"): likely one class, though trained as several."""
    def key(label: str) -> str:
        try:
            return repr(float(label))
        except ValueError:
            return " ".join(label.casefold().split())

    groups: dict[str, list[str]] = {}
    for label in sorted(set(labels)):
        groups.setdefault(key(label), []).append(label)
    return [group for group in groups.values() if len(group) > 1]


@dataclass
class TextCleaningConfig:
    html: bool = True  # strip tags (<br />) and decode entities (&amp;)
    urls: bool = True  # remove http(s):// and www. links
    normalize: str | None = "NFKC"  # Unicode normal form: full-width ASCII and compatibility forms folded
    dedupe: bool = True  # keep the first of identical texts (after cleaning)
    min_chars: int = 1  # shorter texts are dropped as empty


@dataclass
class TextCleaningReport:
    rows_in: int = 0
    html_cleaned: int = 0  # rows where tags or entities were found
    urls_removed: int = 0
    bom_removed: int = 0
    normalized: int = 0  # rows changed by the Unicode normal form
    empty: int = 0  # dropped: nothing left after cleaning
    duplicates: int = 0  # dropped: same text and label as an earlier row
    conflicting_labels: int = 0  # dropped: every copy of a text given different labels
    rows_out: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def total(cls, reports: Sequence[TextCleaningReport]) -> TextCleaningReport:
        """One report over several sources, each cleaned on its own."""
        return cls(**{name: sum(getattr(r, name) for r in reports) for name in cls.__dataclass_fields__})

    def kept(self) -> str:
        """What cleaning left: "cleaning kept 16 of 20 texts (dropped 0 empty, 4 duplicates, 0 conflicting labels)"."""
        return (f"cleaning kept {self.rows_out:,} of {self.rows_in:,} texts (dropped {self.empty:,} empty, "
                f"{self.duplicates:,} duplicates, {self.conflicting_labels:,} conflicting labels)")


# a tag starts with a letter (or /letter), a comment or doctype with "!", as in HTML: "I <3 it, 5 stars > 3" has none
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>|<!--.{0,2000}?-->|<![A-Za-z][^<>]{0,200}>", re.DOTALL)
# a URL is printable ASCII (Chinese text runs on after one without a space) up to its last
# character that can end one: "(see http://x.com/a)." keeps its ")."
_URL = re.compile(r"(?:https?://|www\.)[!-~]*[A-Za-z0-9/#=_~-]", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_text(text: str, config: TextCleaningConfig | None = None, report: TextCleaningReport | None = None) -> str:
    """One text cleaned: BOM, HTML tags and entities, URLs, Unicode form, whitespace."""
    config = config or TextCleaningConfig()
    report = report or TextCleaningReport()
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
        report.bom_removed += 1
    if config.html:
        stripped = html.unescape(_TAG.sub(" ", text))
        report.html_cleaned += stripped != text
        text = stripped
    if config.urls:
        text, found = _URL.subn(" ", text)
        report.urls_removed += found > 0
    if config.normalize:
        normal = unicodedata.normalize(config.normalize, text)
        report.normalized += normal != text
        text = normal
    return _SPACE.sub(" ", text).strip()


def clean_texts(
    texts: Texts, config: TextCleaningConfig | None = None, drop: bool = True
) -> tuple[Texts, TextCleaningReport]:
    """Clean every text; with `drop`, also remove empty texts, duplicates and conflicting labels.

    Evaluation sets are cleaned with drop=False so that every row of an official test set counts.
    """
    config = config or TextCleaningConfig()
    report = TextCleaningReport(rows_in=len(texts))
    cleaned = [clean_text(t, config, report) for t in texts.texts]
    frame = texts.frame.with_columns(text=pl.Series(cleaned, dtype=pl.String))
    if drop:
        keep = frame["text"].str.len_chars() >= config.min_chars
        report.empty = int((~keep).sum())
        frame = frame.filter(keep)
        if config.dedupe:
            if texts.has_labels:
                conflicted = frame.group_by("text").agg(pl.col("label").n_unique().alias("n")).filter(pl.col("n") > 1)
                before = frame.height
                frame = frame.join(conflicted.select("text"), on="text", how="anti", maintain_order="left")
                report.conflicting_labels = before - frame.height
            before = frame.height
            frame = frame.unique(subset=["text"], keep="first", maintain_order=True)
            report.duplicates = before - frame.height
    report.rows_out = frame.height
    if frame.height == 0:
        raise DataError(texts.source, "no texts left after cleaning")
    return Texts(frame, texts.source), report


def stratified_split(
    labels: list[str], fractions: tuple[float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified (train, valid, test) row indices; fractions are (valid, test) shares."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    valid_share, test_share = fractions
    if valid_share + test_share >= 1:
        raise AttnsightError(f"the validation and test shares ({valid_share:g} + {test_share:g}) leave no texts "
                             "to train on")
    y = np.asarray(labels)
    try:
        rest, test = (rows, rows[:0]) if test_share <= 0 else train_test_split(
            rows, test_size=test_share, stratify=y, random_state=seed)
        train, valid = (rest, rows[:0]) if valid_share <= 0 else train_test_split(
            rest, test_size=valid_share / (1 - test_share), stratify=y[rest], random_state=seed)
    except ValueError as exc:  # too few texts of a class, or shares too small for every class to have one
        names, counts = np.unique(y, return_counts=True)
        raise AttnsightError(
            f"{len(rows):,} texts cannot be split stratified into validation and test shares of {valid_share:g} "
            f"and {test_share:g} (the rarest class, {str(names[counts.argmin()])!r}, has {counts.min()}): "
            f"{last_line(exc)}; give more texts of each class, larger shares, or --valid/--test files") from None
    # scikit-learn rounds each class's share, so a rare class can end up in no validation or test text,
    # where its scores would be undefined
    for part, share, name in ((valid, valid_share, "validation"), (test, test_share, "test")):
        missing = sorted(set(y.tolist()) - set(y[part].tolist())) if share > 0 else []
        if missing:
            count = int((y == missing[0]).sum())
            raise AttnsightError(
                f"class {missing[0]!r} has {count} text{'s' * (count != 1)}, too few for the stratified split to put "
                f"one in the {name} share ({share:g}); give more texts of it, larger shares, or --valid/--test files")
    return np.sort(train), np.sort(valid), np.sort(test)


def word_spans(text: str) -> list[tuple[int, int]]:
    """Word boundaries: runs of Chinese characters as jieba segments them, the rest (English or any
    other script, digits, punctuation, emoji) as words with an inner apostrophe and single graphemes."""
    spans: list[tuple[int, int]] = []
    start = 0
    for run in _CJK_RUN.finditer(text):
        spans += [m.span() for m in _WORD.finditer(text, start, run.start())]
        spans += _jieba_spans(text, run.start(), run.end())
        start = run.end()
    return spans + [m.span() for m in _WORD.finditer(text, start)]


def _jieba_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    spans = []
    for piece_start in range(start, end, _PIECE):
        piece = text[piece_start : min(end, piece_start + _PIECE)]
        spans += [(piece_start + s, piece_start + e) for _, s, e in jieba.tokenize(piece)]
    return spans


def token_words(spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """For each token (by its character offsets), the index of the word span it falls in; -1 for
    special tokens and tokens outside every word."""
    starts = [start for start, _ in spans]
    out = np.full(len(offsets), -1, dtype=np.int64)
    for i, (start, end) in enumerate(offsets):
        if end <= start:
            continue
        index = bisect.bisect_right(starts, start) - 1
        if index >= 0 and start < spans[index][1]:
            out[i] = index
    return out
