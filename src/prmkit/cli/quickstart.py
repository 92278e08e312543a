"""``prmkit quickstart``: the whole PRM loop on the arithmetic world (thin wrapper over
:func:`prmkit.quickstart.run_quickstart`). Stage lines and progress bars go to stderr; the summary
table and the report path to stdout."""

from __future__ import annotations

import typer

from prmkit.cli.app import app


@app.command("quickstart")
def quickstart_cmd(
    out: str = typer.Option(None, "--out", help="Output directory (default runs/quickstart)."),
    tiny: bool = typer.Option(
        None, "--tiny/--full", help="Reduced sizes for tests (--tiny) or the full run."
    ),
    gsm8k: str = typer.Option(None, "--gsm8k", help="GSM8K JSONL: also evaluate the PRM on gsm8k-perturb."),
    seed: int = typer.Option(None, "--seed", help="Seed of every stage (0)."),
    train_labels: str = typer.Option(None, "--train-labels", help="Labels to train on: binary | mc | exact."),
    train_steps: int = typer.Option(None, "--train-steps", help="Optimizer steps (preset)."),
    config: str = typer.Option(
        None, "--config", help="YAML recipe (QuickstartConfig fields); flags override it."
    ),
) -> None:
    """Generate problems, sample, label (MC + binary search), train a tiny PRM, evaluate, search, report."""
    from prmkit.config import build_config
    from prmkit.quickstart import QuickstartConfig, run_quickstart, summary_markdown

    flags = dict(
        out=out, tiny=tiny, gsm8k=gsm8k, seed=seed, train_labels=train_labels, train_steps=train_steps
    )
    cfg = build_config(QuickstartConfig, config, flags)
    summary = run_quickstart(cfg)
    typer.echo(summary_markdown(summary, summary["stages"]))
    typer.echo(f"total {summary['total_seconds']:.1f} s")
    typer.echo(f"report: {summary['report']}")
