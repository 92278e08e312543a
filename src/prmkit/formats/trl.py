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

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    default_id,
    known_labels,
    make_solution,
    read_objects,
    register_format,
    req_str,
    req_str_list,
    require_obj,
    write_rows,
)
from prmkit.records import Rejects, Solution, check_step_values

_KEYS = ("id", "prompt", "completions", "labels")


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    d = require_obj(obj, file, line)
    prompt = req_str(d, "prompt", file, line)
    steps = req_str_list(d, "completions", file, line)
    if d.get("labels") is None:
        raise PrmkitError("missing", file=file, line=line, field="labels")
    labels = check_step_values(d["labels"], len(steps), name="labels", file=file, line=line)
    sid = req_str(d, "id", file, line, allow_int=True) if d.get("id") is not None else default_id(file, line)
    meta = {k: v for k, v in d.items() if k not in _KEYS}
    return [make_solution(file, line, id=sid, problem=prompt, steps=steps, labels=labels, meta=meta)]


def read_trl(
    path: str | os.PathLike, *, skip_invalid: bool = False, rejects: Rejects | None = None
) -> Iterator[Solution]:
    """Stream TRL stepwise-supervision rows as canonical solutions."""
    return read_objects(path, _parse, skip_invalid=skip_invalid, rejects=rejects)


def to_trl(rec: Solution, unknown: str = "error") -> dict[str, Any]:
    """One record as a TRL row: hard labels become booleans, soft ones stay floats."""
    try:
        steps, labels = known_labels(rec, unknown, "TRL")
    except PrmkitError as e:
        raise PrmkitError(f"record '{rec.id}': {e.message}", field=e.field) from None
    out: dict[str, Any] = {"id": rec.id, "prompt": rec.problem, "completions": steps}
    out["labels"] = [bool(v) if v in (0.0, 1.0) else v for v in labels]
    for k, v in rec.meta.items():
        if k not in _KEYS:
            out[k] = v
    return out


def write_trl(path: str | os.PathLike, records: Iterable[Solution], unknown: str = "error") -> int:
    """Write TRL rows as JSONL (or a ``.json`` array)."""
    return write_rows(path, (to_trl(r, unknown) for r in records))


register_format(
    Format(
        name="trl",
        description="TRL stepwise supervision {prompt, completions, labels}",
        read=read_trl,
        write=write_trl,
        write_options=("unknown",),
    )
)
