"""Tiny fake policies and scorers for the search tests (hand-checkable outcomes)."""

from __future__ import annotations

import random
import re

from prmkit.policies.base import Generation, Policy
from prmkit.scorers.base import Scorer


class TreePolicy(Policy):
    """Steps are ``good K`` / ``bad K`` (random from seed, problem, prefix, index). After ``length``
    steps it writes ``The answer is 42`` when every step was good, else ``The answer is 7``.
    ``finish=False`` never finishes. Records every call in ``calls``."""

    def __init__(self, length: int = 3, p_good: float = 0.5, finish: bool = True, tokens_per_step: int = 4):
        self.length, self.p_good, self.finish, self.tps = length, p_good, finish, tokens_per_step
        self.calls: list[tuple[list[list[str]], int, int | None]] = []

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        self.calls.append(([list(p) for p in prefixes], n, max_steps))
        out = []
        for p, pre in zip(problems, prefixes, strict=True):
            gens = []
            for i in range(n):
                rng = random.Random(f"{seed}|{p.id}|{'/'.join(pre)}|{i}")
                cur, steps, finished = list(pre), [], False
                limit = max_steps if max_steps is not None else 1000
                while len(steps) < limit:
                    if self.finish and len(cur) >= self.length:
                        ans = 42 if all(s.startswith("good") for s in cur) else 7
                        steps.append(f"The answer is {ans}")
                        finished = True
                        break
                    s = f"{'good' if rng.random() < self.p_good else 'bad'} {rng.randrange(10**6)}"
                    steps.append(s)
                    cur.append(s)
                gens.append(Generation(steps, finished, num_tokens=self.tps * len(steps)))
            out.append(gens)
        return out


class GoodScorer(Scorer):
    """1.0 for a ``good`` step or ``answer is 42``; 0.0 otherwise. Counts calls."""

    def __init__(self):
        self.calls = 0

    def score_batch(self, problems, steps):
        self.calls += 1
        return [[1.0 if (s.startswith("good") or s.endswith("42")) else 0.0 for s in st] for st in steps]


class ScriptPolicy(Policy):
    """Returns scripted steps: call k gives ``script[k][i]`` for sample i (cycled); a step
    containing ``END`` finishes. Records calls."""

    def __init__(self, script: list[list[str]]):
        self.script = script
        self.calls: list[tuple[list[list[str]], int, int | None]] = []

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        k = min(len(self.calls), len(self.script) - 1)
        self.calls.append(([list(p) for p in prefixes], n, max_steps))
        row = self.script[k]
        out = []
        for j, _ in enumerate(prefixes):
            gens = []
            for i in range(n):
                s = row[(j * n + i) % len(row)]
                gens.append(Generation([s], "END" in s, num_tokens=len(s.split())))
            out.append(gens)
        return out


class NumberScorer(Scorer):
    """A step's score is the number after ``r`` in it (``r0.7 ...`` -> 0.7), else 0.5."""

    def score_batch(self, problems, steps):
        out = []
        for st in steps:
            row = []
            for s in st:
                m = re.search(r"r(\d(?:\.\d+)?)", s)
                row.append(float(m.group(1)) if m else 0.5)
            out.append(row)
        return out
