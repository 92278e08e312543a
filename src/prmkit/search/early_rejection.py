"""Early rejection with partial rewards (docs/methods.md#e5-early-rejection, after Cheshmi et al., arXiv 2508.01969).

Per step, ``n * width`` candidate next steps are sampled from the K = ``n // width`` beams
(the first step from the empty prefix). Each candidate is cut to its first ``tau`` tokens and
the *partial* step is scored by the PRM (PRMs as partial reward models); the K best partial
candidates are kept and completed; the rest are rejected. Completed candidates that finished go
to the result pool; the others are the next beams. Stops when K candidates finished, no beam is
left, or ``max_steps`` is reached (unfinished beams are then returned marked).

Token accounting. The :class:`~prmkit.policies.base.Policy` interface generates whole steps,
so the search samples whole steps and reveals only their first ``tau`` tokens to the PRM. A
rejected candidate is charged ``min(tau, its tokens)`` generated tokens, a kept one its full
length: what a streaming backend that stops a sequence after ``tau`` tokens spends.
``Compute.extra["tokens_without_early_stop"]`` holds the tokens actually produced by the policy.
A step is cut with ``policy.truncate_tokens(step, tau)`` when the policy has it, else in
proportion to its characters (``tau / num_tokens`` of the text).

Example (docs/methods.md#e5-early-rejection): n=4, width=2 -> 8 partial candidates per step, 2 kept and completed.
"""

from __future__ import annotations

import math

from prmkit.search.beam import expand, spread
from prmkit.search.candidates import Candidate, aggregate_or_none
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


def truncate_step(policy: object, step: str, num_tokens: int, tau: int) -> str:
    """The first ``tau`` tokens of a generated step (whole step when it is not longer).

    Example:
        >>> truncate_step(object(), "12+7=19", 7, 3)
        '12+'
    """
    if num_tokens <= tau:
        return step
    fn = getattr(policy, "truncate_tokens", None)
    if callable(fn):
        return str(fn(step, tau))
    return step[: max(1, math.ceil(len(step) * tau / num_tokens))]


@SEARCHES.register("early-rejection")
def early_rejection(ctx: SearchContext) -> list[Candidate]:
    """Beam search with early rejection of partial steps (see module docstring)."""
    cfg = ctx.config
    keep = max(1, cfg.n // cfg.width)
    total = cfg.n * cfg.width
    beams = [Candidate()]
    completed: list[Candidate] = []
    stopped: list[Candidate] = []
    full_tokens = 0
    charged = 0
    for depth in range(cfg.max_steps):
        if not beams:
            break
        if not ctx.budget_left():
            for c in beams:
                c.stop_reason = "max_total_tokens"
            break
        before = ctx.compute.generated_tokens
        kids = expand(ctx, beams, spread(total, len(beams)), ("partial", depth))
        step_tokens = [c.last_tokens for c in kids]
        # the partial view of each child: its last step cut to tau tokens
        parent_steps = [c.steps[:-1] for c in kids]
        partial_paths = []
        for c, ps, t in zip(kids, parent_steps, step_tokens, strict=True):
            last = c.steps[-1] if c.steps else ""
            partial_paths.append(ps + [truncate_step(ctx.policy, last, t, cfg.tau)] if c.steps else [])
        scores = ctx.score(partial_paths)
        partial = [aggregate_or_none(s, cfg.agg) for s in scores]
        order = sorted(range(len(kids)), key=lambda i: -(partial[i] if partial[i] is not None else -1e300))
        kept = set(order[:keep])
        spent = ctx.compute.generated_tokens - before
        full_tokens += spent
        cost = sum(t if i in kept else min(t, cfg.tau) for i, t in enumerate(step_tokens))
        charged += cost
        ctx.compute.generated_tokens = before + cost
        survivors = [kids[i] for i in sorted(kept)]
        for c in survivors:
            c.meta["partial_score"] = partial[kids.index(c)]
        ctx.score_candidates(survivors)
        completed += [c for c in survivors if c.finished]
        stopped += [c for c in survivors if c.closed and not c.finished]
        beams = [c for c in survivors if not c.closed]
        if len(completed) >= keep:
            break
    for c in beams:
        if not c.closed:
            c.stop_reason = "max_steps" if len(c.steps) >= cfg.max_steps else "search_ended"
    ctx.compute.extra["tokens_without_early_stop"] = full_tokens
    ctx.compute.extra["tokens_saved"] = full_tokens - charged
    return completed + stopped + beams
