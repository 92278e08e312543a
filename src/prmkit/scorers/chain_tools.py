"""Tools a generative verifier calls while it writes a chain (GenPRM's execution feedback).

GenPRM's verifier writes code in its verification chain and the code's output is fed back
into the chain; the verifier reads the result instead of computing it. A chain tool here does
the same on one line: after each token the verifier writes, :meth:`ChainTool.complete` sees the
line so far and the text the verifier has read before the step it checks (the problem and the
earlier steps, ``context``) and returns the text to feed (the tool's output), or ``None``. The fed text is part
of the chain, but the verifier did not write it: training masks it out of the loss
(:func:`tool_pieces`, :mod:`prmkit.train.generative`) and inference forces it
(:class:`~prmkit.scorers.generative.GenerativeScorer` ``tool=``), so both see the same token ids.

Tools (:data:`CHAIN_TOOLS`):

- ``calculator``: when the line ends with ``=`` after an arithmetic expression (the clause
  after the last ``,``, ``;`` or ``:``), feed `` <its exact value>`` (the world's number format).
  On a checker's chain (:mod:`prmkit.worlds.arith_verify`) it computes every recomputation and
  every difference: ``7 + 38 =`` is followed by `` 45``, ``45 - 35 =`` by `` 10``.
- ``lookup``: when the line ends with ``<number> is`` (a clause of its own, not ``the answer
  is``), feed the number of the ``context`` nearest to it (the number itself when it is there;
  the first occurrence, the problem before the earlier steps) and the word after it there:
  ``38 is`` -> `` 38 miles``, ``27 is`` -> `` 28 cookies`` when the problem has 28 and no 27.
  A search of the text the verifier already sees, as a verifier's code could run it; whether
  the number is the right one is still the verifier's to say.

Several tools: ``"calculator,lookup"`` (:func:`get_tool`; the first that feeds, feeds).

Example:
    >>> calc = CHAIN_TOOLS.get("calculator")()
    >>> calc.complete(" 7 known, 38 known; 7 + 38 ="), calc.complete(" 7 known, 38 known; 7 + 38")
    (' 45', None)
    >>> get_tool("calculator,lookup").complete(" 27 is", "She has 28 cookies. She lives 3 miles away.")
    ' 28 cookies'

    >>> tool_pieces(" 7 known; 7 + 38 = 45, 45 - 45 = 0. correct", calc)
    [(' 7 known; 7 + 38 =', False), (' 45', True), (', 45 - 45 =', False), (' 0', True), ('. correct', False)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from prmkit.errors import PrmkitError
from prmkit.registry import Registry
from prmkit.worlds.arith_parse import evaluate_expression, format_number

__all__ = ["CHAIN_TOOLS", "Calculator", "ChainTool", "Lookup", "get_tool", "step_contexts", "tool_pieces"]


class ChainTool(Protocol):
    """What a chain tool does: the text to feed after the line written so far, or ``None``."""

    name: str

    def complete(self, line: str, context: str = "") -> str | None: ...


CHAIN_TOOLS: Registry[type] = Registry("chain tool")

#: an operator between two operands (a bare number is not a computation)
_OPERATOR = re.compile(r"\d\s*[-+*/x×÷]\s*[(\d]")


@CHAIN_TOOLS.register("calculator")
class Calculator:
    """Feeds the exact value of the expression a line ends with before ``=`` (see the module).

    Example:
        >>> c = Calculator()
        >>> c.complete("Step 2: 217 / 7 ="), c.complete("the answer is 39, 39 - 19 ="), c.complete("x ="), c.complete("5 =")
        (' 31', ' 20', None, None)
        >>> c.complete("17 / 4 =")
        ' 4.25'
    """

    name = "calculator"

    def complete(self, line: str, context: str = "") -> str | None:
        if not line.endswith("="):
            return None
        clause = re.split(r"[,;:]", line[:-1])[-1]
        if not _OPERATOR.search(clause):
            return None
        value = evaluate_expression(clause)
        return None if value is None else " " + format_number(value)


#: a number of the context and the word after it (two letters or more: not the operator ``x``)
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w]|\.\d)(?:\s+([A-Za-z]{2,}))?")
#: a line ending with an operand's lookup: ``..., 27 is``
_LOOKUP = re.compile(r"(?:^|[,;:])\s*(\d+(?:\.\d+)?) is$")


@CHAIN_TOOLS.register("lookup")
class Lookup:
    """Feeds the context's number nearest to the operand a line ends with (see the module).

    Example:
        >>> t = Lookup()
        >>> ctx = "Ava has 9 crates with 4 oranges in each. Ava lives 38 miles from the store."
        >>> t.complete("Step 1: 9 is", ctx), t.complete(" 9 is 9 crates, 5 is", ctx), t.complete(" 37 is", ctx)
        (' 9 crates', ' 4 oranges', ' 38 miles')
        >>> t.complete(" the answer is", ctx) is None, t.complete(" 9 is", "no numbers") is None
        (True, True)
    """

    name = "lookup"

    def complete(self, line: str, context: str = "") -> str | None:
        m = _LOOKUP.search(line)
        if m is None:
            return None
        want = float(m.group(1))
        numbers = list(_NUMBER.finditer(context))
        if not numbers:
            return None
        # nearest, then smaller; min keeps the first occurrence of equals
        n = min(numbers, key=lambda x: (abs(float(x.group(1)) - want), float(x.group(1))))
        return " " + n.group(1) + (" " + n.group(2) if n.group(2) else "")


class _Tools:
    """Several tools: the first one that feeds, feeds."""

    def __init__(self, tools: list[ChainTool]) -> None:
        self.tools = tools
        self.name = ",".join(t.name for t in tools)

    def complete(self, line: str, context: str = "") -> str | None:
        return next((fed for t in self.tools if (fed := t.complete(line, context)) is not None), None)


def get_tool(name: str | None) -> ChainTool | None:
    """The tool registered as ``name``, or several joined by commas (``"calculator,lookup"``);
    ``None`` or ``"none"``: no tool."""
    if name is None or name == "none":
        return None
    tools = [CHAIN_TOOLS.get(n.strip())() for n in name.split(",")]
    return tools[0] if len(tools) == 1 else _Tools(tools)


def step_contexts(problem: str, steps: Sequence[str], solution: str | None = None) -> list[str]:
    """The ``context`` a tool sees on the line of each step: the problem, the verifier's own
    solution when it wrote one first (``solution``, :class:`~prmkit.scorers.generative.GenerativeScorer`
    ``solve=True``) and the steps before.

    Example:
        >>> step_contexts("P", ["a", "b"]), step_contexts("P", ["a"], solution="S")
        (['P', 'P\\na'], ['P\\nS'])
    """
    head = problem if solution is None else problem + "\n" + solution
    return [head + "".join("\n" + s for s in steps[:j]) for j in range(len(steps))]


def tool_pieces(line: str, tool: ChainTool, context: str = "") -> list[tuple[str, bool]]:
    """``line`` cut into the pieces the verifier writes (``False``) and the tool feeds
    (``True``), in order, as :meth:`~prmkit.scorers.generative.GenerativeScorer.sample` would
    produce it: after every prefix the tool completes, the line must go on with exactly the
    tool's text, or the line is not one the verifier could write with this tool (an error naming
    the line, the place and both texts).

    Example:
        >>> tool_pieces(" 4 x 3 = 13; no answer", Calculator())
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'verifier_tool': chain line ' 4 x 3 = 13; no answer' goes on with ' 13' after ' 4 x 3 =' where the calculator feeds ' 12'
    """
    pieces: list[tuple[str, bool]] = []
    start = i = 0
    while i < len(line):
        i += 1
        fed = tool.complete(line[:i], context)
        if fed is None:
            continue
        if not line.startswith(fed, i):
            got = line[i : i + len(fed)]
            raise PrmkitError(
                f"chain line {line!r} goes on with {got!r} after {line[:i]!r} where the {tool.name} feeds {fed!r}",
                field="verifier_tool",
            )
        pieces += [(line[start:i], False), (fed, True)]
        i = start = i + len(fed)
    if start < len(line):
        pieces.append((line[start:], False))
    return pieces
