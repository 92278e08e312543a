"""Calculator scorer: exact checks of arithmetic claims."""

from __future__ import annotations

import pytest

from prmkit.errors import PrmkitError
from prmkit.scorers import load_scorer
from prmkit.scorers.calculator import CalculatorScorer, check_step, evaluate, find_claims


@pytest.mark.parametrize(
    "text,expected",
    [
        ("3 + 4 = 7", 1.0),
        ("3 + 4 = 8", 0.0),
        ("So 12 * 3 = 36 and 36 - 6 = 30.", 1.0),
        ("So 12 * 3 = 36 and 36 - 6 = 31.", 0.0),
        ("2 + 3 = 5 = 10 / 2", 1.0),  # chain
        ("2 + 3 = 5 = 10 / 3", 0.0),
        ("He earns <<48/2=24>>24 dollars", 1.0),  # GSM8K tag
        ("He earns <<48/2=25>>25 dollars", 0.0),
        ("20% of 50 = 10", 1.0),
        ("20% of 50 = 12", 0.0),
        ("0.2 * 100 = 20%", 1.0),
        ("3/4 + 1/4 = 1", 1.0),
        (r"\frac{3}{4} \times 8 = 6", 1.0),
        (r"\frac{1}{3} + \frac{1}{6} = \frac{1}{2}", 1.0),
        (r"3\frac{1}{2} = \frac{7}{2}", 1.0),  # mixed number
        ("1,200 + 300 = 1,500", 1.0),
        ("$5 × 3 = $15", 1.0),
        ("7 − 2 = 5", 1.0),
        ("2^10 = 1024", 1.0),
        ("10 / 3 = 3.33", 1.0),  # rounded to the written digits
        ("10 / 3 = 3.5", 0.0),
        ("0.1 + 0.2 = 0.3", 1.0),  # exact, no float error
        ("3(4 + 1) = 15", 1.0),
        ("Let x + 3 = 7, so x = 4.", 0.5),  # algebra is not arithmetic
        ("2x + 3 = 9", 0.5),
        ("The answer is 42.", 0.5),
        ("5 = 5", 0.5),  # no operation: nothing to check
        ("-3 + 5 = 2", 1.0),
        ("2863 / 1344 = 2 remainder 175", 0.5),  # integer division
        ("1 / 0 = 5", 0.5),  # not evaluable: not a claim
        ("3 + 4 = 7. Then 7 * 2 = 14.", 1.0),
    ],
)
def test_check_step(text, expected):
    assert check_step(text) == expected


def test_exact_fraction_arithmetic():
    from fractions import Fraction

    assert evaluate("1/3 + 1/6") == Fraction(1, 2)
    assert evaluate("(2 + 3) * 4 - 6 / 3") == Fraction(18)
    assert evaluate("25% * 80") == Fraction(20)


def test_rounding_can_be_disabled():
    assert check_step("10 / 3 = 3.33", allow_rounding=False) == 0.0


def test_claims_listed():
    claims = find_claims("He pays 5 * 3 = 15 dollars, then 15 + 2 = 18.")
    assert [(c.left, c.right, c.holds) for c in claims] == [("5 * 3", "15", True), ("15 + 2", "18", False)]


def test_scorer_neutral_and_registry():
    s = load_scorer("calculator", neutral=1.0)
    assert isinstance(s, CalculatorScorer)
    assert s.score_batch(["p"], [["hello", "1 + 1 = 3"]]) == [[1.0, 0.0]]
    with pytest.raises(PrmkitError):
        CalculatorScorer(neutral=2.0)


def test_processbench_gsm8k_smoke(shared_data):
    import json

    rows = json.loads((shared_data / "processbench" / "gsm8k.json").read_text())[:100]
    scores = CalculatorScorer().score_batch([r["problem"] for r in rows], [r["steps"] for r in rows])
    correct = [s for s, r in zip(scores, rows, strict=True) if r["label"] == -1]
    # correct solutions are almost never flagged; some steps are checked
    flagged = sum(any(v == 0.0 for v in s) for s in correct)
    assert flagged <= 0.05 * len(correct)
    assert sum(v == 1.0 for s in scores for v in s) > 50
