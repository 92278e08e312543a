"""``EnvPolicy``: an (environment, agent) pair as a step :class:`~prmkit.policies.base.Policy`.

A continuation of a trajectory prefix is an episode played on from the prefix's state: the
prefix's actions are read back from its step text (:func:`prmkit.trajectory.turns_from_steps`)
and replayed, then the agent proposes a turn, the environment answers, and so on until the episode
ends or ``max_steps`` turns were played. Each generated step is a turn's text
(:func:`prmkit.trajectory.step_text`), so labellers (Monte Carlo, binary search), searches
(best-of-K actions per turn is step-level search with one step per expansion; beam search over
trajectories) and the runners work on trajectories as they do on math solutions.

**The environment grades.** A finished episode's answer is ``"success"`` or ``"failure"``
(:data:`OUTCOME_SUCCESS`), and an environment's tasks carry ``reference_answer="success"``, so
the one grading API (:mod:`prmkit.grading`) scores outcomes without knowing about environments.
``Generation.meta`` also holds the episode's ``turns`` (with observations), its total ``reward``
and the environment's own ``env_answer`` when an action gave one.

Registered as policy ``env``: ``load_policy("env", env="tools", agent="tools-noisy",
error_rate=0.3)``; options named ``env.KEY`` go to the environment, the others to the agent
(``--policy env --policy-opt env=tools --policy-opt error_rate=0.3`` on the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prmkit.envs.base import INFO_ANSWER, Agent, Environment, make_agent, make_env
from prmkit.errors import PrmkitError
from prmkit.policies.base import POLICIES, Generation, Policy, check_continue_args
from prmkit.records import Problem
from prmkit.runs import derive_seed
from prmkit.trajectory import Turn, step_text, turns_from_steps

#: the answer of a successful episode (and every environment task's reference answer)
OUTCOME_SUCCESS = "success"
#: the answer of an episode that ended without success (or did not end)
OUTCOME_FAILURE = "failure"


def outcome_answer(env: Environment) -> str:
    """``"success"`` when the episode ended in success, else ``"failure"``."""
    return OUTCOME_SUCCESS if env.success else OUTCOME_FAILURE


@POLICIES.register("env")
class EnvPolicy(Policy):
    """Play episodes of ``env`` with ``agent`` (see the module doc).

    ``env`` and ``agent`` are registered names or built objects; ``agent=None`` takes the
    environment's ``default_agent``. ``max_turns`` caps an episode (default: the environment's).
    """

    step_separator = "\n\n"

    def __init__(
        self,
        env: str | Environment = "tools",
        agent: str | Agent | None = None,
        max_turns: int | None = None,
        **options: Any,
    ) -> None:
        env_opts = {k[4:]: v for k, v in options.items() if k.startswith("env.")}
        agent_opts = {k: v for k, v in options.items() if not k.startswith("env.")}
        self.env = make_env(env, **env_opts) if isinstance(env, str) else env
        if agent is None:
            agent = getattr(self.env, "default_agent", None)
            if agent is None:
                raise PrmkitError(
                    f"environment {type(self.env).__name__} has no default agent; name one", field="agent"
                )
        self.agent = make_agent(agent, **agent_opts) if isinstance(agent, str) else agent
        if max_turns is not None:
            if max_turns < 1:
                raise PrmkitError(f"max_turns must be >= 1, got {max_turns}", field="max_turns")
            self.env.max_turns = max_turns
        self.steps_taken = 0  # environment steps, replays included (the compute of an episode)

    def _at(self, problem: Problem, prefix: Sequence[str]) -> tuple[Environment, list[Turn], str]:
        """The environment in the prefix's state, the prefix's turns and the current observation."""
        turns = turns_from_steps(list(prefix)) if prefix else []
        obs = self.env.reset(problem)
        for t in turns:
            if self.env.done:
                raise PrmkitError(
                    f"problem {problem.id}: the prefix goes on after the episode ended", field="steps"
                )
            r = self.env.step(t.action)
            t.observation = r.observation
            obs = r.observation
        self.steps_taken += len(turns)
        return self.env, turns, obs

    def _play(
        self,
        env: Environment,
        problem: Problem,
        turns: list[Turn],
        obs: str,
        max_steps: int | None,
        seed: int,
    ) -> Generation:
        history = list(turns)
        new: list[Turn] = []
        env_answer = None
        reward = 0.0
        prev = turns[-1].observation if turns else None
        steps: list[str] = []
        while not env.done and (max_steps is None or len(new) < max_steps):
            turn = self.agent.act(problem, history, obs, 1, seed=derive_seed(seed, len(history)))[0]
            r = env.step(turn.action)
            self.steps_taken += 1
            turn = Turn(action=turn.action, thought=turn.thought, observation=r.observation, meta=turn.meta)
            steps.append(step_text(turn, prev))
            prev = obs = r.observation
            reward += r.reward
            if r.info.get(INFO_ANSWER) is not None:
                env_answer = str(r.info[INFO_ANSWER])
            history.append(turn)
            new.append(turn)
        meta: dict[str, Any] = {
            "turns": [t.to_dict() for t in new],
            "reward": reward,
            "success": env.success,
        }
        if env.done:
            meta["answer"] = outcome_answer(env)
        if env_answer is not None:
            meta["env_answer"] = env_answer
        return Generation(steps=steps, finished=env.done, num_tokens=0, meta=meta)

    def continue_from(
        self,
        problems: Sequence[Problem],
        prefixes: Sequence[list[str]],
        n: int,
        *,
        max_steps: int | None = None,
        seed: int = 0,
    ) -> list[list[Generation]]:
        check_continue_args(problems, prefixes, n, max_steps)
        out: list[list[Generation]] = []
        for problem, prefix in zip(problems, prefixes, strict=True):
            env, turns, obs = self._at(problem, prefix)
            gens = []
            for i in range(n):
                e = env.fork() if n > 1 else env
                if n > 1:
                    self.steps_taken += len(turns)
                # seeded by (call seed, question, prefix, sample): never by the pair's place in the
                # call, so a search batched across problems plays the same episodes
                g = self._play(
                    e, problem, turns, obs, max_steps, derive_seed(seed, problem.question, tuple(prefix), i)
                )
                # environment steps this generation cost: its own actions, the prefix replayed for
                # its fork, and (the first one) the prefix replayed to reach the state
                g.meta["env_steps"] = len(g.steps) + len(turns) * ((n > 1) + (i == 0))
                gens.append(g)
            out.append(gens)
        return out

    def close(self) -> None:
        self.env.close()
        self.agent.close()
