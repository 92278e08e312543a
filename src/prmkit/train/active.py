"""ActPRM pool-based active labelling for the ``lm-likelihood`` PRM
(docs/methods.md#c6-actprm-uncertainty-selection).

The pool is read in batches. The first batch (warm-up) is labelled whole; for every later batch,
an ensemble of heads (:func:`prmkit.train.likelihood.fit_ensemble`, bootstrap over the solutions
labelled so far) scores its steps, :func:`prmkit.label.select.solution_uncertainty` marks the
uncertain solutions, at most ``fraction`` of the batch (most uncertain first) is sent to the
labeller, and the ensemble is refitted. Only selected solutions reach ``label_fn``; what it spent
is counted.

Example (a labeller that marks step 0 correct and counts one rollout per step):
    >>> from prmkit.records import Solution
    >>> pool = [Solution(id=str(i), problem="p", steps=["a", "b"]) for i in range(4)]
    >>> feats = [[[float(i), 0.0], [0.0, float(i)]] for i in range(4)]
    >>> def lab(recs):
    ...     return [Solution(id=r.id, problem=r.problem, steps=r.steps, labels=[1.0, float(int(r.id) % 2)])
    ...             for r in recs], {"rollouts": 2 * len(recs)}
    >>> res = active_label(pool, feats, lab, batch_size=2, fraction=0.5, k=2)
    >>> res.n_labelled, res.cost["rollouts"], res.cost["steps"]
    (3, 6, 6)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.label.select import select_uncertain, solution_uncertainty
from prmkit.records import Solution
from prmkit.scorers.likelihood import apply_head
from prmkit.train.likelihood import _labelled_steps, fit_ensemble

__all__ = ["ActiveResult", "active_label"]

LabelFn = Callable[[list[Solution]], tuple[list[Solution], dict[str, Any]]]


@dataclass
class ActiveResult:
    """Labelled records (pool order), the selection per batch and the labelling cost."""

    labelled: list[Solution]
    selected: list[list[int]] = field(default_factory=list)
    cost: dict[str, float] = field(default_factory=dict)

    @property
    def n_labelled(self) -> int:
        return len(self.labelled)


def _rows(records: Sequence[Solution], feats: Sequence[Sequence[Sequence[float] | None]], after_error: str):
    x: list[list[float]] = []
    y: list[float] = []
    g: list[int] = []
    for j, (r, f) in enumerate(zip(records, feats, strict=True)):
        for i, v in _labelled_steps(r.labels or [], after_error):
            if i < len(f) and f[i] is not None:
                x.append(list(f[i]))  # type: ignore[arg-type]
                y.append(v)
                g.append(j)
    return x, y, g


def active_label(
    pool: Sequence[Solution],
    features: Sequence[Sequence[Sequence[float] | None]],
    label_fn: LabelFn,
    *,
    batch_size: int = 200,
    fraction: float = 0.4,
    k: int = 8,
    pred_threshold: float = 0.9,
    std_threshold: float = 0.01,
    after_error: str = "drop",
    seed: int = 0,
) -> ActiveResult:
    """Label ``pool`` actively; ``features[i]``: the step features of ``pool[i]``
    (:func:`prmkit.train.likelihood.step_features_of`). ``label_fn(records)`` returns the labelled
    records and a cost dict (e.g. ``{"rollouts": n}``), summed into ``ActiveResult.cost`` with
    ``solutions`` and ``steps`` (steps labelled) added."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError("fraction must be in (0, 1]")
    labelled: dict[int, Solution] = {}
    res = ActiveResult(labelled=[], cost={"solutions": 0, "steps": 0})

    def spend(idx: list[int]) -> None:
        if not idx:
            return
        recs, cost = label_fn([pool[i] for i in idx])
        for i, r in zip(idx, recs, strict=True):
            labelled[i] = r
        res.cost["solutions"] += len(idx)
        res.cost["steps"] += sum(sum(v is not None for v in (r.labels or [])) for r in recs)
        for key, v in cost.items():
            res.cost[key] = res.cost.get(key, 0) + v

    for b, start in enumerate(range(0, len(pool), batch_size)):
        idx = list(range(start, min(start + batch_size, len(pool))))
        order = sorted(labelled)
        x, y, g = _rows([labelled[i] for i in order], [features[i] for i in order], after_error)
        if b == 0 or not x or min(y) == max(y):  # warm-up: nothing (or one class) to fit yet
            chosen = idx
        else:
            heads = fit_ensemble(x, y, g, k=k, seed=seed + b)
            scores = [
                [[None if f is None else apply_head(f, h) for f in features[i]] for h in heads] for i in idx
            ]
            unc = solution_uncertainty(scores, pred_threshold, std_threshold)
            chosen = [idx[j] for j in select_uncertain(unc, budget=int(fraction * len(idx)))]
        res.selected.append(chosen)
        spend(chosen)
    res.labelled = [labelled[i] for i in sorted(labelled)]
    return res
