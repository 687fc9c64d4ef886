"""Errors the CLI turns into one line on stderr and a non-zero exit, without a traceback."""

from __future__ import annotations

import operator


class AttnsightError(Exception):
    """A problem with the user's input or request, explained in one line."""


class DataError(AttnsightError):
    """Bad input data, located by file, line (or, where lines are not counted, data row from 1)
    and column where they are known."""

    def __init__(self, path: object, message: str, line: int | None = None, column: str | None = None,
                 row: int | None = None) -> None:
        self.path, self.line, self.column, self.message, self.row = str(path), line, column, message, row
        where = [self.path]
        if line is not None:
            where.append(f"line {line}")
        elif row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(AttnsightError, ValueError):
    """A model setting that cannot work (an unknown pooling, pairs hashed into one bucket): a
    ValueError to Python callers, a one-line error on the command line."""


def check_count(name: str, value: object, least: int = 1) -> int:
    """A count argument of the Python API (k, top, rows of a batch) as an int: a float, a text or a
    count below `least` is named here rather than met later as a slice that quietly drops items."""
    try:
        count = operator.index(value)  # ints and numpy's integers, not 2.5 nor "3"
    except TypeError:
        raise TypeError(f"{name} must be a whole number, not {value!r}") from None
    if count < least:
        raise ConfigError(f"{name} must be at least {least}, not {count}")
    return count


def last_line(exc: BaseException, limit: int = 200) -> str:
    """The gist of a library's error for a one-line message: torch's errors name the mismatch on
    their last line, after a page of context."""
    return str(exc).strip().splitlines()[-1].strip().rstrip(".")[:limit]
