"""``arith-oracle`` and ``tools-oracle``: the exact step checkers of the built-in worlds, behind
the Scorer interface.

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
from prmkit.trajectory import Turn, turn_from_step
from prmkit.worlds.arith import check_steps
from prmkit.worlds.tools import META_KEY as TOOLS_KEY
from prmkit.worlds.tools import check_turns


class WorldOracle(Scorer):
    """The shared part of the world oracles: problems indexed by text, loading from a problems
    file or records, and the scores from a first error. A world sets :attr:`meta_key` (the
    problem meta that holds its spec), :attr:`noun` and :meth:`first_error`."""

    #: the ``Problem.meta`` key of the world's spec (required on every problem)
    meta_key: str = ""
    #: what the world calls its problems, for messages
    noun: str = "problems"

    def __init__(self, problems: Iterable[Problem]) -> None:
        name = SCORER_NAME_OF.get(type(self), type(self).__name__)
        self._by_text: dict[str, Problem] = {}
        for p in problems:
            if self.meta_key not in p.meta:
                raise PrmkitError(
                    f"problem {p.id!r} has no meta['{self.meta_key}'] spec", field=f"meta.{self.meta_key}"
                )
            self._by_text[p.question] = p
        if not self._by_text:
            raise PrmkitError(f"{name} needs at least one {self.noun[:-1]} of its world")

    @classmethod
    def load(
        cls, path: str | os.PathLike | None = None, problems_file: str | os.PathLike | None = None, **options
    ) -> WorldOracle:
        """Build from a problems JSONL or canonical records carrying the world's spec in meta.

        ``path`` is accepted as the file when ``problems_file`` is not given (so
        ``load_scorer("arith-oracle", "problems.jsonl")`` works).
        """
        src = problems_file if problems_file is not None else path
        if src is None:
            name = SCORER_NAME_OF.get(cls, cls.__name__)
            raise PrmkitError(f"{name} needs problems_file= (the {cls.noun} JSONL it scores)")
        return cls(list(_read_any(src)), **options)

    def first_error(self, problem: Problem, steps: list[str]) -> int:
        """0-based first incorrect step of ``steps`` for ``problem``, -1 when none."""
        raise NotImplementedError

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        out: list[StepScores] = []
        for q, st in zip(problems, steps, strict=True):
            p = self._by_text.get(q)
            if p is None:
                raise PrmkitError(
                    f"problem text not among the oracle's {len(self._by_text)} {self.noun}: {q[:80]!r}",
                    field="problem",
                )
            fe = self.first_error(p, st)
            n = len(st)
            out.append([1.0] * n if fe < 0 else [1.0] * fe + [0.0] * (n - fe))
        return out


@SCORERS.register("arith-oracle")
class ArithOracleScorer(WorldOracle):
    """Exact 1.0/0.0 step scores for arithmetic-world problems (see module docstring)."""

    meta_key = "arith"

    def __init__(self, problems: Iterable[Problem], *, partial: bool = True) -> None:
        self.partial = partial
        super().__init__(problems)

    def first_error(self, problem: Problem, steps: list[str]) -> int:
        return check_steps(problem, steps, partial=self.partial).first_error


@SCORERS.register("tools-oracle")
class ToolsOracleScorer(WorldOracle):
    """Exact 1.0/0.0 step scores for tool-world trajectories (:func:`prmkit.worlds.tools.check_turns`).

    Like ``arith-oracle``: built with the tasks (``meta["tools"]`` holds each task's spec; the
    question text names its shop and task, so text -> task is one-to-one), 1.0 per correct step,
    0.0 from the first error on. A step is read back into a turn
    (:func:`prmkit.trajectory.turn_from_step`); only its action is judged (the checker replays the
    actions, observations in the text are not trusted). A step that is not a trajectory step (no
    ``Action:`` line) is an error. Prefixes without an answer are judged as such (search).

    Example:
        >>> from prmkit.worlds.tools import make_task, reference_actions
        >>> from prmkit.trajectory import Turn, steps_from_turns
        >>> t = make_task(0)
        >>> steps = steps_from_turns([Turn(a) for a in reference_actions(t)])
        >>> o = ToolsOracleScorer([t])
        >>> o.score_batch([t.question], [steps])[0] == [1.0] * len(steps)
        True
        >>> o.score_batch([t.question], [['Action: answer({"text": "0"})'] + steps[1:]])[0][:2]
        [0.0, 0.0]
    """

    meta_key = TOOLS_KEY
    noun = "tasks"

    def first_error(self, problem: Problem, steps: list[str]) -> int:
        turns: list[Turn] = []
        for s in steps:
            try:
                turns.append(turn_from_step(s)[1])
            except PrmkitError:
                break
        fe = check_turns(problem, turns).first_error if turns else -1
        if len(turns) < len(steps):  # an unreadable step is an error
            fe = len(turns) if fe < 0 else fe
        return fe


#: the registered name of each oracle class, for messages
SCORER_NAME_OF: dict[type, str] = {ArithOracleScorer: "arith-oracle", ToolsOracleScorer: "tools-oracle"}


def _read_any(path: str | os.PathLike) -> Iterable[Problem]:
    """Problems from a problems file, or from canonical records carrying the world's spec in meta."""
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
