"""Does a tagged generative verifier look its operands up? (issue 19, the diagnostic of
``benchmarks/generative_verifier.md``, fifth session.)

For each verifier, the greedy chains on the benchmark's held-out solutions are fed back
(teacher-forced) and, at every operand tag the chain writes, the tag's probability of ``not
known`` against ``known`` is read: ``p = sigmoid(logit(" not") - logit(" known"))``. A verifier
that looks the operand up puts a higher ``p`` on the misread / distractor operand of a step whose
first error is a wrong operand than on the operands of correct steps. Reported per verifier: the
AUC of the wrong-operand steps' largest ``p`` against every correct step's largest ``p`` (0.5 =
no information), and both medians.

Run: .venv/bin/python benchmarks/generative_verifier_tags.py runs/bench-generative/longtag ...
Writes benchmarks/results/generative_verifier_tags.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generative_verifier import add_bench_args, first_error_kind  # noqa: E402
from prmkit.evaluate.calibration import auroc  # noqa: E402
from prmkit.models.tokenizer import load_tokenizer  # noqa: E402
from prmkit.scorers.generative import CHECK_MARKER, GenerativeScorer, step_segments  # noqa: E402
from prmkit.worlds.arith import make_bench  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@torch.inference_mode()
def tag_probabilities(path: str, bench) -> dict:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    not_id = tok(" not", add_special_tokens=False)["input_ids"][0]
    known_id = tok(" known", add_special_tokens=False)["input_ids"][0]
    newline = tok("\n", add_special_tokens=False)["input_ids"][-1]
    marker = tok(CHECK_MARKER, add_special_tokens=False)["input_ids"]
    probs, steps = [r.problem for r in bench], [r.steps for r in bench]
    chains = GenerativeScorer(model, tok, k=1, temperature=0.0).sample(probs, steps)
    pos, neg = [], []
    for r, cs, segs in zip(bench, chains, step_segments(tok, probs, steps), strict=True):
        ids, tags = [], []  # tags: (step, position whose next token is the tag)
        for i, line in enumerate(cs[0].text.split("\n") if cs[0].text else []):
            ids += [*segs[i], *marker]
            body = tok(line.split(":", 1)[1], add_special_tokens=False)["input_ids"]
            tags += [(i, len(ids) + u - 1) for u, t in enumerate(body) if t in (not_id, known_id)]
            ids += [*body, newline]
        if not tags:
            continue
        logits = model(torch.tensor([ids])).logits[0]
        per: dict[int, float] = {}
        for i, at in tags:
            p = float(torch.sigmoid(logits[at, not_id] - logits[at, known_id]))
            per[i] = max(per.get(i, 0.0), p)
        fe = int(r.first_error)
        if first_error_kind(r) == "operand" and fe in per:
            pos.append(per[fe])
        neg += [p for i, p in per.items() if fe < 0 or i < fe]
    return {"auc": round(auroc(pos, neg), 3), "wrong_operand_steps": len(pos), "correct_steps": len(neg),
            "median_p_wrong_operand": round(statistics.median(pos), 4),
            "median_p_correct": round(statistics.median(neg), 4)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("verifiers", nargs="+", help="verifier checkpoints (tagged chain format)")
    add_bench_args(ap)
    ap.add_argument("--out", default=str(RESULTS / "generative_verifier_tags.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench = make_bench(args.n_bench, seed=args.bench_seed, error_rate=args.error_rate)
    out = {"benchmark": "generative_verifier_tags", "args": vars(args), "verifiers": {}}
    for path in args.verifiers:
        out["verifiers"][Path(path).name] = tag_probabilities(path, bench)
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(json.dumps({Path(path).name: out["verifiers"][Path(path).name]}), flush=True)


if __name__ == "__main__":
    main()
