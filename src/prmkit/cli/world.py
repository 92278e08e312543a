"""``prmkit world ...``: built-in worlds (arithmetic problems, benchmarks, pools; GSM8K perturbation).

Thin wrappers: flags -> config dataclass (``--config recipe.yaml`` + flags) -> library function.
"""

from __future__ import annotations

import typer

from prmkit.cli.app import app
from prmkit.config import build_config

world_app = typer.Typer(help="Built-in worlds with exact step truth.", no_args_is_help=True)
arith_app = typer.Typer(
    help="The arithmetic world: problems, benchmarks, best-of-N pools.", no_args_is_help=True
)
world_app.add_typer(arith_app, name="arith")
app.add_typer(world_app, name="world")

_CONFIG = typer.Option(None, "--config", help="YAML recipe (flags override it).")
_SEED = typer.Option(None, "--seed", help="Random seed (default 0).")
_MIN_OPS = typer.Option(None, "--min-ops", help="Fewest operations per problem (default 2).")
_MAX_OPS = typer.Option(None, "--max-ops", help="Most operations per problem (default 8).")
_MAX_VALUE = typer.Option(None, "--max-value", help="Largest value of any quantity (default 1000).")
_DISTRACT = typer.Option(None, "--distractors/--no-distractors", help="Unused numbers in problems.")


def _common(seed, min_ops, max_ops, max_value, distractors) -> dict:
    return {
        "seed": seed,
        "min_ops": min_ops,
        "max_ops": max_ops,
        "max_value": max_value,
        "distractors": distractors,
    }


@arith_app.command("problems")
def problems_cmd(
    n: int = typer.Option(None, "--n", help="Number of problems (default 100)."),
    out: str = typer.Option(None, "--out", help="Output problems JSONL."),
    seed: int = _SEED,
    min_ops: int = _MIN_OPS,
    max_ops: int = _MAX_OPS,
    max_value: int = _MAX_VALUE,
    distractors: bool = _DISTRACT,
    config: str = _CONFIG,
) -> None:
    """Write arithmetic word problems (with their specs) for labelling or search."""
    from prmkit.worlds.arith_tasks import ArithProblemsConfig, run_arith_problems

    cfg = build_config(
        ArithProblemsConfig,
        config,
        {"n": n, "out": out, **_common(seed, min_ops, max_ops, max_value, distractors)},
    )
    k = run_arith_problems(cfg)
    typer.echo(f"wrote {k} problems to {cfg.out}")


@arith_app.command("bench")
def bench_cmd(
    n: int = typer.Option(None, "--n", help="Number of records (default 1000)."),
    out: str = typer.Option(None, "--out", help="Output file."),
    format: str = typer.Option(None, "--format", help="canonical | processbench (default canonical)."),
    wrong_fraction: float = typer.Option(None, "--wrong-fraction", help="Fraction with an error (0.5)."),
    error_rate: float = typer.Option(None, "--error-rate", help="Policy per-step error rate (0.2)."),
    miracle_rate: float = typer.Option(None, "--miracle-rate", help="Compensating-error rate (0.02)."),
    diversity: float = typer.Option(None, "--diversity", help="Phrasing/order variation (0.5)."),
    seed: int = _SEED,
    min_ops: int = _MIN_OPS,
    max_ops: int = _MAX_OPS,
    max_value: int = _MAX_VALUE,
    distractors: bool = _DISTRACT,
    config: str = _CONFIG,
) -> None:
    """Write a ProcessBench-style benchmark with exact first-error labels."""
    from prmkit.worlds.arith_tasks import ArithBenchConfig, run_arith_bench

    flags = {
        "n": n,
        "out": out,
        "format": format,
        "wrong_fraction": wrong_fraction,
        "error_rate": error_rate,
        "miracle_rate": miracle_rate,
        "diversity": diversity,
        **_common(seed, min_ops, max_ops, max_value, distractors),
    }
    cfg = build_config(ArithBenchConfig, config, flags)
    k = run_arith_bench(cfg)
    typer.echo(f"wrote {k} records to {cfg.out}")


@arith_app.command("pool")
def pool_cmd(
    n_problems: int = typer.Option(None, "--n-problems", help="Number of problems (default 100)."),
    n: int = typer.Option(None, "--n", help="Solutions per problem (default 8)."),
    out: str = typer.Option(None, "--out", help="Output records JSONL."),
    error_rate: float = typer.Option(None, "--error-rate", help="Policy per-step error rate (0.15)."),
    miracle_rate: float = typer.Option(None, "--miracle-rate", help="Compensating-error rate (0.02)."),
    diversity: float = typer.Option(None, "--diversity", help="Phrasing/order variation (0.5)."),
    seed: int = _SEED,
    min_ops: int = _MIN_OPS,
    max_ops: int = _MAX_OPS,
    max_value: int = _MAX_VALUE,
    distractors: bool = _DISTRACT,
    config: str = _CONFIG,
) -> None:
    """Write a best-of-N pool: N sampled solutions per problem with exact correctness."""
    from prmkit.worlds.arith_tasks import ArithPoolConfig, run_arith_pool

    flags = {
        "n_problems": n_problems,
        "n": n,
        "out": out,
        "error_rate": error_rate,
        "miracle_rate": miracle_rate,
        "diversity": diversity,
        **_common(seed, min_ops, max_ops, max_value, distractors),
    }
    cfg = build_config(ArithPoolConfig, config, flags)
    k = run_arith_pool(cfg)
    typer.echo(f"wrote {k} solutions to {cfg.out}")


@world_app.command("gsm8k-perturb")
def gsm8k_perturb_cmd(
    in_: str = typer.Option(..., "--in", help="GSM8K JSONL (question, answer with <<a*b=c>> tags)."),
    out: str = typer.Option(None, "--out", help="Output file (canonical JSONL, or ProcessBench)."),
    seed: int = _SEED,
    rate: float = typer.Option(None, "--rate", help="Fraction of solutions given one error (0.5)."),
    limit: int = typer.Option(None, "--limit", help="Read at most this many problems."),
    format: str = typer.Option(None, "--format", help="canonical | processbench (default canonical)."),
    keep_tags: bool = typer.Option(None, "--keep-tags/--strip-tags", help="Keep <<...>> in step text."),
    config: str = _CONFIG,
) -> None:
    """Real GSM8K solutions with one injected calculation error in about half of them."""
    from prmkit.worlds.gsm8k_perturb import Gsm8kPerturbConfig, run_gsm8k_perturb

    flags = {
        "path": in_,
        "out": out,
        "seed": seed,
        "rate": rate,
        "limit": limit,
        "format": format,
        "keep_tags": keep_tags,
    }
    cfg = build_config(Gsm8kPerturbConfig, config, flags)
    k = run_gsm8k_perturb(cfg)
    typer.echo(f"wrote {k} records to {cfg.out}")
