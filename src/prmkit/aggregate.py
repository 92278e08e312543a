"""Aggregation: step scores -> one solution score, and N scored answers -> one chosen answer.

Two registries, selected by name (CLI flags, recipes, search):

- :data:`STEP_AGGREGATIONS` (docs/methods.md#b1-step-aggregation): ``min``, ``prod``, ``last``, ``mean``,
  ``geometric``, ``max``, ``first``, ``sum``.
- :data:`ANSWER_RULES` (docs/methods.md#b2-answer-rules): ``best_of_n``, ``majority``, ``weighted_vote``,
  ``hmrv``, ``wrfv``. HMRV and WRFV are **unverified reconstructions** of UnPRM (arXiv 2508.01773):
  the paper's code has no aggregation code, the parametric forms and the defaults
  (``tau=0.5``, ``w=0.5``) follow the abstract's description only.

``None`` step scores (a step the PRM could not score, e.g. beyond its window) are **skipped**
by default: the aggregation runs over the scored steps only (so ``last`` is the last *scored*
step). ``none=<number>`` substitutes that value instead (``none=0.0`` is pessimistic), and
``none="error"`` refuses them. A solution with no scored step at all raises :class:`PrmkitError`
(unless a number is substituted).

Example:
    >>> aggregate_steps([0.9, 0.6, 0.8], "min")
    0.6
    >>> round(aggregate_steps([0.9, None, 0.8], "prod"), 3)
    0.72
    >>> choose_answer(["A", "A", "B"], [0.2, 0.3, 0.9], "best_of_n")
    'B'
    >>> choose_answer(["A", "A", "B"], [0.2, 0.3, 0.9], "majority")
    'A'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.registry import Registry

StepAggregation = Callable[[Sequence[float]], float]

#: step scores -> solution score (each function gets a non-empty list of floats)
STEP_AGGREGATIONS: Registry[StepAggregation] = Registry("step aggregation")

#: clip before log in the geometric mean (docs/methods.md#b1-step-aggregation)
GEOMETRIC_EPS = 1e-12


@STEP_AGGREGATIONS.register("min")
def agg_min(p: Sequence[float]) -> float:
    """``min_t p_t`` (Math-Shepherd, search-and-learn, VersaPRM)."""
    return float(min(p))


@STEP_AGGREGATIONS.register("prod")
def agg_prod(p: Sequence[float]) -> float:
    """``prod_t p_t``: probability all steps are correct (Lightman et al.); decays with length."""
    return float(math.prod(p))


@STEP_AGGREGATIONS.register("last")
def agg_last(p: Sequence[float]) -> float:
    """``p_T`` (search-and-learn default)."""
    return float(p[-1])


@STEP_AGGREGATIONS.register("mean")
def agg_mean(p: Sequence[float]) -> float:
    """``(1/T) sum_t p_t`` (VersaPRM, BiRM)."""
    return float(sum(p) / len(p))


@STEP_AGGREGATIONS.register("geometric")
def agg_geometric(p: Sequence[float]) -> float:
    """``exp(mean_t log p_t)``, length-normalised product; ``p_t`` clipped to ``>= 1e-12``."""
    return float(math.exp(sum(math.log(max(x, GEOMETRIC_EPS)) for x in p) / len(p)))


@STEP_AGGREGATIONS.register("max")
def agg_max(p: Sequence[float]) -> float:
    """``max_t p_t`` (an optimistic baseline)."""
    return float(max(p))


@STEP_AGGREGATIONS.register("first")
def agg_first(p: Sequence[float]) -> float:
    """``p_1`` (a baseline: the first step only)."""
    return float(p[0])


@STEP_AGGREGATIONS.register("sum")
def agg_sum(p: Sequence[float]) -> float:
    """``sum_t p_t``: for unbounded rewards (implicit PRM / Q-values); not a probability."""
    return float(sum(p))


#: the aggregations that a BoN evaluation sweeps by default (B1 table)
DEFAULT_STEP_AGGREGATIONS = ("min", "prod", "last", "mean", "geometric")


def aggregate_steps(scores: Sequence[float | None], rule: str = "min", none: str | float = "skip") -> float:
    """Aggregate one solution's step scores into one score with the named rule.

    ``none``: ``"skip"`` (default) drops ``None`` scores, ``"error"`` refuses them, a number
    replaces them.

    Example:
        >>> p = [0.9, 0.6, 0.8]
        >>> [round(aggregate_steps(p, r), 4) for r in ("min", "prod", "last", "mean", "geometric")]
        [0.6, 0.432, 0.8, 0.7667, 0.756]
        >>> aggregate_steps([0.9, None], "last")
        0.9
        >>> aggregate_steps([0.9, None], "last", none=0.0)
        0.0
    """
    fn = STEP_AGGREGATIONS.get(rule)
    vals: list[float] = []
    for i, v in enumerate(scores):
        if v is None:
            if none == "skip":
                continue
            if none == "error":
                raise PrmkitError(f"step {i} has no score (none='error')", field="scores")
            if isinstance(none, str):
                raise PrmkitError(f"none must be 'skip', 'error' or a number, got {none!r}")
            vals.append(float(none))
        else:
            f = float(v)
            if math.isnan(f):
                raise PrmkitError(f"step {i} score is NaN", field="scores")
            vals.append(f)
    if not vals:
        raise PrmkitError("no scored step to aggregate (all step scores are None)", field="scores")
    return fn(vals)


def sigmoid(x: float) -> float:
    """Logistic function, overflow-safe: maps unbounded rewards (logits, Q-values) into (0, 1).

    Example:
        >>> sigmoid(0.0)
        0.5
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# ---------------------------------------------------------------- answer rules

#: a rule gets (answers, scores, params) with answers already keyed and never all None;
#: it returns the index of the chosen solution (a representative of the chosen answer).
AnswerRule = Callable[[Sequence[Hashable], Sequence[float] | None, dict[str, Any]], int]

ANSWER_RULES: Registry[AnswerRule] = Registry("answer rule")

#: rules that need solution scores (majority does not)
SCORED_RULES = ("best_of_n", "weighted_vote", "hmrv", "wrfv")
DEFAULT_ANSWER_RULES = ("best_of_n", "majority", "weighted_vote", "hmrv", "wrfv")


def _groups(keys: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Answer -> indices, in order of first appearance (ties resolve to the earliest group);
    ``None`` answers (nothing extracted) never form a group."""
    out: dict[Hashable, list[int]] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        out.setdefault(k, []).append(i)
    return out


def _best_in(idx: list[int], scores: Sequence[float] | None) -> int:
    """The highest-scored member of a group (first on ties; first when unscored)."""
    if scores is None:
        return idx[0]
    best = idx[0]
    for i in idx[1:]:
        if scores[i] > scores[best]:
            best = i
    return best


def _argmax_group(groups: dict[Hashable, list[int]], value: Callable[[list[int]], float]) -> list[int]:
    best: list[int] | None = None
    best_v = -math.inf
    for idx in groups.values():
        v = value(idx)
        if best is None or v > best_v:
            best, best_v = idx, v
    assert best is not None
    return best


@ANSWER_RULES.register("best_of_n")
def rule_best_of_n(keys: Sequence[Hashable], scores: Sequence[float] | None, params: dict[str, Any]) -> int:
    """``a_{argmax_i R_i}``; ties -> first solution."""
    assert scores is not None
    return _best_in([i for i, k in enumerate(keys) if k is not None], scores)


@ANSWER_RULES.register("majority")
def rule_majority(keys: Sequence[Hashable], scores: Sequence[float] | None, params: dict[str, Any]) -> int:
    """Self-consistency: the most frequent answer; ties -> the group that appears first."""
    g = _argmax_group(_groups(keys), len)
    return _best_in(g, scores)


@ANSWER_RULES.register("weighted_vote")
def rule_weighted_vote(
    keys: Sequence[Hashable], scores: Sequence[float] | None, params: dict[str, Any]
) -> int:
    """PRM-weighted vote: ``argmax_a sum_{i: a_i=a} R_i`` (scores should be >= 0: map logits
    through :func:`sigmoid` first)."""
    assert scores is not None
    g = _argmax_group(_groups(keys), lambda idx: sum(scores[i] for i in idx))
    return _best_in(g, scores)


@ANSWER_RULES.register("hmrv")
def rule_hmrv(keys: Sequence[Hashable], scores: Sequence[float] | None, params: dict[str, Any]) -> int:
    """Hybrid Majority Reward Vote (UnPRM), **unverified reconstruction**: the majority answer
    when its frequency ``n_a/N >= tau`` (default 0.5), else best-of-N."""
    assert scores is not None
    tau = float(params.get("tau", 0.5))
    groups = _groups(keys)
    g = _argmax_group(groups, len)
    n = sum(len(v) for v in groups.values())
    if len(g) / n >= tau:
        return _best_in(g, scores)
    return rule_best_of_n(keys, scores, params)


@ANSWER_RULES.register("wrfv")
def rule_wrfv(keys: Sequence[Hashable], scores: Sequence[float] | None, params: dict[str, Any]) -> int:
    """Weighted Reward-Frequency Vote (UnPRM), **unverified reconstruction**:
    ``w * m(a)/sum_b m(b) + (1-w) * n_a/N`` with ``m(a)`` the group's mean reward (``w=0.5``)."""
    assert scores is not None
    w = float(params.get("w", 0.5))
    groups = _groups(keys)
    n = sum(len(v) for v in groups.values())
    means = {k: sum(scores[i] for i in idx) / len(idx) for k, idx in groups.items()}
    total = sum(means.values())
    best_k = None
    best_v = -math.inf
    for k, idx in groups.items():
        m_norm = means[k] / total if total > 0 else 1.0 / len(groups)
        v = w * m_norm + (1 - w) * len(idx) / n
        if best_k is None or v > best_v:
            best_k, best_v = k, v
    return _best_in(groups[best_k], scores)


def choose_index(
    answers: Sequence[Any],
    solution_scores: Sequence[float] | None,
    rule: str = "best_of_n",
    *,
    key: Callable[[Any], Hashable] | None = None,
    **params: Any,
) -> int | None:
    """Index of the solution chosen by ``rule`` (the best-scored member of the chosen answer
    group), or ``None`` when no solution has an answer.

    Solutions whose answer is ``None`` (nothing extracted) are never chosen. ``key`` maps an
    answer to its equivalence class for grouping (default: the stripped string).

    Example:
        >>> choose_index(["A", "A", "A", "B"], [0.3, 0.4, 0.5, 0.9], "majority")
        2
    """
    fn = ANSWER_RULES.get(rule)
    if solution_scores is not None and len(solution_scores) != len(answers):
        raise PrmkitError(f"{len(answers)} answers but {len(solution_scores)} solution scores")
    if solution_scores is None and rule in SCORED_RULES:
        raise PrmkitError(f"answer rule '{rule}' needs solution scores")
    keyf = key or _default_key
    keys = [None if a is None else keyf(a) for a in answers]
    if all(k is None for k in keys):
        return None
    scores = None if solution_scores is None else [float(s) for s in solution_scores]
    return fn(keys, scores, params)


def choose_answer(
    answers: Sequence[Any],
    solution_scores: Sequence[float] | None,
    rule: str = "best_of_n",
    *,
    key: Callable[[Any], Hashable] | None = None,
    **params: Any,
) -> Any:
    """The answer chosen among N scored solutions by the named rule (``None`` if none answered).

    Example (docs/methods.md#b2-answer-rules):
        >>> a, r = ["A", "A", "A", "B"], [0.3, 0.4, 0.5, 0.9]
        >>> [choose_answer(a, r, x) for x in ("majority", "best_of_n", "weighted_vote", "wrfv")]
        ['A', 'B', 'A', 'A']
        >>> choose_answer(a, r, "hmrv", tau=0.5), choose_answer(a, r, "hmrv", tau=0.8)
        ('A', 'B')
    """
    i = choose_index(answers, solution_scores, rule, key=key, **params)
    return None if i is None else answers[i]


def _default_key(a: Any) -> Hashable:
    return a.strip() if isinstance(a, str) else a
