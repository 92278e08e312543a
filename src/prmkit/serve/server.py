"""Run the reward server with uvicorn (graceful shutdown finishes requests in flight)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.serve.config import ServeConfig


def load_server_scorer(cfg: ServeConfig) -> Any:
    """The scorer a server config names: a checkpoint (``--prm PATH``, format from ``--format``
    or its ``prmkit.json``) or a model-free scorer by name (``--prm calculator``)."""
    from prmkit.scorers import SCORERS, load_scorer

    if cfg.prm is None:
        raise PrmkitError("no PRM given (--prm PATH or a scorer name)", field="prm")
    options: dict[str, Any] = {}
    if cfg.device is not None:
        options["device"] = cfg.device
    if not Path(cfg.prm).exists() and cfg.format is None and cfg.prm in SCORERS:
        return load_scorer(cfg.prm, None, **options)
    if not Path(cfg.prm).exists():
        raise PrmkitError("no such model directory (and not a scorer name)", file=cfg.prm, field="prm")
    return load_scorer(cfg.format, cfg.prm, **options)


def serve(cfg: ServeConfig, scorer: Any | None = None) -> None:
    """Load the scorer and serve until SIGINT/SIGTERM.

    Example::

        serve(ServeConfig(prm="runs/prm", port=8000))
    """
    import uvicorn

    from prmkit.serve.app import create_app

    app = create_app(scorer if scorer is not None else load_server_scorer(cfg), cfg)
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level="warning",
        timeout_graceful_shutdown=int(cfg.graceful_timeout_s),
        access_log=False,
    )
