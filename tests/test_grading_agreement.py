"""Labelling, search and best-of-N grade answers with one API, so they agree on every answer.

Each case is a finished solution (its steps) and a reference answer, with the verdict written
by hand: the final answer is the one stated in the last step (else anywhere), numbers are
compared by value (``\\frac12`` = ``0.5``, ``1,000`` = ``1000``), a trailing unit is dropped,
and ``\\boxed{}`` counts wherever it sits in the text. Every stage reaches the verdict through
its own entry point:

- labelling: the Monte Carlo value of a rollout that ends with these steps (1 or 0), and
  the labeller's check of a solution's own answer;
- search: ``meta["correct"]`` of a search whose policy writes these steps;
- best-of-N: the correctness ``load_pool`` gives the chosen solution the search wrote.
"""

from __future__ import annotations

import pytest

from prmkit.evaluate.bon import load_pool
from prmkit.label.base import Grader, Rollouts, solution_answer_correct
from prmkit.policies.base import Generation, Policy
from prmkit.records import Problem, Solution, write_records
from prmkit.scorers.base import Scorer
from prmkit.search import SearchConfig, search_one

CASES = [
    (["Half of 1 is 1/2.", "So the answer is $\\frac12$."], "0.5", True),
    (["1 / 2 = 0.5", "The answer is 0.5."], "\\frac{1}{2}", True),
    (["10 x 100 = 1,000", "The answer is 1,000."], "1000", True),
    (["10 x 100 = 1000", "The answer is 1000"], "1,000", True),
    (["The answer is 1,001."], "1000", False),
    (["He pays 18 dollars.", "The answer is 18 dollars."], "18", True),
    (["The answer is 19 apples."], "18", False),
    (["She has $1,200 left.", "The answer is $1,200."], "1200", True),
    (["6 x 7 = 42", "We get \\boxed{42} as the result."], "42", True),
    (["Thus \\boxed{\\frac{3}{4}} is the share."], "0.75", True),
    (["Thus \\boxed{\\frac{3}{4}} is the share."], "0.8", False),
    (["A first guess is \\boxed{5}.", "Checking again, the answer is 6."], "6", True),
    (["A first guess is \\boxed{5}.", "Checking again, the answer is 6."], "5", False),
    (["I cannot finish this."], "3", False),
    (["The answer is 0.5"], "5", False),
]
IDS = [f"c{i}" for i in range(len(CASES))]


class Fixed(Policy):
    """Every continuation is the case's whole solution, finished."""

    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        return [[Generation(list(self.steps), True, 7)] * n for _ in problems]


class Half(Scorer):
    def score_batch(self, problems, steps):
        return [[0.5] * len(s) for s in steps]


def _label_verdicts(pid: str, steps: list[str], ref: str) -> tuple[bool, bool]:
    problem = Problem(id=pid, question="q", reference_answer=ref)
    rollouts = Rollouts(Fixed(steps), problem, f"{pid}#0", seed=0, grader=Grader(), chunk=1)
    mc_value = rollouts.value([], 1)
    assert mc_value in (0.0, 1.0)
    own = solution_answer_correct(Solution(id=f"{pid}#0", problem="q", steps=steps), problem, Grader())
    return mc_value == 1.0, bool(own)


@pytest.mark.parametrize("steps,ref,expected", CASES, ids=IDS)
def test_label_and_search_agree_with_the_hand_verdict(steps, ref, expected):
    mc, own = _label_verdicts("p", steps, ref)
    res = search_one(
        Problem(id="p", question="q", reference_answer=ref), Fixed(steps), Half(), SearchConfig(n=1)
    )
    assert (mc, own, res.meta["correct"]) == (expected, expected, expected)


def test_best_of_n_pool_agrees_with_search_on_written_solutions(tmp_path):
    chosen: list[Solution] = []
    for pid, (steps, ref, _) in zip(IDS, CASES, strict=True):
        res = search_one(
            Problem(id=pid, question="q", reference_answer=ref), Fixed(steps), Half(), SearchConfig(n=1)
        )
        assert res.chosen is not None
        chosen.append(res.chosen)
    write_records(tmp_path / "chosen.jsonl", chosen)
    pool = load_pool(tmp_path / "chosen.jsonl")
    got = {p.problem_id: [s.correct for s in p.solutions] for p in pool}
    assert got == {pid: [expected] for pid, (_, _, expected) in zip(IDS, CASES, strict=True)}
