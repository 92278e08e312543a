"""Dynamic batching: requests are gathered for up to ``max_wait_ms`` (or until a budget is
reached), scored in one ``score_batch`` call on a worker thread, and answered individually.

The worker is a dedicated thread that takes batches from the queue itself: it keeps scoring at
the model's speed even while the event loop is busy (a burst of thousands of connections to
parse and refuse), and only the answers wait for the loop.

The queue is bounded: :meth:`DynamicBatcher.submit` raises :class:`QueueFull` when it holds
``max_queue`` requests, which the app turns into ``429`` with ``Retry-After``.

Isolation: when a batched ``score_batch`` call raises, each request of the batch is scored again
on its own, so one bad request fails alone. A request cancelled while queued (its client left or
its timeout passed) is dropped from the queue at once and never scored.

Admission control: a measured cost model (seconds per solution and per character, timed around
``score_batch``) gives each new request's expected wait; over ``ADMISSION_MARGIN`` of its timeout
it is refused (:class:`Overloaded`, answered 429) before it is queued. An idle batcher admits any
request. ``max_batch_seconds`` keeps each batch short. A scorer that describes its scores
(``scorer.last_meta``: one dict per solution) has them returned with the scores.
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

Scored = tuple[list[list[float | None]], list[dict[str, Any]] | None]


@dataclass
class _Job:
    problems: list[str]
    steps: list[list[str]]
    chars: int
    future: asyncio.Future = field(repr=False)
    #: set (under the batcher's lock) when the request was cancelled: the worker skips it
    cancelled: bool = False


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
        max_batch_seconds: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.scorer = scorer
        self.batching = batching
        self.max_wait = max_wait_ms / 1000.0
        self.max_batch_solutions = max_batch_solutions
        self.max_batch_chars = max_batch_chars
        #: a batch stops growing when the cost model expects it to take longer than this: short
        #: batches let cancelled requests leave early and keep the worker free for new ones
        self.max_batch_seconds = max_batch_seconds
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self._queue: collections.deque[_Job] = collections.deque()
        # guards the queue, _busy and _stopping between the event loop and the worker thread
        self._cond = threading.Condition(threading.RLock())
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        # one scoring call at a time: the model is not re-entrant
        self._lock = threading.Lock()
        # measured cost model: moving averages of seconds per solution and per character of the
        # batches scored so far, and when the batch being scored is expected to end
        self.sec_per_solution: float | None = None
        self.sec_per_char: float | None = None
        self._busy_until = 0.0
        self._busy = False  # a batch is being scored

    @property
    def depth(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="prmkit-batcher", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish every queued request, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        await asyncio.sleep(0)  # let the last answers reach their futures

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
        with self._cond:
            live = [j for j in self._queue if not j.cancelled]
            busy_until = self._busy_until
        pred = self.predict(
            n_solutions + sum(len(j.problems) for j in live), chars + sum(j.chars for j in live)
        )
        if pred is None:
            return 0.0
        return max(0.0, busy_until - time.perf_counter()) + pred

    def _observe_cost(self, n_solutions: int, chars: int, seconds: float) -> None:
        sps, spc = seconds / max(1, n_solutions), seconds / max(1, chars)
        if self.sec_per_solution is None or self.sec_per_char is None:
            self.sec_per_solution, self.sec_per_char = sps, spc
        else:
            self.sec_per_solution += _EWMA * (sps - self.sec_per_solution)
            self.sec_per_char += _EWMA * (spc - self.sec_per_char)

    async def submit_with_meta(
        self, problems: Sequence[str], steps: Sequence[list[str]], max_wait_s: float | None = None
    ) -> Scored:
        """Queue one request; its scores and the scorer's per-solution meta (``None`` if none).

        With ``max_wait_s``, raises :class:`Overloaded` when the expected wait is over
        ``ADMISSION_MARGIN * max_wait_s``: the request is refused before it is queued. An admitted
        request not answered within ``max_wait_s`` raises :class:`TimeoutError` and leaves the
        queue unscored, unless its scores are already there (an event loop busy with a burst can
        notice the deadline after the result: the result wins).
        """
        loop = asyncio.get_running_loop()
        chars = sum(len(p) for p in problems) + sum(len(s) for ss in steps for s in ss)
        job = _Job(list(problems), [list(s) for s in steps], chars, loop.create_future())
        with self._cond:
            if self._stopping or self._thread is None:
                raise QueueFull("server is shutting down")
            if len(self._queue) >= self.max_queue:
                self.metrics.rejected += 1
                raise QueueFull(f"queue full ({self.max_queue} requests)")
            # an idle batcher (nothing queued, nothing being scored) admits any request: waiting
            # could not make it faster, and scoring it corrects a cost model left too high
            idle = not self._busy and not any(not j.cancelled for j in self._queue)
            if max_wait_s is not None and not idle:
                wait = self.expected_wait(len(problems), chars)
                if wait > ADMISSION_MARGIN * max_wait_s:
                    self.metrics.rejected += 1
                    raise Overloaded(
                        f"server overloaded: expected wait {wait:.1f} s is over the {max_wait_s:g} s timeout",
                        retry_after=wait - ADMISSION_MARGIN * max_wait_s,
                    )
            self._queue.append(job)
            self.metrics.queue_depth = len(self._queue)
            self._cond.notify_all()
        job.future.add_done_callback(lambda f, job=job: self._drop_cancelled(job, f))
        if max_wait_s is None:
            return await job.future  # cancelling the caller cancels the job (it leaves the queue)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), max_wait_s)
        except TimeoutError:
            if job.future.done() and not job.future.cancelled():
                return job.future.result()
            job.future.cancel()
            raise
        except asyncio.CancelledError:  # the client left
            job.future.cancel()
            raise

    def _drop_cancelled(self, job: _Job, fut: asyncio.Future) -> None:
        """A request cancelled while queued (client gone, timeout) leaves the queue now."""
        if not fut.cancelled():
            return
        with self._cond:
            job.cancelled = True
            try:
                self._queue.remove(job)
            except ValueError:  # already taken into a batch (its scores will be discarded)
                pass
            else:
                self.metrics.dropped += 1
            self.metrics.queue_depth = len(self._queue)

    # ------------------------------------------------------------------ the worker thread

    def _take_batch(self) -> list[_Job]:
        """The next batch (called with the lock held)."""
        while self._queue and self._queue[0].cancelled:
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
            if nxt.cancelled:
                self._queue.popleft()
                continue
            if n + len(nxt.problems) > self.max_batch_solutions or chars + nxt.chars > self.max_batch_chars:
                break
            if self.max_batch_seconds is not None:
                pred = self.predict(n + len(nxt.problems), chars + nxt.chars)
                if pred is not None and pred > self.max_batch_seconds:
                    break
            jobs.append(self._queue.popleft())
            n += len(nxt.problems)
            chars += nxt.chars
        return jobs

    def _budget_full(self) -> bool:
        live = [j for j in self._queue if not j.cancelled]
        n = sum(len(j.problems) for j in live)
        chars = sum(j.chars for j in live)
        return n >= self.max_batch_solutions or chars >= self.max_batch_chars

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:  # stopping, and every request answered
                    return
                if self.batching and self.max_wait > 0 and not self._stopping:
                    deadline = time.perf_counter() + self.max_wait
                    while not self._budget_full() and not self._stopping:
                        remaining = deadline - time.perf_counter()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                jobs = self._take_batch()
                self.metrics.queue_depth = len(self._queue)
                if not jobs:
                    continue
                chars = sum(j.chars for j in jobs)
                n = sum(len(j.problems) for j in jobs)
                self._busy = True
                self._busy_until = time.perf_counter() + (self.predict(n, chars) or 0.0)
            try:
                results = self._score_jobs(jobs, chars)
            finally:
                with self._cond:
                    self._busy = False
                    self._busy_until = 0.0
            self._deliver_threadsafe(jobs, results)

    def _score_jobs(self, jobs: list[_Job], chars: int) -> list[Scored | BaseException | None]:
        """One result per job: its scores, the exception that failed it, or ``None`` (cancelled)."""
        problems = [p for j in jobs for p in j.problems]
        steps = [s for j in jobs for s in j.steps]
        try:
            scores, metas, seconds = self._score(problems, steps)
        except Exception as e:
            if len(jobs) == 1:
                return [e]
            out: list[Scored | BaseException | None] = []
            for j in jobs:  # one bad request must not fail the others: each alone
                if j.cancelled:
                    out.append(None)
                    continue
                try:
                    s, m, _ = self._score(j.problems, j.steps)
                    out.append((s, m))
                except Exception as e2:
                    out.append(e2)
            return out
        self.metrics.observe_batch(len(problems), seconds)
        # the model's own time, measured around score_batch: event-loop lag under a burst must not
        # inflate the cost model
        self._observe_cost(len(problems), chars, seconds)
        res: list[Scored | BaseException | None] = []
        k = 0
        for j in jobs:
            res.append((scores[k : k + len(j.problems)], metas[k : k + len(j.problems)] if metas else None))
            k += len(j.problems)
        return res

    def _deliver_threadsafe(self, jobs: list[_Job], results: list[Scored | BaseException | None]) -> None:
        def deliver() -> None:
            for j, r in zip(jobs, results, strict=True):
                if r is None or j.future.done():  # cancelled: nobody waits for it
                    continue
                if isinstance(r, BaseException):
                    j.future.set_exception(r)
                else:
                    j.future.set_result(r)

        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is left to answer
            self._loop.call_soon_threadsafe(deliver)

    def _score(
        self, problems: list[str], steps: list[list[str]]
    ) -> tuple[list[list[float | None]], Any, float]:
        """Scores, the scorer's per-solution meta and the seconds ``score_batch`` took."""
        with self._lock:
            t0 = time.perf_counter()
            scores = self.scorer.score_batch(problems, steps)
            seconds = time.perf_counter() - t0
            meta = getattr(self.scorer, "last_meta", None)
            if not isinstance(meta, list) or len(meta) != len(problems):
                meta = None
            return scores, meta, seconds
