"""Generative verifier (issue 19 item 1) against the discriminative ``lm-likelihood`` PRM on the
arithmetic world.

Both start from the same base LM (``--base``, by default the packaged ``arith-base``) and see the
same labelled solutions (policy samples of training seeds, exact step labels from the world's
checker): the ``lm-likelihood`` PRM fits its logistic head on them, the generative verifier is
fine-tuned (SFT) on their verification chains (written from the checker,
:mod:`prmkit.worlds.arith_verify`), loss on the verifier's tokens only. Metric: ProcessBench
first-error F1 (threshold 0.5) on ``make_bench(--n-bench, seed=--bench-seed)`` (held-out seed,
exact labels).

Verifier variants: K=1 greedy; K sampled chains (temperature ``--temperature``) for K = 1, 2, 4, 8
(the first K of the same 8 samples per solution), each with ``vote`` (share of "correct"
verdicts) and ``mean`` (mean verdict probability); compute per solution (chains, generated
tokens, tokens fed) is reported.

Regimes (``--regimes``): ``NAME:PROBLEMS:STEPS`` -- labelled solutions = 2 x PROBLEMS, SFT steps.

Run: nice -n 19 .venv/bin/python benchmarks/generative_verifier.py
Writes benchmarks/results/generative_verifier.json (after every regime).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cheap_supervision import f1_on, fit_step_labels, sample_pool  # noqa: E402
from prmkit.evaluate.processbench import predict_first_error, processbench_metrics  # noqa: E402
from prmkit.label.runner import problem_from_solution  # noqa: E402
from prmkit.models.packaged import resolve_model  # noqa: E402
from prmkit.models.tokenizer import load_tokenizer  # noqa: E402
from prmkit.records import Solution, labels_from_first_error  # noqa: E402
from prmkit.scorers.chain_tools import get_tool, step_contexts  # noqa: E402
from prmkit.scorers.generative import GenerativeScorer, aggregate  # noqa: E402
from prmkit.train import TrainConfig, train  # noqa: E402
from prmkit.train.generative import META_CHAIN  # noqa: E402
from prmkit.train.likelihood import step_features_of  # noqa: E402
from prmkit.worlds import arith_verify  # noqa: E402
from prmkit.worlds.arith import check_steps, make_bench  # noqa: E402
from prmkit.worlds.arith_parse import format_number  # noqa: E402
from prmkit.worlds.arith_policy import ERROR_WEIGHTS, ArithPolicy  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def f1_of(scores, gold, threshold: float = 0.5) -> dict:
    m = processbench_metrics([predict_first_error(s, threshold) for s in scores], gold)
    return {k: round(float(m[k] or 0.0), 2) for k in ("f1", "acc_err", "acc_corr")}


def classifier_baseline(recs, bench, gold, steps: int, out_dir: str, args) -> dict:
    """The discriminative PRM fine-tuned from the same base on the same labels: a
    token-classification head (and the whole base) trained ``steps`` steps, scored on the bench."""
    from prmkit.scorers import load_scorer

    t0 = time.perf_counter()
    train(TrainConfig(out=out_dir, model=args.base, format="token-classification", max_steps=steps,
                      batch_size=args.batch_size, lr=args.lr, threads=args.threads, seed=args.seed),
          train_records=recs, eval_records=[])  # fmt: skip
    scorer = load_scorer(None, out_dir)
    scores = scorer.score_batch([r.problem for r in bench], [r.steps for r in bench])
    return {**f1_of(scores, gold), "seconds": round(time.perf_counter() - t0, 1)}


def synthetic_errors(pool, n, seed, error_weights):
    """``n`` erroneous prefixes made from the pool's own correct prefixes: the policy continues a
    correct prefix (the steps before the record's first error) by one step with a forced error of
    the ``error_weights`` mix; a record whose forced step is not an error of that mix is skipped.
    The step is incorrect by construction (the policy's own error record); no labeller is called."""
    policy = ArithPolicy(error_rate=1.0, miracle_rate=0.0, error_weights=error_weights)
    rng = random.Random(f"synthetic:{seed}")
    out, kinds = [], {}
    want = dict(zip(("slip", "operand", "operation", "skip"), error_weights, strict=True))
    for rep in range(8):  # passes over the pool: a record gives at most one prefix per pass
        order = list(range(len(pool)))
        rng.shuffle(order)
        for i in order:
            if len(out) >= n:
                return out, kinds
            r = pool[i]
            fe = r.meta["exact_first_error"]
            ok_steps = r.steps[: fe if fe >= 0 else len(r.steps) - 1]  # the correct operation steps
            if not ok_steps:
                continue
            cut = rng.randrange(len(ok_steps))
            p = problem_from_solution(r)
            seed_i = seed + i + rep * len(pool)
            g = policy.continue_from([p], [list(r.steps[:cut])], 1, max_steps=1, seed=seed_i)[0][0]
            errs = [e["kind"] for e in g.meta.get("errors", []) if e["step"] == cut]
            if not g.steps or not errs or not want.get(errs[0]):
                continue
            steps = list(r.steps[:cut]) + g.steps[:1]
            if check_steps(p, steps, partial=True).first_error != cut:  # by construction; checked
                raise AssertionError(f"synthetic step {cut} of {r.id} is not its first error: {steps}")
            kinds[errs[0]] = kinds.get(errs[0], 0) + 1
            out.append(Solution(id=f"{r.id}~syn{cut}" + (f".{rep}" if rep else ""), problem=r.problem,
                                steps=steps, reference_answer=r.reference_answer,
                                meta={"arith": r.meta["arith"], "exact_first_error": cut,
                                      "synthetic": errs[0]}))  # fmt: skip
    return out, kinds


def _nearest(write):
    """An operand check that compares each operand with the known number nearest to it (a given
    the problem uses or an earlier result), written ``write(operand, nearest)``, up to the first
    operand that differs."""

    def lookup(operands, seen) -> str:
        out = []
        for o in operands:
            g = min(seen, key=lambda x: (abs(x - o), str(x))) if seen else o
            out.append(write(o, g))
            if g != o:
                break
        return ", ".join(out)

    return lookup


#: how a chain line checks its operands: ``tag`` is the library's writer (``known`` / ``not
#: known``); the others replace ``prmkit.worlds.arith_verify._tags`` for the run
LOOKUPS = {
    "tag": arith_verify._tags,
    # ``24 near 24, 24 - 24 = 0`` (fifth session's ``longnear2``)
    "near": _nearest(lambda o, g: f"{format_number(o)} near {format_number(g)}, {arith_verify._diff(g, o)}"),
    # ``24 is 24``, no subtraction (sixth session); a misread number ends the line: ``9 is 8``
    "is": _nearest(lambda o, g: f"{format_number(o)} is {format_number(g)}"),
}


#: lookups whose chains are the ``is`` chains with each looked-up number replaced by what a
#: chain tool feeds there (:mod:`prmkit.scorers.chain_tools`): ``find`` = the ``lookup`` tool
TOOL_LOOKUPS = {"find": "lookup"}
_FED_LOOKUP = re.compile(r"(^ |[,;] )(\d+(?:\.\d+)?) is \d+(?:\.\d+)?")
_rewrite: list = []  # the tool rewriting the chains of this process (``use_lookup``), if any


def tool_chain(record, tool) -> str:
    """The checker's chain of ``record`` with every ``o is g`` lookup replaced by ``o is`` and what
    ``tool`` feeds after it, given the problem and the earlier steps: the chain a verifier with
    that tool writes (its verdicts and stops unchanged).

    Example:
        >>> from prmkit.scorers.chain_tools import get_tool
        >>> from prmkit.worlds.arith_spec import generate_problems
        >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
        >>> r = Solution(id="x", problem=p.question, steps=["4 x 3 = 12 balloons.", "12 - 5 = 7."], meta=p.meta)
        >>> use_lookup("is")
        >>> tool_chain(r, get_tool("lookup")).splitlines()
        ['Step 1: 4 is 4 bunches, 3 is 3 balloons; 4 x 3 = 12, 12 - 12 = 0. correct', 'Step 2: 12 is 12 balloons, 5 is 4 bunches. incorrect']
    """
    ctx = step_contexts(record.problem, record.steps)
    lines = arith_verify.verification_chain(record, record.steps).splitlines()
    out = []
    for line, c in zip(lines, ctx, strict=False):
        head, body = line.split(":", 1)
        body = _FED_LOOKUP.sub(lambda m, c=c: m[1] + m[2] + " is" + tool.complete(f" {m[2]} is", c), body)
        out.append(head + ":" + body)
    return "\n".join(out)


def reference_chain(record) -> str:
    """The chain the verifiers of this process learn from (``use_lookup``)."""
    if _rewrite:
        return tool_chain(record, _rewrite[0])
    return arith_verify.verification_chain(record, record.steps)


def use_lookup(name: str) -> None:
    """Make the chain writer check operands the ``name`` way (:data:`LOOKUPS`) in this process.

    Example:
        >>> from prmkit.worlds.arith_spec import generate_problems
        >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
        >>> use_lookup("is")
        >>> arith_verify.verification_chain(p, ["4 x 3 = 12 balloons.", "12 - 5 = 7."]).splitlines()
        ['Step 1: 4 is 4, 3 is 3; 4 x 3 = 12, 12 - 12 = 0. correct', 'Step 2: 12 is 12, 5 is 4. incorrect']
        >>> use_lookup("tag"); arith_verify.verification_chain(p, ["5 x 3 = 15 balloons."])
        'Step 1: 5 not known. incorrect'
    """
    _rewrite.clear()
    if name in TOOL_LOOKUPS:
        _rewrite.append(get_tool(TOOL_LOOKUPS[name]))
    arith_verify._tags = LOOKUPS["is" if name in TOOL_LOOKUPS else name]


def first_error_kind(r: Solution) -> str:
    """The policy's error kind at a bench record's first error: ``none`` for a correct solution,
    ``carried`` when the policy recorded no error there."""
    fe = int(r.first_error)
    kinds = [e["kind"] for e in r.meta.get("errors", []) if e["step"] == fe]
    return "none" if fe < 0 else (kinds[0] if kinds else "carried")


def labelled(records) -> list[Solution]:
    """Pool records with their exact step labels (1 before the first error, 0 at it); with a
    tool lookup (``use_lookup``) their chains in ``meta["verification_chain"]``."""
    out = [Solution(id=r.id, problem=r.problem, steps=r.steps, reference_answer=r.reference_answer,
                    labels=labels_from_first_error(r.meta["exact_first_error"], len(r.steps)), meta=r.meta)
           for r in records]  # fmt: skip
    if _rewrite:
        out = [replace(r, meta={**r.meta, META_CHAIN: reference_chain(r)}) for r in out]
    return out


def by_kind(bench, preds) -> dict:
    """``{kind: [found, total]}``: solutions whose first error (by the policy's error kind, ``none``
    for a correct solution) the verifier put at exactly the right step (-1 for ``none``)."""
    out: dict = {}
    for r, p in zip(bench, preds, strict=True):
        fe = int(r.first_error)
        got = out.setdefault(first_error_kind(r), [0, 0])
        got[0] += int(p == fe)
        got[1] += 1
    return out


_DIFF = re.compile(r"^(\S+) - (\S+) = (\S+)$")
_TAG = re.compile(r"^(\S+) (known|not known|near|is) ")


def _norm(text: str) -> str:
    return " ".join(text.replace("*", "x").split())


def divergence(ref: str, gen: str, step: str = "") -> str:
    """Which part of a check a generated chain line first gets wrong, against the checker's line
    for the same step: ``lookup`` (an operand's tag or the number it is compared with),
    ``restate`` (an operand or a left-hand side copied from the step), ``structure`` (the
    checker names the computation the problem needs where the line restates the ``step``'s),
    ``recompute`` (the value of the left-hand side), ``difference`` (the subtraction the verdict
    reads), ``answer``, ``other`` (a part of another shape), ``length`` (one line stops early),
    ``verdict`` (every part agrees, the verdict does not), ``none`` (equal).

    Example:
        >>> divergence("Step 2: 24 is 24, 6 is 6; 24 - 6 = 18, 18 - 18 = 0. correct",
        ...            "Step 2: 24 is 22. incorrect")
        'lookup'
        >>> divergence("Step 1: 7 known, 38 known; 7 + 38 = 45, 45 - 45 = 0. correct",
        ...            "Step 1: 7 known, 38 known; 7 + 38 = 35, 45 - 35 = 10. incorrect")
        'recompute'
        >>> divergence("Step 3: 6 known; 6 x 47 = 282, 302 - 282 = 20. incorrect",
        ...            "Step 3: 6 known; 6 x 47 = 282, 302 - 282 = 0. correct")
        'difference'
        >>> divergence("Step 1: 33 is 33, 4 is 4; 33 - 25 = 8, 29 - 8 = 21. incorrect",
        ...            "Step 1: 33 is 33, 4 is 4; 33 - 4 = 29, 29 - 29 = 0. correct", "33 - 4 = 29 apples.")
        'structure'
    """
    if ref == gen:
        return "none"
    body = [re.split(r"[;,] ", line.split(":", 1)[-1].rsplit(". ", 1)[0].strip()) for line in (ref, gen)]
    for a, b in zip(*body, strict=False):
        if a == b:
            continue
        if a.startswith("the answer") or b.startswith("the answer"):
            return "answer"
        ta, tb = _TAG.match(a + " "), _TAG.match(b + " ")
        if ta or tb:
            return "restate" if not (ta and tb) or ta.group(1) != tb.group(1) else "lookup"
        da, db = _DIFF.match(a), _DIFF.match(b)
        if da and db and {da[1], da[2]} == {db[1], db[2]}:
            return "difference"
        if "=" in a and "=" in b:
            lhs = _norm(b.split("=")[0])
            if _norm(a.split("=")[0]) == lhs:
                return "recompute"
            restated = lhs and re.search(rf"(?<![\d.]){re.escape(lhs)}(?!\d|\.\d)", _norm(step))
            return "structure" if restated else "restate"
        return "other"
    return "length" if len(body[0]) != len(body[1]) else "verdict"


def divergences(bench, chains, preds) -> dict:
    """``{outcome: {part: n}}`` over the greedy chains that put the first error at a wrong step
    (outcome ``false_alarm``: a correct solution flagged; ``missed``, ``early``, ``late``): the
    part of the first line that departs from the checker's chain (:func:`divergence`)."""
    out: dict = {}
    for r, cs, p in zip(bench, chains, preds, strict=True):
        fe = int(r.first_error)
        if p == fe:
            continue
        outcome = "false_alarm" if fe < 0 else "missed" if p < 0 else "early" if p < fe else "late"
        ref, gen = reference_chain(r).splitlines(), cs[0].text.splitlines()
        i = next((j for j, (a, b) in enumerate(zip(ref, gen, strict=False)) if a != b), None)
        part = divergence(ref[i], gen[i], r.steps[i]) if i is not None else "length"
        got = out.setdefault(outcome, {})
        got[part] = got.get(part, 0) + 1
    return out


def evaluate_verifier(path: str, bench, gold, args) -> dict:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    probs, steps = [r.problem for r in bench], [r.steps for r in bench]
    out: dict = {}
    greedy = GenerativeScorer(model, tok, k=1, temperature=0.0, tool=args.tool)
    t0 = time.perf_counter()
    chains = greedy.sample(probs, steps)
    secs = time.perf_counter() - t0
    per = {k: round(v / len(bench), 1) for k, v in greedy.compute.items() if k != "solutions"}
    scores = {how: [greedy.scores_of(c, how=how) for c in chains] for how in ("mean", "vote")}
    for how, sc in scores.items():
        out[f"greedy_k1_{how}"] = {**f1_of(sc, gold), "per_solution": per, "seconds": round(secs, 1)}
    preds = [predict_first_error(sc) for sc in scores["mean"]]
    out["greedy_by_kind"] = by_kind(bench, preds)
    out["greedy_divergence"] = divergences(bench, chains, preds)
    samp = GenerativeScorer(
        model, tok, k=args.k_max, temperature=args.temperature, seed=args.seed, tool=args.tool
    )
    t0 = time.perf_counter()
    chains = samp.sample(probs, steps)
    secs = time.perf_counter() - t0
    for k in (1, 2, 4, 8):
        if k > args.k_max:
            continue
        gen = sum(sum(c.tokens for c in cs[:k]) for cs in chains) / len(bench)
        for how in ("mean", "vote"):
            # the old reading: a stopped chain's later steps vote 0 (share of chains clean up to the step)
            prefix = [aggregate([c.values(soft=how == "mean") for c in cs[:k]], how) for cs in chains]
            out[f"sampled_k{k}_{how}_prefix"] = f1_of(prefix, gold)
            out[f"sampled_k{k}_{how}"] = {
                **f1_of([samp.scores_of(cs, k=k, how=how) for cs in chains], gold),
                "per_solution": {"chains": k, "generated_tokens": round(gen, 1)},
            }
    out["sampled_seconds_k_max"] = round(secs, 1)
    out["sampled_compute_k_max"] = {
        k: round(v / len(bench), 1) for k, v in samp.compute.items() if k != "solutions"
    }
    return out


def add_bench_args(ap: argparse.ArgumentParser) -> None:
    """The held-out bench's flags (``make_bench(n_bench, seed=bench_seed, error_rate=...)``),
    shared by the verifier benchmarks."""
    ap.add_argument("--n-bench", type=int, default=300)
    ap.add_argument("--bench-seed", type=int, default=9001)
    ap.add_argument("--error-rate", type=float, default=0.15)


def diagnostic_setup(doc: str, name: str):
    """The command line shared by the verifier diagnostics (``generative_verifier_divergence.py``,
    ``generative_verifier_soft.py``): checkpoints, ``--lookup`` (the chain format they were
    trained on, made current), the bench flags and ``--out`` (``results/<name>.json``, updated).
    Returns ``(args, bench, out_path, out)``, ``out`` the JSON so far."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("verifiers", nargs="+", help="verifier checkpoints")
    ap.add_argument(
        "--lookup", choices=sorted(LOOKUPS), default="tag", help="the chain format they were trained on"
    )
    add_bench_args(ap)
    ap.add_argument("--out", default=str(RESULTS / f"{name}.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    use_lookup(args.lookup)
    bench = make_bench(args.n_bench, seed=args.bench_seed, error_rate=args.error_rate)
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {"benchmark": name}
    out["args"] = {k: v for k, v in vars(args).items() if k not in ("verifiers", "lookup")}
    return args, bench, out_path, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--regimes", nargs="+", default=["full:600:300", "small:100:60"])
    ap.add_argument("--seed", type=int, default=0, help="training pool seed (problems of seed != bench)")
    add_bench_args(ap)
    ap.add_argument(
        "--pool-error-rate",
        type=float,
        default=None,
        help="the training pool's error rate (default --error-rate)",
    )
    ap.add_argument(
        "--synthetic",
        type=int,
        default=0,
        help="add this many synthetic erroneous prefixes (forced policy errors after the pool's correct prefixes)",
    )
    for flag, mix, whose in (("--pool-error-weights", ERROR_WEIGHTS, "the training pool policy's"),
                             ("--synthetic-weights", (0.0, 0.6, 0.0, 0.4), "the synthetic errors'")):  # fmt: skip
        ap.add_argument(
            flag, type=float, nargs=4, default=mix, help=f"{whose} (slip, operand, operation, skip) error mix"
        )
    ap.add_argument(
        "--lookup",
        choices=sorted([*LOOKUPS, *TOOL_LOOKUPS]),
        default="tag",
        help="how the chains check operands (see LOOKUPS, TOOL_LOOKUPS)",
    )
    ap.add_argument(
        "--tool",
        default="none",
        help="chain tools the verifier calls (prmkit.scorers.chain_tools), e.g. calculator or calculator,lookup",
    )
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--verdict-weight", type=float, default=10.0, help="loss weight of the verdict tokens")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--k-max", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--eval-only", action="store_true", help="evaluate the verifiers already trained in --work"
    )
    ap.add_argument("--work", default="runs/bench-generative")
    ap.add_argument(
        "--base", default="arith-base", help="the base LM both PRMs start from (a packaged name or a path)"
    )
    ap.add_argument(
        "--positions", type=int, default=None, help="extend the base's RoPE positions (train --positions)"
    )
    ap.add_argument(
        "--classifier",
        action="store_true",
        help="also fine-tune a token-classification PRM from the base on the same labels",
    )
    ap.add_argument("--out", default=str(RESULTS / "generative_verifier.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    use_lookup(args.lookup)

    base = resolve_model(args.base)  # both PRMs start from it
    lm = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    tok = load_tokenizer(base)
    bench = make_bench(args.n_bench, seed=args.bench_seed, error_rate=args.error_rate)
    gold = [int(r.first_error) for r in bench]
    bench_feats = step_features_of(lm, tok, bench, 512)
    result = {"benchmark": "generative_verifier", "args": vars(args), "regimes": {},
              "machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()}}  # fmt: skip
    for spec in args.regimes:
        name, n_problems, steps = spec.split(":")
        t0 = time.perf_counter()
        pool = sample_pool(int(n_problems), 2, args.seed, args.pool_error_rate or args.error_rate,
                           tuple(args.pool_error_weights))  # fmt: skip
        recs = labelled(pool)
        row: dict = {"labelled_solutions": len(recs), "sft_steps": int(steps)}
        if args.synthetic:
            syn, kinds = synthetic_errors(pool, args.synthetic, args.seed, tuple(args.synthetic_weights))
            recs += labelled(syn)
            row["synthetic"] = {"records": len(syn), "kinds": kinds}
        feats = step_features_of(lm, tok, recs, 512)
        row["lm_likelihood"] = f1_on(fit_step_labels(recs, feats), bench_feats, gold)
        out_dir = f"{args.work}/{name}"
        if args.classifier:
            row["token_classification"] = classifier_baseline(
                recs, bench, gold, int(steps), f"{out_dir}-tc", args
            )
            print(json.dumps({name: {"token_classification": row["token_classification"]}}), flush=True)
        if args.eval_only:
            row["train"] = json.loads(Path(out_dir, "train_summary.json").read_text())["metrics"]
            row["verifier"] = evaluate_verifier(out_dir, bench, gold, args)
            result["regimes"][name] = row
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(json.dumps({name: row}), flush=True)
            continue
        res = train(TrainConfig(out=out_dir, model=args.base, format="generative", max_steps=int(steps),
                                batch_size=args.batch_size, lr=args.lr, threads=args.threads, seed=args.seed,
                                verdict_weight=args.verdict_weight, positions=args.positions,
                                verifier_tool=args.tool),
                    train_records=recs, eval_records=[])  # fmt: skip
        row["train"] = {"loss": round(res.metrics["train_loss"], 4), "seconds": res.metrics["train_runtime_s"],
                        "data": res.data_stats}  # fmt: skip
        row["verifier"] = evaluate_verifier(out_dir, bench, gold, args)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        result["regimes"][name] = row
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(json.dumps({name: row}), flush=True)
    floors = {}
    for name, row in result["regimes"].items():
        v = row["verifier"]
        best_k1 = max(v["greedy_k1_mean"]["f1"], v["sampled_k1_mean"]["f1"], v["sampled_k1_vote"]["f1"])
        floors[name] = {
            "greedy_ge_lm_likelihood": v["greedy_k1_mean"]["f1"] >= row["lm_likelihood"]["f1"],
            "greedy_ge_token_classification": (v["greedy_k1_mean"]["f1"] >= row["token_classification"]["f1"]
                                               if "token_classification" in row else None),
            "k8_vote_minus_sampled_k1": round(v.get("sampled_k8_vote", {}).get("f1", 0) - v["sampled_k1_vote"]["f1"], 2),
            "k8_mean_minus_sampled_k1": round(v.get("sampled_k8_mean", {}).get("f1", 0) - v["sampled_k1_mean"]["f1"], 2),
            "k8_best_minus_greedy": round(max(v.get("sampled_k8_vote", {}).get("f1", 0),
                                              v.get("sampled_k8_mean", {}).get("f1", 0)) - v["greedy_k1_mean"]["f1"], 2),
            "best_k1": best_k1,
        }  # fmt: skip
    result["floors"] = floors
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(floors, indent=1))


if __name__ == "__main__":
    main()
