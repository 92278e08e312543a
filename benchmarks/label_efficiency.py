"""Labelling efficiency in the arithmetic world: label quality against rollouts spent.

Solutions come from ``make_bench`` (half of them with an error, ProcessBench-style); the exact
truth is ``check_steps``. Every labeller rolls out with the same noisy ``ArithPolicy`` that wrote
the solutions. For each method we report:

- first-error F1 (ProcessBench, docs/methods.md#a1-processbench: harmonic mean of the accuracy on erroneous and on
  correct solutions; a prediction matches only on the exact first-error index);
- step-label accuracy against the exact step labels (1 before the first error, 0 at it; steps
  after it are unknown in the truth and not scored), with coverage (fraction of scored steps the
  method labelled);
- rollouts and generated tokens per solution, wall time.

Baseline in the same process: MC (Math-Shepherd, hard labels) with N = 8. Floor: binary search or
adaptive reaches MC N=8's first-error F1 with at most 25% of its rollouts. Also: the noise profile
of MC labels (correct steps valued 0; wrong steps valued > 0 through miracle continuations).

Run: .venv/bin/python benchmarks/label_efficiency.py [--n-solutions 300] [--seed 0]
Writes benchmarks/results/label_efficiency.json and label_efficiency.{png,svg}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from prmkit.label import LabelContext, make_labeller
from prmkit.label.runner import problem_from_solution
from prmkit.records import first_error_of
from prmkit.worlds.arith import check_steps, make_bench
from prmkit.worlds.arith_policy import ArithPolicy

RESULTS = Path(__file__).resolve().parent / "results"


def f1_first_error(pred: list[int], gold: list[int]) -> dict[str, float]:
    """ProcessBench acc_err, acc_corr (percent) and their harmonic mean."""
    err = [p == g for p, g in zip(pred, gold, strict=True) if g != -1]
    cor = [p == -1 for p, g in zip(pred, gold, strict=True) if g == -1]
    acc_err = 100 * sum(err) / len(err) if err else 0.0
    acc_corr = 100 * sum(cor) / len(cor) if cor else 0.0
    f1 = 2 * acc_err * acc_corr / (acc_err + acc_corr) if acc_err + acc_corr else 0.0
    return {"acc_err": round(acc_err, 2), "acc_corr": round(acc_corr, 2), "f1": round(f1, 2)}


def evaluate(name: str, labeller, recs, problems, truths, ctx) -> dict:
    t0 = time.perf_counter()
    outs = [labeller.label(r, p, ctx) for r, p in zip(recs, problems, strict=True)]
    wall = time.perf_counter() - t0
    pred = [first_error_of(o.labels) for o in outs]
    gold = [t.first_error for t in truths]
    scored = hit = covered = 0
    for o, t in zip(outs, truths, strict=True):
        for lab, tru in zip(o.labels, t.labels, strict=True):
            if tru is None:
                continue
            scored += 1
            if lab is None:
                continue
            covered += 1
            hit += (lab >= 0.5) == (tru >= 0.5)
    rollouts = sum(o.rollouts for o in outs)
    res = {
        "method": name,
        "options": labeller.options(),
        **f1_first_error(pred, gold),
        "step_accuracy": round(100 * hit / covered, 2) if covered else 0.0,
        "step_coverage": round(100 * covered / scored, 2) if scored else 0.0,
        "rollouts": rollouts,
        "rollouts_per_solution": round(rollouts / len(recs), 2),
        "tokens": sum(o.tokens for o in outs),
        "wall_s": round(wall, 3),
    }
    return res, outs


def noise_profile(outs, truths) -> dict:
    """How MC values disagree with the truth (values of the solution's own prefixes)."""
    good = good_zero = err_first = err_first_pos = wrong = wrong_pos = 0
    for o, t in zip(outs, truths, strict=True):
        vals = o.meta["values"]
        fe = t.first_error
        for i, v in enumerate(vals):
            if v is None or i == len(vals) - 1:
                continue  # the last step is valued from the solution's own answer, not by rollouts
            if fe == -1 or i < fe:
                good += 1
                good_zero += v == 0
            else:
                wrong += 1
                wrong_pos += v > 0
                if i == fe:
                    err_first += 1
                    err_first_pos += v > 0
    pct = lambda a, b: round(100 * a / b, 2) if b else 0.0  # noqa: E731
    return {
        "correct_steps": good,
        "correct_valued_0_pct": pct(good_zero, good),
        "wrong_steps": wrong,
        "wrong_valued_pos_pct": pct(wrong_pos, wrong),
        "first_error_steps": err_first,
        "first_error_valued_pos_pct": pct(err_first_pos, err_first),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-solutions", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--error-rate", type=float, default=0.15)
    ap.add_argument("--miracle-rate", type=float, default=0.02)
    args = ap.parse_args()

    recs = make_bench(
        args.n_solutions, seed=args.seed, error_rate=args.error_rate, miracle_rate=args.miracle_rate
    )
    problems = [problem_from_solution(r) for r in recs]
    truths = [check_steps(p, r.steps) for p, r in zip(problems, recs, strict=True)]
    policy = ArithPolicy(error_rate=args.error_rate, miracle_rate=args.miracle_rate)
    ctx = LabelContext(policy=policy, seed=args.seed)

    configs = [(f"mc N={n}", "mc", {"n": n}) for n in (1, 2, 4, 8, 16)]
    configs += [
        ("mc N=8 early-stop", "mc", {"n": 8, "early_stop": True}),
        ("binary k=4", "binary", {"n": 4}),
        ("binary k=8", "binary", {"n": 8}),
        ("binary k=8 omega", "binary", {"n": 8, "selection": "omega", "search_limit": 4}),
        ("adaptive (conf 0.9, p_min 0.2)", "adaptive", {}),
        ("adaptive (conf 0.95, p_min 0.1)", "adaptive", {"confidence": 0.95, "min_success": 0.1, "n": 32}),
        ("adaptive, no witness", "adaptive", {"use_solution_answer": False}),
    ]
    rows, noise = [], {}
    for name, method, opts in configs:
        res, outs = evaluate(name, make_labeller(method, **opts), recs, problems, truths, ctx)
        rows.append(res)
        if method == "mc" and "early_stop" not in opts:
            noise[name] = noise_profile(outs, truths)
        print(
            f"{name:34s} F1 {res['f1']:6.2f}  step acc {res['step_accuracy']:6.2f} "
            f"(cov {res['step_coverage']:6.2f})  rollouts/sol {res['rollouts_per_solution']:7.2f}"
        )

    base = next(r for r in rows if r["method"] == "mc N=8")
    for r in rows:
        r["rollout_ratio_vs_mc8"] = round(r["rollouts"] / base["rollouts"], 4)
        r["f1_minus_mc8"] = round(r["f1"] - base["f1"], 2)
    floor = [
        r["method"]
        for r in rows
        if r["method"].startswith(("binary", "adaptive"))
        and r["f1"] >= base["f1"]
        and r["rollout_ratio_vs_mc8"] <= 0.25
    ]
    out = {
        "benchmark": "label_efficiency",
        "world": {
            "solutions": len(recs),
            "seed": args.seed,
            "error_rate": args.error_rate,
            "miracle_rate": args.miracle_rate,
            "with_error": sum(t.first_error >= 0 for t in truths),
            "steps": sum(len(r.steps) for r in recs),
        },
        "baseline": "mc N=8",
        "results": rows,
        "mc_noise_profile": noise,
        "floor": {
            "rule": "binary or adaptive: F1 >= MC N=8 with <= 25% of its rollouts",
            "passing_methods": floor,
            "passed": bool(floor),
        },
        "python": platform.python_version(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "label_efficiency.json").write_text(json.dumps(out, indent=1))
    plot(rows)
    print(json.dumps(out["floor"]))
    print(json.dumps(noise, indent=1))


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, title in (
        (axes[0], "f1", "first-error F1 (ProcessBench)"),
        (axes[1], "step_accuracy", "step-label accuracy (%)"),
    ):
        mc = [r for r in rows if r["method"].startswith("mc N=") and "early" not in r["method"]]
        ax.plot(
            [r["rollouts_per_solution"] for r in mc],
            [r[key] for r in mc],
            "o-",
            color="tab:blue",
            label="MC N=1..16",
        )
        for r in mc:
            ax.annotate(
                r["method"].split()[-1],
                (r["rollouts_per_solution"], r[key]),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, -9),
            )
        markers = {
            "binary": ("s", "tab:orange"),
            "adaptive": ("^", "tab:green"),
            "mc N=8 early": ("D", "tab:gray"),
        }
        for r in rows:
            for prefix, (m, c) in markers.items():
                if r["method"].startswith(prefix):
                    ax.plot(r["rollouts_per_solution"], r[key], m, color=c, label=r["method"])
        ax.set_xscale("log")
        ax.set_xlabel("rollouts per solution (log)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(RESULTS / f"label_efficiency.{ext}", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
