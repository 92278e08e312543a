"""``openai-chat``: agent trajectories as OpenAI chat messages with ``tool_calls``.

A row::

    {"id": "t-1",
     "messages": [{"role": "system", "content": "..."},                      (optional)
                  {"role": "user", "content": TASK},
                  {"role": "assistant", "content": THOUGHT or null,
                   "tool_calls": [{"id": "call_0", "type": "function",
                                   "function": {"name": "search", "arguments": "{\\"q\\": \\"mug\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_0", "content": OBSERVATION},
                  {"role": "assistant", "content": "The mug costs $4."}, ...],
     "tools": [{"type": "function", "function": {...}}],                     (optional)
     "labels": [1, 0, null]}                                                 (optional, one per turn)

Reading gives one :class:`~prmkit.records.Solution` with ``turns`` (:mod:`prmkit.trajectory`):

- the first ``user`` message is the ``problem``; a leading ``system`` message goes to
  ``meta["system"]``, ``tools`` to ``meta["tools"]``, any other top-level field to ``meta``;
- an assistant message with tool calls gives **one turn per call** (a PRM scores each call):
  the message ``content`` is the first call's thought, ``function.arguments`` (a JSON string, or
  an object) is parsed; the ``tool`` message whose ``tool_call_id`` names the call is the
  turn's observation. The turns of a message with several calls share
  ``meta["tool_call_group"]`` (the writer puts them back into one message); a call ``id`` other
  than the default ``call_<turn index>`` is kept in ``meta["tool_call_id"]``;
- an assistant message without tool calls is a free-text action (``content``; its thought, if
  any, in ``reasoning_content``, the field OpenAI-compatible reasoning servers use), answered by
  the next ``user`` message (its observation);
- labels: a top-level ``labels`` list (one value per turn: 0..1, true/false, or null), or a
  ``label`` on assistant messages (applies to each of its turns), not both; ``scores`` likewise.

Writing is the inverse (arguments as JSON strings, content ``null`` for a call without a
thought). Records without ``turns`` are read from their step texts
(:func:`prmkit.trajectory.turns_from_steps`). Empty thoughts (``""``) are read as none.

Example:
    >>> row = {"messages": [{"role": "user", "content": "Price of the mug?"},
    ...     {"role": "assistant", "content": "Look it up.", "tool_calls": [{"id": "call_0", "type": "function",
    ...      "function": {"name": "search", "arguments": "{\\"q\\": \\"mug\\"}"}}]},
    ...     {"role": "tool", "tool_call_id": "call_0", "content": "$4"},
    ...     {"role": "assistant", "content": "4"}], "labels": [1, 1]}
    >>> s = openai_to_solution(row, "f.jsonl", 1)
    >>> s.problem, s.steps
    ('Price of the mug?', ['Thought: Look it up.\\nAction: search({"q": "mug"})', 'Observation: $4\\nAction: 4'])
    >>> to_openai(s) == {"id": "f-1", **row}
    True
"""

from __future__ import annotations

import json
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    other_fields,
    record_error,
    register_format,
    require_obj,
    row_id,
    row_reader,
    row_writer,
)
from prmkit.records import Solution
from prmkit.trajectory import ToolCall, Turn, action_from_json, turns_from_steps

_KEYS = ("id", "messages", "tools", "labels", "scores")
#: turn meta keys this format owns
GROUP = "tool_call_group"
CALL_ID = "tool_call_id"


def _text(m: dict, key: str, file: str, line: int, where: str) -> str | None:
    v = m.get(key)
    if v is not None and not isinstance(v, str):
        raise PrmkitError(
            f"must be a string or null, got {type(v).__name__}", file=file, line=line, field=f"{where}.{key}"
        )
    return v or None


def _value(v: Any, file: str, line: int, field: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
        raise PrmkitError(
            f"must be a number in [0, 1], true/false or null, got {v!r}", file=file, line=line, field=field
        )
    return float(v)


def openai_to_solution(obj: Any, file: str, line: int) -> Solution:
    """One row of OpenAI chat messages as a canonical record (see the module docstring)."""
    d = require_obj(obj, file, line)
    msgs = d.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise PrmkitError("must be a non-empty list of messages", file=file, line=line, field="messages")
    meta: dict[str, Any] = other_fields(d, _KEYS)
    if d.get("tools") is not None:
        if not isinstance(d["tools"], list) or not all(isinstance(t, dict) for t in d["tools"]):
            raise PrmkitError("must be a list of tool schema objects", file=file, line=line, field="tools")
        meta["tools"] = d["tools"]
    problem: str | None = None
    turns: list[Turn] = []
    msg_labels: list[float | None] = []
    msg_scores: list[float | None] = []
    pending: dict[str, int] = {}  # call id -> turn index awaiting its tool message
    groups = 0
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise PrmkitError(f"must be an object, got {type(m).__name__}", file=file, line=line, field=where)
        role = m.get("role")
        if role == "system":
            if problem is not None or "system" in meta:
                raise PrmkitError(
                    "a system message is read only before the task", file=file, line=line, field=where
                )
            meta["system"] = _text(m, "content", file, line, where) or ""
            continue
        if role == "user" and problem is None:
            problem = _text(m, "content", file, line, where)
            if problem is None:
                raise PrmkitError(
                    "the task (first user message) is empty", file=file, line=line, field=f"{where}.content"
                )
            continue
        if problem is None:
            raise PrmkitError(
                f"a {role!r} message before the task (first user message)", file=file, line=line, field=where
            )
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if not isinstance(calls, list):
                raise PrmkitError("must be a list", file=file, line=line, field=f"{where}.tool_calls")
            content = _text(m, "content", file, line, where)
            new: list[Turn] = []
            if calls:
                group = groups if len(calls) > 1 else None
                groups += len(calls) > 1
                for j, c in enumerate(calls):
                    cw = f"{where}.tool_calls[{j}]"
                    if not isinstance(c, dict) or not isinstance(c.get("function"), dict):
                        raise PrmkitError(
                            "must be {id, type: 'function', function: {name, arguments}}",
                            file=file,
                            line=line,
                            field=cw,
                        )
                    action = action_from_json(c["function"], file=file, line=line, field=f"{cw}.function")
                    tmeta: dict[str, Any] = {}
                    cid = c.get("id")
                    if cid is not None and not isinstance(cid, str):
                        raise PrmkitError("must be a string", file=file, line=line, field=f"{cw}.id")
                    k = len(turns) + len(new)
                    if cid is not None and cid != f"call_{k}":
                        tmeta[CALL_ID] = cid
                    if group is not None:
                        tmeta[GROUP] = group
                    pending[cid if cid is not None else f"call_{k}"] = k
                    new.append(Turn(action=action, thought=content if j == 0 else None, meta=tmeta))
            else:
                if content is None:
                    raise PrmkitError(
                        "an assistant message needs tool_calls or content", file=file, line=line, field=where
                    )
                new.append(Turn(action=content, thought=_text(m, "reasoning_content", file, line, where)))
            lab = _value(m.get("label"), file, line, f"{where}.label")
            sc = _value(m.get("score"), file, line, f"{where}.score")
            msg_labels += [lab] * len(new)
            msg_scores += [sc] * len(new)
            turns += new
        elif role == "tool":
            cid = m.get("tool_call_id")
            if cid is None and len(pending) == 1:
                cid = next(iter(pending))
            if cid not in pending:
                raise PrmkitError(
                    f"tool_call_id {cid!r} answers no earlier unanswered tool call",
                    file=file,
                    line=line,
                    field=f"{where}.tool_call_id",
                )
            content = m.get("content")
            if not isinstance(content, str):
                raise PrmkitError("must be a string", file=file, line=line, field=f"{where}.content")
            turns[pending.pop(cid)].observation = content
        elif role == "user":
            if not turns or isinstance(turns[-1].action, ToolCall) or turns[-1].observation is not None:
                raise PrmkitError(
                    "a user message after the task is read only as the observation of a free-text action",
                    file=file,
                    line=line,
                    field=where,
                )
            content = m.get("content")
            if not isinstance(content, str):
                raise PrmkitError("must be a string", file=file, line=line, field=f"{where}.content")
            turns[-1].observation = content
        else:
            raise PrmkitError(f"unknown role {role!r}", file=file, line=line, field=f"{where}.role")
    if problem is None:
        raise PrmkitError("no user message (the task)", file=file, line=line, field="messages")
    if not turns:
        raise PrmkitError("no assistant message (no turn)", file=file, line=line, field="messages")
    values: dict[str, list[float | None] | None] = {}
    for key, per_msg in (("labels", msg_labels), ("scores", msg_scores)):
        top = d.get(key)
        has_msg = any(v is not None for v in per_msg)
        if top is not None and has_msg:
            raise PrmkitError(
                f"give {key} either top-level or per message, not both", file=file, line=line, field=key
            )
        if top is not None:
            if not isinstance(top, list) or len(top) != len(turns):
                raise PrmkitError(
                    f"must be a list of {len(turns)} values (one per turn; a message with several tool calls "
                    "has one turn per call)",
                    file=file,
                    line=line,
                    field=key,
                )
            values[key] = [_value(v, file, line, f"{key}[{t}]") for t, v in enumerate(top)]
        else:
            values[key] = per_msg if has_msg else None
    return make_solution(
        file,
        line,
        id=row_id(d, file, line),
        problem=problem,
        turns=[t.to_dict() for t in turns],
        labels=values["labels"],
        scores=values["scores"],
        meta=meta,
    )


def _parse(obj: Any, file: str, line: int) -> list[Solution]:
    return [openai_to_solution(obj, file, line)]


def record_turns(rec: Solution) -> list[Turn]:
    """A record's turns, or the turns its step texts stand for (an error names the record)."""
    if rec.turns is not None:
        return rec.turns
    try:
        return turns_from_steps(list(rec.steps))
    except PrmkitError as e:
        raise record_error(
            rec, f"has no turns and its steps are not trajectory steps: {e.message}", "turns"
        ) from None


def to_openai(rec: Solution) -> dict[str, Any]:
    """One record as a row of OpenAI chat messages (see the module docstring)."""
    turns = record_turns(rec)
    msgs: list[dict[str, Any]] = []
    if rec.meta.get("system") is not None:
        msgs.append({"role": "system", "content": rec.meta["system"]})
    msgs.append({"role": "user", "content": rec.problem})
    k = 0
    while k < len(turns):
        t = turns[k]
        if not isinstance(t.action, ToolCall):
            m: dict[str, Any] = {"role": "assistant", "content": t.action}
            if t.thought is not None:
                m["reasoning_content"] = t.thought
            msgs.append(m)
            if t.observation is not None:
                msgs.append({"role": "user", "content": t.observation})
            k += 1
            continue
        group = [k]
        g = t.meta.get(GROUP)
        while (
            g is not None
            and group[-1] + 1 < len(turns)
            and isinstance(turns[group[-1] + 1].action, ToolCall)
            and turns[group[-1] + 1].meta.get(GROUP) == g
        ):
            group.append(group[-1] + 1)
        calls, answers = [], []
        for j in group:
            tj = turns[j]
            if j != k and tj.thought is not None:
                raise record_error(
                    rec, f"turn {j} has a thought but shares an assistant message with turn {k}", "turns"
                )
            assert isinstance(tj.action, ToolCall)
            cid = tj.meta.get(CALL_ID) or f"call_{j}"
            args = json.dumps(tj.action.arguments, ensure_ascii=False)
            calls.append(
                {"id": cid, "type": "function", "function": {"name": tj.action.name, "arguments": args}}
            )
            if tj.observation is not None:
                answers.append({"role": "tool", "tool_call_id": cid, "content": tj.observation})
        msgs.append({"role": "assistant", "content": t.thought, "tool_calls": calls})
        msgs += answers
        k = group[-1] + 1
    out: dict[str, Any] = {"id": rec.id, "messages": msgs}
    if rec.meta.get("tools") is not None:
        out["tools"] = rec.meta["tools"]
    if rec.labels is not None:
        out["labels"] = list(rec.labels)
    if rec.scores is not None:
        out["scores"] = list(rec.scores)
    out.update(other_fields(rec.meta, (*_KEYS, "system")))
    return out


register_format(
    Format(
        name="openai-chat",
        description="OpenAI chat messages with tool_calls {messages, tools?, labels?} (one turn per tool call)",
        read=row_reader(_parse),
        write=row_writer(to_openai),
    )
)
