"""Issue #20, defect 1: one hostile step must neither crash nor freeze the calculator scorer.

Reproduces the reported inputs (a 5000-digit number, ``(((9^64)^64)^64)^64 = 1``) offline, through
``prmkit score`` and through the reward server, and checks that the step is *unknown* (``None``,
the reason in meta) while every other step and solution is scored as computed by hand.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from prmkit.scorers.calculator import CalculatorScorer, Limits, check_step_detail

HUGE = "1" * 5000 + " + 1 = 2"  # the 500 of the issue: int('1' * 5000) is over Python's 4300-digit limit
NESTED = "(((9^64)^64)^64)^64 = 1"  # 54 bytes that froze the server for 49 s
DEEP = "(" * 3000 + "1" + ")" * 3000 + " + 1 = 2"  # RecursionError territory
VALID = [["3 + 4 = 7", "so 7 * 2 = 15"], ["12 * 5 = 60", "The answer is 60."]]
VALID_EXPECTED = [[1.0, 0.0], [1.0, 0.5]]  # by hand: true, false; true, nothing to check (neutral)


@pytest.mark.parametrize(
    ("step", "needle"),
    [(HUGE, "over 1000 digits"), (NESTED, "would exceed 1000 digits"), (DEEP, "nesting deeper than 64"),
     ("2^100000 = 5", "exponent"), ("x" * 200_001 + " 1 + 1 = 2", "characters")],
)  # fmt: skip
def test_hostile_step_is_unknown_with_a_reason_and_quick(step, needle):
    t0 = time.perf_counter()
    score, reason = check_step_detail(step)
    cpu = time.perf_counter() - t0
    assert score is None
    assert reason is not None and needle in reason
    assert cpu < 10.0  # was 49 s for NESTED; generous bound for a loaded 2-core machine


def test_limits_are_bounds_not_refusals_of_ordinary_arithmetic():
    # values computed by hand: 2^64 = 18446744073709551616; 3^4^2 = 3^16 = 43046721
    assert check_step_detail("2^64 = 18446744073709551616") == (1.0, None)
    assert check_step_detail("3^4^2 = 43046721") == (1.0, None)
    assert check_step_detail("((1 + 2) * (3 + 4)) = 21") == (1.0, None)
    # a false claim is decided even when another claim of the step is beyond the limits
    assert check_step_detail(f"2 + 2 = 5 and {NESTED}") == (0.0, None)
    # the time limit is a per-step CPU budget: a tiny one makes a long step unknown
    long_step = " ".join(f"{i} + {i} = {2 * i}." for i in range(300))
    score, reason = check_step_detail(long_step, limits=Limits(time_limit_s=1e-4))
    assert score is None and "took over" in reason
    assert check_step_detail(long_step)[0] == 1.0


def test_scorer_options_are_validated_and_never_raise_on_a_step():
    from prmkit.errors import PrmkitError

    with pytest.raises(PrmkitError, match="max_digits"):
        CalculatorScorer(max_digits=0)
    s = CalculatorScorer(max_digits=20)
    out = s.score_batch(["p"] * 3, [[HUGE, "1 + 1 = 2"], [NESTED], VALID[0]])
    assert out == [[None, 1.0], [None], VALID_EXPECTED[0]]
    assert s.last_meta[0] == {"calculator_unknown": [{"step": 0, "reason": "a number has over 20 digits"}]}
    assert s.last_meta[1]["calculator_unknown"][0]["step"] == 0
    assert s.last_meta[2] == {}


def test_offline_score_file_keeps_valid_records_and_explains_the_bad_one(tmp_path):
    from prmkit.scorers.runner import ScoreConfig, score_file

    src = tmp_path / "in.jsonl"
    rows = [{"id": "a", "problem": "p", "steps": VALID[0]}, {"id": "bad", "problem": "p", "steps": [HUGE, NESTED]},
            {"id": "b", "problem": "p", "steps": VALID[1]}]  # fmt: skip
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    res = score_file(ScoreConfig(input=str(src), output=str(out), format="calculator", quiet=True))
    assert res["written"] == 3
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert got["a"]["scores"] == VALID_EXPECTED[0] and got["b"]["scores"] == VALID_EXPECTED[1]
    assert got["bad"]["scores"] == [None, None]
    reasons = got["bad"]["meta"]["calculator_unknown"]
    assert [u["step"] for u in reasons] == [0, 1] and "digits" in reasons[0]["reason"]


def _client(scorer, **cfg):
    from fastapi.testclient import TestClient

    from prmkit.serve.app import create_app
    from prmkit.serve.config import ServeConfig

    return TestClient(create_app(scorer, ServeConfig(**cfg)))


def test_server_answers_the_hostile_request_and_its_batch_neighbours():
    with _client(CalculatorScorer()) as c:
        sols = [{"problem": "p", "steps": s} for s in VALID] * 20 + [
            {"problem": "p", "steps": [HUGE, NESTED]}
        ]
        t0 = time.perf_counter()
        r = c.post("/v1/score", json={"solutions": sols})
        assert time.perf_counter() - t0 < 20
        assert r.status_code == 200, r.text
        res = r.json()["results"]
        assert [x["step_scores"] for x in res[:40]] == VALID_EXPECTED * 20
        assert res[40]["step_scores"] == [None, None] and res[40]["score"] is None
        assert [u["step"] for u in res[40]["meta"]["calculator_unknown"]] == [0, 1]
        assert "meta" not in res[0]
        assert c.get("/health").status_code == 200


class _FailsOn:
    """A scorer that raises when a batch contains a poisoned problem (like the crash of the issue)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score_batch(self, problems, steps):
        self.calls.append(len(problems))
        if "poison" in problems:
            raise ValueError("Exceeds the limit (4300 digits)")
        return [[1.0] * len(s) for s in steps]

    def close(self) -> None:
        pass


def test_batcher_isolates_a_failing_request_from_its_batch():
    from prmkit.serve.batcher import DynamicBatcher

    async def main():
        scorer = _FailsOn()
        b = DynamicBatcher(scorer, max_wait_ms=50, max_batch_solutions=64)
        await b.start()
        tasks = [
            asyncio.ensure_future(b.submit([p], [["s", "t"]])) for p in ["ok"] * 5 + ["poison"] + ["ok"] * 5
        ]
        res = await asyncio.gather(*tasks, return_exceptions=True)
        await b.stop()
        return scorer, res

    scorer, res = asyncio.run(main())
    assert scorer.calls[0] == 11  # they were batched together, and the batch failed
    assert isinstance(res[5], ValueError)
    assert all(r == [[1.0, 1.0]] for i, r in enumerate(res) if i != 5)


def test_offline_score_cli_exit_0_with_the_hostile_record(tmp_path, monkeypatch, capsys):
    """The issue's command: ``prmkit score --format calculator`` on a file with the 5000-digit step
    exited 1 with a traceback and wrote nothing."""
    import sys

    from prmkit.cli import main

    src = tmp_path / "in.jsonl"
    rows = [{"id": "a", "problem": "p", "steps": VALID[0]}, {"id": "bad", "problem": "p", "steps": [HUGE]}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(
        sys, "argv", ["prmkit", "score", "--in", str(src), "--out", str(out), "--format", "calculator"]
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code in (0, None)
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["scores"] for r in got] == [VALID_EXPECTED[0], [None]]
    assert "Traceback" not in capsys.readouterr().err


def test_the_arith_oracle_never_raises_on_a_hostile_step():
    """The other rule-based scorer: a step it cannot parse is incorrect (it states no quantity of
    the problem), with the reason, and the other steps and solutions are scored as before."""
    from prmkit.scorers.oracle import ArithOracleScorer
    from prmkit.worlds.arith import generate_problems, reference_solution
    from prmkit.worlds.arith_spec import check_steps

    p = generate_problems(1, seed=0)[0]
    ref = reference_solution(p)
    oracle = ArithOracleScorer([p])
    for bad in (HUGE, DEEP, NESTED):
        t0 = time.perf_counter()
        out = oracle.score_batch([p.question] * 2, [[bad, *ref], ref])
        assert time.perf_counter() - t0 < 10
        assert out == [[0.0] * (len(ref) + 1), [1.0] * len(ref)]
    assert check_steps(p, [HUGE]).reasons[0].startswith("cannot be parsed (ValueError")
    assert check_steps(p, [DEEP]).reasons[0].startswith("cannot be parsed (RecursionError")
