"""Math-Shepherd Monte Carlo labelling (docs/methods.md#c1-monte-carlo-labels), with optional sequential early stop (docs/methods.md#c4-scan-denoising).

For every step ``t`` the prefix ``s_1..s_t`` is completed ``n`` times; the step's value is the
fraction of completions reaching the reference answer. Hard label: ``value > threshold`` (HE,
threshold 0); soft label: the value itself (SE).

- The last step of a solution that carries a final answer is valued exactly (1 if that answer is
  right, else 0) without rollouts: completing a finished solution cannot change its answer.
- ``early_stop=True`` evaluates steps in order and stops at the first step whose value is
  ``<= threshold`` (SCAN's sequential MC). Steps after it are unknown (``None``, the ProcessBench
  convention) or 0 with ``after_error="zero"``.
- Without early stop, labels are "monotone-agnostic" as in Math-Shepherd: a step after a 0 can
  be 1 again (a lucky continuation); use :func:`prmkit.records.first_error_of` for the first error.

Example (C1: 3 of 8 completions correct -> HE 1, SE 0.375):
    >>> from prmkit.label.base import labels_hard
    >>> labels_hard([3 / 8, 0 / 8])
    [1.0, 0.0]
"""

from __future__ import annotations

from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import (
    LABELLERS,
    LabelContext,
    Labeller,
    LabelOutcome,
    Rollouts,
    first_zero,
    labels_hard,
    solution_answer_correct,
)
from prmkit.records import Problem, Solution, StepValues

AFTER_ERROR = ("none", "zero")


def _check_common(n: int, label_type: str, after_error: str) -> None:
    if n < 1:
        raise PrmkitError(f"n must be >= 1, got {n}", field="n")
    if label_type not in ("hard", "soft"):
        raise PrmkitError(f"label_type must be 'hard' or 'soft', got {label_type!r}", field="label_type")
    if after_error not in AFTER_ERROR:
        raise PrmkitError(
            f"after_error must be one of {AFTER_ERROR}, got {after_error!r}", field="after_error"
        )


def prefix_value_entries(ro: Rollouts, steps: list[str]) -> list[dict[str, Any]]:
    """Every evaluated prefix in evaluation order, as JSON-safe dicts.

    Prefixes of the solution itself carry ``prefix_len``; other tree nodes (OmegaPRM) also carry
    their ``steps``.
    """
    out = []
    for prefix in ro.order:
        st = ro.nodes[prefix]
        on_solution = len(prefix) <= len(steps) and list(prefix) == steps[: len(prefix)]
        e: dict[str, Any] = {
            "prefix_len": len(prefix),
            "value": st.value,
            "n": st.n,
            "correct": st.correct,
        }
        if st.exact:
            e["exact"] = True
        if not on_solution:
            e["steps"] = list(prefix)
        out.append(e)
    return out


@LABELLERS.register("mc")
class MonteCarloLabeller(Labeller):
    """Math-Shepherd MC estimation: ``n`` rollouts per step prefix; hard or soft labels.

    Options: ``n`` (rollouts per prefix, 8), ``label_type`` (``hard``/``soft``), ``threshold``
    (hard label is ``value > threshold``, 0), ``early_stop`` (stop at the first step valued
    ``<= threshold``), ``after_error`` (``none``/``zero``: steps after an early stop),
    ``use_solution_answer`` (a solution with a correct final answer is its own witness: every
    prefix has a correct continuation, so hard labels are all 1 at no cost; off by default to
    match Math-Shepherd), ``chunk`` (rollouts per policy call, default ``n``).
    """

    name = "mc"

    def __init__(
        self,
        n: int = 8,
        label_type: str = "hard",
        threshold: float = 0.0,
        early_stop: bool = False,
        after_error: str = "none",
        use_solution_answer: bool = False,
        chunk: int | None = None,
    ) -> None:
        _check_common(n, label_type, after_error)
        if use_solution_answer and label_type == "soft":
            raise PrmkitError(
                "use_solution_answer gives hard labels only; use label_type=hard", field="label_type"
            )
        self.n = n
        self.label_type = label_type
        self.threshold = threshold
        self.early_stop = early_stop
        self.after_error = after_error
        self.use_solution_answer = use_solution_answer
        self.chunk = chunk

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        steps = solution.steps
        T = len(steps)
        own = solution_answer_correct(solution, problem, ctx.grader)
        meta: dict[str, Any] = {"method": "mc", "n": self.n, "label_type": self.label_type}
        if self.use_solution_answer and own is True:
            meta.update(witness=True, values=[None] * T, prefix_values=[])
            return LabelOutcome(labels=[1.0] * T, meta=meta)
        ro = ctx.rollouts(solution, problem, self.chunk or self.n)
        if own is not None:
            ro.set_exact(steps, own)
        values: StepValues = [None] * T
        if self.early_stop:
            for t in range(1, T + 1):
                v = ro.value(steps[:t], self.n)
                values[t - 1] = v
                if v <= self.threshold:
                    break
        else:
            stats = ro.ensure([steps[:t] for t in range(1, T + 1)], self.n)
            values = [st.value for st in stats]
        labels = list(values) if self.label_type == "soft" else labels_hard(values, self.threshold)
        stop = first_zero(values, self.threshold)
        if self.early_stop and stop >= 0 and self.after_error == "zero":
            labels[stop + 1 :] = [0.0] * (T - stop - 1)
        meta.update(values=values, prefix_values=prefix_value_entries(ro, steps))
        if self.early_stop:
            meta["early_stop"] = True
        return LabelOutcome(labels=labels, meta=meta, rollouts=ro.rollouts, tokens=ro.tokens)
