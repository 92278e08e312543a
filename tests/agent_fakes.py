"""A tiny environment with known optimal actions, a noisy agent and an oracle scorer, for the
agent-pipeline tests (hand-checkable outcomes).

**Trap corridor.** A task is a fixed sequence of ``length`` moves (``left``/``right``/``up``/
``down``). Every observation names the next safe move (``The safe move is up.``; the first one is
in the task text). A move other than the safe one springs a trap: the episode goes on to the end
of the corridor, but it can no longer succeed. After ``length`` moves the episode ends, in success
iff no trap was sprung. So the first error of a trajectory is its first unsafe move, and from a
prefix without a trap an agent that always takes the safe move always succeeds.

``CorridorAgent(error_rate)`` takes the safe move, or with probability ``error_rate`` another
one (random from the seed). ``CorridorOracle`` scores a step 1 iff its action is the safe move
named before it and no trap was sprung earlier, else 0.
"""

from __future__ import annotations

import random
import re

from prmkit.envs.base import AGENTS, ENVIRONMENTS, Agent, Environment, EnvStep
from prmkit.envs.policy import EnvPolicy
from prmkit.records import Problem
from prmkit.scorers.base import Scorer
from prmkit.trajectory import Turn, action_text, turns_from_steps

MOVES = ("left", "right", "up", "down")
_SAFE = re.compile(r"The safe move is (\w+)\.")


def corridor_moves(seed: int, length: int) -> list[str]:
    rng = random.Random(f"corridor|{seed}")
    return [rng.choice(MOVES) for _ in range(length)]


@ENVIRONMENTS.register("test-corridor")
class CorridorEnv(Environment):
    """See the module doc. Options: ``length`` (moves per corridor, 3)."""

    default_agent = "test-corridor-agent"

    def __init__(self, length: int = 3, **options):
        super().__init__(length=length, **options)
        self.length = int(length)

    def make_task(self, seed: int) -> Problem:
        moves = corridor_moves(seed, self.length)
        return Problem(
            id=f"corridor-{seed}",
            question=f"Walk the corridor of {self.length} rooms. The safe move is {moves[0]}.",
            reference_answer="success",
            meta={"moves": moves},
        )

    def _reset(self, task: Problem) -> str:
        self.moves = list(task.meta["moves"])
        self.pos = 0
        self.trapped = False
        return task.question

    def _step(self, action) -> EnvStep:
        a = action_text(action)
        if a != self.moves[self.pos]:
            self.trapped = True
        self.pos += 1
        trap = " A trap clicks." if a != self.moves[self.pos - 1] else ""
        if self.pos == len(self.moves):
            ok = not self.trapped
            return EnvStep(
                f"Room {self.pos}.{trap} " + ("The door opens." if ok else "The door is stuck."),
                float(ok),
                True,
                {"success": ok},
            )
        return EnvStep(f"Room {self.pos}.{trap} The safe move is {self.moves[self.pos]}.", 0.0, False, {})

    def snapshot(self):
        return None


@AGENTS.register("test-corridor-agent")
class CorridorAgent(Agent):
    """Safe move, or a random other move with probability ``error_rate``."""

    def __init__(self, error_rate: float = 0.0):
        self.error_rate = float(error_rate)

    def act(self, task, turns, observation, n, *, seed=0):
        safe = _SAFE.search(observation).group(1)
        out = []
        for i in range(n):
            rng = random.Random(f"{seed}|{i}")
            if rng.random() < self.error_rate:
                a = rng.choice([m for m in MOVES if m != safe])
                out.append(Turn(action=a, thought="A guess."))
            else:
                out.append(Turn(action=safe, thought=f"Take the safe move {safe}."))
        return out


class CorridorPolicy(EnvPolicy):
    """``EnvPolicy`` on the corridor, importable as ``agent_fakes:CorridorPolicy`` (Ray workers)."""

    def __init__(self, error_rate: float = 0.0, length: int = 3):
        super().__init__(env=CorridorEnv(length=length), agent=CorridorAgent(error_rate))


def safe_labels(problem: str, steps: list[str]) -> list[float]:
    """The checker: 1 while every move so far was the safe one, 0 from the first unsafe move on."""
    turns = turns_from_steps(steps)
    before = [problem] + [f"Observation: {t.observation}" for t in turns[:-1]]
    out, ok = [], True
    for obs, t in zip(before, turns, strict=True):
        m = _SAFE.search(obs or "")
        ok = ok and m is not None and action_text(t.action) == m.group(1)
        out.append(1.0 if ok else 0.0)
    return out


class CorridorOracle(Scorer):
    """Scores each step by :func:`safe_labels`."""

    def score_batch(self, problems, steps):
        return [safe_labels(p, s) for p, s in zip(problems, steps, strict=True)]
