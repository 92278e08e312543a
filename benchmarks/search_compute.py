"""Accuracy vs generated tokens of test-time search methods in the arithmetic world.

Policy: the noisy ``ArithPolicy``; PRMs: the exact-checker oracle (``arith-oracle``) and, when
available, the trained tiny default PRM (``--prm PATH``, or ``--train-tiny`` to train one with
``prmkit.train.default.train_default_prm(budget="tiny")``). Methods: majority vote, best-of-N
and PRM-weighted vote (one best-of-64 run, first-k samples for k = 1..64), beam search, DVTS,
MCTS and early rejection at several budgets. All on the same problems, in one process.

Floor checked (per PRM): beam search reaches the accuracy of best-of-64 with at most 35% of its
generated tokens. Writes benchmarks/results/search_compute.json and search_compute.png.

    .venv/bin/python benchmarks/search_compute.py                 # oracle PRM (+ trained if found)
    .venv/bin/python benchmarks/search_compute.py --prm runs/default-prm --problems 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PRMKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).resolve().parent / "results"
FLOOR_RATIO = 0.35


def curve_from_bon(results, ks, agg, rule):
    """(k, mean tokens, accuracy) using the first k samples of each best-of-N result."""
    from prmkit.search.base import Compute, SearchResult, is_correct, rechoose

    out = []
    for k in ks:
        ok, toks = 0, 0
        for r in results:
            cands = sorted(r.candidates, key=lambda s: s.meta["sample_index"])[:k]
            toks += sum(int(c.meta["num_tokens"]) for c in cands)
            sub = SearchResult(r.problem_id, r.method, None, cands, Compute(), r.meta)
            ch = rechoose(sub, agg, rule)
            ok += bool(is_correct(None if ch is None else ch.answer, r.meta["reference_answer"]))
        out.append({"n": k, "tokens": toks / len(results), "accuracy": ok / len(results)})
    return out


def run_method(problems, policy, scorer, label, **cfg):
    from prmkit.search import SearchConfig, search
    from prmkit.search.run import summarize

    t = time.perf_counter()
    res = search(problems, policy, scorer, SearchConfig(**cfg), quiet=True)
    s = summarize(res)
    row = {
        "label": label,
        **cfg,
        "tokens": s["mean_generated_tokens"],
        "accuracy": s["accuracy"],
        "scorer_calls": s["mean_scorer_calls"],
        "scored_steps": s["mean_scored_steps"],
        "chose_unfinished": s["chose_unfinished"],
        "no_choice": s["no_choice"],
        "seconds": round(time.perf_counter() - t, 2),
    }
    print(
        f"  {label:<28} acc {row['accuracy']:.3f}  tokens {row['tokens']:8.0f}  ({row['seconds']}s)",
        file=sys.stderr,
        flush=True,
    )
    return row


def bench_prm(name, problems, policy, scorer, agg, n_max, quick):
    from prmkit.search import SearchConfig, search

    print(f"[{name}] {len(problems)} problems", file=sys.stderr, flush=True)
    t = time.perf_counter()
    bon = search(problems, policy, scorer, SearchConfig(method="best-of-n", n=n_max, agg=agg), quiet=True)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= n_max]
    curves = {
        "majority": curve_from_bon(bon, ks, agg, "majority"),
        "best-of-n": curve_from_bon(bon, ks, agg, "best_of_n"),
        "weighted vote": curve_from_bon(bon, ks, agg, "weighted_vote"),
    }
    print(f"  best-of-{n_max} pool: {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    for rule, c in curves.items():
        print(
            f"  {rule:<14} " + "  ".join(f"N={p['n']}:{p['accuracy']:.3f}/{p['tokens']:.0f}" for p in c),
            file=sys.stderr,
            flush=True,
        )
    beam_ns = (2, 4, 8) if quick else (2, 4, 8, 16, 32)
    curves["beam"] = [
        run_method(problems, policy, scorer, f"beam N={n} M=2", method="beam", n=n, width=2, agg=agg)
        for n in beam_ns
    ]
    curves["dvts"] = [
        run_method(problems, policy, scorer, f"dvts N={n} M=2", method="dvts", n=n, width=2, agg=agg)
        for n in ((4, 8) if quick else (4, 8, 16, 32))
    ]
    curves["mcts"] = [
        run_method(
            problems, policy, scorer, f"mcts it={it} b=2", method="mcts", width=2, mcts_iterations=it, agg=agg
        )
        for it in ((2, 4) if quick else (2, 4, 8, 16))
    ]
    curves["early rejection"] = [
        run_method(
            problems,
            policy,
            scorer,
            f"early-rej N={n} M=2 tau=8",
            method="early-rejection",
            n=n,
            width=2,
            tau=8,
            agg=agg,
        )
        for n in ((2, 4) if quick else (2, 4, 8, 16))
    ]
    # the floor: cheapest beam run reaching best-of-N_max accuracy
    ref = curves["best-of-n"][-1]
    reaching = [r for r in curves["beam"] if r["accuracy"] >= ref["accuracy"]]
    best = min(reaching, key=lambda r: r["tokens"]) if reaching else None
    floor = {
        "best_of_n_max": n_max,
        "best_of_n_accuracy": ref["accuracy"],
        "best_of_n_tokens": ref["tokens"],
        "beam": None
        if best is None
        else {"n": best["n"], "width": best["width"], "accuracy": best["accuracy"], "tokens": best["tokens"]},
        "token_ratio": None if best is None else best["tokens"] / ref["tokens"],
        "limit": FLOOR_RATIO,
    }
    floor["passed"] = floor["token_ratio"] is not None and floor["token_ratio"] <= FLOOR_RATIO
    print(f"  floor: {json.dumps(floor)}", file=sys.stderr, flush=True)
    return {"agg": agg, "curves": curves, "floor": floor}


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(6.2 * len(names), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for label, pts in results[name]["curves"].items():
            pts = sorted(pts, key=lambda p: p["tokens"])
            ax.plot([p["tokens"] for p in pts], [p["accuracy"] for p in pts], marker="o", ms=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("mean generated tokens per problem")
        ax.set_ylabel("accuracy")
        ax.set_title(f"PRM: {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument(
        "--trained-problems",
        type=int,
        default=40,
        help="problems for the (slower) trained PRM, run with the --quick budgets",
    )
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--error-rate", type=float, default=0.2)
    ap.add_argument("--n-max", type=int, default=64)
    ap.add_argument("--prm", default=None, help="trained PRM dir (prmkit.json beside it)")
    ap.add_argument(
        "--train-tiny", action="store_true", help="train the tiny default PRM when --prm is absent"
    )
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)

    from prmkit.policies import load_policy
    from prmkit.scorers.oracle import ArithOracleScorer
    from prmkit.worlds.arith import generate_problems

    problems = generate_problems(args.problems, seed=args.seed, min_ops=3, max_ops=8)
    policy = load_policy("arith", error_rate=args.error_rate)
    out = {
        "setup": {
            "problems": args.problems,
            "seed": args.seed,
            "policy": "arith",
            "error_rate": args.error_rate,
            "n_max": args.n_max,
            "tokens": "ArithPolicy tokens (whitespace words)",
            "agg": "min",
            "answer_rule (search methods)": "best_of_n over finished candidates",
        },
        "prms": {},
    }
    out["prms"]["oracle"] = bench_prm(
        "oracle", problems, policy, ArithOracleScorer(problems), "min", args.n_max, args.quick
    )
    prm_path = args.prm
    if prm_path is None and args.train_tiny:
        from prmkit.train.default import train_default_prm

        prm_path = "runs/search-bench-prm"
        if not Path(prm_path, "prmkit.json").exists():
            print("training the tiny default PRM ...", file=sys.stderr, flush=True)
            train_default_prm(prm_path, budget="tiny")
    if prm_path is not None:
        from prmkit.scorers import load_scorer

        sub = problems[: args.trained_problems]
        out["prms"]["trained"] = bench_prm(
            f"trained ({prm_path})", sub, policy, load_scorer(None, prm_path), "min", args.n_max, True
        )
        out["prms"]["trained"]["path"] = prm_path
        out["prms"]["trained"]["problems"] = len(sub)
    else:
        out["prms"]["trained"] = None
        out["note"] = "no trained PRM given (--prm PATH or --train-tiny): oracle PRM only"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_compute.json").write_text(json.dumps(out, indent=1))
    plot({k: v for k, v in out["prms"].items() if v}, RESULTS / "search_compute.png")
    print(json.dumps({k: (v or {}).get("floor") for k, v in out["prms"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
