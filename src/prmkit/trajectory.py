"""Agent trajectories: a solution whose steps are turns (thought, action, observation).

A math solution is a list of step strings. An agent's trajectory is a list of :class:`Turn`:
an optional thought, an action (free text, or an OpenAI-style tool call ``{"name", "arguments"}``
with JSON arguments) and the observation the environment returned. The canonical record holds
the turns losslessly in ``Solution.turns``; its ``steps`` are the turns' text, derived by
:func:`steps_from_turns`, so every stage that reads steps (labelling, training, scoring, search,
evaluation) works on trajectories unchanged.

**Which text a step score sees.** A PRM scores an action before the environment answers it
(AgentPRM's ``Q(s_t, a_t)``). So step ``t`` is the thought and action of turn ``t``, preceded by
the observation of turn ``t - 1``; the score at the end of step ``t`` sees the whole history and
action ``t``, never ``t``'s own observation. The first observation (the task) is the problem
text; the last observation is kept in the turn, not in a step.

Example:
    >>> turns = [Turn(action=ToolCall("search", {"query": "red mug"}), observation="[1] red mug $4"),
    ...          Turn(action=ToolCall("answer", {"text": "4"}), thought="It costs $4.")]
    >>> steps_from_turns(turns)
    ['Action: search({"query": "red mug"})', 'Observation: [1] red mug $4\\nThought: It costs $4.\\nAction: answer({"text": "4"})']
    >>> turns_from_json([t.to_dict() for t in turns]) == turns
    True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError


@dataclass(frozen=True)
class ToolCall:
    """An OpenAI-style tool call: a tool name and JSON-serialisable arguments.

    Example:
        >>> ToolCall("lookup", {"item": "mug"}).text()
        'lookup({"item": "mug"})'
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """``name({json arguments})``: keys in the order given, so the text round-trips."""
        return f"{self.name}({json.dumps(self.arguments, ensure_ascii=False)})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}

    def __hash__(self) -> int:
        return hash(self.text())


#: an action: free text (TextWorld's ``open door``) or a tool call
Action = str | ToolCall


def action_text(action: Action) -> str:
    """The text of an action, as it appears in a step.

    Example:
        >>> action_text("go north"), action_text(ToolCall("answer", {"text": "7"}))
        ('go north', 'answer({"text": "7"})')
    """
    return action if isinstance(action, str) else action.text()


@dataclass
class Turn:
    """One agent turn: optional ``thought``, the ``action``, the ``observation`` it got back."""

    action: Action
    observation: str | None = None
    thought: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.action if isinstance(self.action, str) else self.action.to_dict()}
        if self.thought is not None:
            d["thought"] = self.thought
        if self.observation is not None:
            d["observation"] = self.observation
        if self.meta:
            d["meta"] = self.meta
        return d


def step_text(turn: Turn, previous_observation: str | None) -> str:
    """The step text of ``turn``: previous observation, thought, action (see the module doc).

    Example:
        >>> step_text(Turn("go north", thought="The door is north."), "You are in a hall.")
        'Observation: You are in a hall.\\nThought: The door is north.\\nAction: go north'
    """
    parts = []
    if previous_observation is not None:
        parts.append(f"Observation: {previous_observation}")
    if turn.thought is not None:
        parts.append(f"Thought: {turn.thought}")
    parts.append(f"Action: {action_text(turn.action)}")
    return "\n".join(parts)


def steps_from_turns(turns: list[Turn]) -> list[str]:
    """One step per turn (see :func:`step_text`)."""
    out = []
    prev: str | None = None
    for t in turns:
        out.append(step_text(t, prev))
        prev = t.observation
    return out


def action_from_json(
    v: Any, *, file: str | None = None, line: int | None = None, field: str = "action"
) -> Action:
    """Read an action: a string, or ``{"name": str, "arguments": object or JSON string}``.

    OpenAI messages carry ``arguments`` as a JSON string; it is parsed (an unparseable string is
    an error naming the field, never passed on as text).

    Example:
        >>> action_from_json({"name": "f", "arguments": '{"x": 1}'})
        ToolCall(name='f', arguments={'x': 1})
    """
    if isinstance(v, str):
        return v
    if not isinstance(v, dict):
        raise PrmkitError(
            f"must be a string or a tool call object, got {type(v).__name__}",
            file=file,
            line=line,
            field=field,
        )
    name = v.get("name")
    if not isinstance(name, str) or not name:
        raise PrmkitError("tool call needs a non-empty string 'name'", file=file, line=line, field=field)
    args = v.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            raise PrmkitError(
                f"tool call arguments are not valid JSON: {e}",
                file=file,
                line=line,
                field=f"{field}.arguments",
            ) from None
    if not isinstance(args, dict):
        raise PrmkitError(
            f"tool call arguments must be an object, got {type(args).__name__}",
            file=file,
            line=line,
            field=f"{field}.arguments",
        )
    return ToolCall(name, args)


def turns_from_json(v: Any, *, file: str | None = None, line: int | None = None) -> list[Turn]:
    """Validate and read a list of turn objects (``action`` required; ``thought``,
    ``observation`` strings or null; ``meta`` an object). Errors name the turn index."""
    if not isinstance(v, list) or not v:
        raise PrmkitError("must be a non-empty list of turns", file=file, line=line, field="turns")
    out = []
    for i, t in enumerate(v):
        where = f"turns[{i}]"
        if not isinstance(t, dict):
            raise PrmkitError(f"must be an object, got {type(t).__name__}", file=file, line=line, field=where)
        if "action" not in t:
            raise PrmkitError("missing", file=file, line=line, field=f"{where}.action")
        action = action_from_json(t["action"], file=file, line=line, field=f"{where}.action")
        texts: dict[str, str | None] = {}
        for key in ("thought", "observation"):
            val = t.get(key)
            if val is not None and not isinstance(val, str):
                raise PrmkitError(
                    f"must be a string, got {type(val).__name__}",
                    file=file,
                    line=line,
                    field=f"{where}.{key}",
                )
            texts[key] = val
        meta = t.get("meta") or {}
        if not isinstance(meta, dict):
            raise PrmkitError("must be an object", file=file, line=line, field=f"{where}.meta")
        out.append(Turn(action=action, observation=texts["observation"], thought=texts["thought"], meta=meta))
    return out


_TOOL_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)\((\{.*\})\)$", re.DOTALL)


def parse_action(text: str) -> Action:
    """The action an action text stands for: ``name({json})`` is a tool call, anything else text.

    Example:
        >>> parse_action('lookup({"item": "mug"})'), parse_action("open the door")
        (ToolCall(name='lookup', arguments={'item': 'mug'}), 'open the door')
    """
    m = _TOOL_CALL.match(text)
    if m:
        try:
            args = json.loads(m.group(2))
        except json.JSONDecodeError:
            return text
        if isinstance(args, dict):
            return ToolCall(m.group(1), args)
    return text


def turn_from_step(text: str) -> tuple[str | None, Turn]:
    """Invert :func:`step_text`: ``(previous observation, turn without its observation)``.

    Raises :class:`PrmkitError` when the text has no ``Action:`` line (it is not a trajectory step).

    Example:
        >>> obs, turn = turn_from_step("Observation: A hall.\\nThought: Go.\\nAction: go north")
        >>> obs, turn.thought, turn.action
        ('A hall.', 'Go.', 'go north')
    """
    head, sep, action = text.rpartition("Action: ")
    if not sep or (head and not head.endswith("\n")):
        raise PrmkitError(f"not a trajectory step (no 'Action:' line): {text[:80]!r}", field="steps")
    head = head[:-1] if head else ""
    obs: str | None = None
    thought: str | None = None
    if head.startswith("Observation: "):
        body = head[len("Observation: ") :]
        obs, sep2, rest = body.partition("\nThought: ")
        if sep2:
            thought = rest
        else:
            obs = body
    elif head.startswith("Thought: "):
        thought = head[len("Thought: ") :]
    elif head:
        raise PrmkitError(
            f"not a trajectory step (unexpected text before the action): {text[:80]!r}", field="steps"
        )
    return obs, Turn(action=parse_action(action), thought=thought)


def turns_from_steps(steps: list[str]) -> list[Turn]:
    """Rebuild turns (with observations) from step texts made by :func:`steps_from_turns`; the
    last turn's observation is unknown (``None``), as it is in no step.

    Example:
        >>> ts = [Turn("look", observation="A mug."), Turn("take mug", observation="Taken.")]
        >>> [(t.action, t.observation) for t in turns_from_steps(steps_from_turns(ts))]
        [('look', 'A mug.'), ('take mug', None)]
    """
    turns: list[Turn] = []
    for i, s in enumerate(steps):
        obs, turn = turn_from_step(s)
        if i > 0:
            turns[-1].observation = obs
        elif obs is not None:
            raise PrmkitError("the first step of a trajectory has no previous observation", field="steps")
        turns.append(turn)
    return turns


def chat_messages(problem: str, turns: list[Turn], *, system: str | None = None) -> list[dict[str, Any]]:
    """A trajectory as chat messages for a chat template (``apply_chat_template(messages, tools=...)``).

    ``system`` (if given), the ``problem`` as the user message, then per turn one assistant
    message and the turn's observation: a tool call is ``{"role": "assistant", "content":
    thought or "", "tool_calls": [{"id": "call_<k>", "type": "function", "function": {"name",
    "arguments": {...}}}]}`` (arguments as an object, as Hugging Face chat templates expect)
    answered by ``{"role": "tool", "tool_call_id": "call_<k>", "content": observation}``; a
    free-text action is ``{"role": "assistant", "content": thought + "\\n" + action}`` answered by
    a ``user`` message. A turn without an observation gets no answer message.

    Example:
        >>> [m["role"] for m in chat_messages("Find the mug.", [Turn(ToolCall("look"), observation="A mug.")])]
        ['user', 'assistant', 'tool']
    """
    msgs: list[dict[str, Any]] = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": problem})
    for k, t in enumerate(turns):
        if isinstance(t.action, ToolCall):
            cid = f"call_{k}"
            call = {"name": t.action.name, "arguments": dict(t.action.arguments)}
            msgs.append(
                {
                    "role": "assistant",
                    "content": t.thought or "",
                    "tool_calls": [{"id": cid, "type": "function", "function": call}],
                }
            )
            if t.observation is not None:
                msgs.append({"role": "tool", "tool_call_id": cid, "content": t.observation})
        else:
            content = t.action if t.thought is None else f"{t.thought}\n{t.action}"
            msgs.append({"role": "assistant", "content": content})
            if t.observation is not None:
                msgs.append({"role": "user", "content": t.observation})
    return msgs
