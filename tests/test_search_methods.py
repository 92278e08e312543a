"""Each search method on fake policies/scorers with hand-checkable outcomes (docs/methods.md#e-search)."""

from __future__ import annotations

import math

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import Problem
from prmkit.search import SearchConfig, rechoose, search, search_one
from prmkit.search.early_rejection import truncate_step
from prmkit.search.mcts import priors, puct_score, uct_score
from prmkit.search.pats import next_mode
from search_fakes import GoodScorer, NumberScorer, ScriptPolicy, TreePolicy

P = Problem(id="p0", question="What is it?", reference_answer="42")


def run(policy, scorer, **kw):
    return search_one(P, policy, scorer, SearchConfig(**kw).validate())


# ---------------------------------------------------------------- best-of-N


def test_best_of_n_rules_and_aggregations():
    # answers A,A,A,B with last-step scores 0.3,0.4,0.5,0.9 (docs/methods.md#b2-answer-rules)
    pol = ScriptPolicy([["r0.3 END A", "r0.4 END A", "r0.5 END A", "r0.9 END B"]])
    pol.script = [[f"{s.split()[0]} END The answer is {s.split()[-1]}" for s in pol.script[0]]]
    res = run(pol, NumberScorer(), method="best-of-n", n=4, agg="last")
    assert res.answer == "B"
    assert len(res.candidates) == 4 and res.meta["n_finished"] == 4
    assert rechoose(res, "last", "majority").answer == "A"
    assert rechoose(res, "last", "weighted_vote").answer == "A"
    assert rechoose(res, "last", "hmrv", tau=0.8).answer == "B"
    assert rechoose(res, "last", "wrfv").answer == "A"
    for agg in ("min", "prod", "mean", "geometric"):
        assert rechoose(res, agg, "best_of_n").answer == "B"
    assert res.compute.policy_calls == 1 and res.compute.scorer_calls == 1
    assert res.compute.generated_tokens == sum(c.meta["num_tokens"] for c in res.candidates)


def test_best_of_n_prefers_finished_over_higher_scored_unfinished():
    pol = ScriptPolicy([["r0.99 no end", "r0.2 END The answer is 5"]])
    res = run(pol, NumberScorer(), method="best-of-n", n=2, max_steps=1, agg="last")
    assert res.answer == "5" and not res.meta["chose_unfinished"]
    unfinished = [c for c in res.candidates if not c.meta["finished"]]
    assert unfinished and unfinished[0].meta["stop_reason"] == "max_steps"


# ---------------------------------------------------------------- beam search (E1)


def test_beam_keeps_top_k_and_reexpands_each_survivor():
    # N=4, M=2: first-step scores [0.2, 0.9, 0.5, 0.7] keep indices 1 and 3
    pol = ScriptPolicy([["r0.2 a", "r0.9 b", "r0.5 c", "r0.7 d"], ["r1 END The answer is 42"]])
    res = run(pol, NumberScorer(), method="beam", n=4, width=2, agg="last")
    assert res.meta["kept_per_step"][0] == [1, 3]
    prefixes, n, max_steps = pol.calls[1]
    assert prefixes == [["r0.9 b"], ["r0.7 d"]] and n == 2 and max_steps == 1
    assert res.answer == "42" and res.chosen.steps[0] in ("r0.9 b", "r0.7 d")


def test_beam_finds_all_good_path():
    pol = TreePolicy(length=5, p_good=0.4)
    res = run(pol, GoodScorer(), method="beam", n=16, width=4)
    assert res.answer == "42" and all(s.startswith("good") for s in res.chosen.steps[:-1])
    # best-of-16 with the same policy rarely has an all-good sample (0.4^5 = 1%)
    bon = run(TreePolicy(length=5, p_good=0.4), GoodScorer(), method="best-of-n", n=16)
    assert bon.answer == "7"


def test_beam_lookahead_counts_compute_and_ranks_on_rollout():
    pol = TreePolicy(length=4, p_good=0.5)
    plain = run(pol, GoodScorer(), method="beam", n=4, width=2)
    la = run(TreePolicy(length=4, p_good=0.5), GoodScorer(), method="beam", n=4, width=2, lookahead=1)
    assert la.compute.generated_tokens > plain.compute.generated_tokens
    assert la.compute.policy_calls > plain.compute.policy_calls


# ---------------------------------------------------------------- DVTS (E2)


def test_dvts_returns_only_finished_and_splits_subtrees():
    pol = TreePolicy(length=3, p_good=0.5)
    res = run(pol, GoodScorer(), method="dvts", n=16, width=4)
    assert res.meta["subtrees"] == 4
    assert res.candidates and all(c.meta["finished"] for c in res.candidates)
    # the 4 subtrees' identical empty prefixes are one request for 4 x 4 distinct samples
    assert pol.calls[0] == ([[]], 16, 1)
    # the next call continues one prefix per subtree: 4 distinct first steps
    assert len({tuple(p[:1]) for p in pol.calls[1][0]}) == 4
    assert res.answer == "42"


def test_dvts_never_returns_unfinished():
    res = run(TreePolicy(finish=False), GoodScorer(), method="dvts", n=8, width=4, max_steps=5)
    assert res.candidates == [] and res.chosen is None
    assert res.meta["unfinished_subtrees"] == 2


def test_dvts_n_not_divisible_raises():
    with pytest.raises(PrmkitError, match="divisible"):
        run(TreePolicy(), GoodScorer(), method="dvts", n=10, width=4)


# ---------------------------------------------------------------- greedy (E3)


def test_greedy_picks_argmax_and_first_on_ties():
    pol = ScriptPolicy([["r0.3 a", "r0.8 b", "r0.5 c"], ["r0.6 x END The answer is 1", "r0.6 y", "r0.6 z"]])
    res = run(pol, NumberScorer(), method="greedy", n=3, agg="last")
    assert res.meta["choices"] == [1, 0]
    assert res.chosen.steps == ["r0.8 b", "r0.6 x END The answer is 1"]
    assert len(pol.calls) == 2 and all(n == 3 for _, n, _ in pol.calls)


# ---------------------------------------------------------------- MCTS (E4)


def test_uct_formula_methods_example():
    a, b = uct_score(0.6, 3, 2), uct_score(0.5, 3, 1)
    assert a == pytest.approx(1.648, abs=1e-3) and b == pytest.approx(1.982, abs=1e-3)
    assert b > a
    assert uct_score(0.1, 3, 0) == math.inf


def test_puct_formula():
    c = math.log((3 + 19652 + 1) / 19652) + 1.25
    assert puct_score(0.6, 0.5, 3, 1) == pytest.approx(0.6 + c * 0.5 * math.sqrt(3) / 2)
    # an unvisited child with a prior beats a visited one of equal value
    assert puct_score(0.5, 0.5, 4, 0) > puct_score(0.5, 0.5, 4, 3)
    assert priors([None, None]) == [0.5, 0.5]


@pytest.mark.parametrize("selection", ["puct", "uct"])
def test_mcts_finds_good_path(selection):
    res = run(
        TreePolicy(length=3, p_good=0.5),
        GoodScorer(),
        method="mcts",
        width=3,
        mcts_iterations=6,
        mcts_selection=selection,
    )
    assert res.answer == "42" and not res.meta["chose_unfinished"]
    assert res.meta["root_visits"] >= 1


def test_mcts_never_finishing_policy_terminates_marked():
    pol = TreePolicy(finish=False)
    res = run(pol, GoodScorer(), method="mcts", width=2, mcts_iterations=50, max_steps=4)
    assert res.meta["chose_unfinished"] and not res.chosen.meta["finished"]
    assert all(len(c.steps) <= 4 for c in res.candidates)
    assert len(pol.calls) <= 50 * 5


# ---------------------------------------------------------------- early rejection (E5)


def test_early_rejection_counts_and_prunes_by_partial_reward():
    # N=4, M=2: 8 partial candidates per step, keep 2, complete 2 (docs/methods.md#e5-early-rejection)
    long = "x " * 20
    step1 = [f"r0.{k} {long}" for k in (1, 9, 2, 8, 3, 4, 5, 6)]
    pol = ScriptPolicy([step1, ["r1 END The answer is 42"]])
    res = run(pol, NumberScorer(), method="early-rejection", n=4, width=2, tau=2, agg="last")
    prefixes, n, _ = pol.calls[0]
    assert len(prefixes) * n == 8
    assert {c.steps[0].split()[0] for c in res.candidates} <= {"r0.9", "r0.8"}
    assert sum(len(p) * m for p, m, _ in pol.calls[1:]) == 8  # next step: 2 beams x 4
    assert res.compute.extra["tokens_without_early_stop"] == 8 * 21 + 8 * 6
    # each step: 6 rejected candidates charged tau=2 tokens, the 2 kept their full length (21, then 6)
    assert res.compute.generated_tokens == 6 * 2 + 2 * 21 + 6 * 2 + 2 * 6
    assert res.answer == "42"


def test_truncate_step():
    assert truncate_step(object(), "a b c d", 4, 10) == "a b c d"
    assert truncate_step(object(), "abcdefgh", 4, 2) == "abcd"

    class P:
        def truncate_tokens(self, step, tau):
            return step.split()[0]

    assert truncate_step(P(), "a b c d", 4, 1) == "a"


# ---------------------------------------------------------------- PATS (E6)


def test_pats_mode_transitions():
    assert [next_mode(0, 0.9), next_mode(1, 0.8), next_mode(1, 0.7), next_mode(2, 0.95)] == [1, 1, 0, 2]


def test_pats_adapts_candidates_and_rejects_bad_step_once():
    script = [[f"r{r} s{i}" for i in range(8)] for r in ("0.9", "0.8", "0.7", "0.3", "0.3 t")]
    script.append(["r0.9 END The answer is 42"])
    pol = ScriptPolicy(script)
    res = run(pol, NumberScorer(), method="pats")
    assert [n for _, n, _ in pol.calls] == [8, 4, 4, 8, 8, 8]
    assert res.meta["modes"] == [0, 1, 1, 0, 0, 0]
    assert res.meta["rejected_steps"] == 1
    assert [s.split()[0] for s in res.chosen.steps] == ["r0.9", "r0.8", "r0.7", "r0.3", "r0.9"]
    assert res.answer == "42"


def test_all_methods_run_through_search(monkeypatch: pytest.MonkeyPatch):
    # a fake clock seen only by the search driver: each reading advances it by 0.25 s, so one
    # problem's wall time (one reading before the method, one after) is exactly 0.25 s
    import types

    import prmkit.search.driver as driver

    ticks = iter(range(10**6))
    monkeypatch.setattr(driver, "time", types.SimpleNamespace(perf_counter=lambda: 0.25 * next(ticks)))
    for m in ("best-of-n", "beam", "dvts", "greedy", "mcts", "early-rejection", "pats"):
        out = search(
            [P, Problem("p1", "Other?", "42")],
            TreePolicy(length=2),
            GoodScorer(),
            SearchConfig(method=m, n=4, width=2, mcts_iterations=4, tau=1),
            quiet=True,
        )
        assert len(out) == 2 and all(r.method == m for r in out)
        assert all(r.compute.policy_calls >= 1 for r in out)
        assert [r.compute.wall_time_s for r in out] == [0.25, 0.25]
