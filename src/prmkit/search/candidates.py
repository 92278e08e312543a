"""The working record of a search (:class:`Candidate`) and the choice among candidates.

A candidate's final answer is the policy's (``Generation.meta["answer"]``) or
:func:`prmkit.grading.solution_answer` of its steps; votes group answers by :func:`answer_key`.

Example:
    >>> a = Candidate(["x", "The answer is 1"], True, step_scores=[0.9, 0.2])
    >>> b = Candidate(["y", "The answer is 2"], True, step_scores=[0.6, 0.5])
    >>> choose_candidate([a, b], "min", "best_of_n")
    (1, False)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.aggregate import aggregate_steps, choose_index
from prmkit.grading import solution_answer
from prmkit.policies.base import Generation


@dataclass
class Candidate:
    """A partial or complete solution inside a search (internal working record)."""

    steps: list[str] = field(default_factory=list)
    finished: bool = False
    num_tokens: int = 0
    step_scores: list[float | None] | None = None
    score: float | None = None
    last_tokens: int = 0
    stop_reason: str = ""
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def extend(self, gen: Generation) -> Candidate:
        """A child: this path plus a generation (its tokens added)."""
        child = Candidate(
            steps=self.steps + [s for s in gen.steps],
            finished=bool(gen.finished),
            num_tokens=self.num_tokens + int(gen.num_tokens),
            last_tokens=int(gen.num_tokens),
            meta={k: v for k, v in self.meta.items() if k in ("subtree",)},
        )
        if gen.meta.get("answer") is not None:
            child.answer = str(gen.meta["answer"])
        if gen.finished:
            child.stop_reason = "finished"
        elif not gen.steps:
            child.stop_reason = "empty_step"
        return child

    @property
    def closed(self) -> bool:
        """True when the candidate will not be extended (finished or stopped by a budget)."""
        return bool(self.stop_reason)


def answer_key(a: Any) -> Hashable:
    """Grouping key for votes: numbers compared by value (``'18.0'`` and ``'18'`` agree; thousands
    commas dropped), other strings stripped of ``$``, spaces and a trailing period.

    Example:
        >>> answer_key("18.0") == answer_key(" 18 ") == answer_key("$18$")
        True
    """
    if a is None:
        return None
    s = str(a).strip().strip("$").strip().rstrip(".").replace(",", "").replace(" ", "")
    try:
        f = float(s)
    except ValueError:
        return s
    if math.isfinite(f) and f == int(f):
        return str(int(f))
    return repr(f)


def aggregate_or_none(step_scores: Sequence[float | None] | None, agg: str) -> float | None:
    """``prmkit.aggregate.aggregate_steps`` that returns ``None`` when no step was scored."""
    if not step_scores or all(s is None for s in step_scores):
        return None
    return aggregate_steps(step_scores, agg)


def _rank_key(score: float | None) -> float:
    return -math.inf if score is None else score


def argmax_first(scores: Sequence[float | None]) -> int:
    """Index of the highest score; ties -> first; ``None`` ranks lowest.

    Example:
        >>> argmax_first([0.3, 0.8, 0.5, 0.8])
        1
    """
    best = 0
    for i, s in enumerate(scores):
        if _rank_key(s) > _rank_key(scores[best]):
            best = i
    return best


def choose_candidate(
    cands: Sequence[Candidate],
    agg: str,
    rule: str,
    params: dict[str, Any] | None = None,
) -> tuple[int | None, bool]:
    """Index of the chosen candidate and whether it is unfinished.

    The rule runs over the finished candidates; over the unfinished ones only when none finished.
    Solution scores are ``agg`` of the step scores (unscored -> 0 weight). When no candidate of
    the pool states an answer, the best-scored one is chosen.

    Example:
        >>> a = Candidate(["x", "The answer is 1"], True, step_scores=[0.9, 0.2])
        >>> b = Candidate(["y"], False, step_scores=[0.99], stop_reason="max_steps")
        >>> choose_candidate([b, a], "min", "best_of_n")
        (1, False)
    """
    if not cands:
        return None, False
    finished = [i for i, c in enumerate(cands) if c.finished]
    pool = finished or list(range(len(cands)))
    scores = [aggregate_or_none(cands[i].step_scores, agg) for i in pool]
    answers = [
        cands[i].answer if cands[i].answer is not None else solution_answer(cands[i].steps) for i in pool
    ]
    w = [0.0 if s is None else s for s in scores]
    j = choose_index(answers, w, rule, key=answer_key, **(params or {}))
    if j is None:
        j = argmax_first(scores)
    return pool[j], not finished
