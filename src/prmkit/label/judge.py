"""Judge labels (an LLM critic behind the ``judge`` scorer) and consensus filtering (docs/methods.md#c3-judge-and-consensus).

``judge``: the scorer's step scores are read as "step correct" probabilities; the first step
scoring below ``threshold`` is the first error; labels are 1 before it, 0 at it, unknown (or 0)
after it. No rollouts.

``consensus``: two labellers (default MC with early stop, and the judge); a solution is kept only
when their first errors agree (both -1 included), with labels 1 before / 0 at the agreed error.
Disagreements are returned as dropped with both first errors in the reason, so the runner writes
and counts them (never a silent drop).

Example (C3: MC first error 2, judge says 2 -> kept; judge says 1 -> dropped):
    >>> consensus_labels(2, 2, 4)
    [1.0, 1.0, 0.0, None]
    >>> consensus_labels(2, 1, 4) is None
    True
"""

from __future__ import annotations

import inspect
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import LABELLERS, LabelContext, Labeller, LabelOutcome, make_labeller
from prmkit.label.mc import AFTER_ERROR
from prmkit.records import Problem, Solution, StepValues, first_error_of, labels_from_first_error


def consensus_labels(
    first_a: int, first_b: int, n_steps: int, after: float | None = None
) -> StepValues | None:
    """Labels from an agreed first error, ``None`` when the two first errors differ."""
    if first_a != first_b:
        return None
    return labels_from_first_error(first_a, n_steps, after=after)


@LABELLERS.register("judge")
class JudgeLabeller(Labeller):
    """Labels from a judge scorer: ``load_scorer(scorer, path, **scorer_options)``.

    Options: ``scorer`` (a registered scorer name, default ``judge``, or a Scorer instance),
    ``path`` (model path or endpoint for the scorer), ``scorer_options`` (dict), ``threshold``
    (0.5), ``after_error`` (``none``/``zero``).
    """

    name = "judge"

    def __init__(
        self,
        scorer: Any = "judge",
        path: str | None = None,
        scorer_options: dict[str, Any] | None = None,
        threshold: float = 0.5,
        after_error: str = "none",
    ) -> None:
        if after_error not in AFTER_ERROR:
            raise PrmkitError(f"after_error must be one of {AFTER_ERROR}", field="after_error")
        self.scorer = scorer if isinstance(scorer, str) else type(scorer).__name__
        self.path = path
        self.scorer_options = dict(scorer_options or {})
        self.threshold = threshold
        self.after_error = after_error
        self._scorer = None if isinstance(scorer, str) else scorer

    def needs_policy(self) -> bool:
        return False

    def _get_scorer(self) -> Any:
        if self._scorer is None:
            from prmkit.scorers.base import load_scorer

            self._scorer = load_scorer(self.scorer, self.path, **self.scorer_options)
        return self._scorer

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        scores = self._get_scorer().score_batch([solution.problem], [list(solution.steps)])
        if len(scores) != 1 or len(scores[0]) != len(solution.steps):
            raise PrmkitError(
                f"judge scorer returned {len(scores[0]) if scores else 0} scores for "
                f"{len(solution.steps)} steps of record {solution.id}"
            )
        meta: dict[str, Any] = {"method": "judge", "label_type": "hard", "judge_scores": list(scores[0])}
        if all(v is None for v in scores[0]):
            # an unparsable verdict must not read as "no error"
            return LabelOutcome(
                labels=None, meta=meta, dropped="judge-unparsable: no step verdict from the judge"
            )
        fe = first_error_of(scores[0], self.threshold)
        after = 0.0 if self.after_error == "zero" else None
        return LabelOutcome(labels=labels_from_first_error(fe, len(solution.steps), after=after), meta=meta)


def _build(spec: Any, options: dict[str, Any] | None, n: int | None) -> Labeller:
    if isinstance(spec, Labeller):
        return spec
    opts = dict(options or {})
    cls = LABELLERS.get(spec)
    params = inspect.signature(cls.__init__).parameters
    if n is not None and "n" in params and "n" not in opts:
        opts["n"] = n
    if spec == "mc" and "early_stop" not in opts:
        opts["early_stop"] = True  # only the first error matters here: same answer, fewer rollouts
    return make_labeller(spec, **opts)


@LABELLERS.register("consensus")
class ConsensusLabeller(Labeller):
    """Keep a solution only when two labellers agree on its first error (Qwen, C3).

    Options: ``first`` (default ``mc``, with early stop), ``second`` (default ``judge``), each a
    labeller name or instance; ``first_options`` / ``second_options`` (dicts); ``n`` (passed to
    sub-labellers that take it); ``after_error`` (``none``/``zero``).
    """

    name = "consensus"

    def __init__(
        self,
        first: Any = "mc",
        second: Any = "judge",
        first_options: dict[str, Any] | None = None,
        second_options: dict[str, Any] | None = None,
        n: int | None = None,
        after_error: str = "none",
    ) -> None:
        if after_error not in AFTER_ERROR:
            raise PrmkitError(f"after_error must be one of {AFTER_ERROR}", field="after_error")
        self._a = _build(first, first_options, n)
        self._b = _build(second, second_options, n)
        self.first = self._a.name
        self.second = self._b.name
        self.first_options = self._a.options()
        self.second_options = self._b.options()
        self.n = n
        self.after_error = after_error

    def needs_policy(self) -> bool:
        return self._a.needs_policy() or self._b.needs_policy()

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        oa = self._a.label(solution, problem, ctx)
        ob = self._b.label(solution, problem, ctx)
        sub_drop = oa.dropped or ob.dropped
        fa, fb = first_error_of(oa.labels), first_error_of(ob.labels)
        after = 0.0 if self.after_error == "zero" else None
        labels = consensus_labels(fa, fb, len(solution.steps), after=after)
        meta: dict[str, Any] = {
            "method": "consensus",
            "label_type": "hard",
            "labellers": [self.first, self.second],
            "first_errors": [fa, fb],
            "first_meta": oa.meta,
            "second_meta": ob.meta,
        }
        dropped = None
        if sub_drop is not None:
            labels, dropped = None, sub_drop
        elif labels is None:
            dropped = f"consensus-disagreement: first errors differ ({self.first}={fa}, {self.second}={fb})"
        return LabelOutcome(
            labels=labels,
            meta=meta,
            rollouts=oa.rollouts + ob.rollouts,
            tokens=oa.tokens + ob.tokens,
            dropped=dropped,
        )
