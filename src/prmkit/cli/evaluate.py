"""``prmkit eval processbench | prmbench | bon | calibration`` (thin wrappers over
:mod:`prmkit.evaluate.run`). The Markdown summary goes to stdout, file locations to stderr."""

from __future__ import annotations

from typing import Any

import typer

from prmkit.cli.app import app

eval_app = typer.Typer(
    help="Evaluate PRMs: ProcessBench, PRMBench, best-of-N, calibration (results JSON + HTML report).",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

_CONFIG = typer.Option(None, "--config", help="YAML recipe; flags override it.")
_OUT = typer.Option(None, "--out", help="Output directory for results.json and report.html.")


def _split(values: list[str] | None) -> list[str] | None:
    """Accept repeated flags and comma-separated lists alike."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _emit(outcome: Any) -> None:
    typer.echo(outcome.markdown)
    typer.echo(f"results: {outcome.results_path}\nreport:  {outcome.report_path}", err=True)


@eval_app.command("processbench")
def processbench_cmd(
    prm: str = typer.Option(None, "--prm", help="PRM checkpoint path."),
    format: str = typer.Option(None, "--format", help="Scorer family name (default: from PATH/prmkit.json)."),
    scores: str = typer.Option(
        None, "--scores", help="Precomputed scores JSONL (canonical or ProcessBench records)."
    ),
    data: str = typer.Option(None, "--data", help="Dir with <subset>.json, or Hub id Qwen/ProcessBench."),
    subsets: list[str] = typer.Option(None, "--subsets", help="Subsets (repeat or comma-separate)."),
    threshold: float = typer.Option(None, "--threshold", help="Fixed threshold (default 0.5)."),
    tune_on: str = typer.Option(None, "--tune-on", help="Subset to tune the threshold on (default gsm8k)."),
    n_grid: int = typer.Option(None, "--n-grid", help="Tuning grid size over [0, 1] (default 10001)."),
    batch_size: int = typer.Option(None, "--batch-size"),
    limit: int = typer.Option(None, "--limit", help="N evenly spaced records per subset (smoke runs)."),
    out: str = _OUT,
    config: str = _CONFIG,
) -> None:
    """ProcessBench: first-error accuracy, correct accuracy, F1 per subset, average F1 (fixed and tuned threshold)."""
    from prmkit.config import build_config
    from prmkit.evaluate.run import ProcessBenchConfig, run_processbench

    cfg = build_config(
        ProcessBenchConfig,
        config,
        dict(
            prm=prm,
            format=format,
            scores=scores,
            data=data,
            subsets=_split(subsets),
            threshold=threshold,
            tune_on=tune_on,
            n_grid=n_grid,
            batch_size=batch_size,
            limit=limit,
            out=out,
        ),
    )
    _emit(run_processbench(cfg))


@eval_app.command("prmbench")
def prmbench_cmd(
    prm: str = typer.Option(None, "--prm", help="PRM checkpoint path."),
    format: str = typer.Option(None, "--format", help="Scorer family name."),
    scores: str = typer.Option(
        None, "--scores", help="Precomputed canonical records with scores, labels, meta.classification."
    ),
    data: str = typer.Option(None, "--data", help="Directory of PRMBench *.jsonl files."),
    pattern: str = typer.Option(None, "--pattern", help="File glob inside --data (default *.jsonl)."),
    threshold: float = typer.Option(None, "--threshold", help="Valid iff score > threshold (default 0.5)."),
    weights: list[float] = typer.Option(
        None, "--weight", help="Two values: negative-F1 and F1 weights (unverified 0.5 0.5)."
    ),
    batch_size: int = typer.Option(None, "--batch-size"),
    limit: int = typer.Option(None, "--limit", help="N evenly spaced instances (smoke runs)."),
    out: str = _OUT,
    config: str = _CONFIG,
) -> None:
    """PRMBench: F1, negative F1, PRMScore overall and per category."""
    from prmkit.config import build_config
    from prmkit.evaluate.run import PRMBenchConfig, run_prmbench

    cfg = build_config(
        PRMBenchConfig,
        config,
        dict(
            prm=prm,
            format=format,
            scores=scores,
            data=data,
            pattern=pattern,
            threshold=threshold,
            weights=list(weights) if weights else None,
            batch_size=batch_size,
            limit=limit,
            out=out,
        ),
    )
    _emit(run_prmbench(cfg))


@eval_app.command("bon")
def bon_cmd(
    pool: str = typer.Option(
        None, "--pool", help="Pool JSONL (Qwen2.5-Math eval format or canonical records)."
    ),
    prm: str = typer.Option(None, "--prm", help="Re-score the pool with this PRM."),
    format: str = typer.Option(None, "--format", help="Scorer family name."),
    aggregations: list[str] = typer.Option(
        None, "--agg", help="Step aggregations (default min,prod,last,mean,geometric)."
    ),
    rules: list[str] = typer.Option(
        None, "--rule", help="Answer rules (default best_of_n,majority,weighted_vote,hmrv,wrfv)."
    ),
    ns: list[int] = typer.Option(None, "--n", help="N values (default 1,2,4,...,N_max)."),
    seeds: int = typer.Option(None, "--seeds", help="Random subsets per N (default 10)."),
    transform: str = typer.Option(
        None, "--transform", help="auto | none | sigmoid (auto: sigmoid if a score is outside [0,1])."
    ),
    none: str = typer.Option(None, "--none", help="None step scores: skip | error | a number."),
    hmrv_tau: float = typer.Option(
        None, "--hmrv-tau", help="HMRV consensus threshold (unverified default 0.5)."
    ),
    wrfv_w: float = typer.Option(None, "--wrfv-w", help="WRFV reward weight (unverified default 0.5)."),
    batch_size: int = typer.Option(None, "--batch-size"),
    out: str = _OUT,
    config: str = _CONFIG,
) -> None:
    """Best-of-N accuracy vs N for every step aggregation and answer rule (prefix and random protocols)."""
    from prmkit.config import build_config
    from prmkit.evaluate.run import BonConfig, run_bon

    cfg = build_config(
        BonConfig,
        config,
        dict(
            pool=pool,
            prm=prm,
            format=format,
            aggregations=_split(aggregations),
            rules=_split(rules),
            ns=list(ns) if ns else None,
            seeds=seeds,
            transform=transform,
            none=none,
            hmrv_tau=hmrv_tau,
            wrfv_w=wrfv_w,
            batch_size=batch_size,
            out=out,
        ),
    )
    _emit(run_bon(cfg))


@eval_app.command("calibration")
def calibration_cmd(
    scores: str = typer.Option(None, "--scores", help="Canonical records with scores and labels."),
    n_bins: int = typer.Option(None, "--n-bins", help="Equal-width bins (default 10)."),
    fit_quantiles: str = typer.Option(
        None, "--fit-quantiles", help="Fit a quantile calibrator and write it (JSON)."
    ),
    quantiles: list[float] = typer.Option(None, "--quantile", help="Quantile levels (default 0.1 0.5 0.9)."),
    out: str = _OUT,
    config: str = _CONFIG,
) -> None:
    """Calibration of step scores: ECE, Brier, reliability diagram; optional quantile calibrator."""
    from prmkit.config import build_config
    from prmkit.evaluate.run import CalibrationConfig, run_calibration

    cfg = build_config(
        CalibrationConfig,
        config,
        dict(
            scores=scores,
            n_bins=n_bins,
            fit_quantiles=fit_quantiles,
            quantiles=list(quantiles) if quantiles else None,
            out=out,
        ),
    )
    _emit(run_calibration(cfg))
