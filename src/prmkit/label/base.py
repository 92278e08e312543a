"""Labeller interface, registry, deterministic rollouts with a prefix-value cache, and the grader.

A labeller turns one :class:`~prmkit.records.Solution` (plus its :class:`~prmkit.records.Problem`)
into step labels. Rollout-based labellers draw continuations of step prefixes from a
:class:`~prmkit.policies.base.Policy` through a :class:`Rollouts` engine, which

- caches every prefix it has estimated (the tree that binary search and OmegaPRM reuse),
- counts the cost (rollouts and generated tokens),
- seeds every draw from ``(seed, record id, prefix, chunk index)`` only, so a label never depends
  on batching, ordering or the executor.

Example:
    >>> labels_hard([0.375, 0.0, None])
    [1.0, 0.0, None]
    >>> derive_seed(0, "q#1", 3) == derive_seed(0, "q#1", 3)
    True
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.grading import is_equivalent, solution_answer
from prmkit.records import Problem, Solution, StepValues
from prmkit.registry import Registry
from prmkit.runs import derive_seed

# ---------------------------------------------------------------- results


@dataclass
class LabelOutcome:
    """What a labeller returns for one solution.

    ``labels`` has one value per step (``None`` = unknown); ``meta`` goes to the record's
    ``meta["labelling"]``; ``dropped`` is a reason when the solution must not be used (consensus
    disagreement, SCAN filters): dropped solutions are written and counted, never silently lost.
    """

    labels: StepValues | None
    meta: dict[str, Any] = field(default_factory=dict)
    rollouts: int = 0
    tokens: int = 0
    dropped: str | None = None


class Labeller(ABC):
    """Produces step labels for one solution. Subclasses register in :data:`LABELLERS`."""

    name: str = "?"

    @abstractmethod
    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        """Label ``solution``'s steps; ``ctx`` gives the policy, seed and grader."""

    def needs_policy(self) -> bool:
        """Whether this labeller draws rollouts (judge-only labellers do not)."""
        return True

    def options(self) -> dict[str, Any]:
        """The labeller's options (recorded in the manifest)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


LABELLERS: Registry[type[Labeller]] = Registry("labeller")


def make_labeller(name: str, **options: Any) -> Labeller:
    """Build a registered labeller by name; unknown options are an error naming the option.

    Example:
        >>> make_labeller("mc", n=4).n
        4
    """
    # importing any prmkit.label module runs prmkit/label/__init__.py first, which registers them
    cls = LABELLERS.get(name)
    try:
        return cls(**options)
    except TypeError as e:
        raise PrmkitError(f"bad options for labeller '{name}': {e}", field="label_opts") from None


# ---------------------------------------------------------------- grading


class Grader:
    """Decides whether a finished rollout (prefix + continuation) reaches the reference answer,
    with the one grading API of :mod:`prmkit.grading` (the one search and best-of-N use).

    Example:
        >>> g = Grader()
        >>> g.is_correct(g.answer_of(["3 + 4 = 7.", "The answer is 7."]), "7")
        True
        >>> g.answer_of(["3 + 4 = 7."], {"answer": "7"}), g.is_correct("7", None)
        ('7', False)
    """

    def answer_of(self, steps: Sequence[str], meta: dict[str, Any] | None = None) -> str | None:
        """The final answer: ``meta["answer"]`` when the policy reports one, else
        :func:`prmkit.grading.solution_answer`."""
        if meta and meta.get("answer") is not None:
            return str(meta["answer"])
        return solution_answer(steps)

    def is_correct(self, answer: str | None, reference: str | None) -> bool:
        """:func:`prmkit.grading.is_equivalent` (no reference counts as not correct)."""
        return is_equivalent(answer, reference)


# ---------------------------------------------------------------- seeds and rollouts


def _prefix_key(prefix: Sequence[str]) -> str:
    return hashlib.sha256("\x1e".join(prefix).encode("utf-8")).hexdigest()[:16]


@dataclass
class PrefixStat:
    """Monte Carlo statistics of one prefix: ``correct`` of ``n`` rollouts reached the answer."""

    prefix: tuple[str, ...]
    n: int = 0
    correct: int = 0
    tokens: int = 0
    visits: int = 0  # OmegaPRM N(s)
    exact: bool = False  # value known without rollouts (a finished solution's own answer)
    wrong_rollouts: list[list[str]] = field(default_factory=list)  # new steps of incorrect rollouts
    #: ``(correct, new steps)`` of every rollout, in draw order (discounted targets need the lengths)
    outcomes: list[tuple[bool, int]] = field(default_factory=list)

    @property
    def value(self) -> float:
        if self.n == 0:
            raise PrmkitError("prefix value requested before any rollout")
        return self.correct / self.n


@dataclass
class LabelContext:
    """What a labeller may use: the policy, the run seed, the grader, rollout limits."""

    policy: Any = None  # prmkit.policies.base.Policy
    seed: int = 0
    grader: Grader = field(default_factory=Grader)
    max_steps: int | None = None

    def rollouts(self, solution: Solution, problem: Problem, chunk: int) -> Rollouts:
        if self.policy is None:
            raise PrmkitError("this labeller needs a policy for rollouts (--policy)")
        return Rollouts(self.policy, problem, solution.id, self.seed, self.grader, chunk, self.max_steps)


class Rollouts:
    """Deterministic, cached Monte Carlo estimates of prefix values for one record.

    Rollout ``k`` of a prefix comes from chunk ``k // chunk`` whose policy call is seeded with
    ``derive_seed(seed, record_id, prefix, k // chunk)`` and holds only this record's prefixes, so
    the result depends on (seed, record id, prefix, rollout index) and on nothing else.
    """

    def __init__(
        self,
        policy: Any,
        problem: Problem,
        record_id: str,
        seed: int,
        grader: Grader,
        chunk: int,
        max_steps: int | None = None,
    ) -> None:
        if chunk < 1:
            raise PrmkitError(f"rollout chunk must be >= 1, got {chunk}")
        self.policy = policy
        self.problem = problem
        self.record_id = record_id
        self.seed = seed
        self.grader = grader
        self.chunk = chunk
        self.max_steps = max_steps
        self.nodes: dict[tuple[str, ...], PrefixStat] = {}
        self.rollouts = 0
        self.tokens = 0
        self.order: list[tuple[str, ...]] = []  # prefixes in the order they were first evaluated

    def node(self, prefix: Sequence[str]) -> PrefixStat:
        key = tuple(prefix)
        st = self.nodes.get(key)
        if st is None:
            st = self.nodes[key] = PrefixStat(prefix=key)
        return st

    def set_exact(self, prefix: Sequence[str], correct: bool) -> PrefixStat:
        """Record a prefix whose value is known without rollouts (a finished solution)."""
        st = self.node(prefix)
        if st.n == 0:
            st.n, st.correct, st.exact = 1, int(correct), True
            self.order.append(st.prefix)
        return st

    def ensure(self, prefixes: Sequence[Sequence[str]], n: int) -> list[PrefixStat]:
        """Make sure every prefix has at least ``n`` rollouts (whole chunks); returns their stats.

        Prefixes are drawn together chunk by chunk (one policy call per chunk round).
        """
        stats = [self.node(p) for p in prefixes]
        while True:
            todo = [st for st in stats if not st.exact and st.n < n]
            if not todo:
                return stats
            # one chunk for every prefix that still needs rollouts; group by chunk index for the call
            groups: dict[int, list[PrefixStat]] = {}
            seen: set[tuple[str, ...]] = set()
            for st in todo:
                if st.prefix in seen:
                    continue
                seen.add(st.prefix)
                groups.setdefault(st.n // self.chunk, []).append(st)
            for c, group in sorted(groups.items()):
                self._draw(group, c)

    def _draw(self, group: list[PrefixStat], c: int) -> None:
        # one call per prefix: the seed names the prefix, so no result depends on its neighbours
        for st in group:
            if st.n == 0:
                self.order.append(st.prefix)
            seed = derive_seed(self.seed, self.record_id, _prefix_key(st.prefix), c)
            out = self.policy.continue_from(
                [self.problem], [list(st.prefix)], self.chunk, max_steps=self.max_steps, seed=seed
            )
            if len(out) != 1 or len(out[0]) != self.chunk:
                raise PrmkitError(
                    f"policy returned {len(out[0]) if out else 0} generations, expected {self.chunk}"
                )
            for gen in out[0]:
                full = list(st.prefix) + list(gen.steps)
                ok = bool(gen.finished) and self.grader.is_correct(
                    self.grader.answer_of(full, gen.meta), self.problem.reference_answer
                )
                st.n += 1
                st.correct += int(ok)
                st.outcomes.append((ok, len(gen.steps)))
                st.tokens += int(gen.num_tokens or 0)
                self.rollouts += 1
                self.tokens += int(gen.num_tokens or 0)
                if not ok and gen.steps:
                    st.wrong_rollouts.append(list(gen.steps))

    def value(self, prefix: Sequence[str], n: int) -> float:
        """MC value of ``prefix`` with at least ``n`` rollouts."""
        return self.ensure([prefix], n)[0].value


# ---------------------------------------------------------------- shared helpers


def labels_hard(values: StepValues, threshold: float = 0.0) -> StepValues:
    """Hard labels from MC values: ``value > threshold`` -> 1 (Math-Shepherd HE uses 0).

    Example:
        >>> labels_hard([0.5, 0.0, None, 0.125], threshold=0.25)
        [1.0, 0.0, None, 0.0]
    """
    return [None if v is None else (1.0 if v > threshold else 0.0) for v in values]


def first_zero(values: StepValues, threshold: float = 0.0) -> int:
    """Index of the first value ``<= threshold`` (the MC first error); -1 when none.

    Example:
        >>> first_zero([0.5, 0.25, 0.0, 0.0])
        2
    """
    for i, v in enumerate(values):
        if v is not None and v <= threshold:
            return i
    return -1


def solution_answer_correct(solution: Solution, problem: Problem, grader: Grader) -> bool | None:
    """Whether the solution's own final answer is right; ``None`` when it has no answer."""
    ans = solution.answer if solution.answer is not None else grader.answer_of(solution.steps)
    if ans is None:
        return None
    return grader.is_correct(ans, problem.reference_answer)


def wilson_bounds(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Example:
        >>> lo, hi = wilson_bounds(0, 7, 1.2816)
        >>> round(hi, 3)
        0.19
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    den = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def z_for(confidence: float) -> float:
    """One-sided normal quantile for ``confidence`` in (0.5, 1).

    Example:
        >>> round(z_for(0.95), 3)
        1.645
    """
    if not 0.5 < confidence < 1:
        raise PrmkitError(f"confidence must be in (0.5, 1), got {confidence}", field="confidence")
    from statistics import NormalDist

    return NormalDist().inv_cdf(confidence)
