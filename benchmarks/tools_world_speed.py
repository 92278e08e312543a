"""Tool-world speed and floors: environment steps per second, episodes per second with the noisy
agent, step continuations through ``EnvPolicy`` (the labelling / search hot path), checker cost;
and the two floors the world is designed for (issue #18 item 3):

- Monte Carlo labels (``mc`` and AgentPRM ``q-target`` hard labels, 8 rollouts per prefix
  through ``EnvPolicy``) against the exact checker: ProcessBench first-error F1 >= 85;
- greedy search with the ``tools-oracle`` scorer, K=4 proposals per turn, vs the agent alone
  (K=1): success lifted by >= 25 points.

Writes benchmarks/results/tools_world_speed.json.

    .venv/bin/python benchmarks/tools_world_speed.py [--n-bench 200] [--n-search 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import prmkit.worlds  # noqa: F401 - registers the tools environment and agent
from prmkit.envs.policy import EnvPolicy
from prmkit.evaluate.processbench import processbench_metrics
from prmkit.label import LabelContext, make_labeller
from prmkit.label.runner import problem_from_solution
from prmkit.records import first_error_of
from prmkit.scorers.oracle import ToolsOracleScorer
from prmkit.search import SearchConfig, search
from prmkit.trajectory import Turn, steps_from_turns
from prmkit.worlds.tools import ToolsEnv, check_turns, generate_tasks, reference_actions
from prmkit.worlds.tools_agent import NoisyToolsAgent, make_bench, play


def speed() -> dict:
    tasks = generate_tasks(1000, seed=0)
    env = ToolsEnv()
    refs = [reference_actions(t) for t in tasks]
    t0 = time.perf_counter()
    n_steps = 0
    for t, acts in zip(tasks, refs, strict=True):
        env.reset(t)
        for a in acts:
            env.step(a)
        n_steps += len(acts)
    t_env = time.perf_counter() - t0

    agent = NoisyToolsAgent()
    t0 = time.perf_counter()
    eps = [play(t, agent, seed=i, env=env) for i, t in enumerate(tasks)]
    t_play = time.perf_counter() - t0
    play_steps = sum(len(e) for e in eps)
    success = sum(check_turns(t, e).success for t, e in zip(tasks, eps, strict=True)) / len(tasks)

    t0 = time.perf_counter()
    for t, e in zip(tasks, eps, strict=True):
        check_turns(t, e)
    t_check = time.perf_counter() - t0

    # step continuations from every prefix of the reference trajectories (max_steps=1, n=4)
    pol = EnvPolicy(env="tools")
    sub = tasks[:200]
    P, X = [], []
    for t in sub:
        steps = steps_from_turns([Turn(a) for a in reference_actions(t)])
        for k in range(len(steps)):
            P.append(t)
            X.append(steps[:k])
    t0 = time.perf_counter()
    gens = pol.continue_from(P, X, 4, max_steps=1, seed=1)
    t_cont = time.perf_counter() - t0
    n_cont = sum(len(row) for row in gens)
    return {
        "env_steps": n_steps,
        "env_steps_per_s": round(n_steps / t_env, 1),
        "agent_episodes": len(tasks),
        "agent_episodes_per_s": round(len(tasks) / t_play, 1),
        "agent_episode_steps_per_s": round(play_steps / t_play, 1),
        "agent_success_rate": round(success, 4),
        "check_turns_per_trajectory_ms": round(1000 * t_check / len(tasks), 4),
        "envpolicy_step_continuations": n_cont,
        "envpolicy_step_continuations_per_s": round(n_cont / t_cont, 1),
    }


def floors(n_bench: int, n_search: int) -> dict:
    out: dict = {}
    bench = make_bench(n_bench, seed=1)
    pol = EnvPolicy(env="tools")
    truth = [r.first_error for r in bench]
    for name, lab in (
        ("mc", make_labeller("mc", n=8)),
        ("q_target_hard", make_labeller("q-target", n=8, label_type="hard")),
    ):
        t0 = time.perf_counter()
        preds = [
            first_error_of(lab.label(r, problem_from_solution(r), LabelContext(policy=pol, seed=0)).labels)
            for r in bench
        ]
        m = processbench_metrics(preds, truth)
        out[f"{name}_vs_checker"] = {
            "records": len(bench),
            "rollouts_per_prefix": 8,
            "acc_err": round(m["acc_err"], 2),
            "acc_corr": round(m["acc_corr"], 2),
            "f1": round(m["f1"], 2),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    tasks = generate_tasks(n_search, seed=2)
    oracle = ToolsOracleScorer(tasks)

    def acc(k: int) -> float:
        res = search(
            tasks,
            EnvPolicy(env="tools"),
            oracle,
            SearchConfig(method="greedy", n=k, max_steps=10),
            quiet=True,
        )
        return sum(bool(r.meta["correct"]) for r in res) / len(res)

    base, k4 = acc(1), acc(4)
    out["search_greedy_oracle"] = {
        "tasks": n_search,
        "agent_alone_success": round(base, 4),
        "k4_success": round(k4, 4),
        "lift_points": round(100 * (k4 - base), 1),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-bench", type=int, default=200)
    ap.add_argument("--n-search", type=int, default=300)
    args = ap.parse_args()
    res = {
        "benchmark": "tools_world_speed",
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        **speed(),
        "floor_env_steps_per_s": 1000,
        **floors(args.n_bench, args.n_search),
        "floor_mc_f1": 85,
        "floor_search_lift_points": 25,
    }
    out = Path(__file__).resolve().parent / "results" / "tools_world_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
