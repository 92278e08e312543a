"""``prmkit quickstart``: the whole PRM loop on the arithmetic world (thin wrapper over
:func:`prmkit.quickstart.run_quickstart`). Stage lines and progress bars go to stderr; the summary
table and the report path to stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.quickstart import QuickstartConfig


@command(
    app, "quickstart", config="prmkit.quickstart:QuickstartConfig", overrides={"tiny": {"negative": "--full"}}
)
def quickstart_cmd(cfg: QuickstartConfig) -> None:
    """Generate problems, sample, label (MC + binary search), train a tiny PRM, evaluate, search, report."""
    from prmkit import quickstart

    summary = quickstart.run_quickstart(cfg)
    typer.echo(quickstart.summary_markdown(summary, summary["stages"]))
    typer.echo(f"total {summary['total_seconds']:.1f} s")
    typer.echo(f"report: {summary['report']}")
