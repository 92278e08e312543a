"""``prm800k``: PRM800K raw labelling records (one labelling session per line).

Each ``label.steps[i]`` offers ``completions`` rated -1 (wrong), 0 (neutral) or 1 (correct)
and a ``chosen_completion``. The labelled trajectory is read as:

- the chosen completion when ``chosen_completion`` is set;
- else the ``human_completion`` (written by the labeller; counted correct: label 1);
- else the session ended on this step: the first completion rated -1 (or the first one) is
  taken as the last step (an empty placeholder step after it, as in ``give_up`` sessions, is
  ignored).

Ratings map to labels 1 -> 1.0, -1 -> 0.0, and 0 by the ``neutral`` policy: ``"positive"``
(default, 1.0), ``"negative"`` (0.0) or ``"unknown"`` (``None``). The raw ratings and session
fields are kept in ``meta["prm800k"]`` so writing gives them back.

Example:
    >>> d = {"question": {"problem": "1+1?", "ground_truth_answer": "2"}, "label": {"steps": [
    ...     {"completions": [{"text": "1+1=2", "rating": 0}], "chosen_completion": 0},
    ...     {"completions": [{"text": "So 3", "rating": -1}], "chosen_completion": None}]}}
    >>> [s.labels for s in _parse(d, "x.jsonl", 1, neutral="unknown")]
    [[None, 0.0]]
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
    read_objects,
    record_error,
    register_format,
    req_str,
    require_obj,
    row_id,
    write_rows,
)
from prmkit.records import Rejects, Solution

NEUTRAL_POLICIES = {"positive": 1.0, "negative": 0.0, "unknown": None}
_SESSION_KEYS = (
    "labeler",
    "timestamp",
    "generation",
    "is_quality_control_question",
    "is_initial_screening_question",
)


def _neutral_value(neutral: str) -> float | None:
    if neutral not in NEUTRAL_POLICIES:
        raise PrmkitError(
            f"neutral must be one of {', '.join(NEUTRAL_POLICIES)}; got {neutral!r}", field="neutral"
        )
    return NEUTRAL_POLICIES[neutral]


def _rating(v: Any, file: str, line: int, field: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v not in (-1, 0, 1):
        raise PrmkitError(f"must be -1, 0, 1 or null, got {v!r}", file=file, line=line, field=field)
    return v


def _completion(c: Any, file: str, line: int, field: str) -> tuple[str, int | None]:
    c = require_obj(c, file, line, field)
    return req_str(c, "text", file, line, field=f"{field}.text"), _rating(
        c.get("rating"), file, line, f"{field}.rating"
    )


def _parse(obj: Any, file: str, line: int, neutral: str = "positive") -> list[Solution]:
    neutral_value = _neutral_value(neutral)
    d = require_obj(obj, file, line)
    q = require_obj(d.get("question"), file, line, "question")
    problem = req_str(q, "problem", file, line, field="question.problem")
    ref = opt_str(q, "ground_truth_answer", file, line, field="question.ground_truth_answer")
    label = require_obj(d.get("label"), file, line, "label")
    raw_steps = label.get("steps")
    if not isinstance(raw_steps, list):
        raise PrmkitError("must be a list of steps", file=file, line=line, field="label.steps")
    steps: list[str] = []
    ratings: list[int | None] = []
    human: list[int] = []
    for i, st in enumerate(raw_steps):
        f = f"label.steps[{i}]"
        st = require_obj(st, file, line, f)
        comps = st.get("completions")
        if comps is None:
            comps = []
        if not isinstance(comps, list):
            raise PrmkitError("must be a list", file=file, line=line, field=f"{f}.completions")
        chosen = st.get("chosen_completion")
        if chosen is not None:
            if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(comps):
                raise PrmkitError(
                    f"{chosen!r} is not an index into {len(comps)} completions",
                    file=file,
                    line=line,
                    field=f"{f}.chosen_completion",
                )
            text, rating = _completion(comps[chosen], file, line, f"{f}.completions[{chosen}]")
        elif st.get("human_completion") is not None:
            text, rating = _completion(st["human_completion"], file, line, f"{f}.human_completion")
            rating = 1 if rating is None else rating
            human.append(i)
        else:
            rest_empty = all(
                isinstance(x, dict) and not x.get("completions") and x.get("human_completion") is None
                for x in raw_steps[i + 1 :]
            )
            if not comps:
                if rest_empty:  # a "give_up" session ends with an empty placeholder step
                    break
                raise PrmkitError("no completion chosen and none offered", file=file, line=line, field=f)
            parsed = [_completion(c, file, line, f"{f}.completions[{j}]") for j, c in enumerate(comps)]
            text, rating = next((c for c in parsed if c[1] == -1), parsed[0])
            steps.append(text)
            ratings.append(rating)
            if not rest_empty:
                raise PrmkitError(
                    "no completion chosen, but the session goes on",
                    file=file,
                    line=line,
                    field=f"{f}.chosen_completion",
                )
            break
        steps.append(text)
        ratings.append(rating)
    if not steps:
        raise PrmkitError("must not be empty", file=file, line=line, field="label.steps")
    labels = [None if r is None else (1.0 if r == 1 else 0.0 if r == -1 else neutral_value) for r in ratings]
    info: dict[str, Any] = {k: d[k] for k in _SESSION_KEYS if k in d}
    info["ratings"] = ratings
    if human:
        info["human_steps"] = human
    for k in ("finish_reason", "total_time"):
        if k in label:
            info[k] = label[k]
    extra_q = {k: v for k, v in q.items() if k not in ("problem", "ground_truth_answer")}
    if extra_q:
        info["question"] = extra_q
    sid = row_id(d, file, line)
    return [
        make_solution(
            file,
            line,
            id=sid,
            problem=problem,
            steps=steps,
            reference_answer=ref,
            labels=labels,
            meta={"prm800k": info},
        )
    ]


def read_prm800k(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
    neutral: str = "positive",
) -> Iterator[Solution]:
    """Stream PRM800K labelling sessions as canonical solutions (see the module doc)."""
    _neutral_value(neutral)

    def parse(obj: Any, file: str, line: int) -> list[Solution]:
        return _parse(obj, file, line, neutral)

    return read_objects(path, parse, skip_invalid=skip_invalid, rejects=rejects)


def _rating_of(rec: Solution, v: float | None) -> int:
    if v is None:
        return 0
    if v in (0.0, 1.0):
        return 1 if v == 1.0 else -1
    raise record_error(rec, f"soft label {v} has no PRM800K rating (-1/0/1)", "labels")


def to_prm800k(rec: Solution) -> dict[str, Any]:
    """One record as a PRM800K session: one completion per step, the raw ratings when known."""
    info = rec.meta.get("prm800k") if isinstance(rec.meta.get("prm800k"), dict) else {}
    ratings = info.get("ratings")
    if not (isinstance(ratings, list) and len(ratings) == len(rec.steps)):
        if rec.labels is None:
            raise record_error(rec, "has no labels; PRM800K needs a rating per step", "labels")
        ratings = [_rating_of(rec, v) for v in rec.labels]
    out: dict[str, Any] = {"id": rec.id}
    out.update({k: info[k] for k in _SESSION_KEYS if k in info})
    q: dict[str, Any] = {"problem": rec.problem, "ground_truth_answer": rec.reference_answer}
    if isinstance(info.get("question"), dict):
        q.update(info["question"])
    out["question"] = q
    human = set(info.get("human_steps") or [])
    steps = []
    for i, (text, r) in enumerate(zip(rec.steps, ratings, strict=True)):
        last_wrong = i == len(rec.steps) - 1 and r == -1
        if i in human:
            steps.append(
                {
                    "completions": [],
                    "human_completion": {"text": text, "rating": None if r == 1 else r},
                    "chosen_completion": None,
                }
            )
        else:
            steps.append(
                {
                    "completions": [{"text": text, "rating": r}],
                    "human_completion": None,
                    "chosen_completion": None if last_wrong else 0,
                }
            )
    finish = info.get("finish_reason") or ("found_error" if -1 in ratings else "solution")
    lab: dict[str, Any] = {"steps": steps}
    if "total_time" in info:
        lab["total_time"] = info["total_time"]
    lab["finish_reason"] = finish
    out["label"] = lab
    return out


def write_prm800k(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write PRM800K-style sessions as JSONL."""
    return write_rows(path, (to_prm800k(r) for r in records))


register_format(
    Format(
        name="prm800k",
        description="PRM800K raw labelling sessions (ratings -1/0/1 per step completion)",
        read=read_prm800k,
        write=write_prm800k,
        read_options=("neutral",),
    )
)
