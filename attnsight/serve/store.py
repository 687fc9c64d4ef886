"""The event store: live behaviour events and transactions, durable before they are acknowledged.

SQLite in WAL mode with synchronous=FULL by default (a file, nothing to start; a commit survives
a killed process and a power cut), PostgreSQL by URL for several service replicas. Both take the
same SQL but for placeholders and the auto-increment column. Inserts are idempotent on event id
(NULL ids never collide); histories come back ordered by timestamp, then arrival.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from attnsight.errors import AttnsightError

_TABLES = """
CREATE TABLE IF NOT EXISTS behaviour (
    seq {serial} PRIMARY KEY, user_id TEXT NOT NULL, item TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL, event_id TEXT UNIQUE);
CREATE INDEX IF NOT EXISTS behaviour_user ON behaviour (user_id, ts, seq);
CREATE TABLE IF NOT EXISTS transactions (
    seq {serial} PRIMARY KEY, account TEXT NOT NULL, entity TEXT,
    ts DOUBLE PRECISION NOT NULL, event_id TEXT UNIQUE, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transactions_account ON transactions (account, ts, seq);
CREATE INDEX IF NOT EXISTS transactions_entity ON transactions (entity, ts, seq);
"""


@dataclass(frozen=True)
class BehaviourEvent:
    user: str
    item: str
    ts: float  # epoch seconds
    event_id: str | None = None


@dataclass(frozen=True)
class Transaction:
    account: str
    ts: float
    payload: dict[str, Any]  # the row, keyed by the risk model's column names
    entity: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class StoredTransaction:
    seq: int  # arrival order; one row can be both an account's and an entity's history
    event_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class HistoryVersion:
    """Changes whenever a user's stored history does (rows are only ever added)."""

    count: int
    last_seq: int


class EventStore(ABC):
    """Thread-safe: each thread gets its own connection."""

    placeholder = "?"
    serial = "INTEGER"

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        with self._transaction() as cur:
            for statement in filter(str.strip, _TABLES.format(serial=self.serial).split(";")):
                cur.execute(statement)

    @abstractmethod
    def _connect(self) -> Any: ...

    @property
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(conn, "closed", False):  # a server restart or idle timeout closed it
            if conn is not None:
                self._forget(conn)
            conn = self._local.conn = self._connect()
            with self._lock:
                self._connections.append(conn)
        return conn

    def _forget(self, conn: Any) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._conn
        cur = conn.cursor()
        try:
            yield cur
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:  # the connection itself is gone: the next call opens a new one
                self._forget(conn)
            raise
        finally:
            try:
                cur.close()
            except Exception:  # closing a cursor of a dead connection
                pass

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    def add_behaviour(self, events: Sequence[BehaviourEvent]) -> int:
        """Store events in one transaction (committed when this returns); how many were new."""
        return self.add_groups([(events, ())])[0][0]

    def add_transactions(self, rows: Sequence[Transaction]) -> int:
        return self.add_groups([((), rows)])[0][1]

    def add_groups(
        self, groups: Sequence[tuple[Sequence[BehaviourEvent], Sequence[Transaction]]]
    ) -> list[tuple[int, int]]:
        """Several requests' events in one transaction — one commit, one fsync (group commit) —
        all of them stored when this returns; per group, how many behaviour events and
        transactions were new."""
        behaviour = self._sql("INSERT INTO behaviour (user_id, item, ts, event_id) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (event_id) DO NOTHING")
        transactions = self._sql("INSERT INTO transactions (account, entity, ts, event_id, payload) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING")
        with self._transaction() as cur:
            return [(self._insert(cur, behaviour, [(e.user, e.item, e.ts, e.event_id) for e in events]),
                     self._insert(cur, transactions,
                                  [(t.account, t.entity, t.ts, t.event_id, json.dumps(t.payload)) for t in rows]))
                    for events, rows in groups]

    def _insert(self, cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        before = self._changes(cur)
        cur.executemany(sql, rows)
        return self._changes(cur) - before if before is not None else cur.rowcount

    def _changes(self, cur: Any) -> int | None:
        return None

    def history_version(self, user: str) -> HistoryVersion:
        return self.history_versions([user])[user]

    def history_versions(self, users: Sequence[str]) -> dict[str, HistoryVersion]:
        """Each user's history version, in one query per 500 users (a batch of requests asks once)."""
        found = {user: HistoryVersion(0, 0) for user in users}
        unique = list(found)
        with self._transaction() as cur:
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ", ".join("?" * len(part))
                cur.execute(self._sql(f"SELECT user_id, count(*), coalesce(max(seq), 0) FROM behaviour "
                                      f"WHERE user_id IN ({marks}) GROUP BY user_id"), part)
                for user, count, last in cur.fetchall():
                    found[user] = HistoryVersion(int(count), int(last))
        return found

    def history(self, user: str, limit: int) -> list[str]:
        """The user's last `limit` items, oldest first."""
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT item FROM behaviour WHERE user_id = ? ORDER BY ts DESC, seq DESC LIMIT ?"),
                        (user, limit))
            return [row[0] for row in reversed(cur.fetchall())]

    def transactions_before(self, column: str, key: str, ts: float, limit: int) -> list[StoredTransaction]:
        """The last `limit` transactions of an account or entity at or before ts, oldest first."""
        if column not in ("account", "entity"):
            raise ValueError(column)
        with self._transaction() as cur:
            cur.execute(self._sql(f"SELECT seq, event_id, payload FROM transactions WHERE {column} = ? AND ts <= ? "
                                  "ORDER BY ts DESC, seq DESC LIMIT ?"), (key, ts, limit))
            return [StoredTransaction(int(seq), event_id, json.loads(payload))
                    for seq, event_id, payload in reversed(cur.fetchall())]

    def count(self, table: str) -> int:
        if table not in ("behaviour", "transactions"):
            raise ValueError(table)
        with self._transaction() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            return int(cur.fetchone()[0])

    def event_ids(self, table: str) -> set[str]:
        if table not in ("behaviour", "transactions"):
            raise ValueError(table)
        with self._transaction() as cur:
            cur.execute(f"SELECT event_id FROM {table} WHERE event_id IS NOT NULL")
            return {row[0] for row in cur.fetchall()}

    def ping(self) -> bool:
        try:
            with self._transaction() as cur:
                cur.execute("SELECT 1")
                return True
        except Exception:  # readiness reports any failure as "not ready"
            return False

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except Exception:  # another thread's connection may already be unusable
                    pass
            self._connections.clear()
        self._local = threading.local()

    def discard(self) -> None:
        """Close; and remove the store if opening it created it (a service that failed to start
        leaves no empty store behind)."""
        self.close()


class SQLiteStore(EventStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise AttnsightError(f"event store {self.path}: folder {self.path.parent} does not exist")
        self.created = not self.path.exists()
        try:
            super().__init__()
        except sqlite3.DatabaseError as exc:  # not a database, a folder, unreadable: one line, not a traceback
            self.close()
            raise AttnsightError(f"event store {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _changes(self, cur: Any) -> int:
        return int(cur.connection.total_changes)

    def discard(self) -> None:
        super().discard()
        if self.created:
            for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                path.unlink(missing_ok=True)


class PostgresStore(EventStore):
    placeholder = "%s"
    serial = "BIGSERIAL"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise AttnsightError("a PostgreSQL event store needs psycopg: pip install 'attnsight[serve]'") from None
        self._psycopg = psycopg
        self.url = url
        super().__init__()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url)
        except self._psycopg.OperationalError as exc:
            raise AttnsightError(f"event store {_redact(self.url)}: {str(exc).strip().splitlines()[0]}") from None


def open_store(url: str) -> EventStore:
    """sqlite:///relative.db, sqlite:////absolute.db, a bare file path, or postgresql://..."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///"):])
    if "://" in url:
        raise AttnsightError(f"event store {url!r}: use sqlite:///PATH or postgresql://...")
    return SQLiteStore(url)


def _redact(url: str) -> str:
    """The URL without its password (user:password@ or ?password=), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(f"{k}=***" if k.lower() == "password" else f"{k}={v}" for k, v in parse_qsl(parts.query))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
