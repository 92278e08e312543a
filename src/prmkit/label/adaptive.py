"""Adaptive MC labelling: stop sampling a step once its label is decided (sequential test).

The hard label of step ``t`` is "is the prefix ``s_1..s_t`` still solvable", i.e. ``value >
threshold``. Rollouts are drawn ``chunk`` at a time; after each chunk, with ``s`` successes in ``k``
rollouts and the one-sided Wilson interval ``[lo, hi]`` at ``confidence``:

- positive when ``s >= 1`` (threshold 0: one correct continuation is proof) or ``lo > threshold``;
- negative when ``hi < min_success``: the step's success rate is confidently below the smallest
  rate we still call "solvable" (the indifference zone ``(threshold, min_success)``);
- otherwise continue, up to ``n`` rollouts; then the plain estimate ``s / k > threshold`` decides
  and the step is marked undecided in ``meta["decided"]``.

With ``sequential=True`` (default) steps are visited in order and the search stops at the first
negative step (the first error); steps after it are unknown (``None``) or 0 (``after_error``).
``sequential=False`` samples all still-open steps before the earliest negative one in rounds
(fewer, larger policy calls; more rollouts). A solution whose final answer is right labels all
steps 1 without rollouts (``use_solution_answer``).

Example (zero successes: how many failures before a step is called wrong):
    >>> failures_to_reject(confidence=0.9, min_success=0.2)
    7
"""

from __future__ import annotations

from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import (
    LABELLERS,
    LabelContext,
    Labeller,
    LabelOutcome,
    PrefixStat,
    solution_answer_correct,
    wilson_bounds,
    z_for,
)
from prmkit.label.mc import AFTER_ERROR, prefix_value_entries
from prmkit.records import Problem, Solution, StepValues


def decide(successes: int, n: int, *, threshold: float, min_success: float, z: float) -> bool | None:
    """True/False when the step's label is decided, ``None`` when more rollouts are needed.

    Example:
        >>> decide(1, 1, threshold=0.0, min_success=0.2, z=1.2816)
        True
        >>> decide(0, 6, threshold=0.0, min_success=0.2, z=1.2816) is None
        True
        >>> decide(0, 7, threshold=0.0, min_success=0.2, z=1.2816)
        False
    """
    if n == 0:
        return None
    lo, hi = wilson_bounds(successes, n, z)
    if successes > 0 and (threshold <= 0 or lo > threshold):
        return True
    if hi < min_success:
        return False
    return None


def failures_to_reject(confidence: float = 0.9, min_success: float = 0.2, cap: int = 10_000) -> int:
    """Number of straight failures after which a step is decided wrong (threshold 0)."""
    z = z_for(confidence)
    for k in range(1, cap + 1):
        if decide(0, k, threshold=0.0, min_success=min_success, z=z) is False:
            return k
    return cap


@LABELLERS.register("adaptive")
class AdaptiveLabeller(Labeller):
    """MC labels with per-step early stopping at a requested confidence, at most ``n`` rollouts.

    Options: ``n`` (max rollouts per step, 16), ``confidence`` (0.9), ``threshold`` (0),
    ``min_success`` (0.2), ``chunk`` (rollouts per draw, 1), ``sequential`` (True),
    ``use_solution_answer`` (True), ``after_error`` (``none``/``zero``), ``label_type``
    (``hard``; ``soft`` gives the running MC fraction, coarse when few rollouts were drawn).
    """

    name = "adaptive"

    def __init__(
        self,
        n: int = 16,
        confidence: float = 0.9,
        threshold: float = 0.0,
        min_success: float = 0.2,
        chunk: int = 1,
        sequential: bool = True,
        use_solution_answer: bool = True,
        after_error: str = "none",
        label_type: str = "hard",
    ) -> None:
        if n < 1:
            raise PrmkitError(f"n must be >= 1, got {n}", field="n")
        if chunk < 1:
            raise PrmkitError(f"chunk must be >= 1, got {chunk}", field="chunk")
        if not 0 <= threshold < min_success <= 1:
            raise PrmkitError(
                f"need 0 <= threshold < min_success <= 1, got {threshold}, {min_success}", field="min_success"
            )
        if after_error not in AFTER_ERROR:
            raise PrmkitError(f"after_error must be one of {AFTER_ERROR}", field="after_error")
        if label_type not in ("hard", "soft"):
            raise PrmkitError(f"label_type must be 'hard' or 'soft', got {label_type!r}", field="label_type")
        z_for(confidence)  # validates
        self.n = n
        self.confidence = confidence
        self.threshold = threshold
        self.min_success = min_success
        self.chunk = chunk
        self.sequential = sequential
        self.use_solution_answer = use_solution_answer
        self.after_error = after_error
        self.label_type = label_type

    def _decide(self, st: PrefixStat, z: float) -> bool | None:
        if st.exact:
            return st.correct > 0
        d = decide(st.correct, st.n, threshold=self.threshold, min_success=self.min_success, z=z)
        if d is None and st.n >= self.n:
            return None
        return d

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        steps = list(solution.steps)
        T = len(steps)
        meta: dict[str, Any] = {"method": "adaptive", "n": self.n, "label_type": self.label_type}
        own = solution_answer_correct(solution, problem, ctx.grader)
        if self.use_solution_answer and own is True:
            meta.update(witness=True, values=[None] * T, decided=[True] * T, prefix_values=[])
            return LabelOutcome(labels=[1.0] * T, meta=meta)
        ro = ctx.rollouts(solution, problem, self.chunk)
        if own is not None:
            ro.set_exact(steps, own)
        z = z_for(self.confidence)
        verdict: list[bool | None] = [None] * T
        decided: list[bool | None] = [None] * T
        stop = T  # steps at index >= stop are after the first error (not evaluated)
        if self.sequential:
            for t in range(T):
                st = ro.node(steps[: t + 1])
                while True:
                    d = self._decide(st, z)
                    if d is not None or st.n >= self.n:
                        break
                    ro.ensure([st.prefix], st.n + 1)
                verdict[t], decided[t] = self._final(st, z)
                if not verdict[t]:
                    stop = t + 1
                    break
        else:
            open_ = list(range(T))
            while open_:
                for t in list(open_):
                    st = ro.node(steps[: t + 1])
                    d = self._decide(st, z)
                    if d is not None or st.n >= self.n:
                        verdict[t], decided[t] = self._final(st, z)
                        open_.remove(t)
                neg = [t for t in range(T) if verdict[t] is False]
                if neg:
                    stop = neg[0] + 1
                    open_ = [t for t in open_ if t < neg[0]]
                if open_:
                    need = [ro.node(steps[: t + 1]) for t in open_]
                    ro.ensure([st.prefix for st in need], min(st.n for st in need) + 1)
            for t in range(stop, T):
                verdict[t] = decided[t] = None
        values: StepValues = [
            ro.nodes[tuple(steps[: t + 1])].value if t < stop and tuple(steps[: t + 1]) in ro.nodes else None
            for t in range(T)
        ]
        values = [v if verdict[t] is not None else None for t, v in enumerate(values)]
        if self.label_type == "soft":
            labels: StepValues = list(values)
        else:
            labels = [None if v is None else (1.0 if v else 0.0) for v in verdict]
        if stop < T and self.after_error == "zero":
            labels[stop:] = [0.0] * (T - stop)
        meta.update(values=values, decided=decided, prefix_values=prefix_value_entries(ro, steps))
        return LabelOutcome(labels=labels, meta=meta, rollouts=ro.rollouts, tokens=ro.tokens)

    def _final(self, st: PrefixStat, z: float) -> tuple[bool, bool]:
        """(label, decided-at-confidence) for a step whose sampling has ended."""
        d = self._decide(st, z)
        if d is not None:
            return d, True
        return st.value > self.threshold, False
