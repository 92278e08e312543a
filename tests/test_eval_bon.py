"""Best-of-N evaluation (docs/methods.md#a-evaluation): pass@k, protocols, pools, the shared pool, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.errors import PrmkitError
from prmkit.evaluate.bon import (
    PoolProblem,
    PoolSolution,
    default_ns,
    evaluate_bon,
    load_pool,
    min_on_last_share,
    pass_at_k,
)
from prmkit.records import Solution, write_records


def test_a3_pass_at_k() -> None:
    assert pass_at_k(8, 2, 4) == pytest.approx(1 - 15 / 70)
    assert pass_at_k(8, 2, 4) == pytest.approx(0.7857, abs=1e-4)
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k
    assert pass_at_k(8, 8, 1) == 1.0 and pass_at_k(8, 0, 8) == 0.0
    with pytest.raises(PrmkitError):
        pass_at_k(2, 3, 1)


def _pool() -> list[PoolProblem]:
    # problem 1: BoN picks B (0.9, correct); majority picks A (wrong)
    p1 = PoolProblem(
        "q1",
        "?",
        [
            PoolSolution([0.2], "A", False),
            PoolSolution([0.3], "A", False),
            PoolSolution([0.9], "B", True),
            PoolSolution([0.1], "C", False),
        ],
    )
    # problem 2: two steps; min and last disagree
    p2 = PoolProblem(
        "q2",
        "?",
        [
            PoolSolution([0.9, 0.2], "X", True),
            PoolSolution([0.3, 0.8], "Y", False),
            PoolSolution([0.5, 0.5], "Y", False),
            PoolSolution([0.6, 0.7], "X", True),
        ],
    )
    return [p1, p2]


def test_a3_bon_curves_prefix_and_random() -> None:
    res = evaluate_bon(_pool(), aggregations=["min", "last"], seeds=5)
    assert res["n"] == [1, 2, 4]
    pre = res["protocols"]["prefix"]["curves"]
    # N=4: q1 BoN -> B (correct). q2 min: [0.2,0.3,0.5,0.6] -> X (correct); last: [0.2,0.8,...] -> Y (wrong)
    assert pre["min/best_of_n"]["mean"][-1] == 1.0
    assert pre["last/best_of_n"]["mean"][-1] == 0.5
    assert pre["majority"]["mean"][-1] == 0.5  # q1 -> A wrong, q2 tie X/Y -> X first, correct
    assert pre["oracle"]["mean"] == [0.5, 0.5, 1.0]
    rnd = res["protocols"]["random"]["curves"]["min/best_of_n"]
    assert rnd["std"][-1] == 0.0  # N = N_max: every seed draws the full pool
    assert all(lo <= m <= hi for lo, m, hi in zip(rnd["min"], rnd["mean"], rnd["max"], strict=True))
    assert res["pass_at_k"]["1"] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert res["transform"] == "none"


def test_a4_min_on_last_share() -> None:
    m = min_on_last_share([[0.9, 0.2], [0.3, 0.8], [0.5], [0.7, 0.7]])
    assert m == {"share": 1 / 3, "n_multi_step": 3, "n_single_step": 1}
    assert evaluate_bon(_pool(), aggregations=["min"])["min_on_last"]["share"] == pytest.approx(0.25)


def test_default_ns() -> None:
    assert default_ns(1) == [1] and default_ns(8) == [1, 2, 4, 8] and default_ns(5) == [1, 2, 4, 5]


def _reference_bon(path: Path, ns: tuple[int, ...] = (1, 2, 4, 8)) -> dict[str, Any]:
    """An independent reimplementation over the raw JSONL (no prmkit code): prefix-protocol
    accuracy of oracle, majority (most frequent stripped answer, first group on ties, its first
    member) and best-of-N on min(sigmoid(step logits)) (first on ties); weighted vote over the full
    pool (sum of sigmoid(min) per answer, first group on ties); pass@1 = mean of c/n."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def sig(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    def per_problem(d: dict[str, Any], n: int) -> tuple[list[Any], list[bool], list[float]]:
        preds = [None if a is None else str(a).strip() for a in d["pred"][:n]]
        scores = [sig(min(s if isinstance(s, list) else [s])) for s in d["pred_score"][:n]]
        return preds, [bool(c) for c in d["score"][:n]], scores

    def first_best_group(preds: list[Any], value: Any) -> list[int]:
        groups: dict[Any, list[int]] = {}
        for i, a in enumerate(preds):
            if a is not None:
                groups.setdefault(a, []).append(i)
        best = None
        for idx in groups.values():  # insertion order = first appearance; strict > keeps the first
            if best is None or value(idx) > value(best):
                best = idx
        return best or []

    curves: dict[str, list[float]] = {"oracle": [], "majority": [], "min/best_of_n": []}
    for n in ns:
        hits = dict.fromkeys(curves, 0)
        for d in rows:
            preds, corr, scores = per_problem(d, n)
            answered = [i for i, a in enumerate(preds) if a is not None]
            hits["oracle"] += any(corr)
            if answered:
                hits["min/best_of_n"] += corr[max(answered, key=lambda i: (scores[i], -i))]
                hits["majority"] += corr[first_best_group(preds, len)[0]]
        for k in curves:
            curves[k].append(hits[k] / len(rows))
    wv = 0
    for d in rows:
        preds, corr, scores = per_problem(d, len(d["pred"]))
        g = first_best_group(preds, lambda idx, s=scores: sum(s[i] for i in idx))
        wv += bool(g) and corr[max(g, key=lambda i: (scores[i], -i))]
    pass1 = sum(sum(d["score"]) / len(d["score"]) for d in rows) / len(rows)
    return {"curves": curves, "weighted_vote_full": wv / len(rows), "pass1": pass1}


def test_shared_pool_numbers(shared_data: Path) -> None:
    path = shared_data / "bon" / "math_cot_100.jsonl"
    pool = load_pool(path)
    assert len(pool) == 100 and all(len(p.solutions) == 8 for p in pool)
    res = evaluate_bon(pool, seeds=10)
    assert res["transform"] == "sigmoid"  # raw reward-model logits
    ref = _reference_bon(path)
    pre = res["protocols"]["prefix"]["curves"]
    for k in ("oracle", "min/best_of_n", "majority"):
        assert pre[k]["mean"] == pytest.approx(ref["curves"][k]), k
    # the reference's values (stable across versions of this test)
    assert ref["curves"]["min/best_of_n"] == pytest.approx([0.9, 0.93, 0.93, 0.94])
    assert res["pass_at_k"]["1"] == pytest.approx(ref["pass1"])
    # N = N_max: every random subset is the full pool
    assert res["protocols"]["random"]["curves"]["min/weighted_vote"]["mean"][-1] == pytest.approx(
        ref["weighted_vote_full"]
    )


def test_canonical_pool_graded_and_meta(tmp_path: Path) -> None:
    f = tmp_path / "pool.jsonl"
    recs = [
        Solution(id="p1#0", problem="1+1?", steps=["1+1=3"], answer="3", reference_answer="2", scores=[0.9]),
        Solution(id="p1#1", problem="1+1?", steps=["1+1=2"], answer="2", reference_answer="2", scores=[0.4]),
        Solution(id="p2#0", problem="2+2?", steps=["4"], answer="4", scores=[0.4], meta={"correct": True}),
    ]
    write_records(f, recs)
    pool = load_pool(f)
    assert [p.problem_id for p in pool] == ["p1", "p2"]
    assert [s.correct for s in pool[0].solutions] == [False, True]
    res = evaluate_bon(pool, aggregations=["min"], rules=["best_of_n", "majority"])
    assert res["protocols"]["prefix"]["curves"]["min/best_of_n"]["mean"][-1] == 0.5
    write_records(f, [Solution(id="p3#0", problem="?", steps=["a"], answer="1", scores=[0.5])])
    with pytest.raises(PrmkitError, match="pool.jsonl:1: field 'meta.correct'"):
        load_pool(f)


def test_cli_bon(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "bon",
            "--pool",
            str(shared_data / "bon" / "math_cot_100.jsonl"),
            "--seeds",
            "3",
            "--agg",
            "min,last",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    ref = _reference_bon(shared_data / "bon" / "math_cot_100.jsonl")["curves"]["min/best_of_n"]
    assert "| min/best_of_n | " + " | ".join(f"{100 * v:.1f}" for v in ref) + " |" in res.stdout
    saved = json.loads((out / "results.json").read_text())
    assert saved["meta"]["seed"] == 0 and saved["meta"]["config"]["seeds"] == 3
    assert saved["results"]["protocols"]["random"]["seeds"] == 3
    assert "calibration" in saved["results"]
