"""``prmkit serve``: the HTTP reward server."""

from __future__ import annotations

import typer

from prmkit.cli.app import app


@app.command("serve")
def serve_cmd(
    prm: str = typer.Option(None, "--prm", help="PRM checkpoint directory, or a scorer name (e.g. calculator)."),
    format: str = typer.Option(None, "--format", help="PRM format (default: from prmkit.json)."),
    host: str = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 8000)."),
    device: str = typer.Option(None, "--device", help="cpu or cuda."),
    batching: bool = typer.Option(None, "--batching/--no-batching", help="Dynamic batching (default on)."),
    max_wait_ms: float = typer.Option(None, "--max-wait-ms", help="Batch gathering window."),
    max_batch_solutions: int = typer.Option(None, "--max-batch-solutions", help="Most solutions per forward."),
    max_queue: int = typer.Option(None, "--max-queue", help="Most queued requests before 429."),
    request_timeout_s: float = typer.Option(None, "--request-timeout", help="Per-request timeout in seconds."),
    aggregation: str = typer.Option(None, "--aggregation", help="Default step aggregation (min, prod, last...)."),
    query_delimiter: str = typer.Option(None, "--query-delimiter", help="/get_reward: text ending the problem."),
    steps_preset: str = typer.Option(None, "--steps-preset", help="/get_reward: how responses split into steps."),
    config: str = typer.Option(None, "--config", help="YAML recipe with any of these options."),
) -> None:
    """Serve per-step PRM scores over HTTP (POST /v1/score, POST /get_reward, /health, /metrics)."""
    flags = dict(locals())
    flags.pop("config")
    from prmkit.config import build_config
    from prmkit.serve import ServeConfig, serve

    cfg = build_config(ServeConfig, config, flags)
    typer.echo(f"prmkit reward server on http://{cfg.host}:{cfg.port} (batching={'on' if cfg.batching else 'off'})")
    serve(cfg)
