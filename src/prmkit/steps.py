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
from collections.abc import Callable, Iterable, Sequence
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


# --- splitting a solution text at chosen character offsets (split methods) -----------------------


@dataclass(frozen=True)
class SplitLayout:
    """What :func:`cut_text` removed around the steps, so that :func:`join_layout` gives the text back.

    ``lead`` and ``trail`` are the whitespace before the first and after the last step; ``seps[i]``
    is the whitespace (possibly ``""``) between step ``i`` and step ``i + 1``.
    """

    lead: str
    seps: tuple[str, ...]
    trail: str

    def to_dict(self) -> dict[str, object]:
        return {"lead": self.lead, "seps": list(self.seps), "trail": self.trail}

    @classmethod
    def from_dict(cls, d: dict) -> SplitLayout:
        seps = d.get("seps")
        if not isinstance(seps, list) or not all(isinstance(s, str) for s in seps):
            raise PrmkitError("must be a list of strings", field="meta.split.seps")
        lead, trail = d.get("lead", ""), d.get("trail", "")
        if not isinstance(lead, str) or not isinstance(trail, str):
            raise PrmkitError("lead and trail must be strings", field="meta.split")
        return cls(lead, tuple(seps), trail)


def cut_text(text: str, cuts: Sequence[int]) -> tuple[list[str], SplitLayout]:
    """Cut ``text`` at the character offsets ``cuts``; steps never start or end with whitespace.

    The whitespace run around a cut goes to the layout (a cut inside a word leaves ``""``), cuts
    in the leading or trailing whitespace are ignored, and two cuts in one whitespace run are one.
    Lossless: ``join_layout(steps, layout) == text`` for every text with a non-space character.

    Example:
        >>> steps, lay = cut_text("a = 4\\n5 b", [5, 7])
        >>> steps, lay.seps
        (['a = 4', '5', 'b'], ('\\n', ' '))
        >>> join_layout(steps, lay)
        'a = 4\\n5 b'
        >>> cut_text("x = 45", [5])[0]
        ['x = 4', '5']
    """
    if not isinstance(text, str) or not text.strip():
        raise PrmkitError("cannot split an empty or whitespace-only text into steps", field="steps")
    a = len(text) - len(text.lstrip())
    b = len(text.rstrip())
    runs: list[tuple[int, int]] = []
    for c in sorted(set(int(c) for c in cuts)):
        if not a < c < b:
            continue
        lo, hi = c, c
        while text[lo - 1].isspace():
            lo -= 1
        while text[hi].isspace():
            hi += 1
        if runs and lo <= runs[-1][1]:  # the same whitespace run as the previous cut
            continue
        runs.append((lo, hi))
    steps, seps, start = [], [], a
    for lo, hi in runs:
        steps.append(text[start:lo])
        seps.append(text[lo:hi])
        start = hi
    steps.append(text[start:b])
    return steps, SplitLayout(text[:a], tuple(seps), text[b:])


def join_layout(steps: Sequence[str], layout: SplitLayout) -> str:
    """The text :func:`cut_text` was given: ``lead + s_1 + seps[0] + s_2 + ... + s_n + trail``.

    Example:
        >>> join_layout(["x = 4", "5"], SplitLayout("", ("",), "\\n"))
        'x = 45\\n'
    """
    if len(layout.seps) != len(steps) - 1:
        raise PrmkitError(
            f"layout has {len(layout.seps)} separators for {len(steps)} steps (needs steps - 1)",
            field="meta.split.seps",
        )
    parts = [layout.lead]
    for i, s in enumerate(steps):
        parts.append(s)
        if i < len(layout.seps):
            parts.append(layout.seps[i])
    parts.append(layout.trail)
    return "".join(parts)


def newline_cuts(text: str) -> list[int]:
    """Offsets just after every ``\\n``: with :func:`cut_text`, one step per non-empty line.

    Example:
        >>> cut_text("a\\n\\n b\\nc", newline_cuts("a\\n\\n b\\nc"))[0]
        ['a', 'b', 'c']
    """
    return [i + 1 for i, ch in enumerate(text) if ch == "\n"]


def confidence_cuts(spans: Sequence[tuple[int, int]], probs: Sequence[float], threshold: float) -> list[int]:
    """AdaptiveStep cut points: the end of every token whose probability is below ``threshold``.

    ``spans[i]`` is the ``[start, end)`` character range of token ``i`` of the solution text and
    ``probs[i]`` the policy's teacher-forced probability of that token given everything before
    it. A step ends *after* its low-confidence token, so the step holds the decision the PRM
    judges (strictly below: a token at exactly ``threshold`` does not cut).

    Example:
        >>> confidence_cuts([(0, 1), (1, 3), (3, 5), (5, 6)], [0.9, 0.2, 0.5, 0.01], 0.5)
        [3, 6]
    """
    if len(spans) != len(probs):
        raise PrmkitError(f"{len(spans)} token spans but {len(probs)} probabilities")
    return [end for (_, end), p in zip(spans, probs, strict=True) if p < threshold]


def confidence_quantile(probs: Iterable[Sequence[float]], q: float) -> float:
    """The ``q``-quantile of all token probabilities, pooled: ``sorted(p)[floor(q * n)]``.

    With it as the threshold (cut where ``p < threshold``) a fraction ``q`` of the tokens end a
    step (fewer when probabilities tie at the threshold).

    Example:
        >>> confidence_quantile([[0.9, 0.1], [0.5, 0.7, 0.3]], 0.4)   # 0.1 and 0.3 fall below it
        0.5
    """
    pooled = sorted(p for ps in probs for p in ps)
    if not pooled:
        raise PrmkitError("no token probabilities to take a quantile of")
    if not 0.0 <= q <= 1.0:
        raise PrmkitError(f"quantile must be in [0, 1], got {q}", field="quantile")
    return pooled[min(len(pooled) - 1, int(q * len(pooled)))]


@dataclass(frozen=True)
class SplitMethod:
    """A way to choose cut offsets in a solution text (registry :data:`SPLIT_METHODS`).

    ``cuts(text, spans, probs, threshold)``; ``needs_confidence`` methods get the token spans and
    probabilities of a causal LM (:mod:`prmkit.policies.split`), the others get ``None``.
    """

    name: str
    needs_confidence: bool
    cuts: Callable[[str, Sequence[tuple[int, int]] | None, Sequence[float] | None, float | None], list[int]]


SPLIT_METHODS: Registry[SplitMethod] = Registry("split method")


def _conf_cuts(text: str, spans, probs, threshold) -> list[int]:  # noqa: ANN001
    if spans is None or probs is None or threshold is None:
        raise PrmkitError("method 'confidence' needs token spans, probabilities and a threshold")
    return confidence_cuts(spans, probs, threshold)


SPLIT_METHODS.register("newline")(SplitMethod("newline", False, lambda text, *_: newline_cuts(text)))
SPLIT_METHODS.register("confidence")(SplitMethod("confidence", True, _conf_cuts))


def split_text(
    text: str,
    method: str = "newline",
    *,
    spans: Sequence[tuple[int, int]] | None = None,
    probs: Sequence[float] | None = None,
    threshold: float | None = None,
) -> tuple[list[str], SplitLayout]:
    """Split ``text`` with a registered method; lossless through :func:`join_layout`.

    Example:
        >>> split_text("a b\\nc")[0]
        ['a b', 'c']
        >>> split_text("a b\\nc", "confidence", spans=[(0, 1), (1, 3), (3, 5)], probs=[0.9, 0.1, 0.9],
        ...            threshold=0.5)[0]
        ['a b', 'c']
    """
    m = SPLIT_METHODS.get(method)
    return cut_text(text, m.cuts(text, spans, probs, threshold))


def step_spans(steps: Sequence[str], layout: SplitLayout) -> list[tuple[int, int]]:
    """The ``[start, end)`` character range of each step in ``join_layout(steps, layout)``.

    Steps from two splits of one text can be matched by overlap (used to carry a first error
    over to new steps, or step scores back to old ones).

    Example:
        >>> step_spans(["ab", "c"], SplitLayout(" ", ("\\n",), ""))
        [(1, 3), (4, 5)]
    """
    join_layout(steps, layout)  # checks the separator count
    out, pos = [], len(layout.lead)
    for i, s in enumerate(steps):
        out.append((pos, pos + len(s)))
        pos += len(s) + (len(layout.seps[i]) if i < len(layout.seps) else 0)
    return out
