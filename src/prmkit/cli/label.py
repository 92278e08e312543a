"""``prmkit label``: step labels from policy rollouts (thin wrapper over :func:`prmkit.label.run_labelling`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.label.runner import LabelConfig

#: the summary keys printed (as one JSON line) on stdout
SUMMARY_KEYS = (
    "solutions",
    "kept",
    "dropped",
    "rollouts",
    "rollout_tokens",
    "rollouts_per_solution",
    "elapsed_s",
)
#: added with --select uncertain: the pool, how many were selected (and labelled), how many were sure
SELECT_KEYS = ("pool", "selected", "confident", "label_fraction")


@command(app, "label", config="prmkit.label.runner:LabelConfig")
def label_cmd(cfg: LabelConfig) -> None:
    """Label solution steps with MC rollouts, binary search, adaptive sampling, a judge or consensus."""
    from prmkit.label import runner

    if cfg.select == "uncertain":
        from prmkit.label.active import run_uncertain_labelling

        summary = run_uncertain_labelling(cfg)
        typer.echo(json.dumps({k: summary.get(k) for k in (*SUMMARY_KEYS, *SELECT_KEYS)}))
    else:
        summary = runner.run_labelling(cfg)
        typer.echo(json.dumps({k: summary.get(k) for k in SUMMARY_KEYS}))
    if summary["dropped"]:
        typer.echo(f"dropped {summary['dropped']}: {summary['dropped_by_reason']}", err=True)
    typer.echo(f"wrote {cfg.out}/shards/ and {cfg.out}/summary.json", err=True)
