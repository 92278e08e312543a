"""``prmkit split``: a thin wrapper over :func:`prmkit.policies.split.split_file`."""

from __future__ import annotations

import typer

from prmkit.cli.app import app, command
from prmkit.policies.split import SplitConfig


@command(app, "split", config="prmkit.policies.split:SplitConfig")
def split_cmd(cfg: SplitConfig) -> None:
    """Re-cut solutions into steps: at newlines, or where the policy's confidence drops (AdaptiveStep).

    See docs/formats.md#splitting-solutions-prmkit-split.
    """
    from prmkit.policies.split import split_file

    res = split_file(cfg)
    msg = f"read {res.read} records, {res.steps_before} -> {res.steps_after} steps, wrote {cfg.output}"
    if res.threshold is not None:
        msg += f" (threshold {res.threshold:.4g})"
    typer.echo(msg)
