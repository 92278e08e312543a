"""Serialisation of search results: :class:`SearchResult` (one JSON line per problem, read back
by :meth:`SearchResult.from_dict`), candidates as canonical :class:`~prmkit.records.Solution`
records (:func:`to_solution`) and :func:`rechoose` (another rule over stored candidates).

Example:
    >>> from prmkit.records import Solution
    >>> s = Solution(id="p#0", problem="?", steps=["The answer is 4."], answer="4", scores=[0.9])
    >>> r = SearchResult("p", "best-of-n", s, [s], Compute(generated_tokens=5))
    >>> SearchResult.from_dict(r.to_dict()).compute.generated_tokens
    5
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.grading import solution_answer
from prmkit.records import Problem, Solution
from prmkit.search.candidates import Candidate, aggregate_or_none, choose_candidate
from prmkit.search.compute import Compute


@dataclass
class SearchResult:
    """The outcome of a search on one problem."""

    problem_id: str
    method: str
    chosen: Solution | None
    candidates: list[Solution]
    compute: Compute
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str | None:
        return None if self.chosen is None else self.chosen.answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.problem_id,
            "method": self.method,
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
            "compute": self.compute.to_dict(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], *, file: str | None = None, line: int | None = None
    ) -> SearchResult:
        """Read a result line written by :meth:`to_dict`."""
        if not isinstance(d, dict):
            raise PrmkitError("expected a JSON object", file=file, line=line)
        for key in ("id", "method", "candidates", "compute"):
            if key not in d:
                raise PrmkitError("missing", file=file, line=line, field=key)
        chosen = d.get("chosen")
        return cls(
            problem_id=str(d["id"]),
            method=str(d["method"]),
            chosen=None if chosen is None else Solution.from_dict(chosen, file=file, line=line),
            candidates=[Solution.from_dict(c, file=file, line=line) for c in d["candidates"]],
            compute=Compute.from_dict(d["compute"]),
            meta=dict(d.get("meta") or {}),
        )


def to_solution(problem: Problem, c: Candidate, idx: int, method: str, agg: str) -> Solution:
    """The canonical record of candidate ``idx`` (step scores; stop reason and solution score in
    ``meta``)."""
    meta = {
        "problem_id": problem.id,
        "method": method,
        "finished": c.finished,
        "stop_reason": c.stop_reason or ("finished" if c.finished else "unfinished"),
        "num_tokens": c.num_tokens,
        "solution_score": aggregate_or_none(c.step_scores, agg),
        "agg": agg,
    }
    meta.update({k: v for k, v in c.meta.items() if k not in meta})
    return Solution(
        id=f"{problem.id}#{method}-{idx}",
        problem=problem.question,
        steps=list(c.steps),
        answer=c.answer if c.answer is not None else solution_answer(c.steps),
        reference_answer=problem.reference_answer,
        scores=list(c.step_scores) if c.step_scores is not None else None,
        meta=meta,
    )


def rechoose(result: SearchResult, agg: str, rule: str, **params: Any) -> Solution | None:
    """The candidate another aggregation/answer rule would choose from the same candidates
    (finished first), e.g. majority vote vs weighted vote from one best-of-N run.

    Example:
        >>> from prmkit.records import Solution
        >>> s = [Solution(id=f"p#{i}", problem="?", steps=[f"The answer is {a}"], answer=a, scores=[r],
        ...               meta={"finished": True}) for i, (a, r) in enumerate(zip("AAB", [0.2, 0.3, 0.9]))]
        >>> r = SearchResult("p", "best-of-n", s[2], s, Compute())
        >>> rechoose(r, "last", "majority").answer, rechoose(r, "last", "best_of_n").answer
        ('A', 'B')
    """
    cands = [
        Candidate(
            steps=s.steps,
            finished=bool(s.meta.get("finished", True)),
            step_scores=s.scores,
            answer=s.answer,
            stop_reason=str(s.meta.get("stop_reason", "")),
        )
        for s in result.candidates
    ]
    idx, _ = choose_candidate(cands, agg, rule, params)
    return None if idx is None else result.candidates[idx]
