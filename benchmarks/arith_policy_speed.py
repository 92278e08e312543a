"""Arithmetic-policy speed: step continuations per second on one core.

Measures ``ArithPolicy.continue_from(..., max_steps=1)`` (one new step per continuation, the
step-level search / labelling hot path) over prefixes of every length, plus full rollouts, and
compares with a baseline in the same process: the same work with a fresh parse (no cache) of
every prefix. Writes benchmarks/results/arith_policy_speed.json.

    .venv/bin/python benchmarks/arith_policy_speed.py
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from prmkit.worlds.arith import generate_problems, reference_solution
from prmkit.worlds.arith_parse import parse_step
from prmkit.worlds.arith_policy import ArithPolicy


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    probs = generate_problems(500, seed=0)
    pol = ArithPolicy()
    # every prefix of every reference solution (without the final step)
    pairs = [(p, ref[:k]) for p in probs for ref in [reference_solution(p)] for k in range(len(ref) - 1)]
    P = [p for p, _ in pairs]
    X = [x for _, x in pairs]
    n = 8
    pol.continue_from(P[:50], X[:50], n, max_steps=1)  # warm-up (compile problems)
    t_step = _timed(lambda: pol.continue_from(P, X, n, max_steps=1, seed=1))
    steps = len(pairs) * n

    def cold():
        parse_step.cache_clear()
        pol.continue_from(P, X, n, max_steps=1, seed=1)

    t_cold = _timed(cold)
    t_roll = _timed(lambda: pol.sample(probs, 16, seed=2))
    gens = pol.sample(probs, 16, seed=2)
    roll_steps = sum(len(g.steps) for row in gens for g in row)
    res = {
        "benchmark": "arith_policy_speed",
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "step_continuations": steps,
        "step_continuations_per_s": round(steps / t_step, 1),
        "baseline_cold_parse_step_continuations_per_s": round(steps / t_cold, 1),
        "speedup_vs_cold_parse": round(t_cold / t_step, 2),
        "rollouts": len(probs) * 16,
        "rollouts_per_s": round(len(probs) * 16 / t_roll, 1),
        "rollout_steps_per_s": round(roll_steps / t_roll, 1),
        "target_step_continuations_per_s": 20000,
    }
    out = Path(__file__).resolve().parent / "results" / "arith_policy_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
