"""Trajectory records (prmkit.trajectory, Solution.turns) and the environment interface
(prmkit.envs): expected values written by hand."""

from __future__ import annotations

import random

import pytest

from prmkit.envs.base import Agent, Environment, EnvStep
from prmkit.envs.policy import EnvPolicy
from prmkit.errors import PrmkitError
from prmkit.records import Problem, Solution
from prmkit.trajectory import (
    ToolCall,
    Turn,
    parse_action,
    steps_from_turns,
    turns_from_json,
    turns_from_steps,
)


def test_steps_hide_each_actions_own_observation():
    turns = [
        Turn(ToolCall("search", {"q": "mug"}), observation="[7] mug $3"),
        Turn(ToolCall("answer", {"text": "3"}), thought="3 dollars", observation="done"),
    ]
    assert steps_from_turns(turns) == [
        'Action: search({"q": "mug"})',
        'Observation: [7] mug $3\nThought: 3 dollars\nAction: answer({"text": "3"})',
    ]


def test_record_round_trip_and_steps_derived():
    d = {
        "id": "t#0",
        "problem": "Find the price.",
        "turns": [
            {
                "action": {"name": "lookup", "arguments": '{"id": 7}'},
                "observation": "price 3",
                "thought": "t",
            },
            {"action": "answer 3", "observation": "correct", "meta": {"k": 1}},
        ],
        "labels": [1, 0],
    }
    s = Solution.from_dict(d)
    assert s.steps == ['Thought: t\nAction: lookup({"id": 7})', "Observation: price 3\nAction: answer 3"]
    assert s.turns[0].action == ToolCall("lookup", {"id": 7})
    again = Solution.from_dict(s.to_dict())
    assert again == s and again.turns[1].meta == {"k": 1} and again.turns[1].observation == "correct"


@pytest.mark.parametrize(
    ("turns", "field"),
    [
        ([], "turns"),
        ([{"observation": "x"}], "turns[0].action"),
        ([{"action": {"name": "f", "arguments": "{bad"}}], "turns[0].action.arguments"),
        ([{"action": "a"}, {"action": 3}], "turns[1].action"),
        ([{"action": "a", "thought": 5}], "turns[0].thought"),
    ],
)
def test_bad_turns_name_the_field(turns, field):
    with pytest.raises(PrmkitError) as e:
        Solution.from_dict({"id": "x", "problem": "p", "turns": turns}, file="f.jsonl", line=4)
    assert f"field '{field}'" in str(e.value) and "f.jsonl:4" in str(e.value)


def test_steps_that_disagree_with_turns_are_refused():
    with pytest.raises(PrmkitError, match="step 0 disagrees"):
        Solution.from_dict({"id": "x", "problem": "p", "steps": ["Action: b"], "turns": [{"action": "a"}]})


def test_parse_back_is_lossless():
    turns = [
        Turn("go north", observation="A hall.\nExits: south.", thought="explore"),
        Turn(ToolCall("take", {"obj": "key", "n": 2}), observation="Taken."),
        Turn("open door"),
    ]
    back = turns_from_steps(steps_from_turns(turns))
    assert [(t.action, t.thought) for t in back] == [(t.action, t.thought) for t in turns]
    assert [t.observation for t in back] == ["A hall.\nExits: south.", "Taken.", None]
    assert parse_action("f([1])") == "f([1])"  # arguments must be an object
    with pytest.raises(PrmkitError, match="no 'Action:' line"):
        turns_from_steps(["just text"])
    assert turns_from_json([{"action": "x"}])[0].observation is None


class Corridor(Environment):
    """Walk right ``meta['length']`` times; 'left' at position 0 falls in a pit (fatal)."""

    max_turns = 8

    def make_task(self, seed):
        return Problem(id=f"c{seed}", question="Walk right.", reference_answer="success", meta={"length": 3})

    def _reset(self, task):
        self.pos = 0
        return "pos 0"

    def _step(self, action):
        if action == "left" and self.pos == 0:
            return EnvStep("pit", 0.0, True, {"success": False})
        self.pos += 1 if action == "right" else -1
        won = self.pos == self.task.meta["length"]
        return EnvStep(f"pos {self.pos}", float(won), won, {"success": won})


class Coin(Agent):
    def __init__(self, p_right: float = 1.0) -> None:
        self.p = p_right

    def act(self, task, turns, observation, n, *, seed=0):
        rng = random.Random(seed)
        return [Turn("right" if rng.random() < self.p else "left") for _ in range(n)]


def test_environment_replay_fork_and_turn_limit():
    env = Corridor()
    env.reset(0)
    env.step("right")
    other = env.fork()
    assert other.step("right").observation == "pos 2" and env.actions == ["right"]
    assert env.step("right").observation == "pos 2"
    assert env.step("right").done and env.success
    with pytest.raises(PrmkitError, match="episode is over"):
        env.step("right")
    env.reset(0)
    for _ in range(7):
        env.step("right" if len(env.actions) % 2 == 0 else "left")
    out = env.step("right")
    assert out.done and out.info["truncated"] and not env.success  # 8 actions: turn limit


def test_env_policy_plays_and_grades():
    pol = EnvPolicy(Corridor(), Coin(1.0))
    task = pol.env.make_task(0)
    (g,) = pol.continue_from([task], [[]], 1)[0]
    assert (
        g.finished
        and g.meta["answer"] == "success"
        and g.steps
        == [
            "Action: right",
            "Observation: pos 1\nAction: right",
            "Observation: pos 2\nAction: right",
        ]
    )
    # continuing a prefix replays it and hides nothing: the first new step carries its observation
    (g2,) = pol.continue_from([task], [g.steps[:1]], 1, max_steps=1)[0]
    assert g2.steps == ["Observation: pos 1\nAction: right"] and not g2.finished and "answer" not in g2.meta
    bad = EnvPolicy(Corridor(), Coin(0.0))
    (g3,) = bad.continue_from([task], [[]], 1)[0]
    assert g3.meta["answer"] == "failure" and g3.steps == ["Action: left"]


def test_env_policy_refuses_a_prefix_past_the_end():
    pol = EnvPolicy(Corridor(), Coin(1.0))
    task = pol.env.make_task(0)
    with pytest.raises(PrmkitError, match="after the episode ended"):
        pol.continue_from([task], [["Action: left", "Observation: pit\nAction: right"]], 1)


def test_env_policy_samples_do_not_depend_on_the_batch():
    pol = EnvPolicy(Corridor(), Coin(0.7))
    a, b = pol.env.make_task(0), Problem(id="c9", question="Walk right, too.", reference_answer="success",
                                         meta={"length": 3})  # fmt: skip
    both = pol.continue_from([a, b], [[], []], 4, seed=11)
    alone = [pol.continue_from([t], [[]], 4, seed=11)[0] for t in (b, a)]
    assert [[g.steps for g in r] for r in both] == [[g.steps for g in r] for r in alone[::-1]]
    assert len({tuple(g.steps) for g in both[0]}) > 1  # the samples differ from each other
