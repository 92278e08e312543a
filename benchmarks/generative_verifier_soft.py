"""Does the verifier know more than its decoded digits say? (issue 19, sixth session.)

The greedy verifier decides on the digits it decodes: one wrong copy or recomputation flags a
correct step. Here the verifier is asked instead how likely it finds the *passing* check of each
step: the line the checker writes when the step is right (``24 is 24, 6 is 6; 24 - 6 = 18, 18 -
18 = 0. correct``, built from the step's own numbers), teacher-forced after the passing lines of
the steps before. A step's score is the smallest probability the verifier gives a token of its
passing line; the first step scoring below ``tau`` is the predicted first error. Reported per
verifier: the AUC of the first-error steps against the correct steps (steps before a first error
and every step of a correct solution; a lower score ranks as more likely an error:
``auroc(correct, first_error)``), first-error F1 at ``tau = 0.5`` (no fitting: the passing
token is less likely than not), and F1 over a sweep of ``tau`` read on the benchmark itself
(an upper bound for a threshold fitted elsewhere, marked as such), and F1 at the ``tau`` that is
best on a second held-out bench of the next seed (``--bench-seed`` + 1, same size and error rate):
a threshold fitted elsewhere, the number a user of this reading would get.

Run: .venv/bin/python benchmarks/generative_verifier_soft.py --lookup is runs/bench-generative/ismix ...
Writes (updates) benchmarks/results/generative_verifier_soft.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generative_verifier import diagnostic_setup, f1_of, make_bench  # noqa: E402
from prmkit.evaluate.calibration import auroc  # noqa: E402
from prmkit.models.tokenizer import load_tokenizer  # noqa: E402
from prmkit.scorers.generative import CHECK_MARKER, step_segments  # noqa: E402
from prmkit.worlds import arith_verify  # noqa: E402
from prmkit.worlds.arith_parse import parse_step  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TAUS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def passing_line(step: str) -> str | None:
    """The chain line the checker writes for ``step`` if it is right (in the current lookup
    format), from the step's own numbers; ``None`` for a step with no equation and no answer.

    Example:
        >>> from generative_verifier import use_lookup
        >>> use_lookup("is"); passing_line("She has 4 bags of 3, so 4 x 3 = 13 balloons.")
        'Step 1: 4 is 4, 3 is 3; 4 x 3 = 13, 13 - 13 = 0. correct'
        >>> use_lookup("tag"); passing_line("The answer is 8.")
        'Step 1: the answer is 8, 8 - 8 = 0. correct'
    """
    try:
        parsed = parse_step(step)
    except (ValueError, RecursionError, OverflowError):
        return None
    if not parsed.equations and parsed.answer is None:
        return None
    operands = {o for e in parsed.equations for o in e.operands}
    return arith_verify.chain_line(1, arith_verify._correct_body(parsed, operands, recompute=False), True)


@torch.inference_mode()
def step_scores(path: str, bench) -> list[list[float]]:
    """Per solution, per step: the smallest probability of a token of the step's passing line."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    marker = tok(CHECK_MARKER, add_special_tokens=False)["input_ids"]
    newline = tok("\n", add_special_tokens=False)["input_ids"][-1]
    probs, steps = [r.problem for r in bench], [r.steps for r in bench]
    out = []
    for r, segs in zip(bench, step_segments(tok, probs, steps), strict=True):
        ids, spans, blank = [], [], []
        for i, st in enumerate(r.steps):
            line = passing_line(st)
            ids += [*segs[i], *marker]
            if line is None:
                blank.append(i)
                line = arith_verify.chain_line(1, "no equation", True)
            body = tok(line.split(":", 1)[1], add_special_tokens=False)["input_ids"]
            spans.append((len(ids), len(ids) + len(body)))
            ids += [*body, newline]
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        target = torch.tensor(ids[1:])
        tok_p = logp[:-1].gather(1, target[:, None])[:, 0].exp()
        scores = [float(tok_p[a - 1 : b - 1].min()) for a, b in spans]
        for i in blank:
            scores[i] = 0.0
        out.append(scores)
    return out


def main() -> None:
    args, bench, out_path, out = diagnostic_setup(__doc__, "generative_verifier_soft")
    gold = [int(r.first_error) for r in bench]
    for r in bench:  # the passing lines are the checker's own lines on correct solutions
        if r.first_error < 0:
            want = arith_verify.verification_chain(r, r.steps).splitlines()
            got = [passing_line(s) for s in r.steps]
            assert [w.split(":", 1)[1] for w in want] == [g.split(":", 1)[1] for g in got], (want, got)
    tune = make_bench(args.n_bench, seed=args.bench_seed + 1, error_rate=args.error_rate)
    tune_gold = [int(r.first_error) for r in tune]
    for path in args.verifiers:
        scores = step_scores(path, bench)
        tune_scores = step_scores(path, tune)
        tune_sweep = {tau: f1_of(tune_scores, tune_gold, tau)["f1"] for tau in TAUS}
        tau_tuned = max(TAUS, key=lambda t: tune_sweep[t])
        pos = [s[g] for s, g in zip(scores, gold, strict=True) if g >= 0]
        neg = [x for s, g in zip(scores, gold, strict=True) for x in (s[:g] if g >= 0 else s)]
        sweep = {str(tau): f1_of(scores, gold, tau) for tau in TAUS}
        best = max(sweep, key=lambda t: sweep[t]["f1"])
        name = Path(path).name
        out.setdefault("verifiers", {})[name] = {
            "lookup": args.lookup,
            "auc_first_error_vs_correct_steps": round(auroc(neg, pos), 3),
            "f1_tau_0.5": sweep["0.5"],
            "best_tau_on_bench": {"tau": float(best), **sweep[best]},
            "tau_fitted_on_next_seed": {
                "tau": tau_tuned,
                "f1_there": tune_sweep[tau_tuned],
                **sweep[str(tau_tuned)],
            },
            "sweep": sweep,
        }
        out_path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(
            json.dumps({name: {k: v for k, v in out["verifiers"][name].items() if k != "sweep"}}), flush=True
        )


if __name__ == "__main__":
    main()
