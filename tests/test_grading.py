"""Answer extraction, math-verify equivalence (threads, processes) and the MATH-500 check."""

from __future__ import annotations

import json
import threading
import time

import pytest

from prmkit.grading import extract_answer, grade_batch, is_equivalent


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{\\frac{1}{\\sqrt{2}}} done", "\\frac{1}{\\sqrt{2}}"),
        ("\\boxed{1} then \\boxed{\\{a, b\\}}", "\\{a, b\\}"),
        ("\\fbox{7}", "7"),
        ("Therefore, the answer is $\\pi$.", "\\pi"),
        ("The final answer is: 42", "42"),
        ("She has 3+4=<<3+4=7>>7.\n#### 1,000", "1000"),
        ("nothing to see", None),
        ("\\boxed{unclosed", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "pred, ref, ok",
    [
        ("0.5", "\\frac12", True),
        ("\\dfrac{3}{4}", "0.75", True),
        ("x+1", "1+x", True),
        ("2", "3", False),
        ("\\text{(C)}", "(C)", True),
        (None, "1", False),
    ],
)
def test_is_equivalent(pred, ref, ok):
    assert is_equivalent(pred, ref) is ok


def test_equivalence_in_threads():
    # math-verify timeouts use signal.alarm: would raise outside the main thread if not disabled
    out: list[bool] = []
    ts = [threading.Thread(target=lambda: out.append(is_equivalent("2(x+1)", "2x+2"))) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == [True, True, True]


def test_grade_batch_processes():
    pairs = [("1/2", "0.5"), ("3", "4")] * 40
    assert grade_batch(pairs, workers=2, chunk_size=8) == [True, False] * 40


def test_math500_reference_answers(shared_data):
    rows = [json.loads(x) for x in (shared_data / "math500" / "test.jsonl").open()]
    assert len(rows) == 500
    t0 = time.time()
    pairs = [(extract_answer(r["solution"]), r["answer"]) for r in rows]
    res = grade_batch(pairs, workers=2)
    fails = [
        (r["unique_id"], p, r["answer"]) for r, (p, _), ok in zip(rows, pairs, res, strict=True) if not ok
    ]
    for f in fails:
        print("MATH-500 mismatch:", f)
    rate = 1 - len(fails) / len(rows)
    print(f"MATH-500 reference answers equivalent: {rate:.3f} in {time.time() - t0:.1f}s")
    assert rate >= 0.99, f"only {rate:.3f} equivalent; failures: {fails[:20]}"
