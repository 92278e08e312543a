"""Reward-guided greedy search (docs/methods.md#e3-greedy-search).

Each step samples ``n`` candidate next steps from the current prefix and keeps the one whose
extended path scores best (``config.agg`` of the path's step scores; ``agg="last"`` is the
last-step score of the methods reference); ties go to the first. Stops when the kept step
finished the solution or a budget is hit.

Candidates returned: the greedy path. When that path ends unfinished, the finished siblings met
on the way are returned too, so a finished solution is preferred over the unfinished path.
"""

from __future__ import annotations

from prmkit.search.candidates import Candidate, argmax_first
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


@SEARCHES.register("greedy")
def greedy(ctx: SearchContext) -> list[Candidate]:
    """Greedy search (see module docstring)."""
    cfg = ctx.config
    path = Candidate()
    siblings: list[Candidate] = []
    choices: list[int] = []
    for depth in range(cfg.max_steps):
        if not ctx.budget_left():
            path.stop_reason = "max_total_tokens"
            break
        kids = [path.extend(g) for g in ctx.generate([path.steps], cfg.n, seed_parts=("step", depth))[0]]
        ctx.score_candidates(kids)
        j = argmax_first([c.score for c in kids])
        choices.append(j)
        siblings += [c for i, c in enumerate(kids) if i != j and c.finished]
        path = kids[j]
        ctx.close_if_over_budget(path)
        if path.closed:
            break
    if not path.closed and path.steps:
        path.stop_reason = "max_steps"
    ctx.meta["choices"] = choices
    return [path] if path.finished or not path.steps else [path, *siblings]
