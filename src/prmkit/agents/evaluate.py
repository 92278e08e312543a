"""Agent evaluation: success rate against actions spent, and trajectory first-error F1.

**Success against actions.** A search over trajectories (``greedy`` = best-of-K actions per
turn, ``beam``) spends environment actions: the agent proposes ``K`` actions per turn and each is
tried in the environment (prefix replays included, ``Compute.env_steps``). :func:`search_point`
summarises one run (success rate, mean environment steps, mean agent proposals = generated
sequences); :func:`success_vs_actions` gives one point per run (``K = 1, 2, 4 ...``: the curve
of success against actions spent); :func:`success_at_budgets` is the anytime view of one run:
a problem counts as solved within budget ``b`` when it was solved and cost at most ``b``.

**First-error F1.** The ProcessBench metric (:func:`prmkit.evaluate.processbench.processbench_metrics`)
on trajectory records: predicted first error = first value below 0.5 (labels or PRM scores),
the truth = the checker's first error.

Example:
    >>> from prmkit.search.compute import Compute
    >>> from prmkit.search.results import SearchResult
    >>> rs = [SearchResult("a", "greedy", None, [], Compute(env_steps=6, generated_sequences=8), {"correct": True}),
    ...       SearchResult("b", "greedy", None, [], Compute(env_steps=10, generated_sequences=12), {"correct": False})]
    >>> p = search_point(rs)
    >>> p["success_rate"], p["mean_env_steps"], p["mean_actions_proposed"]
    (0.5, 8.0, 10.0)
    >>> success_at_budgets(rs, [4, 6, 10])
    [{'budget': 4, 'success_rate': 0.0}, {'budget': 6, 'success_rate': 0.5}, {'budget': 10, 'success_rate': 0.5}]
    >>> trajectory_first_error_f1([[1, 0, 1], [1, 1]], [1, -1])["f1"]
    100.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.evaluate.processbench import predict_first_error, processbench_metrics
from prmkit.search.results import SearchResult

COSTS = ("env_steps", "generated_sequences", "policy_calls")


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def search_point(results: Sequence[SearchResult]) -> dict[str, Any]:
    """Success rate and mean compute of one search run (``meta["correct"]`` = the episode
    chosen ended in success)."""
    if not results:
        raise PrmkitError("no search results")
    return {
        "problems": len(results),
        "success_rate": _mean([1.0 if r.meta.get("correct") else 0.0 for r in results]),
        "mean_env_steps": _mean([r.compute.env_steps for r in results]),
        "mean_actions_proposed": _mean([r.compute.generated_sequences for r in results]),
        "mean_policy_calls": _mean([r.compute.policy_calls for r in results]),
        "mean_scored_steps": _mean([r.compute.scored_steps for r in results]),
    }


def success_vs_actions(runs: Mapping[str, Sequence[SearchResult]]) -> list[dict[str, Any]]:
    """One :func:`search_point` per named run (e.g. ``{"agent": ..., "greedy K=2": ..., "greedy K=4": ...}``),
    sorted by mean environment steps: the points of a success-against-actions curve."""
    pts = [{"run": name, **search_point(rs)} for name, rs in runs.items()]
    return sorted(pts, key=lambda p: (p["mean_env_steps"], p["run"]))


def success_at_budgets(
    results: Sequence[SearchResult], budgets: Sequence[int], cost: str = "env_steps"
) -> list[dict[str, Any]]:
    """Share of problems solved at a cost of at most each budget (``cost``: a :class:`Compute`
    count, ``env_steps`` by default)."""
    if cost not in COSTS:
        raise PrmkitError(f"cost must be one of {COSTS}, got {cost!r}", field="cost")
    if not results:
        raise PrmkitError("no search results")
    out = []
    for b in budgets:
        ok = sum(1 for r in results if r.meta.get("correct") and getattr(r.compute, cost) <= b)
        out.append({"budget": b, "success_rate": ok / len(results)})
    return out


def trajectory_first_error_f1(
    values: Sequence[Sequence[float | None] | None], truth: Sequence[int], threshold: float = 0.5
) -> dict[str, Any]:
    """ProcessBench F1 of predicted first errors (first value ``< threshold`` of each record's
    labels or scores) against the checker's first errors (``-1`` = no error)."""
    if len(values) != len(truth):
        raise PrmkitError(f"{len(values)} value lists for {len(truth)} first errors")
    preds = [predict_first_error(v, threshold) for v in values]
    return processbench_metrics(preds, list(truth))
