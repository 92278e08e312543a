"""ProcessBench F1 of the calculator scorer (docs/methods.md#a1-processbench: pred = first step with score < 0.5).

Run: ``.venv/bin/python benchmarks/calculator_processbench.py [--data ../shared/data] [--neutral 0.5]``
Writes ``benchmarks/results/calculator_processbench.json``. Also scores the GSM8K perturbation
set of :mod:`prmkit.worlds.gsm8k_perturb` when that module is available.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prmkit.scorers.calculator import CalculatorScorer

ROOT = Path(__file__).resolve().parents[1]
SUBSETS = ("gsm8k", "math", "olympiadbench", "omnimath")


def first_below(scores: list[float | None], threshold: float = 0.5) -> int:
    for i, s in enumerate(scores):
        if s is not None and s < threshold:
            return i
    return -1


def f1_metrics(preds: list[int], labels: list[int]) -> dict[str, float]:
    """acc_err, acc_corr and their harmonic mean (ProcessBench F1), in percent."""
    err = [p == y for p, y in zip(preds, labels, strict=True) if y != -1]
    cor = [p == -1 for p, y in zip(preds, labels, strict=True) if y == -1]
    acc_err = 100 * sum(err) / len(err) if err else 0.0
    acc_corr = 100 * sum(cor) / len(cor) if cor else 0.0
    f1 = 2 * acc_err * acc_corr / (acc_err + acc_corr) if acc_err + acc_corr else 0.0
    return {
        "acc_err": round(acc_err, 1),
        "acc_corr": round(acc_corr, 1),
        "f1": round(f1, 1),
        "n": len(labels),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--neutral", type=float, default=0.5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "calculator_processbench.json"))
    args = ap.parse_args()
    scorer = CalculatorScorer(neutral=args.neutral)
    result: dict = {"scorer": "calculator", "neutral": args.neutral, "threshold": 0.5, "subsets": {}}
    t0 = time.perf_counter()
    for sub in SUBSETS:
        rows = json.loads((Path(args.data) / "processbench" / f"{sub}.json").read_text())
        scores = scorer.score_batch([r["problem"] for r in rows], [r["steps"] for r in rows])
        preds = [first_below(s) for s in scores]
        m = f1_metrics(preds, [r["label"] for r in rows])
        n_steps = sum(len(s) for s in scores)
        m["steps_checked_fraction"] = round(sum(v != args.neutral for s in scores for v in s) / n_steps, 3)
        result["subsets"][sub] = m
    result["average_f1"] = round(sum(m["f1"] for m in result["subsets"].values()) / len(SUBSETS), 1)
    try:
        from prmkit.worlds import gsm8k_perturb  # noqa: F401 - another engineer's module
    except ImportError:
        result["gsm8k_perturb"] = "prmkit.worlds.gsm8k_perturb not available"
    else:
        result["gsm8k_perturb"] = _perturb(scorer, args.data)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _perturb(scorer: CalculatorScorer, data: str) -> dict:
    """F1 on the GSM8K perturbation set (test split, seed 0, rate 0.5), with the calculator
    annotations stripped from the text (default) and kept (``<<a*b=c>>`` tags visible)."""
    from prmkit.worlds.gsm8k_perturb import perturb_gsm8k

    out = {}
    for keep in (False, True):
        sols = perturb_gsm8k(Path(data) / "gsm8k" / "test.jsonl", seed=0, rate=0.5, keep_tags=keep)
        scores = scorer.score_batch([s.problem for s in sols], [s.steps for s in sols])
        preds = [first_below(s) for s in scores]
        out["tags_kept" if keep else "tags_stripped"] = f1_metrics(preds, [s.first_error for s in sols])
    return out


if __name__ == "__main__":
    main()
