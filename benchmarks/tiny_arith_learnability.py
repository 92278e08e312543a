"""Can a tiny transformer learn to check ``a op b = c`` within a CPU budget? (issue #7 diagnosis)

The embedded default PRM must learn arithmetic-world step checking from Monte Carlo labels in 15
CPU-minutes. About half of the world's first errors are arithmetic slips (``56 - 3 = 52``), so
the model has to check equations. This script isolates that sub-task and measures how fast a tiny
Qwen2 token classifier learns it, under the most favourable set-up we could build:

* whole numbers as single tokens (``0``..``9999`` added to a locally trained BPE tokenizer);
* numeric features in the first embedding dimensions of every number token (ones digit, last two
  and three digits and value/1000 as linear features, log value, ones-digit one-hot, a balancing
  feature that keeps every number token's norm equal so RMSNorm does not distort them) and
  markers for ``=`` and the operators;
* layer 0 turned into FROZEN positional copy heads (head k attends k tokens back, verified ~99.8%
  of its weight on that token) that copy those features, so at the result token ``c`` the features
  of ``a``, the operator and ``b`` sit side by side and ``a + b - c`` is an exact linear function
  of the residual stream. Embeddings and layer 0 are frozen; everything else trains (AdamW).

Tasks (one equation per sequence ``\\n a op b = c``, label read at ``c``, 50% slipped results
with the world's slip sizes): a first-order control (``a >= R/2``), and the real check for
``+`` with numbers up to R = 30, 100 and 1000 (the world's default range is 1000).
Writes benchmarks/results/tiny_arith_learnability.json.

    .venv/bin/python benchmarks/tiny_arith_learnability.py            # ~6 min on one core
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
SLIPS = (1, -1, 2, -2, 10, -10, 3, -3, 5, -5, 4, -4, 20, -20, 7, -7)  # the world's slip deltas
N_FEAT = 24
COPY = [0, 1, 2, 3, 4, 5, 14, 15, 16, 17, 18, 23]  # features each positional head copies


def number_tokenizer(max_number: int = 10000):
    """The tiny BPE tokenizer plus every whole number below ``max_number`` as one token."""
    from tokenizers import AddedToken

    from prmkit.models.tiny import train_tokenizer

    tok = train_tokenizer(["She had 56 marbles and sells 3, so 56 - 3 = 53. 2 x 4 = 8, 8 / 2 = 4 * 1"], 300)
    tok.add_tokens([AddedToken(s + str(i), normalized=False) for i in range(max_number) for s in (" ", "")])
    return tok


def features(token: str, vmax: float) -> list[float]:
    f = [0.0] * N_FEAT
    s = token.replace("\u0120", "").strip()
    if s.isascii() and s.isdigit():
        v = int(s)
        f[0], f[1], f[2], f[3] = 1.0, (v % 10) / 9, (v % 100) / 99, (v % 1000) / 999
        f[4], f[5] = v / vmax, math.log1p(v) / math.log(10001)
        f[6 + v % 10] = 1.0
        f[23] = math.sqrt(max(0.0, 12.0 - sum(f[k] ** 2 for k in (0, 1, 2, 3, 4, 5))))
    else:
        marks = {"=": 14, "+": 15, "-": 16, "x": 17, "*": 17, "/": 18}
        if s in marks:
            f[marks[s]] = 1.0
    return f


def build(tok, vmax: float, hidden: int = 128, layers: int = 2, heads: int = 4, amp: float = 10.0):
    """Tiny Qwen2 classifier with numeric features and frozen positional copy heads in layer 0."""
    import torch

    from prmkit.models.tiny import build_tiny_model, positional_copy_heads

    m = build_tiny_model("token-classification", tok, hidden_size=hidden, num_layers=layers,
                         num_heads=heads, max_position_embeddings=64, rope_theta=100.0)  # fmt: skip
    emb = m.get_input_embeddings().weight
    with torch.no_grad():
        emb[:, : N_FEAT + len(COPY) * heads] = 0.0
        for t, i in tok.get_vocab().items():
            emb[i, :N_FEAT] = torch.tensor(features(t, vmax))
    if positional_copy_heads(m, features=COPY, dest=N_FEAT, amp=amp) != list(range(1, heads + 1)):
        raise RuntimeError("copy heads could not be set on this model")
    att = m.model.layers[0].self_attn
    for p in att.parameters():
        p.requires_grad_(False)
    emb.requires_grad_(False)
    return m


def run_task(tok, task: str, r: int, steps: int, batch: int, lr: float, seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    m = build(tok, vmax=float(r))
    rng = random.Random(seed)

    def example() -> tuple[list[int], int]:
        b = rng.randint(1, max(2, min(50, r // 3)))
        a = rng.randint(0, r - b)
        c, y = a + b, 1
        if rng.random() < 0.5 and c + (d := rng.choice(SLIPS)) >= 0:
            c, y = c + d, 0
        if task == "control":
            y = int(a >= r // 2)
        return tok(f"\n{a} + {b} = {c}")["input_ids"], y

    test = [example() for _ in range(1000)]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    curve, t0 = [], time.perf_counter()

    def accuracy() -> float:
        m.eval()
        with torch.inference_mode():
            logits = m(torch.tensor([t[0] for t in test])).logits[:, -1]
        m.train()
        return float((logits.argmax(-1) == torch.tensor([t[1] for t in test])).float().mean())

    for step in range(1, steps + 1):
        xs = [example() for _ in range(batch)]
        logits = m(torch.tensor([x[0] for x in xs])).logits[:, -1]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([x[1] for x in xs]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, steps // 4) == 0:
            curve.append(
                {
                    "step": step,
                    "accuracy": round(accuracy(), 3),
                    "elapsed_s": round(time.perf_counter() - t0, 1),
                }
            )
            print(task, r, curve[-1], flush=True)
    return {"task": task, "max_value": r, "curve": curve, "final_accuracy": curve[-1]["accuracy"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "tiny_arith_learnability.json"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    tok = number_tokenizer()
    runs = [run_task(tok, "control", 1000, args.steps, args.batch, args.lr, args.seed)]
    for r in (30, 100, 1000):
        runs.append(run_task(tok, "check a + b = c", r, args.steps, args.batch, args.lr, args.seed))
    out = {
        "benchmark": "tiny_arith_learnability",
        "model": "Qwen2 token classifier, hidden 128, 2 layers, 4 heads; embeddings and layer 0 frozen",
        "steps": args.steps, "batch": args.batch, "lr": args.lr, "threads": args.threads,
        "chance": 0.5, "machine": platform.platform(), "load_average": os.getloadavg(),
        "runs": runs,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({f"{r['task']} R={r['max_value']}": r["final_accuracy"] for r in runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
