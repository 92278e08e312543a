"""Per-turn rewards of a multi-turn agent trajectory -> token advantages (docs/agents.md#rl-credit).

An agent episode tokenized for an RL trainer is one sequence in which the agent's own turns
(thought + action, the tokens the policy generated) alternate with observation tokens the
environment wrote (tool results, room descriptions) and the prompt. Trainers (verl's multi-turn
rollouts, OpenRLHF agent mode, TRL) mark the generated tokens with a loss / assistant mask; each
contiguous run of 1s in that mask is one turn.

:func:`turn_token_advantages` takes that mask and one reward per turn (a PRM's score of the
action, e.g. ``2 * p - 1``), turns the rewards into per-turn returns with a credit rule of
:mod:`prmkit.rl.credit` (``sum``: ``G_t = sum_{t'>=t} gamma^(t'-t) r_t'``; ``exact-min``:
``G_t = min_{t'>=t} r_t'``; ``soft-min``: PURE's implementation) and spreads the return of turn
``t`` over the tokens of turn ``t``. Observation and prompt tokens get 0 and stay masked: the
policy is never credited for text it did not write.

Example (turn 0 = tokens 1-2, an observation at 3-4, turn 1 = tokens 5-6):
    >>> mask = [[0, 1, 1, 0, 0, 1, 1, 0]]
    >>> turn_token_advantages([[0.5, -1.0]], mask, credit="sum").tolist()
    [[0.0, -0.5, -0.5, 0.0, 0.0, -1.0, -1.0, 0.0]]
    >>> turn_token_advantages([[0.5, -1.0]], mask, credit="exact-min").tolist()
    [[0.0, -1.0, -1.0, 0.0, 0.0, -1.0, -1.0, 0.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prmkit.errors import PrmkitError
from prmkit.rl.credit import (
    _np,
    _restorer,
    _steps,
    min_form_returns,
    soft_min_returns,
    steps_to_tokens,
    sum_form_returns,
)

__all__ = ["turn_spans", "turn_token_advantages"]

CREDITS = ("sum", "exact-min", "soft-min")


def turn_spans(assistant_mask: Any) -> list[list[tuple[int, int]]]:
    """The turns of each row: ``[start, end)`` of every contiguous run of 1s in the mask.

    Example:
        >>> turn_spans([[0, 1, 1, 0, 1], [1, 0, 0, 0, 0]])
        [[(1, 3), (4, 5)], [(0, 1)]]
    """
    m = _np(assistant_mask, dtype=bool)
    if m.ndim != 2:
        raise PrmkitError(f"assistant_mask must be [B, L], got shape {m.shape}", field="assistant_mask")
    out = []
    for row in m:
        d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        out.append([(int(s), int(e)) for s, e in zip(starts, ends, strict=True)])
    return out


def turn_token_advantages(
    turn_rewards: Any,
    assistant_mask: Any,
    *,
    credit: str = "sum",
    gamma: float = 1.0,
    temperature: float = 0.1,
    turn_mask: Any | None = None,
) -> Any:
    """Token advantages ``[B, L]`` from per-turn rewards (see the module doc).

    ``turn_rewards``: ``[B, T]`` (with ``turn_mask``) or ragged lists, one reward per turn, as
    many as the row's runs of 1s in ``assistant_mask`` (``[B, L]``, 1 = a token the agent
    generated). ``credit``: ``sum`` (with ``gamma``), ``exact-min`` or ``soft-min`` (with
    ``temperature``). Returns the kind it was given (torch in, torch out), 0 outside the mask.
    """
    if credit not in CREDITS:
        raise PrmkitError(f"credit must be one of {CREDITS}, got {credit!r}", field="credit")
    back = _restorer(turn_rewards, assistant_mask)
    r, m = _steps(turn_rewards, turn_mask)
    am = _np(assistant_mask, dtype=bool)
    spans = turn_spans(am)
    if len(spans) != r.shape[0]:
        raise PrmkitError(
            f"assistant_mask has {len(spans)} rows, turn rewards {r.shape[0]}", field="assistant_mask"
        )
    ends = np.full(r.shape, -1, dtype=np.int64)
    for b, sp in enumerate(spans):
        k = int(m[b].sum())
        if len(sp) != k:
            raise PrmkitError(
                f"row {b}: {k} turn rewards but {len(sp)} assistant turns in the mask", field="turn_rewards"
            )
        ends[b, :k] = [e - 1 for _, e in sp]
    if credit == "sum":
        g = sum_form_returns(r, gamma, m)
    elif credit == "exact-min":
        g = min_form_returns(r, m)
    else:
        g = soft_min_returns(r, temperature, m)
    # every token from the previous turn's end to this turn's end gets G_t; observations are then
    # masked out, leaving G_t on exactly the tokens of turn t
    tok = steps_to_tokens(g, ends, np.ones(am.shape, dtype=bool), step_mask=m, spread=True)
    return back(np.where(am, tok, 0.0))
