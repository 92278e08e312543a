"""ActPRM's uncertainty selection (docs/methods.md#c6-actprm-uncertainty-selection): which
solutions of a pool are worth sending to a labeller.

An ensemble of PRMs scores every step. Per step ``t``: ``m_t`` = mean of the members' scores,
``s_t`` = their standard deviation (unbiased; 0 with one member). Steps after the first one with
``m_t < 0.5`` are ignored (the PRM's own first error ends the solution, as ActPRM's pseudo
labels). A solution is *confident* when every considered step has ``s_t <= std_threshold`` and
``m_t >= pred_threshold`` or ``m_t <= 1 - pred_threshold``; the others are *uncertain* and are
the ones labelled. Under a label budget prmkit orders the uncertain ones by
``u = max_t (0.5 - |m_t - 0.5| + s_t)`` (nearest to 0.5 plus disagreement; the paper selects by
the thresholds alone).

Example (two members, two solutions: the first is confident, the second is not):
    >>> u = solution_uncertainty([[[0.99, 0.98], [0.99, 0.97]], [[0.9, 0.6], [0.95, 0.3]]])
    >>> [x.confident for x in u], select_uncertain(u)
    ([True, False], [1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Uncertainty", "select_uncertain", "solution_uncertainty"]


@dataclass(frozen=True)
class Uncertainty:
    """One solution's uncertainty: ``confident`` per ActPRM's rule, ``score`` (``u``) for ordering."""

    confident: bool
    score: float


def solution_uncertainty(
    member_scores: Sequence[Sequence[Sequence[float | None]]],
    pred_threshold: float = 0.9,
    std_threshold: float = 0.01,
) -> list[Uncertainty]:
    """``member_scores[i][k]``: step scores of solution ``i`` by ensemble member ``k`` (``None``:
    unscored step, skipped). Returns one :class:`Uncertainty` per solution.

    Example (one member: only the prediction margin counts):
        >>> [round(u.score, 2) for u in solution_uncertainty([[[0.95, 0.55, 0.1]]])]
        [0.45]
    """
    out: list[Uncertainty] = []
    for members in member_scores:
        n_steps = max((len(m) for m in members), default=0)
        confident, score = True, 0.0
        for t in range(n_steps):
            vals = [m[t] for m in members if t < len(m) and m[t] is not None]
            if not vals:
                continue
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            sure = std <= std_threshold and (mean >= pred_threshold or mean <= 1 - pred_threshold)
            confident = confident and sure
            score = max(score, 0.5 - abs(mean - 0.5) + std)
            if mean < 0.5:  # the PRM's first error: later steps do not count
                break
        out.append(Uncertainty(confident, score))
    return out


def select_uncertain(uncertainty: Sequence[Uncertainty], budget: int | None = None) -> list[int]:
    """Indices of the uncertain solutions, most uncertain first, at most ``budget`` of them
    (confident solutions are never selected, whatever the budget).

    Example:
        >>> us = [Uncertainty(False, 0.2), Uncertainty(True, 0.0), Uncertainty(False, 0.4)]
        >>> select_uncertain(us), select_uncertain(us, budget=1)
        ([2, 0], [2])
    """
    order = sorted(
        (i for i, u in enumerate(uncertainty) if not u.confident), key=lambda i: -uncertainty[i].score
    )
    return order if budget is None else order[: max(0, budget)]
