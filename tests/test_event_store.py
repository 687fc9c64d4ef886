"""The event store (SQLite and PostgreSQL) and the service's per-user history cache.

Every store test runs on both back ends: a SQLite file in tmp_path, and a fresh database in a
throwaway PostgreSQL cluster (tests/pg_cluster.py; skipped only where PostgreSQL is not installed).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from attnsight.errors import AttnsightError
from attnsight.serve.registry import HistoryCache
from attnsight.serve.store import (
    BehaviourEvent,
    EventStore,
    HistoryVersion,
    PostgresStore,
    SQLiteStore,
    Transaction,
    open_store,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'events.db'}")
        assert isinstance(opened, SQLiteStore)
    else:
        cluster = request.getfixturevalue("pg_cluster")
        opened = open_store(cluster.new_database())
        assert isinstance(opened, PostgresStore)
    try:
        yield opened
    finally:
        opened.close()


def ev(user: str, item: str, ts: float, event_id: str | None = None) -> BehaviourEvent:
    return BehaviourEvent(user, item, ts, event_id)


# --- idempotent inserts ----------------------------------------------------------------------------


def test_add_behaviour_counts_new_rows(store: EventStore) -> None:
    assert store.add_behaviour([]) == 0
    assert store.add_behaviour([ev("u1", "a", 1.0, "e1"), ev("u1", "b", 2.0, "e2"), ev("u2", "c", 3.0, "e3")]) == 3
    assert store.count("behaviour") == 3


def test_repeated_event_ids_are_not_stored_twice(store: EventStore) -> None:
    batch = [ev("u1", "a", 1.0, "e1"), ev("u1", "b", 2.0, "e2")]
    assert store.add_behaviour(batch) == 2
    assert store.add_behaviour(batch) == 0  # a retried request
    assert store.add_behaviour([ev("u1", "other", 9.0, "e1")]) == 0  # the id decides, not the content
    assert store.count("behaviour") == 2
    assert store.history("u1", 10) == ["a", "b"]


def test_a_batch_with_an_earlier_duplicate_counts_only_new_rows(store: EventStore) -> None:
    assert store.add_behaviour([ev("u", "a", 1.0, "e1"), ev("u", "b", 2.0, "e2")]) == 2
    # duplicate first, in the middle, last: each position must count
    assert store.add_behaviour([ev("u", "a", 1.0, "e1"), ev("u", "c", 3.0, "e3"), ev("u", "d", 4.0, "e4")]) == 2
    assert store.add_behaviour([ev("u", "e", 5.0, "e5"), ev("u", "b", 2.0, "e2"), ev("u", "f", 6.0, "e6")]) == 2
    assert store.add_behaviour([ev("u", "g", 7.0, "e7"), ev("u", "h", 8.0, "e8"), ev("u", "d", 4.0, "e4")]) == 2
    assert store.add_behaviour([ev("u", "x", 1.0, "e1"), ev("u", "y", 2.0, "e2"), ev("u", "z", 3.0, "e3")]) == 0
    assert store.count("behaviour") == 8
    assert store.event_ids("behaviour") == {f"e{n}" for n in range(1, 9)}


def test_a_duplicate_within_one_batch_is_stored_once(store: EventStore) -> None:
    assert store.add_behaviour([ev("u", "a", 1.0, "same"), ev("u", "b", 2.0, "same"), ev("u", "c", 3.0, "x")]) == 2
    assert store.count("behaviour") == 2


def test_rows_without_an_id_are_never_deduplicated(store: EventStore) -> None:
    row = ev("u", "a", 1.0)
    assert store.add_behaviour([row, row]) == 2
    assert store.add_behaviour([row]) == 1
    assert store.count("behaviour") == 3
    assert store.event_ids("behaviour") == set()
    assert store.history("u", 10) == ["a", "a", "a"]


def test_transactions_are_idempotent_on_event_id(store: EventStore) -> None:
    rows = [Transaction("acc", 1.0, {"amount": 1}, "ent", "t1"), Transaction("acc", 2.0, {"amount": 2}, None, "t2")]
    assert store.add_transactions(rows) == 2
    assert store.add_transactions(rows + [Transaction("acc", 3.0, {"amount": 3}, None, "t3")]) == 1
    assert store.add_transactions([Transaction("acc", 4.0, {}), Transaction("acc", 4.0, {})]) == 2
    assert store.count("transactions") == 5
    assert store.event_ids("transactions") == {"t1", "t2", "t3"}
    assert store.count("behaviour") == 0  # the two tables are apart


def test_groups_share_one_commit_and_count_per_group(store: EventStore) -> None:
    tx = Transaction("acc", 1.0, {"amount": 1}, None, "t1")
    groups = [
        ([ev("u", "a", 1.0, "e1"), ev("u", "b", 2.0, "e2")], [tx]),
        ([ev("v", "c", 1.0, "e1"), ev("v", "d", 2.0)], []),  # e1 belongs to the first group already
        ([], [tx, Transaction("acc", 2.0, {}, None, "t2")]),
        ([], []),
    ]
    assert store.add_groups(groups) == [(2, 1), (1, 0), (0, 1), (0, 0)]
    assert store.count("behaviour") == 3 and store.count("transactions") == 2
    assert store.history("v", 10) == ["d"]


def test_a_failing_group_commits_none_of_its_batch(store: EventStore) -> None:
    bad = ev("u", "b", 2.0, "e2")
    object.__setattr__(bad, "ts", object())  # no database can store this timestamp
    with pytest.raises(Exception):
        store.add_groups([([ev("u", "a", 1.0, "e1")], []), ([bad], [])])
    assert store.count("behaviour") == 0
    assert store.add_behaviour([ev("u", "a", 1.0, "e1")]) == 1  # and the store still works


# --- histories -------------------------------------------------------------------------------------


def test_history_is_ordered_by_time_then_arrival(store: EventStore) -> None:
    # arrives out of time order; "tie1" and "tie2" share a timestamp and keep their arrival order
    store.add_behaviour([ev("u", "late", 30.0), ev("u", "early", 10.0)])
    store.add_behaviour([ev("u", "tie1", 20.0), ev("other", "elsewhere", 15.0)])
    store.add_behaviour([ev("u", "tie2", 20.0), ev("u", "first", 1.0)])
    assert store.history("u", 10) == ["first", "early", "tie1", "tie2", "late"]
    assert store.history("u", 3) == ["tie1", "tie2", "late"]  # the last three, oldest first
    assert store.history("u", 1) == ["late"]
    assert store.history("other", 10) == ["elsewhere"]
    assert store.history("nobody", 10) == []


def test_history_versions_of_many_users_in_one_call_match_one_by_one(store: EventStore) -> None:
    store.add_behaviour([ev("u", "a", 1.0, "e1"), ev("v", "x", 1.0, "e2"), ev("u", "b", 2.0, "e3")])
    users = ["u", "nobody", "v", "u"]
    versions = store.history_versions(users)
    assert set(versions) == {"u", "nobody", "v"}
    assert versions == {user: store.history_version(user) for user in users}
    assert (versions["u"].count, versions["v"].count, versions["nobody"].count) == (2, 1, 0)
    assert versions["u"].last_seq > versions["v"].last_seq  # e3 came last
    many = [f"user{n}" for n in range(1200)]  # over one query's 500 parameters
    store.add_behaviour([ev(many[-1], "z", 1.0, "e4")])
    assert store.history_versions(many)[many[-1]].count == 1


def test_history_version_changes_only_when_the_users_rows_do(store: EventStore) -> None:
    empty = store.history_version("u")
    assert empty == HistoryVersion(0, 0)
    store.add_behaviour([ev("u", "a", 1.0, "e1")])
    one = store.history_version("u")
    assert one != empty and one.count == 1
    assert store.history_version("u") == one  # reading changes nothing
    store.add_behaviour([ev("u", "a", 1.0, "e1")])  # a duplicate adds no row
    assert store.history_version("u") == one
    store.add_behaviour([ev("someone-else", "b", 2.0, "e2")])
    assert store.history_version("u") == one
    store.add_behaviour([ev("u", "c", 0.5, "e3")])  # older than the stored row, still a change
    two = store.history_version("u")
    assert two != one and two.count == 2 and two.last_seq > one.last_seq


def test_transactions_before(store: EventStore) -> None:
    rows = [
        Transaction("acc1", 5.0, {"amount": 5.5, "channel": "web", "tags": ["a", "b"], "note": None}, "term1", "t5"),
        Transaction("acc1", 1.0, {"amount": 1}, "term2", "t1"),
        Transaction("acc1", 3.0, {"amount": 3}, "term1", "t3"),
        Transaction("acc2", 2.0, {"amount": 2}, "term1", "t2"),
        Transaction("acc1", 9.0, {"amount": 9}, "term1", "t9"),
        Transaction("acc1", 3.0, {"amount": 33}, None, "t3b"),  # same time as t3, arrived later
    ]
    store.add_transactions(rows)
    got = store.transactions_before("account", "acc1", 5.0, limit=10)
    assert [t.event_id for t in got] == ["t1", "t3", "t3b", "t5"]  # ts <= 5 inclusive, oldest first
    assert got[-1].payload == {"amount": 5.5, "channel": "web", "tags": ["a", "b"], "note": None}
    assert len({t.seq for t in got}) == 4 and got[1].seq < got[2].seq  # t3 arrived before t3b
    assert [t.event_id for t in store.transactions_before("account", "acc1", 5.0, limit=2)] == ["t3b", "t5"]
    assert [t.event_id for t in store.transactions_before("account", "acc1", 4.999, limit=10)] == ["t1", "t3", "t3b"]
    assert [t.event_id for t in store.transactions_before("entity", "term1", 100.0, limit=10)] == \
        ["t2", "t3", "t5", "t9"]
    assert store.transactions_before("account", "acc1", 0.5, limit=10) == []
    assert store.transactions_before("account", "nobody", 100.0, limit=10) == []
    with pytest.raises(ValueError):
        store.transactions_before("payload; DROP TABLE transactions", "x", 1.0, 1)


def test_count_event_ids_and_ping(store: EventStore) -> None:
    assert store.count("behaviour") == 0 and store.count("transactions") == 0
    assert store.event_ids("behaviour") == set()
    store.add_behaviour([ev("u", "a", 1.0, "e1"), ev("u", "b", 2.0), ev("v", "c", 3.0, "e3")])
    assert store.count("behaviour") == 3
    assert store.event_ids("behaviour") == {"e1", "e3"}
    assert store.ping() is True
    for bad in ("users", "behaviour; DROP TABLE behaviour"):
        with pytest.raises(ValueError):
            store.count(bad)
        with pytest.raises(ValueError):
            store.event_ids(bad)


def test_rows_survive_reopening(store: EventStore) -> None:
    store.add_behaviour([ev("u", "a", 1.0, "e1"), ev("u", "b", 2.0, "e2")])
    url = f"sqlite:///{store.path}" if isinstance(store, SQLiteStore) else store.url
    store.close()
    again = open_store(url)  # the tables exist already: CREATE IF NOT EXISTS keeps them
    try:
        assert again.history("u", 10) == ["a", "b"]
        assert again.add_behaviour([ev("u", "a", 1.0, "e1")]) == 0
    finally:
        again.close()


def test_concurrent_writers_lose_nothing(store: EventStore) -> None:
    threads_n, batches, per_batch = 6, 15, 4
    returned: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def writer(t: int) -> None:
        try:
            start.wait()
            for b in range(batches):
                rows = [ev(f"user{t}", f"item{i}", float(b * per_batch + i), f"t{t}-b{b}-{i}")
                        for i in range(per_batch)]
                returned.append(store.add_behaviour(rows))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors, errors
    total = threads_n * batches * per_batch
    assert store.count("behaviour") == total
    assert sum(returned) == total
    assert len(store.event_ids("behaviour")) == total
    assert store.history_version("user3").count == batches * per_batch


# --- SQLite specifics and open_store ---------------------------------------------------------------


def test_sqlite_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        conn = store._conn  # the calling thread's connection, as every query uses it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        seen: list[tuple[str, int]] = []

        def other_thread() -> None:  # each thread opens its own connection with the same settings
            c = store._conn
            seen.append((c.execute("PRAGMA journal_mode").fetchone()[0].lower(),
                         c.execute("PRAGMA synchronous").fetchone()[0]))

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert seen == [("wal", 2)]
    finally:
        store.close()
    # the WAL mode is persistent in the file itself
    with sqlite3.connect(tmp_path / "events.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_open_store_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    cases = {
        "sqlite:///relative.db": tmp_path / "relative.db",
        "sqlite:///sub/nested.db": tmp_path / "sub" / "nested.db",
        f"sqlite:///{tmp_path / 'absolute.db'}": tmp_path / "absolute.db",  # sqlite:////tmp/...
        "bare.db": tmp_path / "bare.db",
        str(tmp_path / "sub" / "bare-absolute.db"): tmp_path / "sub" / "bare-absolute.db",
    }
    assert f"sqlite:///{tmp_path / 'absolute.db'}".startswith("sqlite:////")
    for url, expected in cases.items():
        store = open_store(url)
        try:
            assert isinstance(store, SQLiteStore), url
            assert store.path.resolve() == expected, url
            store.add_behaviour([ev("u", "a", 1.0, "e")])
        finally:
            store.close()
        assert expected.is_file(), url


@pytest.mark.parametrize("url", ["mysql://u@localhost/db", "redis://localhost:6379/0", "sqlite://relative.db",
                                 "file:///tmp/x.db", "http://example.invalid/"])
def test_open_store_rejects_other_schemes(url: str) -> None:
    with pytest.raises(AttnsightError) as info:
        open_store(url)
    assert "sqlite:///" in str(info.value) and "postgresql://" in str(info.value)


def test_open_store_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(AttnsightError) as info:
        open_store(f"sqlite:///{missing / 'events.db'}")
    assert str(missing) in str(info.value)
    assert not missing.exists()


def test_open_store_postgres_url(pg_cluster) -> None:  # noqa: F811
    url = pg_cluster.new_database()
    for scheme_url in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(scheme_url)
        try:
            assert isinstance(store, PostgresStore)
            assert store.ping()
        finally:
            store.close()


def test_postgres_connection_error_hides_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(AttnsightError) as info:
        open_store("postgresql://u:secret@127.0.0.1:1/x")
    message = str(info.value)
    assert "secret" not in message
    assert "127.0.0.1:1/x" in message and "u:***@" in message
    assert "\n" not in message


def test_postgres_connection_error_hides_a_query_string_password() -> None:
    """libpq URLs may carry the password as a parameter; it must not reach the message either.
    BUG (left failing): _redact only masks user:password@ and prints ?password=... as given."""
    pytest.importorskip("psycopg")
    for url in ("postgresql://u@127.0.0.1:1/x?password=secret",
                "postgresql://127.0.0.1:1/x?sslmode=disable&password=secret"):
        with pytest.raises(AttnsightError) as info:
            open_store(url)
        assert "secret" not in str(info.value), str(info.value)


def _cut_connections(cluster, url: str) -> None:
    """Terminate every server connection to the URL's database (a restart or failover, as the store sees it)."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (url.rsplit("/", 1)[1],))


def test_ping_reports_a_lost_connection_as_not_ready(pg_cluster) -> None:  # noqa: F811
    url = pg_cluster.new_database()
    store = open_store(url)
    try:
        assert store.ping()
        _cut_connections(pg_cluster, url)
        assert store.ping() is False
    finally:
        store.close()


def test_postgres_store_reconnects_after_losing_its_connection(pg_cluster) -> None:  # noqa: F811
    """A dropped connection (server restart, failover, idle timeout) must not break the store for good.
    BUG (left failing): each thread keeps its dead connection, so every later call fails with
    'the connection is closed' and /readyz stays 503 until the service is restarted."""
    url = pg_cluster.new_database()
    store = open_store(url)
    try:
        store.add_behaviour([ev("u", "a", 1.0, "e1")])
        _cut_connections(pg_cluster, url)
        store.ping()  # may fail once: the loss is discovered here
        assert store.ping() is True
        assert store.add_behaviour([ev("u", "b", 2.0, "e2")]) == 1
        assert store.history("u", 10) == ["a", "b"]
    finally:
        store.close()


# --- the history cache -----------------------------------------------------------------------------


class SpyStore:
    """Delegates to a real store and counts the history reads."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.history_calls: list[tuple[str, int]] = []

    def history(self, user: str, limit: int) -> list[str]:
        self.history_calls.append((user, limit))
        return self.inner.history(user, limit)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.fixture
def spy(store: EventStore) -> SpyStore:
    return SpyStore(store)


def test_cache_returns_the_stores_items(spy: SpyStore) -> None:
    spy.add_behaviour([ev("u", "b", 2.0), ev("u", "a", 1.0), ev("u", "c", 3.0)])
    cache = HistoryCache(spy, size=10)  # type: ignore[arg-type]
    assert cache.items("u", 10) == ["a", "b", "c"] == spy.inner.history("u", 10)
    assert cache.items("nobody", 10) == []
    assert ("nobody", 10) not in spy.history_calls  # an empty version needs no read


def test_cache_serves_repeated_reads_without_the_store(spy: SpyStore) -> None:
    spy.add_behaviour([ev("u", f"i{n}", float(n)) for n in range(8)])
    cache = HistoryCache(spy, size=10)  # type: ignore[arg-type]
    first = cache.items("u", 5)
    assert first == ["i3", "i4", "i5", "i6", "i7"]
    assert len(spy.history_calls) == 1
    for _ in range(3):
        assert cache.items("u", 5) == first
    assert cache.items("u", 2) == ["i6", "i7"]  # a shorter window of the cached one
    assert len(spy.history_calls) == 1
    assert cache.items("u", 8) == [f"i{n}" for n in range(8)]  # a longer one is read
    assert len(spy.history_calls) == 2


def test_cache_rereads_after_a_new_event_for_the_user(spy: SpyStore) -> None:
    spy.add_behaviour([ev("u", "a", 1.0, "e1"), ev("v", "x", 1.0, "e2")])
    cache = HistoryCache(spy, size=10)  # type: ignore[arg-type]
    assert cache.items("u", 5) == ["a"] and cache.items("v", 5) == ["x"]
    assert len(spy.history_calls) == 2
    spy.add_behaviour([ev("u", "a", 1.0, "e1")])  # duplicate: nothing changed
    spy.add_behaviour([ev("v", "y", 2.0, "e3")])  # another user's event
    assert cache.items("u", 5) == ["a"]
    assert len(spy.history_calls) == 2
    spy.add_behaviour([ev("u", "b", 2.0, "e4")])
    assert cache.items("u", 5) == ["a", "b"]
    assert len(spy.history_calls) == 3
    assert cache.items("v", 5) == ["x", "y"]
    assert len(spy.history_calls) == 4


def test_cache_evicts_the_least_recently_used_user(spy: SpyStore) -> None:
    spy.add_behaviour([ev(u, f"{u}-item", 1.0) for u in ("a", "b", "c")])
    cache = HistoryCache(spy, size=2)  # type: ignore[arg-type]
    cache.items("a", 5)
    cache.items("b", 5)
    cache.items("a", 5)  # a is now more recent than b
    assert [u for u, _ in spy.history_calls] == ["a", "b"]
    cache.items("c", 5)  # over the size: b goes
    assert [u for u, _ in spy.history_calls] == ["a", "b", "c"]
    assert cache.items("a", 5) == ["a-item"]
    assert cache.items("c", 5) == ["c-item"]
    assert [u for u, _ in spy.history_calls] == ["a", "b", "c"]  # both still cached
    assert cache.items("b", 5) == ["b-item"]
    assert [u for u, _ in spy.history_calls] == ["a", "b", "c", "b"]  # b was evicted and is read again
