"""Best-of-N evaluation (docs/methods.md#a-evaluation, docs/methods.md#b-aggregation): accuracy of the chosen answer vs N.

For every step aggregation (min, prod, last, mean, geometric, ...) and every answer rule
(best_of_n, weighted_vote, hmrv, wrfv; majority needs no scores), accuracy at
``N = 1, 2, 4, ..., N_max`` under both subsampling protocols, which change the curves:

- ``prefix``: the first ``N`` solutions of each problem (search-and-learn; keeps DVTS groups).
- ``random``: ``seeds`` random subsets of size ``N`` per problem (seed ``s`` drives
  ``random.Random(s)``; VersaPRM uses 10), reported as mean, std, min and max over seeds. All
  rules see the same subsets (paired comparison).

Baselines: ``majority``, ``oracle`` (any correct solution in the subset) and the unbiased
``pass@k`` from all ``N_max`` samples. Diagnostic (A4): the share of multi-step solutions whose
minimum step score sits on the last step (process-to-outcome drift).

Scores: when any score lies outside [0, 1] (logits, e.g. the ``pred_score`` of Qwen2.5-Math
evaluation files) ``transform="auto"`` maps every score through a sigmoid first (monotone: BoN
picks are unchanged; votes need non-negative weights), and records it. Correctness of a chosen
answer is the correctness of the chosen solution (the best-scored member of the winning group).

Pools: Qwen2.5-Math evaluation JSONL (one problem per line with lists ``pred`` (answers),
``score`` (correctness), ``pred_score`` (one score list per sample; one value = one step), and
``code``/``response`` (texts)) or canonical records grouped by problem id, with
``meta.correct`` or a ``reference_answer`` graded against ``answer`` (:func:`prmkit.grading.is_equivalent`,
the grader of labelling and search).

Example:
    >>> pass_at_k(8, 2, 4)
    0.7857142857142857
    >>> pool = [PoolProblem("q1", "?", [PoolSolution([0.2], "A", False), PoolSolution([0.3], "A", False),
    ...                                  PoolSolution([0.9], "B", True)])]
    >>> res = evaluate_bon(pool, aggregations=["min"], rules=["best_of_n"], seeds=2)
    >>> res["protocols"]["prefix"]["curves"]["min/best_of_n"]["mean"], res["protocols"]["prefix"]["n"]
    ([0.0, 0.0, 1.0], [1, 2, 3])
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.aggregate import (
    DEFAULT_ANSWER_RULES,
    DEFAULT_STEP_AGGREGATIONS,
    aggregate_steps,
    choose_index,
    sigmoid,
)
from prmkit.errors import PrmkitError
from prmkit.evaluate.common import fmt
from prmkit.grading import is_equivalent
from prmkit.records import iter_json_lines, read_records


@dataclass
class PoolSolution:
    """One sampled solution: step scores (``None`` = unscored), extracted answer, correctness."""

    scores: list[float | None] | None
    answer: str | None
    correct: bool
    steps: list[str] | None = None


@dataclass
class PoolProblem:
    """A problem with its N sampled solutions."""

    problem_id: str
    question: str
    solutions: list[PoolSolution] = field(default_factory=list)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = ``1 - C(n-c, k) / C(n, k)`` (1.0 when ``n - c < k``).

    Example:
        >>> round(pass_at_k(8, 2, 4), 4), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
        (0.7857, 1.0, 0.0)
    """
    if not 0 <= c <= n or k < 1:
        raise PrmkitError(f"pass@k needs 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def min_on_last_share(all_scores: Sequence[Sequence[float | None]]) -> dict[str, Any]:
    """Share of solutions (with >= 2 scored steps) whose first argmin step is the last scored step.

    Example:
        >>> min_on_last_share([[0.9, 0.2], [0.3, 0.8], [0.5], [0.7, 0.7]])
        {'share': 0.3333333333333333, 'n_multi_step': 3, 'n_single_step': 1}
    """
    hits = multi = single = 0
    for s in all_scores:
        vals = [v for v in s if v is not None]
        if len(vals) < 2:
            single += 1
            continue
        multi += 1
        hits += vals.index(min(vals)) == len(vals) - 1
    return {"share": hits / multi if multi else None, "n_multi_step": multi, "n_single_step": single}


# ---------------------------------------------------------------- pools


def load_pool(path: str | os.PathLike) -> list[PoolProblem]:
    """Read a BoN pool (Qwen2.5-Math evaluation JSONL or canonical records; see module doc).

    Example (reference data, not run as a doctest):
        pool = load_pool("../shared/data/bon/math_cot_100.jsonl")
        len(pool), len(pool[0].solutions)  # (100, 8)
    """
    p = Path(path)
    first = next(iter_json_lines(p), None)
    if first is None:
        raise PrmkitError("empty pool", file=str(p))
    obj = first[1]
    if isinstance(obj, dict) and isinstance(obj.get("pred"), list) and "score" in obj:
        return _load_qwen_eval(p)
    return _load_canonical(p)


def _load_qwen_eval(p: Path) -> list[PoolProblem]:
    out = []
    for n, d, _ in iter_json_lines(p):
        if not isinstance(d, dict):
            raise PrmkitError("expected a JSON object", file=str(p), line=n)
        preds, corr = d.get("pred"), d.get("score")
        if not isinstance(preds, list) or not isinstance(corr, list) or len(preds) != len(corr):
            raise PrmkitError(
                "'pred' and 'score' must be lists of equal length", file=str(p), line=n, field="pred"
            )
        scores = d.get("pred_score")
        if scores is not None and (not isinstance(scores, list) or len(scores) != len(preds)):
            raise PrmkitError("must hold one entry per sample", file=str(p), line=n, field="pred_score")
        texts = d.get("code") or d.get("response")
        sols = []
        for i in range(len(preds)):
            sc = None
            if scores is not None:
                s = scores[i]
                sc = [s] if isinstance(s, int | float) else s
                if not isinstance(sc, list) or not all(v is None or isinstance(v, int | float) for v in sc):
                    raise PrmkitError(
                        f"sample {i}: must be a number or a list of numbers",
                        file=str(p),
                        line=n,
                        field="pred_score",
                    )
                sc = [None if v is None else float(v) for v in sc]
            a = preds[i]
            steps = (
                [texts[i]]
                if isinstance(texts, list) and i < len(texts) and isinstance(texts[i], str)
                else None
            )
            sols.append(PoolSolution(sc, None if a is None else str(a), bool(corr[i]), steps))
        pid = str(d.get("idx", n - 1))
        out.append(PoolProblem(pid, str(d.get("question") or d.get("query") or ""), sols))
    return out


def _load_canonical(p: Path) -> list[PoolProblem]:
    groups: dict[str, PoolProblem] = {}
    for line, r in enumerate(read_records(p), start=1):
        if r.correct is not None:
            correct = r.correct
        elif r.reference_answer is not None:
            correct = is_equivalent(r.answer, r.reference_answer)
        else:
            raise PrmkitError(
                "needs meta.correct or a reference_answer to grade the answer",
                file=str(p),
                line=line,
                field="meta.correct",
            )
        prob = groups.setdefault(r.problem_id, PoolProblem(r.problem_id, r.problem))
        prob.solutions.append(PoolSolution(r.scores, r.answer, correct, list(r.steps)))
    return list(groups.values())


def score_pool(scorer: Any, pool: list[PoolProblem], batch_size: int = 16) -> list[PoolProblem]:
    """Replace every solution's step scores with a PRM's (``Scorer.score_batch``), in batches."""
    from prmkit.progress import Bar

    flat = [(p, s) for p in pool for s in p.solutions]
    for i, (_, s) in enumerate(flat):
        if not s.steps:
            raise PrmkitError(f"solution {i} has no step texts to score")
    with Bar(total=len(flat), description="scoring pool") as bar:
        for i in range(0, len(flat), batch_size):
            chunk = flat[i : i + batch_size]
            res = scorer.score_batch([p.question for p, _ in chunk], [s.steps for _, s in chunk])
            for (_, s), sc in zip(chunk, res, strict=True):
                s.scores = list(sc)
            bar.advance(len(chunk))
    return pool


# ---------------------------------------------------------------- evaluation


def default_ns(n_max: int) -> list[int]:
    """``1, 2, 4, ...`` up to ``n_max``, plus ``n_max`` itself.

    Example:
        >>> default_ns(8), default_ns(6)
        ([1, 2, 4, 8], [1, 2, 4, 6])
    """
    ns, n = [], 1
    while n < n_max:
        ns.append(n)
        n *= 2
    return ns + [n_max]


def evaluate_bon(
    pool: Sequence[PoolProblem],
    aggregations: Sequence[str] = DEFAULT_STEP_AGGREGATIONS,
    rules: Sequence[str] = DEFAULT_ANSWER_RULES,
    ns: Sequence[int] | None = None,
    seeds: int = 10,
    transform: str = "auto",
    none: str | float = "skip",
    rule_params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Accuracy vs N for every (aggregation, rule), both protocols, plus baselines (see module doc).

    Problems with fewer than N solutions use all they have (counted in ``n_short``).
    """
    if not pool:
        raise PrmkitError("empty pool")
    if seeds < 1:
        raise PrmkitError("seeds must be >= 1")
    rule_params = rule_params or {}
    n_max = max(len(p.solutions) for p in pool)
    ns = sorted(set(ns)) if ns else default_ns(n_max)
    if ns[0] < 1:
        raise PrmkitError("N must be >= 1")
    scored_rules = [r for r in rules if r != "majority"]
    raw = [[s.scores for s in p.solutions] for p in pool]
    if scored_rules and any(sc is None for row in raw for sc in row):
        raise PrmkitError("some solutions have no scores: score the pool with --prm/--format first")
    vals = [v for row in raw for sc in row for v in (sc or []) if v is not None]
    if transform == "auto":
        transform = "sigmoid" if any(v < 0 or v > 1 for v in vals) else "none"
    if transform not in ("none", "sigmoid"):
        raise PrmkitError(f"transform must be auto, none or sigmoid, got {transform!r}")

    def tr(sc: list[float | None] | None) -> list[float | None]:
        if sc is None:
            return []
        return [None if v is None else (sigmoid(v) if transform == "sigmoid" else v) for v in sc]

    steps_scores = [[tr(sc) for sc in row] for row in raw]
    agg_scores: dict[str, list[list[float]]] = {}
    for agg in aggregations:
        table = []
        for pi, row in enumerate(steps_scores):
            r_row = []
            for si, sc in enumerate(row):
                try:
                    r_row.append(aggregate_steps(sc, agg, none) if sc else 0.0)
                except PrmkitError as e:
                    raise PrmkitError(f"problem {pool[pi].problem_id} solution {si}: {e}") from None
            table.append(r_row)
        agg_scores[agg] = table
    answers = [[s.answer for s in p.solutions] for p in pool]
    correct = [[s.correct for s in p.solutions] for p in pool]

    def accuracy(subsets: list[list[int]]) -> dict[str, float]:
        out: dict[str, float] = {}
        hits: dict[str, int] = {}
        for pi, idx in enumerate(subsets):
            ans = [answers[pi][i] for i in idx]
            cor = [correct[pi][i] for i in idx]
            hits["oracle"] = hits.get("oracle", 0) + any(cor)
            if "majority" in rules:
                c = choose_index(ans, None, "majority")
                hits["majority"] = hits.get("majority", 0) + (c is not None and cor[c])
            for agg in aggregations:
                rs = [agg_scores[agg][pi][i] for i in idx]
                for rule in scored_rules:
                    c = choose_index(ans, rs, rule, **rule_params.get(rule, {}))
                    k = f"{agg}/{rule}"
                    hits[k] = hits.get(k, 0) + (c is not None and cor[c])
        for k, v in hits.items():
            out[k] = v / len(subsets)
        return out

    protocols: dict[str, Any] = {}
    n_short = {}
    # prefix protocol
    trials_prefix = []
    for n in ns:
        subsets = [list(range(min(n, len(p.solutions)))) for p in pool]
        n_short[n] = sum(1 for p in pool if len(p.solutions) < n)
        trials_prefix.append([accuracy(subsets)])
    protocols["prefix"] = _summarise(ns, trials_prefix, {"description": "first N solutions of each problem"})
    # random protocol
    trials_random = []
    for n in ns:
        per_seed = []
        for seed in range(seeds):
            rng = random.Random(seed)
            subsets = [sorted(rng.sample(range(len(p.solutions)), min(n, len(p.solutions)))) for p in pool]
            per_seed.append(accuracy(subsets))
        trials_random.append(per_seed)
    protocols["random"] = _summarise(
        ns,
        trials_random,
        {"description": f"{seeds} random subsets per N (seeds 0..{seeds - 1})", "seeds": seeds},
    )
    counts = [(len(p.solutions), sum(s.correct for s in p.solutions)) for p in pool]
    pass_k = {str(k): statistics.fmean(pass_at_k(n, c, min(k, n)) for n, c in counts) for k in ns}
    first_agg = aggregations[0] if aggregations else None
    solution_scores: dict[str, list[float]] = {"correct": [], "wrong": []}
    if first_agg is not None:
        for pi, p in enumerate(pool):
            for si, s in enumerate(p.solutions):
                solution_scores["correct" if s.correct else "wrong"].append(agg_scores[first_agg][pi][si])
    return {
        "benchmark": "bon",
        "n_problems": len(pool),
        "n_max": n_max,
        "n": list(ns),
        "n_short": {str(k): v for k, v in n_short.items()},
        "aggregations": list(aggregations),
        "rules": list(rules),
        "rule_params": rule_params,
        "transform": transform,
        "none": none,
        "protocols": protocols,
        "pass_at_k": pass_k,
        "min_on_last": min_on_last_share([sc for row in steps_scores for sc in row]),
        "solution_scores": {"aggregation": first_agg, **solution_scores},
    }


def _summarise(
    ns: Sequence[int], trials: list[list[dict[str, float]]], info: dict[str, Any]
) -> dict[str, Any]:
    keys = list(trials[0][0])
    curves = {}
    for k in keys:
        per_n = [[t[k] for t in ts] for ts in trials]
        curves[k] = {
            "mean": [statistics.fmean(v) for v in per_n],
            "std": [statistics.pstdev(v) if len(v) > 1 else 0.0 for v in per_n],
            "min": [min(v) for v in per_n],
            "max": [max(v) for v in per_n],
        }
    return {**info, "n": list(ns), "curves": curves}


def bon_markdown(result: dict[str, Any], protocol: str = "random") -> str:
    """Markdown: accuracy (percent) vs N for every curve of one protocol, plus baselines."""
    pr = result["protocols"][protocol]
    ns = pr["n"]
    lines = [
        "## Best-of-N",
        "",
        f"{result['n_problems']} problems, N_max={result['n_max']}, protocol **{protocol}** ({pr['description']}), "
        f"score transform: {result['transform']}",
        "",
        "| curve | " + " | ".join(f"N={n}" for n in ns) + " |",
        "|---|" + "---|" * len(ns),
    ]
    for k, c in pr["curves"].items():
        cells = []
        for m, s in zip(c["mean"], c["std"], strict=True):
            cells.append(f"{100 * m:.1f}" + (f" ± {100 * s:.1f}" if protocol == "random" else ""))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append(
        "| pass@k (unbiased) | " + " | ".join(f"{100 * result['pass_at_k'][str(n)]:.1f}" for n in ns) + " |"
    )
    mol = result["min_on_last"]
    lines += [
        "",
        f"- min score on the last step: {_pct(mol['share'])} of {mol['n_multi_step']} multi-step solutions "
        f"({mol['n_single_step']} single-step solutions not counted)",
    ]
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{fmt(100 * x)}%"
