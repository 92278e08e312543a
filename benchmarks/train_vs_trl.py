"""prmkit's PRM trainer vs TRL 1.13.0 ``trl.experimental.prm.PRMTrainer`` (the last TRL with one).

Same tiny token-classification model (identical initial weights, saved once), same tokenizer,
same 2,000 stepwise examples from the arithmetic world (exact labels, steps after the first error
cut for both), same batch size, learning rate, schedule, seed and number of optimizer steps, same
torch thread count. Measured: training throughput (real, non-padding tokens per second of the
``train()`` call) and held-out step accuracy (argmax of the 2-class head at every labelled step,
each model read with its own trainer's tokenization).

TRL runs as a subprocess in its OWN virtual environment (never a prmkit dependency)::

    python3.11 -m venv /tmp/prmkit-venv-trl
    /tmp/prmkit-venv-trl/bin/pip install torch==2.13.0 trl==1.13.0

    .venv/bin/python benchmarks/train_vs_trl.py --trl-python /tmp/prmkit-venv-trl/bin/python

Writes ``benchmarks/results/train_vs_trl.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRL_SIDE = r"""
import json, sys, time
import torch
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
import datasets, trl
from transformers import AutoModelForTokenClassification, PreTrainedTokenizerFast, set_seed
from trl.experimental.prm import PRMConfig, PRMTrainer

set_seed(cfg["seed"])
tok = PreTrainedTokenizerFast.from_pretrained(cfg["init"])
model = AutoModelForTokenClassification.from_pretrained(cfg["init"])
rows = [json.loads(l) for l in open(cfg["train"])]
ds = datasets.Dataset.from_list(rows)
args = PRMConfig(output_dir=cfg["out"], per_device_train_batch_size=cfg["batch_size"], max_steps=cfg["steps"],
                 learning_rate=cfg["lr"], lr_scheduler_type="cosine", warmup_steps=cfg["warmup"], logging_steps=10,
                 save_strategy="no", report_to=[], seed=cfg["seed"], use_cpu=True, step_separator="\n",
                 max_length=cfg["max_length"], disable_tqdm=True)
trainer = PRMTrainer(model=model, args=args, processing_class=tok, train_dataset=ds)
inner = trainer.data_collator
count = {"real": 0, "padded": 0}
def counting(features):
    b = inner(features)
    count["real"] += int(b["attention_mask"].sum()) if "attention_mask" in b else sum(len(f["input_ids"]) for f in features)
    count["padded"] += int(b["input_ids"].numel())
    return b
trainer.data_collator = counting
t0 = time.perf_counter()
out = trainer.train()
train_s = time.perf_counter() - t0
# held-out step accuracy with TRL's own tokenization
model.eval()
hits = n = 0
nll = 0.0
with torch.no_grad():
    for line in open(cfg["eval"]):
        row = json.loads(line)
        t = PRMTrainer.tokenize_row(row, tok, "\n", cfg["max_length"], None, False, True)
        logits = model(torch.tensor([t["input_ids"]])).logits[0]
        for pos, y in enumerate(t["labels"]):
            if y != -100:
                n += 1
                hits += int(int(logits[pos].argmax()) == int(y))
                nll -= float(torch.log_softmax(logits[pos], -1)[int(y)])
print(json.dumps({"trl_version": trl.__version__, "train_s": train_s, "tokens": count["real"], "padded": count["padded"],
                  "tokens_per_s": count["real"] / train_s, "train_loss": out.training_loss,
                  "step_acc": 100.0 * hits / n, "step_logloss": nll / n, "eval_steps": n, "global_step": trainer.state.global_step}))
"""


def _stepwise(records):
    """TRL stepwise rows: prompt, completions (steps up to the first error), bool labels."""
    from prmkit.train.data import step_targets

    rows = []
    for r in records:
        steps, labels = step_targets(r, after_error="drop")
        keep = [(s, y) for s, y in zip(steps, labels, strict=True) if y is not None]
        rows.append(
            {"prompt": r.problem, "completions": [s for s, _ in keep], "labels": [y >= 0.5 for _, y in keep]}
        )
    return rows


def _prmkit_step_acc(out_dir: str, records, threads: int) -> tuple[float, float, int]:
    import torch
    from transformers import AutoModelForTokenClassification, PreTrainedTokenizerFast

    from prmkit.render import render
    from prmkit.train.data import step_targets

    torch.set_num_threads(threads)
    tok = PreTrainedTokenizerFast.from_pretrained(out_dir)
    model = AutoModelForTokenClassification.from_pretrained(out_dir).eval()
    hits = n = 0
    nll = 0.0
    with torch.no_grad():
        for r in records:
            steps, labels = step_targets(r, after_error="drop")
            rd = render(r.problem, steps, "token-classification", tok)
            logits = model(torch.tensor([rd.input_ids])).logits[0]
            for pos, y in zip(rd.step_positions, labels, strict=True):
                if y is not None and pos is not None:
                    n += 1
                    hits += int(int(logits[pos].argmax()) == int(y >= 0.5))
                    nll -= float(torch.log_softmax(logits[pos], -1)[int(y >= 0.5)])
    return 100.0 * hits / n, nll / n, n


def _majority(records) -> float:
    """Held-out step accuracy of always predicting 'correct' (the floor any PRM must beat)."""
    from prmkit.train.data import step_targets

    ys = [y for r in records for y in step_targets(r, after_error="drop")[1] if y is not None]
    return 100.0 * sum(y >= 0.5 for y in ys) / len(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trl-python", default=os.environ.get("TRL_PYTHON", "/tmp/prmkit-venv-trl/bin/python"))
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--eval", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=250, help="optimizer steps (250 x 16 = 2 epochs of 2,000)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads for both sides (1: best on a busy CPU)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/train_vs_trl.json")
    a = ap.parse_args()
    os.environ.setdefault("PRMKIT_QUIET", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from prmkit.models.tiny import build_tiny_model, train_tokenizer
    from prmkit.train.config import TrainConfig
    from prmkit.train.default import world_solutions
    from prmkit.train.trainer import train
    from prmkit.worlds.arith import make_bench

    torch.set_num_threads(a.threads)
    train_recs = world_solutions(a.examples // 2, 2, seed=a.seed, labels="exact")[: a.examples]
    eval_recs = make_bench(a.eval, seed=4242)
    work = Path(tempfile.mkdtemp(prefix="prmkit-bench-trl-"))
    texts = [t for r in train_recs for t in [r.problem, *r.steps]]
    tok = train_tokenizer(texts, vocab_size=600)
    model = build_tiny_model("token-classification", tok, seed=a.seed, hidden_size=a.hidden, num_layers=a.layers,
                             num_heads=2, max_position_embeddings=1024)  # fmt: skip
    init = work / "init"
    model.save_pretrained(str(init))
    tok.save_pretrained(str(init))
    for name, recs in (("train", train_recs), ("eval", eval_recs)):
        with open(work / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in _stepwise(recs):
                fh.write(json.dumps(row) + "\n")
    warmup = int(0.03 * a.steps)
    # ---------------- prmkit
    cfg = TrainConfig(model=str(init), out=str(work / "prmkit"), format="token-classification", loss="bce",
                      max_steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup_ratio=0.03, scheduler="cosine",
                      seed=a.seed, threads=a.threads, max_length=1024, logging_steps=10)  # fmt: skip
    res = train(cfg, train_records=train_recs, eval_records=[])
    pk_acc, pk_ll, pk_n = _prmkit_step_acc(str(work / "prmkit"), eval_recs, a.threads)
    prmkit_side = {
        "train_s": res.train_runtime_s,
        "tokens": res.tokens_seen,
        "padded": res.tokens_padded,
        "tokens_per_s": res.tokens_seen / res.train_runtime_s,
        "train_loss": res.metrics["train_loss"],
        "step_acc": pk_acc,
        "step_logloss": pk_ll,
        "eval_steps": pk_n,
        "global_step": res.global_step,
    }
    # ---------------- TRL (own venv)
    trl_cfg = {"init": str(init), "train": str(work / "train.jsonl"), "eval": str(work / "eval.jsonl"),
               "out": str(work / "trl"), "batch_size": a.batch_size, "steps": a.steps, "lr": a.lr, "warmup": warmup,
               "seed": a.seed, "threads": a.threads, "max_length": 1024}  # fmt: skip
    t0 = time.time()
    proc = subprocess.run([a.trl_python, "-c", TRL_SIDE, json.dumps(trl_cfg)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(
            f"TRL side failed (exit {proc.returncode}); is {a.trl_python} a venv with trl==1.13.0?"
        )
    trl_side = json.loads(proc.stdout.strip().splitlines()[-1])
    trl_side["wall_s_with_startup"] = time.time() - t0
    result = {
        "benchmark": "train_vs_trl",
        "setup": {
            "examples": len(train_recs),
            "eval_records": len(eval_recs),
            "batch_size": a.batch_size,
            "steps": a.steps,
            "lr": a.lr,
            "model": f"tiny qwen2 token classifier hidden={a.hidden} layers={a.layers}",
            "threads": a.threads,
            "seed": a.seed,
            "cpu": f"{os.cpu_count()} cores, shared with other jobs (noisy)",
        },  # fmt: skip
        "prmkit": prmkit_side,
        "trl": trl_side,
        "tokens_per_s_ratio": prmkit_side["tokens_per_s"] / trl_side["tokens_per_s"],
        "step_acc_delta": prmkit_side["step_acc"] - trl_side["step_acc"],
        "majority_step_acc": _majority(eval_recs),
        "padding_fraction": {
            "prmkit": 1 - prmkit_side["tokens"] / prmkit_side["padded"],
            "trl": 1 - trl_side["tokens"] / trl_side["padded"],
        },
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
