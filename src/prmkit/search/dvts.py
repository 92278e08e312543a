"""Diverse Verifier Tree Search (docs/methods.md#e2-dvts, after HF search-and-learn's DVTS).

The budget ``n`` is split into ``n // width`` independent subtrees (``n % width != 0`` is an
error). Each subtree is a greedy search: every step it samples ``width`` next steps from its own
prefix, scores them, and follows the best; it stops when the followed step finished the solution
(or a budget closes it). Subtrees never share a prefix beyond the root.

**Only finished candidates are returned.** Every finished candidate a subtree generated (the one
it followed and finished siblings) is kept, tagged with ``meta["subtree"]``. Unfinished
candidates are never returned (the reference implementation returned a subtree's last-iteration
candidates whether they had finished or not); how many subtrees ended unfinished is recorded in
``SearchResult.meta["unfinished_subtrees"]``. When no subtree finished, the result has no chosen
solution (``chosen is None``).
"""

from __future__ import annotations

from prmkit.errors import PrmkitError
from prmkit.search.candidates import Candidate, argmax_first
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


@SEARCHES.register("dvts")
def dvts(ctx: SearchContext) -> list[Candidate]:
    """DVTS (see module docstring)."""
    cfg = ctx.config
    if cfg.n % cfg.width:
        raise PrmkitError(f"DVTS needs n divisible by width, got n={cfg.n}, width={cfg.width}", field="n")
    n_sub = cfg.n // cfg.width
    heads: list[Candidate | None] = []
    for b in range(n_sub):
        root = Candidate()
        root.meta["subtree"] = b
        heads.append(root)
    done: list[Candidate] = []
    unfinished = 0
    for depth in range(cfg.max_steps):
        alive = [b for b, h in enumerate(heads) if h is not None]
        if not alive:
            break
        if not ctx.budget_left():
            break
        gens = ctx.generate(
            [heads[b].steps for b in alive],
            cfg.width,
            max_steps=1,  # type: ignore[union-attr]
            seed_parts=("step", depth),
        )
        kids = [[heads[b].extend(g) for g in gs] for b, gs in zip(alive, gens, strict=True)]  # type: ignore[union-attr]
        ctx.score_candidates([c for ks in kids for c in ks])
        for b, ks in zip(alive, kids, strict=True):
            for c in ks:
                ctx.close_if_over_budget(c)
                c.meta["subtree"] = b
            done += [c for c in ks if c.finished]
            best = ks[argmax_first([c.score for c in ks])]
            if best.finished:
                heads[b] = None
            elif best.closed:
                heads[b] = None
                unfinished += 1
            else:
                heads[b] = best
    unfinished += sum(1 for h in heads if h is not None)
    ctx.meta["subtrees"] = n_sub
    ctx.meta["unfinished_subtrees"] = unfinished
    return done
