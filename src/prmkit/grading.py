"""Final-answer extraction and equivalence (math-verify), safe in threads and processes.

This is the one answer-grading API of prmkit: labelling (``prmkit.label``), search accuracy
(``prmkit.search``), best-of-N pools (``prmkit.evaluate.bon``) and the RL outcome reward all call
these functions, so the stages cannot disagree on whether an answer is right
(``tests/test_grading_agreement.py`` checks it).

- :func:`extract_answer`: the last ``\\boxed{...}`` (nested braces ok), else the last
  "answer is X", else a GSM8K ``#### X`` line.
- :func:`solution_answer`: the final answer of a solution given as steps (the last step's, else
  the whole text's).
- :func:`is_equivalent`: exact match after light normalisation, else math-verify. Results are
  cached (``functools.lru_cache``). math-verify's own timeouts use ``signal.alarm``, which only
  works in a process's main thread: elsewhere they are disabled (``parsing_timeout=None``,
  ``timeout_seconds=None``).
- :func:`is_correct`: :func:`is_equivalent` that says ``None`` when there is no reference.
- :func:`grade_batch`: many ``(prediction, reference)`` pairs over a process pool.

Example:
    >>> extract_answer("so $x = \\\\boxed{\\\\frac{1}{2}}$.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Natalia sold 48+24 = 72 clips.\\n#### 72")
    '72'
    >>> is_equivalent("0.5", "\\\\frac{1}{2}")
    True
    >>> is_equivalent("3", "4")
    False
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

from math_verify import parse, verify

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(r"\banswer is[:\s]*", re.MULTILINE | re.IGNORECASE)
_GSM8K = re.compile(r"^\s*####\s*(.+?)\s*$", re.MULTILINE)


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at ``text[start - 1] == '{'`` (None if unclosed)."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def _clean(ans: str) -> str:
    ans = ans.strip().rstrip(".").strip()
    ans = re.sub(r"^\$+|\$+$", "", ans).strip()
    ans = re.sub(r"^\\\(|\\\)$", "", ans).strip()
    ans = re.sub(r"^\\\[|\\\]$", "", ans).strip()
    return ans.rstrip(".").strip()


def extract_answer(text: str | None) -> str | None:
    """The final answer stated in ``text``, or ``None``.

    Example:
        >>> extract_answer("\\\\boxed{\\\\{1, 2\\\\}} then \\\\boxed{x^{2}}")
        'x^{2}'
        >>> extract_answer("Thus the answer is $18$.")
        '18'
        >>> extract_answer("no answer here") is None
        True
    """
    if not text:
        return None
    boxed = None
    for m in _BOXED.finditer(text):
        content = _braced(text, m.end())
        if content is not None:
            boxed = content
    if boxed is not None:
        return boxed.strip()
    found = list(_ANSWER_IS.finditer(text))
    if found:
        rest = text[found[-1].end() :].split("\n", 1)[0]
        ans = _clean(rest)
        if ans:
            return ans
    g = _GSM8K.findall(text)
    if g:
        return _clean(g[-1]).replace(",", "")
    return None


def _normalise(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\text\{\s*([^{}]*?)\s*\}", r"\1", s)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("dfrac", "frac")
    s = s.replace("tfrac", "frac").replace("^\\circ", "").replace("^{\\circ}", "")
    return re.sub(r"\s+", "", s).rstrip(".")


_NUMBER_WITH_UNIT = re.compile(r"^\s*\$?\s*([-+]?\d[\d,]*(?:\.\d+)?)\s*(?:[A-Za-z][A-Za-z ]*)?\.?\s*$")


def _strip_unit(s: str) -> str:
    """``"18 dollars"`` -> ``"18"``, ``"$1,200"`` -> ``"1200"``; anything else unchanged (LaTeX is
    left to math-verify, which would read ``18 dollars`` as a product of symbols)."""
    m = _NUMBER_WITH_UNIT.match(s)
    return m.group(1).replace(",", "") if m else s


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@functools.lru_cache(maxsize=65536)
def _equivalent(pred: str, ref: str, use_timeouts: bool) -> bool:
    if _normalise(pred) == _normalise(ref):
        return True
    pred, ref = _strip_unit(pred), _strip_unit(ref)
    timeout = 5 if use_timeouts else None
    if not use_timeouts:  # we disable them on purpose (signals only work in the main thread)
        for name in ("math_verify.parser", "math_verify.grader"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        gold = parse(f"${ref}$", parsing_timeout=timeout)  # type: ignore[arg-type]
        target = parse(f"${pred}$", parsing_timeout=timeout)  # type: ignore[arg-type]
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=timeout))
    except Exception:  # math-verify / sympy failures mean "not shown equivalent"
        return False


def is_equivalent(pred: str | None, ref: str | None) -> bool:
    """Whether answer ``pred`` equals reference ``ref`` (math-verify; cached; thread-safe).

    Example:
        >>> is_equivalent("\\\\dfrac{3}{4}", "0.75"), is_equivalent(None, "1")
        (True, False)
        >>> is_equivalent("18 dollars", "18"), is_equivalent("$1,200", "1200"), is_equivalent("19 apples", "18")
        (True, True, False)
    """
    if pred is None or ref is None:
        return False
    return _equivalent(str(pred), str(ref), _in_main_thread())


def is_correct(answer: str | None, reference: str | None) -> bool | None:
    """Whether ``answer`` is right: ``None`` when there is no reference, ``False`` for no answer.

    Example:
        >>> is_correct("1,000", "1000"), is_correct(None, "7"), is_correct("7", None) is None
        (True, False, True)
    """
    if reference is None:
        return None
    return is_equivalent(answer, reference)


def solution_answer(steps: Sequence[str]) -> str | None:
    """The final answer of a solution given as steps: the answer stated in the last step, else
    the last one stated anywhere in the steps (joined by blank lines).

    Example:
        >>> solution_answer(["2*3=6", "6+1=7", "The answer is 7."])
        '7'
        >>> solution_answer(["so \\\\boxed{6}", "we checked it"]), solution_answer([])
        ('6', None)
    """
    if not steps:
        return None
    ans = extract_answer(steps[-1])
    if ans is None and len(steps) > 1:
        ans = extract_answer("\n\n".join(steps))
    return ans


def _grade_chunk(chunk: list[tuple[str | None, str | None]]) -> list[bool]:
    return [is_equivalent(p, r) for p, r in chunk]


def grade_batch(
    pairs: Iterable[tuple[str | None, str | None]], workers: int = 2, chunk_size: int = 32
) -> list[bool]:
    """Grade many ``(prediction, reference)`` pairs, in ``workers`` processes (1 = in process).

    Example:
        >>> grade_batch([("1/2", "0.5"), ("2", "3")], workers=1)
        [True, False]
    """
    items = list(pairs)
    if workers <= 1 or len(items) <= chunk_size:
        return _grade_chunk(items)
    chunks: Sequence[list] = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    # fork is fast and needs no __main__ guard, but is unsafe once other threads run: then spawn
    ctx = mp.get_context("fork" if threading.active_count() == 1 else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        out: list[bool] = []
        for res in ex.map(_grade_chunk, chunks):
            out.extend(res)
    return out
