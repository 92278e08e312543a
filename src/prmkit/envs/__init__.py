"""Environments for agent trajectories: the interface (:mod:`prmkit.envs.base`) and the policy
that plays episodes (:mod:`prmkit.envs.policy`, registered as policy ``env``).

Example:
    >>> from prmkit.policies import POLICIES
    >>> "env" in POLICIES
    True
"""

from __future__ import annotations

# register the 'env' policy; the 'textworld' environment and 'textworld-noisy' agent (the optional
# textworld package is imported only when a game is made or played)
from prmkit.envs import policy, textworld  # noqa: F401
from prmkit.envs.base import AGENTS, ENVIRONMENTS, Agent, Environment, EnvStep, make_agent, make_env

__all__ = ["AGENTS", "ENVIRONMENTS", "Agent", "EnvStep", "Environment", "make_agent", "make_env"]
