"""Parsing arithmetic out of step text (shared by the arithmetic checker and the arithmetic policy).

A step is scanned for *equations*: maximal runs of numbers, operators and parentheses that
contain ``=``, e.g. ``3 x 4 = 12`` inside "She buys 3 bags of 4 apples, so 3 x 4 = 12 apples.".
Accepted: ``+ - * x X × · ⋅ / ÷ − –``, parentheses, chains ``16 - 3 - 4 = 9`` and
``a = b = c``, numbers with thousands commas (``1,200``) or decimals, ``$`` before numbers,
and up to three unit words after a number inside an expression (``3 bags x 4 apples = 12``).
A final answer is read from ``The answer is N``, ``answer: N``, ``#### N`` or ``\\boxed{N}``.

Example:
    >>> p = parse_step("She buys 3 bags of 4 apples, so 3 x 4 = 12 apples.")
    >>> [(e.operands, e.result, e.true) for e in p.equations]
    [((3, 4), 12, True)]
    >>> parse_step("1,200 ÷ 4 = 300, so the answer is $300.").answer
    300
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

Number = int | Fraction

_TOKEN_RE = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|(?<![\d.])\.\d+)"
    r"|(?P<op>[+\-*/×÷·⋅−–]|(?<![A-Za-z])[xX](?![A-Za-z]))"
    r"|(?P<eq>=)"
    r"|(?P<lp>\()"
    r"|(?P<rp>\))"
    r"|(?P<word>[A-Za-z][A-Za-z']*)"
    r"|(?P<dollar>\$)"
    r"|(?P<other>\S)"
)

_OP_NORMAL = {
    "+": "+",
    "-": "-",
    "−": "-",
    "–": "-",
    "*": "*",
    "x": "*",
    "X": "*",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "/": "/",
    "÷": "/",
}

_ANSWER_RE = re.compile(
    r"(?:answer\s*(?:is\s*:?|:|=)|####)\s*(?:\*\*)?\s*\$?\s*(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)"
    r"|\\boxed\{\s*\$?\s*(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s*\}",
    re.IGNORECASE,
)

#: how many unit words may follow a number inside an expression ("3 bags x 4 apples = 12")
MAX_UNIT_WORDS = 3


@dataclass(frozen=True)
class Equation:
    """One equation found in a step.

    ``operands``: the numbers of every expression but the result one (in text order);
    ``result``: the value of the result expression (the last one, or the lone number when an
    expression is written on the right: ``12 = 3 x 4``); ``ops``: the operators used (normalised
    to ``+ - * /``); ``true``: every expression of the chain has the same value.
    """

    operands: tuple[Number, ...]
    ops: frozenset[str]
    result: Number
    true: bool
    text: str


@dataclass(frozen=True)
class ParsedStep:
    """The equations of a step, in order, and the final answer it states (``None`` if none)."""

    equations: tuple[Equation, ...]
    answer: Number | None


def parse_number(s: str) -> Number:
    """``"1,200"`` -> 1200, ``"2.50"`` -> Fraction(5, 2), ``"-3"`` -> -3.

    Example:
        >>> parse_number("1,200"), parse_number("2.50")
        (1200, Fraction(5, 2))
    """
    s = s.replace(",", "")
    if "." in s:
        f = Fraction(s)
        return int(f) if f.denominator == 1 else f
    return int(s)


def format_number(v: Number) -> str:
    """Render an exact value: integers plainly, other fractions as a short decimal.

    Example:
        >>> format_number(12), format_number(Fraction(5, 2))
        ('12', '2.5')
    """
    if isinstance(v, int) or v.denominator == 1:
        return str(int(v))
    return f"{float(v):.4f}".rstrip("0").rstrip(".")


class _ExprError(Exception):
    pass


def _eval(tokens: list[tuple[str, object]]) -> tuple[Number, list[Number], set[str]]:
    """Evaluate a token list (num/op/lp/rp) with the usual precedence; exact arithmetic."""
    pos = 0
    nums: list[Number] = []
    ops: set[str] = set()
    n = len(tokens)

    def peek() -> tuple[str, object] | None:
        return tokens[pos] if pos < n else None

    def primary() -> Number:
        nonlocal pos
        t = peek()
        if t is None:
            raise _ExprError("unexpected end")
        kind, val = t
        if kind == "num":
            pos += 1
            nums.append(val)  # type: ignore[arg-type]
            return val  # type: ignore[return-value]
        if kind == "lp":
            pos += 1
            v = expr()
            t2 = peek()
            if t2 is None or t2[0] != "rp":
                raise _ExprError("unbalanced parenthesis")
            pos += 1
            return v
        if kind == "op" and val == "-":
            pos += 1
            t2 = peek()
            if t2 is not None and t2[0] == "num":  # a negative literal is one operand: -5
                pos += 1
                nums.append(-t2[1])  # type: ignore[operator]
                return -t2[1]  # type: ignore[operator]
            return -primary()
        raise _ExprError(f"unexpected {val!r}")

    def term() -> Number:
        nonlocal pos
        v = primary()
        while True:
            t = peek()
            if t is not None and t[0] == "op" and t[1] in ("*", "/"):
                pos += 1
                ops.add(t[1])  # type: ignore[arg-type]
                w = primary()
                if t[1] == "*":
                    v = v * w
                else:
                    if w == 0:
                        raise _ExprError("division by zero")
                    v = Fraction(v) / w
                    if v.denominator == 1:
                        v = int(v)
            elif t is not None and t[0] in ("num", "lp"):
                # implicit multiplication "3(4)" is too ambiguous in prose: refuse
                raise _ExprError("missing operator")
            else:
                return v

    def expr() -> Number:
        nonlocal pos
        v = term()
        while True:
            t = peek()
            if t is not None and t[0] == "op" and t[1] in ("+", "-"):
                pos += 1
                ops.add(t[1])  # type: ignore[arg-type]
                w = term()
                v = v + w if t[1] == "+" else v - w
            else:
                return v

    v = expr()
    if pos != n:
        raise _ExprError("trailing tokens")
    if isinstance(v, Fraction) and v.denominator == 1:
        v = int(v)
    return v, nums, ops


def _segments(text: str) -> list[list[tuple[str, object, int, int]]]:
    """Split a step into runs of arithmetic tokens (num/op/eq/lp/rp), dropping unit words."""
    raw = [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
    segs: list[list[tuple[str, object, int, int]]] = []
    cur: list[tuple[str, object, int, int]] = []
    i = 0
    n = len(raw)
    while i < n:
        kind, s, a, b = raw[i]
        if kind == "num":
            if cur and cur[-1][0] in ("num", "rp"):  # "= 16 4-packs": two numbers, no operator
                segs.append(cur)
                cur = []
            cur.append(("num", parse_number(s), a, b))
        elif (
            kind == "op"
            and s == "/"
            and cur
            and cur[-1][0] == "num"
            and i + 1 < n
            and raw[i + 1][0] == "word"
        ):
            i += 2  # a rate unit: "$700/week"
            continue
        elif kind == "op":
            cur.append(("op", _OP_NORMAL[s], a, b))
        elif kind in ("eq", "lp", "rp"):
            cur.append((kind, s, a, b))  # type: ignore[arg-type]
        elif kind == "dollar":
            pass  # "$12" reads as 12
        elif kind == "word" and cur and cur[-1][0] in ("num", "rp"):
            # unit words after a number stay inside the expression when an operator follows
            j = i
            while j < n and j - i < MAX_UNIT_WORDS and raw[j][0] == "word":
                j += 1
            if j < n and raw[j][0] in ("op", "eq", "rp"):
                i = j
                continue
            segs.append(cur)
            cur = []
        else:
            if cur:
                segs.append(cur)
            cur = []
        i += 1
    if cur:
        segs.append(cur)
    return segs


def _equations(text: str) -> list[Equation]:
    out: list[Equation] = []
    for seg in _segments(text):
        if not any(t[0] == "eq" for t in seg):
            continue
        # trim a dangling operator at either end (e.g. "-" of a hyphenated word before the run)
        while seg and seg[0][0] == "op" and seg[0][1] != "-":
            seg = seg[1:]
        while seg and seg[-1][0] == "op":
            seg = seg[:-1]
        parts: list[list[tuple[str, object]]] = [[]]
        for t in seg:
            if t[0] == "eq":
                parts.append([])
            else:
                parts[-1].append((t[0], t[1]))
        if any(not p for p in parts):
            continue  # "= 12" or "3 x 4 =" : not an equation
        try:
            evals = [_eval(p) for p in parts]
        except _ExprError:
            continue
        values = [e[0] for e in evals]
        true = all(v == values[0] for v in values)
        # the result expression: the last one, unless the last is an operation and the first a
        # lone number ("12 = 3 x 4")
        res_idx = len(parts) - 1
        if len(parts[-1]) > 1 and len(parts[0]) == 1:
            res_idx = 0
        operands: list[Number] = []
        ops: set[str] = set()
        for k, e in enumerate(evals):
            ops |= e[2]
            if k != res_idx:
                operands.extend(e[1])
        out.append(
            Equation(
                operands=tuple(operands),
                ops=frozenset(ops),
                result=values[res_idx],
                true=true,
                text=text[seg[0][2] : seg[-1][3]],
            )
        )
    return out


@lru_cache(maxsize=200_000)
def parse_step(text: str) -> ParsedStep:
    """Parse one step: its equations (see :class:`Equation`) and the final answer it states."""
    found = list(_ANSWER_RE.finditer(text))
    m = found[-1] if found else None  # the last answer statement counts
    answer: Number | None = None
    body = text
    if m is not None:
        answer = parse_number(m.group(1) or m.group(2))
        # the number of an answer statement is not an equation operand
        body = text[: m.start()] + text[m.end() :]
    return ParsedStep(equations=tuple(_equations(body)), answer=answer)


def evaluate_expression(text: str) -> Number | None:
    """Exact value of a plain arithmetic expression (``"16-3-4"`` -> 9); ``None`` if not one.

    Example:
        >>> evaluate_expression("80000*1.5"), evaluate_expression("(2+3)/2"), evaluate_expression("2 apples")
        (120000, Fraction(5, 2), None)
    """
    toks: list[tuple[str, object]] = []
    for m in _TOKEN_RE.finditer(text):
        kind, s = m.lastgroup, m.group()
        if kind == "num":
            toks.append(("num", parse_number(s)))
        elif kind == "op":
            toks.append(("op", _OP_NORMAL[s]))
        elif kind in ("lp", "rp"):
            toks.append((kind, s))  # type: ignore[arg-type]
        elif kind == "dollar":
            continue
        else:
            return None
    if not toks:
        return None
    try:
        return _eval(toks)[0]
    except _ExprError:
        return None
