"""``arith-oracle``: the exact step checker of the arithmetic world, behind the Scorer interface.

Scores are 1.0 for a correct step and 0.0 for an incorrect one; every step after the first
error scores 0.0 (a PRM scores the prefix: once it went wrong, it stays wrong). Scorers receive
only the problem TEXT, so the oracle is built with the problems and maps text -> spec; unknown
text raises :class:`PrmkitError`. Unfinished prefixes are judged as such: a missing final
answer is not an error (search scores partial solutions).

Example:
    >>> from prmkit.worlds.arith import generate_problems, reference_solution
    >>> p = generate_problems(1, seed=0)[0]
    >>> steps = reference_solution(p)
    >>> o = ArithOracleScorer([p])
    >>> o.score_batch([p.question], [steps])[0] == [1.0] * len(steps)
    True
    >>> o.score_batch([p.question], [["1 + 1 = 3"] + steps])[0][:2]
    [0.0, 0.0]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from prmkit.errors import PrmkitError
from prmkit.records import Problem, read_problems, read_records
from prmkit.scorers.base import SCORERS, Scorer, StepScores
from prmkit.worlds.arith import check_steps


@SCORERS.register("arith-oracle")
class ArithOracleScorer(Scorer):
    """Exact 1.0/0.0 step scores for arithmetic-world problems (see module docstring)."""

    def __init__(self, problems: Iterable[Problem], *, partial: bool = True) -> None:
        self.partial = partial
        self._by_text: dict[str, Problem] = {}
        for p in problems:
            if "arith" not in p.meta:
                raise PrmkitError(f"problem {p.id!r} has no meta['arith'] spec", field="meta.arith")
            self._by_text[p.question] = p
        if not self._by_text:
            raise PrmkitError("the arith oracle needs at least one arithmetic-world problem")

    @classmethod
    def load(
        cls, path: str | os.PathLike | None = None, problems_file: str | os.PathLike | None = None, **options
    ) -> ArithOracleScorer:
        """Build from a problems JSONL (``prmkit world arith problems``) or canonical records.

        ``path`` is accepted as the file when ``problems_file`` is not given (so
        ``load_scorer("arith-oracle", "problems.jsonl")`` works).
        """
        src = problems_file if problems_file is not None else path
        if src is None:
            raise PrmkitError("arith-oracle needs problems_file= (the problems JSONL it scores)")
        probs = list(_read_any(src))
        return cls(probs, **options)

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        out: list[StepScores] = []
        for q, st in zip(problems, steps, strict=True):
            p = self._by_text.get(q)
            if p is None:
                raise PrmkitError(
                    f"problem text not among the oracle's {len(self._by_text)} problems: {q[:80]!r}",
                    field="problem",
                )
            chk = check_steps(p, st, partial=self.partial)
            fe = chk.first_error
            n = len(st)
            out.append([1.0] * n if fe < 0 else [1.0] * fe + [0.0] * (n - fe))
        return out


def _read_any(path: str | os.PathLike) -> Iterable[Problem]:
    """Problems from a problems file, or from canonical records carrying meta['arith']."""
    import json

    p = str(path)
    with open(p, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        is_record = "steps" in json.loads(first)
    except (json.JSONDecodeError, TypeError):
        is_record = False
    if not is_record:
        yield from read_problems(p)
        return
    seen: set[str] = set()
    for r in read_records(p):
        if r.problem in seen:
            continue
        seen.add(r.problem)
        yield Problem(id=r.problem_id, question=r.problem, reference_answer=r.reference_answer, meta=r.meta)
