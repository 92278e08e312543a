"""``prmbench``: PRMBench records (an original process and a modified one with injected errors).

Each line gives one record for the *modified* process: ``id`` = ``idx``, problem =
``modified_question``, steps = ``modified_process``, labels 0 at the 1-based ``error_steps``
and 1 elsewhere. Everything else (``original_process``, ``classification``, ``reason``, ...)
is kept in ``meta["prmbench"]`` so writing gives the identical line back. With
``original=True`` a second record ``<idx>#original`` holds the original process, all labels 1
(the writer skips those: their data is already in the modified record's meta).
``error_steps`` outside the process is an error (100 of the 6216 preview lines have one).

Example:
    >>> d = {"idx": "t0", "modified_question": "q", "modified_process": ["a", "b"], "error_steps": [2],
    ...      "original_process": ["a", "c"], "classification": "circular"}
    >>> [(s.id, s.labels) for s in _parse(d, "f.jsonl", 1, original=True)]
    [('t0', [1.0, 0.0]), ('t0#original', [1.0, 1.0])]
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
    register_format,
    req_str,
    req_str_list,
    require_obj,
    write_rows,
)
from prmkit.records import META_PROBLEM_ID, Rejects, Solution

_ORDER = (
    "original_question",
    "modified_question",
    "original_process",
    "modified_process",
    "modified_steps",
    "error_steps",
    "reason",
    "ground_truth",
    "idx",
    "question",
    "classification",
    "original_response",
)


def _parse(obj: Any, file: str, line: int, original: bool = False) -> list[Solution]:
    d = require_obj(obj, file, line)
    idx = req_str(d, "idx", file, line, allow_int=True)
    question = req_str(d, "modified_question", file, line)
    steps = req_str_list(d, "modified_process", file, line)
    errs = d.get("error_steps")
    if not isinstance(errs, list) or not all(isinstance(e, int) and not isinstance(e, bool) for e in errs):
        raise PrmkitError("must be a list of 1-based step numbers", file=file, line=line, field="error_steps")
    bad = [e for e in errs if not 1 <= e <= len(steps)]
    if bad:
        raise PrmkitError(
            f"step numbers {bad} out of range for {len(steps)} steps (1-based)",
            file=file,
            line=line,
            field="error_steps",
        )
    err_set = set(errs)
    labels = [0.0 if i + 1 in err_set else 1.0 for i in range(len(steps))]
    info = {k: v for k, v in d.items() if k not in ("idx", "modified_question", "modified_process")}
    if sorted(err_set) == errs:
        info.pop("error_steps")  # derivable from the labels
    out = [
        make_solution(
            file, line, id=idx, problem=question, steps=steps, labels=labels, meta={"prmbench": info}
        )
    ]
    if original:
        oq = d.get("original_question", question)
        if not isinstance(oq, str):
            raise PrmkitError("must be a string", file=file, line=line, field="original_question")
        osteps = req_str_list(d, "original_process", file, line)
        out.append(
            make_solution(
                file,
                line,
                id=f"{idx}#original",
                problem=oq,
                steps=osteps,
                labels=[1.0] * len(osteps),
                meta={"prmbench_role": "original", META_PROBLEM_ID: idx},
            )
        )
    return out


def read_prmbench(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
    original: bool = False,
) -> Iterator[Solution]:
    """Stream PRMBench lines as canonical solutions (the modified process; see the module doc)."""

    def parse(obj: Any, file: str, line: int) -> list[Solution]:
        return _parse(obj, file, line, original)

    return read_objects(path, parse, skip_invalid=skip_invalid, rejects=rejects)


def to_prmbench(rec: Solution) -> dict[str, Any]:
    """One record as a PRMBench line; records without PRMBench meta use their own steps as both
    processes and the steps labelled < 0.5 as ``error_steps``."""
    if rec.labels is None:
        raise PrmkitError(f"record '{rec.id}': has no labels; PRMBench needs error_steps", field="labels")
    info = rec.meta.get("prmbench") if isinstance(rec.meta.get("prmbench"), dict) else {}
    errs = [i + 1 for i, v in enumerate(rec.labels) if v is not None and v < 0.5]
    vals: dict[str, Any] = {
        "original_question": rec.problem,
        "original_process": list(rec.steps),
        "modified_steps": errs,
        "classification": "unknown",
        **info,
        "modified_question": rec.problem,
        "modified_process": list(rec.steps),
        "idx": rec.id,
    }
    vals.setdefault("error_steps", errs)
    out = {k: vals[k] for k in _ORDER if k in vals}
    out.update({k: v for k, v in vals.items() if k not in out})
    return out


def write_prmbench(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write PRMBench lines (records marked ``prmbench_role: original`` are skipped, see above)."""
    return write_rows(path, (to_prmbench(r) for r in records if r.meta.get("prmbench_role") != "original"))


register_format(
    Format(
        name="prmbench",
        description="PRMBench {original_process, modified_process, error_steps (1-based), classification}",
        read=read_prmbench,
        write=write_prmbench,
        read_options=("original",),
    )
)
