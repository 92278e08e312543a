"""``tool-pairs``: ToolPRMBench-style pairwise cases for tool-using agents.

ToolPRMBench (Li et al. 2026, arXiv 2601.12294) builds step-level cases that hold "the
interaction history, a correct action, a plausible but incorrect alternative, and relevant tool
metadata", and a PRM is right on a case when it prefers the correct action. Its code and data
(github.com/David-Li0406/ToolPRMBench) could not be fetched here, so the field names are
prmkit's own schema (the embedded tool world writes it)::

    {"id": "case-3", "task": "...", "history": [TURN, ...], "correct": TURN, "incorrect": TURN,
     "error": "wrong_argument", "tools": [{"type": "function", "function": {...}}]}

where a TURN is a :mod:`prmkit.trajectory` turn object (``action``: text or ``{"name",
"arguments"}``, optional ``thought``, ``observation``, ``meta``).

:func:`pair_solutions` gives the two canonical records a PRM scores: ``history + [correct]``
(``<id>#correct``, last label 1) and ``history + [incorrect]`` (``<id>#incorrect``, last label 0);
the history's labels are unknown (null). Both carry ``meta["pair"]`` (the case id),
``meta["side"]``, ``meta["error"]`` and ``meta["tools"]``. Reading the format gives these two
records per case; writing pairs them up again (by ``meta["pair"]``). The metric is
:mod:`prmkit.evaluate.pairwise`.

Example:
    >>> case = {"id": "c1", "task": "Price of the mug?", "history": [],
    ...         "correct": {"action": {"name": "search", "arguments": {"q": "mug"}}},
    ...         "incorrect": {"action": {"name": "search", "arguments": {"q": "cup"}}}, "error": "wrong_argument"}
    >>> good, bad = pair_solutions(read_pair(case))
    >>> good.id, good.steps, bad.labels
    ('c1#correct', ['Action: search({"q": "mug"})'], [0.0])
    >>> to_pair(good, bad) == {**case, "tools": None}
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    other_fields,
    record_error,
    register_format,
    req_str,
    require_obj,
    row_id,
    row_reader,
    write_rows,
)
from prmkit.records import Solution
from prmkit.trajectory import Turn, turns_from_json

_KEYS = ("id", "task", "history", "correct", "incorrect", "error", "tools")
SIDES = ("correct", "incorrect")


@dataclass
class ToolPair:
    """One pairwise case: the history, the correct and the incorrect next action."""

    id: str
    task: str
    history: list[Turn]
    correct: Turn
    incorrect: Turn
    error: str | None = None
    tools: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _one_turn(v: Any, file: str | None, line: int | None, key: str) -> Turn:
    try:
        return turns_from_json([v], file=file, line=line)[0]
    except PrmkitError as e:
        raise PrmkitError(
            e.message, file=file, line=line, field=(e.field or "").replace("turns[0]", key)
        ) from None


def read_pair(obj: Any, file: str | None = None, line: int | None = None) -> ToolPair:
    """Validate one case (errors name file, line and field, e.g. ``correct.action``)."""
    d = require_obj(obj, file, line)
    history: list[Turn] = []
    if d.get("history"):
        try:
            history = turns_from_json(d["history"], file=file, line=line)
        except PrmkitError as e:
            raise PrmkitError(
                e.message, file=file, line=line, field=(e.field or "").replace("turns", "history")
            ) from None
    elif d.get("history") is not None and d["history"] != []:
        raise PrmkitError("must be a list of turns", file=file, line=line, field="history")
    for k in SIDES:
        if d.get(k) is None:
            raise PrmkitError("missing", file=file, line=line, field=k)
    tools = d.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise PrmkitError("must be a list of tool schema objects", file=file, line=line, field="tools")
    err = d.get("error")
    if err is not None and not isinstance(err, str):
        raise PrmkitError("must be a string", file=file, line=line, field="error")
    return ToolPair(
        id=row_id(d, file or "pairs", line or 0),
        task=req_str(d, "task", file, line),
        history=history,
        correct=_one_turn(d["correct"], file, line, "correct"),
        incorrect=_one_turn(d["incorrect"], file, line, "incorrect"),
        error=err,
        tools=tools,
        meta=other_fields(d, _KEYS),
    )


def pair_solutions(pair: ToolPair) -> tuple[Solution, Solution]:
    """The two records to score: history + correct action, history + incorrect action."""
    out = []
    for side, last, y in (("correct", pair.correct, 1.0), ("incorrect", pair.incorrect, 0.0)):
        turns = [*pair.history, last]
        meta = {"pair": pair.id, "side": side, "error": pair.error, "tools": pair.tools, **pair.meta}
        out.append(
            make_solution(
                None,
                None,
                id=f"{pair.id}#{side}",
                problem=pair.task,
                turns=[t.to_dict() for t in turns],
                labels=[None] * len(pair.history) + [y],
                meta=meta,
            )
        )
    return out[0], out[1]


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    return list(pair_solutions(read_pair(obj, file, line)))


def to_pair(correct: Solution, incorrect: Solution) -> dict[str, Any]:
    """The case two records of one pair stand for (the inverse of :func:`pair_solutions`)."""
    for rec in (correct, incorrect):
        if rec.turns is None:
            raise record_error(rec, "has no turns; a pairwise case is made of turns", "turns")
    assert correct.turns is not None and incorrect.turns is not None
    hist = correct.turns[:-1]
    if [t.to_dict() for t in hist] != [
        t.to_dict() for t in incorrect.turns[:-1]
    ] or correct.problem != incorrect.problem:
        raise record_error(correct, "and its incorrect side do not share the task and history", "turns")
    out: dict[str, Any] = {
        "id": correct.meta["pair"],
        "task": correct.problem,
        "history": [t.to_dict() for t in hist],
        "correct": correct.turns[-1].to_dict(),
        "incorrect": incorrect.turns[-1].to_dict(),
        "error": correct.meta.get("error"),
        "tools": correct.meta.get("tools"),
    }
    out.update(other_fields(correct.meta, ("pair", "side", "error", "tools")))
    return out


def write_pairs(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write records made by :func:`pair_solutions` (both sides of each case, any order) as cases."""
    waiting: dict[str, dict[str, Solution]] = {}

    def rows() -> Iterable[dict[str, Any]]:
        for rec in records:
            pid, side = rec.meta.get("pair"), rec.meta.get("side")
            if not isinstance(pid, str) or side not in SIDES:
                raise record_error(
                    rec, "is not one side of a pairwise case (needs meta.pair and meta.side)", "meta"
                )
            got = waiting.setdefault(pid, {})
            if side in got:
                raise record_error(rec, f"is the second '{side}' side of case {pid!r}", "meta")
            got[side] = rec
            if len(got) == 2:
                del waiting[pid]
                yield to_pair(got["correct"], got["incorrect"])
        if waiting:
            pid, got = next(iter(waiting.items()))
            raise PrmkitError(f"case {pid!r} has only its {next(iter(got))} side ({len(waiting)} incomplete)")

    return write_rows(path, rows())


register_format(
    Format(
        name="tool-pairs",
        description="pairwise tool-call cases {id, task, history, correct, incorrect, error, tools} (2 records each)",
        read=row_reader(_parse),
        write=write_pairs,
    )
)
