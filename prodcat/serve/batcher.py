"""Micro-batching: requests that arrive within a few milliseconds of each other are scored together.

One `Bundle.score` call (one encoder pass) per batch, in a worker thread, so the event loop keeps accepting.
A request whose client leaves while it waits leaves the batch; on shutdown the queued requests are still
answered and new ones refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from prodcat.inference.predictor import Predictions
from prodcat.serve.access import Receive

T = TypeVar("T")


@dataclass
class _Job:
    rows: list[dict]
    done: asyncio.Future


_STOP = object()  # queued by `MicroBatcher.stop` behind the last job: the worker ends after answering it


class ServiceClosing(RuntimeError):
    """The service is shutting down: a request arriving now is refused (503), never half-served."""


class ClientGone(Exception):
    """The client disconnected before its answer: nobody reads the response (counted as 499)."""


async def unless_client_leaves(receive: Receive, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result; if the client disconnects first, `work` is cancelled (its rows leave the micro-batch) and ClientGone raised.

    Once the body is read, the next ASGI message of a request is its disconnect, so `receive` returns only
    when the client leaves. A server does not cancel a handler whose client left; this does.
    """
    working, leaving = asyncio.ensure_future(work), asyncio.ensure_future(receive())
    try:
        await asyncio.wait({working, leaving}, return_when=asyncio.FIRST_COMPLETED)
        if working.done():
            return working.result()
        raise ClientGone
    finally:
        leaving.cancel()
        working.cancel()  # a no-op once done; else the client left, or this request itself was cancelled


class MicroBatcher:
    """Scores the rows of requests arriving within `wait_ms` of each other (up to `max_rows`) in one `score` call.

    One worker task: while a batch is scored in a thread, the next requests queue up and become
    the next batch, so batches grow with the load and the event loop is never blocked. A request
    cancelled while it waits (its client went away) leaves the batch before scoring, or, once scored,
    its rows are skipped: every other request gets exactly its own rows back.
    """

    def __init__(self, score: Callable[[pd.DataFrame], Predictions], columns: list[str], max_rows: int, wait_ms: float) -> None:
        self._score, self._columns, self._max_rows, self._wait = score, columns, max_rows, wait_ms / 1000
        self._queue: asyncio.Queue = asyncio.Queue()  # a new one in `start`: a queue belongs to one event loop
        self._worker: asyncio.Task | None = None
        self._closing = False
        self._batch: list[_Job] = []  # taken from the queue, being collected or scored
        self._next: _Job | object | None = None  # taken from the queue, too big for the batch (or _STOP): first of the next one

    async def start(self) -> None:
        self._queue, self._closing = asyncio.Queue(), False
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self, timeout: float | None = None) -> None:
        """Refuse new requests, answer every queued one (for up to `timeout` seconds), then stop the worker.

        What is still waiting after `timeout` gets an error instead of hanging.
        """
        if self._worker is None:
            return
        self._closing = True
        self._queue.put_nowait(_STOP)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._worker), timeout)
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None
        waiting = [*self._batch, self._next]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        self._fail([job for job in waiting if isinstance(job, _Job)], ServiceClosing("the service stopped before scoring this request"))
        self._batch, self._next = [], None

    async def score(self, rows: list[dict]) -> Predictions:
        """The scored rows of one request, in order (scored together with whatever else is waiting)."""
        if self._closing:
            raise ServiceClosing("the service is shutting down: retry on another instance")
        if self._worker is None:
            raise RuntimeError("the micro-batcher is not running (the app's lifespan starts it)")
        job = _Job(rows, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return await job.done

    async def _run(self) -> None:
        while (first := self._next or await self._queue.get()) is not _STOP:
            assert isinstance(first, _Job)  # the queue holds jobs and the one stop sentinel
            self._batch, self._next = [first], None
            await self._collect()
            await self._answer()
            self._batch = []

    async def _collect(self) -> None:
        """Add the waiting jobs that fit to the batch, waiting up to `wait` for more to arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        rows = len(self._batch[0].rows)
        while rows < self._max_rows:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    return
            if job is _STOP or rows + len(job.rows) > self._max_rows:
                self._next = job
                return
            self._batch.append(job)
            rows += len(job.rows)

    async def _answer(self) -> None:
        """Score the batch's live requests in one call in a worker thread; each gets its own rows back."""
        jobs = [job for job in self._batch if not job.done.done()]  # a request cancelled while it waited is not scored
        if not jobs:
            return
        try:
            frame = pd.DataFrame([row for job in jobs for row in job.rows], columns=self._columns)
            scored = await asyncio.to_thread(self._score, frame)
        except Exception as error:  # a bug or a broken bundle: every request of the batch gets it
            self._fail(jobs, error)
            return
        start = 0
        for job in jobs:
            if not job.done.done():  # not a request cancelled while the batch was scored
                job.done.set_result(scored.rows(start, start + len(job.rows)))
            start += len(job.rows)

    @staticmethod
    def _fail(jobs: list[_Job], error: BaseException) -> None:
        for job in jobs:
            if not job.done.done():
                job.done.set_exception(error)
