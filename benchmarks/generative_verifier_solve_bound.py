"""The ceiling of a solve-first verifier on this base: its own solutions with an exact check.

A verifier that solves first (``GenerativeScorer(solve=True)``, docs/methods.md H4) calls a step
correct when the step's results are numbers of the problem, of its own solution or of the
earlier steps, and its final answer is its own. This script takes the verifier's part that the
base LM already does, solving (greedy, and ``K`` solutions sampled at ``--temperature``; the
calculator feeds the value after each pure ``expression =`` as in the verifier), and does the
check exactly in Python instead of decoding it. Its first-error F1 is what a solve-first verifier
from this base reaches when its check makes no mistake: the bound its own solutions set.

``greedy_solved``: the problems whose greedy solution is right (the checker's verdict on every
step and the answer). ``--marker Solve:`` runs a solve verifier checkpoint's own solving instead
(``--k 0``: greedy only).

Readings per ``K`` (the first ``K`` of the sampled solutions): ``vote`` (a step passes when at
least half of the ``K`` solutions pass it: threshold 0.5) and ``any`` (when one of them does).

    .venv/bin/python benchmarks/generative_verifier_solve_bound.py --base runs/base-cont/model --k 16 \\
        --temperature 0.5 --out benchmarks/results/generative_verifier_solve_bound.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generative_verifier import RESULTS, add_bench_args, f1_of  # noqa: E402
from prmkit.models.packaged import resolve_model  # noqa: E402
from prmkit.models.tokenizer import load_tokenizer  # noqa: E402
from prmkit.scorers.chain_tools import get_tool  # noqa: E402
from prmkit.worlds.arith import check_steps, make_bench  # noqa: E402
from prmkit.worlds.arith_parse import parse_number, parse_step  # noqa: E402

NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Solver:
    """The base LM writing a solution after ``problem \\n`` (greedy or sampled), one token at a
    time with its KV cache, the calculator feeding as in the verifier; stops after the line that
    states an answer (or 400 tokens)."""

    def __init__(self, path: str, seed: int, marker: str = "") -> None:
        self.tok = load_tokenizer(path)
        #: fed after the problem's newline: a solve verifier's ``Solve:`` (then a newline)
        self.marker = self.tok(marker, add_special_tokens=False)["input_ids"] if marker else []
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.calc = get_tool("calculator")
        self.pieces = [self.tok.decode([i]) for i in range(len(self.tok))]
        self.nl = self.tok("\n", add_special_tokens=False)["input_ids"][-1]
        self.gen = torch.Generator().manual_seed(seed)

    @torch.inference_mode()
    def solve(self, problem: str, temperature: float) -> str:
        ids = self.tok(problem, add_special_tokens=False)["input_ids"] + [self.nl]
        if self.marker:
            ids += [*self.marker, self.nl]
        out = self.model(torch.tensor([ids]), use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
        text, line, fed = "", "", []
        for _ in range(400):
            if fed:
                t = fed.pop(0)
            elif temperature == 0:
                t = int(logits.argmax())
            else:
                t = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=self.gen))
            if t == self.tok.eos_token_id:
                break
            p = self.pieces[t]
            text += p
            if "\n" in p:
                if line.lower().startswith("the answer"):
                    break
                line = ""
            else:
                line += p
                if not fed:
                    f = self.calc.complete(line)
                    if f is not None:
                        fed = self.tok(f, add_special_tokens=False)["input_ids"]
            out = self.model(torch.tensor([[t]]), past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[0, -1]
        return text


def check(problem: str, own: str, steps: list[str]) -> list[bool]:
    """Per step: every equation true with its result a number of the problem, the own solution
    or the earlier steps, a stated answer equal to the own solution's last one, and at least one
    of the two (the check the ``solve`` chains teach, done exactly).

    Example:
        >>> check("4 bunches of 3. She uses 4.", "4 x 3 = 12.\\n12 - 4 = 8.\\nThe answer is 8.",
        ...       ["4 x 3 = 12.", "12 - 4 = 9.", "The answer is 9."])
        [True, False, False]
    """
    known = {parse_number(x) for x in NUMBER.findall(problem + " " + own)}
    answers = [a for a in (parse_step(x).answer for x in own.splitlines()) if a is not None]
    own_answer = answers[-1] if answers else None
    out = []
    for i, s in enumerate(steps):
        ps = parse_step(s)
        seen = known | {parse_number(x) for x in NUMBER.findall(" ".join(steps[:i]))}
        ok = bool(ps.equations) or ps.answer is not None
        for e in ps.equations:
            ok &= e.true and e.result in seen
        if ps.answer is not None:
            ok &= ps.answer == own_answer
        out.append(ok)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="arith-base")
    ap.add_argument("--k", type=int, default=16, help="sampled solutions per problem (0: greedy only)")
    ap.add_argument(
        "--marker", default="", help="fed after the problem (a solve verifier checkpoint: --marker Solve:)"
    )
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    add_bench_args(ap)
    ap.add_argument("--out", default=str(RESULTS / "generative_verifier_solve_bound.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    solver = Solver(resolve_model(args.base), args.seed, args.marker)
    bench = make_bench(args.n_bench, seed=args.bench_seed, error_rate=args.error_rate)
    gold = [int(r.first_error) for r in bench]
    t0 = time.perf_counter()
    greedy, sampled, solved = [], [], 0
    for r in bench:
        own = solver.solve(r.problem, 0.0)
        solved += check_steps(r, [x for x in own.splitlines() if x.strip()]).first_error == -1
        greedy.append([float(x) for x in check(r.problem, own, r.steps)])
        sampled.append(
            [check(r.problem, solver.solve(r.problem, args.temperature), r.steps) for _ in range(args.k)]
        )
    result = {"benchmark": "generative_verifier_solve_bound", "args": vars(args),
              "seconds": round(time.perf_counter() - t0, 1), "greedy_solved": [solved, len(bench)],
              "greedy": f1_of(greedy, gold), "sampled": {}}  # fmt: skip
    k = 1
    while k <= args.k:
        share = [[sum(c[i] for c in cs[:k]) / k for i in range(len(cs[0]))] for cs in sampled]
        result["sampled"][k] = {"vote": f1_of(share, gold), "any": f1_of(share, gold, 0.5 / k)}
        k *= 2
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
