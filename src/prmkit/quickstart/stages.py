"""The stages of ``prmkit quickstart``: each takes the config and the stage cache (for the
directories of the stages it depends on), writes into its own directory and returns a JSON-able
result that the summary and the report read.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from prmkit.aggregate import aggregate_steps, choose_index
from prmkit.evaluate.calibration import auroc, evaluate_calibration
from prmkit.evaluate.processbench import evaluate_processbench, processbench_metrics, score_processbench
from prmkit.evaluate.stats import paired_bootstrap
from prmkit.label import LabelConfig, read_labelled, run_labelling
from prmkit.progress import track
from prmkit.quickstart.cache import StageCache
from prmkit.quickstart.config import BON_VARIANTS, QuickstartConfig
from prmkit.records import (
    Problem,
    RecordWriter,
    Solution,
    first_error_of,
    labels_from_first_error,
    read_problems,
    read_records,
    write_problems,
    write_records,
)
from prmkit.scorers.base import load_scorer
from prmkit.scorers.oracle import ArithOracleScorer
from prmkit.search import SearchConfig, search
from prmkit.search.run import summarize
from prmkit.worlds.arith import check_steps, generate_problems, make_bench
from prmkit.worlds.arith_policy import ArithPolicy

#: PRMs the demo trains: stage name -> label source ("main" = the config's train_labels)
PRM_STAGES = ("train", "train-exact")


def label_accuracy(labelled: list[Solution], truth: dict[str, int]) -> dict[str, Any]:
    """Agreement of step labels with the exact first error of each solution.

    Steps the truth defines are those up to and including the first error (after it, a step's
    correctness is not defined by the ProcessBench convention). A label counts as "correct" when
    ``>= 0.5``. Returns step accuracy and coverage (share of defined steps that got a label), and
    the ProcessBench first-error F1 of the labels themselves.

    Example:
        >>> recs = [Solution(id="a", problem="p", steps=["x", "y"], labels=[1, 0]),
        ...         Solution(id="b", problem="p", steps=["x", "y"], labels=[1, 0])]
        >>> r = label_accuracy(recs, {"a": 1, "b": -1})
        >>> r["step_accuracy"], r["f1"]
        (75.0, 0.0)
    """
    agree = defined = covered = 0
    preds: list[int] = []
    gold: list[int] = []
    for r in labelled:
        fe = truth[r.id]
        upto = len(r.steps) if fe < 0 else fe + 1
        labels = r.labels or [None] * len(r.steps)
        for i in range(upto):
            defined += 1
            v = labels[i]
            if v is None:
                continue
            covered += 1
            agree += (v >= 0.5) == (fe < 0 or i < fe)
        preds.append(first_error_of(labels))
        gold.append(fe)
    m = processbench_metrics(preds, gold)
    return {
        "step_accuracy": 100.0 * agree / covered if covered else None,
        "coverage": 100.0 * covered / defined if defined else None,
        "f1": m["f1"],
        "acc_err": m["acc_err"],
        "acc_corr": m["acc_corr"],
        "n_solutions": len(labelled),
        "n_steps_defined": defined,
    }


def step_auroc(records: list[Solution]) -> float | None:
    """AUROC of step scores: steps before the first error (positive) against the first wrong step.

    Example:
        >>> r = Solution(id="a", problem="p", steps=["x", "y", "z"], scores=[0.9, 0.2, 0.8], labels=[1, 0, None])
        >>> step_auroc([r])
        1.0
    """
    pos: list[float] = []
    neg: list[float] = []
    for r in records:
        fe = r.first_error
        scores = r.scores or []
        upto = len(scores) if fe < 0 else fe
        pos += [v for v in scores[:upto] if v is not None]
        if 0 <= fe < len(scores) and scores[fe] is not None:
            neg.append(scores[fe])
    return auroc(pos, neg) if pos and neg else None


def _world(cfg: QuickstartConfig) -> dict[str, Any]:
    return dict(min_ops=cfg.min_ops, max_ops=cfg.max_ops, max_value=cfg.max_value, max_given=cfg.max_given)


def _policy(cfg: QuickstartConfig, error_rate: float | None = None) -> ArithPolicy:
    return ArithPolicy(
        error_rate=cfg.error_rate if error_rate is None else error_rate, miracle_rate=cfg.miracle_rate
    )


# ---------------------------------------------------------------- data and labels


def stage_problems(cfg: QuickstartConfig, cache: StageCache, d: Path) -> dict[str, Any]:
    """Training, tuning and search problems, and the arithmetic ProcessBench set (disjoint seeds)."""
    w = _world(cfg)
    train = generate_problems(cfg.n_problems, seed=cfg.seed, id_prefix="train", **w)
    tune = generate_problems(cfg.n_tune, seed=cfg.seed + 4, id_prefix="tune", **w)
    test = generate_problems(cfg.n_search, seed=cfg.seed + 1, id_prefix="search", **w)
    bench = make_bench(cfg.n_bench, seed=cfg.seed + 2, error_rate=cfg.error_rate, miracle_rate=cfg.miracle_rate,
                       problems=generate_problems(cfg.n_bench, seed=cfg.seed + 2, id_prefix="bench", **w))  # fmt: skip
    write_problems(d / "train_problems.jsonl", train)
    write_problems(d / "tune_problems.jsonl", tune)
    write_problems(d / "search_problems.jsonl", test)
    write_records(d / "bench.jsonl", bench)
    return {"n_train": len(train), "n_tune": len(tune), "n_search": len(test), "n_bench": len(bench),
            "n_bench_with_error": sum(1 for r in bench if r.first_error >= 0)}  # fmt: skip


def stage_sample(cfg: QuickstartConfig, cache: StageCache, d: Path) -> dict[str, Any]:
    """Policy samples of the training problems, with the exact first error kept in ``meta``."""
    problems = list(read_problems(cache.dir("problems") / "train_problems.jsonl"))
    policy = _policy(cfg)
    n_err = n_ok = n = 0
    chunk = 100
    with RecordWriter(d / "solutions.jsonl") as w:
        for i in track(range(0, len(problems), chunk), total=-(-len(problems) // chunk), description="sampling",
                       quiet=cfg.quiet):  # fmt: skip
            batch = problems[i : i + chunk]
            for p, row in zip(
                batch, policy.sample(batch, cfg.samples_per_problem, seed=cfg.seed), strict=True
            ):
                for k, g in enumerate(row):
                    chk = check_steps(p, g.steps)
                    n += 1
                    n_err += chk.first_error >= 0
                    n_ok += chk.answer_correct
                    w.write(Solution(id=f"{p.id}#{k}", problem=p.question, steps=list(g.steps),
                                     answer=None if chk.answer is None else str(chk.answer),
                                     reference_answer=p.reference_answer,
                                     meta={"problem_id": p.id, "arith": p.meta["arith"],
                                           "exact_first_error": chk.first_error}))  # fmt: skip
    return {"n_solutions": n, "pct_with_error": 100.0 * n_err / n, "pct_answer_correct": 100.0 * n_ok / n}


def stage_label(cfg: QuickstartConfig, cache: StageCache, d: Path, method: str) -> dict[str, Any]:
    """Label the samples by Monte Carlo rollouts or binary search; accuracy against the checker."""
    n = cfg.mc_n if method == "mc" else cfg.binary_n
    lcfg = LabelConfig(input=str(cache.dir("sample") / "solutions.jsonl"), out=str(d / "run"), policy="arith",
                       method=method, n=n, seed=cfg.seed, batch_size=200, resume=True, quiet=cfg.quiet,
                       policy_opts={"error_rate": cfg.error_rate, "miracle_rate": cfg.miracle_rate})  # fmt: skip
    t0 = time.perf_counter()
    summary = run_labelling(lcfg)
    sec = time.perf_counter() - t0
    recs = read_labelled(d / "run")
    acc = label_accuracy(recs, {r.id: int(r.meta["exact_first_error"]) for r in recs})
    rollouts = int(summary.get("rollouts", 0))
    return {"method": method, "n": n, **acc, "rollouts": rollouts,
            "rollouts_per_solution": rollouts / max(1, len(recs)),
            "rollout_tokens": int(summary.get("rollout_tokens", 0)), "seconds": round(sec, 2),
            "records": str(d / "run")}  # fmt: skip


# ---------------------------------------------------------------- training


def _training_records(cfg: QuickstartConfig, cache: StageCache, source: str) -> list[Solution]:
    if source == "exact":
        return [Solution(id=r.id, problem=r.problem, steps=r.steps, reference_answer=r.reference_answer,
                         labels=labels_from_first_error(int(r.meta["exact_first_error"]), len(r.steps)),
                         meta=r.meta)
                for r in read_records(cache.dir("sample") / "solutions.jsonl")]  # fmt: skip
    return read_labelled(cache.dir(f"label-{source}") / "run")


def stage_train(cfg: QuickstartConfig, cache: StageCache, d: Path, source: str) -> dict[str, Any]:
    """Fit the PRM from ``cfg.base`` on ``source`` labels: the ``lm-likelihood`` head on the base
    LM's token probabilities, or (``base="tiny"``) a token classifier trained from random weights."""
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train

    recs = _training_records(cfg, cache, source)
    if cfg.base == "tiny":
        kw: dict[str, Any] = {"init": "tiny", "tiny_vocab": 600, "format": "token-classification",
                              "max_steps": cfg.train_steps, "batch_size": cfg.batch_size, "lr": cfg.lr}  # fmt: skip
    else:
        kw = {"model": cfg.base, "format": "lm-likelihood"}
    tcfg = TrainConfig(out=str(d / "prm"), loss="bce", after_error="drop", time_budget_s=cfg.time_budget_s,
                       warmup_ratio=0.05, weight_decay=0.01, max_length=512, seed=cfg.seed, logging_steps=25,
                       eval_steps=0, eval_fraction=0.0, **kw)  # fmt: skip
    # the trainer's log lines go to stderr with the stage lines; stdout keeps the summary
    with contextlib.redirect_stdout(sys.stderr):
        res = train(tcfg, train_records=recs, eval_records=[])
    losses = [(h["step"], h["loss"]) for h in res.log_history if "loss" in h and "step" in h]
    return {"prm": str(d / "prm"), "label_source": source, "base": cfg.base, "format": tcfg.format,
            "n_records": len(recs), "global_step": res.global_step, "train_runtime_s": res.train_runtime_s,
            "tokens_seen": res.tokens_seen, "losses": losses,
            "steps_fitted": res.metrics.get("steps_fitted")}  # fmt: skip


# ---------------------------------------------------------------- evaluation


def _pb_summary(result: dict[str, Any], subset: str) -> dict[str, Any]:
    pol = result["policies"]["fixed"]
    m = pol["subsets"][subset] if "subsets" in pol else pol[subset]
    return {"f1": m["f1"], "acc_err": m["acc_err"], "acc_corr": m["acc_corr"], "threshold": pol["threshold"]}


def _scorers(cfg: QuickstartConfig, cache: StageCache) -> dict[str, Any]:
    """The scorers compared on the bench: the trained PRM(s), the calculator and the exact oracle."""
    out: dict[str, Any] = {"prm": load_scorer(None, cache.results["train"]["prm"])}
    if "train-exact" in cache.results:
        out["prm-exact"] = load_scorer(None, cache.results["train-exact"]["prm"])
    out["calculator"] = load_scorer("calculator")
    bench = read_records(cache.dir("problems") / "bench.jsonl")
    out["oracle"] = ArithOracleScorer([Problem(r.id, r.problem, r.reference_answer, r.meta) for r in bench],
                                      partial=False)  # fmt: skip
    return out


def stage_evaluate(cfg: QuickstartConfig, cache: StageCache, d: Path) -> dict[str, Any]:
    """First-error F1 (threshold 0.5), step AUROC and calibration of every scorer on the bench."""
    bench = list(read_records(cache.dir("problems") / "bench.jsonl"))
    data = {"arith": bench}
    if cfg.gsm8k:
        from prmkit.worlds.gsm8k_perturb import perturb_gsm8k

        data["gsm8k"] = perturb_gsm8k(cfg.gsm8k, seed=cfg.seed, limit=cfg.gsm8k_limit)
    out: dict[str, Any] = {}
    for name, scorer in _scorers(cfg, cache).items():
        subsets = data if name.startswith("prm") else {"arith": bench}
        scored = score_processbench(scorer, subsets, batch_size=64)
        out[name] = {}
        for subset, recs in scored.items():
            write_records(d / f"{name}_{subset}_scored.jsonl", recs)
            res = evaluate_processbench({subset: recs}, tune_on=None)
            pairs = [(s, y) for r in recs for s, y in zip(r.scores or [], r.labels or [], strict=False)
                     if s is not None and y is not None]  # fmt: skip
            res["calibration"] = evaluate_calibration([p[0] for p in pairs], [p[1] for p in pairs])
            path = d / f"{name}_{subset}_processbench.json"
            path.write_text(json.dumps(res, default=str) + "\n", encoding="utf-8")
            out[name][subset] = {**_pb_summary(res, subset), "auroc": step_auroc(recs), "n": len(recs),
                                 "n_with_error": sum(r.first_error >= 0 for r in recs),
                                 "ece": res["calibration"]["ece"], "result": str(path)}  # fmt: skip
    return out


# ---------------------------------------------------------------- search


def _correct(sol: Solution) -> bool:
    return bool(sol.meta.get("correct"))


def _choose(cands: list[Solution], agg: str, rule: str) -> Solution | None:
    if not cands:
        return None
    scores = [aggregate_steps(c.scores or [], agg) for c in cands]
    return cands[choose_index([c.answer for c in cands], scores, rule)]


def _pool_accuracy(pool: list[list[Solution]], agg: str, rule: str) -> list[int]:
    """Per problem: 1 when the chosen candidate's answer is right."""
    out = []
    for cands in pool:
        s = _choose(cands, agg, rule)
        out.append(int(s is not None and _correct(s)))
    return out


def _search_pool(
    cfg: QuickstartConfig, problems: list[Any], scorer: Any, d: Path, name: str
) -> tuple[list, dict]:
    """Best-of-N candidates (scored by the PRM) for each problem, graded by the world's checker."""
    scfg = SearchConfig(method="best-of-n", n=cfg.search_n, agg="min", answer_rule="best_of_n", seed=cfg.seed)
    res = search(problems, _policy(cfg, cfg.search_error_rate), scorer, scfg, quiet=cfg.quiet)
    by_id = {p.id: p for p in problems}
    pool = []
    with open(d / f"{name}.jsonl", "w", encoding="utf-8") as fh:
        for r in res:
            p = by_id[r.problem_id]
            for c in r.candidates:
                c.meta["correct"] = check_steps(p, c.steps).answer_correct
            pool.append(r.candidates)
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    return pool, summarize(res)


def _curve(pool: list[list[Solution]], agg: str, rule: str) -> list[tuple[int, float]]:
    """Accuracy of the first ``k`` candidates, k = 1, 2, 4, ... N (one pool, nested subsets)."""
    n = max((len(c) for c in pool), default=0)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n] + ([n] if n not in (1, 2, 4, 8, 16, 32, 64) else [])
    return [(k, sum(_pool_accuracy([c[:k] for c in pool], agg, rule)) / len(pool)) for k in ks]


def stage_search(cfg: QuickstartConfig, cache: StageCache, d: Path) -> dict[str, Any]:
    """Best-of-N with the PRM: the answer rule is chosen on the tuning problems, then compared with
    majority vote on the held-out problems (paired bootstrap interval); beam search on a subset."""
    scorer = load_scorer(None, cache.results["train"]["prm"])
    tune = list(read_problems(cache.dir("problems") / "tune_problems.jsonl"))
    test = list(read_problems(cache.dir("problems") / "search_problems.jsonl"))
    tune_pool, _ = _search_pool(cfg, tune, scorer, d, "tune")
    tuning = {f"{agg}/{rule}": sum(_pool_accuracy(tune_pool, agg, rule)) / len(tune_pool)
              for agg, rule in BON_VARIANTS}  # fmt: skip
    best = max(BON_VARIANTS, key=lambda v: tuning[f"{v[0]}/{v[1]}"])  # first of equals: the list's order
    pool, bon_summary = _search_pool(cfg, test, scorer, d, "best-of-n")
    prm = _pool_accuracy(pool, *best)
    maj = _pool_accuracy(pool, "min", "majority")
    lo, hi = paired_bootstrap(prm, maj, n_boot=cfg.n_bootstrap, seed=cfg.seed)
    acc = {f"{agg}/{rule}": sum(_pool_accuracy(pool, agg, rule)) / len(pool) for agg, rule in BON_VARIANTS}
    out: dict[str, Any] = {
        "n": cfg.search_n, "n_problems": len(test), "n_tune": len(tune), "tuning": tuning,
        "chosen": {"agg": best[0], "rule": best[1]}, "variants": acc,
        "accuracy": {
            "prm": sum(prm) / len(prm), "majority": sum(maj) / len(maj),
            "pass_at_n": sum(any(_correct(c) for c in cands) for cands in pool) / len(pool),
            "one_sample": sum(_correct(c[0]) for c in pool if c) / len(pool),
        },
        "diff_ci95": [lo, hi],
        "curves": {"prm": _curve(pool, *best), "majority": _curve(pool, "min", "majority")},
        "tokens": {"best_of_n": bon_summary["mean_generated_tokens"]},
    }  # fmt: skip
    out["accuracy"]["diff"] = out["accuracy"]["prm"] - out["accuracy"]["majority"]
    if cfg.n_beam:
        beam_problems = test[: cfg.n_beam]
        bcfg = SearchConfig(method="beam", n=cfg.search_n, width=cfg.beam_width, agg=best[0],
                            answer_rule="best_of_n", seed=cfg.seed)  # fmt: skip
        res = search(beam_problems, _policy(cfg, cfg.search_error_rate), scorer, bcfg, quiet=cfg.quiet)
        by_id = {p.id: p for p in beam_problems}
        ok = [int(r.chosen is not None and check_steps(by_id[r.problem_id], r.chosen.steps).answer_correct)
              for r in res]  # fmt: skip
        sub = pool[: cfg.n_beam]
        out["beam"] = {"n_problems": len(res), "accuracy": sum(ok) / len(ok),
                       "best_of_n_same_problems": sum(_pool_accuracy(sub, *best)) / len(sub),
                       "majority_same_problems": sum(_pool_accuracy(sub, "min", "majority")) / len(sub),
                       "tokens": summarize(res)["mean_generated_tokens"]}  # fmt: skip
        with open(d / "beam.jsonl", "w", encoding="utf-8") as fh:
            for r in res:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    return out
