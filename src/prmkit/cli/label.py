"""``prmkit label``: step labels from policy rollouts (thin wrapper over :func:`prmkit.label.run_labelling`)."""

from __future__ import annotations

from typing import Any

import typer

from prmkit.cli.app import app


def parse_kv(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values read as YAML scalars (``0.2`` -> float, ``true`` -> bool).

    Example:
        >>> parse_kv(["error_rate=0.2", "name=x", "early_stop=true"], "--policy-opt")
        {'error_rate': 0.2, 'name': 'x', 'early_stop': True}
    """
    import yaml

    from prmkit.errors import PrmkitError

    out: dict[str, Any] = {}
    for p in pairs or []:
        key, sep, val = p.partition("=")
        if not sep or not key.strip():
            raise PrmkitError(f"expected KEY=VALUE, got {p!r}", field=flag)
        try:
            out[key.strip()] = yaml.safe_load(val) if val.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = val
    return out


@app.command("label")
def label_cmd(
    input: str | None = typer.Option(None, "--in", help="Canonical solutions or problems (JSONL)."),
    out: str | None = typer.Option(None, "--out", help="Output directory (shards, manifest, summary)."),
    policy: str | None = typer.Option(None, "--policy", help="Policy: arith, hf, openai, or module:Class."),
    policy_opt: list[str] | None = typer.Option(
        None, "--policy-opt", help="Policy option KEY=VALUE (repeat)."
    ),
    method: str | None = typer.Option(None, "--method", help="mc, binary, adaptive, judge or consensus."),
    label_opt: list[str] | None = typer.Option(
        None, "--label-opt", help="Labeller option KEY=VALUE (repeat)."
    ),
    n: int | None = typer.Option(None, "--n", help="Rollouts per estimate (default: the labeller's, 8)."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (0)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue a run in --out, skipping finished batches."
    ),
    executor: str | None = typer.Option(None, "--executor", help="local (default) or ray."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Input records per batch/shard (16)."),
    input_kind: str | None = typer.Option(None, "--input-kind", help="auto (default), solutions, problems."),
    samples_per_problem: int | None = typer.Option(None, "--samples-per-problem", help="Problem input (4)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cap on steps per rollout."),
    scan: bool = typer.Option(False, "--scan", help="SCAN denoising: self-confidence filter + tolerance."),
    scan_min_confidence: float | None = typer.Option(
        None, "--scan-min-confidence", help="SCAN SC filter (0.75)."
    ),
    scan_samples: int | None = typer.Option(None, "--scan-samples", help="Samples per problem for SC."),
    scan_tolerance: bool | None = typer.Option(
        None, "--scan-tolerance/--no-scan-tolerance", help="SCAN soft labels."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster address (default: local)."
    ),
    num_cpus: int | None = typer.Option(None, "--num-cpus", help="CPUs of a locally started Ray."),
    config: str | None = typer.Option(None, "--config", help="YAML recipe with these options."),
) -> None:
    """Label solution steps with MC rollouts, binary search, adaptive sampling, a judge or consensus."""
    import json

    from prmkit.config import build_config
    from prmkit.label.runner import LabelConfig, run_labelling
    from prmkit.progress import is_quiet

    flags = dict(
        input=input,
        out=out,
        policy=policy,
        method=method,
        n=n,
        seed=seed,
        resume=resume or None,
        executor=executor,
        batch_size=batch_size,
        input_kind=input_kind,
        samples_per_problem=samples_per_problem,
        max_steps=max_steps,
        scan=scan or None,
        scan_min_confidence=scan_min_confidence,
        scan_samples=scan_samples,
        scan_tolerance=scan_tolerance,
        ray_address=ray_address,
        num_cpus=num_cpus,
        quiet=is_quiet() or None,
    )
    cfg = build_config(LabelConfig, config, flags)
    cfg.policy_opts = {**(cfg.policy_opts or {}), **parse_kv(policy_opt, "--policy-opt")}
    cfg.label_opts = {**(cfg.label_opts or {}), **parse_kv(label_opt, "--label-opt")}
    summary = run_labelling(cfg)
    keys = (
        "solutions",
        "kept",
        "dropped",
        "rollouts",
        "rollout_tokens",
        "rollouts_per_solution",
        "elapsed_s",
    )
    typer.echo(json.dumps({k: summary.get(k) for k in keys}))
    if summary["dropped"]:
        typer.echo(f"dropped {summary['dropped']}: {summary['dropped_by_reason']}", err=True)
    typer.echo(f"wrote {cfg.out}/shards/ and {cfg.out}/summary.json", err=True)
