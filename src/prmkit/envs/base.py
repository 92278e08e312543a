"""The environment and agent interfaces: what labelling, search and evaluation step through.

An :class:`Environment` holds one task at a time: ``reset(task)`` (a :class:`Problem`, or an
``int`` seed the environment makes a task from) returns the first observation; ``step(action)``
returns an :class:`EnvStep` (observation, reward, done, info). Any earlier state is reached again
by :meth:`Environment.replay` (reset, then the same actions): environments are deterministic given
the task. An environment with a faster copy overrides :meth:`Environment.snapshot` and
:meth:`Environment.restore`; :meth:`Environment.fork` uses them when present.

An :class:`Agent` proposes the next turn(s) of a trajectory: ``act(task, turns, observation, n,
seed)`` returns ``n`` turns (thought and action, no observation yet).

Both register by name (:data:`ENVIRONMENTS`, :data:`AGENTS`), and
:class:`prmkit.envs.policy.EnvPolicy` turns an (environment, agent) pair into a
:class:`~prmkit.policies.base.Policy`, so the labellers, searches and runners of math solutions
run on trajectories unchanged.

Example:
    >>> class Count(Environment):
    ...     '''Reach the task's target by actions "+1"; any other action ends the episode.'''
    ...     def make_task(self, seed):
    ...         return Problem(id=f"count-{seed}", question="Count to 2.", reference_answer="success",
    ...                        meta={"target": 2})
    ...     def _reset(self, task):
    ...         self.n = 0
    ...         return "n = 0"
    ...     def _step(self, action):
    ...         if action != "+1":
    ...             return EnvStep("bad action", 0.0, True, {"success": False})
    ...         self.n += 1
    ...         won = self.n == self.task.meta["target"]
    ...         return EnvStep(f"n = {self.n}", float(won), won, {"success": won})
    >>> env = Count()
    >>> env.reset(0)
    'n = 0'
    >>> env.step("+1").observation, env.step("+1").done, env.actions
    ('n = 1', True, ['+1', '+1'])
    >>> env.replay(env.task, ["+1"]).observation, env.actions
    ('n = 1', ['+1'])
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Problem
from prmkit.registry import Registry
from prmkit.trajectory import Action, Turn

#: ``EnvStep.info`` key: whether the episode ended in success (the trajectory's outcome)
INFO_SUCCESS = "success"
#: ``EnvStep.info`` key: the final answer an answering action gave (QA-style tasks)
INFO_ANSWER = "answer"


@dataclass
class EnvStep:
    """What one action returned: the observation, a reward, whether the episode is over, info
    (``success``: bool at the end of an episode; ``answer``: the answer an answering action gave)."""

    observation: str
    reward: float = 0.0
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class Environment(ABC):
    """A deterministic text environment holding one task at a time.

    Subclasses implement :meth:`make_task`, :meth:`_reset` and :meth:`_step`; the base class
    keeps the task, the actions taken and the last step, and refuses a step after the end.
    """

    #: longest episode the environment allows (a step past it ends the episode, unsuccessful)
    max_turns: int = 50

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.task: Problem | None = None
        self.actions: list[Action] = []
        self.last: EnvStep | None = None

    # ---- to implement
    @abstractmethod
    def make_task(self, seed: int) -> Problem:
        """The task of ``seed`` (deterministic): a :class:`Problem` whose ``meta`` holds what the
        environment needs to rebuild it and whose ``reference_answer`` is the answer a grader
        compares with (``"success"`` for environments without answers)."""

    @abstractmethod
    def _reset(self, task: Problem) -> str:
        """Set up ``task``; return the first observation."""

    @abstractmethod
    def _step(self, action: Action) -> EnvStep:
        """Apply ``action`` to the current state."""

    # ---- the interface
    def reset(self, task: Problem | int) -> str:
        """Start ``task`` (or the task of an ``int`` seed); returns the first observation."""
        self.task = self.make_task(task) if isinstance(task, int) else task
        self.actions = []
        self.last = None
        return self._reset(self.task)

    def step(self, action: Action) -> EnvStep:
        """Take ``action``; an episode over ``max_turns`` actions ends unsuccessful."""
        if self.task is None:
            raise PrmkitError("step() before reset()")
        if self.done:
            raise PrmkitError(f"the episode is over; no action after {len(self.actions)} actions")
        self.actions.append(action)
        out = self._step(action)
        if not out.done and len(self.actions) >= self.max_turns:
            out = EnvStep(
                out.observation, out.reward, True, {**out.info, INFO_SUCCESS: False, "truncated": True}
            )
        self.last = out
        return out

    @property
    def done(self) -> bool:
        return self.last is not None and self.last.done

    @property
    def success(self) -> bool:
        """Whether the episode ended in success (``False`` while it runs)."""
        return bool(self.done and self.last is not None and self.last.info.get(INFO_SUCCESS))

    def replay(self, task: Problem, actions: Sequence[Action]) -> EnvStep | None:
        """Reset to ``task`` and take ``actions``; returns the last step (``None`` for none)."""
        self.reset(task)
        last = None
        for a in actions:
            last = self.step(a)
        return last

    def snapshot(self) -> Any:
        """A fast copy of the state, or ``None`` when the environment has none (then :meth:`fork`
        replays). Environments whose whole state is plain Python may return ``copy.deepcopy``."""
        return None

    def restore(self, snap: Any) -> None:
        """Restore a :meth:`snapshot`."""
        raise PrmkitError(f"{type(self).__name__} has no snapshots")

    def fork(self) -> Environment:
        """An independent environment in the same state (snapshot when there is one, else a fresh
        environment with the same options, replayed)."""
        snap = self.snapshot()
        other = type(self)(**self.options)
        if snap is not None:
            other.restore(copy.deepcopy(snap))
        elif self.task is not None:
            other.replay(self.task, list(self.actions))
        return other

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class Agent(ABC):
    """Proposes the next turn of a trajectory."""

    @abstractmethod
    def act(
        self, task: Problem, turns: Sequence[Turn], observation: str, n: int, *, seed: int = 0
    ) -> list[Turn]:
        """``n`` proposals for the next turn (thought and action, no observation), given the task,
        the turns so far (with their observations) and the current observation. Deterministic
        given ``seed``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


ENVIRONMENTS: Registry[type[Environment]] = Registry("environment")
AGENTS: Registry[type[Agent]] = Registry("agent")


def make_env(name: str, **options: Any) -> Environment:
    """Build a registered environment by name."""
    return ENVIRONMENTS.get(name)(**options)


def make_agent(name: str, **options: Any) -> Agent:
    """Build a registered agent by name."""
    try:
        return AGENTS.get(name)(**options)
    except TypeError as e:
        raise PrmkitError(f"bad options for agent '{name}': {e}", field="agent") from None
