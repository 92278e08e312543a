"""Step-level beam search with a PRM (docs/methods.md#e1-beam-search, after HF search-and-learn).

``n`` = N beams, ``width`` = M; K = N // M survivors are kept per step and each is expanded
into M next steps (the first step samples N from the empty prefix), so every step generates N
candidate steps. Finished candidates move to the completed pool; the search stops when N
candidates completed, none is left, or ``max_steps`` is reached. Unfinished beams left at the
end are returned marked ``stop_reason="max_steps"`` (or ``max_tokens``/``max_total_tokens``)
and are chosen only when nothing finished.

``lookahead > 0`` rolls each unfinished candidate ``lookahead`` extra steps forward (one policy
sample, not kept) and ranks it by the score of the extended path (its tokens count as compute).
``filter_duplicates`` drops beams whose steps repeat another beam exactly.

Example (docs/methods.md#e1-beam-search): N=4, M=2, first-step scores [0.2, 0.9, 0.5, 0.7] keep beams 1 and 3,
each expanded twice on the next step (see tests/test_search_methods.py).
"""

from __future__ import annotations

from prmkit.search.candidates import Candidate, aggregate_or_none
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


def spread(total: int, k: int) -> list[int]:
    """Split ``total`` samples over ``k`` beams as evenly as possible (first ones get the rest).

    Example:
        >>> spread(16, 4), spread(5, 2)
        ([4, 4, 4, 4], [3, 2])
    """
    base, rest = divmod(total, k)
    return [base + (1 if i < rest else 0) for i in range(k)]


def expand(ctx: SearchContext, beams: list[Candidate], counts: list[int], phase: tuple) -> list[Candidate]:
    """Children of each beam (``counts[i]`` samples of one next step), one policy call per count."""
    children: list[list[Candidate]] = [[] for _ in beams]
    for m in sorted(set(counts)):
        idx = [i for i, c in enumerate(counts) if c == m and m > 0]
        if not idx:
            continue
        gens = ctx.generate([beams[i].steps for i in idx], m, max_steps=1, seed_parts=(*phase, m))
        for i, gs in zip(idx, gens, strict=True):
            children[i] = [beams[i].extend(g) for g in gs]
    out = [c for cs in children for c in cs]
    for c in out:
        ctx.close_if_over_budget(c)
    return out


def score_with_lookahead(ctx: SearchContext, cands: list[Candidate], depth: int) -> None:
    """Score candidates; with ``config.lookahead`` the open ones are ranked on a rolled-out path."""
    ctx.score_candidates(cands)
    la = ctx.config.lookahead
    open_ = [c for c in cands if not c.closed]
    if la <= 0 or not open_:
        return
    gens = ctx.generate([c.steps for c in open_], 1, max_steps=la, seed_parts=("lookahead", depth))
    paths = [c.steps + gs[0].steps for c, gs in zip(open_, gens, strict=True)]
    for c, s in zip(open_, ctx.score(paths), strict=True):
        c.score = aggregate_or_none(s, ctx.config.agg)
        c.meta["lookahead_steps"] = len(s) - len(c.steps)


def select_top(cands: list[Candidate], k: int, filter_duplicates: bool) -> list[Candidate]:
    """The ``k`` best-scored candidates (stable: ties keep generation order)."""
    seen: set[tuple[str, ...]] = set()
    pool = []
    for c in cands:
        key = tuple(c.steps)
        if filter_duplicates and key in seen:
            continue
        seen.add(key)
        pool.append(c)
    order = sorted(range(len(pool)), key=lambda i: -(pool[i].score if pool[i].score is not None else -1e300))
    return [pool[i] for i in order[:k]]


@SEARCHES.register("beam")
def beam_search(ctx: SearchContext) -> list[Candidate]:
    """Step-level beam search (see module docstring)."""
    cfg = ctx.config
    keep = max(1, cfg.n // cfg.width)
    active = [Candidate()]
    completed: list[Candidate] = []
    stopped: list[Candidate] = []
    history: list[list[int]] = []
    for depth in range(cfg.max_steps):
        if not active:
            break
        if not ctx.budget_left():
            for c in active:
                c.stop_reason = "max_total_tokens"
            break
        children = expand(ctx, active, spread(cfg.n, len(active)), ("expand", depth))
        score_with_lookahead(ctx, children, depth)
        completed += [c for c in children if c.finished]
        stopped += [c for c in children if c.closed and not c.finished]
        open_ = [c for c in children if not c.closed]
        active = select_top(open_, keep, cfg.filter_duplicates)
        history.append([children.index(c) for c in active])
        if len(completed) >= cfg.n:
            break
    for c in active:
        if not c.closed:
            c.stop_reason = "max_steps" if len(c.steps) >= cfg.max_steps else "search_ended"
    ctx.meta["kept_per_step"] = history
    return completed + stopped + active
