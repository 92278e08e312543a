"""Tool-grounded scorer: checks every arithmetic claim in a step, exactly.

A *claim* is an equality between arithmetic expressions written in the step:

- ``a op b = c`` and chains ``a op b = c op d = e`` (each ``=`` is checked between its neighbours),
- GSM8K calculator tags ``<<48/2=24>>``,
- percentages (``20% of 50 = 10``, ``50 * 20% = 10``), fractions (``3/4``, ``\\frac{3}{4}``),
  decimals, thousands separators (``1,200``), ``×``/``÷``/``·``/``\\times``/``\\cdot``/``\\div``,
  ``^`` powers, parentheses and implicit multiplication ``3(4)``.

Arithmetic is exact (:class:`fractions.Fraction`). A side that is a single decimal number may be
a rounding of the exact value (``10/3 = 3.33`` holds: the claim is read to the written precision)
unless ``allow_rounding=False``. Only equalities with an operator on at least one side are claims
(``x = 5`` or ``5 = 5`` check nothing), and an expression cut by a word (``2x + 3 = 7``) is not
checked.

Step score: ``0.0`` when any claim is false, ``1.0`` when there is a claim and all hold,
``neutral`` (default 0.5, configurable) when the step has no checkable claim, and **unknown**
(``None``) when a claim cannot be evaluated within the :class:`Limits` (a number or an
intermediate value over ``max_digits`` digits, an exponent over ``max_exponent``, parentheses or
signs nested deeper than ``max_depth``, a step longer than ``max_step_chars``, or more than
``time_limit_s`` seconds of CPU time spent on the step). The scorer never raises on a step: the reason of each
unknown step is in :attr:`CalculatorScorer.last_meta` (``{"calculator_unknown": [{"step": i,
"reason": ...}]}`` per solution), which ``prmkit score`` merges into the record's ``meta`` and the
server returns with the scores. A claim that is false stays false even when another claim of the
same step is unknown.

Example:
    >>> s = CalculatorScorer()
    >>> s.score_batch(["?"], [["3 + 4 = 7", "so 7 * 2 = 15", "We are done.", "<<48/2=24>>"]])
    [[1.0, 0.0, 0.5, 1.0]]
    >>> [str(c) for c in find_claims("20% of 50 = 10, and 1/3 = 0.33")]
    ['20% * 50 = 10 (true)', '1/3 = 0.33 (true)']
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Solution
from prmkit.scorers.base import SCORERS, Scorer, StepScores

# ---------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """Bounds on the work spent on one step; a claim beyond them is *unknown*, never an error.

    ``max_digits`` bounds every number written in a claim and every intermediate value (numerator
    and denominator), so products and nested powers such as ``((9^64)^64)^64`` are refused before
    they are computed; ``max_exponent`` bounds each exponent; ``max_depth`` bounds nested
    parentheses and stacked signs; ``max_step_chars`` and ``time_limit_s`` bound a whole step.

    Example:
        >>> check_step_detail("(2^64)^64 = 1", limits=Limits(max_digits=100))
        (None, 'power (2^64)^64 would exceed 100 digits')
    """

    max_digits: int = 1000
    max_exponent: int = 4096
    max_depth: int = 64
    max_step_chars: int = 100_000
    time_limit_s: float = 1.0

    @property
    def max_bits(self) -> int:
        # 10^d < 2^(3.33 d): an integer of at most max_digits digits has at most this many bits
        return int(self.max_digits * 3.3219280948873626) + 1


DEFAULT_LIMITS = Limits()


class Unverifiable(Exception):
    """A claim that cannot be evaluated within the :class:`Limits` (the step scores unknown)."""


#: ``meta`` key under which the calculator lists its unknown steps: ``[{"step": i, "reason": str}]``
META_CALCULATOR_UNKNOWN = "calculator_unknown"

# ---------------------------------------------------------------------- normalisation

_LATEX_SUBS = [
    (re.compile(r"(?<![\d.])(\d+)\s*\\[dt]?frac\s*\{(\d+)\}\s*\{(\d+)\}"), r"(\1+\2/\3)"),  # mixed number
    (re.compile(r"\.\.\.|\\[lc]?dots|…"), "…"),
    (re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:boxed|text|textbf|mathrm|mbox)\s*\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\times|\\cdot|\\ast"), "*"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\left|\\right"), ""),
    (re.compile(r"\\[,;:! ]"), ""),  # LaTeX spacing (also inside 1\,000)
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$|\\\(|\\\)|\\\[|\\\]"), " "),
]
_CHAR_SUBS = str.maketrans({"×": "*", "÷": "/", "·": "*", "⋅": "*", "−": "-", "–": "-", "$": " ", "∗": "*"})
_X_MUL = re.compile(r"(?<=[\d)])[ \t]*x[ \t]*(?=[\d(])")  # 3 x 4, 3x4 (digit either side)
_PCT_OF = re.compile(r"%\s+of\s+")

_TOKEN = re.compile(
    r"""
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|\.\d+)
  | (?P<op>\*\*|[-+*/^])
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<eq>=)
  | (?P<pct>%)
  | (?P<ws>[^\S\n]+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Claim:
    """One checked equality ``left = right`` (text as written, after normalisation)."""

    left: str
    right: str
    holds: bool

    def __str__(self) -> str:
        return f"{self.left} = {self.right} ({'true' if self.holds else 'false'})"


@dataclass
class _Tok:
    kind: str
    text: str
    value: Fraction | None = None
    decimals: int | None = None  # digits after the point, for rounding tolerance
    too_long: bool = False  # a number over the digit limit (its value is not built)


def normalize(text: str) -> str:
    """Rewrite LaTeX / unicode arithmetic into plain ``+-*/^()%`` text.

    Example:
        >>> normalize(r"\\frac{3}{4} \\times 8 = 6")
        '((3)/(4)) * 8 = 6'
        >>> normalize("3 × 4 − 2")
        '3 * 4 - 2'
    """
    text = _X_MUL.sub(" * ", text)  # before LaTeX delimiters turn into spaces
    for pat, rep in _LATEX_SUBS:
        text = pat.sub(rep, text)
    text = text.translate(_CHAR_SUBS)
    text = _PCT_OF.sub("% * ", text)
    return text


def _tokenize(text: str, limits: Limits = DEFAULT_LIMITS) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        s = m.group()
        if kind == "num":
            clean = s.replace(",", "")
            dec = len(clean.split(".")[1]) if "." in clean else 0
            if len(clean) - ("." in clean) > limits.max_digits:
                toks.append(_Tok("num", s, None, dec, too_long=True))
                continue
            toks.append(_Tok("num", s, Fraction(clean), dec))
        elif kind == "ws":
            toks.append(_Tok("ws", s))
        else:
            toks.append(_Tok(kind, s))
    return toks


# ---------------------------------------------------------------------- exact evaluation


class _Parser:
    """Recursive descent over ``+ - * / ^ ( ) %`` with unary minus and implicit ``3(4)``.

    Raises :class:`Unverifiable` when an operand, a result, the nesting or the time goes beyond
    ``limits`` (checked before each power and after each operation, so no huge value is built).
    """

    def __init__(
        self, toks: list[_Tok], limits: Limits = DEFAULT_LIMITS, deadline: float | None = None
    ) -> None:
        self.t = [x for x in toks if x.kind != "ws"]
        self.i = 0
        self.limits = limits
        self.deadline = deadline
        self.depth = 0

    def _sized(self, v: Fraction) -> Fraction:
        bits = self.limits.max_bits
        if v.numerator.bit_length() > bits or v.denominator.bit_length() > bits:
            raise Unverifiable(f"an intermediate value exceeds {self.limits.max_digits} digits")
        if self.deadline is not None and time.thread_time() > self.deadline:
            raise Unverifiable(f"step took over {self.limits.time_limit_s} s")
        return v

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise Unverifiable(f"nesting deeper than {self.limits.max_depth}")

    def peek(self) -> _Tok | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> _Tok:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def parse(self) -> Fraction:
        v = self.expr()
        if self.peek() is not None:
            raise ValueError("trailing tokens")
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while (p := self.peek()) is not None and p.kind == "op" and p.text in "+-":
            self.take()
            rhs = self.term()
            v = self._sized(v + rhs if p.text == "+" else v - rhs)
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while True:
            p = self.peek()
            if p is not None and p.kind == "op" and p.text in ("*", "/"):
                self.take()
                rhs = self.unary()
                if p.text == "*":
                    v = self._sized(v * rhs)
                else:
                    if rhs == 0:
                        raise ZeroDivisionError
                    v = self._sized(v / rhs)
            elif p is not None and p.kind == "lp":  # implicit multiplication 3(4)
                v = self._sized(v * self.unary())
            else:
                return v

    def unary(self) -> Fraction:
        p = self.peek()
        if p is not None and p.kind == "op" and p.text in "+-":
            self.take()
            self._enter()
            v = self.unary()
            self.depth -= 1
            return -v if p.text == "-" else v
        return self.power()

    def power(self) -> Fraction:
        start = self.i
        base = self.atom()
        p = self.peek()
        if p is not None and p.kind == "op" and p.text in ("^", "**"):
            self.take()
            exp = self.unary()
            if exp.denominator != 1 or (base == 0 and exp < 0):
                raise ValueError("unsupported power")
            text = "".join(t.text for t in self.t[start : self.i])
            if abs(exp) > self.limits.max_exponent:
                raise Unverifiable(f"exponent in {text} is over {self.limits.max_exponent}")
            size = max(base.numerator.bit_length(), base.denominator.bit_length()) - 1
            if size * abs(int(exp)) > self.limits.max_bits:  # |base| >= 2^size: the result is at least this
                raise Unverifiable(f"power {text} would exceed {self.limits.max_digits} digits")
            return self._sized(base ** int(exp))
        return base

    def atom(self) -> Fraction:
        p = self.peek()
        if p is None:
            raise ValueError("missing operand")
        if p.kind == "num":
            if p.too_long:
                raise Unverifiable(f"a number has over {self.limits.max_digits} digits")
            self.take()
            v = p.value  # type: ignore[assignment]
        elif p.kind == "lp":
            self.take()
            self._enter()
            v = self.expr()
            self.depth -= 1
            q = self.peek()
            if q is None or q.kind != "rp":
                raise ValueError("unbalanced parentheses")
            self.take()
        else:
            raise ValueError(f"unexpected {p.text!r}")
        while (q := self.peek()) is not None and q.kind == "pct":
            self.take()
            v = v / 100
        return v  # type: ignore[return-value]


def evaluate(expr: str, limits: Limits = DEFAULT_LIMITS) -> Fraction:
    """Exact value of a plain arithmetic expression (after :func:`normalize`).

    Raises ``ValueError`` for text that is not arithmetic and :class:`Unverifiable` for
    arithmetic beyond ``limits``.

    Example:
        >>> evaluate("3/4 * 8"), evaluate("2^3 - 1"), evaluate("25% * 80")
        (Fraction(6, 1), Fraction(7, 1), Fraction(20, 1))
        >>> evaluate("(9^64)^64")
        Traceback (most recent call last):
        ...
        prmkit.scorers.calculator.Unverifiable: power (9^64)^64 would exceed 1000 digits
    """
    return _Parser(_tokenize(normalize(expr), limits), limits).parse()


def _has_op(toks: list[_Tok]) -> bool:
    core = [t for t in toks if t.kind != "ws"]
    if any(t.kind == "op" for t in core[1:]):
        return True  # a leading sign alone (-3) is not an operation
    return any(t.kind in ("pct",) for t in core) and len(core) > 2


def _single_number(toks: list[_Tok]) -> _Tok | None:
    core = [t for t in toks if t.kind != "ws"]
    if len(core) == 1 and core[0].kind == "num":
        return core[0]
    return None


def _equal(a: Fraction, a_toks: list[_Tok], b: Fraction, b_toks: list[_Tok], rounding: bool) -> bool:
    if a == b:
        return True
    for val, toks, other in ((a, a_toks, b), (b, b_toks, a)):
        core = [t for t in toks if t.kind != "ws"]
        if len(core) == 2 and core[0].kind == "num" and core[1].kind == "pct" and other == val * 100:
            return True  # ``0.2 * 100 = 20%``: the percent sign written as a unit
    if not rounding:
        return False
    for val, toks, other in ((a, a_toks, b), (b, b_toks, a)):
        num = _single_number(toks)
        # the written number is the exact value rounded to its decimals
        if num is not None and num.decimals and abs(other - val) <= Fraction(1, 2 * 10**num.decimals):
            return True
    return False


def _split_segments(toks: list[_Tok]) -> list[tuple[list[_Tok], bool, bool]]:
    """Maximal runs of arithmetic tokens, with flags: the first / last expression of the run is
    cut by surrounding text (``2x + 3 = 7``, ``= 5x``), so it is not checked."""
    segs: list[tuple[list[_Tok], bool, bool]] = []
    i, n = 0, len(toks)
    while i < n:
        if toks[i].kind == "other":
            i += 1
            continue
        j = i
        while j < n and toks[j].kind != "other":
            j += 1
        seg = toks[i:j]
        core = [t for t in seg if t.kind != "ws"]
        if core:
            before = toks[i - 1].text if i > 0 else ""
            after = toks[j].text if j < n else ""
            first = core[0]
            context = "".join(t.text for t in toks[max(0, i - 30) : i]).rstrip()
            second = seg[seg.index(first) + 1] if seg.index(first) + 1 < len(seg) else None
            left_cut = (
                (seg[0].kind != "ws" and _word_left(before))
                or (first.kind == "op" and first.text != "-")
                or (
                    first.text == "-" and (_word_left(before) or (second is not None and second.kind == "ws"))
                )
                # an operand of a LaTeX operator (``m \circ 2 = ...``) or of a closing bracket
                or bool(_LATEX_CMD_END.search(context))
                or context[-1:] in ("}", "]", ")", "|")
                or bool(_SINGLE_LETTER_END.search(context))
            )
            following = "".join(t.text for t in toks[j : j + 30])
            right_cut = (
                (seg[-1].kind != "ws" and _word_right(after))
                or bool(_RIGHT_OPERAND.match(following))
                or bool(_DIVISION_WORDS.match(following))
            )
            segs.append((seg, left_cut, right_cut))
        i = j
    return segs


_LATEX_CMD_END = re.compile(r"\\[a-zA-Z]+$")
_SINGLE_LETTER_END = re.compile(r"(?<![a-zA-Z\\])[a-zA-Z]$")  # a variable: ``r 2 = ...``
# the last operand continues as a LaTeX command or a variable (``= 32 r^5``, ``- 50 \cos``)
_RIGHT_OPERAND = re.compile(r"[^\S\n]*(\\[a-zA-Z]|[a-zA-Z](?![a-zA-Z]))")
# integer division with a remainder: ``2863 / 1344 = 2 (quotient)``, ``= 505 remainder 3``
_DIVISION_WORDS = re.compile(
    r"\W*(\\text\s*\{\s*)?\(?\s*(remainder|quotient|rem\b|r\b|R\b|with a remainder)", re.I
)


def _word_left(ch: str) -> bool:
    return bool(ch) and (ch.isalpha() or ch in "\\_}]'…")


def _word_right(ch: str) -> bool:
    return bool(ch) and (ch.isalpha() or ch in "\\_{[…")


def _split_eq(seg: list[_Tok]) -> list[list[_Tok]]:
    parts: list[list[_Tok]] = [[]]
    for t in seg:
        if t.kind == "eq":
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def _text(toks: list[_Tok]) -> str:
    return "".join(t.text for t in toks).strip()


@dataclass
class _Run:
    """What one step's check has found so far, and its bounds."""

    limits: Limits
    deadline: float | None
    claims: list[Claim]
    unknown: list[str]

    def tick(self) -> None:
        if self.deadline is not None and time.thread_time() > self.deadline:
            raise Unverifiable(f"step took over {self.limits.time_limit_s} s")

    def parse(self, toks: list[_Tok]) -> Fraction | None:
        """The value of ``toks``; ``None`` when they are not arithmetic or are beyond the limits."""
        try:
            return _Parser(toks, self.limits, self.deadline).parse()
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        except Unverifiable as e:
            if "took over" in str(e):
                raise
            self.unknown.append(str(e))
            return None


def _claims_in(text: str, rounding: bool, run: _Run) -> list[Claim]:
    toks = _tokenize(normalize(text), run.limits)
    claims = run.claims
    for seg, left_cut, right_cut in _split_segments(toks):
        run.tick()
        parts = _split_eq(seg)
        if len(parts) < 2:
            continue
        values: list[Fraction | None] = []
        for k, part in enumerate(parts):
            core = [t for t in part if t.kind != "ws"]
            if not core or (k == 0 and left_cut) or (k == len(parts) - 1 and right_cut):
                values.append(None)
                continue
            if core[-1].kind == "op":  # ``= 5 *`` then a word: the operand is text
                values.append(None)
                continue
            if k == 0 and core[0].kind == "op" and core[0].text == "-" and left_cut:
                values.append(None)
                continue
            values.append(run.parse(part))
        for k in range(len(parts) - 1):
            a, b = values[k], values[k + 1]
            if a is None or b is None:
                continue
            if not (_has_op(parts[k]) or _has_op(parts[k + 1])):
                continue
            claims.append(
                Claim(_text(parts[k]), _text(parts[k + 1]), _equal(a, parts[k], b, parts[k + 1], rounding))
            )
    return claims


_GSM8K_TAG = re.compile(r"<<([^<>]*?)=([^<>=]*)>>")


def _find(text: str, allow_rounding: bool, run: _Run) -> list[Claim]:
    if len(text) > run.limits.max_step_chars:
        raise Unverifiable(f"step has {len(text)} characters; the limit is {run.limits.max_step_chars}")
    for m in _GSM8K_TAG.finditer(text):
        run.tick()
        lhs_toks = _tokenize(normalize(m.group(1)), run.limits)
        rhs_toks = _tokenize(normalize(m.group(2)), run.limits)
        lhs, rhs = run.parse(lhs_toks), run.parse(rhs_toks)
        if lhs is None or rhs is None:
            continue
        claims_eq = _equal(lhs, _tokenize(m.group(1), run.limits), rhs, rhs_toks, allow_rounding)
        run.claims.append(Claim(m.group(1).strip(), m.group(2).strip(), claims_eq))
    prose = _GSM8K_TAG.sub(" ", text)
    return _claims_in(prose, allow_rounding, run)


def find_claims(text: str, allow_rounding: bool = True, limits: Limits = DEFAULT_LIMITS) -> list[Claim]:
    """Every checkable arithmetic claim in ``text`` (calculator tags first, then the prose).

    Claims beyond ``limits`` are left out (:func:`check_step_detail` reports them).

    Example:
        >>> [c.holds for c in find_claims("He pays 5 * 3 = 15 dollars, then 15 + 2 = 18.")]
        [True, False]
        >>> find_claims("Let x + 3 = 7, so x = 4.")
        []
    """
    run = _Run(limits, None, [], [])
    try:
        return _find(text, allow_rounding, run)
    except Unverifiable:
        return run.claims


def check_step_detail(
    text: str, neutral: float = 0.5, allow_rounding: bool = True, limits: Limits = DEFAULT_LIMITS
) -> tuple[float | None, str | None]:
    """``(score, reason)``: the score of :func:`check_step`, or ``(None, why)`` when a claim of
    the step cannot be evaluated within ``limits`` and no claim is false. Never raises.

    Example:
        >>> check_step_detail("2 + 2 = 4")
        (1.0, None)
        >>> check_step_detail("1" * 5000 + " + 1 = 2")
        (None, 'a number has over 1000 digits')
        >>> check_step_detail("2 + 2 = 5, and 9^9^9^9 = 1")  # a false claim decides the step
        (0.0, None)
    """
    deadline = time.thread_time() + limits.time_limit_s if limits.time_limit_s > 0 else None
    run = _Run(limits, deadline, [], [])
    try:
        _find(text, allow_rounding, run)
    except Unverifiable as e:
        run.unknown.append(str(e))
    except Exception as e:  # noqa: BLE001 - a verifier never fails the batch: the step is unknown
        run.unknown.append(f"internal error: {type(e).__name__}: {e}"[:300])
    if any(not c.holds for c in run.claims):
        return 0.0, None
    if run.unknown:
        return None, run.unknown[0]
    if not run.claims:
        return neutral, None
    return 1.0, None


def check_step(
    text: str, neutral: float = 0.5, allow_rounding: bool = True, limits: Limits = DEFAULT_LIMITS
) -> float | None:
    """0.0 if any claim in ``text`` is false, 1.0 if all hold, ``neutral`` if there are none,
    ``None`` (unknown) if a claim is beyond ``limits`` (see :func:`check_step_detail`).

    Example:
        >>> check_step("1,200 + 300 = 1,500"), check_step("2 + 2 = 5"), check_step("Hello", neutral=0.7)
        (1.0, 0.0, 0.7)
        >>> check_step("(((9^64)^64)^64)^64 = 1") is None
        True
    """
    return check_step_detail(text, neutral, allow_rounding, limits)[0]


@SCORERS.register("calculator")
class CalculatorScorer(Scorer):
    """Scores each step by checking its arithmetic claims exactly (no model).

    Args:
        neutral: score of a step with nothing checkable (default 0.5; must be in [0, 1]).
        allow_rounding: accept a decimal side that is the exact value rounded to its digits.
        max_digits, max_exponent, max_depth, max_step_chars, time_limit_s: the :class:`Limits`
            of one step (a step beyond them scores ``None``, its reason in :attr:`last_meta`).

    Example:
        >>> s = CalculatorScorer(max_digits=50)
        >>> s.score_batch(["?", "?"], [["2^200 = 1"], ["1 + 1 = 2"]])
        [[None], [1.0]]
        >>> s.last_meta[0]
        {'calculator_unknown': [{'step': 0, 'reason': 'power 2^200 would exceed 50 digits'}]}
    """

    def __init__(
        self,
        neutral: float = 0.5,
        allow_rounding: bool = True,
        max_digits: int = DEFAULT_LIMITS.max_digits,
        max_exponent: int = DEFAULT_LIMITS.max_exponent,
        max_depth: int = DEFAULT_LIMITS.max_depth,
        max_step_chars: int = DEFAULT_LIMITS.max_step_chars,
        time_limit_s: float = DEFAULT_LIMITS.time_limit_s,
    ) -> None:
        if not 0.0 <= float(neutral) <= 1.0:
            raise PrmkitError(f"neutral must be in [0, 1], got {neutral}", field="neutral")
        self.neutral = float(neutral)
        self.allow_rounding = bool(allow_rounding)
        bounds = {"max_digits": max_digits, "max_exponent": max_exponent, "max_depth": max_depth,
                  "max_step_chars": max_step_chars}  # fmt: skip
        for name, v in bounds.items():
            if int(v) < 1:
                raise PrmkitError(f"must be >= 1, got {v}", field=name)
        if not float(time_limit_s) > 0:
            raise PrmkitError(f"must be > 0, got {time_limit_s}", field="time_limit_s")
        self.limits = Limits(**{k: int(v) for k, v in bounds.items()}, time_limit_s=float(time_limit_s))
        #: per solution of the last :meth:`score_batch`: ``{"calculator_unknown": [...]}`` or ``{}``
        self.last_meta: list[dict[str, Any]] = []

    @classmethod
    def load(cls, path: str | None = None, **options: object) -> CalculatorScorer:
        """``load_scorer("calculator", neutral=1.0)``; ``path`` and device options are ignored."""
        for k in ("device", "dtype", "batch_tokens", "max_length"):
            options.pop(k, None)
        try:
            return cls(**options)  # type: ignore[arg-type]
        except TypeError as e:
            raise PrmkitError(f"bad option for the calculator scorer: {e}") from None

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        out: list[StepScores] = []
        metas: list[dict[str, Any]] = []
        for sol in steps:
            scores: StepScores = []
            unknown: list[dict[str, Any]] = []
            for i, step in enumerate(sol):
                score, reason = check_step_detail(step, self.neutral, self.allow_rounding, self.limits)
                scores.append(score)
                if reason is not None:
                    unknown.append({"step": i, "reason": reason})
            out.append(scores)
            metas.append({META_CALCULATOR_UNKNOWN: unknown} if unknown else {})
        self.last_meta = metas
        return out

    def _fill(self, batch: list[Solution]) -> Iterator[Solution]:
        filled = list(super()._fill(batch))
        for r, m in zip(filled, self.last_meta, strict=True):
            r.meta.update(m)
        yield from filled
