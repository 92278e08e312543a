"""The PRM pipeline on agent trajectories: evaluation helpers above search (docs/agents.md).

Labelling (``q-target``, ``mc``, ``binary`` with the ``env`` policy), training, scoring and search
need nothing agent-specific; this package holds what is: success rate against the actions spent
(:func:`success_vs_actions`, :func:`success_at_budgets`) and first-error F1 of a PRM or of
labels on trajectory records against a checker (:func:`trajectory_first_error_f1`, the
ProcessBench metric).
"""

from __future__ import annotations

from prmkit.agents.evaluate import (
    search_point,
    success_at_budgets,
    success_vs_actions,
    trajectory_first_error_f1,
)

__all__ = ["search_point", "success_at_budgets", "success_vs_actions", "trajectory_first_error_f1"]
