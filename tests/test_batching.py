"""MicroBatcher: each caller gets its own results in order, concurrent callers share a batch, an
error reaches every caller of its batch without stopping the worker, and close() drains the queue."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from attnsight.serve.batching import MicroBatcher

TIMEOUT = 10  # seconds a test waits for a thread before calling it hung


class Recorder:
    """A batch function that doubles numbers, records each batch, and can be held on an event."""

    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[int]] = []
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never released the batch"
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [2 * x for x in items]


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a caller never got its result"


def _outcome_of(batcher: MicroBatcher, outcomes: dict[str, object]):
    """A thread target that records a named caller's results, or its ValueError."""
    def caller(name: str, items: list[int]) -> None:
        try:
            outcomes[name] = batcher.submit(items)
        except ValueError as exc:
            outcomes[name] = exc

    return caller


def _wait_for_queue(batcher: MicroBatcher, size: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while batcher._queue.qsize() < size and time.monotonic() < deadline:
        time.sleep(0.001)
    assert batcher._queue.qsize() == size


def test_results_come_back_in_order():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=64, max_wait=0.01, on_batch=fn.sizes.append)
    try:
        assert batcher.submit([3, 1, 2]) == [6, 2, 4]
        assert batcher.submit([]) == []
        assert batcher.submit([7]) == [14]
    finally:
        batcher.close()
    assert sum(fn.sizes) == 4 and [x for b in fn.batches for x in b] == [3, 1, 2, 7]


def test_max_batch_splits_one_callers_items():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=2, max_wait=0.05, on_batch=fn.sizes.append)
    try:
        assert batcher.submit([1, 2, 3, 4, 5]) == [2, 4, 6, 8, 10]
    finally:
        batcher.close()
    assert max(fn.sizes) <= 2 and sum(fn.sizes) == 5


def test_concurrent_callers_share_forward_passes():
    fn = Recorder()
    sizes: list[int] = []
    batcher = MicroBatcher(fn, max_batch=64, max_wait=0.05, on_batch=sizes.append)
    n = 16
    barrier = threading.Barrier(n)
    results: dict[int, list[int]] = {}

    def caller(i: int) -> None:
        barrier.wait()
        results[i] = batcher.submit([i, 100 + i])

    try:
        _run([threading.Thread(target=caller, args=(i,)) for i in range(n)])
    finally:
        batcher.close()
    assert results == {i: [2 * i, 2 * (100 + i)] for i in range(n)}  # each caller its own, in order
    assert sum(sizes) == 2 * n
    assert max(sizes) > 2, sizes  # some forward pass served more than one caller
    assert len(sizes) < n


def test_an_error_reaches_every_caller_of_its_batch_and_the_worker_goes_on():
    fn = Recorder(fail_on=-1)
    sizes: list[int] = []
    batcher = MicroBatcher(fn, max_batch=64, max_wait=0.05, on_batch=sizes.append)
    try:
        # hold the worker on a first batch so that the next callers queue up and share one batch
        fn.gate.clear()
        first: list[object] = []
        holder = threading.Thread(target=lambda: first.append(batcher.submit([0])))
        holder.start()
        assert fn.entered.wait(TIMEOUT)
        outcomes: dict[str, object] = {}
        caller = _outcome_of(batcher, outcomes)
        callers = [threading.Thread(target=caller, args=("good", [5])),
                   threading.Thread(target=caller, args=("bad", [-1])),
                   threading.Thread(target=caller, args=("also good", [6, 7]))]
        for t in callers:
            t.start()
        _wait_for_queue(batcher, 4)
        fn.gate.set()
        holder.join(TIMEOUT)
        for t in callers:
            t.join(TIMEOUT)
        assert first == [[0]]
        assert sizes[:2] == [1, 4]  # the three callers' items went through one forward pass
        for name in ("good", "bad", "also good"):
            assert isinstance(outcomes[name], ValueError), outcomes
            assert "bad item -1" in str(outcomes[name])
        # the worker survived and serves the next batches
        assert batcher.submit([8, 9]) == [16, 18]
        assert batcher._thread.is_alive()
    finally:
        fn.gate.set()
        batcher.close()


def test_close_drains_queued_work_then_stops_the_worker():
    fn = Recorder()
    sizes: list[int] = []
    batcher = MicroBatcher(fn, max_batch=3, max_wait=0.001, on_batch=sizes.append)
    fn.gate.clear()
    results: dict[int, list[int]] = {}

    def caller(i: int) -> None:
        results[i] = batcher.submit([i])

    holder = threading.Thread(target=caller, args=(0,))
    holder.start()
    assert fn.entered.wait(TIMEOUT)
    queued = [threading.Thread(target=caller, args=(i,)) for i in range(1, 8)]
    for t in queued:
        t.start()
    _wait_for_queue(batcher, 7)
    closer = threading.Thread(target=batcher.close)
    closer.start()  # the stop marker lies behind the seven queued items
    time.sleep(0.02)
    assert closer.is_alive()  # close() waits for the work in front of it
    fn.gate.set()
    joined = [holder, *queued, closer]
    for t in joined:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in joined)
    assert results == {i: [2 * i] for i in range(8)}
    assert sum(sizes) == 8 and max(sizes) <= 3
    assert not batcher._thread.is_alive()


def test_close_of_an_idle_batcher_returns_at_once():
    batcher = MicroBatcher(lambda xs: xs, max_wait=10.0)
    start = time.perf_counter()
    batcher.close()
    assert time.perf_counter() - start < 1.0
    assert not batcher._thread.is_alive()


@pytest.mark.parametrize("max_wait", [0.0, 0.002])
def test_single_caller_latency_is_about_the_wait(max_wait):
    batcher = MicroBatcher(lambda xs: [x + 1 for x in xs], max_wait=max_wait)
    try:
        start = time.perf_counter()
        assert batcher.submit([1]) == [2]
        assert time.perf_counter() - start < 0.5
    finally:
        batcher.close()


def test_an_exception_returned_for_one_item_reaches_only_its_caller():
    def fn(items: list[int]) -> list[object]:
        return [ValueError(f"no {x}") if x < 0 else x + 1 for x in items]

    batcher = MicroBatcher(fn, max_batch=8, max_wait=0.05)
    outcomes: dict[str, object] = {}
    caller = _outcome_of(batcher, outcomes)
    try:
        _run([threading.Thread(target=caller, args=("good", [1])),
              threading.Thread(target=caller, args=("bad", [-3]))])
    finally:
        batcher.close()
    assert outcomes["good"] == [2]
    assert isinstance(outcomes["bad"], ValueError) and str(outcomes["bad"]) == "no -3"


def test_async_callers_share_a_batch_and_get_their_own_results():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=64, max_wait=0.05, on_batch=fn.sizes.append)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit_async([i, i + 10]) for i in range(5)))

    try:
        assert asyncio.run(main()) == [[2 * i, 2 * i + 20] for i in range(5)]
    finally:
        batcher.close()
    assert max(fn.sizes) > 2  # several callers' items in one pass


def test_after_close_submits_run_in_the_caller():
    fn = Recorder(fail_on=-1)
    batcher = MicroBatcher(fn, max_batch=4)
    batcher.close()
    assert not batcher._thread.is_alive()
    assert batcher.submit([1, 2]) == [2, 4]
    assert asyncio.run(batcher.submit_async([3])) == [6]
    with pytest.raises(ValueError, match="bad item -1"):
        batcher.submit([-1])
