"""``prmkit train``: train a PRM (thin wrapper over :func:`prmkit.train.train`)."""

from __future__ import annotations

import json

import typer

from prmkit.cli.app import app


@app.command("train")
def train_cmd(
    data: str = typer.Option(None, "--data", help="Labelled canonical records: a file or a directory."),
    out: str = typer.Option(None, "--out", help="Output directory (checkpoint + tokenizer + prmkit.json)."),
    model: str = typer.Option(None, "--model", help="Base model directory or Hub id."),
    gguf_file: str = typer.Option(None, "--gguf-file", help="GGUF file inside --model."),
    init: str = typer.Option(None, "--init", help="'tiny': small model + locally trained tokenizer."),
    format: str = typer.Option(
        None, "--format", help="token-classification | value-head | lm-token-pair | implicit."
    ),
    loss: str = typer.Option(None, "--loss", help="bce | bce-soft | bce-hard | pqm | implicit-ce."),
    eval_data: str = typer.Option(None, "--eval-data", help="Held-out records (default: a split of --data)."),
    eval_fraction: float = typer.Option(None, "--eval-fraction", help="Held-out fraction of --data (0.05)."),
    after_error: str = typer.Option(
        None, "--after-error", help="Steps after the first error: drop | keep | as-is."
    ),
    label_transform: str = typer.Option(None, "--label-transform", help="none | er-prm."),
    er_eta: float = typer.Option(None, "--er-eta", help="ER-PRM eta (1.0)."),
    pqm_zeta: float = typer.Option(None, "--pqm-zeta", help="PQM margin (4.0)."),
    implicit_beta: float = typer.Option(None, "--implicit-beta", help="Implicit PRM beta (0.05)."),
    ref_model: str = typer.Option(None, "--ref-model", help="Reference model for implicit-ce."),
    max_length: int = typer.Option(None, "--max-length", help="Token window (1024)."),
    epochs: float = typer.Option(None, "--epochs"),
    max_steps: int = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
    time_budget: float = typer.Option(None, "--time-budget", help="Stop after this many seconds."),
    batch_size: int = typer.Option(None, "--batch-size"),
    grad_accum: int = typer.Option(None, "--grad-accum"),
    lr: float = typer.Option(None, "--lr"),
    lora: bool = typer.Option(None, "--lora/--no-lora", help="Train LoRA adapters (merged on save)."),
    lora_r: int = typer.Option(None, "--lora-r"),
    gradient_checkpointing: bool = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    bf16: bool = typer.Option(
        None, "--bf16/--no-bf16", help="Default: on for a bf16-capable GPU, off on CPU."
    ),
    group_by_length: bool = typer.Option(None, "--group-by-length/--no-group-by-length"),
    deepspeed: str = typer.Option(None, "--deepspeed", help="DeepSpeed JSON config."),
    fsdp: str = typer.Option(None, "--fsdp", help="FSDP options, e.g. 'full_shard auto_wrap'."),
    eval_steps: int = typer.Option(None, "--eval-steps"),
    save_steps: int = typer.Option(None, "--save-steps"),
    resume: bool = typer.Option(
        None, "--resume/--no-resume", help="Resume from the last checkpoint in --out."
    ),
    seed: int = typer.Option(None, "--seed"),
    config: str = typer.Option(None, "--config", help="YAML recipe; flags override it."),
) -> None:
    """Train a PRM on labelled records; writes a Hugging Face checkpoint + prmkit.json."""
    from prmkit.config import build_config
    from prmkit.train import TrainConfig, train

    flags = dict(
        data=data, out=out, model=model, gguf_file=gguf_file, init=init, format=format, loss=loss,
        eval_data=eval_data, eval_fraction=eval_fraction, after_error=after_error,
        label_transform=label_transform, er_eta=er_eta, pqm_zeta=pqm_zeta, implicit_beta=implicit_beta,
        ref_model=ref_model, max_length=max_length, epochs=epochs, max_steps=max_steps,
        time_budget_s=time_budget, batch_size=batch_size, grad_accum=grad_accum, lr=lr, lora=lora,
        lora_r=lora_r, gradient_checkpointing=gradient_checkpointing, bf16=bf16,
        group_by_length=group_by_length, deepspeed=deepspeed, fsdp=fsdp, eval_steps=eval_steps,
        save_steps=save_steps, resume=resume, seed=seed,
    )  # fmt: skip
    cfg = build_config(TrainConfig, config, flags)
    result = train(cfg)
    typer.echo(
        json.dumps({"out": result.out_dir, "global_step": result.global_step, **result.metrics}, indent=2)
    )
