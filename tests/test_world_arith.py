"""Arithmetic world: problems, reference solutions, the exact checker, the oracle scorer."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import Problem, Solution, read_problems, read_records, write_problems
from prmkit.worlds.arith import (
    check_steps,
    generate_problems,
    get_spec,
    make_bench,
    make_bon_pool,
    reference_solution,
)
from prmkit.worlds.arith_parse import parse_step


def _hand_problem() -> Problem:
    """Mia buys 3 bags of 4 apples, gets 7 more: 3 x 4 = 12, 12 + 7 = 19. Distractor 9."""
    spec = {
        "version": 1,
        "givens": [3, 4, 7],
        "distractors": [9],
        "nodes": [
            {
                "op": "*",
                "a": "g0",
                "b": "g1",
                "value": 12,
                "reason": "She buys {0} bags of {1} apples",
                "np": "the apples",
                "unit": "apples",
            },
            {
                "op": "+",
                "a": "n0",
                "b": "g2",
                "value": 19,
                "reason": "She had {0} apples and gets {1} more",
                "np": "the apples",
                "unit": "apples",
            },
        ],
        "answer": 19,
    }
    q = "Mia buys 3 bags of apples. Each bag has 4 apples. Mia is 9 years old. She gets 7 more. How many?"
    return Problem(id="hand", question=q, reference_answer="19", meta={"arith": spec})


def test_generate_problems_deterministic_and_well_formed():
    a = generate_problems(200, seed=11)
    assert a == generate_problems(200, seed=11)
    assert a[:50] == generate_problems(50, seed=11)
    assert a != generate_problems(200, seed=12)
    n_ops = set()
    for p in a:
        spec = get_spec(p)
        json.dumps(p.meta)  # JSON-serialisable
        assert p.reference_answer == str(spec.answer)
        assert 2 <= len(spec.nodes) <= 8
        n_ops.add(len(spec.nodes))
        for nd in spec.nodes:
            assert 1 <= nd["value"] <= 1000
        for v in spec.givens + spec.distractors:
            assert str(v) in p.question
        assert not set(spec.distractors) & spec.quantities
        assert p.question.rstrip().endswith("?")
    assert n_ops == set(range(2, 9))
    assert any(get_spec(p).distractors for p in a)
    assert not any(get_spec(p).distractors for p in generate_problems(50, seed=1, distractors=False))
    ops = {nd["op"] for p in a for nd in get_spec(p).nodes}
    assert ops == {"+", "-", "*", "/"}


def test_problem_options_respected():
    ps = generate_problems(100, seed=3, min_ops=4, max_ops=4, max_value=200)
    for p in ps:
        spec = get_spec(p)
        assert len(spec.nodes) == 4
        assert all(nd["value"] <= 200 for nd in spec.nodes)
    with pytest.raises(PrmkitError):
        generate_problems(3, seed=0, min_ops=5, max_ops=2)


def test_reference_solution_checks_correct():
    for p in generate_problems(300, seed=5):
        steps = reference_solution(p)
        assert len(steps) == len(get_spec(p).nodes) + 1
        assert steps[-1] == f"The answer is {p.reference_answer}."
        r = check_steps(p, steps)
        assert r.first_error == -1, (steps, r.reasons)
        assert r.answer_correct


def test_reference_solution_example_shape():
    p = _hand_problem()
    assert reference_solution(p) == [
        "She buys 3 bags of 4 apples, so 3 x 4 = 12 apples.",
        "She had 12 apples and gets 7 more, so 12 + 7 = 19 apples.",
        "The answer is 19.",
    ]


@pytest.mark.parametrize(
    "steps, correct",
    [
        (["3 * 4 = 12", "12 + 7 = 19", "The answer is 19."], [True, True, True]),
        (["3 × 4 = 12 apples", "then 12 + 7 = 19. The answer is 19."], [True, True]),
        (["3 bags x 4 apples = 12 apples", "So the answer is 19."], [True, True]),
        (["3 x 4 + 7 = 19", "#### 19"], [True, True]),
        (["(3 x 4) + 7 = 19, so the answer is $19."], [True]),
        (["12 = 3 x 4", "19 = 12 + 7", "\\boxed{19}"], [True, True, True]),
        (["3 x 4 = 13", "13 + 7 = 20", "The answer is 20."], [False, False, False]),
        (["4 - 3 = 1", "1 + 7 = 8", "The answer is 8."], [False, False, False]),  # wrong operation
        (["3 x 9 = 27", "The answer is 19."], [False, True]),  # distractor operand
        (["Let me think about it.", "3 x 4 = 12", "The answer is 19."], [False, True, True]),
        (["3 x 4 = 12", "12 + 7 = 19"], [True, False]),  # no final answer
        (["3 x 4 = 12", "12 x 7 = 84", "The answer is 84."], [True, False, False]),
        (["3 x 4 = 12 + 7 = 19", "The answer is 19."], [False, True]),  # sloppy chain is false
        (["1,200 / 100 = 12", "The answer is 19."], [False, True]),  # 1200 is not a quantity
    ],
)
def test_check_steps_model_style_text(steps, correct):
    r = check_steps(_hand_problem(), steps)
    assert r.correct == correct, r.reasons
    assert r.first_error == (correct.index(False) if False in correct else -1)


def test_check_steps_partial_and_solution_input():
    p = _hand_problem()
    assert check_steps(p, ["3 x 4 = 12"], partial=True).first_error == -1
    assert check_steps(p, ["3 x 4 = 12"]).first_error == 0
    sol = Solution(id="hand#0", problem=p.question, steps=["3 x 4 = 12"], meta=p.meta)
    # a left-out step is only visible through its consequences: here the answer is still right
    assert check_steps(sol, ["3 x 4 = 12", "The answer is 19."]).first_error == -1
    assert check_steps(sol, ["3 x 4 = 12", "The answer is 12."]).first_error == 1
    assert check_steps(p, ["3 x 4 = 12", "12 + 7 = 19", "The answer is 19."]).labels == [1.0, 1.0, 1.0]
    with pytest.raises(PrmkitError, match="meta"):
        check_steps(Problem(id="x", question="q"), ["1 + 1 = 2"])


def test_parser_numbers_and_operators():
    e = parse_step("It costs $1,250 ÷ 5 = $250 per week.").equations[0]
    assert (e.operands, e.result, e.true) == ((1250, 5), 250, True)
    assert parse_step("3x4=12").equations[0].ops == frozenset({"*"})
    assert parse_step("A 3-day trip: 5 − 2 = 3").equations[0].true
    assert parse_step("16 - 3 - 4 = 9").equations[0].result == 9
    assert parse_step("so -5 + 9 = 4").equations[0].operands == (-5, 9)
    assert parse_step("The box has 12 apples.").equations == ()
    assert parse_step("The answer is: 1,000").answer == 1000


def test_make_bench_half_wrong_with_exact_labels():
    recs = make_bench(200, seed=4)
    wrong = [r for r in recs if r.first_error >= 0]
    assert len(wrong) == 100
    for r in recs:
        r.validate()
        chk = check_steps(r, r.steps)
        assert chk.first_error == r.first_error
        assert "label" not in r.meta and "final_answer_correct" not in r.meta  # one name per fact
        assert r.meta["correct"] == (r.answer == r.reference_answer)
        if r.first_error >= 0:
            assert r.labels[r.first_error] == 0.0
            assert all(v is None for v in r.labels[r.first_error + 1 :])
    # some wrong processes still reach the right answer (ProcessBench has such cases too)
    assert any(r.first_error >= 0 and r.meta["correct"] for r in make_bench(400, seed=1))
    assert make_bench(20, seed=4) == make_bench(20, seed=4)


def test_make_bon_pool(tmp_path):
    probs = generate_problems(30, seed=2)
    pool = make_bon_pool(probs, n=4, seed=9)
    assert len(pool) == 120
    assert {r.problem_id for r in pool} == {p.id for p in probs}
    assert 0 < sum(r.meta["correct"] for r in pool) < 120
    for r in pool:
        assert r.meta["correct"] == (r.answer == r.reference_answer)
        assert r.labels == [
            1.0 if r.first_error < 0 or i < r.first_error else 0.0 for i in range(len(r.steps))
        ]
    f = tmp_path / "problems.jsonl"
    write_problems(f, probs)
    back = list(read_problems(f))
    assert back == probs
    assert check_steps(back[0], reference_solution(back[0])).first_error == -1


def test_oracle_scorer(tmp_path):
    from prmkit.scorers import load_scorer
    from prmkit.scorers.oracle import ArithOracleScorer

    probs = generate_problems(10, seed=0)
    f = tmp_path / "p.jsonl"
    write_problems(f, probs)
    oracle = load_scorer("arith-oracle", str(f))
    assert isinstance(oracle, ArithOracleScorer)
    ref = reference_solution(probs[3])
    bad = list(ref)
    bad[1] = "1 + 1 = 3"
    scores = oracle.score_batch([probs[3].question, probs[3].question], [ref, bad])
    assert scores[0] == [1.0] * len(ref)
    assert scores[1] == [1.0] + [0.0] * (len(ref) - 1)
    assert oracle.score_batch([probs[3].question], [ref[:1]]) == [[1.0]]  # unfinished prefix is fine
    with pytest.raises(PrmkitError, match="not among"):
        oracle.score_batch(["What is 2 + 2?"], [["2 + 2 = 4"]])
    bench = tmp_path / "bench.jsonl"
    from prmkit.records import write_records

    write_records(bench, make_bench(10, seed=0))
    o2 = ArithOracleScorer.load(problems_file=bench)
    for r in o2.score_records(read_records(bench)):
        flags = [s < 0.5 for s in r.scores]
        assert (flags.index(True) if True in flags else -1) == r.first_error
