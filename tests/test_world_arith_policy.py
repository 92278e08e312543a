"""ArithPolicy: checker agreement, error model rates, continuation, determinism."""

from __future__ import annotations

import math

import pytest

from prmkit.errors import PrmkitError
from prmkit.policies import POLICIES, load_policy
from prmkit.worlds.arith import check_steps, generate_problems, get_spec, reference_solution
from prmkit.worlds.arith_policy import ArithPolicy


@pytest.fixture(scope="module")
def problems():
    return generate_problems(1000, seed=21)


@pytest.fixture(scope="module")
def samples(problems):
    pol = ArithPolicy(error_rate=0.15, miracle_rate=0.05, diversity=0.5)
    return pol.sample(problems, n=10, seed=3)


def test_registered():
    assert POLICIES.get("arith") is ArithPolicy
    pol = load_policy("arith", error_rate=0.2)
    assert isinstance(pol, ArithPolicy) and pol.error_rate == 0.2
    with pytest.raises(PrmkitError):
        ArithPolicy(error_rate=1.5)


def test_checker_agrees_with_generator_labels_on_10000_solutions(problems, samples):
    n = 0
    wrong = 0
    for p, row in zip(problems, samples, strict=True):
        for g in row:
            chk = check_steps(p, g.steps)
            assert chk.correct == g.meta["labels"], (g.steps, chk.reasons, g.meta)
            assert chk.first_error == g.meta["first_error"]
            assert g.finished and g.steps[-1].startswith("The answer is ")
            assert chk.answer_correct == g.meta["correct"]
            assert g.num_tokens == sum(len(s.split()) for s in g.steps)
            n += 1
            wrong += chk.first_error >= 0
    assert n == 10_000
    assert 0.2 < wrong / n < 0.8
    # every error kind occurs, and each injected error is where the checker finds the first error
    kinds = {e["kind"] for row in samples for g in row for e in g.meta["errors"]}
    assert kinds == {"slip", "operand", "operation", "skip"}
    for row in samples:
        for g in row:
            if g.meta["errors"]:
                assert (
                    g.meta["first_error"] == min(e["step"] for e in g.meta["errors"])
                    or g.meta["errors"][0]["kind"] == "skip"
                )


def test_error_free_policy_reproduces_reference(problems):
    pol = ArithPolicy(error_rate=0.0, miracle_rate=0.0, diversity=0.0)
    gens = pol.sample(problems[:100], n=1)
    for p, row in zip(problems[:100], gens, strict=True):
        assert row[0].steps == reference_solution(p)


def test_observed_miracle_rate_matches_configured(problems, samples):
    opps = sum(g.meta["miracle_opportunities"] for row in samples for g in row)
    mir = sum(len(g.meta["miracles"]) for row in samples for g in row)
    rate = 0.05
    sd = math.sqrt(opps * rate * (1 - rate))
    assert opps > 2000
    assert abs(mir - opps * rate) < 4 * sd, (mir, opps)
    # a miracle step states the true value of its operation yet is judged wrong (wrong process)
    n_right_answer_wrong_process = 0
    for row in samples:
        for g in row:
            for i in g.meta["miracles"]:
                assert g.meta["labels"][i] is False
            if g.meta["correct"] and g.meta["first_error"] >= 0:
                n_right_answer_wrong_process += 1
    assert n_right_answer_wrong_process > 0


def test_error_rate_roughly_matches(problems):
    pol = ArithPolicy(error_rate=0.3, miracle_rate=0.0, diversity=0.0)
    gens = pol.sample(problems[:500], n=4, seed=1)
    n_ops = sum(len(get_spec(p).nodes) for p in problems[:500]) * 4
    n_err = sum(len(g.meta["errors"]) for row in gens for g in row)
    # skips remove a step, so the opportunity count is slightly below n_ops
    assert 0.25 * n_ops < n_err < 0.33 * n_ops


def test_same_seed_same_output_and_batching_independent(problems):
    pol = ArithPolicy()
    a = pol.sample(problems[:20], n=3, seed=7)
    assert a == ArithPolicy().sample(problems[:20], n=3, seed=7)
    assert a != pol.sample(problems[:20], n=3, seed=8)
    # per-request randomness: one problem alone gives the same as inside a batch
    assert pol.sample(problems[5:6], n=3, seed=7)[0] == a[5]
    assert pol.sample(problems[:20], n=5, seed=7)[5][:3] == a[5]


def test_continuation_keeps_prefix_and_carries_wrong_value():
    p = generate_problems(50, seed=2, min_ops=4, max_ops=4, distractors=False)[0]
    spec = get_spec(p)
    ref = reference_solution(p)
    n0 = spec.nodes[0]
    wrong = n0["value"] + 1000
    x, y = spec.ref_value(n0["a"]), spec.ref_value(n0["b"])
    sym = {"*": "x"}.get(n0["op"], n0["op"])
    prefix = [f"First, {x} {sym} {y} = {wrong}."]
    before = list(prefix)
    pol = ArithPolicy(error_rate=0.0, miracle_rate=0.0, diversity=0.3)
    gens = pol.continue_from([p], [prefix], n=5, seed=0)[0]
    assert prefix == before
    for g in gens:
        assert g.finished
        assert g.meta["first_error"] == 0
        assert g.steps[0] != prefix[0]
        # a later operation uses the wrong value from the prefix (never recomputes it)
        assert any(str(wrong) in s.split("=")[0] for s in g.steps)
        assert not any(s.endswith(f"= {n0['value']} {n0['unit']}.") for s in g.steps[:1])
        full = prefix + g.steps
        assert check_steps(p, full).first_error == 0
        assert g.meta["labels"] == check_steps(p, full).correct[1:]
        assert not g.meta["correct"]
    # max_steps=1: exactly one new step, unfinished
    one = pol.continue_from([p], [ref[:2]], n=3, max_steps=1, seed=0)[0]
    assert all(len(g.steps) == 1 and not g.finished for g in one)
    assert all(
        g.steps[0] == ref[2]
        for g in ArithPolicy(0.0, 0.0, 0.0).continue_from([p], [ref[:2]], 2, max_steps=1)[0]
    )
    # a finished prefix has nothing left to add
    done = pol.continue_from([p], [ref], n=2)[0]
    assert all(g.steps == [] and g.finished for g in done)


def test_continuation_from_model_style_prefix():
    p = generate_problems(1, seed=0, min_ops=3, max_ops=3, distractors=False)[0]
    spec = get_spec(p)
    n0 = spec.nodes[0]
    x, y = spec.ref_value(n0["a"]), spec.ref_value(n0["b"])
    sym = {"*": "×", "/": "÷"}.get(n0["op"], n0["op"])
    prefix = ["Let's work it out step by step.", f"We get {x} {sym} {y} = {n0['value']} in total."]
    g = ArithPolicy(error_rate=0.0, miracle_rate=0.0, diversity=0.0).continue_from([p], [prefix], 1)[0][0]
    assert g.steps == reference_solution(p)[1:]
    assert g.meta["first_error"] == 0  # the chatter step counts as an (unparseable) error
