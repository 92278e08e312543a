"""Config dataclasses and file-writing entry points behind ``prmkit world ...`` commands.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "bench.jsonl")
    >>> run_arith_bench(ArithBenchConfig(n=4, seed=0, out=out))
    4
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.config import check_choice, check_min, check_range
from prmkit.errors import PrmkitError
from prmkit.records import write_problems, write_records, write_text_atomic

_FORMATS = ("canonical", "processbench")


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class ArithProblemOptions:
    """Options shared by every arithmetic-world command."""

    seed: int = field(default=0, metadata=_h("random seed (same seed -> same output)"))
    min_ops: int = field(default=2, metadata=_h("fewest operations per problem"))
    max_ops: int = field(default=8, metadata=_h("most operations per problem"))
    max_value: int = field(default=1000, metadata=_h("largest value of any quantity"))
    max_given: int = field(default=50, metadata=_h("largest number stated for + and -"))
    distractors: bool = field(default=True, metadata=_h("add unused numbers to some problems"))

    def __post_init__(self) -> None:
        def own(*names: str) -> list[str]:  # the subclasses add some of these fields
            return [n for n in names if hasattr(self, n)]

        check_min(self, 1, "min_ops", "max_value", "max_given", *own("n", "n_problems"))
        check_min(self, self.min_ops, "max_ops")
        check_range(self, 0.0, 1.0, *own("wrong_fraction", "error_rate", "miracle_rate", "diversity"))
        if hasattr(self, "format"):
            check_choice(self, "format", _FORMATS)

    def problem_kwargs(self) -> dict[str, Any]:
        return {
            "min_ops": self.min_ops,
            "max_ops": self.max_ops,
            "max_value": self.max_value,
            "max_given": self.max_given,
            "distractors": self.distractors,
        }


@dataclass
class ArithProblemsConfig(ArithProblemOptions):
    n: int = field(default=100, metadata=_h("number of problems"))
    out: str = field(default="arith_problems.jsonl", metadata=_h("output problems JSONL"))


@dataclass
class ArithBenchConfig(ArithProblemOptions):
    n: int = field(default=1000, metadata=_h("number of records (one per problem)"))
    out: str = field(default="arith_bench.jsonl", metadata=_h("output file"))
    format: str = field(default="canonical", metadata=_h("canonical | processbench"))
    wrong_fraction: float = field(default=0.5, metadata=_h("fraction of records with an error"))
    error_rate: float = field(default=0.2, metadata=_h("policy per-step error probability"))
    miracle_rate: float = field(default=0.02, metadata=_h("compensating-error probability"))
    diversity: float = field(default=0.5, metadata=_h("phrasing/order variation in [0, 1]"))


@dataclass
class ArithPoolConfig(ArithProblemOptions):
    n_problems: int = field(default=100, metadata=_h("number of problems"))
    n: int = field(default=8, metadata=_h("solutions per problem"))
    out: str = field(default="arith_pool.jsonl", metadata=_h("output records JSONL"))
    error_rate: float = field(default=0.15, metadata=_h("policy per-step error probability"))
    miracle_rate: float = field(default=0.02, metadata=_h("compensating-error probability"))
    diversity: float = field(default=0.5, metadata=_h("phrasing/order variation in [0, 1]"))


def run_arith_problems(cfg: ArithProblemsConfig) -> int:
    """Write ``cfg.n`` problems (with their specs) to ``cfg.out``; returns the count."""
    from prmkit.worlds.arith import generate_problems

    return write_problems(cfg.out, generate_problems(cfg.n, cfg.seed, **cfg.problem_kwargs()))


def run_arith_bench(cfg: ArithBenchConfig) -> int:
    """Write a ProcessBench-style benchmark (canonical records or ProcessBench JSON/JSONL)."""
    from prmkit.worlds.arith import make_bench

    if cfg.format not in _FORMATS:
        raise PrmkitError(f"unknown format {cfg.format!r}; known: {', '.join(_FORMATS)}", field="format")
    recs = make_bench(
        cfg.n,
        cfg.seed,
        wrong_fraction=cfg.wrong_fraction,
        error_rate=cfg.error_rate,
        miracle_rate=cfg.miracle_rate,
        diversity=cfg.diversity,
        **cfg.problem_kwargs(),
    )
    if cfg.format == "canonical":
        return write_records(cfg.out, recs)
    return write_processbench(cfg.out, recs)


def write_processbench(path: str, recs: list) -> int:
    """ProcessBench records: a JSON array for ``.json``, one object per line otherwise."""
    from prmkit.worlds.arith import solution_to_processbench

    rows = [solution_to_processbench(r) for r in recs]
    if Path(path).suffix == ".json":
        text = json.dumps(rows, ensure_ascii=False, indent=1)
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_text_atomic(path, text)  # all-or-nothing
    return len(rows)


def run_arith_pool(cfg: ArithPoolConfig) -> int:
    """Write a best-of-N pool: ``cfg.n`` sampled solutions for each of ``cfg.n_problems`` problems."""
    from prmkit.worlds.arith import generate_problems, make_bon_pool
    from prmkit.worlds.arith_policy import ArithPolicy

    probs = generate_problems(cfg.n_problems, cfg.seed, **cfg.problem_kwargs())
    pol = ArithPolicy(error_rate=cfg.error_rate, miracle_rate=cfg.miracle_rate, diversity=cfg.diversity)
    return write_records(cfg.out, make_bon_pool(probs, cfg.n, pol, seed=cfg.seed))
