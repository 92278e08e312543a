"""Test-time search with a PRM: one signature for every method.

``search(problems, policy, scorer, config) -> list[SearchResult]`` runs the method named by
``config.method`` (a key of :data:`SEARCHES`) on each problem with any :class:`~prmkit.policies.base.Policy`
and any :class:`~prmkit.scorers.base.Scorer`. Each :class:`SearchResult` holds the chosen solution
(a canonical :class:`~prmkit.records.Solution` with step scores), every candidate with its scores,
and the compute spent (:class:`Compute`: generated tokens, policy and scorer calls, wall time).

Finished vs unfinished. A candidate is *finished* when the policy said so (``Generation.finished``:
a final answer or end of sequence). A candidate that stops because of a budget (``max_steps``,
``max_tokens`` per candidate, ``max_total_tokens`` per problem) or because the policy produced no
new step is *unfinished*; its ``meta["stop_reason"]`` says why. The final choice is made among the
finished candidates only; unfinished ones are chosen **only when no candidate finished**, and then
``SearchResult.meta["chose_unfinished"]`` is True. DVTS never returns unfinished candidates.

Determinism. Every policy call gets a seed derived from ``(config.seed, method, problem id,
depth, phase, ...)`` by :func:`prmkit.runs.derive_seed`, so a problem's result does not depend on
the other problems in the run (given a policy honouring its per-(seed, problem, prefix, index) contract).

Every loop is bounded by ``max_steps`` (and the method's iteration count), so a policy that never
finishes cannot hang a search.

Example:
    >>> from prmkit.records import Problem
    >>> from prmkit.policies.base import Generation, Policy
    >>> from prmkit.scorers.base import Scorer
    >>> class OneShot(Policy):
    ...     def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
    ...         return [[Generation(["The answer is 4."], True, 5)] * n for _ in problems]
    >>> class Half(Scorer):
    ...     def score_batch(self, problems, steps):
    ...         return [[0.5] * len(s) for s in steps]
    >>> res = search([Problem("p", "2+2?", "4")], OneShot(), Half(), SearchConfig(n=2))
    >>> res[0].chosen.answer, res[0].compute.generated_tokens, res[0].meta["correct"]
    ('4', 10, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prmkit.grading import is_correct, solution_answer
from prmkit.policies.base import Policy
from prmkit.progress import track
from prmkit.records import Problem
from prmkit.registry import Registry
from prmkit.scorers.base import Scorer
from prmkit.search.batch import ProblemBatch, run_batched
from prmkit.search.candidates import Candidate, choose_candidate
from prmkit.search.compute import Door, SearchContext
from prmkit.search.config import SearchConfig
from prmkit.search.results import SearchResult, to_solution

#: a method runs on one problem and returns its candidates (scored); extra result meta goes
#: into ``ctx.meta``.
SearchMethod = Callable[[SearchContext], list[Candidate]]

SEARCHES: Registry[SearchMethod] = Registry("search method")


def search_one(
    problem: Problem, policy: Policy, scorer: Scorer, config: SearchConfig, *, door: Door | None = None
) -> SearchResult:
    """Run ``config.method`` on one problem (``door``: the batch its calls go through, if any)."""
    method = SEARCHES.get(config.method)
    ctx = SearchContext(problem, policy, scorer, config, door=door)
    t0 = time.perf_counter()
    cands = method(ctx)
    # no empty candidate can be written as a canonical record; count them instead
    empty = sum(1 for c in cands if not c.steps)
    cands = [c for c in cands if c.steps]
    unscored = [c for c in cands if c.step_scores is None]
    if unscored:
        ctx.score_candidates(unscored)
    for c in cands:
        if c.answer is None:
            c.answer = solution_answer(c.steps)
    idx, unfinished = choose_candidate(cands, config.agg, config.answer_rule, config.answer_params)
    ctx.compute.wall_time_s = time.perf_counter() - t0
    sols = [to_solution(problem, c, i, config.method, config.agg) for i, c in enumerate(cands)]
    chosen = None if idx is None else sols[idx]
    meta = {
        "chosen_index": idx,
        "chose_unfinished": bool(unfinished and idx is not None),
        "n_candidates": len(sols),
        "n_finished": sum(1 for c in cands if c.finished),
        "empty_candidates_dropped": empty,
        "agg": config.agg,
        "answer_rule": config.answer_rule,
        "seed": config.seed,
        "correct": is_correct(None if chosen is None else chosen.answer, problem.reference_answer),
        "reference_answer": problem.reference_answer,
    }
    meta.update(ctx.meta)
    return SearchResult(problem.id, config.method, chosen, sols, ctx.compute, meta)


def batch_size_for(policy: Policy, config: SearchConfig) -> int:
    """Problems searched together: ``config.batch_problems``, else the policy's preference.

    Example:
        >>> from prmkit.policies.base import Policy
        >>> batch_size_for(Policy, SearchConfig()), batch_size_for(Policy, SearchConfig(batch_problems=8))
        (1, 8)
    """
    if config.batch_problems is not None:
        return int(config.batch_problems)
    return max(1, int(getattr(policy, "preferred_batch_problems", 1) or 1))


def search_iter(
    problems: Sequence[Problem],
    policy: Policy,
    scorer: Scorer,
    config: SearchConfig,
    *,
    stats: dict[str, int] | None = None,
) -> Iterator[SearchResult]:
    """Results of every problem, in input order, searching ``batch_size_for(policy, config)``
    problems together (:mod:`prmkit.search.batch`); the results are those of :func:`search_one`
    on each problem. ``stats`` (a dict) receives the batch's backend-call counts."""
    size = batch_size_for(policy, config)
    if size <= 1 or len(problems) <= 1:
        for p in problems:
            yield search_one(p, policy, scorer, config)
        return
    batch = ProblemBatch(policy, scorer)
    try:
        yield from run_batched(
            problems, lambda p, door: search_one(p, policy, scorer, config, door=door), batch, size
        )
    finally:
        if stats is not None:
            stats.update(batch.stats)


def search(
    problems: Sequence[Problem],
    policy: Policy,
    scorer: Scorer,
    config: SearchConfig | None = None,
    *,
    quiet: bool | None = None,
) -> list[SearchResult]:
    """Run the search method named by ``config.method`` on every problem (with a progress bar),
    ``config.batch_problems`` problems at a time.

    Example (see the module docstring for a runnable one)::

        results = search(problems, load_policy("arith"), load_scorer("arith-oracle"),
                         SearchConfig(method="beam", n=16, width=4))
        accuracy = sum(r.meta["correct"] for r in results) / len(results)
    """
    config = (config or SearchConfig()).validate()
    return list(
        track(
            search_iter(problems, policy, scorer, config),
            total=len(problems),
            description=f"search {config.method}",
            quiet=quiet,
        )
    )
