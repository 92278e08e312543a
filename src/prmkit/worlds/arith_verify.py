"""Verification chains for the arithmetic world, written from the exact checker.

A generative verifier (:mod:`prmkit.train.generative`, :mod:`prmkit.scorers.generative`) is
trained on text that checks a solution step by step and ends each step with a verdict. On the
arithmetic world the chains are written from :func:`~prmkit.worlds.arith_spec.check_steps` /
:func:`~prmkit.worlds.arith_spec.judge_step`, one line per step, stopping at the first
incorrect step. Each operand of each equation is first tagged ``known`` (a given the problem uses,
or an earlier result) or ``not known`` (the line ends there); each check then ends with the
difference between what the step should give and what it states (the larger minus the smaller),
so the verdict reads one number: ``0`` is correct:

- a correct step looks up and recomputes its equations (and restates the final answer it states):
  ``Step 1: 7 known, 38 known; 7 + 38 = 45, 45 - 45 = 0. correct``;
- an arithmetic slip: ``Step 4: 217 known, 7 known; 217 / 7 = 31, 31 - 11 = 20. incorrect``;
- a number that is neither a given the problem uses nor an earlier step's result (a misread
  number, a distractor): ``Step 2: 63 known, 27 not known. incorrect``;
- a true equation of known numbers that computes a number that is not a quantity of the problem
  (a wrong operation, a skipped operation) names the computation the problem needs next, when
  one is found (an operation of the problem whose operands are known and which shares the most
  operands with the step): ``Step 3: 5 known, 16 known; 5 x 11 = 55, 55 - 16 = 39. incorrect``;
  else the checker's reason: ``Step 3: 5 known, 11 known; 5 + 11 = 16, 16 is not a quantity.
  incorrect``;
- a wrong final answer: ``Step 8: the answer is 39, 39 - 19 = 20. incorrect``;
- a step with no equation and no answer: ``Step 2: no equation. incorrect``; a last step that
  states no answer: ``Step 5: ...; no answer. incorrect``.

The tags give the verifier a place to look each operand up on every line; measured in
``benchmarks/generative_verifier.md``: the best verifier so far, though the lookup itself was not
learned (a loss weight on the erroneous lines did not teach it, nor did 15 times as many wrong
operands to learn from; lines listing the problem's next computations did, and so did comparing
each operand with the nearest given, ``27 near 26, 27 - 26 = 1``, both at the cost of three
times the false alarms; with three to six times the data such lookups still flag 35-44 of 150
correct solutions, and the best of them ties this format).

The verdict words are :data:`VERDICT_CORRECT` and :data:`VERDICT_INCORRECT`; the format is the
one :func:`prmkit.scorers.generative.parse_chain` reads back.

Example:
    >>> from prmkit.worlds.arith_spec import generate_problems, reference_solution
    >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
    >>> steps = reference_solution(p)
    >>> chain = verification_chain(p, steps)
    >>> chain.splitlines()[-1].endswith(". correct"), len(chain.splitlines()) == len(steps)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prmkit.records import Problem, Solution
from prmkit.worlds.arith_parse import Equation, evaluate_expression, format_number, parse_step
from prmkit.worlds.arith_spec import OP_SYMBOL, ArithSpec, get_spec, judge_step

__all__ = ["VERDICT_CORRECT", "VERDICT_INCORRECT", "chain_line", "verification_chain"]

VERDICT_CORRECT = "correct"
VERDICT_INCORRECT = "incorrect"


def chain_line(index: int, body: str, correct: bool) -> str:
    """One line of a chain: ``Step {index}: {body}. correct`` (``index`` is 1-based).

    Example:
        >>> chain_line(3, "198 - 27 = 171, not 175", False)
        'Step 3: 198 - 27 = 171, not 175. incorrect'
    """
    return f"Step {index}: {body}. {VERDICT_CORRECT if correct else VERDICT_INCORRECT}"


def _lhs(e: Equation) -> str:
    return e.text.rsplit("=", 1)[0].strip()


def _needed(spec: ArithSpec, done: set[int], known: set, e: Equation) -> tuple[str, Any] | None:
    """The computation the problem needs that the step most likely meant: a node not yet done
    whose operands are known, sharing the most operand values (then the operation) with ``e``."""
    best, best_key = None, (0, 0)
    for j, nd in enumerate(spec.nodes):
        if j in done:
            continue
        a, b = spec.ref_value(nd["a"]), spec.ref_value(nd["b"])
        if a not in known or b not in known:
            continue
        shared = len({a, b} & set(e.operands))
        same_op = int(nd["op"] in e.ops)  # both spell operations + - * /
        key = (shared, same_op)
        if shared and key > best_key:
            best, best_key = nd, key
    if best is None:
        return None
    a, b = spec.ref_value(best["a"]), spec.ref_value(best["b"])
    text = f"{format_number(a)} {OP_SYMBOL[best['op']]} {format_number(b)} = {format_number(best['value'])}"
    return text, best["value"]


def _mark_done(spec: ArithSpec, done: set[int], e: Equation) -> None:
    for j, nd in enumerate(spec.nodes):
        if j not in done and nd["value"] == e.result:
            done.add(j)
            return


def verification_chain(
    problem: Problem | Solution | dict[str, Any], steps: Sequence[str], *, partial: bool = False
) -> str:
    """The verification chain of ``steps`` (lines joined by ``"\\n"``), one line per step up to
    and including the first incorrect one (see the module docs). ``partial=True`` judges an
    unfinished prefix (a last step without an answer is not an error), as ``check_steps``.
    The verdicts equal ``check_steps(problem, steps, partial=partial).correct`` up to the first
    error.
    """
    spec = get_spec(problem)
    known: set = set(spec.givens)
    done: set[int] = set()
    lines: list[str] = []
    for i, st in enumerate(steps):
        last = i == len(steps) - 1
        try:
            parsed = parse_step(st)
        except (ValueError, RecursionError, OverflowError):
            lines.append(chain_line(i + 1, "no equation", False))
            break
        before = set(known)
        ok, why = judge_step(parsed, known, spec.quantities, spec.answer)
        if ok and last and not partial and parsed.answer is None:
            ok, why = False, "no answer"
        if ok:
            lines.append(chain_line(i + 1, _correct_body(parsed, before), True))
            for e in parsed.equations:
                _mark_done(spec, done, e)
            continue
        lines.append(chain_line(i + 1, _error_body(spec, done, before, parsed, why), False))
        break
    return "\n".join(lines)


def _tags(operands: Sequence[Any], seen: set) -> str:
    """Where each operand stands: ``known`` (a given the problem uses, or an earlier result) or
    ``not known``, up to the first one not known.

    Example:
        >>> _tags([4, 3], {3, 4}), _tags([27, 63, 5], {63})
        ('4 known, 3 known', '27 not known')
    """
    out = []
    for o in operands:
        out.append(f"{format_number(o)} {'known' if o in seen else 'not known'}")
        if o not in seen:
            break
    return ", ".join(out)


def _correct_body(parsed: Any, known: set, recompute: bool = True) -> str:
    """The body of the line of a step judged correct: each equation's operand checks and check
    (its result known to the next), then the stated answer. ``recompute=False`` states the
    step's own results: the line the step gets if it is right, whatever it computes.

    Example:
        >>> _correct_body(parse_step("4 x 3 = 13."), {3, 4}, recompute=False)
        '4 known, 3 known; 4 x 3 = 13, 13 - 13 = 0'
    """
    seen, parts = set(known), []
    for e in parsed.equations:
        parts.append(f"{_tags(e.operands, seen)}; {_checked(e, recompute)}")
        seen.add(e.result)
    if parsed.answer is not None:
        a = format_number(parsed.answer)
        parts.append(f"the answer is {a}, {a} - {a} = 0")
    return "; ".join(parts)


def _checked(e: Equation, recompute: bool = True) -> str:
    """``lhs = recomputed, difference`` of one equation (``recompute=False``: the stated result)."""
    v = evaluate_expression(_lhs(e)) if recompute else e.result
    return f"{_lhs(e)} = {format_number(v if v is not None else e.result)}, {_diff(v if v is not None else e.result, e.result)}"


def _diff(should: Any, stated: Any) -> str:
    """``a - b = d`` with ``a`` the larger of the two (``x - x = 0`` when they agree).

    Example:
        >>> _diff(31, 11), _diff(11, 31), _diff(5, 5)
        ('31 - 11 = 20', '31 - 11 = 20', '5 - 5 = 0')
    """
    a, b = (should, stated) if should >= stated else (stated, should)
    return f"{format_number(a)} - {format_number(b)} = {format_number(a - b)}"


def _error_body(spec: ArithSpec, done: set[int], known: set, parsed: Any, why: str) -> str:
    if not parsed.equations and parsed.answer is None:
        return "no equation"
    if why == "no answer":
        return "; ".join([e.text for e in parsed.equations] + ["no answer"])
    seen: set = set(known)
    for e in parsed.equations:
        tags = _tags(e.operands, seen)
        if any(o not in seen for o in e.operands):
            return tags
        if not e.true:
            v = evaluate_expression(_lhs(e))
            if v is None:
                return f"{tags}; {e.text} is false"
            return f"{tags}; {_lhs(e)} = {format_number(v)}, {_diff(v, e.result)}"
        if e.result not in spec.quantities:
            need = _needed(spec, done, known, e)
            if need is not None and need[1] != e.result:
                return f"{tags}; {need[0]}, {_diff(need[1], e.result)}"
            return f"{tags}; {e.text}, {format_number(e.result)} is not a quantity"
        seen.add(e.result)
    # every equation passed: the stated answer is wrong
    return f"the answer is {format_number(spec.answer)}, {_diff(spec.answer, parsed.answer)}"
