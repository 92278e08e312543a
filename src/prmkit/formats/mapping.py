"""``map``: any JSON/JSONL records, read through a field mapping.

``mapping`` names, for each canonical field, the source field holding it (dots reach into
nested objects: ``meta.src``). Fields not mapped use their canonical name when present:

- ``id`` (default ``<file stem>-<line>``), ``problem`` (required), ``steps`` (required: a list
  of strings, or one string cut with the ``split`` preset of :mod:`prmkit.steps`),
- ``labels`` / ``scores`` (step values), or ``first_error`` (0-based index, -1 or null = none;
  gives ProcessBench-style labels), ``answer``, ``reference_answer``.

Source fields that are not mapped are kept in ``meta`` (written back on output).

Example:
    >>> m = parse_mapping("problem=question,steps=process,first_error=mistake_index")
    >>> d = {"question": "q", "process": "a\\n\\nb", "mistake_index": 1, "src": "x"}
    >>> s = _parse(d, "f.jsonl", 1, m, "\\n\\n")[0]
    >>> s.steps, s.labels, s.meta
    (['a', 'b'], [1.0, 0.0], {'src': 'x'})
    >>> to_mapped(s, m, "\\n\\n") == {"id": "f-1", **d}
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    default_id,
    make_solution,
    read_objects,
    register_format,
    require_obj,
    write_rows,
)
from prmkit.records import Rejects, Solution, check_step_values, labels_from_first_error

FIELDS = ("id", "problem", "steps", "labels", "scores", "first_error", "answer", "reference_answer")
_MISSING = object()


def parse_mapping(spec: str | dict[str, str] | None) -> dict[str, str]:
    """Parse ``"problem=question,steps=process"`` into a dict (canonical field -> source field).

    Example:
        >>> parse_mapping("problem=q, id=uid")
        {'problem': 'q', 'id': 'uid'}
    """
    if spec is None:
        return {}
    items = (
        spec.items()
        if isinstance(spec, dict)
        else (
            tuple(part.split("=", 1)) if "=" in part else (part, None)
            for part in spec.split(",")
            if part.strip()
        )
    )
    out: dict[str, str] = {}
    for k, v in items:
        k = k.strip()
        if v is None or not str(v).strip():
            raise PrmkitError(f"mapping entry '{k}' needs the form canonical=source", field="map")
        if k not in FIELDS:
            raise PrmkitError(f"unknown canonical field '{k}'; known: {', '.join(FIELDS)}", field="map")
        out[k] = str(v).strip()
    if "labels" in out and "first_error" in out:
        raise PrmkitError("map either labels or first_error, not both", field="map")
    return out


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return _MISSING
        d = d[part]
    return d


def _pop(d: dict, path: str) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        d = d.get(part)
        if not isinstance(d, dict):
            return
    d.pop(parts[-1], None)


def _set(d: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        d = d.setdefault(part, {})
    d[parts[-1]] = value


def _parse(obj: Any, file: str, line: int, mapping: dict[str, str], split: str | None) -> list[Solution]:
    from prmkit.steps import split_steps

    d = require_obj(obj, file, line)
    src = {k: mapping.get(k, k) for k in FIELDS}
    vals = {k: _get(d, path) for k, path in src.items()}
    problem = vals["problem"]
    if problem is _MISSING or problem is None:
        raise PrmkitError("missing", file=file, line=line, field=src["problem"])
    if not isinstance(problem, str):
        raise PrmkitError(
            f"must be a string, got {type(problem).__name__}", file=file, line=line, field=src["problem"]
        )
    steps = vals["steps"]
    if steps is _MISSING or steps is None:
        raise PrmkitError("missing", file=file, line=line, field=src["steps"])
    if isinstance(steps, str):
        steps = split_steps(steps, split or "\n\n")
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise PrmkitError("must be a list of strings or one string", file=file, line=line, field=src["steps"])
    if not steps:
        raise PrmkitError("must not be empty", file=file, line=line, field=src["steps"])
    labels = None
    if vals["labels"] not in (_MISSING, None):
        labels = check_step_values(vals["labels"], len(steps), name=src["labels"], file=file, line=line)
    fe = vals["first_error"]
    if fe is not _MISSING and "first_error" in mapping:
        if fe is None:
            fe = -1
        if isinstance(fe, bool) or not isinstance(fe, int):
            raise PrmkitError("must be an integer or null", file=file, line=line, field=src["first_error"])
        if not -1 <= fe < len(steps):
            raise PrmkitError(
                f"first-error index {fe} out of range for {len(steps)} steps",
                file=file,
                line=line,
                field=src["first_error"],
            )
        labels = labels_from_first_error(fe, len(steps))
    scores = None
    if vals["scores"] not in (_MISSING, None):
        scores = check_step_values(vals["scores"], len(steps), name=src["scores"], file=file, line=line)
    sid = vals["id"]
    if sid is _MISSING or sid is None:
        sid = default_id(file, line)
    elif isinstance(sid, bool) or not isinstance(sid, str | int):
        raise PrmkitError("must be a string or an integer", file=file, line=line, field=src["id"])
    meta = json_copy(d)
    for k, path in src.items():
        if vals[k] is not _MISSING and (k != "first_error" or "first_error" in mapping):
            _pop(meta, path)
    fields: dict[str, Any] = {"answer": vals["answer"], "reference_answer": vals["reference_answer"]}
    for k in ("answer", "reference_answer"):
        if fields[k] is _MISSING:
            fields[k] = None
        elif fields[k] is not None and (
            isinstance(fields[k], bool) or not isinstance(fields[k], str | int | float)
        ):
            raise PrmkitError("must be a string or a number", file=file, line=line, field=src[k])
    try:
        return [
            make_solution(
                file,
                line,
                id=str(sid),
                problem=problem,
                steps=steps,
                labels=labels,
                scores=scores,
                meta=meta,
                **fields,
            )
        ]
    except PrmkitError as e:
        raise PrmkitError(e.message, file=file, line=line, field=src.get(e.field or "", e.field)) from None


def json_copy(d: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough for popping nested mapped fields."""
    return {k: (json_copy(v) if isinstance(v, dict) else v) for k, v in d.items()}


def read_mapped(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
    mapping: str | dict[str, str] | None = None,
    split: str | None = None,
) -> Iterator[Solution]:
    """Stream any JSON/JSONL records through a field mapping (see the module doc)."""
    m = parse_mapping(mapping)
    if split is not None:
        from prmkit.steps import get_preset

        get_preset(split)

    def parse(obj: Any, file: str, line: int) -> list[Solution]:
        return _parse(obj, file, line, m, split)

    return read_objects(path, parse, skip_invalid=skip_invalid, rejects=rejects)


def to_mapped(rec: Solution, mapping: dict[str, str], split: str | None = None) -> dict[str, Any]:
    """One record under the mapped field names (steps joined with ``split`` when given)."""
    from prmkit.steps import join_steps

    out: dict[str, Any] = {}
    src = {k: mapping.get(k, k) for k in FIELDS}
    _set(out, src["id"], rec.id)
    _set(out, src["problem"], rec.problem)
    _set(out, src["steps"], join_steps(rec.steps, split) if split else list(rec.steps))
    if "first_error" in mapping:
        if rec.labels is None:
            raise PrmkitError(f"record '{rec.id}': has no labels for first_error", field="labels")
        _set(out, src["first_error"], rec.first_error)
    elif rec.labels is not None:
        _set(out, src["labels"], list(rec.labels))
    for k in ("scores", "answer", "reference_answer"):
        if getattr(rec, k) is not None:
            _set(out, src[k], getattr(rec, k))
    for k, v in rec.meta.items():
        if k not in out:
            out[k] = v
    return out


def write_mapped(
    path: str | os.PathLike,
    records: Iterable[Solution],
    mapping: str | dict[str, str] | None = None,
    split: str | None = None,
) -> int:
    """Write records under mapped field names (JSONL, or a ``.json`` array)."""
    m = parse_mapping(mapping)
    return write_rows(path, (to_mapped(r, m, split) for r in records))


register_format(
    Format(
        name="map",
        description="any JSON/JSONL through a field mapping (--map problem=question,steps=process,...)",
        read=read_mapped,
        write=write_mapped,
        read_options=("mapping", "split"),
        write_options=("mapping", "split"),
    )
)
