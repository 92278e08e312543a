"""``processbench``: ``{id, generator, problem, steps, final_answer_correct, label}``.

``label`` is the 0-based index of the first wrong step (-1: all correct). Reading gives labels
``[1]*k + [0] + [None]*rest`` (steps after the first error are unknown) or all 1 for -1;
``generator`` and ``final_answer_correct`` (and any other field) go to ``meta`` so writing
gives back the identical record. Accepts a JSON array (``.json``) or JSONL.

Example:
    >>> import json, os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "pb.json")
    >>> _ = open(f, "w").write(json.dumps([{"id": "m-0", "generator": "g", "problem": "p",
    ...     "steps": ["a", "b", "c"], "final_answer_correct": False, "label": 1}]))
    >>> [r.labels for r in read_processbench(f)]
    [[1.0, 0.0, None]]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    read_objects,
    record_error,
    register_format,
    req_int,
    req_str,
    req_str_list,
    require_obj,
    write_rows,
)
from prmkit.records import Rejects, Solution, labels_from_first_error

_KEYS = ("id", "generator", "problem", "steps", "final_answer_correct", "label")
_EXTRA = "processbench_extra"


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
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
        meta["generator"] = d["generator"]
    if "final_answer_correct" in d:
        if d["final_answer_correct"] is not None and not isinstance(d["final_answer_correct"], bool):
            raise PrmkitError("must be true or false", file=file, line=line, field="final_answer_correct")
        meta["final_answer_correct"] = d["final_answer_correct"]
    extra = {k: v for k, v in d.items() if k not in _KEYS}
    if extra:
        meta[_EXTRA] = extra
    return [
        make_solution(
            file,
            line,
            id=sid,
            problem=problem,
            steps=steps,
            labels=labels_from_first_error(label, len(steps)),
            meta=meta,
        )
    ]


def read_processbench(
    path: str | os.PathLike, *, skip_invalid: bool = False, rejects: Rejects | None = None
) -> Iterator[Solution]:
    """Stream ProcessBench records as canonical solutions (labels from ``label``)."""
    return read_objects(path, _parse, skip_invalid=skip_invalid, rejects=rejects)


def to_processbench(rec: Solution) -> dict[str, Any]:
    """One canonical record as a ProcessBench dict (``label`` = first error of the labels)."""
    if rec.labels is None:
        raise record_error(rec, "has no labels; ProcessBench needs the first-error index", "labels")
    out: dict[str, Any] = {"id": rec.id}
    if "generator" in rec.meta:
        out["generator"] = rec.meta["generator"]
    out["problem"] = rec.problem
    out["steps"] = list(rec.steps)
    if "final_answer_correct" in rec.meta:
        out["final_answer_correct"] = rec.meta["final_answer_correct"]
    out["label"] = rec.first_error
    extra = rec.meta.get(_EXTRA)
    if isinstance(extra, dict):
        out.update(extra)
    return out


def write_processbench(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write ProcessBench records (a JSON array for ``.json``, else JSONL)."""
    return write_rows(path, (to_processbench(r) for r in records))


register_format(
    Format(
        name="processbench",
        description="ProcessBench {id, generator, problem, steps, final_answer_correct, label}",
        read=read_processbench,
        write=write_processbench,
    )
)
