"""Cutting solution text into steps and joining steps back into text.

A *preset* is a named pair of functions (split, join) kept in :data:`STEP_PRESETS`:

- ``"\\n\\n"`` (alias ``paragraphs``): steps are blank-line separated paragraphs.
- ``"\\n"`` (alias ``lines``): one step per non-empty line.
- ``"step-headers"``: steps start with ``Step k:`` headers (the headers are removed; ``join``
  puts them back). Text before the first header becomes a step of its own.
- ``"gsm8k"``: one step per line; calculator tags ``<<48/2=24>>`` are kept (or stripped with
  ``strip_calculator=True``); the final ``#### N`` line becomes the step ``The answer is N.``
  (and ``join`` turns it back into ``#### N``).

``join_steps(split_steps(t, p), p)`` gives back ``t`` up to whitespace normalisation.

Example:
    >>> split_steps("a\\n\\nb\\n\\n\\nc")
    ['a', 'b', 'c']
    >>> split_steps("Step 1: x=2\\nStep 2: y=3", "step-headers")
    ['x=2', 'y=3']
    >>> split_steps("He has 48/2 = <<48/2=24>>24.\\n#### 24", "gsm8k", strip_calculator=True)
    ['He has 48/2 = 24.', 'The answer is 24.']
    >>> join_steps(['He has 24.', 'The answer is 24.'], "gsm8k")
    'He has 24.\\n#### 24'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prmkit.errors import PrmkitError
from prmkit.registry import Registry

_CALC_TAG = re.compile(r"<<[^<>]*>>")
_STEP_HEADER = re.compile(r"(?im)^[ \t]*(?:#+[ \t]*)?\**Step[ \t]+\d+[ \t]*\**[ \t]*[:.]\**[ \t]*")
_GSM8K_FINAL = re.compile(r"^\s*####\s*(.*?)\s*$")
_ANSWER_STEP = re.compile(r"^The answer is (.*?)\.?$")


@dataclass(frozen=True)
class StepPreset:
    """A named way to cut text into steps (``split``) and glue steps back (``join``)."""

    name: str
    split: Callable[[str], list[str]]
    join: Callable[[list[str]], str]


STEP_PRESETS: Registry[StepPreset] = Registry("step preset")

_ALIASES = {"paragraphs": "\n\n", "lines": "\n", "\\n\\n": "\n\n", "\\n": "\n"}


def strip_calculator_tags(text: str) -> str:
    """Remove GSM8K calculator annotations.

    Example:
        >>> strip_calculator_tags("48/2 = <<48/2=24>>24")
        '48/2 = 24'
    """
    return _CALC_TAG.sub("", text)


def _nonempty(parts: list[str]) -> list[str]:
    return [p.strip() for p in parts if p.strip()]


def _split_paragraphs(text: str) -> list[str]:
    return _nonempty(re.split(r"\n[ \t]*\n", text))


def _split_lines(text: str) -> list[str]:
    return _nonempty(text.splitlines())


def _split_headers(text: str) -> list[str]:
    matches = list(_STEP_HEADER.finditer(text))
    if not matches:
        return _nonempty([text])
    out = _nonempty([text[: matches[0].start()]])
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append(text[m.end() : end].strip())
    return out


def _join_headers(steps: list[str]) -> str:
    return "\n".join(f"Step {k}: {s}" for k, s in enumerate(steps, start=1))


def _split_gsm8k(text: str) -> list[str]:
    out = []
    for line in _split_lines(text):
        m = _GSM8K_FINAL.match(line)
        out.append(f"The answer is {m.group(1)}." if m else line)
    return out


def _join_gsm8k(steps: list[str]) -> str:
    steps = list(steps)
    if steps:
        m = _ANSWER_STEP.match(steps[-1].strip())
        if m:
            steps[-1] = f"#### {m.group(1)}"
    return "\n".join(steps)


STEP_PRESETS.register("\n\n")(StepPreset("\n\n", _split_paragraphs, "\n\n".join))
STEP_PRESETS.register("\n")(StepPreset("\n", _split_lines, "\n".join))
STEP_PRESETS.register("step-headers")(StepPreset("step-headers", _split_headers, _join_headers))
STEP_PRESETS.register("gsm8k")(StepPreset("gsm8k", _split_gsm8k, _join_gsm8k))


def get_preset(name: str) -> StepPreset:
    """Look a preset up by name (aliases: ``paragraphs``, ``lines``, ``\\\\n\\\\n``, ``\\\\n``)."""
    return STEP_PRESETS.get(_ALIASES.get(name, name))


def split_steps(text: str, preset: str = "\n\n", *, strip_calculator: bool = False) -> list[str]:
    """Cut ``text`` into non-empty, stripped steps with the named preset.

    Example:
        >>> split_steps("x\\n y \\n\\n", "\\n")
        ['x', 'y']
    """
    if not isinstance(text, str):
        raise PrmkitError(f"steps text must be a string, got {type(text).__name__}")
    if strip_calculator:
        text = strip_calculator_tags(text)
    return get_preset(preset).split(text)


def join_steps(steps: list[str], preset: str = "\n\n") -> str:
    """Glue steps back into text: the inverse of :func:`split_steps`.

    Example:
        >>> join_steps(["x=2", "y=3"], "step-headers")
        'Step 1: x=2\\nStep 2: y=3'
    """
    return get_preset(preset).join(list(steps))
