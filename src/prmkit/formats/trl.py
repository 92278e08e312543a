"""``trl``: TRL stepwise supervision ``{prompt, completions, labels}`` (labels are booleans).

Float labels are kept as soft labels both ways. An ``id`` column is read when present (else
``<file stem>-<line>``) and always written; other columns go to / come from ``meta``.
TRL cannot hold unknown labels: the writer refuses them unless ``unknown="truncate"``.

Example:
    >>> from prmkit.records import Solution
    >>> to_trl(Solution(id="a", problem="p", steps=["x", "y"], labels=[1.0, 0.25]))
    {'id': 'a', 'prompt': 'p', 'completions': ['x', 'y'], 'labels': [True, 0.25]}
"""

from __future__ import annotations

from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    known_labels,
    make_solution,
    other_fields,
    register_format,
    req_str,
    req_str_list,
    require_obj,
    row_id,
    row_reader,
    row_writer,
)
from prmkit.records import Solution, check_step_values

_KEYS = ("id", "prompt", "completions", "labels")


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    d = require_obj(obj, file, line)
    prompt = req_str(d, "prompt", file, line)
    steps = req_str_list(d, "completions", file, line)
    if d.get("labels") is None:
        raise PrmkitError("missing", file=file, line=line, field="labels")
    labels = check_step_values(d["labels"], len(steps), name="labels", file=file, line=line)
    sid = row_id(d, file, line)
    meta = other_fields(d, _KEYS)
    return [make_solution(file, line, id=sid, problem=prompt, steps=steps, labels=labels, meta=meta)]


def to_trl(rec: Solution, unknown: str = "error") -> dict[str, Any]:
    """One record as a TRL row: hard labels become booleans, soft ones stay floats."""
    steps, labels = known_labels(rec, unknown, "TRL")
    out: dict[str, Any] = {"id": rec.id, "prompt": rec.problem, "completions": steps}
    out["labels"] = [bool(v) if v in (0.0, 1.0) else v for v in labels]
    out.update(other_fields(rec.meta, _KEYS))
    return out


register_format(
    Format(
        name="trl",
        description="TRL stepwise supervision {prompt, completions, labels}",
        read=row_reader(_parse),
        write=row_writer(to_trl),
        write_options=("unknown",),
    )
)
