"""Aligning steps with tokens: where each step of a response ends, in characters and in tokens.

RL engines hand over token ids; PRMs score steps of text. :func:`step_token_ends` cuts the
decoded response into steps (a :mod:`prmkit.steps` preset) and returns the index of the token
on which each step ends, the position :func:`prmkit.rl.credit.steps_to_tokens` puts the step's
reward on. :func:`separator_step_ends` gives PURE's layout instead (each step ends on its
separator, the last one on the response's last token), the one
:func:`prmkit.rl.credit.pure_advantages` reproduces PURE with.

Example:
    >>> step_char_ends("1+1=2\\n\\nThe answer is 2.", ["1+1=2", "The answer is 2."])
    [5, 23]
    >>> char_to_token_ends([5, 23], [3, 5, 7, 23])
    [1, 3]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.steps import split_steps


def step_char_ends(text: str, steps: Sequence[str]) -> list[int]:
    """Character offset just past each step in ``text`` (steps searched left to right).

    A step the preset rewrote (so it is not a substring, e.g. gsm8k ``#### N``) ends where the
    next step starts, or at the end of the text for the last one: its reward is never dropped.
    """
    ends: list[int] = []
    cur = 0
    missing: list[int] = []
    for i, s in enumerate(steps):
        j = text.find(s, cur) if s else -1
        if j < 0:
            missing.append(i)
            ends.append(-1)
            continue
        ends.append(j + len(s))
        for k in missing:  # a rewritten step ends where this one starts
            ends[k] = j
        missing = []
        cur = j + len(s)
    for k in missing:
        ends[k] = len(text)
    return ends


def char_to_token_ends(char_ends: Sequence[int], token_char_ends: Sequence[int]) -> list[int]:
    """Index of the token covering the last character of each step.

    ``token_char_ends[i]`` is the character offset just past token ``i`` (non-decreasing).
    A step end past the last token maps to the last token.
    """
    if not token_char_ends:
        raise PrmkitError("empty response: no token to put a step reward on", field="responses")
    last = len(token_char_ends) - 1
    out = []
    for c in char_ends:
        i = bisect.bisect_left(token_char_ends, max(c, 1))
        out.append(min(i, last))
    return out


def token_char_ends(ids: Sequence[int], tokenizer: Any) -> tuple[str, list[int]]:
    """The decoded text of ``ids`` and the character offset just past each token.

    Decodes tokens one by one; when that does not reproduce the full decode (multi-byte
    characters split across byte-level tokens), falls back to decoding growing prefixes.
    """
    ids = [int(i) for i in ids]
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    pieces = [
        tokenizer.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False) for i in ids
    ]
    if "".join(pieces) == text:
        ends, acc = [], 0
        for p in pieces:
            acc += len(p)
            ends.append(acc)
        return text, ends
    ends = []
    for k in range(1, len(ids) + 1):
        pre = tokenizer.decode(ids[:k], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        ends.append(len(pre.rstrip("\ufffd")))
    ends = [min(e, len(text)) for e in ends]
    for k in range(1, len(ends)):  # keep non-decreasing
        ends[k] = max(ends[k], ends[k - 1])
    return text, ends


def step_token_ends(
    ids: Sequence[int], tokenizer: Any, steps_preset: str = "\n\n"
) -> tuple[list[str], list[int]]:
    """Split the response ``ids`` into steps and return ``(steps, index of each step's last token)``.

    An empty response gives one empty step ending on its last token (never silently dropped).
    """
    text, tok_ends = token_char_ends(ids, tokenizer)
    steps = split_steps(text, steps_preset) or [text]
    return steps, char_to_token_ends(step_char_ends(text, steps), tok_ends)


def separator_step_ends(
    ids: Sequence[int], tokenizer: Any, steps_preset: str = "\n\n"
) -> tuple[list[str], list[int]]:
    """Steps and their end tokens in PURE's layout: step ``t`` ends on the last token before step
    ``t+1`` starts (its separator), the last step on the last token of ``ids`` (EOS included).

    PURE (CJReinforce/PURE, ``experience_maker.py``) puts each step's reward on its separator
    token and the last step's on EOS, and counts a step's tokens without that end token. When the
    tokenizer merges a separator into the next step's first token, the step ends on its own last
    token (:func:`step_token_ends`).

    Example:
        >>> class Tok:  # one character per token
        ...     def decode(self, ids, **kw):
        ...         return "".join(chr(i) for i in ids)
        >>> separator_step_ends([ord(c) for c in "ab\\ncd\\n$"], Tok(), "\\n")
        (['ab', 'cd', '$'], [2, 5, 6])
        >>> step_token_ends([ord(c) for c in "ab\\ncd\\n$"], Tok(), "\\n")
        (['ab', 'cd', '$'], [1, 4, 6])
    """
    steps, ends = step_token_ends(ids, tokenizer, steps_preset)
    text, tok_ends = token_char_ends(ids, tokenizer)
    char_ends = step_char_ends(text, steps)
    out: list[int] = []
    for t in range(len(steps) - 1):
        nxt = text.find(steps[t + 1], char_ends[t]) if steps[t + 1] else -1
        start = nxt if nxt >= 0 else char_ends[t]
        first_of_next = bisect.bisect_right(tok_ends, start)  # the token holding character `start`
        out.append(min(max(ends[t], first_of_next - 1), len(tok_ends) - 1))
    out.append(len(tok_ends) - 1)
    return steps, out
