"""``omegaprm``: OmegaPRM / Math-APS output, solution prefixes with Monte Carlo values.

A line holds one question and its search tree flattened into prefix-value pairs::

    {"question": "...", "final_answer": "64", "question_id": 2,
     "reasoning_steps": [{"solution_prefix": "<question>", "mc_value": 0.75},
                         {"solution_prefix": "<question>\\n\\n<step 1>...", "mc_value": 1.0}, ...]}

The tree is rebuilt from the prefixes (a node's parent is the longest other prefix it starts
with). Each prefix other than the question itself becomes one record: steps = the text each
node adds along the path from the question, labels = the nodes' ``mc_value`` (soft labels).
The root value, the prefix order and the exact whitespace between steps are kept in
``meta["omegaprm"]`` so writing gives back the identical line. A flat line
``{"question", "solution_prefix", "mc_value"}`` is read as a tree with one prefix.

Example:
    >>> d = {"question": "Q", "question_id": 7, "reasoning_steps": [
    ...     {"solution_prefix": "Q", "mc_value": 0.5},
    ...     {"solution_prefix": "Q\\n\\nA", "mc_value": 1.0},
    ...     {"solution_prefix": "Q\\n\\nA\\n\\nB", "mc_value": 0.0}]}
    >>> [(s.id, s.steps, s.labels) for s in _parse(d, "f.jsonl", 1)]
    [('7#1', ['A'], [1.0]), ('7#2', ['A', 'B'], [1.0, 0.0])]
    >>> list(to_omegaprm_lines(_parse(d, "f.jsonl", 1))) == [d]
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    opt_str,
    other_fields,
    register_format,
    req_str,
    req_value,
    require_obj,
    row_reader,
    write_rows,
)
from prmkit.records import META_PROBLEM_ID, Solution

_KEYS = ("question", "final_answer", "reasoning_steps", "question_id")


def _split_ws(seg: str) -> tuple[str, str, str]:
    core = seg.strip()
    if not core:
        return seg, "", ""
    lead = seg[: len(seg) - len(seg.lstrip())]
    trail = seg[len(seg.rstrip()) :]
    return lead, core, trail


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    d = require_obj(obj, file, line)
    question = req_str(d, "question", file, line)
    flat = "reasoning_steps" not in d and "solution_prefix" in d
    entries = [d] if flat else d.get("reasoning_steps")
    if not isinstance(entries, list) or not entries:
        raise PrmkitError("must be a non-empty list", file=file, line=line, field="reasoning_steps")
    prefixes: list[str] = []
    values: list[float] = []
    for i, e in enumerate(entries):
        f = "" if flat else f"reasoning_steps[{i}]."
        e = require_obj(e, file, line, f.rstrip(".") or None)
        p = req_str(e, "solution_prefix", file, line, field=f + "solution_prefix")
        if not p.startswith(question):
            raise PrmkitError(
                "does not start with the question", file=file, line=line, field=f + "solution_prefix"
            )
        prefixes.append(p)
        values.append(req_value(e.get("mc_value"), file, line, f + "mc_value"))
    qid = d.get("question_id")
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, int | str)):
        raise PrmkitError("must be an integer or a string", file=file, line=line, field="question_id")
    ref = opt_str(d, "final_answer", file, line)
    # parent = the first entry holding the longest strictly shorter prefix of this one (-1: the question)
    first_of: dict[str, int] = {}
    for i, p in enumerate(prefixes):
        first_of.setdefault(p, i)
    by_len = sorted(first_of, key=len, reverse=True)
    parent: list[int] = []
    for p in prefixes:
        par = -1
        for q in by_len:
            if len(q) < len(p) and len(q) > len(question) and p.startswith(q):
                par = first_of[q]
                break
        parent.append(par)
    roots = [[i, values[i]] for i, p in enumerate(prefixes) if p == question]
    base = str(qid) if qid is not None else f"{file.rsplit('/', 1)[-1].rsplit('.', 1)[0]}-{line}"
    extra = other_fields(d, _KEYS)
    out: list[Solution] = []
    for i, p in enumerate(prefixes):
        if p == question:
            continue
        path = [i]
        while parent[path[-1]] != -1:
            path.append(parent[path[-1]])
        path.reverse()
        steps, ws, labels = [], [], []
        start = len(question)
        for j in path:
            lead, core, trail = _split_ws(prefixes[j][start:])
            steps.append(core)
            ws.append([lead, trail])
            labels.append(values[j])
            start = len(prefixes[j])
        info: dict[str, Any] = {"question_id": qid, "index": i, "whitespace": ws}
        if not out:
            info["roots"] = roots
            info["n_entries"] = len(prefixes)
            if flat:
                info["flat"] = True
            if extra:
                info["extra"] = extra
        out.append(
            make_solution(
                file,
                line,
                id=f"{base}#{i}",
                problem=question,
                steps=steps,
                reference_answer=ref,
                labels=labels,
                meta={"omegaprm": info, META_PROBLEM_ID: base},
            )
        )
    if not out:
        raise PrmkitError(
            "no solution prefix beyond the question itself", file=file, line=line, field="reasoning_steps"
        )
    return out


def _group_key(rec: Solution) -> tuple[Any, str]:
    info = rec.meta.get("omegaprm")
    qid = info.get("question_id") if isinstance(info, dict) else rec.problem_id
    return qid, rec.problem


def _line(group: list[Solution]) -> dict[str, Any]:
    first = group[0]
    info0 = first.meta.get("omegaprm") if isinstance(first.meta.get("omegaprm"), dict) else {}
    slots: dict[int, dict[str, Any]] = {}
    for i, v in info0.get("roots") or []:
        slots[i] = {"solution_prefix": first.problem, "mc_value": v}
    seen: set[str] = set()
    auto = 1_000_000_000
    for rec in group:
        info = rec.meta.get("omegaprm") if isinstance(rec.meta.get("omegaprm"), dict) else {}
        ws = info.get("whitespace")
        if rec.labels is None or any(v is None for v in rec.labels):
            raise PrmkitError(f"record '{rec.id}': OmegaPRM needs a value for every step", field="labels")
        if isinstance(ws, list) and len(ws) == len(rec.steps) and isinstance(info.get("index"), int):
            prefix = rec.problem + "".join(a + s + b for (a, b), s in zip(ws, rec.steps, strict=True))
            slots[info["index"]] = {"solution_prefix": prefix, "mc_value": rec.labels[-1]}
            continue
        # a record from elsewhere: one entry per step prefix, shared prefixes written once
        prefix = rec.problem
        for s, v in zip(rec.steps, rec.labels, strict=True):
            prefix += "\n\n" + s
            if prefix not in seen:
                seen.add(prefix)
                slots[auto] = {"solution_prefix": prefix, "mc_value": v}
                auto += 1
    qid, _ = _group_key(first)
    out: dict[str, Any] = {"question": first.problem}
    if first.reference_answer is not None:
        out["final_answer"] = first.reference_answer
    out["reasoning_steps"] = [slots[k] for k in sorted(slots)]
    if qid is not None:
        out["question_id"] = qid
    if info0.get("flat") and len(out["reasoning_steps"]) == 1:
        out = {k: v for k, v in out.items() if k != "reasoning_steps"} | out["reasoning_steps"][0]
    if isinstance(info0.get("extra"), dict):
        out.update(info0["extra"])
    return out


def to_omegaprm_lines(records: Iterable[Solution]) -> Iterator[dict[str, Any]]:
    """Group consecutive records of one question back into OmegaPRM lines."""
    group: list[Solution] = []
    for rec in records:
        if group and _group_key(rec) != _group_key(group[0]):
            yield _line(group)
            group = []
        group.append(rec)
    if group:
        yield _line(group)


def write_omegaprm(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write OmegaPRM lines (consecutive records of the same question form one line)."""
    return write_rows(path, to_omegaprm_lines(records))


register_format(
    Format(
        name="omegaprm",
        description="OmegaPRM / Math-APS {question, reasoning_steps: [{solution_prefix, mc_value}]}",
        read=row_reader(_parse),
        write=write_omegaprm,
    )
)
