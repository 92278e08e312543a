"""``prmkit train``: train a PRM (thin wrapper over :func:`prmkit.train.train`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.train import TrainConfig


@command(app, "train", config="prmkit.train.config:TrainConfig")
def train_cmd(cfg: TrainConfig) -> None:
    """Train a PRM on labelled records; writes a Hugging Face checkpoint + prmkit.json."""
    from prmkit.train import train

    result = train(cfg)
    typer.echo(
        json.dumps({"out": result.out_dir, "global_step": result.global_step, **result.metrics}, indent=2)
    )
