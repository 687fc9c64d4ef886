"""Micro-batching: concurrent requests wait a moment and share one forward pass.

A single worker thread takes the first waiting item, gathers whatever else arrives within
`max_wait` (up to `max_batch` items), runs the batch function once and hands each caller its
own result. While a batch runs, the next one fills, so under load batches grow by themselves
and latency stays about one forward pass plus the wait.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class MicroBatcher(Generic[T, R]):
    """`fn` maps a batch to one result per item; an item's result may be an exception, which only
    that item's caller gets (a bad request does not fail the others in its batch)."""

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R | BaseException]],
        max_batch: int = 64,
        max_wait: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
        name: str = "batcher",
    ) -> None:
        self.fn, self.max_batch, self.max_wait, self.on_batch = fn, max_batch, max_wait, on_batch
        self._queue: queue.Queue[tuple[T, Future[R]] | object] = queue.Queue()
        self._lock = threading.Lock()  # a submit and a close never interleave
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[T]) -> list[R]:
        """Results for these items, in order; blocks the calling (request) thread until they are ready.
        An exception from the batch function reaches every caller in that batch; after close() the
        items run in the calling thread."""
        futures = self._enqueue(items)
        if futures is None:
            return _raise_first(self.fn(list(items)))
        return [f.result() for f in futures]

    async def submit_async(self, items: Sequence[T]) -> list[R]:
        """`submit` for an async endpoint: the event loop serves other requests while this waits."""
        futures = self._enqueue(items)
        if futures is None:
            return _raise_first(await asyncio.to_thread(self.fn, list(items)))
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))

    def _enqueue(self, items: Sequence[T]) -> list[Future[R]] | None:
        """One future per item, or None once closed (a request that picked up a model just before a
        reload swapped it out): the caller then runs the items itself."""
        futures: list[Future[R]] = []
        with self._lock:
            if self._closed:
                return None
            for item in items:
                future: Future[R] = Future()
                self._queue.put((item, future))
                futures.append(future)
        return futures

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(deadline - time.perf_counter(), 0))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._process(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _process(self, batch: list[tuple[T, Future[R]]]) -> None:
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            results = self.fn([item for item, _ in batch])
        except BaseException as exc:  # every waiting caller gets the error, none hangs
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _raise_first(results: Sequence[R | BaseException]) -> list[R]:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type]
