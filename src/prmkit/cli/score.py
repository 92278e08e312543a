"""``prmkit score``: fill the ``scores`` of canonical records with any PRM (thin wrapper over
:func:`prmkit.scorers.runner.score_file`)."""

from __future__ import annotations

import typer

from prmkit.cli.app import app


def _parse_options(values: list[str] | None) -> dict:
    """``--option key=value`` pairs; values are read as JSON when they parse (numbers, bools)."""
    import json

    from prmkit.errors import PrmkitError

    out: dict = {}
    for item in values or []:
        if "=" not in item:
            raise PrmkitError(f"--option expects key=value, got {item!r}", field="option")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


@app.command("score")
def score_cmd(
    prm: str = typer.Option(
        None, "--prm", help="PRM checkpoint directory or hub id (not needed for calculator)."
    ),
    format: str = typer.Option(None, "--format", help="Scorer family (default: from PRM/prmkit.json)."),
    input: str = typer.Option(None, "--in", help="Canonical JSONL of solutions."),
    output: str = typer.Option(None, "--out", help="Scored JSONL (written incrementally)."),
    resume: bool = typer.Option(None, "--resume", help="Skip ids already in --out and append."),
    batch_tokens: int = typer.Option(None, "--batch-tokens", help="Padded-token budget per forward."),
    max_length: int = typer.Option(None, "--max-length", help="Model window (steps beyond: None)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if available)."),
    dtype: str = typer.Option(None, "--dtype", help="bf16, fp16, fp32 (default: bf16 on GPU, fp32 on CPU)."),
    option: list[str] = typer.Option(None, "--option", "-o", help="Scorer option key=value (repeatable)."),
    config: str = typer.Option(None, "--config", help="YAML recipe; flags override it."),
) -> None:
    """Score every step of every solution: one forward pass per solution, batched by tokens."""
    from prmkit.config import build_config
    from prmkit.scorers.runner import ScoreConfig, score_file

    flags = dict(
        prm=prm,
        format=format,
        input=input,
        output=output,
        resume=resume,
        batch_tokens=batch_tokens,
        max_length=max_length,
        device=device,
        dtype=dtype,
        options=_parse_options(option) or None,
    )
    cfg = build_config(ScoreConfig, config, flags)
    res = score_file(cfg)
    typer.echo(
        f"scored {res['written']} solution(s) -> {res['output']}"
        + (f" (skipped {res['skipped']} already done)" if res["skipped"] else "")
        + (
            f"; {res['truncated_steps']} step(s) beyond the window scored None"
            if res["truncated_steps"]
            else ""
        ),
        err=True,
    )
