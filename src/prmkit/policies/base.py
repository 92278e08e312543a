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
from numbers import Integral
from typing import Any

from prmkit.errors import PrmkitError
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


@dataclass(frozen=True)
class ContinueRequest:
    """One request of a batch: ``n`` continuations of ``prefix`` for ``problem``, with its own
    ``max_steps`` and call ``seed`` (what one ``continue_from`` call gives every pair)."""

    problem: Problem
    prefix: tuple[str, ...]
    n: int
    max_steps: int | None = None
    seed: int = 0


class Policy(ABC):
    """A step generator."""

    #: string that separates steps in this policy's raw text output
    step_separator: str = "\n\n"
    #: problems a search advances together by default (``SearchConfig.batch_problems``)
    preferred_batch_problems: int = 1

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
        Backends check their arguments with :func:`check_continue_args` first.
        """

    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        """Serve requests that differ in ``n``, ``max_steps`` and ``seed`` (from several problems)
        together; one list of ``request.n`` generations per request, in order.

        Each request gets what ``continue_from([problem], [prefix], n, max_steps=..., seed=...)``
        gives it. This default makes one ``continue_from`` call per distinct ``(n, max_steps,
        seed)``; backends that can mix them in one batch (hf, openai, vllm) override it.

        Example:
            >>> class Count(Policy):
            ...     def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
            ...         return [[Generation([f"{seed}:{len(pre)}"], True)] * n for pre in prefixes]
            >>> p = Problem(id="p", question="?")
            >>> out = Count().continue_batch([ContinueRequest(p, (), 1, seed=3),
            ...                               ContinueRequest(p, ("a",), 2, seed=5)])
            >>> [[g.steps[0] for g in gs] for gs in out]
            [['3:0'], ['5:1', '5:1']]
        """
        groups: dict[tuple[int, int | None, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.n, r.max_steps, r.seed), []).append(i)
        out: list[list[Generation]] = [[] for _ in requests]
        for (n, max_steps, seed), idx in groups.items():
            gens = self.continue_from(
                [requests[i].problem for i in idx],
                [list(requests[i].prefix) for i in idx],
                n,
                max_steps=max_steps,
                seed=seed,
            )
            if len(gens) != len(idx):
                raise PrmkitError(
                    f"policy {type(self).__name__} returned {len(gens)} lists for {len(idx)} prefixes",
                    field="policy",
                )
            for i, g in zip(idx, gens, strict=True):
                out[i] = g
        return out

    def sample(self, problems: Sequence[Problem], n: int, *, seed: int = 0) -> list[list[Generation]]:
        """Sample ``n`` full solutions per problem."""
        return self.continue_from(problems, [[] for _ in problems], n, seed=seed)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""


POLICIES: Registry[type[Policy]] = Registry("policy")


class BatchedPolicy(Policy):
    """A backend whose native call is :meth:`continue_batch` (requests from several problems, with
    their own ``n``, ``max_steps`` and seed, in one batch): ``continue_from`` checks its arguments
    and forwards them as one batch of requests. hf, openai and vllm derive from it.

    Example:
        >>> class Echo(BatchedPolicy):
        ...     def continue_batch(self, requests):
        ...         return [[Generation([f"{r.seed}:{len(r.prefix)}"], True)] * r.n for r in requests]
        >>> p = Problem(id="p", question="?")
        >>> [[g.steps[0] for g in gs] for gs in Echo().continue_from([p, p], [[], ["a"]], 2, seed=4)]
        [['4:0', '4:0'], ['4:1', '4:1']]
    """

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
        reqs = [
            ContinueRequest(p, tuple(pre), n, max_steps, seed)
            for p, pre in zip(problems, prefixes, strict=True)
        ]
        return self.continue_batch(reqs)

    @abstractmethod
    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        """One list of ``request.n`` generations per request, in order (see :class:`Policy`)."""


def check_continue_args(
    problems: Sequence[Problem], prefixes: Sequence[list[str]], n: int, max_steps: int | None
) -> None:
    """The one check of :meth:`Policy.continue_from`'s arguments, shared by every backend.

    One prefix per problem, ``n >= 1``, ``max_steps`` ``None`` or ``>= 1``; anything else
    raises :class:`~prmkit.errors.PrmkitError` naming the field.

    Example:
        >>> check_continue_args([Problem(id="p", question="?")], [[]], 2, None)
        >>> check_continue_args([Problem(id="p", question="?")], [], 2, None)
        Traceback (most recent call last):
        prmkit.errors.PrmkitError: field 'prefixes': 1 problems but 0 prefixes
        >>> check_continue_args([], [], 0, None)
        Traceback (most recent call last):
        prmkit.errors.PrmkitError: field 'n': n must be >= 1, got 0
    """
    if len(problems) != len(prefixes):
        raise PrmkitError(f"{len(problems)} problems but {len(prefixes)} prefixes", field="prefixes")
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise PrmkitError(f"n must be >= 1, got {n!r}", field="n")
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, Integral) or max_steps < 1
    ):
        raise PrmkitError(f"max_steps must be >= 1 or None, got {max_steps!r}", field="max_steps")


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
    # the built-in backends are registered: importing this module ran prmkit/policies/__init__.py
    return POLICIES.get(name)(**options)
