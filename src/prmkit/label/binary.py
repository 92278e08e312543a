"""Binary search for the first error (OmegaPRM divide and conquer, docs/methods.md#c2-binary-search-omegaprm).

A solution whose final answer is wrong has a first error somewhere; with ``lo`` = a prefix known
to be solvable (``MC > 0``; the empty prefix is assumed so) and ``hi`` = a prefix known to be
unsolvable (``MC = 0``; the full wrong solution), each MC estimate of the middle prefix halves the
interval. The first error is ``hi - 1`` (0-based). A solution whose final answer is right is its own
witness that every prefix is solvable: all steps 1, no rollouts.

Every estimated prefix is cached in the :class:`~prmkit.label.base.Rollouts` tree and emitted with
its MC value in ``meta["prefix_values"]`` (OmegaPRM's ``(prefix, mc_value)`` training pairs).

With ``selection="omega"`` the search goes on over the tree, OmegaPRM style: the incorrect
rollouts drawn from evaluated prefixes with ``0 < MC < 1`` enter a pool; the pair ``(s, r)``
maximising ``Q(s, r) + U(s)`` is selected and its first error binary-searched, until
``search_limit`` searches, ``rollout_budget`` rollouts, or an empty pool. Guard against the
infinite re-selection of the reference implementation: a selected pair leaves the pool for good,
a rollout already searched (same full step sequence) never re-enters it, and one-step rollouts
are resolved without any estimate (their only step is the error).

Example (C2: MC(s)=0.25, a 100-word rollout, sum N = 4, N(s) = 1):
    >>> round(omega_q(0.25, 100) + omega_u(1, 4), 4)
    0.7072
"""

from __future__ import annotations

import math
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import (
    LABELLERS,
    LabelContext,
    Labeller,
    LabelOutcome,
    Rollouts,
    solution_answer_correct,
)
from prmkit.label.mc import AFTER_ERROR, prefix_value_entries
from prmkit.records import Problem, Solution, labels_from_first_error


def omega_q(mc: float, length_words: int, alpha: float = 0.5, beta: float = 0.9, L: float = 500) -> float:
    """OmegaPRM rollout value ``Q(s, r) = alpha^(1 - MC(s)) * beta^(len(r) / L)``.

    Example:
        >>> round(omega_q(0.25, 100), 4)
        0.5822
    """
    return alpha ** (1 - mc) * beta ** (length_words / L)


def omega_u(visits: int, total_visits: int, c_puct: float = 0.125) -> float:
    """OmegaPRM exploration bonus ``U(s) = c_puct * sqrt(sum_i N(s_i)) / (1 + N(s))``.

    Example:
        >>> omega_u(1, 4)
        0.125
    """
    return c_puct * math.sqrt(total_visits) / (1 + visits)


def binary_search_first_error(
    ro: Rollouts, base: list[str], steps: list[str], n: int, trace: list[int] | None = None
) -> int:
    """First wrong step (0-based index into ``steps``) of the wrong continuation ``steps`` of ``base``.

    Assumes ``MC(base) > 0`` and ``MC(base + steps) = 0``; evaluates ``ceil(log2(len(steps)))``
    prefixes at most, appending each tried ``mid`` to ``trace``.
    """
    lo, hi = 0, len(steps)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if trace is not None:
            trace.append(mid)
        if ro.value(base + steps[:mid], n) > 0:
            lo = mid
        else:
            hi = mid
    return hi - 1


@LABELLERS.register("binary")
class BinarySearchLabeller(Labeller):
    """First error by binary search over MC estimates (``n`` rollouts each), OmegaPRM option.

    Options: ``n`` (rollouts per estimate, 8), ``selection`` (``none``: search the solution only;
    ``omega``: continue over the rollout tree with OmegaPRM's Q + U rule), ``search_limit``
    (searches per record including the solution's own, used with ``omega``, 8),
    ``rollout_budget`` (stop selecting once this many rollouts are spent; ``None`` = no limit),
    ``alpha``, ``beta``, ``L``, ``c_puct`` (OmegaPRM constants 0.5, 0.9, 500, 0.125),
    ``after_error`` (``none``/``zero`` for steps after the first error).
    Labels are hard (1 before the first error, 0 at it); the MC values are in ``prefix_values``.
    """

    name = "binary"

    def __init__(
        self,
        n: int = 8,
        selection: str = "none",
        search_limit: int = 8,
        rollout_budget: int | None = None,
        alpha: float = 0.5,
        beta: float = 0.9,
        L: float = 500,
        c_puct: float = 0.125,
        after_error: str = "none",
    ) -> None:
        if n < 1:
            raise PrmkitError(f"n must be >= 1, got {n}", field="n")
        if selection not in ("none", "omega"):
            raise PrmkitError(f"selection must be 'none' or 'omega', got {selection!r}", field="selection")
        if search_limit < 1:
            raise PrmkitError(f"search_limit must be >= 1, got {search_limit}", field="search_limit")
        if after_error not in AFTER_ERROR:
            raise PrmkitError(f"after_error must be one of {AFTER_ERROR}", field="after_error")
        self.n = n
        self.selection = selection
        self.search_limit = search_limit
        self.rollout_budget = rollout_budget
        self.alpha = alpha
        self.beta = beta
        self.L = L
        self.c_puct = c_puct
        self.after_error = after_error

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        steps = list(solution.steps)
        T = len(steps)
        meta: dict[str, Any] = {"method": "binary", "n": self.n, "label_type": "hard"}
        own = solution_answer_correct(solution, problem, ctx.grader)
        ro = ctx.rollouts(solution, problem, self.n)
        if own is None:  # no final answer to read: estimate the full solution like any prefix
            own = ro.value(steps, self.n) > 0
        else:
            ro.set_exact(steps, own)
        trace: list[int] = []
        if own:
            fe = -1
            meta["witness"] = True
        else:
            fe = binary_search_first_error(ro, [], steps, self.n, trace)
        meta["search"] = trace
        searches = 1
        if self.selection == "omega":
            searches += self._omega(ro, steps, fe)
            meta["searches"] = searches
        after = 0.0 if self.after_error == "zero" else None
        labels = labels_from_first_error(fe, T, after=after)
        meta["prefix_values"] = prefix_value_entries(ro, steps)
        return LabelOutcome(labels=labels, meta=meta, rollouts=ro.rollouts, tokens=ro.tokens)

    # ------------------------------------------------------------ OmegaPRM tree search

    def _omega(self, ro: Rollouts, steps: list[str], fe: int) -> int:
        """Further searches over the rollout tree; returns how many were run."""
        searched: set[tuple[str, ...]] = {tuple(steps)}
        pool: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # (node prefix, rollout steps)
        scanned: set[tuple[str, ...]] = set()

        def refill() -> None:
            # add the wrong rollouts of every evaluated node with 0 < MC < 1, once per node state
            for prefix in ro.order:
                st = ro.nodes[prefix]
                if st.exact or not 0 < st.value < 1:
                    continue
                for r in st.wrong_rollouts:
                    full = prefix + tuple(r)
                    if full in searched or full in scanned:
                        continue
                    scanned.add(full)
                    pool.append((prefix, tuple(r)))

        refill()
        done = 0
        while done + 1 < self.search_limit and pool:
            if self.rollout_budget is not None and ro.rollouts >= self.rollout_budget:
                break
            total = sum(st.visits for st in ro.nodes.values())
            best_i, best = 0, -math.inf
            for i, (prefix, r) in enumerate(pool):  # first maximum wins: deterministic ties
                st = ro.nodes[prefix]
                words = len(" ".join(r).split())
                score = omega_q(st.value, words, self.alpha, self.beta, self.L) + omega_u(
                    st.visits, total, self.c_puct
                )
                if score > best:
                    best_i, best = i, score
            prefix, r = pool.pop(best_i)  # never re-selected
            full = prefix + r
            searched.add(full)
            ro.nodes[prefix].visits += 1
            ro.set_exact(full, False)
            if len(r) > 1:
                binary_search_first_error(ro, list(prefix), list(r), self.n)
            else:
                # the only new step is the error: emit its prefix at value 0 without an estimate
                pass
            done += 1
            refill()
        return done
