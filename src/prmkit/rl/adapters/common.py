"""Shared pieces of the RL adapters: resolving a scorer, scoring texts, outcome checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prmkit.aggregate import aggregate_steps
from prmkit.errors import PrmkitError
from prmkit.grading import extract_answer, is_equivalent
from prmkit.steps import split_steps

StepScoreFn = Callable[[Sequence[str], Sequence[list[str]]], list[list[float | None]]]


def as_step_score_fn(scorer: Any) -> StepScoreFn:
    """A ``(problems, steps) -> step scores`` callable from a Scorer, Client, URL or callable.

    Example:
        >>> fn = as_step_score_fn(lambda ps, ss: [[1.0] * len(s) for s in ss])
        >>> fn(["q"], [["a", "b"]])
        [[1.0, 1.0]]
    """
    if isinstance(scorer, str):
        if not scorer.startswith(("http://", "https://")):
            raise PrmkitError(
                f"a reward server URL must start with http:// or https://, got {scorer!r}", field="scorer"
            )
        from prmkit.serve import Client  # the serving package (its server side) is imported on use only

        return Client(scorer).step_scores
    if hasattr(scorer, "score_batch"):
        return scorer.score_batch
    if hasattr(scorer, "step_scores"):
        return scorer.step_scores
    if callable(scorer):
        return scorer
    raise PrmkitError(
        f"not a scorer: {type(scorer).__name__} (need a Scorer, Client, URL or callable)", field="scorer"
    )


def message_text(x: Any, role: str | None = None) -> str:
    """Text of a plain string, a chat message ``{"role", "content"}`` or a list of messages.

    With a list, the last message of ``role`` (any role when ``None``) is used.

    Example:
        >>> message_text([{"role": "user", "content": "1+1?"}], role="user")
        '1+1?'
        >>> message_text([{"role": "assistant", "content": "2"}])
        '2'
    """
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        c = x.get("content", "")
        if isinstance(c, list):  # multimodal content parts
            return "".join(p.get("text", "") for p in c if isinstance(p, dict))
        return str(c)
    if isinstance(x, (list, tuple)):
        msgs = [m for m in x if isinstance(m, dict) and (role is None or m.get("role") == role)]
        if not msgs:
            raise PrmkitError(f"no {role or 'chat'} message in {x!r:.120}", field="prompts")
        return message_text(msgs[-1])
    raise PrmkitError(f"cannot read text from {type(x).__name__}", field="completions")


def split_response(text: str, steps_preset: str) -> list[str]:
    """Steps of a response; an empty response is one empty step (scored, never dropped)."""
    return split_steps(text, steps_preset) or [text]


def aggregate(step_scores: Sequence[float | None], rule: str, missing: float) -> float:
    """Aggregate step scores (``None`` -> ``missing`` when nothing could be scored)."""
    if not step_scores or all(s is None for s in step_scores):
        return float(missing)
    return float(aggregate_steps(list(step_scores), rule))


def outcome_reward(response: str, ground_truth: Any) -> float:
    """1.0 when the response's final answer equals ``ground_truth`` (prmkit.grading), else 0.0.

    Example:
        >>> outcome_reward("3 x 5 = 15\\nThe answer is 15.", "15"), outcome_reward("The answer is 4.", 5)
        (1.0, 0.0)
    """
    if ground_truth is None:
        return 0.0
    return 1.0 if is_equivalent(extract_answer(response), str(ground_truth)) else 0.0
