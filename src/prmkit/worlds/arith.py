"""The built-in arithmetic reasoning world: GSM8K-like word problems with exact step truth.

Every problem is generated from a small computation tree (2-8 operations with exact integer
results) and carries its full spec in ``problem.meta["arith"]``; :func:`check_steps` decides
for ANY step text whether each step is correct, so the whole PRM loop (policy, labelling,
training, scoring, search, evaluation) runs on a laptop against known ground truth.

Example:
    >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
    >>> steps = reference_solution(p)
    >>> check_steps(p, steps).first_error
    -1
    >>> bad = steps[:-1] + ["The answer is 1000001."]
    >>> check_steps(p, bad).first_error == len(steps) - 1
    True

The checker rule (see docs/worlds.md): a step is correct iff every equation in it is
arithmetically true, all its operands are *known-correct* quantities (numbers given in the
problem and used by it, or results of earlier correct steps) and its result is one of the
problem's quantities (a given or an intermediate value of the computation tree); a step that
states a final answer must state the right value; a step with neither an equation nor an
answer is unparseable and incorrect; the last step of a complete solution must state the answer.

Layout: the world itself (specs, generation, step rendering, the checker) is
:mod:`prmkit.worlds.arith_spec`; the noisy policy is :mod:`prmkit.worlds.arith_policy` (built on
the spec module); this module adds the data sets made with the policy (:func:`make_bench`,
:func:`make_bon_pool`) and re-exports the spec module's names, so ``prmkit.worlds.arith`` is the
one import for the whole world.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import (
    META_CORRECT,
    META_GENERATOR,
    META_PROBLEM_ID,
    Problem,
    Solution,
    labels_from_first_error,
)
from prmkit.worlds.arith_parse import format_number
from prmkit.worlds.arith_policy import ArithPolicy
from prmkit.worlds.arith_spec import (
    OP_SYMBOL,
    SPEC_VERSION,
    ArithSpec,
    StepCheck,
    check_steps,
    final_step,
    generate_problems,
    get_spec,
    judge_step,
    reference_solution,
    render_step,
)

__all__ = [
    "OP_SYMBOL",
    "SPEC_VERSION",
    "ArithPolicy",
    "ArithSpec",
    "StepCheck",
    "check_steps",
    "final_step",
    "generate_problems",
    "get_spec",
    "judge_step",
    "make_bench",
    "make_bon_pool",
    "reference_solution",
    "render_step",
    "solution_to_processbench",
]


def make_bench(
    n: int,
    seed: int,
    *,
    wrong_fraction: float = 0.5,
    error_rate: float = 0.2,
    miracle_rate: float = 0.02,
    diversity: float = 0.5,
    problems: Sequence[Problem] | None = None,
    **problem_options: Any,
) -> list[Solution]:
    """ProcessBench-style records: one solution per problem, about ``wrong_fraction`` with an error.

    Each record has ``labels`` (1 before the first error, 0 at it, ``None`` after; the first
    error is ``first_error``), ``meta["correct"]`` (final answer right) and the spec in
    ``meta["arith"]``. Solutions come from :class:`~prmkit.worlds.arith_policy.ArithPolicy`.

    Example:
        >>> recs = make_bench(20, seed=0)
        >>> sum(r.first_error >= 0 for r in recs)
        10
    """
    if not 0.0 <= wrong_fraction <= 1.0:
        raise PrmkitError(f"wrong_fraction must be in [0, 1], got {wrong_fraction}", field="wrong_fraction")
    probs = list(problems) if problems is not None else generate_problems(n, seed, **problem_options)
    policy = ArithPolicy(error_rate=error_rate, miracle_rate=miracle_rate, diversity=diversity)
    rng = random.Random(f"bench:{seed}")
    n_wrong = round(wrong_fraction * len(probs))
    wants = [True] * n_wrong + [False] * (len(probs) - n_wrong)
    rng.shuffle(wants)
    out = []
    for p, want_wrong in zip(probs, wants, strict=True):
        gen = None
        for attempt in range(200):
            g = policy.sample_one(p, seed=seed, index=attempt)
            if (g.meta["first_error"] >= 0) == want_wrong:
                gen = g
                break
        if gen is None:  # error_rate 0 or 1: take what we get rather than loop forever
            gen = g
        fe = gen.meta["first_error"]
        ans = gen.meta.get("answer")
        out.append(
            Solution(
                id=f"{p.id}#0",
                problem=p.question,
                steps=list(gen.steps),
                answer=ans,
                reference_answer=p.reference_answer,
                labels=labels_from_first_error(fe, len(gen.steps)),
                meta={
                    META_PROBLEM_ID: p.id,
                    META_CORRECT: ans is not None and ans == p.reference_answer,
                    META_GENERATOR: "prmkit-arith",
                    "errors": gen.meta.get("errors", []),
                    "arith": p.meta["arith"],
                },
            )
        )
    return out


def make_bon_pool(problems: Sequence[Problem], n: int, policy: Any = None, seed: int = 0) -> list[Solution]:
    """``n`` sampled solutions per problem with exact correctness, for best-of-N evaluation.

    Each Solution has ``answer`` (the stated final answer), ``meta["correct"]`` (answer right),
    ``labels`` (prefix correctness: 1 before the first error, 0 from it on; the first error is
    ``first_error``) and ``meta["step_correct"]`` (each step judged on its own).

    Example:
        >>> pool = make_bon_pool(generate_problems(2, seed=0), n=3, seed=0)
        >>> len(pool), sorted(pool[0].meta)[:3]
        (6, ['arith', 'correct', 'errors'])
    """
    policy = policy if policy is not None else ArithPolicy()
    gens = policy.sample(list(problems), n, seed=seed)
    out = []
    for p, row in zip(problems, gens, strict=True):
        for i, g in enumerate(row):
            chk = check_steps(p, g.steps)
            ans = format_number(chk.answer) if chk.answer is not None else None
            fe = chk.first_error
            labels = [1.0] * len(g.steps) if fe < 0 else [1.0] * fe + [0.0] * (len(g.steps) - fe)
            out.append(
                Solution(
                    id=f"{p.id}#{i}",
                    problem=p.question,
                    steps=list(g.steps),
                    answer=ans,
                    reference_answer=p.reference_answer,
                    labels=labels,
                    meta={
                        META_PROBLEM_ID: p.id,
                        META_CORRECT: chk.answer_correct,
                        "step_correct": chk.correct,
                        "errors": g.meta.get("errors", []),
                        "arith": p.meta["arith"],
                    },
                )
            )
    return out


def solution_to_processbench(s: Solution, generator: str = "prmkit-arith") -> dict[str, Any]:
    """A ProcessBench record ``{id, generator, problem, steps, final_answer_correct, label}``
    (``label`` is the first error of the labels, ``final_answer_correct`` is ``meta["correct"]``)."""
    if s.labels is None:
        raise PrmkitError(
            f"record {s.id!r} has no labels; ProcessBench needs the first-error index", field="labels"
        )
    return {
        "id": s.id,
        "generator": s.meta.get(META_GENERATOR, generator),
        "problem": s.problem,
        "steps": list(s.steps),
        "final_answer_correct": bool(s.correct),
        "label": s.first_error,
    }
