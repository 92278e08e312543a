"""Best-of-N (docs/methods.md#a3-best-of-n-accuracy, docs/methods.md#b2-answer-rules): sample N full solutions, score every step, choose by a rule.

The choice uses ``config.agg`` (step -> solution score: min, prod, last, mean, geometric, ...)
and ``config.answer_rule`` (best_of_n, majority, weighted_vote, hmrv, wrfv) from
:mod:`prmkit.aggregate`; :func:`prmkit.search.base.rechoose` re-chooses the same samples with
any other pair, so one run yields majority, best-of-N and weighted-vote numbers together.

Budgets: the policy is asked for at most ``max_steps`` steps; a sample that used more than
``max_tokens`` generated tokens is marked unfinished (``stop_reason="max_tokens"``). With
``max_total_tokens`` the N samples are drawn in chunks of ``width`` and drawing stops once the
budget is spent.
"""

from __future__ import annotations

from prmkit.search.candidates import Candidate
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


@SEARCHES.register("best-of-n")
def best_of_n(ctx: SearchContext) -> list[Candidate]:
    """N independent samples, each scored (see module docstring)."""
    cfg = ctx.config
    if cfg.max_total_tokens is None:
        chunks = [(cfg.n, ("sample",))]
    else:
        chunks = []
        left, k = cfg.n, 0
        while left > 0:
            m = min(cfg.width, left)
            chunks.append((m, ("sample", k)))
            left -= m
            k += 1
    cands: list[Candidate] = []
    for m, parts in chunks:
        if not ctx.budget_left():
            ctx.meta["stopped_by"] = "max_total_tokens"
            break
        for g in ctx.generate([[]], m, max_steps=cfg.max_steps, seed_parts=parts)[0]:
            c = Candidate().extend(g)
            c.meta["sample_index"] = len(cands)
            if cfg.max_tokens is not None and c.num_tokens > cfg.max_tokens:
                c.finished, c.stop_reason = False, "max_tokens"
            elif not c.finished and not c.stop_reason:
                c.stop_reason = "max_steps" if len(c.steps) >= cfg.max_steps else "unfinished"
            cands.append(c)
    ctx.score_candidates(cands)
    return cands
