"""Search batched across problems: :func:`run_batched` advances up to ``K`` problems together.

Every problem's search runs unchanged (the method functions do not know about batching) in its
own worker thread, whose :class:`~prmkit.search.compute.SearchContext` sends its policy and
scorer calls to a :class:`ProblemBatch` instead of the backends. The batch waits until every
live problem is blocked on a call (or done), then answers all pending calls with **one**
``policy.continue_batch`` over the rows of every problem and **one** ``scorer.score_batch``, and
wakes the workers. A finished problem's slot is refilled from the queue at once, so the batch
stays full (continuous batching). Backend calls run in the calling thread, never concurrently.

Results do not change: a worker asks for exactly the rows, ``n`` and seeds the per-problem
search asks for, and a policy honouring its per-(seed, problem, prefix, index) contract returns
the same samples whoever shares the batch; compute accounting is per problem, as before (the
backend calls actually made are counted in :attr:`ProblemBatch.stats`). Results are yielded in
input order.

Example:
    >>> from prmkit.records import Problem
    >>> from prmkit.policies.base import Generation, Policy
    >>> from prmkit.scorers.base import Scorer
    >>> from prmkit.search.driver import search_one
    >>> from prmkit.search.config import SearchConfig
    >>> class Echo(Policy):
    ...     def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
    ...         return [[Generation([f"The answer is {p.id}."], True, 3)] * n for p in problems]
    >>> class Half(Scorer):
    ...     def score_batch(self, problems, steps):
    ...         return [[0.5] * len(s) for s in steps]
    >>> probs = [Problem(str(i), "?", str(i)) for i in range(5)]
    >>> batch = ProblemBatch(Echo(), Half())
    >>> res = list(run_batched(probs, lambda p, door: search_one(p, Echo(), Half(), SearchConfig(n=2),
    ...                                                           door=door), batch, 4))
    >>> [r.chosen.answer for r in res], batch.stats["policy_calls"]
    (['0', '1', '2', '3', '4'], 2)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from prmkit.policies.base import ContinueRequest, Generation, Policy
from prmkit.records import Problem
from prmkit.scorers.base import Scorer

R = TypeVar("R")


class _Aborted(Exception):
    """Raised in a worker whose batch stopped because another problem failed."""


class _Slot:
    """One problem's door into the batch (what its SearchContext calls)."""

    def __init__(self, batch: ProblemBatch, index: int) -> None:
        self.batch = batch
        self.index = index
        self.request: tuple[str, Any] | None = None
        self.reply: Any = None
        self.ready = False

    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        return self.batch._wait(self, ("policy", list(requests)))

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[list[float | None]]:
        return self.batch._wait(self, ("scorer", (list(problems), [list(s) for s in steps])))


class ProblemBatch:
    """Pools the calls of the problems searched together (see the module docstring).

    ``stats`` counts the backend calls made: ``policy_calls``, ``policy_requests`` (requests
    served), ``policy_rows`` (samples asked for), ``scorer_calls``, ``scored_paths``, ``rounds``.
    """

    def __init__(self, policy: Policy, scorer: Scorer) -> None:
        self.policy = policy
        self.scorer = scorer
        self._cv = threading.Condition()
        self._live: set[int] = set()
        self._waiting: dict[int, _Slot] = {}
        self._abort = False
        self.stats: dict[str, int] = dict.fromkeys(
            ("rounds", "policy_calls", "policy_requests", "policy_rows", "scorer_calls", "scored_paths"), 0
        )

    # -- worker side
    def _wait(self, slot: _Slot, request: tuple[str, Any]) -> Any:
        with self._cv:
            if self._abort:
                raise _Aborted
            slot.request, slot.ready = request, False
            self._waiting[slot.index] = slot
            self._cv.notify_all()
            while not slot.ready and not self._abort:
                self._cv.wait()
            if not slot.ready:
                raise _Aborted
            reply, slot.reply = slot.reply, None
            return reply

    # -- coordinator side
    def _serve(self, slots: list[_Slot]) -> None:
        """Answer every pending call: one policy call and one scorer call for all of them."""
        slots = sorted(slots, key=lambda s: s.index)
        pol = [s for s in slots if s.request and s.request[0] == "policy"]
        sco = [s for s in slots if s.request and s.request[0] == "scorer"]
        self.stats["rounds"] += 1
        if pol:
            reqs = [r for s in pol for r in s.request[1]]  # type: ignore[index]
            out = self.policy.continue_batch(reqs)
            self.stats["policy_calls"] += 1
            self.stats["policy_requests"] += len(reqs)
            self.stats["policy_rows"] += sum(r.n for r in reqs)
            at = 0
            for s in pol:
                k = len(s.request[1])  # type: ignore[index]
                s.reply, at = out[at : at + k], at + k
        if sco:
            questions = [q for s in sco for q in s.request[1][0]]  # type: ignore[index]
            paths = [p for s in sco for p in s.request[1][1]]  # type: ignore[index]
            scores = self.scorer.score_batch(questions, paths) if paths else []
            self.stats["scorer_calls"] += 1 if paths else 0
            self.stats["scored_paths"] += len(paths)
            at = 0
            for s in sco:
                k = len(s.request[1][1])  # type: ignore[index]
                s.reply, at = list(scores[at : at + k]), at + k
        for s in slots:
            s.request, s.ready = None, True


def run_batched(
    problems: Sequence[Problem],
    fn: Callable[[Problem, Any], R],
    batch: ProblemBatch,
    size: int,
) -> Iterator[R]:
    """``fn(problem, door)`` for every problem, ``size`` at a time through ``batch``; yields the
    results in input order (each as soon as it and all before it are done).

    An exception in one problem stops the batch and is raised here.
    """
    size = max(1, int(size))
    results: dict[int, R] = {}
    errors: list[BaseException] = []
    threads: dict[int, threading.Thread] = {}
    next_problem = 0
    next_out = 0
    cv = batch._cv

    def work(i: int) -> None:
        try:
            r = fn(problems[i], _Slot(batch, i))
            with cv:
                results[i] = r
        except _Aborted:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the coordinator and re-raised there
            with cv:
                errors.append(e)
                batch._abort = True
        finally:
            with cv:
                batch._live.discard(i)
                cv.notify_all()

    try:
        while next_out < len(problems):
            with cv:
                while not errors and next_problem < len(problems) and len(batch._live) < size:
                    i = next_problem
                    next_problem += 1
                    batch._live.add(i)
                    threads[i] = threading.Thread(target=work, args=(i,), daemon=True, name=f"search-{i}")
                    threads[i].start()
                # wait until every live problem is blocked on a call, or one finished
                while not errors and batch._live and set(batch._waiting) != batch._live:
                    cv.wait()
                if errors:
                    break
                pending = list(batch._waiting.values())
                batch._waiting.clear()
            if pending:
                try:
                    batch._serve(pending)
                except BaseException as e:
                    with cv:
                        errors.append(e)
                        batch._abort = True
                        cv.notify_all()
                    break
                with cv:
                    cv.notify_all()
            while next_out in results:
                threads.pop(next_out).join()
                yield results.pop(next_out)
                next_out += 1
    finally:
        with cv:
            if next_out < len(problems):
                batch._abort = True
            cv.notify_all()
        for t in threads.values():
            t.join()
    if errors:
        raise errors[0]
