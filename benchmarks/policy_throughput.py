"""Generation throughput of the real-model policy backends on SmolLM2-135M-Instruct (CPU).

Same prompts, same token budget, same process: the baseline is the transformers backend with
one request per ``generate`` call (batch_size=1); compared with batched transformers
(batch_size=4) and llama.cpp's OpenAI-compatible server through the ``openai`` backend.
Writes benchmarks/results/policy_throughput.json (tokens/s and ratios to the baseline).

    .venv/bin/python benchmarks/policy_throughput.py [--tokens 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "What is 12 + 35?",
    "Tom has 3 apples and buys 4 more. How many apples does he have?",
    "What is 7 * 8?",
    "A book costs 5 dollars. How much do 6 books cost?",
]


def run(pol) -> dict:
    from prmkit.records import Problem

    probs = [Problem(id=f"q{i}", question=q) for i, q in enumerate(QUESTIONS)]
    t = time.perf_counter()
    gens = pol.continue_from(probs, [[] for _ in probs], n=1, seed=0)
    dt = time.perf_counter() - t
    toks = sum(g.num_tokens for row in gens for g in row)
    return {"seconds": round(dt, 3), "tokens": toks, "tokens_per_s": round(toks / dt, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    os.environ.setdefault("PRMKIT_QUIET", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from prmkit.models.gguf import load_gguf_causal_lm
    from prmkit.policies.hf import HFPolicy
    from prmkit.policies.openai import OpenAIPolicy

    model, tok = load_gguf_causal_lm()
    res: dict = {
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (transformers: de-quantized float32)",
        "max_new_tokens": args.tokens,
        "prompts": len(QUESTIONS),
        "torch_threads": args.threads,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load avg {os.getloadavg()[0]:.1f}",
    }
    common = {"temperature": 0.0, "max_new_tokens": args.tokens}
    res["hf_batch1 (baseline)"] = run(HFPolicy(model, tokenizer=tok, batch_size=1, **common))
    res["hf_batch4"] = run(HFPolicy(model, tokenizer=tok, batch_size=4, **common))
    try:
        from prmkit.models.llama_server import LlamaServer, missing_reason

        reason = missing_reason()
        if reason:
            res["llama_cpp_server"] = {"skipped": reason}
        else:
            with LlamaServer.start() as srv:
                pol = OpenAIPolicy(srv.base_url, temperature=0.0, max_tokens=args.tokens, max_concurrency=1)
                run(pol)
                res["llama_cpp_server (1 thread)"] = run(pol)
    except RuntimeError as e:
        res["llama_cpp_server"] = {"error": str(e)[:300]}
    base = res["hf_batch1 (baseline)"]["tokens_per_s"]
    for v in res.values():
        if isinstance(v, dict) and "tokens_per_s" in v:
            v["ratio_to_baseline"] = round(v["tokens_per_s"] / base, 2)
    out = ROOT / "benchmarks" / "results" / "policy_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
