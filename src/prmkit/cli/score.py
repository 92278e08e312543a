"""``prmkit score``: fill the ``scores`` of canonical records with any PRM (thin wrapper over
:func:`prmkit.scorers.runner.score_file`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.scorers.runner import ScoreConfig


@command(app, "score", config="prmkit.scorers.runner:ScoreConfig")
def score_cmd(cfg: ScoreConfig) -> None:
    """Score every step of every solution: one forward pass per solution, batched by tokens."""
    from prmkit.scorers import runner

    res = runner.score_file(cfg)
    msg = f"scored {res['written']} solution(s) -> {res['output']}"
    if res["skipped"]:
        msg += f" (skipped {res['skipped']} already done)"
    if res["truncated_steps"]:
        msg += f"; {res['truncated_steps']} step(s) beyond the window scored None"
    typer.echo(msg, err=True)
