"""The PRM pipeline on agent trajectories, on the trap corridor of ``agent_fakes`` (hand-checked):
q-target labels, the runner writing turns and resuming, Ray parity, greedy/beam search stepping
the environment with an oracle scorer, success against actions, turn credit for RL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agent_fakes import CorridorAgent, CorridorEnv, CorridorOracle, safe_labels
from prmkit.agents import search_point, success_at_budgets, success_vs_actions, trajectory_first_error_f1
from prmkit.envs.policy import EnvPolicy
from prmkit.errors import PrmkitError
from prmkit.label import (
    LabelConfig,
    LabelContext,
    make_labeller,
    pool_q_targets,
    read_labelled,
    run_labelling,
)
from prmkit.label.qtarget import q_start, state_action_key
from prmkit.records import Problem, Solution, first_error_of
from prmkit.rl.agent_credit import turn_spans, turn_token_advantages
from prmkit.scorers.base import Scorer
from prmkit.search import SearchConfig, search
from prmkit.trajectory import Turn, steps_from_turns


def _trajectory(env: CorridorEnv, task: Problem, actions: list[str]) -> Solution:
    env.reset(task)
    turns = []
    for a in actions:
        r = env.step(a)
        turns.append(Turn(action=a, observation=r.observation))
    ans = "success" if env.success else "failure"
    return Solution(
        id=f"{task.id}#0",
        problem=task.question,
        steps=steps_from_turns(turns),
        answer=ans,
        reference_answer="success",
        turns=turns,
    )


# ---------------------------------------------------------------- q-target by hand


def test_q_target_by_hand_with_a_perfect_agent():
    env = CorridorEnv(length=3)
    task = env.make_task(0)
    moves = task.meta["moves"]
    wrong = next(m for m in ("left", "right", "up", "down") if m != moves[1])
    sol = _trajectory(env, task, [moves[0], wrong, moves[2]])
    assert safe_labels(task.question, sol.steps) == [1.0, 0.0, 0.0]
    pol = EnvPolicy(env=CorridorEnv(length=3), agent=CorridorAgent(error_rate=0.0))
    ctx = LabelContext(policy=pol, seed=0)
    out = make_labeller("q-target", n=4, gamma=0.9).label(sol, task, ctx)
    # step 0 (safe): every rollout succeeds, (1 + 0.9^0) / 2 = 1; step 1 (trap): all fail,
    # (1 - 0.9) / 2 = 0.05; step 2 is the last step of a failed episode: exact, (1 - 0.81) / 2
    assert out.labels == pytest.approx([1.0, 0.05, 0.095])
    assert out.rollouts == 8 and out.meta["counts"] == [4, 4, 1] and out.meta["success"] == [1.0, 0.0, 0.0]
    hard = make_labeller("q-target", n=4, gamma=0.9, label_type="hard").label(sol, task, ctx)
    assert hard.labels == [1.0, 0.0, 0.0]
    # the textbook discounted return: gamma^(actions left) * outcome; step 0 has 2 actions left
    rem = make_labeller("q-target", n=4, gamma=0.9, exponent="remaining").label(sol, task, ctx)
    assert rem.labels == pytest.approx([0.81, 0.0, 0.0])
    # a success of 3 steps: the targets shrink towards 0.5 with depth, as in AgentPRM's code
    ok = _trajectory(env, task, moves)
    assert make_labeller("q-target", n=2, gamma=0.9).label(ok, task, ctx).labels == pytest.approx(
        [1.0, 0.95, 0.905]
    )
    assert q_start([True, False, False, False], 1, 0.5) == pytest.approx(0.375)  # (1 + 0.5 * -0.5) / 2


def test_q_target_state_action_key_ignores_thoughts_and_pooling_averages_by_count():
    env = CorridorEnv(length=3)
    task = env.make_task(1)
    a = _trajectory(env, task, task.meta["moves"])
    b_turns = [Turn(action=t.action, observation=t.observation, thought="other") for t in a.turns]
    assert state_action_key(task.question, a.steps, 2) == state_action_key(
        task.question, steps_from_turns(b_turns), 2
    )
    assert state_action_key(task.question, a.steps, 1) != state_action_key(task.question, a.steps, 2)

    def rec(i, q, p, n):
        lab = {
            "method": "q-target",
            "values": q,
            "success": p,
            "counts": n,
            "label_type": "hard",
            "threshold": 0.0,
            "keys": ["k0", f"k1-{i}"],
        }
        return Solution(
            id=str(i), problem="?", steps=["Action: a", "Action: b"], labels=[1, 1], meta={"labelling": lab}
        )

    pooled = pool_q_targets([rec(0, [1.0, 1.0], [1.0, 1.0], [2, 2]), rec(1, [0.0, 0.0], [0.0, 0.0], [6, 6])])
    assert pooled[0].meta["labelling"]["values"] == [0.25, 1.0]  # (2 * 1 + 6 * 0) / 8 on the shared key
    assert pooled[1].labels == [1.0, 0.0] and pooled[1].meta["labelling"]["counts"] == [8, 6]


def test_q_target_bad_options():
    for opts in ({"gamma": 0}, {"exponent": "end"}, {"label_type": "x"}, {"n": 0}, {"threshold": 1}):
        with pytest.raises(PrmkitError):
            make_labeller("q-target", **opts)


# ---------------------------------------------------------------- the runner on trajectories


def _problems(tmp_path, k=6, length=3):
    env = CorridorEnv(length=length)
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        "".join(json.dumps(env.make_task(s).to_dict()) + "\n" for s in range(k)), encoding="utf-8"
    )
    return path


def _shards(out):
    return [p.read_text(encoding="utf-8") for p in sorted((out / "shards").glob("shard-*.jsonl"))]


def _cfg(tmp_path, inp, name, **kw):
    base = dict(
        input=str(inp),
        out=str(tmp_path / name),
        policy="agent_fakes:CorridorPolicy",
        policy_opts={"error_rate": 0.3},
        method="q-target",
        n=4,
        samples_per_problem=2,
        batch_size=2,
        seed=3,
        quiet=True,
        label_opts={"gamma": 0.9},
    )
    return LabelConfig(**{**base, **kw})


def test_runner_writes_turns_and_resumes(tmp_path):
    inp = _problems(tmp_path)
    s = run_labelling(_cfg(tmp_path, inp, "a"))
    recs = read_labelled(tmp_path / "a")
    assert len(recs) == 12 and s["rollouts"] > 0
    for r in recs:
        assert r.turns is not None and r.steps == steps_from_turns(r.turns)
        assert r.turns[-1].observation is not None  # the last observation is kept in the turn
        assert r.answer in ("success", "failure") and len(r.labels) == len(r.steps)
        assert r.meta["labelling"]["method"] == "q-target"
    first = _shards(tmp_path / "a")
    (tmp_path / "a" / "shards" / "shard-00001.jsonl").unlink()
    run_labelling(_cfg(tmp_path, inp, "a", resume=True))
    assert _shards(tmp_path / "a") == first
    # labels against the checker: hard q-target labels find the first unsafe move
    hard = run_labelling(_cfg(tmp_path, inp, "h", label_opts={"gamma": 0.9, "label_type": "hard"}))
    assert hard["rollouts"] > 0
    got = read_labelled(tmp_path / "h")
    truth = [first_error_of(safe_labels(r.problem, r.steps)) for r in got]
    m = trajectory_first_error_f1([r.labels for r in got], truth)
    assert m["f1"] >= 80


def test_ray_executor_equals_local_on_trajectories(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import os
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    inp = _problems(tmp_path, k=4)
    run_labelling(_cfg(tmp_path, inp, "local"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_labelling(_cfg(tmp_path, inp, "ray", executor="ray"))
    finally:
        ray.shutdown()
    assert _shards(tmp_path / "ray") == _shards(tmp_path / "local")


# ---------------------------------------------------------------- search stepping the environment


class Flat(Scorer):
    def score_batch(self, problems, steps):
        return [[0.5] * len(s) for s in steps]


def _tasks(k, length):
    env = CorridorEnv(length=length)
    return [env.make_task(s) for s in range(k)]


def test_greedy_best_of_k_actions_and_beam_lift_success_and_count_env_steps():
    tasks = _tasks(12, 4)

    def pol():
        return EnvPolicy(env=CorridorEnv(length=4), agent=CorridorAgent(error_rate=0.4))

    alone = search(tasks, pol(), Flat(), SearchConfig(method="greedy", n=1, max_steps=10), quiet=True)
    k4 = search(tasks, pol(), CorridorOracle(), SearchConfig(method="greedy", n=4, max_steps=10), quiet=True)
    beam = search(
        tasks, pol(), CorridorOracle(), SearchConfig(method="beam", n=8, width=4, max_steps=10), quiet=True
    )
    a, g, b = search_point(alone), search_point(k4), search_point(beam)
    # by hand: alone 0.6^4 = 0.13; greedy fails a turn only if all 4 proposals err: (1 - 0.4^4)^4 =
    # 0.90; beam keeps 2 survivors of 4 expansions each. 12 tasks: thresholds leave room for chance
    assert a["success_rate"] <= 0.25 and g["success_rate"] >= 0.75 and b["success_rate"] >= 0.75
    assert g["success_rate"] - a["success_rate"] >= 0.5
    # agent alone: one action per turn, no replays beyond the prefix: depth d costs d + 1
    assert a["mean_env_steps"] == 1 + 2 + 3 + 4
    # greedy K=4 on a 3-room corridor: depth d replays d, then 4 forks replay d and act once each
    r = search(
        _tasks(1, 3),
        EnvPolicy(env=CorridorEnv(length=3), agent=CorridorAgent(error_rate=0.4)),
        CorridorOracle(),
        SearchConfig(method="greedy", n=4, max_steps=10),
        quiet=True,
    )[0]
    assert r.compute.env_steps == (0 + 0 + 4) + (1 + 4 + 4) + (2 + 8 + 4)
    assert r.compute.generated_sequences == 12 and r.meta["correct"]
    pts = success_vs_actions({"agent": alone, "greedy K=4": k4})
    assert [p["run"] for p in pts] == ["agent", "greedy K=4"]


def test_success_at_budgets_by_hand():
    from prmkit.search.compute import Compute
    from prmkit.search.results import SearchResult

    rs = [
        SearchResult(str(i), "greedy", None, [], Compute(env_steps=e), {"correct": c})
        for i, (e, c) in enumerate([(4, True), (9, True), (9, False), (20, True)])
    ]
    assert [p["success_rate"] for p in success_at_budgets(rs, [3, 4, 9, 20])] == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(PrmkitError):
        success_at_budgets(rs, [1], cost="tokens")


# ---------------------------------------------------------------- RL credit per turn


def test_turn_token_advantages_by_hand():
    # prompt 0, turn 0 = tokens 1-2, observation 3-4, turn 1 = 5, observation 6, turn 2 = 7-8
    mask = [[0, 1, 1, 0, 0, 1, 0, 1, 1]]
    assert turn_spans(mask) == [[(1, 3), (5, 6), (7, 9)]]
    r = [[1.0, -1.0, 0.5]]
    # sum-form, gamma 0.5: G2 = 0.5, G1 = -1 + 0.25 = -0.75, G0 = 1 - 0.375 = 0.625
    got = turn_token_advantages(r, mask, credit="sum", gamma=0.5)
    assert got.tolist() == [[0.0, 0.625, 0.625, 0.0, 0.0, -0.75, 0.0, 0.5, 0.5]]
    # min-form: G0 = G1 = -1, G2 = 0.5; observation tokens stay 0
    got = turn_token_advantages(torch.tensor(r), torch.tensor(mask), credit="exact-min")
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == [[0.0, -1.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.5, 0.5]]
    # ragged batch, rows of different turn counts
    two = turn_token_advantages([[1.0, 2.0], [3.0]], [[1, 0, 1, 0], [0, 1, 1, 0]])
    assert np.allclose(two, [[3.0, 0.0, 2.0, 0.0], [0.0, 3.0, 3.0, 0.0]])
    with pytest.raises(PrmkitError, match="2 turn rewards but 3"):
        turn_token_advantages([[1.0, 2.0]], mask)
