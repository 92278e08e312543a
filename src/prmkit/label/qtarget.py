"""AgentPRM Q-targets: discounted Monte Carlo outcome per state-action (docs/methods.md#c8-agentprm-q-targets).

For step ``t`` (0-based; on a trajectory, the ``t``-th action ``a_t`` taken in state ``s_t``)
``n`` rollouts continue the prefix ``s_1..s_t`` (through ``a_t``) to the end of the episode. Each
rollout ``i`` ends in outcome ``o_i`` (1 success, 0 failure). AgentPRM's target, as its code
computes it (``scripts/dataproc/compute_prm_target.py`` of github.com/sanjibanc/agent_prm:
``update_Q`` and the ``[-1, 1]`` transform of ``process_file`` / ``compute_prm_target``)::

    Q(s_t, a_t) = ( 1 + mean_i gamma^t * (2 o_i - 1) ) / 2          gamma = 0.95 (its config)

- the outcome is mapped to ``[-1, 1]``, discounted, averaged, and mapped back to ``[0, 1]``, so a
  deep step's target shrinks towards 0.5 (an uncertain 0.5, never a confident 0 or 1);
- the exponent ``t`` is the step's index **from the start of the episode** (the trajectory index
  that ``process_file`` passes to ``update_Q``), not the steps remaining: with its
  ``gamma = 0.95`` the target of step 10 of a sure success is ``(1 + 0.95^10) / 2 = 0.80``;
- the average is per state-action: AgentPRM keys each ``(s_t, a_t)`` by a SHA-256 of
  ``{"state": {task, history of (observation, action), current observation}, "action": a_t}``
  (the thought, its ``reason``, is not in the key) and averages every rollout through that key,
  count-weighted when files are merged (``merge_results``). Here the rollouts of one record are
  drawn per prefix (``Rollouts``, seeded from the prefix alone); :func:`state_action_key` gives
  AgentPRM's key (``meta.labelling.keys``) and :func:`pool_q_targets` does its count-weighted
  merge across records (samples of the same task share their first actions).

``exponent="remaining"`` is the textbook discounted return of a sparse outcome reward instead:
``Q = mean_i gamma^(k_i) * o_i`` with ``k_i`` the actions rollout ``i`` took after ``a_t``.

Labels: ``label_type="soft"`` (default, AgentPRM's regression target) writes ``Q``;
``label_type="hard"`` writes ``1`` iff the success fraction ``p_t = mean_i o_i`` is
``> threshold`` (0, as Math-Shepherd's HE: the action keeps the task solvable). For
``exponent="start"`` and threshold 0 this is ``Q > (1 - gamma^t) / 2``; ``Q > 0.5`` is
``p_t > 0.5``. The last step of a finished trajectory is exact (its own outcome, no rollouts).

Example (C8: step 2, 3 of 4 rollouts succeed, gamma 0.9):
    >>> round(q_start([True, True, True, False], 2, 0.9), 4)
    0.7025
    >>> q_remaining([(True, 1), (True, 2), (False, 0), (True, 0)], 0.5)
    0.4375
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import (
    LABELLERS,
    LabelContext,
    Labeller,
    LabelOutcome,
    PrefixStat,
    labels_hard,
    solution_answer_correct,
)
from prmkit.label.mc import prefix_value_entries
from prmkit.records import Problem, Solution, StepValues
from prmkit.trajectory import action_text, turns_from_steps

EXPONENTS = ("start", "remaining")


def q_start(outcomes: Sequence[bool], t: int, gamma: float) -> float:
    """AgentPRM's target for step ``t`` (0-based) from rollout outcomes: ``(1 + mean gamma^t (2o-1)) / 2``.

    Example:
        >>> q_start([True], 0, 0.95), q_start([False], 0, 0.95), round(q_start([True], 10, 0.95), 4)
        (1.0, 0.0, 0.7994)
    """
    if not outcomes:
        raise PrmkitError("Q-target requested before any rollout")
    g = gamma**t
    return 0.5 * (1.0 + sum(g * (2 * int(o) - 1) for o in outcomes) / len(outcomes))


def q_remaining(outcomes: Sequence[tuple[bool, int]], gamma: float) -> float:
    """Discounted return of a sparse outcome: ``mean gamma^k * o`` over ``(outcome, k actions after a_t)``.

    Example:
        >>> q_remaining([(True, 2), (False, 0)], 0.5)
        0.125
    """
    if not outcomes:
        raise PrmkitError("Q-target requested before any rollout")
    return sum((gamma**k) * int(o) for o, k in outcomes) / len(outcomes)


def state_action_key(problem: str, steps: Sequence[str], t: int) -> str:
    """AgentPRM's state-action key of step ``t``: SHA-256 of the task, the history of
    (observation, action) pairs, the current observation and the action (thoughts excluded).
    Steps that are not trajectory turns (math solutions) are keyed by their text.

    Example:
        >>> a = state_action_key("Find it.", ["Thought: hm\\nAction: look"], 0)
        >>> a == state_action_key("Find it.", ["Thought: other\\nAction: look"], 0)
        True
    """
    try:
        turns = turns_from_steps(list(steps[: t + 1]))
    except PrmkitError:
        payload: Any = {"task": problem, "steps": list(steps[: t + 1])}
    else:
        before = [problem] + [tr.observation for tr in turns[:-1]]
        history = [{"observation": before[i], "action": action_text(turns[i].action)} for i in range(t)]
        payload = {
            "state": {"observation": before[t], "history": history, "task": problem},
            "action": action_text(turns[t].action),
        }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


@LABELLERS.register("q-target")
class QTargetLabeller(Labeller):
    """AgentPRM Q-targets from ``n`` rollouts per step prefix (see the module doc).

    Options: ``n`` (rollouts per step, 8), ``gamma`` (0.95, AgentPRM's config), ``exponent``
    (``start``: AgentPRM's code, ``gamma^t`` on the ``[-1, 1]`` outcome; ``remaining``:
    ``gamma^(actions left) * outcome``), ``label_type`` (``soft``: the Q-target; ``hard``:
    success fraction ``> threshold``), ``threshold`` (0), ``chunk`` (rollouts per policy call).
    ``meta.labelling`` holds ``values`` (Q), ``success`` (``p_t``), ``counts`` and ``keys``.
    """

    name = "q-target"

    def __init__(
        self,
        n: int = 8,
        gamma: float = 0.95,
        exponent: str = "start",
        label_type: str = "soft",
        threshold: float = 0.0,
        chunk: int | None = None,
    ) -> None:
        if n < 1:
            raise PrmkitError(f"n must be >= 1, got {n}", field="n")
        if not 0 < gamma <= 1:
            raise PrmkitError(f"gamma must be in (0, 1], got {gamma}", field="gamma")
        if exponent not in EXPONENTS:
            raise PrmkitError(f"exponent must be one of {EXPONENTS}, got {exponent!r}", field="exponent")
        if label_type not in ("hard", "soft"):
            raise PrmkitError(f"label_type must be 'hard' or 'soft', got {label_type!r}", field="label_type")
        if not 0 <= threshold < 1:
            raise PrmkitError(f"threshold must be in [0, 1), got {threshold}", field="threshold")
        self.n = n
        self.gamma = gamma
        self.exponent = exponent
        self.label_type = label_type
        self.threshold = threshold
        self.chunk = chunk

    def q_of(self, st: PrefixStat, t: int) -> float:
        """The Q-target of step ``t`` from the rollouts of its prefix (an exact node: its outcome)."""
        outs = [(bool(st.correct), 0)] if st.exact else st.outcomes
        if self.exponent == "start":
            return q_start([o for o, _ in outs], t, self.gamma)
        return q_remaining(outs, self.gamma)

    def label(self, solution: Solution, problem: Problem, ctx: LabelContext) -> LabelOutcome:
        steps = list(solution.steps)
        T = len(steps)
        ro = ctx.rollouts(solution, problem, self.chunk or self.n)
        own = solution_answer_correct(solution, problem, ctx.grader)
        if own is not None:
            ro.set_exact(steps, own)
        stats = ro.ensure([steps[: t + 1] for t in range(T)], self.n)
        q = [self.q_of(st, t) for t, st in enumerate(stats)]
        success = [st.value for st in stats]
        labels: StepValues
        if self.label_type == "soft":
            labels = list(q)
        else:
            labels = labels_hard(success, self.threshold)
        meta: dict[str, Any] = {
            "method": "q-target",
            "n": self.n,
            "gamma": self.gamma,
            "exponent": self.exponent,
            "label_type": self.label_type,
            "threshold": self.threshold,
            "values": q,
            "success": success,
            "counts": [st.n for st in stats],
            "keys": [state_action_key(solution.problem, steps, t) for t in range(T)],
            "prefix_values": prefix_value_entries(ro, steps),
        }
        return LabelOutcome(labels=labels, meta=meta, rollouts=ro.rollouts, tokens=ro.tokens)


def pool_q_targets(records: Iterable[Solution]) -> list[Solution]:
    """AgentPRM's count-weighted merge: every step with the same state-action key gets the
    count-weighted mean of the Q-targets (and success fractions) of all records that reach it.

    Records labelled by ``q-target`` are rewritten (soft labels: pooled Q; hard: pooled success
    fraction against the record's threshold); other records pass unchanged. Returns new records.

    Example:
        >>> def rec(i, q, p, n):
        ...     lab = {"method": "q-target", "values": [q], "success": [p], "counts": [n], "keys": ["k"],
        ...            "label_type": "soft", "threshold": 0.0}
        ...     return Solution(id=str(i), problem="?", steps=["Action: a"], labels=[q], meta={"labelling": lab})
        >>> [r.labels for r in pool_q_targets([rec(0, 1.0, 1.0, 1), rec(1, 0.25, 0.25, 3)])]
        [[0.4375], [0.4375]]
    """
    recs = list(records)
    sums: dict[str, list[float]] = {}  # key -> [sum n*q, sum n*p, sum n]
    for r in recs:
        lab = r.meta.get("labelling") or {}
        if lab.get("method") != "q-target" or r.labels is None:
            continue
        for k, q, p, n in zip(lab["keys"], lab["values"], lab["success"], lab["counts"], strict=True):
            acc = sums.setdefault(k, [0.0, 0.0, 0.0])
            acc[0] += n * q
            acc[1] += n * p
            acc[2] += n
    out = []
    for r in recs:
        lab = r.meta.get("labelling") or {}
        if lab.get("method") != "q-target" or r.labels is None:
            out.append(r)
            continue
        q = [sums[k][0] / sums[k][2] for k in lab["keys"]]
        p = [sums[k][1] / sums[k][2] for k in lab["keys"]]
        counts = [int(sums[k][2]) for k in lab["keys"]]
        labels: StepValues = (
            list(q) if lab.get("label_type") == "soft" else labels_hard(p, lab.get("threshold", 0.0))
        )
        meta = {**r.meta, "labelling": {**lab, "values": q, "success": p, "counts": counts, "pooled": True}}
        out.append(replace(r, steps=list(r.steps), labels=labels, meta=meta))
    return out
