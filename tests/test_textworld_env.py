"""TextWorld environment (prmkit.envs.textworld): generated games, the walkthrough agent, forks,
episodes through EnvPolicy, Monte Carlo labels on real game dynamics.

Needs the optional extra (``pip install 'prmkit[textworld]'``); skipped, with the reason shown
by ``-ra``, when it is absent. Games are tiny (3 rooms, quest length 3) and generated once per
session into a temporary cache (~1 s each).
"""

from __future__ import annotations

import shutil
import sys

import pytest

from prmkit.envs import ENVIRONMENTS, make_env
from prmkit.envs.policy import OUTCOME_FAILURE, OUTCOME_SUCCESS, EnvPolicy
from prmkit.errors import PrmkitError
from prmkit.label import make_labeller
from prmkit.label.base import LabelContext
from prmkit.records import Solution
from prmkit.trajectory import ToolCall, turns_from_json

SKIP_REASON = "textworld not installed (optional extra: pip install 'prmkit[textworld]')"
PARAMS = {"world_size": 3, "nb_objects": 4, "quest_length": 3}


def _tw():
    return pytest.importorskip("textworld", reason=SKIP_REASON)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    _tw()
    return tmp_path_factory.mktemp("tw-cache")


@pytest.fixture(scope="module")
def task(cache):
    return make_env("textworld", cache_dir=cache, **PARAMS).make_task(1)


def test_missing_package_is_a_clear_error(monkeypatch):
    import prmkit.envs.textworld as twenv

    monkeypatch.setitem(sys.modules, "textworld", None)  # import textworld -> ImportError
    with pytest.raises(PrmkitError, match=r"pip install 'prmkit\[textworld\]'"):
        twenv.TextWorldEnv()
    assert not twenv.textworld_available()
    assert "textworld" in ENVIRONMENTS


def test_generation_is_deterministic_and_rebuilds(cache, task, tmp_path):
    m = task.meta["textworld"]
    assert task.reference_answer == "success" and task.question and m["walkthrough"]
    assert (m["seed"], m["quest_length"]) == (1, 3)
    other = make_env("textworld", cache_dir=tmp_path / "other", **PARAMS).make_task(1)
    assert (other.id, other.question, other.meta["textworld"]["walkthrough"]) == (
        task.id, task.question, m["walkthrough"],
    )  # fmt: skip
    with open(m["game_file"], "rb") as a, open(other.meta["textworld"]["game_file"], "rb") as b:
        assert a.read() == b.read()
    # the task rebuilds in a fresh cache when its game file is gone (another machine)
    shutil.rmtree(tmp_path / "other")
    env = make_env("textworld", cache_dir=tmp_path / "third", **PARAMS)
    first = env.reset(other)
    assert first == make_env("textworld", cache_dir=cache, **PARAMS).reset(task)
    for cmd in m["walkthrough"]:
        env.step(cmd)
    assert env.success and env.done


def test_walkthrough_and_error_rate_zero_win(cache, task):
    env = make_env("textworld", cache_dir=cache, **PARAMS)
    obs = env.reset(task)
    assert env.admissible_commands and env.policy_commands == task.meta["textworld"]["walkthrough"]
    assert "___" not in obs  # the banner is cleaned away
    rewards = [env.step(c).reward for c in task.meta["textworld"]["walkthrough"]]
    assert env.success and env.last.info["success"] and sum(rewards) == task.meta["textworld"]["max_score"]
    pol = EnvPolicy(
        env=make_env("textworld", cache_dir=cache, **PARAMS), agent="textworld-noisy", error_rate=0.0
    )
    gens = pol.sample([task], 2, seed=0)[0]
    assert all(g.finished and g.meta["answer"] == OUTCOME_SUCCESS for g in gens)
    assert [t["action"] for t in gens[0].meta["turns"]] == task.meta["textworld"]["walkthrough"]


def test_fork_equals_replay(cache, task):
    fast = make_env("textworld", cache_dir=cache, **PARAMS)
    slow = make_env("textworld", cache_dir=cache, snapshots=False, **PARAMS)
    for e in (fast, slow):
        e.reset(task)
        e.step("look")
        e.step(task.meta["textworld"]["walkthrough"][0])
    assert fast.snapshot() is not None and slow.snapshot() is None
    a, b = fast.fork(), slow.fork()
    assert a.actions == b.actions == fast.actions
    for cmd in [*a.admissible_commands[:6], *a.policy_commands[:1]]:
        x, y = a.fork(), b.fork()
        rx, ry = x.step(cmd), y.step(cmd)
        assert (rx.observation, rx.reward, rx.done, rx.info) == (ry.observation, ry.reward, ry.done, ry.info)
        assert (x.admissible_commands, x.policy_commands) == (y.admissible_commands, y.policy_commands)
    # a fork is independent of its parent
    before = fast.policy_commands
    for cmd in a.policy_commands:
        a.step(cmd)
    assert a.success and not fast.done and fast.policy_commands == before


def test_tool_calls_and_options_are_refused_clearly(cache, task):
    env = make_env("textworld", cache_dir=cache, **PARAMS)
    env.reset(task)
    r = env.step(ToolCall("go", {"direction": "north"}))
    assert "text commands" in r.observation and not r.done
    with pytest.raises(PrmkitError, match="unknown textworld option"):
        make_env("textworld", cache_dir=cache, rooms=3)


def test_envpolicy_episodes_are_graded_and_mc_labels_run(cache, task):
    pol = EnvPolicy(
        env=make_env("textworld", cache_dir=cache, turn_slack=1, **PARAMS),
        agent="textworld-noisy",
        error_rate=0.6,
    )
    gens = pol.sample([task], 6, seed=3)[0]
    answers = {g.meta["answer"] for g in gens}
    assert all(g.finished for g in gens) and answers <= {OUTCOME_SUCCESS, OUTCOME_FAILURE}
    assert all((g.meta["answer"] == OUTCOME_SUCCESS) == g.meta["success"] for g in gens)
    assert all(len(g.steps) <= len(task.meta["textworld"]["walkthrough"]) + 1 for g in gens)
    g = gens[0]
    sol = Solution(
        id=f"{task.id}#0", problem=task.question, steps=g.steps, answer=g.meta["answer"],
        reference_answer=task.reference_answer, turns=turns_from_json(g.meta["turns"]),
    )  # fmt: skip
    out = make_labeller("mc", n=2, label_type="soft").label(sol, task, LabelContext(policy=pol, seed=0))
    assert len(out.labels) == len(sol.steps) and all(v is not None and 0.0 <= v <= 1.0 for v in out.labels)
    # the last step of a finished episode is valued by its own outcome
    assert out.labels[-1] == float(g.meta["answer"] == OUTCOME_SUCCESS)
