"""Labellers on hand-checkable examples (docs/methods.md#c-step-labels) with small fake policies and scorers."""

from __future__ import annotations

import hashlib

import pytest

from prmkit.errors import PrmkitError
from prmkit.label import (
    LABELLERS,
    LabelContext,
    LabelOutcome,
    apply_scan,
    make_labeller,
    scan_tolerance_labels,
)
from prmkit.label.adaptive import decide, failures_to_reject
from prmkit.label.base import Rollouts, derive_seed, labels_hard, wilson_bounds
from prmkit.label.binary import binary_search_first_error, omega_q, omega_u
from prmkit.label.judge import ConsensusLabeller, JudgeLabeller, consensus_labels
from prmkit.policies.base import Generation, Policy
from prmkit.records import Problem, Solution, first_error_of
from prmkit.scorers.base import Scorer

RIGHT, WRONG = "The answer is 7.", "The answer is 0."


class PerfectPolicy(Policy):
    """Rollouts succeed iff the prefix holds no wrong step (``"bad"``); a perfect MC oracle.

    ``calls`` records every (prefix length, n, seed) requested.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        out = []
        for _p, prefix in zip(problems, prefixes, strict=True):
            self.calls.append((len(prefix), n, seed))
            ok = not any("bad" in s for s in prefix)
            out.append([Generation(steps=["go on", RIGHT if ok else WRONG], finished=True, num_tokens=3)] * n)
        return out


class CountPolicy(Policy):
    """Exactly ``k`` of every ``n`` rollouts (the first ``k`` indices) succeed, from any prefix."""

    def __init__(self, k: int) -> None:
        self.k = k

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        return [
            [
                Generation(steps=[RIGHT if i < self.k else WRONG], finished=True, num_tokens=1)
                for i in range(n)
            ]
            for _ in problems
        ]


class HashPolicy(Policy):
    """Stochastic but deterministic in (seed, prefix, index): success prob 0.6 before a bad step,
    0.05 after one ("miracles"). Rollouts have 1-3 steps."""

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        out = []
        for _p, prefix in zip(problems, prefixes, strict=True):
            row = []
            for i in range(n):
                h = hashlib.sha256(f"{seed}|{'|'.join(prefix)}|{i}".encode()).digest()
                u = int.from_bytes(h[:4], "big") / 2**32
                p = 0.05 if any("bad" in s for s in prefix) else 0.6
                k = 1 + h[5] % 3
                steps = [f"step {j} of {i}" for j in range(k - 1)] + [RIGHT if u < p else WRONG]
                row.append(Generation(steps=steps, finished=True, num_tokens=k))
            out.append(row)
        return out


PROBLEM = Problem(id="q", question="?", reference_answer="7")


def sol(steps: list[str], sid: str = "q#0", answer: str | None = None) -> Solution:
    return Solution(id=sid, problem="?", steps=steps, reference_answer="7", answer=answer)


def wrong_solution(n_steps: int, first_error: int) -> Solution:
    steps = [f"s{i}" if i < first_error else f"bad{i}" for i in range(n_steps - 1)]
    return sol(steps + [WRONG])


# ---------------------------------------------------------------- C1 Monte Carlo


def test_c1_hard_and_soft_from_3_of_8():
    ctx = LabelContext(policy=CountPolicy(3))
    s = sol(["a", "b"])  # no final answer: the last step is rolled out too
    soft = make_labeller("mc", n=8, label_type="soft").label(s, PROBLEM, ctx)
    hard = make_labeller("mc", n=8).label(s, PROBLEM, ctx)
    assert soft.labels == [0.375, 0.375]
    assert hard.labels == [1.0, 1.0]
    assert soft.rollouts == 16 and soft.tokens == 16
    zero = make_labeller("mc", n=8, label_type="soft").label(s, PROBLEM, LabelContext(policy=CountPolicy(0)))
    assert zero.labels == [0.0, 0.0]
    assert labels_hard(zero.labels) == [0.0, 0.0]


def test_mc_perfect_policy_and_exact_last_step():
    pol = PerfectPolicy()
    s = wrong_solution(5, 2)  # steps: s0 s1 bad2 bad3 WRONG
    out = make_labeller("mc", n=4).label(s, PROBLEM, LabelContext(policy=pol))
    assert out.labels == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert out.rollouts == 16  # 4 prefixes x 4; the finished last step is valued from its own answer
    pv = out.meta["prefix_values"]
    assert [e["prefix_len"] for e in pv][-1] in (5, 4) and any(e.get("exact") for e in pv)


def test_mc_early_stop_unknown_after_and_zero_option():
    s = wrong_solution(6, 1)
    out = make_labeller("mc", n=4, early_stop=True).label(s, PROBLEM, LabelContext(policy=PerfectPolicy()))
    assert out.labels == [1.0, 0.0, None, None, None, None]
    assert out.rollouts == 8
    z = make_labeller("mc", n=4, early_stop=True, after_error="zero").label(
        s, PROBLEM, LabelContext(policy=PerfectPolicy())
    )
    assert z.labels == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_mc_witness_option_costs_nothing():
    s = sol(["a", "b", RIGHT], answer="7")
    out = make_labeller("mc", n=8, use_solution_answer=True).label(
        s, PROBLEM, LabelContext(policy=CountPolicy(0))
    )
    assert out.labels == [1.0, 1.0, 1.0] and out.rollouts == 0
    with pytest.raises(PrmkitError, match="hard labels only"):
        make_labeller("mc", use_solution_answer=True, label_type="soft")


# ---------------------------------------------------------------- C2 binary search / OmegaPRM


def test_c2_q_u_selection_score():
    assert omega_q(0.25, 100) == pytest.approx(0.5822, abs=1e-4)
    assert omega_u(1, 4) == pytest.approx(0.125)
    assert omega_q(0.25, 100) + omega_u(1, 4) == pytest.approx(0.7072, abs=1e-4)


def test_c2_binary_search_trace_on_8_steps():
    steps = [f"s{i}" for i in range(5)] + ["bad5", "bad6", "bad7"]
    ro = Rollouts(PerfectPolicy(), PROBLEM, "q#0", 0, LabelContext().grader, chunk=8)
    trace: list[int] = []
    fe = binary_search_first_error(ro, [], steps, 8, trace)
    assert trace == [4, 6, 5] and fe == 5
    assert ro.rollouts == 24


def test_binary_labeller_labels_and_prefix_values():
    pol = PerfectPolicy()
    s = wrong_solution(9, 5)
    out = make_labeller("binary", n=8).label(s, PROBLEM, LabelContext(policy=pol))
    assert first_error_of(out.labels) == 5
    assert out.labels == [1.0] * 5 + [0.0] + [None] * 3
    assert out.meta["search"] == [4, 6, 5]
    vals = {e["prefix_len"]: e["value"] for e in out.meta["prefix_values"]}
    assert vals == {9: 0.0, 4: 1.0, 6: 0.0, 5: 1.0}
    assert out.rollouts == 24  # 3 estimates x 8 vs MC's 8 x 8 = 64


def test_binary_correct_solution_is_its_own_witness():
    out = make_labeller("binary").label(
        sol(["a", RIGHT], answer="7"), PROBLEM, LabelContext(policy=PerfectPolicy())
    )
    assert out.labels == [1.0, 1.0] and out.rollouts == 0


def test_binary_caches_prefix_values():
    pol = PerfectPolicy()
    ro = Rollouts(pol, PROBLEM, "q#0", 0, LabelContext().grader, chunk=4)
    ro.value(["a"], 4)
    ro.value(["a"], 4)
    assert len(pol.calls) == 1 and ro.rollouts == 4


def test_omega_selection_terminates_and_never_reselects():
    # rollouts of 1-3 steps, many wrong: the pool keeps refilling; the limit and the
    # no-reselection rule must stop it
    s = wrong_solution(8, 6)
    lab = make_labeller("binary", n=4, selection="omega", search_limit=6)
    out = lab.label(s, PROBLEM, LabelContext(policy=HashPolicy(), seed=3))
    assert 1 <= out.meta["searches"] <= 6
    prefixes = [tuple(e.get("steps", [])) for e in out.meta["prefix_values"] if "steps" in e]
    assert len(prefixes) == len(set(prefixes))  # each tree node emitted once
    assert all("value" in e and 0 <= e["value"] <= 1 for e in out.meta["prefix_values"])
    budget = make_labeller("binary", n=4, selection="omega", search_limit=1000, rollout_budget=40)
    ob = budget.label(s, PROBLEM, LabelContext(policy=HashPolicy(), seed=3))
    assert ob.rollouts < 40 + 4 * 3 * 1  # stops selecting once the budget is spent (one search overshoot)


def test_omega_one_step_rollouts_need_no_estimate():
    class OneStepWrong(Policy):
        def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
            # half the rollouts right (so 0 < MC < 1 and the pool fills), wrong ones one step long
            return [[Generation([RIGHT if i % 2 else WRONG], True, 1) for i in range(n)] for _ in problems]

    s = wrong_solution(4, 3)
    out = make_labeller("binary", n=2, selection="omega", search_limit=50).label(
        s, PROBLEM, LabelContext(policy=OneStepWrong())
    )
    # every rollout is the same one-step sequence, so dedup leaves few searches and no extra estimates
    assert out.meta["searches"] <= 4
    assert out.rollouts == len(out.meta["search"]) * 2 + 0


# ---------------------------------------------------------------- adaptive


def test_adaptive_decision_rule():
    z = 1.2816
    assert decide(1, 1, threshold=0.0, min_success=0.2, z=z) is True
    assert decide(0, 6, threshold=0.0, min_success=0.2, z=z) is None
    assert decide(0, 7, threshold=0.0, min_success=0.2, z=z) is False  # Wilson upper 0.19 < 0.2
    assert decide(3, 4, threshold=0.5, min_success=0.6, z=z) is None
    assert decide(10, 10, threshold=0.5, min_success=0.6, z=z) is True
    assert failures_to_reject(0.9, 0.2) == 7
    assert failures_to_reject(0.95, 0.2) == 11
    lo, hi = wilson_bounds(0, 7, z)
    assert lo == 0 and hi == pytest.approx(0.19, abs=1e-2)


def test_adaptive_spends_one_rollout_per_good_step_and_stops_at_error():
    s = wrong_solution(8, 3)
    out = make_labeller("adaptive").label(s, PROBLEM, LabelContext(policy=PerfectPolicy()))
    assert out.labels == [1.0, 1.0, 1.0, 0.0] + [None] * 4
    assert out.rollouts == 3 * 1 + 7
    assert out.meta["decided"][:4] == [True, True, True, True]
    par = make_labeller("adaptive", sequential=False).label(s, PROBLEM, LabelContext(policy=PerfectPolicy()))
    assert par.labels == out.labels


def test_adaptive_undecided_falls_back_to_estimate():
    out = make_labeller("adaptive", n=3, confidence=0.99, min_success=0.2).label(
        sol(["a", "b"]), PROBLEM, LabelContext(policy=CountPolicy(0))
    )
    assert out.labels[0] == 0.0 and out.meta["decided"][0] is False and out.rollouts == 3


def test_adaptive_bad_options():
    with pytest.raises(PrmkitError, match="min_success"):
        make_labeller("adaptive", threshold=0.3, min_success=0.2)
    with pytest.raises(PrmkitError, match="confidence"):
        make_labeller("adaptive", confidence=1.5)


# ---------------------------------------------------------------- C3 judge and consensus


class FixedScorer(Scorer):
    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        self.calls = 0

    def score_batch(self, problems, steps):
        self.calls += 1
        return [list(self.scores[: len(s)]) for s in steps]


class FixedValues(LABELLERS.get("mc")):
    """A stand-in MC labeller returning given soft values (C3's example)."""

    def __init__(self, values):
        super().__init__(n=8, label_type="soft")
        self._values = values

    def label(self, solution, problem, ctx):
        return LabelOutcome(labels=list(self._values), meta={"values": self._values}, rollouts=32)


def test_c3_consensus_examples():
    s = sol(["a", "b", "c", "d"])
    mc = FixedValues([0.5, 0.25, 0.0, 0.0])
    # MC soft labels are thresholded at 0.5 by first_error_of: use hard MC labels as C3 says
    mc_hard = FixedValues(labels_hard([0.5, 0.25, 0.0, 0.0]))
    keep = ConsensusLabeller(first=mc_hard, second=JudgeLabeller(scorer=FixedScorer([1, 1, 0, 0])))
    o = keep.label(s, PROBLEM, LabelContext())
    assert o.dropped is None and o.labels == [1.0, 1.0, 0.0, None] and o.rollouts == 32
    drop = ConsensusLabeller(first=mc_hard, second=JudgeLabeller(scorer=FixedScorer([1, 0, 0, 0])))
    od = drop.label(s, PROBLEM, LabelContext())
    assert od.labels is None and "mc=2" in od.dropped and "judge=1" in od.dropped
    all_good = ConsensusLabeller(
        first=FixedValues([1, 1, 1, 1]), second=JudgeLabeller(scorer=FixedScorer([1] * 4))
    )
    assert all_good.label(s, PROBLEM, LabelContext()).labels == [1.0] * 4
    assert consensus_labels(2, 2, 3) == [1.0, 1.0, 0.0]
    assert mc.label(s, PROBLEM, LabelContext()).labels == [0.5, 0.25, 0.0, 0.0]


def test_judge_labeller_from_scorer_registry():
    from prmkit.scorers.base import SCORERS

    name = "test-label-fake-judge"
    if name not in SCORERS:

        @SCORERS.register(name)
        class _Fake(Scorer):
            def __init__(self, bad_at: int = 1) -> None:
                self.bad_at = bad_at

            def score_batch(self, problems, steps):
                return [[0.9 if i < self.bad_at else 0.1 for i in range(len(s))] for s in steps]

    lab = make_labeller("judge", scorer=name, scorer_options={"bad_at": 2})
    out = lab.label(sol(["a", "b", "c"]), PROBLEM, LabelContext())
    assert out.labels == [1.0, 1.0, 0.0] and out.rollouts == 0
    assert out.meta["judge_scores"] == [0.9, 0.9, 0.1]
    assert not lab.needs_policy()


def test_judge_unparsable_is_dropped_not_correct():
    class Unparsable(Scorer):
        def score_batch(self, problems, steps):
            return [[None] * len(s) for s in steps]

    out = JudgeLabeller(scorer=Unparsable()).label(sol(["a", "b"]), PROBLEM, LabelContext())
    assert out.labels is None and out.dropped.startswith("judge-unparsable")
    cons = ConsensusLabeller(first=FixedValues([1, 1]), second=JudgeLabeller(scorer=Unparsable()))
    oc = cons.label(sol(["a", "b"]), PROBLEM, LabelContext())
    assert oc.labels is None and oc.dropped.startswith("judge-unparsable")


def test_judge_wrong_length_is_an_error():
    lab = JudgeLabeller(scorer=FixedScorer([1.0]))
    with pytest.raises(PrmkitError, match="1 scores for 3 steps"):
        lab.label(sol(["a", "b", "c"]), PROBLEM, LabelContext())


def test_consensus_with_real_mc_and_fake_judge():
    s = wrong_solution(6, 2)
    lab = ConsensusLabeller(first="mc", second=JudgeLabeller(scorer=FixedScorer([1, 1, 0, 0, 0, 0])), n=4)
    o = lab.label(s, PROBLEM, LabelContext(policy=PerfectPolicy()))
    assert o.dropped is None and o.labels == [1.0, 1.0, 0.0, None, None, None]
    assert o.rollouts == 12  # MC with early stop: 3 prefixes x 4


# ---------------------------------------------------------------- C4 SCAN


def test_c4_tolerance_labels():
    assert scan_tolerance_labels([0.75, 0.5, 0.25, 0.0], 0.8) == [1.0, 0.625, 0.3125, 0.0]
    assert scan_tolerance_labels([0.75, 0.5, 0.25, 0.0], 0.8, window=0) == [1.0, 1.0, 1.0, 0.0]
    assert scan_tolerance_labels([0.9, 0.0, None], 0.5) == [1.0, 0.0, None]
    assert scan_tolerance_labels([0.9, 0.4], 0.5) is None


def test_c4_apply_scan_filter_and_correct_responses():
    o = LabelOutcome(labels=[1, 1, 1, 0], meta={"values": [0.75, 0.5, 0.25, 0.0]}, rollouts=32)
    assert apply_scan(o, n_steps=4, answer_correct=False, sc=0.8).labels == [1.0, 0.625, 0.3125, 0.0]
    low = apply_scan(o, n_steps=4, answer_correct=False, sc=0.7)
    assert low.labels is None and low.dropped.startswith("scan-low-confidence") and low.rollouts == 32
    assert apply_scan(o, n_steps=4, answer_correct=True, sc=0.9).labels == [1.0] * 4
    none = LabelOutcome(labels=[1, 1], meta={"values": [0.5, 0.5]})
    assert apply_scan(none, n_steps=2, answer_correct=False, sc=0.9).dropped.startswith("scan-no-zero-step")


# ---------------------------------------------------------------- determinism and errors


def test_labels_depend_only_on_seed_record_and_prefix():
    s1, s2 = wrong_solution(6, 4), wrong_solution(5, 2)
    s2.id = "q#1"
    for name, opts in (("mc", {"n": 4}), ("binary", {"n": 4, "selection": "omega"}), ("adaptive", {})):
        lab = make_labeller(name, **opts)
        a = [lab.label(s, PROBLEM, LabelContext(policy=HashPolicy(), seed=5)) for s in (s1, s2)]
        b = [lab.label(s, PROBLEM, LabelContext(policy=HashPolicy(), seed=5)) for s in (s2, s1)][::-1]
        assert [(o.labels, o.meta, o.rollouts) for o in a] == [(o.labels, o.meta, o.rollouts) for o in b]
    other = make_labeller("mc", n=4, label_type="soft").label(
        s1, PROBLEM, LabelContext(policy=HashPolicy(), seed=6)
    )
    same = make_labeller("mc", n=4, label_type="soft").label(
        s1, PROBLEM, LabelContext(policy=HashPolicy(), seed=5)
    )
    assert other.labels != same.labels
    assert derive_seed(0, "q#0", "x", 1) != derive_seed(0, "q#1", "x", 1)


def test_bad_labeller_options_and_names():
    with pytest.raises(PrmkitError, match="unknown labeller 'nope'"):
        make_labeller("nope")
    with pytest.raises(PrmkitError, match="bad options for labeller 'mc'"):
        make_labeller("mc", bogus=1)
    with pytest.raises(PrmkitError, match="n must be >= 1"):
        make_labeller("binary", n=0)
    with pytest.raises(PrmkitError, match="needs a policy"):
        make_labeller("mc").label(sol(["a"]), PROBLEM, LabelContext())


def test_policy_returning_wrong_count_is_an_error():
    class Short(Policy):
        def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
            return [[Generation([RIGHT], True, 1)] for _ in problems]

    with pytest.raises(PrmkitError, match="expected 4"):
        make_labeller("mc", n=4).label(sol(["a"]), PROBLEM, LabelContext(policy=Short()))
