"""``math-shepherd``: ``input`` = question and steps, each step followed by the tag ``ки``;
``label`` = the same text with each tag replaced by ``+`` (correct) or ``-`` (wrong).

The question ends where ``Step 1:`` begins; the step texts keep their ``Step k:`` headers.
Without ``label`` the steps are read with unknown labels. Writing thresholds labels at 0.5
(Math-Shepherd has no soft or unknown labels: ``unknown="truncate"`` drops unknown tails).

Example:
    >>> d = {"input": "What is 1+1? Step 1: 1+1=2 ки\\nStep 2: The answer is: 2 ки",
    ...      "label": "What is 1+1? Step 1: 1+1=2 +\\nStep 2: The answer is: 2 +"}
    >>> s = _parse(d, "f.jsonl", 1)[0]
    >>> s.problem, s.steps, s.labels
    ('What is 1+1?', ['Step 1: 1+1=2', 'Step 2: The answer is: 2'], [1.0, 1.0])
    >>> to_math_shepherd(s) == {"id": "f-1", **d}
    True
"""

from __future__ import annotations

import re
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    known_labels,
    make_solution,
    other_fields,
    register_format,
    req_str,
    require_obj,
    row_id,
    row_reader,
    row_writer,
)
from prmkit.records import Solution

TAG = "ки"
_FIRST_STEP = re.compile(r"\s*Step\s*1\s*[:.]")
_KEYS = ("id", "input", "label")


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    d = require_obj(obj, file, line)
    text = req_str(d, "input", file, line)
    segs = text.split(TAG)
    if len(segs) < 2:
        raise PrmkitError(f"no step tag '{TAG}' found", file=file, line=line, field="input")
    if segs[-1].strip():
        raise PrmkitError(f"text after the last step tag '{TAG}'", file=file, line=line, field="input")
    m = _FIRST_STEP.search(segs[0])
    if m is None:
        raise PrmkitError("cannot find 'Step 1:' where the steps begin", file=file, line=line, field="input")
    problem = segs[0][: m.start()]
    first = segs[0][m.start() :]
    steps = [s.strip() for s in [first, *segs[1:-1]]]
    labels: list[float | None] | None = None
    if d.get("label") is not None:
        lab = req_str(d, "label", file, line)
        labels = []
        pos = 0
        for i, seg in enumerate(segs[:-1]):
            if lab[pos : pos + len(seg)] != seg:
                raise PrmkitError(
                    f"does not match 'input' before step tag {i + 1}", file=file, line=line, field="label"
                )
            pos += len(seg)
            c = lab[pos : pos + 1]
            if c not in ("+", "-"):
                raise PrmkitError(
                    f"step {i + 1} is {c!r}, expected '+' or '-'", file=file, line=line, field="label"
                )
            labels.append(1.0 if c == "+" else 0.0)
            pos += 1
        if lab[pos:] != segs[-1]:
            raise PrmkitError(
                "does not match 'input' after the last tag", file=file, line=line, field="label"
            )
    sid = row_id(d, file, line)
    meta = other_fields(d, _KEYS)
    return [make_solution(file, line, id=sid, problem=problem.strip(), steps=steps, labels=labels, meta=meta)]


def to_math_shepherd(rec: Solution, unknown: str = "error") -> dict[str, Any]:
    """One record as a Math-Shepherd row (``input``/``label`` with tags)."""
    steps, labels = known_labels(rec, unknown, "Math-Shepherd")
    for s in [rec.problem, *steps]:
        if TAG in s:
            raise PrmkitError(f"record '{rec.id}': text contains the step tag '{TAG}'", field="steps")
    body = " " + "\n".join(s + " " + TAG for s in steps)
    marks = " " + "\n".join(s + " " + ("+" if v >= 0.5 else "-") for s, v in zip(steps, labels, strict=True))
    out: dict[str, Any] = {"id": rec.id, "input": rec.problem + body, "label": rec.problem + marks}
    out.update(other_fields(rec.meta, _KEYS))
    return out


register_format(
    Format(
        name="math-shepherd",
        description="Math-Shepherd {input with 'ки' step tags, label with +/-}",
        read=row_reader(_parse),
        write=row_writer(to_math_shepherd),
        write_options=("unknown",),
    )
)
