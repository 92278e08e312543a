"""Compute accounting of a search: :class:`Compute` (what one problem cost) and
:class:`SearchContext`, the only door from a search method to the policy and the scorer (it
shape-checks and counts every call, merges identical prefixes and derives per-call seeds with
:func:`prmkit.runs.derive_seed`).

Example:
    >>> c = Compute(generated_tokens=12, policy_calls=2)
    >>> Compute.from_dict(c.to_dict()) == c
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prmkit.errors import PrmkitError
from prmkit.policies.base import ContinueRequest, Generation, Policy
from prmkit.records import Problem
from prmkit.runs import derive_seed
from prmkit.scorers.base import Scorer
from prmkit.search.candidates import Candidate, aggregate_or_none
from prmkit.search.config import SearchConfig


class Door(Protocol):
    """Where a :class:`SearchContext` sends its calls when problems are batched: the batch collects
    the calls of every live problem and answers them with one policy and one scorer call."""

    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]: ...

    def score_batch(
        self, problems: Sequence[str], steps: Sequence[list[str]]
    ) -> list[list[float | None]]: ...


@dataclass
class Compute:
    """Compute spent on one problem."""

    generated_tokens: int = 0
    policy_calls: int = 0
    generated_sequences: int = 0
    scorer_calls: int = 0
    scored_sequences: int = 0
    scored_steps: int = 0
    #: environment steps (agent trajectories: actions taken, prefix replays included; the
    #: ``env_steps`` a policy reports in ``Generation.meta``; 0 for text policies)
    env_steps: int = 0
    wall_time_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Compute:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class SearchContext:
    """Policy and scorer access for one problem, with compute accounting and derived seeds.

    Methods call :meth:`generate` and :meth:`score`; never the policy/scorer directly.
    """

    def __init__(
        self,
        problem: Problem,
        policy: Policy,
        scorer: Scorer,
        config: SearchConfig,
        *,
        door: Door | None = None,
    ) -> None:
        self.problem = problem
        self.policy = policy
        self.scorer = scorer
        self.config = config
        #: where calls go: the policy and scorer themselves (None), or a batch across problems
        self.door = door
        self.compute = Compute()
        self.meta: dict[str, Any] = {}

    # -- budgets
    def budget_left(self) -> bool:
        """False once the per-problem token budget is spent."""
        cap = self.config.max_total_tokens
        return cap is None or self.compute.generated_tokens < cap

    def seed(self, *parts: Any) -> int:
        return derive_seed(self.config.seed, self.config.method, self.problem.id, *parts)

    # -- policy
    def generate(
        self,
        prefixes: Sequence[list[str]],
        n: int,
        *,
        max_steps: int | None = 1,
        seed_parts: tuple[Any, ...] = (),
        count_tokens: bool = True,
    ) -> list[list[Generation]]:
        """``n`` continuations of each prefix, shape-checked and accounted.

        Identical prefixes in one request are merged into one prefix with ``n * k`` samples
        (policies draw from (seed, problem, prefix, sample index), so asking for the same prefix
        twice would return the same samples twice); one policy call per distinct multiplicity.
        """
        if not prefixes or n < 1:
            return [[] for _ in prefixes]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, p in enumerate(prefixes):
            groups.setdefault(tuple(p), []).append(i)
        by_mult: dict[int, list[tuple[str, ...]]] = {}
        for key, idx in groups.items():
            by_mult.setdefault(len(idx), []).append(key)
        result: list[list[Generation]] = [[] for _ in prefixes]
        calls: list[tuple[list[tuple[str, ...]], int, int]] = []  # (keys, samples, seed) per call
        for mult in sorted(by_mult):
            parts = seed_parts if mult == 1 else (*seed_parts, "x", mult)
            calls.append((by_mult[mult], n * mult, self.seed(*parts)))
        if self.door is None:
            outs = [
                self.policy.continue_from(
                    [self.problem] * len(keys), [list(k) for k in keys], m, max_steps=max_steps, seed=sd
                )
                for keys, m, sd in calls
            ]
        else:  # every call of this step in one request to the batch (the same rows, seeds and n)
            reqs = [ContinueRequest(self.problem, k, m, max_steps, sd) for keys, m, sd in calls for k in keys]
            flat = self.door.continue_batch(reqs)
            if len(flat) != len(reqs):
                raise PrmkitError(
                    f"policy {type(self.policy).__name__} returned {len(flat)} lists for {len(reqs)} requests",
                    field="policy",
                )
            outs, at = [], 0
            for keys, _, _ in calls:
                outs.append(flat[at : at + len(keys)])
                at += len(keys)
        for (keys, m, _), out in zip(calls, outs, strict=True):
            if len(out) != len(keys) or any(len(g) != m for g in out):
                raise PrmkitError(
                    f"policy {type(self.policy).__name__} returned {[len(g) for g in out]} generations "
                    f"for {len(keys)} prefixes x n={m}",
                    field="policy",
                )
            self.compute.policy_calls += 1
            self.compute.generated_sequences += len(keys) * m
            if count_tokens:
                self.compute.generated_tokens += sum(int(g.num_tokens) for gs in out for g in gs)
            self.compute.env_steps += sum(int(g.meta.get("env_steps", 0)) for gs in out for g in gs)
            for key, gens in zip(keys, out, strict=True):
                for j, i in enumerate(groups[key]):
                    result[i] = list(gens[j * n : (j + 1) * n])
        return result

    # -- scorer
    def score(self, paths: Sequence[list[str]]) -> list[list[float | None]]:
        """Step scores of each path (one scorer call; identical paths scored once)."""
        uniq: dict[tuple[str, ...], int] = {}
        order: list[list[str]] = []
        for p in paths:
            key = tuple(p)
            if key not in uniq and p:
                uniq[key] = len(order)
                order.append(list(p))
        scored: list[list[float | None]] = []
        if order:
            scorer = self.scorer if self.door is None else self.door
            scored = scorer.score_batch([self.problem.question] * len(order), order)
            if len(scored) != len(order):
                raise PrmkitError(
                    f"scorer {type(self.scorer).__name__} returned {len(scored)} score lists for {len(order)}",
                    field="scorer",
                )
            for p, s in zip(order, scored, strict=True):
                if len(s) != len(p):
                    raise PrmkitError(
                        f"scorer {type(self.scorer).__name__} returned {len(s)} scores for {len(p)} steps",
                        field="scorer",
                    )
            self.compute.scorer_calls += 1
            self.compute.scored_sequences += len(order)
            self.compute.scored_steps += sum(len(p) for p in order)
        return [list(scored[uniq[tuple(p)]]) if p else [] for p in paths]

    def score_candidates(self, cands: Sequence[Candidate]) -> None:
        """Fill ``step_scores`` and ``score`` (with ``config.agg``) of each candidate in place."""
        todo = [c for c in cands if c.steps]
        for c, s in zip(todo, self.score([c.steps for c in todo]), strict=True):
            c.step_scores = s
            c.score = aggregate_or_none(s, self.config.agg)

    # -- budgets on a new child
    def close_if_over_budget(self, c: Candidate) -> None:
        """Mark an unfinished candidate that reached a per-candidate budget."""
        if c.closed:
            return
        if len(c.steps) >= self.config.max_steps:
            c.stop_reason = "max_steps"
        elif self.config.max_tokens is not None and c.num_tokens >= self.config.max_tokens:
            c.stop_reason = "max_tokens"
