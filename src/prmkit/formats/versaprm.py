"""``versaprm``: PRM800K-derived step-labelled solutions as shipped by VersaPRM.

A JSON array (or JSONL) of questions, each with several labelled chains of thought::

    {"domain": "prm_math", "source": "prm800k_phase2_test", "question": "...", "answer": "<reference solution>",
     "chain_of_thoughts": [{"steps": ["..."], "labels": [1, 1, 0], "augs": [...]}, ...]}

Each chain becomes one record ``<id or file-item>#<k>``; labels 1 -> 1.0, 0 or -1 -> 0.0; the
reference solution, ``augs`` and the other fields stay in ``meta["versaprm"]``, and
``reference_answer`` is the ``\\boxed{}`` answer of the reference solution.

Example:
    >>> d = {"question": "q", "answer": "so \\\\boxed{6}", "chain_of_thoughts": [{"steps": ["a"], "labels": [1]}]}
    >>> [(s.id, s.reference_answer, s.labels) for s in _parse(d, "f.json", 3)]
    [('f-3#0', '6', [1.0])]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    register_format,
    req_str,
    req_str_list,
    require_obj,
    row_id,
    row_reader,
    write_rows,
)
from prmkit.records import META_PROBLEM_ID, Solution


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    from prmkit.grading import extract_answer

    d = require_obj(obj, file, line)
    question = req_str(d, "question", file, line)
    ref_solution = d.get("answer")
    if ref_solution is not None and not isinstance(ref_solution, str):
        raise PrmkitError("must be a string", file=file, line=line, field="answer")
    chains = d.get("chain_of_thoughts")
    if not isinstance(chains, list) or not chains:
        raise PrmkitError("must be a non-empty list", file=file, line=line, field="chain_of_thoughts")
    base = row_id(d, file, line)
    item = {k: v for k, v in d.items() if k not in ("id", "question", "chain_of_thoughts")}
    out = []
    for k, c in enumerate(chains):
        f = f"chain_of_thoughts[{k}]"
        c = require_obj(c, file, line, f)
        steps = req_str_list(c, "steps", file, line, field=f"{f}.steps")
        raw = c.get("labels")
        if not isinstance(raw, list) or len(raw) != len(steps):
            raise PrmkitError(
                f"must be a list of {len(steps)} labels", file=file, line=line, field=f"{f}.labels"
            )
        labels: list[float | None] = []
        for v in raw:
            if v is None:
                labels.append(None)
            elif not isinstance(v, bool) and v in (1, 0, -1):
                labels.append(1.0 if v == 1 else 0.0)
            else:
                raise PrmkitError(
                    f"label {v!r} is not 1, 0, -1 or null", file=file, line=line, field=f"{f}.labels"
                )
        info: dict[str, Any] = {"item": base, "chain": k, "raw_labels": raw}
        info.update({kk: vv for kk, vv in c.items() if kk not in ("steps", "labels")})
        if k == 0:
            info["fields"] = item
        out.append(
            make_solution(
                file,
                line,
                id=f"{base}#{k}",
                problem=question,
                steps=steps,
                reference_answer=extract_answer(ref_solution) if ref_solution else None,
                labels=labels,
                meta={"versaprm": info, META_PROBLEM_ID: base},
            )
        )
    return out


def _item(group: list[Solution]) -> dict[str, Any]:
    info0 = group[0].meta.get("versaprm") or {}
    out: dict[str, Any] = dict(info0.get("fields") or {})
    if "answer" not in out and group[0].reference_answer is not None:
        out["answer"] = group[0].reference_answer
    out["question"] = group[0].problem
    chains = []
    for r in group:
        info = r.meta.get("versaprm") or {}
        raw = info.get("raw_labels")
        if r.labels is None:
            raise PrmkitError(f"record '{r.id}': has no labels", field="labels")
        if any(v is not None and v not in (0.0, 1.0) for v in r.labels):
            raise PrmkitError(f"record '{r.id}': soft labels cannot be written as 1/0", field="labels")
        lab = [None if v is None else int(v) for v in r.labels]
        if (
            isinstance(raw, list)
            and len(raw) == len(lab)
            and all(
                (a is None and b is None) or (a is not None and b is not None and (a == 1) == (b == 1))
                for a, b in zip(raw, lab, strict=True)
            )
        ):
            lab = raw
        c = {"steps": list(r.steps), "labels": lab}
        c.update({k: v for k, v in info.items() if k not in ("item", "chain", "raw_labels", "fields")})
        chains.append(c)
    out["chain_of_thoughts"] = chains
    return out


def to_versaprm_items(records: Iterable[Solution]) -> Iterator[dict[str, Any]]:
    """Group consecutive records of one item (``meta.versaprm.item`` or problem) into items."""
    group: list[Solution] = []

    def key(r: Solution) -> Any:
        info = r.meta.get("versaprm")
        return (info.get("item") if isinstance(info, dict) else r.problem_id, r.problem)

    for r in records:
        if group and key(r) != key(group[0]):
            yield _item(group)
            group = []
        group.append(r)
    if group:
        yield _item(group)


def write_versaprm(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write VersaPRM-style items (a JSON array for ``.json``)."""
    return write_rows(path, to_versaprm_items(records))


register_format(
    Format(
        name="versaprm",
        description="VersaPRM / PRM800K-derived {question, answer, chain_of_thoughts: [{steps, labels}]}",
        read=row_reader(_parse),
        write=write_versaprm,
    )
)
