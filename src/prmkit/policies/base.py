"""The ``Policy`` interface: a step generator that samples solutions and continues step prefixes.

Every backend (arithmetic world, transformers ``generate``, OpenAI-compatible server, vLLM)
implements :meth:`Policy.continue_from`; :meth:`Policy.sample` is continuation from an empty
prefix. Backends register by name in :data:`POLICIES` and are built with :func:`load_policy`.

Determinism: every call takes a ``seed``; the same (seed, problem, prefix, index) gives the
same output on the same backend, which is what makes resumable labelling exact.

Example:
    >>> class Echo(Policy):
    ...     def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
    ...         return [[Generation(steps=["The answer is 1."], finished=True, num_tokens=5)] * n
    ...                 for _ in problems]
    >>> from prmkit.records import Problem
    >>> Echo().sample([Problem(id="p", question="?")], n=2)[0][1].steps
    ['The answer is 1.']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.records import Problem
from prmkit.registry import Registry


@dataclass
class Generation:
    """New steps generated after a prefix.

    ``steps`` excludes the prefix; ``finished`` is True when the solution ended (a final answer
    or the end-of-sequence was reached) rather than stopping at a step boundary or a budget.
    ``num_tokens`` counts generated tokens (for cost accounting).
    """

    steps: list[str]
    finished: bool
    num_tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class Policy(ABC):
    """A step generator."""

    #: string that separates steps in this policy's raw text output
    step_separator: str = "\n\n"

    @abstractmethod
    def continue_from(
        self,
        problems: Sequence[Problem],
        prefixes: Sequence[list[str]],
        n: int,
        *,
        max_steps: int | None = None,
        seed: int = 0,
    ) -> list[list[Generation]]:
        """For each (problem, prefix) pair, generate ``n`` continuations.

        ``max_steps=1`` stops after the next step (step-level search); ``None`` runs to the end
        of the solution (Monte Carlo rollouts). Returns one list of ``n`` generations per pair.
        """

    def sample(self, problems: Sequence[Problem], n: int, *, seed: int = 0) -> list[list[Generation]]:
        """Sample ``n`` full solutions per problem."""
        return self.continue_from(problems, [[] for _ in problems], n, seed=seed)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""


POLICIES: Registry[type[Policy]] = Registry("policy")


def token_budget(total: int, per_step: int | None, max_steps: int | None) -> int:
    """Tokens one generation call may produce: ``per_step`` tokens per step asked for, never more
    than ``total``; ``total`` when there is no step limit or no per-step budget.

    Example:
        >>> [token_budget(256, 32, k) for k in (1, 3, 20, None)]
        [32, 96, 256, 256]
    """
    if max_steps is None or not per_step:
        return total
    return min(total, per_step * max_steps)


def load_policy(name: str, **options: Any) -> Policy:
    """Build a registered policy backend by name, e.g. ``load_policy("arith", error_rate=0.2)``."""
    import prmkit.policies  # noqa: F401 - registers the built-in backends

    return POLICIES.get(name)(**options)
