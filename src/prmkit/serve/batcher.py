"""Dynamic batching: requests are gathered for up to ``max_wait_ms`` (or until a budget is
reached), scored in one ``score_batch`` call on a worker thread, and answered individually.

The queue is bounded: :meth:`DynamicBatcher.submit` raises :class:`QueueFull` when it holds
``max_queue`` requests, which the app turns into ``429`` with ``Retry-After``.

Isolation: when a batched ``score_batch`` call raises, each request of the batch is scored again
on its own, so one bad request fails alone. A request cancelled while queued (its client left or
its timeout passed) is dropped from the queue at once and never scored. A scorer that describes
its scores (``scorer.last_meta``: one dict per solution) has them returned with the scores.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.serve.metrics import Metrics


class QueueFull(Exception):
    """The request queue is full (answer 429)."""

    retry_after: float = 0.0


class Overloaded(QueueFull):
    """The expected wait (queue ahead plus the request itself, from the measured cost model) is
    longer than the request may wait: answer 429 now rather than 504 later."""

    def __init__(self, msg: str, retry_after: float) -> None:
        super().__init__(msg)
        self.retry_after = retry_after


#: a request is admitted only when its expected completion is within this fraction of its timeout
ADMISSION_MARGIN = 0.8
#: weight of the newest batch in the cost model's moving averages
_EWMA = 0.3


@dataclass
class _Job:
    problems: list[str]
    steps: list[list[str]]
    chars: int
    future: asyncio.Future = field(repr=False)
    meta: list[dict[str, Any]] | None = None


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
        # measured cost model: moving averages of seconds per solution and per character of the
        # batches scored so far, and when the batch being scored is expected to end
        self.sec_per_solution: float | None = None
        self.sec_per_char: float | None = None
        self._busy_until = 0.0

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
        return (await self.submit_with_meta(problems, steps))[0]

    def predict(self, n_solutions: int, chars: int) -> float | None:
        """Seconds to score this much work by the measured cost model; ``None`` before any batch."""
        if self.sec_per_solution is None or self.sec_per_char is None:
            return None
        return max(n_solutions * self.sec_per_solution, chars * self.sec_per_char)

    def expected_wait(self, n_solutions: int = 0, chars: int = 0) -> float:
        """Expected seconds until a new request of this size is answered: the rest of the batch
        being scored, every live queued request, then the request itself (0 before any batch)."""
        live = [j for j in self._queue if not j.future.done()]
        pred = self.predict(
            n_solutions + sum(len(j.problems) for j in live), chars + sum(j.chars for j in live)
        )
        if pred is None:
            return 0.0
        return max(0.0, self._busy_until - time.perf_counter()) + pred

    def _observe_cost(self, n_solutions: int, chars: int, seconds: float) -> None:
        sps, spc = seconds / max(1, n_solutions), seconds / max(1, chars)
        if self.sec_per_solution is None or self.sec_per_char is None:
            self.sec_per_solution, self.sec_per_char = sps, spc
        else:
            self.sec_per_solution += _EWMA * (sps - self.sec_per_solution)
            self.sec_per_char += _EWMA * (spc - self.sec_per_char)

    async def submit_with_meta(
        self, problems: Sequence[str], steps: Sequence[list[str]], max_wait_s: float | None = None
    ) -> tuple[list[list[float | None]], list[dict[str, Any]] | None]:
        """Queue one request; its scores and the scorer's per-solution meta (``None`` if none).

        With ``max_wait_s``, raises :class:`Overloaded` when the expected wait is over
        ``ADMISSION_MARGIN * max_wait_s``: the request is refused before it is queued.
        """
        if self._stopping:
            raise QueueFull("server is shutting down")
        if len(self._queue) >= self.max_queue:
            self.metrics.rejected += 1
            raise QueueFull(f"queue full ({self.max_queue} requests)")
        loop = asyncio.get_running_loop()
        chars = sum(len(p) for p in problems) + sum(len(s) for ss in steps for s in ss)
        if max_wait_s is not None:
            wait = self.expected_wait(len(problems), chars)
            if wait > ADMISSION_MARGIN * max_wait_s:
                self.metrics.rejected += 1
                raise Overloaded(
                    f"server overloaded: expected wait {wait:.1f} s is over the {max_wait_s:g} s timeout",
                    retry_after=wait - ADMISSION_MARGIN * max_wait_s,
                )
        job = _Job(list(problems), [list(s) for s in steps], chars, loop.create_future())
        self._queue.append(job)
        job.future.add_done_callback(lambda f, job=job: self._drop_cancelled(job, f))
        self.metrics.queue_depth = len(self._queue)
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    def _drop_cancelled(self, job: _Job, fut: asyncio.Future) -> None:
        """A request cancelled while queued (client gone, timeout) leaves the queue now."""
        if fut.cancelled():
            with contextlib.suppress(ValueError):  # already taken into a batch
                self._queue.remove(job)
                self.metrics.dropped += 1
            self.metrics.queue_depth = len(self._queue)

    def _take_batch(self) -> list[_Job]:
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()
        if not self._queue:
            return []
        jobs = [self._queue.popleft()]
        if not self.batching:
            return jobs
        n = len(jobs[0].problems)
        chars = jobs[0].chars
        while self._queue:
            nxt = self._queue[0]
            if nxt.future.done():
                self._queue.popleft()
                continue
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
            if not jobs:
                continue
            problems = [p for j in jobs for p in j.problems]
            steps = [s for j in jobs for s in j.steps]
            t0 = time.perf_counter()
            chars = sum(j.chars for j in jobs)
            self._busy_until = t0 + (self.predict(len(problems), chars) or 0.0)
            try:
                scores, metas = await asyncio.to_thread(self._score, problems, steps)
            except Exception as e:
                self._busy_until = 0.0
                if len(jobs) == 1:
                    if not jobs[0].future.done():
                        jobs[0].future.set_exception(e)
                    continue
                await self._score_alone(jobs)  # one bad request must not fail the others
                continue
            self.metrics.observe_batch(len(problems), time.perf_counter() - t0)
            self._observe_cost(len(problems), chars, time.perf_counter() - t0)
            self._busy_until = 0.0
            k = 0
            for j in jobs:
                part = scores[k : k + len(j.problems)]
                meta = metas[k : k + len(j.problems)] if metas is not None else None
                k += len(j.problems)
                if not j.future.done():  # a timed-out request was cancelled
                    j.future.set_result((part, meta))

    async def _score_alone(self, jobs: list[_Job]) -> None:
        for j in jobs:
            if j.future.done():
                continue
            try:
                res = await asyncio.to_thread(self._score, j.problems, j.steps)
            except Exception as e:
                if not j.future.done():
                    j.future.set_exception(e)
                continue
            if not j.future.done():
                j.future.set_result(res)

    def _score(
        self, problems: list[str], steps: list[list[str]]
    ) -> tuple[list[list[float | None]], list[dict[str, Any]] | None]:
        with self._lock:
            scores = self.scorer.score_batch(problems, steps)
            meta = getattr(self.scorer, "last_meta", None)
            if not isinstance(meta, list) or len(meta) != len(problems):
                meta = None
            return scores, meta
