"""``processbench``: ``{id, generator, problem, steps, final_answer_correct, label}``.

``label`` is the 0-based index of the first wrong step (-1: all correct). Reading gives labels
``[1]*k + [0] + [None]*rest`` (steps after the first error are unknown) or all 1 for -1, so
``Solution.first_error`` is ``label``; ``generator`` goes to ``meta["generator"]``,
``final_answer_correct`` to ``meta["correct"]`` and any other field to
``meta["processbench_extra"]``, so writing gives back the identical record. Accepts a JSON array
(``.json``) or JSONL.

Example:
    >>> import json, os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "pb.json")
    >>> _ = open(f, "w").write(json.dumps([{"id": "m-0", "generator": "g", "problem": "p",
    ...     "steps": ["a", "b", "c"], "final_answer_correct": False, "label": 1}]))
    >>> from prmkit.formats import read_solutions
    >>> [(r.labels, r.first_error, r.correct) for r in read_solutions(f, "processbench")]
    [([1.0, 0.0, None], 1, False)]
"""

from __future__ import annotations

from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    other_fields,
    record_error,
    register_format,
    req_int,
    req_str,
    req_str_list,
    require_obj,
    row_reader,
    row_writer,
)
from prmkit.records import META_CORRECT, META_GENERATOR, Solution, labels_from_first_error

_KEYS = ("id", "generator", "problem", "steps", "final_answer_correct", "label")
_EXTRA = "processbench_extra"


def processbench_to_solution(obj: Any, file: str | None = None, line: int | None = None) -> Solution:
    """One ProcessBench record as a canonical :class:`Solution` (see the module docstring).

    Errors name ``file``, ``line`` and the field.

    Example:
        >>> s = processbench_to_solution({"id": "gsm8k-0", "problem": "p", "steps": ["a", "b"], "label": -1})
        >>> s.labels, s.first_error, s.meta
        ([1.0, 1.0], -1, {})
    """
    d = require_obj(obj, file, line)
    sid = req_str(d, "id", file, line, allow_int=True)
    problem = req_str(d, "problem", file, line)
    steps = req_str_list(d, "steps", file, line)
    label = req_int(d, "label", file, line)
    if not -1 <= label < len(steps):
        raise PrmkitError(
            f"first-error index {label} out of range for {len(steps)} steps (use -1 for none)",
            file=file,
            line=line,
            field="label",
        )
    meta: dict[str, Any] = {}
    if "generator" in d:
        if d["generator"] is not None and not isinstance(d["generator"], str):
            raise PrmkitError("must be a string", file=file, line=line, field="generator")
        meta[META_GENERATOR] = d["generator"]
    if "final_answer_correct" in d:
        if d["final_answer_correct"] is not None and not isinstance(d["final_answer_correct"], bool):
            raise PrmkitError("must be true or false", file=file, line=line, field="final_answer_correct")
        meta[META_CORRECT] = d["final_answer_correct"]
    extra = other_fields(d, _KEYS)
    if extra:
        meta[_EXTRA] = extra
    return make_solution(
        file,
        line,
        id=sid,
        problem=problem,
        steps=steps,
        labels=labels_from_first_error(label, len(steps)),
        meta=meta,
    )


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    return [processbench_to_solution(obj, file, line)]


def to_processbench(rec: Solution) -> dict[str, Any]:
    """One canonical record as a ProcessBench dict (``label`` = first error of the labels)."""
    if rec.labels is None:
        raise record_error(rec, "has no labels; ProcessBench needs the first-error index", "labels")
    out: dict[str, Any] = {"id": rec.id}
    if META_GENERATOR in rec.meta:
        out["generator"] = rec.meta[META_GENERATOR]
    out["problem"] = rec.problem
    out["steps"] = list(rec.steps)
    if META_CORRECT in rec.meta:
        out["final_answer_correct"] = rec.meta[META_CORRECT]
    out["label"] = rec.first_error
    extra = rec.meta.get(_EXTRA)
    if isinstance(extra, dict):
        out.update(extra)
    return out


register_format(
    Format(
        name="processbench",
        description="ProcessBench {id, generator, problem, steps, final_answer_correct, label}",
        read=row_reader(_parse),
        write=row_writer(to_processbench),
    )
)
