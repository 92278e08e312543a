"""Text helpers shared by the real-model policy backends (transformers, OpenAI-compatible, vLLM).

One place decides how a (problem, step prefix) pair becomes a prompt and how generated text
becomes steps, so every backend continues prefixes the same way:

- the user turn asks to solve the problem step by step, steps separated by a blank line;
- a prefix is rendered as the *start of the assistant message*: the prefix steps joined by the
  separator, followed by one separator (the model continues with the next step);
- generated text is split on the separator; empty pieces are dropped; ``max_steps`` keeps the
  first steps only.

Example:
    >>> split_steps("Step A.\\n\\nStep B.\\n\\n", "\\n\\n")
    ['Step A.', 'Step B.']
    >>> assistant_prefix(["2*3=6", "6+1=7"], "\\n\\n")
    '2*3=6\\n\\n6+1=7\\n\\n'
    >>> render_plain("What is 1+1?", ["1+1=2"]).endswith("Answer:\\n1+1=2\\n\\n")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from prmkit.policies.base import Generation
from prmkit.records import Problem
from prmkit.runs import derive_seed  # noqa: F401 - re-exported: the policies and judges seed from here

#: default instruction placed in the user turn before the question
DEFAULT_INSTRUCTION = (
    "Solve the following math problem step by step. Separate the steps with a blank line. "
    "End with a final line of the form 'The answer is: X'."
)

#: a step that states a final answer ends the solution (even when the model would go on)
FINAL_ANSWER_RE = re.compile(r"(\\boxed\{|the (final )?answer is)", re.IGNORECASE)

CHATML_TEMPLATE = "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def question_of(problem: Problem | str) -> str:
    """The question text of a :class:`Problem` (or a bare string)."""
    return problem if isinstance(problem, str) else problem.question


def user_message(problem: Problem | str, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """The user turn: instruction, blank line, question.

    Example:
        >>> user_message("What is 2+2?", "Solve it.")
        'Solve it.\\n\\nWhat is 2+2?'
    """
    q = question_of(problem)
    return f"{instruction}\n\n{q}" if instruction else q


def assistant_prefix(prefix: Sequence[str], separator: str = "\n\n") -> str:
    """Prefix steps as the start of the assistant message (joined, plus a trailing separator)."""
    if not prefix:
        return ""
    return separator.join(s.strip() for s in prefix) + separator


def chat_messages(
    problem: Problem | str,
    prefix: Sequence[str] = (),
    separator: str = "\n\n",
    instruction: str = DEFAULT_INSTRUCTION,
    system: str | None = None,
) -> list[dict[str, str]]:
    """OpenAI-style messages; a non-empty prefix becomes a trailing (partial) assistant message.

    Example:
        >>> [m["role"] for m in chat_messages("1+1?", ["1+1=2"])]
        ['user', 'assistant']
    """
    msgs: list[dict[str, str]] = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": user_message(problem, instruction)})
    if prefix:
        msgs.append({"role": "assistant", "content": assistant_prefix(prefix, separator)})
    return msgs


def render_plain(
    problem: Problem | str,
    prefix: Sequence[str] = (),
    separator: str = "\n\n",
    instruction: str = DEFAULT_INSTRUCTION,
) -> str:
    """A template-free prompt for base models: ``instruction, question, 'Answer:'`` then the prefix."""
    return f"{user_message(problem, instruction)}\n\nAnswer:\n" + assistant_prefix(prefix, separator)


def render_chatml(
    problem: Problem | str,
    prefix: Sequence[str] = (),
    separator: str = "\n\n",
    instruction: str = DEFAULT_INSTRUCTION,
) -> str:
    """A ChatML prompt (Qwen, SmolLM2, ...) for completion APIs, continuing the assistant turn.

    Example:
        >>> render_chatml("1+1?", ["1+1=2"], instruction="Solve.")
        '<|im_start|>user\\nSolve.\\n\\n1+1?<|im_end|>\\n<|im_start|>assistant\\n1+1=2\\n\\n'
    """
    return CHATML_TEMPLATE.format(user=user_message(problem, instruction)) + assistant_prefix(
        prefix, separator
    )


def render_with_tokenizer(
    tokenizer: Any,
    problem: Problem | str,
    prefix: Sequence[str] = (),
    separator: str = "\n\n",
    instruction: str = DEFAULT_INSTRUCTION,
    system: str | None = None,
) -> str:
    """Prompt text from a Hugging Face tokenizer: its chat template when it has one, else plain.

    The generation prompt (assistant header) is added, then the prefix is appended as the start
    of the assistant message, so the model continues the same turn.
    """
    if getattr(tokenizer, "chat_template", None):
        msgs = chat_messages(problem, (), separator, instruction, system)
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return text + assistant_prefix(prefix, separator)
    return render_plain(problem, prefix, separator, instruction)


def split_steps(text: str, separator: str = "\n\n") -> list[str]:
    """Split generated text into stripped, non-empty steps."""
    return [s.strip() for s in text.split(separator) if s.strip()]


def cut_steps(text: str, separator: str, max_steps: int | None) -> tuple[list[str], bool]:
    """Steps of ``text``, keeping at most ``max_steps``; also whether text was cut off.

    Example:
        >>> cut_steps("a\\n\\nb\\n\\nc", "\\n\\n", 2)
        (['a', 'b'], True)
        >>> cut_steps("a\\n\\nb", "\\n\\n", None)
        (['a', 'b'], False)
    """
    steps = split_steps(text, separator)
    if max_steps is not None and len(steps) > max_steps:
        return steps[:max_steps], True
    return steps, False


def count_separators(text: str, separator: str) -> int:
    """Number of step boundaries in ``text`` after its first non-blank character.

    A separator right at the start (the model opening with a blank line) closes no step.

    Example:
        >>> count_separators("\\n\\nx = 1\\n\\ny", "\\n\\n")
        1
    """
    body = text.lstrip()
    if not body:
        return 0
    return body.count(separator)


def is_final(step: str) -> bool:
    """Whether a step states a final answer (``\\boxed{`` or "the answer is").

    Example:
        >>> is_final("So the answer is: 7"), is_final("x = 3")
        (True, False)
    """
    return bool(FINAL_ANSWER_RE.search(step))


def request_key(problem: Problem | str, prefix: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The identity of a (problem, prefix) pair for seeding."""
    return question_of(problem), tuple(prefix)


def to_generation(
    text: str,
    *,
    separator: str,
    max_steps: int | None,
    stop_reason: str,
    num_tokens: int,
    final_answer_ends: bool = True,
    meta: dict[str, Any] | None = None,
) -> Generation:
    """Turn raw generated text into a :class:`Generation`.

    ``stop_reason`` is ``"eos"`` (the model ended the solution), ``"stop"`` (a step separator
    stopped it) or ``"length"`` (token budget). ``finished`` is True when the model ended the
    solution and no steps were cut off, or (with ``final_answer_ends``) when the last kept step
    states a final answer.

    Example:
        >>> g = to_generation("x = 2\\n\\nThe answer is 2", separator="\\n\\n", max_steps=1,
        ...                   stop_reason="eos", num_tokens=9)
        >>> g.steps, g.finished, g.meta["stop_reason"]
        (['x = 2'], False, 'eos')
    """
    steps, cut = cut_steps(text, separator, max_steps)
    finished = (stop_reason == "eos" and not cut) or bool(final_answer_ends and steps and is_final(steps[-1]))
    m = {"stop_reason": stop_reason}
    if meta:
        m.update(meta)
    return Generation(steps=steps, finished=finished, num_tokens=num_tokens, meta=m)
