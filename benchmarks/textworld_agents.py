"""TextWorld: the walkthrough-based noisy agent alone, Monte Carlo labels, and MC-value-guided search
on generated games (issue #18 item 4). Needs the optional extra: pip install 'prmkit[textworld]'.

Games: seeds ``0..--games-1`` of ``TextWorldEnv(world_size, nb_objects, quest_length, turn_slack)``
(an episode ends, unsuccessful, after ``len(walkthrough) + turn_slack`` turns, or when the game
can no longer be won). The policy is ``EnvPolicy(env="textworld", agent="textworld-noisy",
error_rate)``: the walkthrough from the current state, another admissible command with
probability ``error_rate`` (harmful ones preferred). Everything is real game dynamics (TextWorld's
Inform 7 games on Jericho/Frotz); nothing is simulated here.

1. **alone**: ``--episodes`` episodes per game; success rate, turns, environment steps.
2. **labels**: the Monte Carlo labeller (``prmkit.label`` ``mc``, soft, ``--mc-n`` rollouts per
   prefix, through its library API) on one episode per game for the first ``--label-games``
   games: the labels, and whether the first step valued 0 is an error of the agent (its turn
   meta says whether the action was an error).
3. **search**: ``prmkit.search`` ``greedy`` (``--k`` candidate actions per turn from the same
   agent, the best-scored one kept, ``agg=last``) with a label-free step scorer: the MC value of
   the prefix ending with the candidate (``--value-n`` rollouts of the same agent, cached per
   prefix). The pipeline's trained PRM plugs in where :class:`MCValueScorer` is. One search per
   game and per search seed (``--search-seeds``); success rate and environment steps (the
   search's own steps, the scorer's rollouts, replays and forks included) against the agent alone.

Run: nice -n 19 .venv/bin/python benchmarks/textworld_agents.py
Writes benchmarks/results/textworld_agents.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prmkit.envs import make_env
from prmkit.envs.policy import OUTCOME_SUCCESS, EnvPolicy
from prmkit.label import make_labeller
from prmkit.label.base import Grader, LabelContext, Rollouts
from prmkit.records import Problem, Solution
from prmkit.scorers.base import Scorer
from prmkit.search import SearchConfig, search
from prmkit.trajectory import turns_from_json

OUT = Path(__file__).parent / "results" / "textworld_agents.json"


class MCValueScorer(Scorer):
    """Scores the last step of each prefix by its Monte Carlo value: the fraction of ``n`` rollouts
    of ``policy`` from the prefix that end in success (earlier steps: ``None``). Label-free; the
    rollouts are cached per prefix (``prmkit.label.base.Rollouts``)."""

    def __init__(self, policy: EnvPolicy, problems: Sequence[Problem], n: int, seed: int = 0) -> None:
        self.policy, self.n, self.seed = policy, n, seed
        self.by_text = {p.question: p for p in problems}
        self.rollouts: dict[str, Rollouts] = {}

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[list[float | None]]:
        out: list[list[float | None]] = []
        for text, st in zip(problems, steps, strict=True):
            p = self.by_text[text]
            ro = self.rollouts.get(p.id)
            if ro is None:
                ro = self.rollouts[p.id] = Rollouts(self.policy, p, p.id, self.seed, Grader(), chunk=self.n)
            scores: list[float | None] = [None] * len(st)
            if st:
                scores[-1] = ro.value(st, self.n)
            out.append(scores)
        return out


def _rate(xs: Sequence[bool]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--world-size", type=int, default=5)
    ap.add_argument("--nb-objects", type=int, default=10)
    ap.add_argument("--quest-length", type=int, default=5)
    ap.add_argument("--turn-slack", type=int, default=3)
    ap.add_argument("--error-rate", type=float, default=0.3)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--label-games", type=int, default=5)
    ap.add_argument("--mc-n", type=int, default=4)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--value-n", type=int, default=4)
    ap.add_argument("--search-seeds", type=int, default=2)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)

    env_opts = {
        "world_size": args.world_size, "nb_objects": args.nb_objects, "quest_length": args.quest_length,
        "turn_slack": args.turn_slack, "cache_dir": args.cache_dir,
    }  # fmt: skip

    def policy() -> EnvPolicy:
        return EnvPolicy(
            env=make_env("textworld", **env_opts), agent="textworld-noisy", error_rate=args.error_rate
        )

    res: dict[str, Any] = {
        "config": vars(args),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    import textworld

    res["textworld_version"] = textworld.__version__

    # ---- games
    t0 = time.perf_counter()
    gen_env = make_env("textworld", **env_opts)
    tasks, gen_times = [], []
    for seed in range(args.games):
        t = time.perf_counter()
        tasks.append(gen_env.make_task(seed))
        gen_times.append(time.perf_counter() - t)
    wt = [len(t.meta["textworld"]["walkthrough"]) for t in tasks]
    res["games"] = {
        "n": len(tasks),
        "seconds_total": round(time.perf_counter() - t0, 2),
        "seconds_per_game_max": round(max(gen_times), 3),
        "walkthrough_length": {"mean": round(statistics.mean(wt), 2), "min": min(wt), "max": max(wt)},
    }
    print("games", res["games"], flush=True)

    # ---- step speed (the walkthrough, replay and snapshot fork)
    env = make_env("textworld", **env_opts)
    step_s = reset_s = 0.0
    steps = 0
    for task in tasks:
        env.reset(task)  # warm: the first reset of a game starts its interpreter (~0.15 s)
        t = time.perf_counter()
        env.reset(task)
        reset_s += time.perf_counter() - t
        t = time.perf_counter()
        for c in task.meta["textworld"]["walkthrough"]:
            env.step(c)
            steps += 1
        step_s += time.perf_counter() - t
    step_s /= steps
    reset_s /= len(tasks)
    env.reset(tasks[0])
    env.step(tasks[0].meta["textworld"]["walkthrough"][0])
    t = time.perf_counter()
    for _ in range(50):
        env.fork()
    fork_s = (time.perf_counter() - t) / 50
    slow = make_env("textworld", snapshots=False, **env_opts)
    slow.replay(tasks[0], env.actions)
    t = time.perf_counter()
    for _ in range(50):
        slow.fork()
    replay_fork_s = (time.perf_counter() - t) / 50
    res["speed"] = {
        "ms_per_step": round(1000 * step_s, 2),
        "ms_per_reset": round(1000 * reset_s, 2),
        "ms_per_fork_snapshot": round(1000 * fork_s, 2),
        "ms_per_fork_replay_1_action": round(1000 * replay_fork_s, 2),
    }
    print("speed", res["speed"], flush=True)

    # ---- 1. the agent alone
    pol = policy()
    t = time.perf_counter()
    gens = pol.sample(tasks, args.episodes, seed=1)
    alone = [g.meta["answer"] == OUTCOME_SUCCESS for gs in gens for g in gs]
    per_game = [_rate([g.meta["answer"] == OUTCOME_SUCCESS for g in gs]) for gs in gens]
    res["alone"] = {
        "episodes": len(alone),
        "success_rate": _rate(alone),
        "success_rate_per_game": per_game,
        "mean_turns": round(statistics.mean(len(g.steps) for gs in gens for g in gs), 2),
        "env_steps_per_episode": round(pol.steps_taken / len(alone), 2),
        "seconds": round(time.perf_counter() - t, 2),
    }
    print("alone", {k: v for k, v in res["alone"].items() if k != "success_rate_per_game"}, flush=True)
    error_free = [
        _rate([g.meta["answer"] == OUTCOME_SUCCESS for g in gs])
        for gs in EnvPolicy(env=make_env("textworld", **env_opts), error_rate=0.0).sample(tasks, 1, seed=0)
    ]
    res["alone"]["success_rate_error_rate_0"] = round(statistics.mean(error_free), 4)

    # ---- 2. Monte Carlo labels
    lab = make_labeller("mc", n=args.mc_n, label_type="soft")
    pol = policy()
    t = time.perf_counter()
    labelled = []
    for task, gs in list(zip(tasks, gens, strict=True))[: args.label_games]:
        # a failed episode when there is one (its labels have a first error to find)
        g = next((g for g in gs if g.meta["answer"] != OUTCOME_SUCCESS), gs[0])
        sol = Solution(
            id=f"{task.id}#0", problem=task.question, steps=g.steps, answer=g.meta["answer"],
            reference_answer=task.reference_answer, turns=turns_from_json(g.meta["turns"]),
        )  # fmt: skip
        out = lab.label(sol, task, LabelContext(policy=pol, seed=0))
        errors = [bool(tu["meta"].get("error")) for tu in g.meta["turns"]]
        first_zero = next((i for i, v in enumerate(out.labels) if v is not None and v == 0.0), None)
        labelled.append({
            "id": task.id, "answer": g.meta["answer"], "labels": out.labels, "agent_errors": errors,
            "first_zero": first_zero,
            "first_zero_is_error": None if first_zero is None else errors[first_zero],
            "rollouts": out.rollouts,
        })  # fmt: skip
    res["labels"] = {
        "trajectories": labelled,
        "rollouts": sum(x["rollouts"] for x in labelled),
        "env_steps": pol.steps_taken,
        "seconds": round(time.perf_counter() - t, 2),
    }
    print("labels", {k: v for k, v in res["labels"].items() if k != "trajectories"}, flush=True)

    # ---- 3. search with the MC-value step scorer
    runs = []
    t = time.perf_counter()
    steps_total = 0
    for s in range(args.search_seeds):
        spol, vpol = policy(), policy()
        scorer = MCValueScorer(vpol, tasks, args.value_n, seed=s)
        cfg = SearchConfig(method="greedy", n=args.k, agg="last", max_steps=60, seed=s)
        results = search(tasks, spol, scorer, cfg, quiet=True)
        ok = [r.chosen is not None and r.chosen.answer == OUTCOME_SUCCESS for r in results]
        runs.append({"seed": s, "success_rate": _rate(ok), "env_steps": spol.steps_taken + vpol.steps_taken})
        steps_total += spol.steps_taken + vpol.steps_taken
        print("search", runs[-1], flush=True)
    succ = [r["success_rate"] for r in runs]
    res["search"] = {
        "method": "greedy (best of k actions per turn by MC value)",
        "runs": runs,
        "success_rate": round(statistics.mean(succ), 4),
        "env_steps_per_game": round(steps_total / (len(tasks) * len(runs)), 1),
        "seconds": round(time.perf_counter() - t, 2),
    }
    res["summary"] = {
        "games": len(tasks),
        "success_alone": res["alone"]["success_rate"],
        "success_with_search": res["search"]["success_rate"],
        "env_steps_per_episode_alone": res["alone"]["env_steps_per_episode"],
        "env_steps_per_game_search": res["search"]["env_steps_per_game"],
    }
    print("summary", res["summary"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
