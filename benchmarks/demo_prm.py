"""The floors of the embedded default's PRM (issue #17), measured in one process.

1. The packaged base LM (``arith-base``): teacher-forced whole-result accuracy per operation on
   held-out problems (seed never used in training).
2. ``make demo`` in full mode (``prmkit quickstart``, reusing finished stages): PRM first-error F1
   on the arithmetic bench against the calculator and the oracle, best-of-N (answer rule tuned on
   separate problems) against majority vote with a paired bootstrap interval, the exact-label PRM
   beside the MC-label one, and the wall time of every stage.

Writes benchmarks/results/demo_prm.json. The tests never read these figures.

    .venv/bin/python benchmarks/demo_prm.py                          # ~15 min on 2 cores
    .venv/bin/python benchmarks/demo_prm.py --out runs/quickstart    # reuse the demo's stages
    .venv/bin/python benchmarks/demo_prm.py --out runs/qs2 --base runs/base2/model \
        --json benchmarks/results/demo_prm_base_cont.json            # another base LM
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).resolve().parent / "results"


#: the README's demo table: (measure, key path in summary.json, format, target)
README_ROWS = (
    ("base LM result-digit accuracy, `+`", "base_model.accuracy.+", "pct", ">= 95%"),
    ("base LM result-digit accuracy, `-`", "base_model.accuracy.-", "pct", ">= 95%"),
    ("base LM result-digit accuracy, `x`", "base_model.accuracy.x", "pct", ">= 95%"),
    ("base LM result-digit accuracy, `/`", "base_model.accuracy./", "pct", ">= 95%"),
    ("label accuracy, Monte Carlo (4 rollouts)", "labelling.mc.step_accuracy", "num%", ""),
    ("rollouts per solution, Monte Carlo", "labelling.mc.rollouts_per_solution", "num", ""),
    ("label accuracy, binary search", "labelling.binary.step_accuracy", "num%", ""),
    ("rollouts per solution, binary search", "labelling.binary.rollouts_per_solution", "num", ""),
    ("PRM first-error F1 (MC labels), 1000 bench solutions", "processbench.prm.f1", "num", ">= 80"),
    ("the same PRM on exact labels", "processbench.prm-exact.f1", "num", ""),
    ("calculator first-error F1", "processbench.calculator.f1", "num", "< PRM"),
    ("oracle (exact checker) first-error F1", "processbench.oracle.f1", "num", ""),
    ("best-of-16 with the PRM, 500 problems", "search.accuracy.prm", "pct", ""),
    ("majority vote of 16", "search.accuracy.majority", "pct", ""),
    ("PRM minus majority (points)", "search.accuracy.diff", "pts", ">= +3, 95% interval > 0"),
    ("95% bootstrap interval, low end (points)", "search.diff_ci95.0", "pts", "> 0"),
    ("pass@16", "search.accuracy.pass_at_n", "pct", ""),
    ("beam search, 16 beams (first 100 problems)", "search.beam.accuracy", "pct", ""),
    ("demo wall time, all stages (s)", "total_seconds", "num0", "<= 900"),
)


def lookup(summary: dict, path: str):
    """The value at a dotted ``path`` (list indices as numbers)."""
    cur = summary
    for part in path.split("."):
        cur = cur[int(part)] if isinstance(cur, list) else cur[part]
    return cur


def fmt(value: float, kind: str) -> str:
    return {"pct": f"{100 * value:.1f}%", "num%": f"{value:.1f}%", "num": f"{value:.1f}",
            "pts": f"{100 * value:+.1f}", "num0": f"{value:.0f}"}[kind]  # fmt: skip


def readme_table(summary: dict) -> str:
    """The README's demo table from a full-mode summary."""
    rows = ["| measure | `summary.json` key | value | target |", "|---|---|---|---|"]
    for name, path, kind, target in README_ROWS:
        rows.append(f"| {name} | `{path}` | {fmt(lookup(summary, path), kind)} | {target} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/quickstart", help="quickstart directory (stages are reused)")
    ap.add_argument("--n-base-eval", type=int, default=1000, help="held-out problems for the base LM")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--base", default="arith-base", help="the base LM (quickstart --base): packaged name or path"
    )
    ap.add_argument("--json", default=str(RESULTS / "demo_prm.json"), help="where the results go")
    gsm = "../shared/data/gsm8k/test.jsonl"  # the path make demo passes (run from the repository root)
    ap.add_argument("--gsm8k", default=gsm if Path(gsm).is_file() else None, help="as make demo passes it")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from prmkit.models.packaged import resolve_model
    from prmkit.models.tokenizer import load_tokenizer
    from prmkit.quickstart import QuickstartConfig, run_quickstart
    from prmkit.train.pretrain import result_accuracy

    if args.threads:
        torch.set_num_threads(args.threads)
    base = resolve_model(args.base)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    acc = result_accuracy(model, load_tokenizer(base), args.n_base_eval, seed=31_337)
    base_s = time.perf_counter() - t0
    summary = run_quickstart(QuickstartConfig(out=args.out, threads=args.threads, gsm8k=args.gsm8k or None,
                                               base=args.base))  # fmt: skip
    out = {
        "summary": summary,
        "base_lm": {"held_out_problems": args.n_base_eval, "seed": 31_337, "accuracy": acc["acc"],
                    "count": acc["count"], "loss": acc["loss"], "seconds": round(base_s, 1)},
        "processbench": summary["processbench"],
        "search": summary["search"],
        "labelling": summary["labelling"],
        "checks": summary["checks"],
        "stages": summary["stages"],
        "total_seconds": summary["total_seconds"],
        "date": time.strftime("%Y-%m-%d"),
        "cpu_threads": torch.get_num_threads(),
    }  # fmt: skip
    out["readme_table"] = readme_table(summary)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"base_lm": out["base_lm"]["accuracy"], "checks": out["checks"]}, indent=1))


if __name__ == "__main__":
    main()
