"""A throwaway PostgreSQL cluster on 127.0.0.1 for the event-store and serving tests.

Not a test module: test modules import the session-scoped fixture (`from pg_cluster import pg_cluster`)
and ask it for a fresh database per test (`pg_cluster.new_database()`). The cluster is initdb'd into a
temporary folder, started on a free port with fsync on, and stopped (`pg_ctl -m immediate stop`) and
deleted when the last module using it finishes. initdb and postgres refuse to run as root, so when the
tests run as root (as here and in CI) the binaries run as the `postgres` system user, which Debian's
postgresql package creates. Where no PostgreSQL binary exists the fixture skips, saying how to install it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_HINT = ("PostgreSQL is not installed (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin); "
                "install it to run these tests: apt-get install postgresql")


def find_binaries() -> tuple[str, str] | None:
    """(initdb, pg_ctl), from PATH or the newest /usr/lib/postgresql/*/bin; None where absent."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(folder: str) -> tuple[int, ...]:
        name = Path(folder).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        initdb, pg_ctl = os.path.join(folder, "initdb"), os.path.join(folder, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return initdb, pg_ctl
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One postgres server in a temporary folder; `url` is its superuser's `postgres` database."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("PostgreSQL refuses to run as root and there is no `postgres` user to run it as; "
                            "apt-get install postgresql creates one")
        self.root = Path(tempfile.mkdtemp(prefix="attnsight-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sock", self.root / "postgres.log"
        self.sockets.mkdir()
        if self.run_as is not None:
            for path in (self.root, self.sockets):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        self.port = 0
        self.started = False

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", self.run_as.pw_name, "--", *args]
        import shlex
        return ["su", self.run_as.pw_name, "-s", "/bin/sh", "-c", shlex.join(args)]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(self._command(*args), cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self) -> None:
        done = self._run(self.initdb, "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
                         "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr or done.stdout}")
        for attempt in range(3):  # the free port may be taken between finding it and binding it
            self.port = free_port()
            options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=on "
                       "-c synchronous_commit=on -c max_connections=100")
            done = self._run(self.pg_ctl, "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                             "-o", options, "start")
            if done.returncode == 0:
                self.started = True
                return
        raise RuntimeError(f"pg_ctl start failed: {done.stderr or done.stdout}\n{self.read_log()}")

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def new_database(self) -> str:
        """CREATE DATABASE with a fresh name; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url_for(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_lock = threading.Lock()
_shared: dict[str, object] = {"cluster": None, "users": 0}


def acquire() -> PgCluster:
    """The process's cluster, started on first use; pair every call with release()."""
    with _lock:
        cluster = _shared["cluster"]
        if cluster is None:
            binaries = find_binaries()
            if binaries is None:
                pytest.skip(INSTALL_HINT)
            pytest.importorskip("psycopg", reason="the PostgreSQL tests need psycopg: pip install 'psycopg[binary]'")
            cluster = PgCluster(*binaries)
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            _shared["cluster"] = cluster
        _shared["users"] = int(_shared["users"]) + 1  # type: ignore[arg-type]
        return cluster  # type: ignore[return-value]


def release() -> None:
    with _lock:
        _shared["users"] = int(_shared["users"]) - 1  # type: ignore[arg-type]
        cluster = _shared["cluster"]
        if _shared["users"] == 0 and cluster is not None:
            _shared["cluster"] = None
            cluster.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway cluster (one per test process, shared by every module that imports this
    fixture); skips where PostgreSQL is not installed."""
    cluster = acquire()
    try:
        yield cluster
    finally:
        release()
