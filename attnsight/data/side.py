"""Side information: what is known about items and users besides their interactions.

Tables of item (or user) features — text, single categories, multi-valued tags (`Action|Comedy`),
numbers — and precomputed embedding vectors from any modality, keyed by raw id. Read here, checked
against the ids the model knows, and every mismatch counted (`SideMatch`), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from attnsight.data.readers import TABLE_FORMATS, check_path, first_bad, parse_numbers, read_table, read_text
from attnsight.errors import ConfigError, DataError

SIDE_FORMATS = ("auto", *TABLE_FORMATS, "dat")
# MovieLens' header-less `::` files, recognised by their number of fields
MOVIELENS_COLUMNS = {3: ("item", "title", "genres"), 5: ("user", "gender", "age", "occupation", "zip")}
# the model reads numbers as float32, standardised: far out, its sums and squares overflow (NaN scores)
MOST_DEVIATIONS = 1e15


@dataclass(frozen=True)
class SideSchema:
    """Which columns hold what. `names` names the fields of a header-less `dat` file."""

    id: str
    text: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # multi-valued, split on tag_sep
    numeric: tuple[str, ...] = ()
    tag_sep: str = "|"
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        roles: dict[str, str] = {self.id: "the id"}
        for role in ("text", "categorical", "tags", "numeric"):
            for name in getattr(self, role):
                if name in roles:  # one column read two ways would be one feature counted twice (or the key)
                    raise ConfigError(f"column {name!r} is named as {roles[name]} and as {role}: each column "
                                      "takes one role")
                roles[name] = role

    def columns(self) -> list[str]:
        return [*self.text, *self.categorical, *self.tags, *self.numeric]


@dataclass
class SideTable:
    """One row per id (the first row of a repeated id is kept, and the repeats counted)."""

    ids: list[str]
    schema: SideSchema
    text: dict[str, list[str]] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)  # "" = missing
    tags: dict[str, list[list[str]]] = field(default_factory=dict)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # float64, NaN = missing
    source: str = "<memory>"
    repeated: int = 0  # rows dropped because their id came again

    def __post_init__(self) -> None:
        """A table built by hand holds every column its schema names, one value per id."""
        for role in ("text", "categorical", "tags", "numeric"):
            columns = getattr(self, role)
            for name in getattr(self.schema, role):
                if name not in columns:
                    raise DataError(self.source, f"no {role} column {name!r}, which the schema names")
                if len(columns[name]) != len(self.ids):
                    raise DataError(self.source, f"{role} column {name!r} has {len(columns[name])} values for "
                                                 f"{len(self.ids)} ids")

    def __len__(self) -> int:
        return len(self.ids)

    def display_info(self) -> dict[str, dict[str, str]]:
        """Each id's title (its first text column) and category (its first categorical column, else
        its first tag): what recommendations are shown with when no other item info is given."""
        s = self.schema
        info: dict[str, dict[str, str]] = {}
        for r, i in enumerate(self.ids):
            title = self.text[s.text[0]][r] if s.text else ""
            category = self.categorical[s.categorical[0]][r] if s.categorical else \
                next(iter(self.tags[s.tags[0]][r]), "") if s.tags else ""
            fields = {k: v for k, v in (("title", title), ("category", category)) if v}
            if fields:
                info[i] = fields
        return info

    def subset(self, ids: Sequence[str]) -> SideTable:
        """The rows of these ids (in this table's order); ids without a row are left out."""
        wanted = set(map(str, ids))
        rows = [r for r, i in enumerate(self.ids) if i in wanted]
        return SideTable(
            [self.ids[r] for r in rows], self.schema,
            {k: [v[r] for r in rows] for k, v in self.text.items()},
            {k: [v[r] for r in rows] for k, v in self.categorical.items()},
            {k: [v[r] for r in rows] for k, v in self.tags.items()},
            {k: v[rows] for k, v in self.numeric.items()},
            self.source,
        )


@dataclass
class SideMatch:
    """How a side table (or vector file) lines up with the ids a model knows."""

    rows: np.ndarray  # (len(ids),) row of each known id in the side data, -1 where it has none
    unknown: int  # side rows whose id the model does not know
    missing: int  # known ids with no side row
    unknown_examples: list[str]
    missing_examples: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"matched": int((self.rows >= 0).sum()), "unknown": self.unknown, "missing": self.missing,
                "unknown_examples": self.unknown_examples, "missing_examples": self.missing_examples}


@dataclass
class Vectors:
    """Precomputed embeddings (an image or audio encoder's output, say), one row per id."""

    ids: list[str]
    matrix: np.ndarray  # (N, dim) float32
    source: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def read_side_table(path: str | Path, schema: SideSchema, format: str = "auto", encoding: str = "auto",
                    scale: Mapping[str, tuple[float, float]] | None = None) -> SideTable:
    """Read an item or user table. encoding 'auto' takes UTF-8, or Latin-1 where the bytes are not
    UTF-8 (MovieLens' movies.dat). `scale`: a trained model's (mean, std) per numeric column; a
    value more than MOST_DEVIATIONS standard deviations from its mean is refused."""
    path = Path(path)
    fmt = check_path(path, format, SIDE_FORMATS)
    if fmt == "dat":
        frame, first_line = _read_dat(path, read_text(path, encoding), schema.names)
    else:
        frame, first_line = read_table(path, fmt, encoding, [schema.id, *schema.columns()])
    return side_table_from_frame(frame, schema, path, first_line, scale)


def side_table_from_frame(
    frame: pl.DataFrame, schema: SideSchema, path: Path, first_line: int | list[int] = 2,
    scale: Mapping[str, tuple[float, float]] | None = None,
) -> SideTable:
    """Parse an all-string frame by the schema (numbers checked against `scale`, as `read_side_table`
    says); errors name the file, line and column."""
    for name in (schema.id, *schema.columns()):
        if name not in frame.columns:
            raise DataError(path, f"no column {name!r} (columns: {', '.join(frame.columns)})")
    ids = frame[schema.id].str.strip_chars()
    first_bad(path, ids.is_null() | (ids == ""), first_line, schema.id, "empty id")
    keep = ~ids.is_duplicated() | ids.is_first_distinct()
    frame, lines = frame.filter(keep), _lines(first_line, frame.height, keep.to_numpy())
    numeric = {}
    for name in schema.numeric:
        values = parse_numbers(path, frame[name], lines, name)
        if scale and name in scale:
            mean, std = scale[name]
            first_bad(path, ((values - mean).abs() > MOST_DEVIATIONS * std).fill_null(False), lines, name,
                      f"more than {MOST_DEVIATIONS:g} standard deviations from the trained mean {mean:g}",
                      frame[name].str.strip_chars())
        numeric[name] = values.fill_null(float("nan")).to_numpy()
    return SideTable(
        frame[schema.id].str.strip_chars().to_list(), schema,
        {name: frame[name].fill_null("").str.strip_chars().to_list() for name in schema.text},
        {name: frame[name].fill_null("").str.strip_chars().to_list() for name in schema.categorical},
        {name: [[t.strip() for t in (v or "").split(schema.tag_sep) if t.strip()] for v in frame[name].to_list()]
         for name in schema.tags},
        numeric, str(path), int((~keep).sum()),
    )


def read_vectors(path: str | Path, id_col: str = "item", dim: int | None = None) -> Vectors:
    """Embedding vectors keyed by id, from Parquet (an id column and either one list column or one
    numeric column per dimension), `.npz` (arrays `ids` and `vectors`) or `.npy` (a 2-D array
    whose row ids are in `<stem>.ids.txt` beside it, one per line). `dim`, when given, is checked."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        ids, matrix = _parquet_vectors(path, id_col)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            for key in ("ids", "vectors"):
                if key not in arrays:
                    raise DataError(path, f"no array {key!r} (arrays: {', '.join(arrays.files)})")
            ids, matrix = [str(i) for i in arrays["ids"].tolist()], arrays["vectors"]
    elif suffix == ".npy":
        id_file = path.with_suffix(".ids.txt")
        if not id_file.exists():
            raise DataError(path, f"a .npy file needs its row ids in {id_file.name} beside it, one per line")
        matrix = np.load(path, allow_pickle=False)
        ids = [line.strip() for line in id_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise DataError(path, "vectors must be .parquet, .npz or .npy")
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise DataError(path, f"vectors must be a 2-D numeric array, not {matrix.dtype} of shape {matrix.shape}")
    if len(ids) != len(matrix):
        raise DataError(path, f"{len(ids)} ids for {len(matrix)} vectors")
    if dim is not None and matrix.shape[1] != dim:
        raise DataError(path, f"vectors have dimension {matrix.shape[1]}, expected {dim}")
    matrix = matrix.astype(np.float32)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise DataError(path, f"the vector of id {ids[int(bad.argmax())]!r} is not finite")
    return Vectors(ids, matrix, str(path))


def match_ids(side_ids: Sequence[str], ids: Sequence[str], examples: int = 5) -> SideMatch:
    """Line side rows up with known ids, counting side rows for unknown ids and ids without a row."""
    where = {raw: row for row, raw in enumerate(side_ids)}
    rows = np.fromiter((where.get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))
    known = set(map(str, ids))
    unknown = [s for s in side_ids if s not in known]
    missing = [str(i) for i, r in zip(ids, rows) if r < 0]
    return SideMatch(rows, len(unknown), len(missing), unknown[:examples], missing[:examples])


def _read_dat(path: Path, text: str, names: tuple[str, ...] | None) -> tuple[pl.DataFrame, list[int]]:
    """A `::`-separated file without a header; fields named by `names`, or MovieLens' own."""
    records, lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            records.append(line.rstrip("\r").split("::"))
            lines.append(number)
    if not records:
        raise DataError(path, "no rows")
    width = len(records[0])
    names = names or MOVIELENS_COLUMNS.get(width)
    if names is None:
        raise DataError(path, f"{width} fields per line; name them (e.g. --names item,title,genres)", lines[0])
    for record, number in zip(records, lines):
        if len(record) != len(names):
            raise DataError(path, f"expected {len(names)} fields ({'::'.join(names)}), got {len(record)}", number)
    return pl.DataFrame({n: [r[j] for r in records] for j, n in enumerate(names)}, schema=dict.fromkeys(names, pl.String)), lines


def _parquet_vectors(path: Path, id_col: str) -> tuple[list[str], np.ndarray]:
    try:
        frame = pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise DataError(path, f"cannot read as parquet: {str(exc).splitlines()[0]}") from None
    if id_col not in frame.columns:
        raise DataError(path, f"no id column {id_col!r} (columns: {', '.join(frame.columns)})")
    ids = frame[id_col].cast(pl.String).to_list()
    rest = frame.drop(id_col)
    lists = [c for c in rest.columns if isinstance(rest[c].dtype, (pl.List, pl.Array))]
    if len(lists) == 1:
        values = rest[lists[0]].to_list()
        lengths = {len(v) if v is not None else 0 for v in values}
        if len(lengths) != 1:
            row = next(i for i, v in enumerate(values) if v is None or len(v) != len(values[0] or []))
            raise DataError(path, f"vectors of different lengths (id {ids[row]!r})", column=lists[0])
        return ids, np.asarray(values, dtype=np.float32)
    numeric = [c for c in rest.columns if rest[c].dtype.is_numeric()]
    if not numeric or len(numeric) != len(rest.columns):
        raise DataError(path, "expected one list column of vectors, or only numeric columns beside the id")
    return ids, rest.select(numeric).to_numpy().astype(np.float32)


def _lines(first_line: int | list[int], height: int, keep: np.ndarray) -> list[int]:
    """The file line of each kept row."""
    every = first_line if isinstance(first_line, list) else list(range(first_line, first_line + height))
    return [line for line, k in zip(every, keep) if k]
