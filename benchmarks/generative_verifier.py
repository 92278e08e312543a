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
import hashlib
import json
import platform
import random
import re
import sys
import time
import zlib
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
from prmkit.records import Solution, first_error_of, labels_from_first_error  # noqa: E402
from prmkit.scorers.base import read_prmkit_json  # noqa: E402
from prmkit.scorers.chain_tools import get_tool, step_contexts  # noqa: E402
from prmkit.scorers.generative import GenerativeScorer, aggregate  # noqa: E402
from prmkit.scorers.likelihood import apply_head  # noqa: E402
from prmkit.train import TrainConfig, train  # noqa: E402
from prmkit.train.generative import META_CHAIN, chain_solution  # noqa: E402
from prmkit.train.likelihood import step_features_of  # noqa: E402
from prmkit.worlds import arith_verify  # noqa: E402
from prmkit.worlds.arith import check_steps, make_bench  # noqa: E402
from prmkit.worlds.arith_parse import format_number, parse_step  # noqa: E402
from prmkit.worlds.arith_policy import ERROR_WEIGHTS, ArithPolicy  # noqa: E402
from prmkit.worlds.arith_spec import get_spec  # noqa: E402

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
#: chain writers of their own (not a lookup swapped into the checker's chains)
WRITERS = ("solve",)
_writer: list = []  # the writer of this process (``use_lookup``), if any
#: the policy writing the verifier's own solutions in the training chains: correct, varied as
#: the base's pretraining text is
_SOLVER = ArithPolicy(error_rate=0.0, miracle_rate=0.0, diversity=0.5)


def own_solution(record) -> list[str]:
    """A correct solution of ``record``'s problem (:data:`_SOLVER`; one per record id)."""
    p = problem_from_solution(record)
    return list(_SOLVER.sample_one(p, seed=zlib.crc32(record.id.encode())).steps)


def solve_chain(record, solution=None) -> str:
    """The chain of a verifier that solves the problem first (``GenerativeScorer(solve=True)``):
    ``Solve:``, its own solution (``solution``, default :func:`own_solution`), then one line per
    step up to the first incorrect: each equation's stated result and what the ``lookup`` tool
    finds for it in the problem, the own solution and the earlier steps (``54 is 54 candies``:
    a result of a correct step is one of the problem's quantities, all in the own solution; an
    error's is none of them, the world's policy makes every error so), and a stated answer
    against the own one (``the answer is 24, 48 - 24 = 24``). The verdicts are the checker's;
    a line whose checks all pass on a step the checker calls incorrect ends with the checker's
    reason instead (``no answer``, a false equation: ``5 x 3 = 16 is false``).

    Example:
        >>> from prmkit.worlds.arith_spec import generate_problems
        >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
        >>> r = Solution(id="x", problem=p.question, steps=["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons."],
        ...              labels=[1, 0], meta=p.meta)
        >>> print(solve_chain(r, ["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."]))
        Solve:
        4 x 3 = 12 balloons.
        12 - 4 = 8 balloons.
        The answer is 8.
        Step 1: 12 is 12 balloons. correct
        Step 2: 9 is 8 balloons. incorrect
    """
    sol = own_solution(record) if solution is None else list(solution)
    spec = get_spec(record)
    fe = first_error_of(record.labels)
    ctx = step_contexts(record.problem, record.steps, "\n".join(sol))
    lookup = get_tool("lookup")
    own = [parse_step(x).answer for x in sol]
    own_answer = next((a for a in reversed(own) if a is not None), spec.answer)
    lines = []
    for i, st in enumerate(record.steps):
        correct = i != fe
        try:
            parsed = parse_step(st)
        except (ValueError, RecursionError, OverflowError):
            parsed = None
        parts, ok = [], parsed is not None and (bool(parsed.equations) or parsed.answer is not None)
        for e in parsed.equations if parsed else ():
            v = format_number(e.result)
            found = lookup.complete(f" {v} is", ctx[i]) or ""
            parts.append(f"{v} is{found}")
            if found.split()[:1] != [v]:
                ok = False
                break
        if ok and parsed.answer is not None:
            parts.append(
                f"the answer is {format_number(parsed.answer)}, {arith_verify._diff(own_answer, parsed.answer)}"
            )
            ok = parsed.answer == own_answer
        if ok and not correct:  # every check passes: the checker's reason
            bad = next((e for e in parsed.equations if not e.true), None)
            parts.append(f"{bad.text} is false" if bad is not None else "no answer")
        if not parts:
            parts = ["no equation"]
        lines.append(arith_verify.chain_line(i + 1, ", ".join(parts), correct))
        if not correct:
            break
    return "\n".join(["Solve:", *sol, *lines])


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
    if _writer:
        return solve_chain(record)
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
    _writer.clear()
    if name in WRITERS:
        _writer.append(name)
    if name in TOOL_LOOKUPS:
        _rewrite.append(get_tool(TOOL_LOOKUPS[name]))
    arith_verify._tags = LOOKUPS["is" if name in TOOL_LOOKUPS or name in WRITERS else name]


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
    if _rewrite or _writer:
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


def step_lines(chain: str) -> list[str]:
    """The ``Step i:`` lines of a chain (without the own solution a ``solve`` chain opens with)."""
    return [line for line in chain.splitlines() if line.startswith("Step ")]


def solves(record, solution) -> bool:
    """Whether ``solution`` (lines) solves ``record``'s problem: no error, the right answer."""
    return check_steps(problem_from_solution(record), [x for x in solution if x.strip()]).first_error == -1


def divergences(bench, chains, preds) -> dict:
    """``{outcome: {part: n}}`` over the greedy chains that put the first error at a wrong step
    (outcome ``false_alarm``: a correct solution flagged; ``missed``, ``early``, ``late``): the
    part of the first line that departs from the checker's chain (:func:`divergence`);
    ``solution``: a ``solve`` chain whose own solution is wrong."""
    out: dict = {}
    for r, cs, p in zip(bench, chains, preds, strict=True):
        fe = int(r.first_error)
        if p == fe:
            continue
        outcome = "false_alarm" if fe < 0 else "missed" if p < 0 else "early" if p < fe else "late"
        ref, gen = (step_lines(reference_chain(r)), step_lines(cs[0].text))
        own = chain_solution(cs[0].text)
        if own is not None and not solves(r, own):  # a solve chain whose own solution is wrong
            got = out.setdefault(outcome, {})
            got["solution"] = got.get("solution", 0) + 1
            continue
        i = next((j for j, (a, b) in enumerate(zip(ref, gen, strict=False)) if a != b), None)
        part = divergence(ref[i], gen[i], r.steps[i]) if i is not None else "length"
        got = out.setdefault(outcome, {})
        got[part] = got.get(part, 0) + 1
    return out


#: thresholds a dev bench chooses from (``--dev-seed``): between the vote levels of K <= 16
THRESHOLDS = (1 / 32, *(x / 16 for x in range(1, 16)))


def dev_threshold(scores, gold) -> float:
    """The threshold of :data:`THRESHOLDS` with the best first-error F1 on a dev bench (ties: the
    one nearest 0.5, then the lower)."""
    return max(THRESHOLDS, key=lambda t: (f1_of(scores, gold, t)["f1"], -abs(t - 0.5), -t))


def with_dev(scores, gold, dev_scores=None, dev_gold=None) -> dict:
    """F1 at threshold 0.5 and, with a dev bench, ``dev``: at the threshold chosen there."""
    out = f1_of(scores, gold)
    if dev_scores is not None:
        t = dev_threshold(dev_scores, dev_gold)
        out["dev"] = {
            "threshold": t,
            **f1_of(scores, gold, t),
            "dev_f1": f1_of(dev_scores, dev_gold, t)["f1"],
        }
    return out


def cached_features(lm, tok, recs, base: str, work: str) -> list:
    """``step_features_of(lm, tok, recs, 512)``, kept in ``work`` under a hash of the base and
    the records (their ids, steps and labels): the ``lm-likelihood`` features of the training
    records are the same for every run on the same records (a few minutes each time)."""
    key = hashlib.sha256(
        json.dumps([str(base), [(r.id, r.steps, r.labels) for r in recs]]).encode()
    ).hexdigest()[:16]
    path = Path(work, f"lm-features-{key}.pt")
    if path.exists():
        return torch.load(path)
    feats = step_features_of(lm, tok, recs, 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(feats, path)
    return feats


def head_scores(head, feats) -> list:
    """The ``lm-likelihood`` head's step scores of features (``step_features_of``)."""
    return [[None if f is None else apply_head(f, head) for f in row] for row in feats]


def verifier_scores(model, tok, solve: bool, bench, args, meta=None) -> tuple[dict, dict]:
    """Step scores of one bench: ``{variant: scores}`` (``greedy_k1_{mean,vote}``,
    ``sampled_k{K}_{mean,vote}`` and the ``_prefix`` reading) and what else was measured (the
    greedy chains and predictions, compute, seconds)."""
    probs, steps = [r.problem for r in bench], [r.steps for r in bench]
    options = {"solver": args.solver, "meta": meta} if args.solver else {}
    if args.check_temperature is not None:
        options["check_temperature"] = args.check_temperature
    greedy = GenerativeScorer(model, tok, k=1, temperature=0.0, tool=args.tool, solve=solve, **options)
    if greedy.solver is not None:  # loaded once: the sampled scorer shares it
        options["solver"] = greedy.solver
    t0 = time.perf_counter()
    chains = greedy.sample(probs, steps)
    info: dict = {"greedy_seconds": round(time.perf_counter() - t0, 1), "greedy_chains": chains}
    info["greedy_per_solution"] = {
        k: round(v / len(bench), 1) for k, v in greedy.compute.items() if k != "solutions"
    }
    scores = {f"greedy_k1_{how}": [greedy.scores_of(c, how=how) for c in chains] for how in ("mean", "vote")}
    samp = GenerativeScorer(
        model,
        tok,
        k=args.k_max,
        temperature=args.temperature,
        seed=args.seed,
        tool=args.tool,
        solve=solve,
        **options,
    )
    t0 = time.perf_counter()
    chains = samp.sample(probs, steps)
    info["sampled_seconds_k_max"] = round(time.perf_counter() - t0, 1)
    info["sampled_compute_k_max"] = {
        k: round(v / len(bench), 1) for k, v in samp.compute.items() if k != "solutions"
    }
    for k in (1, 2, 4, 8, 16, 32):
        if k > args.k_max:
            continue
        info[f"generated_k{k}"] = round(sum(sum(c.tokens for c in cs[:k]) for cs in chains) / len(bench), 1)
        for how in ("mean", "vote"):
            # the old reading: a stopped chain's later steps vote 0 (share of chains clean up to the step)
            scores[f"sampled_k{k}_{how}_prefix"] = [
                aggregate([c.values(soft=how == "mean") for c in cs[:k]], how) for cs in chains
            ]
            scores[f"sampled_k{k}_{how}"] = [samp.scores_of(cs, k=k, how=how) for cs in chains]
    return scores, info


def evaluate_verifier(path: str, bench, gold, args, dev=None) -> dict:
    """The verifier at ``path`` on ``bench``: F1 of every variant (:func:`verifier_scores`) at 0.5
    and, with a ``dev`` bench (another seed), at the threshold chosen on it (``dev``)."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    meta = read_prmkit_json(path)
    solve = bool((meta.get("verifier") or {}).get("solve"))
    scores, info = verifier_scores(model, tok, solve, bench, args, meta)
    dev_scores, dev_gold = (
        ({}, None)
        if dev is None
        else (verifier_scores(model, tok, solve, dev, args, meta)[0], [int(r.first_error) for r in dev])
    )
    out: dict = {}
    for name, sc in scores.items():
        got = with_dev(sc, gold, dev_scores.get(name), dev_gold)
        if name.startswith("greedy"):
            got |= {"per_solution": info["greedy_per_solution"], "seconds": info["greedy_seconds"]}
        elif not name.endswith("_prefix"):
            k = int(name.split("_")[1][1:])
            got["per_solution"] = {"chains": k, "generated_tokens": info[f"generated_k{k}"]}
        out[name] = got
    preds = [predict_first_error(sc) for sc in scores["greedy_k1_mean"]]
    out["greedy_by_kind"] = by_kind(bench, preds)
    out["greedy_divergence"] = divergences(bench, info["greedy_chains"], preds)
    out["sampled_seconds_k_max"] = info["sampled_seconds_k_max"]
    out["sampled_compute_k_max"] = info["sampled_compute_k_max"]
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
        choices=sorted([*LOOKUPS, *TOOL_LOOKUPS, *WRITERS]),
        default="tag",
        help="how the chains check operands (see LOOKUPS, TOOL_LOOKUPS)",
    )
    ap.add_argument(
        "--tool",
        default="none",
        help="chain tools the verifier calls (prmkit.scorers.chain_tools), e.g. calculator or calculator,lookup",
    )
    ap.add_argument(
        "--dev-seed",
        type=int,
        default=None,
        help="also report every PRM at the threshold chosen on a bench of this seed (make_bench(n_bench, seed))",
    )
    ap.add_argument(
        "--no-solution-loss",
        action="store_true",
        help="solve chains: the verifier's own solution is context only (TrainConfig.verifier_solution_loss=False)",
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
        "--check-temperature",
        type=float,
        default=None,
        help="the sampled chains' check lines at this temperature (GenerativeScorer check_temperature=)",
    )
    ap.add_argument(
        "--solver",
        default=None,
        help="with a solve verifier: the LM that writes its solution (GenerativeScorer solver=; 'base': its base LM)",
    )
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
    dev = None
    if args.dev_seed is not None:  # thresholds chosen on another seed's bench
        dev = make_bench(args.n_bench, seed=args.dev_seed, error_rate=args.error_rate)
        dev_gold = [int(r.first_error) for r in dev]
        dev_feats = step_features_of(lm, tok, dev, 512)
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
        feats = cached_features(lm, tok, recs, base, args.work)
        head = fit_step_labels(recs, feats)
        row["lm_likelihood"] = f1_on(head, bench_feats, gold)
        if dev is not None:
            row["lm_likelihood"] = with_dev(
                head_scores(head, bench_feats), gold, head_scores(head, dev_feats), dev_gold
            )
        out_dir = f"{args.work}/{name}"
        if args.classifier:
            row["token_classification"] = classifier_baseline(
                recs, bench, gold, int(steps), f"{out_dir}-tc", args
            )
            print(json.dumps({name: {"token_classification": row["token_classification"]}}), flush=True)
        if args.eval_only:
            row["train"] = json.loads(Path(out_dir, "train_summary.json").read_text())["metrics"]
            row["verifier"] = evaluate_verifier(out_dir, bench, gold, args, dev)
            result["regimes"][name] = row
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(json.dumps({name: row}), flush=True)
            continue
        res = train(TrainConfig(out=out_dir, model=args.base, format="generative", max_steps=int(steps),
                                batch_size=args.batch_size, lr=args.lr, threads=args.threads, seed=args.seed,
                                verdict_weight=args.verdict_weight, positions=args.positions,
                                verifier_tool=args.tool, verifier_solution_loss=not args.no_solution_loss),
                    train_records=recs, eval_records=[])  # fmt: skip
        row["train"] = {"loss": round(res.metrics["train_loss"], 4), "seconds": res.metrics["train_runtime_s"],
                        "data": res.data_stats}  # fmt: skip
        row["verifier"] = evaluate_verifier(out_dir, bench, gold, args, dev)
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
