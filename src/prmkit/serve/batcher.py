"""Dynamic batching: requests are gathered for up to ``max_wait_ms`` (or until a budget is
reached), scored in one ``score_batch`` call on a worker thread, and answered individually.

The queue is bounded: :meth:`DynamicBatcher.submit` raises :class:`QueueFull` when it holds
``max_queue`` requests, which the app turns into ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.serve.metrics import Metrics


class QueueFull(Exception):
    """The request queue is full (answer 429)."""


@dataclass
class _Job:
    problems: list[str]
    steps: list[list[str]]
    chars: int
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """Gathers concurrent scoring requests into batched ``scorer.score_batch`` calls.

    Example (inside an event loop)::

        batcher = DynamicBatcher(scorer, max_wait_ms=5, max_batch_solutions=64)
        await batcher.start()
        scores = await batcher.submit(["1+1?"], [["1+1=2", "The answer is 2."]])
        await batcher.stop()
    """

    def __init__(
        self,
        scorer: Any,
        *,
        batching: bool = True,
        max_wait_ms: float = 5.0,
        max_batch_solutions: int = 64,
        max_batch_chars: int = 200_000,
        max_queue: int = 256,
        metrics: Metrics | None = None,
    ) -> None:
        self.scorer = scorer
        self.batching = batching
        self.max_wait = max_wait_ms / 1000.0
        self.max_batch_solutions = max_batch_solutions
        self.max_batch_chars = max_batch_chars
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self._queue: collections.deque[_Job] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        # one scoring thread: the model is not re-entrant and CPU threads are already used by torch
        self._lock = threading.Lock()

    @property
    def depth(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued request, then stop."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[list[float | None]]:
        """Queue one request and wait for its scores."""
        if self._stopping:
            raise QueueFull("server is shutting down")
        if len(self._queue) >= self.max_queue:
            self.metrics.rejected += 1
            raise QueueFull(f"queue full ({self.max_queue} requests)")
        loop = asyncio.get_running_loop()
        chars = sum(len(p) for p in problems) + sum(len(s) for ss in steps for s in ss)
        job = _Job(list(problems), [list(s) for s in steps], chars, loop.create_future())
        self._queue.append(job)
        self.metrics.queue_depth = len(self._queue)
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    def _take_batch(self) -> list[_Job]:
        jobs = [self._queue.popleft()]
        if not self.batching:
            return jobs
        n = len(jobs[0].problems)
        chars = jobs[0].chars
        while self._queue:
            nxt = self._queue[0]
            if n + len(nxt.problems) > self.max_batch_solutions or chars + nxt.chars > self.max_batch_chars:
                break
            jobs.append(self._queue.popleft())
            n += len(nxt.problems)
            chars += nxt.chars
        return jobs

    def _budget_full(self) -> bool:
        n = sum(len(j.problems) for j in self._queue)
        chars = sum(j.chars for j in self._queue)
        return n >= self.max_batch_solutions or chars >= self.max_batch_chars

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.batching and self.max_wait > 0 and not self._stopping:
                deadline = time.perf_counter() + self.max_wait
                while not self._budget_full():
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    except TimeoutError:
                        break
            jobs = self._take_batch()
            self.metrics.queue_depth = len(self._queue)
            problems = [p for j in jobs for p in j.problems]
            steps = [s for j in jobs for s in j.steps]
            t0 = time.perf_counter()
            try:
                scores = await asyncio.to_thread(self._score, problems, steps)
            except Exception as e:  # answer every request of the batch with the error
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(e)
                continue
            self.metrics.observe_batch(len(problems), time.perf_counter() - t0)
            k = 0
            for j in jobs:
                part = scores[k : k + len(j.problems)]
                k += len(j.problems)
                if not j.future.done():  # a timed-out request was cancelled
                    j.future.set_result(part)

    def _score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        with self._lock:
            return self.scorer.score_batch(problems, steps)
