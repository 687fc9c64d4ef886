"""Acknowledged events are never lost: the real `attnsight serve` process is SIGKILLed while a client
streams POST /v1/events, restarted on the same store, and every event it acknowledged (HTTP 200) must
be there. Runs on a SQLite file and on PostgreSQL (tests/pg_cluster.py; skipped only where PostgreSQL
is not installed). Also: the command's start-up errors are one line, without a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from pg_cluster import free_port

from attnsight.data.synthetic import make_audience
from attnsight.recommender import SequentialRecommender
from attnsight.serve.store import open_store

TINY = dict(max_len=20, dim=32, num_layers=1, num_heads=2, dropout=0.1, batch_size=32, lr=3e-3, device="cpu",
            seed=0, epochs=2, patience=2)
MAX_LEN = TINY["max_len"]
ACKED_BEFORE_KILL = 200  # events acknowledged before the server is killed
PER_REQUEST = 4
LIVE_USERS = 6  # per streaming thread; users the bundle never saw, so only the store knows them
STREAMS = 2
READY_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny recommender bundle (a few seconds on one thread)."""
    torch.manual_seed(0)
    audience = make_audience(num_users=80, num_items=40, mean_events=10, seed=1)
    path = tmp_path_factory.mktemp("durability") / "recsys"
    SequentialRecommender(**TINY).fit(audience.interactions, dataset="synthetic").save_pretrained(path)
    return path


class Server:
    """One `python -m attnsight serve` subprocess; its output goes to a log file."""

    def __init__(self, bundle: Path, store: str, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
        env.pop("ATTNSIGHT_API_KEY", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "attnsight", "serve", "--model", str(bundle), "--store", store,
                 "--port", str(self.port), "--log-level", "warning", "--device", "cpu"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}) before it was ready:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server was not ready within {READY_TIMEOUT:.0f} s:\n{self.log()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """start_server(bundle, store_url, name): a ready server; every one started is killed at the end."""
    started: list[Server] = []

    def start(bundle: Path, store: str, name: str) -> Server:
        server = Server(bundle, store, tmp_path, name)
        started.append(server)
        server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


class Stream:
    """Threads posting behaviour events until the server stops answering; records what was sent,
    what was acknowledged (HTTP 200) and how each thread ended."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.sent: set[str] = set()
        self.acked: list[str] = []
        self.refused: list[tuple[int, str]] = []  # answered, but not 200
        self.endings: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(STREAMS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _run(self, t: int) -> None:
        ending = "stopped"
        with httpx.Client(base_url=self.base, timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                events = []
                for i in range(PER_REQUEST):
                    k = n * PER_REQUEST + i
                    events.append({"user": f"live-{t}-{k % LIVE_USERS}", "item": f"i{k % 40 + 1:04d}",
                                   "timestamp": 1_750_000_000 + k, "event_id": f"s{t}-r{n}-e{i}"})
                ids = [e["event_id"] for e in events]
                with self._lock:
                    self.sent.update(ids)
                try:
                    response = client.post("/v1/events", json={"events": events})
                except httpx.TransportError as exc:  # the server is gone
                    ending = f"transport error: {type(exc).__name__}"
                    break
                with self._lock:
                    if response.status_code == 200:
                        self.acked.extend(ids)
                    else:
                        self.refused.append((response.status_code, response.text[:200]))
                n += 1
        with self._lock:
            self.endings.append(ending)

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(30)


def kill_while_streaming(bundle: Path, store_url: str, start_server) -> None:
    first = start_server(bundle, store_url, "first")
    stream = Stream(first.base)
    stream.start()
    try:
        deadline = time.monotonic() + 30
        while stream.acked_count() < ACKED_BEFORE_KILL:
            assert time.monotonic() < deadline, (stream.acked_count(), stream.refused, first.log())
            assert all(t.is_alive() for t in stream.threads), (stream.endings, first.log())
            time.sleep(0.005)
        assert all(t.is_alive() for t in stream.threads)  # the stream is still running as the server dies
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
        for thread in stream.threads:  # each thread notices on its next request
            thread.join(30)
    finally:
        stream.stop()
    assert first.proc.returncode == -signal.SIGKILL
    assert not stream.refused, stream.refused
    assert len(stream.endings) == STREAMS and all(e.startswith("transport error") for e in stream.endings), \
        stream.endings
    acked = set(stream.acked)
    assert len(acked) == len(stream.acked) >= ACKED_BEFORE_KILL

    second = start_server(bundle, store_url, "second")  # recovers the store as the killed one left it
    store = open_store(store_url)
    try:
        stored = store.event_ids("behaviour")
        lost = acked - stored
        assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
        assert stored <= stream.sent  # and nothing that was never sent
        assert store.count("behaviour") == len(stored)
        user = "live-0-0"
        history = store.history(user, 1000)
    finally:
        store.close()
    assert len(history) >= 2

    response = httpx.post(f"{second.base}/v1/recommend", json={"requests": [{"user": user, "k": 5}]}, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["user"] == user
    assert result["history_length"] == min(len(history), MAX_LEN)  # the user exists only in the store
    assert len(result["items"]) == 5
    assert not {i["item"] for i in result["items"]} & set(history[-MAX_LEN:])  # seen items excluded

    again = httpx.post(f"{second.base}/v1/events", timeout=10, json={"events": [
        {"user": user, "item": "i0001", "event_id": sorted(acked)[0]},  # a retry of an acknowledged event
        {"user": user, "item": "i0002", "event_id": "after-restart"}]})
    assert again.status_code == 200, again.text
    assert again.json() == {"stored": 1, "duplicates": 1}


def test_sqlite_acknowledged_events_survive_sigkill(bundle: Path, tmp_path: Path, start_server) -> None:
    kill_while_streaming(bundle, f"sqlite:///{tmp_path / 'events.db'}", start_server)


def test_postgres_acknowledged_events_survive_sigkill(bundle: Path, pg_cluster, start_server) -> None:  # noqa: F811
    kill_while_streaming(bundle, pg_cluster.new_database(), start_server)


# --- start-up errors: one line, exit status 2, no traceback ----------------------------------------


def run_serve(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "attnsight", "serve", *map(str, args), "--port", str(free_port())],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_serve_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    done = run_serve("--model", "/missing", "--store", f"sqlite:///{tmp_path / 'events.db'}", cwd=tmp_path)
    assert_one_line_error(done, "/missing")
    assert not (tmp_path / "events.db").exists()  # checked before the store is opened


def test_serve_store_errors_are_one_line(bundle: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    assert_one_line_error(run_serve("--model", bundle, "--store", f"sqlite:///{missing / 'events.db'}",
                                    cwd=tmp_path), str(missing))
    line = assert_one_line_error(run_serve("--model", bundle, "--store", "postgresql://u:secret@127.0.0.1:1/x",
                                           cwd=tmp_path), "127.0.0.1")
    assert "secret" not in line
    assert_one_line_error(run_serve("--model", bundle, "--store", "mysql://u@127.0.0.1/x", cwd=tmp_path),
                          "mysql://")
