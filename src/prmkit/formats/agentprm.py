"""``agentprm``: AgentPRM rollouts (Choudhury et al. 2025, github.com/sanjibanc/agent_prm).

The authors' ``scripts/dataproc/rollout_alfworld.py`` (commit e4714717) writes one JSON file per
rollout: ``{"gamefile", "task", "trajectory": [{"observation", "candidate_actions", "reason",
"action", "score", "agent_log"}, ...]}``, where ``trajectory[t].observation`` is the state
*before* action ``t`` (the first is the reset observation; the one after the last action is not
kept) and ``score`` is the environment's reward returned by ``env.step`` for action ``t``
(ALFWorld: 1 once the task is won, else 0). ``scripts/dataproc/compute_prm_target.py`` turns a
rollout into PRM targets: ``outcome = 2 * trajectory[-1].score - 1``, ``Q_t = gamma**t *
outcome`` averaged over rollouts that share ``(state, action)``, then ``0.5 * (Q + 1)``.

Reading (one JSON object per file, a JSON array, or JSONL):

- ``problem`` = ``trajectory[0].observation``; turn ``t`` = ``reason`` (thought), ``action``
  (free text; a ``name({json})`` text is read as a tool call), observation =
  ``trajectory[t + 1].observation`` (the last turn has none);
- ``score`` must be a number in [0, 1] (the targets' ``2 * score - 1`` assumes it); it stays in
  the turn's ``meta["score"]``, as do ``candidate_actions``, ``agent_log`` and any other step field;
- labels = the single-rollout AgentPRM target ``0.5 * (gamma**t * (2 * o - 1) + 1)`` with
  ``o`` = the last score (option ``gamma``, default 1: every step gets the outcome ``o``);
  ``meta["outcome"]`` = ``o``; ``task`` and every other top-level field (``gamefile``, ``id``)
  go to ``meta["agentprm"]``; the record id is ``id`` if the rollout has one, else
  ``<file stem>-<index>``.

Writing is the inverse: ``score`` from each turn's ``meta["score"]``, else 0 before the last
turn and the outcome (``meta["outcome"]``, else the last label rounded) at the last. The last
turn's observation has no place in the format and is dropped; labels other than the outcome are
not written (they are re-derived on reading).

Example:
    >>> row = {"task": "put a mug on the desk", "trajectory": [
    ...     {"observation": "You are in a room. Your task is to: put a mug on the desk.",
    ...      "reason": "Find the mug.", "action": "go to shelf 1", "score": 0},
    ...     {"observation": "On the shelf 1, you see a mug 1.", "reason": "Take it.",
    ...      "action": "take mug 1 from shelf 1", "score": 1}]}
    >>> s = agentprm_to_solution(row, "r.json", 1)
    >>> s.problem[:18], [t.observation for t in s.turns], s.labels
    ('You are in a room.', ['On the shelf 1, you see a mug 1.', None], [1.0, 1.0])
    >>> to_agentprm(s) == row
    True
"""

from __future__ import annotations

import math
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats.base import (
    Format,
    make_solution,
    other_fields,
    record_error,
    register_format,
    req_str,
    require_obj,
    row_id,
    row_reader,
    row_writer,
)
from prmkit.formats.openai_chat import record_turns
from prmkit.records import META_OUTCOME, Solution
from prmkit.trajectory import Turn, action_text, parse_action

_STEP_KEYS = ("observation", "reason", "action", "score")
_META = "agentprm"


def agentprm_to_solution(obj: Any, file: str, line: int, gamma: float | None = None) -> Solution:
    """One AgentPRM rollout as a canonical record (see the module docstring)."""
    g = 1.0 if gamma is None else float(gamma)
    if not 0.0 < g <= 1.0:
        raise PrmkitError(f"gamma must be in (0, 1], got {gamma}", field="gamma")
    d = require_obj(obj, file, line)
    traj = d.get("trajectory")
    if not isinstance(traj, list) or not traj:
        raise PrmkitError("must be a non-empty list of steps", file=file, line=line, field="trajectory")
    obs: list[str] = []
    turns: list[Turn] = []
    scores: list[float] = []
    for t, st in enumerate(traj):
        where = f"trajectory[{t}]"
        st = require_obj(st, file, line, where)
        ob = st.get("observation")
        if not isinstance(ob, str):
            raise PrmkitError("must be a string", file=file, line=line, field=f"{where}.observation")
        obs.append(ob)
        action = req_str(st, "action", file, line, field=f"{where}.action")
        reason = st.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise PrmkitError("must be a string or null", file=file, line=line, field=f"{where}.reason")
        sc = st.get("score")
        if (
            isinstance(sc, bool)
            or not isinstance(sc, int | float)
            or not math.isfinite(sc)
            or not 0 <= sc <= 1
        ):
            raise PrmkitError(
                f"must be a number in [0, 1] (the environment reward; AgentPRM's target is 2 * score - 1), got {sc!r}",
                file=file,
                line=line,
                field=f"{where}.score",
            )
        scores.append(float(sc))
        meta = {**other_fields(st, _STEP_KEYS), "score": sc}
        turns.append(Turn(action=parse_action(action), thought=reason or None, meta=meta))
    for t in range(len(turns) - 1):
        turns[t].observation = obs[t + 1]
    o = scores[-1]
    labels = [0.5 * (g**t * (2 * o - 1) + 1) for t in range(len(turns))]
    kept = other_fields(d, ("trajectory",))  # task, gamefile, id (if any), ...: written back as they were
    meta = {META_OUTCOME: o, _META: {**kept, **({"gamma": g} if gamma is not None else {})}}
    return make_solution(
        file,
        line,
        id=row_id(d, file, line),
        problem=obs[0],
        turns=[t.to_dict() for t in turns],
        labels=labels,
        meta=meta,
    )


def to_agentprm(rec: Solution) -> dict[str, Any]:
    """One record as an AgentPRM rollout (see the module docstring)."""
    turns = record_turns(rec)
    outcome = rec.meta.get(META_OUTCOME)
    if outcome is None and rec.labels and rec.labels[-1] is not None:
        outcome = 1.0 if rec.labels[-1] >= 0.5 else 0.0
    extra = dict(rec.meta.get(_META) or {"id": rec.id})
    extra.pop("gamma", None)
    extra.setdefault("task", rec.problem)
    traj = []
    for t, turn in enumerate(turns):
        sc = turn.meta.get("score")
        if sc is None:
            if t < len(turns) - 1:
                sc = 0
            elif outcome is None:
                raise record_error(
                    rec, "has no outcome (meta.outcome or labels) for the last score", "labels"
                )
            else:
                sc = outcome
        step: dict[str, Any] = {
            "observation": rec.problem if t == 0 else (turns[t - 1].observation or ""),
            "reason": turn.thought if turn.thought is not None else "",
            "action": action_text(turn.action),
            "score": sc,
        }
        step.update(other_fields(turn.meta, _STEP_KEYS))
        traj.append(step)
    return {**extra, "trajectory": traj}


def _parse(obj: Any, file: str, line: int, gamma: float | None = None) -> list[Solution]:
    return [agentprm_to_solution(obj, file, line, gamma)]


register_format(
    Format(
        name="agentprm",
        description="AgentPRM rollouts {task, trajectory: [{observation, reason, action, score}]} (sanjibanc/agent_prm)",
        read=row_reader(_parse),
        write=row_writer(to_agentprm),
        read_options=("gamma",),
    )
)
