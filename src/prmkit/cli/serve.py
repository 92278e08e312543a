"""``prmkit serve``: the HTTP reward server (thin wrapper over :func:`prmkit.serve.serve`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.serve import ServeConfig


@command(app, "serve", config="prmkit.serve.config:ServeConfig")
def serve_cmd(cfg: ServeConfig) -> None:
    """Serve per-step PRM scores over HTTP (POST /v1/score, POST /get_reward, /health, /metrics)."""
    from prmkit.serve import serve

    typer.echo(
        f"prmkit reward server on http://{cfg.host}:{cfg.port} (batching={'on' if cfg.batching else 'off'})"
    )
    serve(cfg)
