"""SCAN-style denoising of Monte Carlo labels (docs/methods.md#c4-scan-denoising).

Two transforms on top of a sequential MC labelling (``mc`` with ``early_stop=True``):

- **self-confidence filtering**: the annotator's self-confidence ``SC`` on a problem is the
  fraction of its own sampled responses that are correct; problems with ``SC < min_confidence``
  (0.75 in SCAN) are dropped (their records are written as dropped, with the reason);
- **tolerance labels**: for a wrong response with first zero-value step ``e``, labels are
  ``[1]*e + [0]`` (steps after ``e`` unknown), and the ``window`` (2) steps before ``e`` get the
  soft label ``min(1, MC_t / SC)``: a low MC value just before an error is partly the annotator's
  own weakness, not a wrong step. Correct responses get all 1. A wrong response with no zero step
  is dropped (SCAN skips it).

Example (C4: SC = 0.8, MC = [0.75, 0.5, 0.25, 0.0] -> e = 3):
    >>> scan_tolerance_labels([0.75, 0.5, 0.25, 0.0], 0.8)
    [1.0, 0.625, 0.3125, 0.0]
"""

from __future__ import annotations

from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import LabelOutcome, first_zero
from prmkit.records import StepValues


def scan_tolerance_labels(values: StepValues, sc: float, window: int = 2) -> StepValues | None:
    """SCAN labels from MC values of a wrong response; ``None`` when no step has value 0."""
    if not 0 < sc <= 1:
        raise PrmkitError(f"self-confidence must be in (0, 1], got {sc}", field="self_confidence")
    e = first_zero(values)
    if e < 0:
        return None
    labels: StepValues = [1.0] * e + [0.0] + [None] * (len(values) - e - 1)
    for t in range(max(0, e - window), e):
        v = values[t]
        if v is not None:
            labels[t] = min(1.0, v / sc)
    return labels


def apply_scan(
    outcome: LabelOutcome,
    *,
    n_steps: int,
    answer_correct: bool | None,
    sc: float,
    min_confidence: float = 0.75,
    tolerance: bool = True,
    window: int = 2,
) -> LabelOutcome:
    """Apply SCAN's filter and tolerance labels to an MC outcome (needs ``meta["values"]``).

    Example:
        >>> o = LabelOutcome(labels=[1, 1, 0], meta={"values": [0.5, 0.25, 0.0]}, rollouts=24)
        >>> apply_scan(o, n_steps=3, answer_correct=False, sc=0.5, min_confidence=0.5).labels
        [1.0, 0.5, 0.0]
        >>> apply_scan(o, n_steps=3, answer_correct=False, sc=0.5).dropped
        'scan-low-confidence: self-confidence 0.5 < 0.75'
    """
    meta: dict[str, Any] = dict(outcome.meta)
    meta["self_confidence"] = sc
    meta["scan"] = {"min_confidence": min_confidence, "tolerance": tolerance, "window": window}
    out = LabelOutcome(
        labels=outcome.labels,
        meta=meta,
        rollouts=outcome.rollouts,
        tokens=outcome.tokens,
        dropped=outcome.dropped,
    )
    if out.dropped:
        return out
    if sc < min_confidence or sc <= 0:
        out.labels, out.dropped = None, f"scan-low-confidence: self-confidence {sc:g} < {min_confidence:g}"
        return out
    if answer_correct:
        out.labels = [1.0] * n_steps
        return out
    values = meta.get("values")
    if values is None:
        raise PrmkitError("SCAN needs per-step MC values (use --method mc or adaptive)", field="scan")
    labels = scan_tolerance_labels(values, sc, window if tolerance else 0)
    if labels is None:
        out.labels, out.dropped = None, "scan-no-zero-step: wrong final answer but no step with MC value 0"
        return out
    out.labels = labels
    return out
