"""PATS: process-level adaptive number of candidates per step (docs/methods.md#e6-pats, after NJUNLP/PATS).

A single path is grown step by step. The number of candidate next steps depends on a *mode*
(``pats_candidates``, default ``[8, 4, 2]`` for modes 0/1/2: complex/medium/simple), adapted
from the PRM score ``r`` of the last accepted step:

- the best candidate is the one with the highest last-step score ``r`` (ties -> first);
- if ``r < bad_step`` (0.4) and fewer than ``penalty_times`` (1) rejections were made in a row,
  the step is rejected (not sampled again at this position) and the mode resets to 0;
- otherwise it is accepted (the rejection counter resets) and the mode moves:
  ``r >= v_high`` (0.85) -> one level cheaper, ``r < v_low`` (0.75) -> mode 0, else unchanged.

Stops when the accepted step finished the solution, at ``max_steps`` accepted steps, a token
budget, or after ``pats_max_iterations`` (35) iterations. ``SearchResult.meta["modes"]`` lists
the mode used at each iteration.
"""

from __future__ import annotations

from prmkit.search.candidates import Candidate, argmax_first
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


def next_mode(mode: int, r: float, v_high: float = 0.85, v_low: float = 0.75, n_modes: int = 3) -> int:
    """Mode after accepting a step with last-step score ``r`` (progressive: one level at a time).

    Example (docs/methods.md#e6-pats):
        >>> next_mode(0, 0.9), next_mode(1, 0.8), next_mode(1, 0.7)
        (1, 1, 0)
    """
    if r >= v_high:
        return min(mode + 1, n_modes - 1)
    if r < v_low:
        return 0
    return mode


@SEARCHES.register("pats")
def pats(ctx: SearchContext) -> list[Candidate]:
    """PATS (see module docstring)."""
    cfg = ctx.config
    path = Candidate()
    mode = cfg.pats_initial_mode
    penalties = 0
    used: set[str] = set()
    modes: list[int] = []
    rejected = 0
    for it in range(cfg.pats_max_iterations):
        if path.closed:
            break
        if not ctx.budget_left():
            path.stop_reason = "max_total_tokens"
            break
        modes.append(mode)
        gens = ctx.generate([path.steps], int(cfg.pats_candidates[mode]), seed_parts=("step", it, mode))[0]
        kids = []
        for g in gens:
            key = "\n".join(g.steps)
            if key in used:
                continue
            used.add(key)
            kids.append(path.extend(g))
        if not kids:
            continue
        ctx.score_candidates(kids)
        last = [c.step_scores[-1] if c.step_scores else None for c in kids]
        j = argmax_first(last)
        r = last[j] if last[j] is not None else 0.0
        if r < cfg.bad_step and penalties < cfg.penalty_times:
            penalties += 1
            rejected += 1
            mode = 0
            continue
        penalties = 0
        used = set()
        path = kids[j]
        ctx.close_if_over_budget(path)
        mode = next_mode(mode, r, cfg.v_high, cfg.v_low, len(cfg.pats_candidates))
    if not path.closed and path.steps:
        path.stop_reason = "max_iterations"
    ctx.meta["modes"] = modes
    ctx.meta["rejected_steps"] = rejected
    return [path]
