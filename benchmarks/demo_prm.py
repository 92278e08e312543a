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
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/quickstart", help="quickstart directory (stages are reused)")
    ap.add_argument("--n-base-eval", type=int, default=1000, help="held-out problems for the base LM")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from prmkit.models.packaged import resolve_model
    from prmkit.models.tokenizer import load_tokenizer
    from prmkit.quickstart import QuickstartConfig, run_quickstart
    from prmkit.train.pretrain import result_accuracy

    if args.threads:
        torch.set_num_threads(args.threads)
    base = resolve_model("arith-base")
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    acc = result_accuracy(model, load_tokenizer(base), args.n_base_eval, seed=31_337)
    base_s = time.perf_counter() - t0
    summary = run_quickstart(QuickstartConfig(out=args.out, quiet=True, threads=args.threads))
    out = {
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_prm.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"base_lm": out["base_lm"]["accuracy"], "checks": out["checks"]}, indent=1))


if __name__ == "__main__":
    main()
