"""The PRM pipeline on agent trajectories (issue #18 item 5): floors on the embedded tool world,
then TextWorld. Writes benchmarks/results/agents.json after every stage (see benchmarks/agents.md).

Stages (held-out tasks throughout; train tasks only feed the PRM's labels):

1. ``labels``: AgentPRM Q-target labels (``q-target``, ``n`` rollouts per action, the noisy agent
   ``tools-noisy`` as rollout policy) on a held-out ProcessBench-style bench
   (``make_bench``, half the trajectories with an error): first-error F1 against the checker,
   hard labels (success fraction > 0) and soft labels (Q < 0.5 = error), rollout cost. Binary
   search (``binary``) for comparison.
2. ``search-oracle``: the noisy agent alone (greedy with K=1) against best-of-K actions per turn
   (``greedy``, K = 2, 4) and beam search guided by the exact checker (``tools-oracle``);
   success rate against environment steps spent.
3. ``train``: trajectories sampled on train tasks, labelled by the runner (binary-search MC labels
   by default, ``--train-labels q-target`` for hard Q-targets), and the ``lm-likelihood`` PRM on
   the packaged ``tools-base`` LM (``--prm tiny``: run 1's token classifier from scratch).
4. ``search-prm``: greedy K=4 with the trained PRM: success and the fraction of the oracle's gain.
5. ``pairwise``: the trained PRM on held-out ToolPRMBench-style pairs (``make_pairs``).
6. ``first-error``: the trained PRM's first-error F1 on the held-out bench.
7. ``textworld``: q-target labelling and search on generated TextWorld games (when installed):
   the agent alone, greedy K=4 scored by the rollout value of each candidate, and greedy K=4 with
   a tiny token-classification PRM trained on q-target labels of agent episodes on other games
   (seeds 100-139) and its first-error F1 on the evaluation games' labelled episodes.

Run: ``nice -n 19 .venv/bin/python benchmarks/agents.py`` (``--quick`` for a smoke run,
``--stages labels,search-oracle`` for a subset; stages read the previous results from the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from prmkit.scorers.base import Scorer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "agents.json"
WORK = ROOT / "benchmarks" / "results" / "agents-work"

STAGES = ["labels", "search-oracle", "train", "search-prm", "pairwise", "first-error", "textworld"]


def save(results: dict[str, Any]) -> None:
    from prmkit.records import write_text_atomic

    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT, json.dumps(results, indent=2, sort_keys=False) + "\n")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def heldout_tasks(n: int, seed: int):
    from prmkit.worlds.tools import generate_tasks

    return generate_tasks(n, seed)


def first_errors(recs) -> list[int]:
    from prmkit.records import first_error_of

    return [first_error_of(r.labels) for r in recs]


# ---------------------------------------------------------------- stages


def stage_labels(a, res: dict[str, Any]) -> dict[str, Any]:
    from prmkit.agents import trajectory_first_error_f1
    from prmkit.label import LabelConfig, read_labelled, run_labelling
    from prmkit.records import write_records
    from prmkit.worlds.tools_agent import make_bench

    bench = make_bench(a.bench, seed=a.heldout_seed + 1, tasks=heldout_tasks(a.bench, a.heldout_seed + 1))
    WORK.mkdir(parents=True, exist_ok=True)
    inp = WORK / "bench.jsonl"
    write_records(inp, bench)
    truth = first_errors(bench)
    out: dict[str, Any] = {"bench": len(bench), "with_error": sum(t >= 0 for t in truth)}
    policy_opts = {"env": "tools", "agent": "tools-noisy"}
    for name, method, n, opts in [
        ("q-target", "q-target", a.n, {"gamma": 0.95}),
        ("binary", "binary", a.n, {}),
    ]:
        d = WORK / f"labels-{name}"
        t0 = time.perf_counter()
        s = run_labelling(LabelConfig(input=str(inp), out=str(d), policy="env", policy_opts=policy_opts,
                                      method=method, n=n, label_opts=opts, seed=a.seed, quiet=True,
                                      batch_size=32, resume=d.exists()))  # fmt: skip
        wall = time.perf_counter() - t0
        recs = {r.id: r for r in read_labelled(d)}
        got = [recs[b.id] for b in bench]
        row: dict[str, Any] = {"n": n, "rollouts": s["rollouts"], "rollouts_per_trajectory": s["rollouts"] / len(got),
                               "wall_s": round(wall, 1)}  # fmt: skip
        if method == "q-target":
            lab = [r.meta["labelling"] for r in got]
            hard = [[1.0 if p > 0 else 0.0 for p in x["success"]] for x in lab]
            row["f1_hard"] = trajectory_first_error_f1(hard, truth)
            row["f1_soft_q"] = trajectory_first_error_f1([x["values"] for x in lab], truth)
            row["gamma"] = 0.95
        else:
            row["f1_hard"] = trajectory_first_error_f1([r.labels for r in got], truth)
        out[name] = row
        log(
            f"labels {name}: F1 {row['f1_hard']['f1']:.1f}, {row['rollouts_per_trajectory']:.1f} rollouts/trajectory"
        )
    return out


def _search(tasks, scorer, cfg, error_rate: float | None = None):
    from prmkit.envs.policy import EnvPolicy
    from prmkit.search import search

    opts = {} if error_rate is None else {"error_rate": error_rate}
    pol = EnvPolicy(env="tools", agent="tools-noisy", **opts)
    return search(tasks, pol, scorer, cfg, quiet=True)


class Flat(Scorer):
    """A scorer that prefers nothing (the agent alone: greedy with K=1 takes its only proposal)."""

    def score_batch(self, problems, steps):
        return [[0.5] * len(s) for s in steps]


def _flat() -> Flat:
    return Flat()


def stage_search_oracle(a, res: dict[str, Any]) -> dict[str, Any]:
    from prmkit.agents import search_point, success_at_budgets
    from prmkit.scorers.oracle import ToolsOracleScorer
    from prmkit.search import SearchConfig

    tasks = heldout_tasks(a.tasks, a.heldout_seed)
    oracle = ToolsOracleScorer(tasks)
    runs: dict[str, Any] = {}
    pts = []
    alone = _search(tasks, _flat(), SearchConfig(method="greedy", n=1, agg="last", seed=a.seed))
    runs["agent"] = alone
    for k in (2, 4):
        runs[f"greedy K={k}"] = _search(
            tasks, oracle, SearchConfig(method="greedy", n=k, agg="last", seed=a.seed)
        )
    runs["beam N=8 M=4"] = _search(
        tasks, oracle, SearchConfig(method="beam", n=8, width=4, agg="min", seed=a.seed)
    )
    for name, rs in runs.items():
        p = {"run": name, **search_point(rs)}
        pts.append(p)
        log(f"oracle search {name}: success {p['success_rate']:.3f}, env steps {p['mean_env_steps']:.1f}")
    base, k4 = pts[0]["success_rate"], pts[2]["success_rate"]
    return {
        "tasks": len(tasks),
        "points": pts,
        "lift_k4_points": round(100 * (k4 - base), 1),
        "agent_alone_curve": success_at_budgets(alone, [2, 3, 4, 5, 6, 8]),
        "greedy_k4_curve": success_at_budgets(runs["greedy K=4"], [10, 20, 30, 40, 60, 80]),
    }


def stage_train(a, res: dict[str, Any]) -> dict[str, Any]:
    """MC labels of the agent's trajectories on train tasks, then the PRM: ``--prm lm-likelihood``
    (default: the logistic head on the packaged ``tools-base`` LM's token log-probabilities) or
    ``--prm tiny`` (run 1: a token classifier trained from scratch)."""
    from prmkit.label import LabelConfig, read_labelled, run_labelling
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train
    from prmkit.worlds.tools import generate_tasks

    tasks = generate_tasks(a.train_tasks, a.train_seed)
    inp = WORK / "train-tasks.jsonl"
    WORK.mkdir(parents=True, exist_ok=True)
    inp.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks), encoding="utf-8")
    d = WORK / f"train-labels-{a.train_labels}"
    opts = {"gamma": 0.95, "label_type": "hard"} if a.train_labels == "q-target" else {}
    policy_opts: dict[str, Any] = {"env": "tools", "agent": "tools-noisy"}
    if a.train_error_rate is not None:
        policy_opts["error_rate"] = a.train_error_rate
    t0 = time.perf_counter()
    s = run_labelling(LabelConfig(input=str(inp), out=str(d), policy="env", policy_opts=policy_opts,
                                  method=a.train_labels, n=a.n, label_opts=opts,
                                  samples_per_problem=a.samples, seed=a.seed, quiet=True, batch_size=32,
                                  resume=d.exists()))  # fmt: skip
    label_s = time.perf_counter() - t0
    recs = read_labelled(d)
    log(f"train labels: {len(recs)} trajectories, {s['rollouts']} rollouts, {label_s:.0f}s")
    prm = WORK / "prm"
    torch.set_num_threads(1)
    if a.prm == "lm-likelihood":
        model_info: dict[str, Any] = {"format": "lm-likelihood", "base": a.base, "span": "agent"}
        tcfg = TrainConfig(out=str(prm), model=a.base, format="lm-likelihood", after_error="drop",
                           max_length=768, seed=a.seed, eval_fraction=0.0, threads=1)  # fmt: skip
    else:
        model_info = {"init": "tiny", "hidden": a.hidden, "layers": a.layers, "vocab": a.vocab}
        tcfg = TrainConfig(out=str(prm), init="tiny", tiny_vocab=a.vocab, tiny_hidden=a.hidden, tiny_layers=a.layers,
                           format="token-classification", loss="bce", after_error="drop", max_steps=a.train_steps,
                           batch_size=16, lr=a.lr, warmup_ratio=0.05, weight_decay=0.01, max_length=768,
                           seed=a.seed, logging_steps=50, eval_steps=0, eval_fraction=0.0, threads=1,
                           time_budget_s=a.train_budget)  # fmt: skip
    t0 = time.perf_counter()
    r = train(tcfg, train_records=recs, eval_records=[])
    losses = [(h["step"], round(h["loss"], 4)) for h in r.log_history if "loss" in h and "step" in h]
    log(f"trained {r.global_step} steps in {time.perf_counter() - t0:.0f}s; losses {losses[-3:]}")
    steps = sum(len(x.steps) for x in recs)
    zeros = sum(1 for x in recs for v in x.labels if v == 0)
    out = {
        "train_tasks": len(tasks),
        "trajectories": len(recs),
        "steps": steps,
        "error_steps": zeros,
        "labels": a.train_labels,
        "label_rollouts": s["rollouts"],
        "label_wall_s": round(label_s, 1),
        "train_error_rate": a.train_error_rate,
        "model": model_info,
        "global_step": r.global_step,
        "train_runtime_s": r.train_runtime_s,
        "losses": losses,
        "prm": str(prm.relative_to(ROOT)),
    }
    if a.prm == "lm-likelihood":
        meta = json.loads((prm / "prmkit.json").read_text())
        out["likelihood_head"] = meta.get("likelihood_head") or meta.get("extra", {}).get("likelihood_head")
    return out


def _prm():
    from prmkit.scorers import load_scorer

    return load_scorer(None, str(WORK / "prm"))


def stage_search_prm(a, res: dict[str, Any]) -> dict[str, Any]:
    from prmkit.agents import search_point
    from prmkit.search import SearchConfig

    torch.set_num_threads(1)
    tasks = heldout_tasks(a.tasks, a.heldout_seed)
    rs = _search(tasks, _prm(), SearchConfig(method="greedy", n=4, agg="last", seed=a.seed))
    p = {"run": "greedy K=4 (trained PRM)", **search_point(rs)}
    pts = res.get("search-oracle", {}).get("points", [])
    out: dict[str, Any] = {"point": p}
    if pts:
        base = pts[0]["success_rate"]
        oracle = next(x for x in pts if x["run"] == "greedy K=4")["success_rate"]
        gain = oracle - base
        out["fraction_of_oracle_gain"] = round((p["success_rate"] - base) / gain, 3) if gain > 0 else None
        log(f"PRM search: success {p['success_rate']:.3f} (agent {base:.3f}, oracle {oracle:.3f}): "
            f"{out['fraction_of_oracle_gain']} of the gain")  # fmt: skip
    return out


def stage_pairwise(a, res: dict[str, Any]) -> dict[str, Any]:
    from prmkit.evaluate.pairwise import evaluate_pairs, score_pairs
    from prmkit.formats.tool_pairs import read_pair
    from prmkit.worlds.tools_agent import make_pairs

    torch.set_num_threads(1)
    cases = make_pairs(a.pairs, seed=a.heldout_seed + 2, tasks=heldout_tasks(a.pairs, a.heldout_seed + 2))
    recs = score_pairs(_prm(), [read_pair(c) for c in cases])
    r = evaluate_pairs(recs)
    log(f"pairwise accuracy {r['accuracy']:.3f}")
    return r


def stage_first_error(a, res: dict[str, Any]) -> dict[str, Any]:
    from prmkit.agents import trajectory_first_error_f1
    from prmkit.records import read_records

    torch.set_num_threads(1)
    bench = list(read_records(WORK / "bench.jsonl"))
    scored = list(_prm().score_records(iter(bench), 16))
    r = trajectory_first_error_f1([s.scores for s in scored], first_errors(bench))
    log(f"PRM first-error F1 {r['f1']:.1f}")
    return r


def stage_textworld(a, res: dict[str, Any]) -> dict[str, Any]:
    try:
        import textworld  # noqa: F401

        import prmkit.envs.textworld  # noqa: F401 - registers 'textworld'
    except ImportError as e:
        return {"skipped": f"textworld not available: {e}"}
    from prmkit.agents import search_point
    from prmkit.envs.base import make_env
    from prmkit.envs.policy import EnvPolicy
    from prmkit.label import LabelContext, make_labeller
    from prmkit.records import Solution, first_error_of
    from prmkit.search import SearchConfig, search

    env_opts = {"world_size": 5, "nb_objects": 10, "quest_length": 5, "turn_slack": 3}
    env = make_env("textworld", **env_opts)
    t0 = time.perf_counter()
    games = [env.make_task(i) for i in range(a.games)]  # seeds 0-19, as benchmarks/textworld_agents.py
    gen_s = time.perf_counter() - t0
    log(f"textworld: {len(games)} games in {gen_s:.0f}s")

    def policy():
        # the turn budget is the game's: walkthrough + turn_slack (wasted turns cost the game)
        return EnvPolicy(
            env=make_env("textworld", **env_opts), agent="textworld-noisy", error_rate=a.tw_error_rate
        )

    # labelling: one agent episode per game, q-target labels (hard) from the agent's rollouts
    pol = policy()
    lab = make_labeller("q-target", n=a.tw_n, gamma=0.95, label_type="hard")
    t0 = time.perf_counter()
    recs, rollouts = [], 0
    for g in games:
        gen = pol.sample([g], 1, seed=a.seed)[0][0]
        sol = Solution(id=f"{g.id}#0", problem=g.question, steps=gen.steps, answer=gen.meta.get("answer"),
                       reference_answer=g.reference_answer)  # fmt: skip
        o = lab.label(sol, g, LabelContext(policy=pol, seed=a.seed))
        rollouts += o.rollouts
        errs = [bool((t.get("meta") or {}).get("error")) for t in gen.meta["turns"]]
        recs.append((sol, o, errs))
    label_s = time.perf_counter() - t0
    failed = sum(1 for s, _, _ in recs if s.answer != "success")
    with_error = sum(1 for _, o, _ in recs if first_error_of(o.labels) >= 0)
    # the first step labelled 0 is one of the agent's own (recorded) errors
    on_agent_error = sum(
        1 for _, o, e in recs if first_error_of(o.labels) >= 0 and e[first_error_of(o.labels)]
    )
    log(f"textworld labels: {len(recs)} episodes, {failed} failed, {with_error} with a first error, "
        f"{rollouts} rollouts, {label_s:.0f}s")  # fmt: skip
    # search 1: the MC value of each candidate action as its score (a rollout-value PRM: q-target
    # of the prefix, n rollouts); search 2 (below): a PRM trained on labels of other games
    scorer = RolloutValueScorer(policy(), games, n=a.tw_n, seed=a.seed, max_steps=None)
    t0 = time.perf_counter()
    alone = search(games, policy(), _flat(), SearchConfig(method="greedy", n=1, agg="last", max_steps=a.tw_max_turns,
                                                          seed=a.seed), quiet=True)  # fmt: skip
    guided = search(games, policy(), scorer, SearchConfig(method="greedy", n=4, agg="last",
                                                          max_steps=a.tw_max_turns, seed=a.seed), quiet=True)  # fmt: skip
    search_s = time.perf_counter() - t0
    pa, pg = search_point(alone), search_point(guided)
    log(f"textworld search: agent {pa['success_rate']:.2f}, guided {pg['success_rate']:.2f}")
    trained = _textworld_trained_prm(a, env_opts, games, recs, policy)
    ref = ROOT / "benchmarks" / "results" / "textworld_agents.json"
    reused = json.loads(ref.read_text())["summary"] if ref.exists() else None
    return {
        "textworld_agents_benchmark_summary": reused,
        "games": len(games),
        "env": env_opts,
        "agent_error_rate": a.tw_error_rate,
        "max_turns": "walkthrough + turn_slack 3",
        "generate_s": round(gen_s, 1),
        "labelling": {
            "method": "q-target (hard, gamma 0.95)",
            "n": a.tw_n,
            "episodes": len(recs),
            "failed_episodes": failed,
            "with_first_error": with_error,
            "rollouts": rollouts,
            "wall_s": round(label_s, 1),
            "first_error_on_an_agent_error": on_agent_error,
        },  # fmt: skip
        "search": {
            "scorer": f"rollout value (q-target success fraction, n={a.tw_n})",
            "agent_alone": pa,
            "greedy_k4": pg,
            "scorer_rollouts": scorer.rollouts,
            "scorer_env_steps": scorer.policy.steps_taken,
            "wall_s": round(search_s, 1),
        },  # fmt: skip
        "trained_prm": trained,
    }


def _textworld_trained_prm(a, env_opts, games, eval_recs, policy) -> dict[str, Any]:
    """A PRM trained on TextWorld labels: agent episodes on train games (seeds disjoint from the
    evaluation games), MC labels by the label runner, a tiny token classifier from scratch; then
    greedy K=4 search with it on the evaluation games and its first-error F1 on their labelled
    episodes."""
    from prmkit.agents import search_point, trajectory_first_error_f1
    from prmkit.envs.base import make_env
    from prmkit.label import LabelConfig, read_labelled, run_labelling
    from prmkit.records import first_error_of
    from prmkit.scorers import load_scorer
    from prmkit.search import SearchConfig, search
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train

    seeds = range(a.tw_train_seed, a.tw_train_seed + a.tw_train_games)
    assert not set(seeds) & set(range(a.games)), "train games overlap the evaluation games"
    env = make_env("textworld", **env_opts)
    t0 = time.perf_counter()
    tasks = [env.make_task(i) for i in seeds]
    gen_s = time.perf_counter() - t0
    WORK.mkdir(parents=True, exist_ok=True)
    inp = WORK / "tw-train-games.jsonl"
    inp.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks), encoding="utf-8")
    d = WORK / f"tw-train-labels-{a.tw_train_labels}-s{a.tw_samples}"
    opts = {"gamma": 0.95, "label_type": "hard"} if a.tw_train_labels == "q-target" else {}
    policy_opts: dict[str, Any] = {"env": "textworld", **{f"env.{k}": v for k, v in env_opts.items()},
                                   "agent": "textworld-noisy", "error_rate": a.tw_error_rate}  # fmt: skip
    t0 = time.perf_counter()
    s = run_labelling(LabelConfig(input=str(inp), out=str(d), policy="env", policy_opts=policy_opts,
                                  method=a.tw_train_labels, n=a.tw_n, label_opts=opts,
                                  samples_per_problem=a.tw_samples, seed=a.seed, quiet=True, batch_size=8,
                                  resume=d.exists()))  # fmt: skip
    label_s = time.perf_counter() - t0
    recs = read_labelled(d)
    assert all(r.turns for r in recs), "labelled TextWorld records lost their turns"
    steps = sum(len(x.steps) for x in recs)
    zeros = sum(1 for x in recs for v in x.labels if v == 0)
    log(f"textworld train labels: {len(recs)} episodes of {len(tasks)} games, {steps} steps, {zeros} labelled 0, "
        f"{s['rollouts']} rollouts, {label_s:.0f}s")  # fmt: skip
    prm = WORK / "tw-prm"
    torch.set_num_threads(1)
    tcfg = TrainConfig(out=str(prm), init="tiny", tiny_vocab=a.vocab, tiny_hidden=a.tw_hidden,
                       tiny_layers=a.tw_layers, format="token-classification", loss="bce", after_error="drop",
                       max_steps=a.tw_train_steps, batch_size=16, lr=a.lr, warmup_ratio=0.05, weight_decay=0.01,
                       max_length=1024, seed=a.seed, logging_steps=25, eval_steps=0, eval_fraction=0.0,
                       threads=1, time_budget_s=a.tw_train_budget)  # fmt: skip
    t0 = time.perf_counter()
    r = train(tcfg, train_records=recs, eval_records=[])
    losses = [(h["step"], round(h["loss"], 4)) for h in r.log_history if "loss" in h and "step" in h]
    log(f"textworld PRM: {r.global_step} steps in {time.perf_counter() - t0:.0f}s; losses {losses[-3:]}")
    scorer = load_scorer(None, str(prm))
    # first-error F1 on the evaluation games' labelled episodes (truth: their q-target hard labels)
    sols = [sol for sol, _, _ in eval_recs]
    sc = scorer.score_batch([x.problem for x in sols], [x.steps for x in sols])
    f1 = trajectory_first_error_f1(sc, [first_error_of(o.labels) for _, o, _ in eval_recs])
    t0 = time.perf_counter()
    guided = search(games, policy(), scorer, SearchConfig(method="greedy", n=4, agg="last",
                                                          max_steps=a.tw_max_turns, seed=a.seed), quiet=True)  # fmt: skip
    search_s = time.perf_counter() - t0
    pt = search_point(guided)
    log(f"textworld trained-PRM search: {pt['success_rate']:.2f}; first-error F1 {f1['f1']}")
    return {
        "train_games": f"seeds {seeds.start}-{seeds.stop - 1} (disjoint from the evaluation games)",
        "generate_s": round(gen_s, 1),
        "labels": f"{a.tw_train_labels} (n={a.tw_n}), agent textworld-noisy error_rate {a.tw_error_rate}",
        "episodes": len(recs),
        "steps": steps,
        "steps_labelled_0": zeros,
        "episodes_with_error": sum(1 for x in recs if first_error_of(x.labels) >= 0),
        "label_rollouts": s["rollouts"],
        "label_wall_s": round(label_s, 1),
        "model": {
            "init": "tiny",
            "hidden": a.tw_hidden,
            "layers": a.tw_layers,
            "vocab": a.vocab,
            "format": "token-classification",
            "loss": "bce",
            "after_error": "drop",
        },  # fmt: skip
        "global_step": r.global_step,
        "train_runtime_s": r.train_runtime_s,
        "losses": losses,
        "prm": str(prm.relative_to(ROOT)),
        "first_error_f1_eval_episodes": f1,
        "greedy_k4": pt,
        "search_wall_s": round(search_s, 1),
    }


class RolloutValueScorer(Scorer):
    """Scores each step by the MC success fraction of its prefix (``n`` rollouts of the policy):
    a PRM made of rollouts, for environments without a trained one. Prefix values are cached."""

    def __init__(self, policy, problems, n: int, seed: int, max_steps: int | None):
        from prmkit.label.base import Grader

        self.policy, self.n, self.seed, self.max_steps = policy, n, seed, max_steps
        self.by_text = {p.question: p for p in problems}
        self.grader = Grader()
        self.cache: dict[tuple[str, tuple[str, ...]], float] = {}
        self.rollouts = 0

    def _value(self, problem, prefix: tuple[str, ...]) -> float:
        key = (problem.id, prefix)
        if key not in self.cache:
            from prmkit.label.base import Rollouts

            ro = Rollouts(self.policy, problem, problem.id, self.seed, self.grader, self.n, self.max_steps)
            self.cache[key] = ro.value(list(prefix), self.n)
            self.rollouts += ro.rollouts
        return self.cache[key]

    def score_batch(self, problems, steps):
        out = []
        for q, st in zip(problems, steps, strict=True):
            p = self.by_text[q]
            # only the last step decides greedy (agg=last); earlier steps get their cached value or None
            vals: list[float | None] = [
                self.cache.get((p.id, tuple(st[: i + 1]))) for i in range(len(st) - 1)
            ]
            vals.append(self._value(p, tuple(st)))
            out.append(vals)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout-seed", type=int, default=5000)
    ap.add_argument("--train-seed", type=int, default=100)
    ap.add_argument("--bench", type=int, default=200, help="held-out trajectories for label F1")
    ap.add_argument("--tasks", type=int, default=200, help="held-out tasks for search")
    ap.add_argument("--pairs", type=int, default=300, help="held-out pairwise cases")
    ap.add_argument("--n", type=int, default=4, help="rollouts per action (labels)")
    ap.add_argument("--train-tasks", type=int, default=300)
    ap.add_argument("--samples", type=int, default=2, help="trajectories per train task")
    ap.add_argument(
        "--train-error-rate",
        type=float,
        default=None,
        help="agent error rate of the train trajectories (default: the agent's, 0.18)",
    )
    ap.add_argument(
        "--train-labels",
        default="binary",
        choices=["binary", "q-target"],
        help="MC labeller of the train trajectories (q-target: hard labels)",
    )
    ap.add_argument(
        "--prm",
        default="lm-likelihood",
        choices=["lm-likelihood", "tiny"],
        help="the trained PRM: lm-likelihood on --base, or a tiny token classifier from scratch",
    )
    ap.add_argument("--base", default="tools-base", help="base LM of the lm-likelihood PRM")
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--train-budget", type=float, default=900.0, help="training time budget (s)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--tw-n", type=int, default=4)
    ap.add_argument("--tw-error-rate", type=float, default=0.3)
    ap.add_argument("--tw-max-turns", type=int, default=20)
    ap.add_argument("--tw-train-seed", type=int, default=100, help="first TextWorld train game seed")
    ap.add_argument("--tw-train-games", type=int, default=40)
    ap.add_argument("--tw-samples", type=int, default=10, help="agent episodes per TextWorld train game")
    ap.add_argument("--tw-train-labels", default="q-target", choices=["binary", "q-target"])
    ap.add_argument("--tw-train-steps", type=int, default=300)
    ap.add_argument("--tw-train-budget", type=float, default=420.0, help="TextWorld PRM training budget (s)")
    ap.add_argument("--tw-hidden", type=int, default=128)
    ap.add_argument("--tw-layers", type=int, default=2)
    a = ap.parse_args()
    if a.quick:
        a.bench, a.tasks, a.pairs, a.train_tasks, a.samples, a.train_steps, a.games = 20, 20, 20, 30, 2, 30, 2
        a.tw_train_games, a.tw_samples, a.tw_train_steps = 2, 2, 5
    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import prmkit.worlds  # noqa: F401 - registers the tool world

    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    results["config"] = {k: v for k, v in vars(a).items() if k != "stages"}
    fns = {
        "labels": stage_labels,
        "search-oracle": stage_search_oracle,
        "train": stage_train,
        "search-prm": stage_search_prm,
        "pairwise": stage_pairwise,
        "first-error": stage_first_error,
        "textworld": stage_textworld,
    }
    for st in a.stages.split(","):
        t0 = time.perf_counter()
        log(f"stage {st}")
        results[st] = fns[st](a, results)
        results[st]["stage_wall_s"] = round(time.perf_counter() - t0, 1)
        save(results)
    log(f"wrote {OUT}")


if __name__ == "__main__":
    main()
