"""The PRM trainer: canonical records -> a Hugging Face checkpoint + ``prmkit.json``.

Built on :class:`transformers.Trainer` (so DeepSpeed / FSDP / multi-GPU configs, bf16, gradient
checkpointing and checkpoint resume work as usual) with PRM losses computed at the step positions
that :func:`prmkit.render.render` gives, the same positions every prmkit scorer reads.

Held-out evaluation during training goes through the scorer that ``prmkit score`` builds for the
saved checkpoint (:func:`eval_scorer`: the ``prmkit.json`` family wrapped around the in-memory
model), and the metrics through :mod:`prmkit.evaluate.processbench`, so the first-error F1
printed while training is the F1 that ``prmkit score`` + ``prmkit eval processbench`` give for
the saved checkpoint (``tests/test_train_eval_parity.py`` checks it).

:func:`train` reads as its steps: records (:func:`resolve_records`), model and tokenizer
(:func:`build_model`), examples (:func:`build_data`), arguments (:func:`training_arguments`),
the loop (:class:`PRMTrainer`), then the checkpoint (:func:`save_checkpoint`) and the run summary
(:func:`write_summary`).

Library use (what ``prmkit train`` calls)::

    from prmkit.train import TrainConfig, train
    result = train(TrainConfig(data="labelled.jsonl", out="runs/x", init="tiny", max_steps=200))
    result.metrics["eval_pb_f1"]      # ProcessBench-style first-error F1 on the held-out split

The output directory loads with plain transformers (``AutoModelForTokenClassification``
/ ``AutoModelForCausalLM`` + ``PreTrainedTokenizerFast``) and with
``prmkit.scorers.load_scorer(None, "runs/x")`` (the family is read from ``prmkit.json``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForTokenClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from prmkit import __version__
from prmkit.config import config_to_dict
from prmkit.errors import PrmkitError
from prmkit.evaluate.processbench import predict_first_error, processbench_metrics
from prmkit.models.packaged import resolve_model
from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.models.tokenizer import load_tokenizer
from prmkit.progress import Bar, is_quiet
from prmkit.records import Solution
from prmkit.render import PRMFormat, _single_token_id, get_format
from prmkit.runs import versions
from prmkit.scorers import SCORERS
from prmkit.scorers.base import Scorer
from prmkit.scorers.chain_tools import get_tool
from prmkit.scorers.generative import GenerativeScorer
from prmkit.scorers.implicit import ImplicitPRMScorer
from prmkit.scorers.neural import resolve_window
from prmkit.train.config import GENERATIVE, TrainConfig
from prmkit.train.data import (
    PRMCollator,
    PRMDataset,
    ShuffledLengthGroupedSampler,
    build_examples,
    load_records,
    split_records,
)
from prmkit.train.generative import ChainCollator, SFTTrainer, build_chain_examples
from prmkit.train.likelihood import likelihood_scorer, train_likelihood
from prmkit.train.losses import (
    bce_step_loss,
    implicit_ce_loss,
    implicit_reward,
    pqm_loss,
    step_logits,
    token_logprobs,
)

__all__ = [
    "LABEL_SEMANTICS",
    "PRMTrainer",
    "TrainResult",
    "eval_scorer",
    "first_error_f1",
    "load_model",
    "load_tokenizer",
    "model_kind",
    "tiny_model_and_tokenizer",
    "train",
    "write_prmkit_json",
]

#: what a step score means, written to prmkit.json
LABEL_SEMANTICS = {
    "bce": "probability that the step (and every step before it) is correct; soft labels = MC success rate",
    "bce-hard": "probability that the step (and every step before it) is correct",
    "pqm": "sigmoid of a PQM Q-value (ranking-trained; compare within a solution)",
    "implicit-ce": "sigmoid of the cumulative implicit reward q_t = beta * sum log(pi/pi_ref) up to step t",
    "freeprm": "P(right | right or wrong) of FreePRM's right/wrong/buffer head, trained on outcome pseudo labels",
    "outcome-bce": "probability that the solution's final answer is right, read per step (outcome pseudo labels)",
    "sft": "generative verifier: mean over K chains of the verdict probability P(correct)/(P(correct)+P(incorrect)) "
    "(or the share of 'correct' verdicts); 0 after a chain's first 'incorrect' (the prefix is wrong)",
}

#: how the implicit PRM scorer reads a checkpoint trained with ``implicit-ce`` (its label semantics)
IMPLICIT_REDUCE = "cumulative"


def model_kind(fmt: PRMFormat) -> str:
    """Which model class a format trains: ``token-classification`` (2 classes), ``value-head``
    (1 output) or ``causal-lm`` (``+``/``-`` token pair, implicit PRM).

    Example:
        >>> model_kind(get_format("lm-token-pair"))
        'causal-lm'
    """
    return {"classification": "token-classification", "value": "value-head"}.get(fmt.head, "causal-lm")


def load_model(path: str, kind: str, gguf_file: str | None = None, dtype: Any = None) -> Any:
    """A model of ``kind`` from a directory / Hub id / GGUF file / packaged name (new heads are
    initialised). Without ``dtype``, float32 on a CPU (a float16 checkpoint cannot train there)."""
    path = resolve_model(path)
    kw: dict[str, Any] = {}
    if dtype is None and not torch.cuda.is_available():
        dtype = torch.float32
    if gguf_file:
        kw["gguf_file"] = gguf_file
    if dtype is not None:
        kw["dtype"] = dtype
    if kind == "causal-lm":
        return AutoModelForCausalLM.from_pretrained(path, **kw)
    num_labels = 2 if kind == "token-classification" else 1
    return AutoModelForTokenClassification.from_pretrained(path, num_labels=num_labels, **kw)


def tiny_model_and_tokenizer(
    cfg: TrainConfig, records: list[Solution], kind: str, tokenizer: Any = None
) -> tuple[Any, Any]:
    """``--init tiny``: a tokenizer trained on the records' text and a small Qwen2/Llama model."""
    if tokenizer is None:
        texts = []
        for r in records:
            texts.append(r.problem)
            texts.extend(r.steps)
        tokenizer = train_tokenizer(texts, vocab_size=cfg.tiny_vocab)
    model = build_tiny_model(
        kind,  # type: ignore[arg-type]
        tokenizer,
        arch=cfg.tiny_arch,  # type: ignore[arg-type]
        seed=cfg.seed,
        hidden_size=cfg.tiny_hidden,
        num_layers=cfg.tiny_layers,
        num_heads=cfg.tiny_heads,
        max_position_embeddings=max(cfg.max_length or 1024, 256),
    )
    return model, tokenizer


def first_error_f1(pred: list[int], gold: list[int]) -> dict[str, float]:
    """ProcessBench metric (docs/methods.md#a1-processbench) as floats for training logs: an empty group counts 0.

    Example:
        >>> m = first_error_f1([2, 0, -1, -1, 1], [2, 0, 3, -1, -1])
        >>> round(m["acc_err"], 1), round(m["acc_corr"], 1), round(m["f1"], 1)
        (66.7, 50.0, 57.1)
    """
    m = processbench_metrics(pred, gold)
    return {k: float(m[k] or 0.0) for k in ("acc_err", "acc_corr", "f1")}


def eval_scorer(
    model: Any, tokenizer: Any, fmt: PRMFormat, ref_model: Any = None, implicit_beta: float = 0.05
) -> Scorer:
    """The scorer ``prmkit score`` builds for a checkpoint of format ``fmt``, around an in-memory
    model: the family registered under ``fmt.name`` (the name ``prmkit.json`` records), the same
    rendering, window, batching and head; ``implicit`` also gets the reference model and reads
    the cumulative reward (what :data:`LABEL_SEMANTICS` says and ``prmkit.json`` records).

    A PEFT model is scored through its base model, which holds the LoRA layers.
    """
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    if fmt.head == "log-ratio":
        if ref_model is None:
            raise PrmkitError("the implicit PRM needs its reference model to be scored", field="ref_model")
        return ImplicitPRMScorer(model, ref_model, tokenizer, fmt, beta=implicit_beta, reduce=IMPLICIT_REDUCE)
    return SCORERS.get(fmt.name)(model, tokenizer, fmt)


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    out_dir: str
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    data_stats: dict[str, Any] = field(default_factory=dict)
    global_step: int = 0
    train_runtime_s: float = 0.0
    tokens_seen: int = 0
    tokens_padded: int = 0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None


class PRMTrainer(Trainer):
    """``transformers.Trainer`` with PRM losses at step positions and first-error F1 eval.

    Evaluation scores ``eval_records`` with :func:`eval_scorer` (the scorer ``prmkit score``
    uses) and reports ``pb_f1``/``pb_acc_err``/``pb_acc_corr`` (threshold 0.5, as ``prmkit eval
    processbench``), ``step_acc`` and ``step_bce`` over the labelled steps up to the first error.
    """

    def __init__(
        self,
        *args: Any,
        prm_format: PRMFormat,
        prm_loss: str,
        pqm_zeta: float = 4.0,
        implicit_beta: float = 0.05,
        ref_model: Any = None,
        eval_records: list[Solution] | None = None,
        history_path: str | None = None,
        steps_per_example: float | None = None,
        group_batches: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False  # our loss is a per-batch mean: let Trainer scale for GA
        self.prm_format = prm_format
        self.prm_loss = prm_loss
        self.pqm_zeta = pqm_zeta
        self.implicit_beta = implicit_beta
        self.ref_model = ref_model
        self.eval_records = eval_records or []
        self.history: list[dict[str, float]] = []
        self.history_path = history_path
        self.t0 = time.monotonic()
        self.steps_per_example = steps_per_example
        self.group_batches = group_batches
        self._scorer: Scorer | None = None
        self.good_id = self.bad_id = None
        if prm_format.head == "token-pair":
            tok = self.processing_class
            self.good_id = _single_token_id(tok, prm_format.good_token, "good token")
            self.bad_id = _single_token_id(tok, prm_format.bad_token, "bad token")

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_batches and hasattr(ds, "lengths"):
            # grouped in global batches: under accelerate each process takes its share of every
            # global batch, so N processes see the batches one process would (docs/training.md)
            global_batch = self.args.train_batch_size * max(1, self.args.world_size)
            return ShuffledLengthGroupedSampler(ds.lengths, global_batch, seed=self.args.seed)
        return super()._get_train_sampler(train_dataset)

    # -------------------------------------------------------------- loss
    def _step_z(self, model: Any, input_ids: Any, attention_mask: Any, labels: Any) -> tuple[Any, Any]:
        """Step logits and the matching labels (only where needed for the LM head)."""
        if self.prm_format.head == "token-pair":
            # the LM head only at columns holding a step position: no full-vocab logits elsewhere
            keep = (labels != -100).any(0).nonzero().squeeze(-1)
            if keep.numel() == 0:
                keep = torch.zeros(1, dtype=torch.long, device=input_ids.device)
            out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep)
            logits = out.logits
            if logits.shape[1] != keep.numel():  # a model that ignores logits_to_keep
                logits = logits[:, keep]
            labels = labels[:, keep]
        else:
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        z = step_logits(logits, self.prm_format, self.good_id, self.bad_id)
        return z, labels

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ):  # noqa: D102
        ids, mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        if self.prm_loss == "implicit-ce":
            logits = model(input_ids=ids, attention_mask=mask).logits
            logp = token_logprobs(logits, ids)
            with torch.no_grad():
                ref_logits = self.ref_model(input_ids=ids, attention_mask=mask).logits
                logp_ref = token_logprobs(ref_logits, ids)
            r = implicit_reward(logp, logp_ref, inputs["response_mask"].to(logp.dtype), self.implicit_beta)
            loss = implicit_ce_loss(r, inputs["outcome"])
            return (loss, {"reward": r}) if return_outputs else loss
        z, lab = self._step_z(model, ids, mask, labels)
        if self.prm_loss == "pqm":
            loss = pqm_loss(z.float(), lab, zeta=self.pqm_zeta)
        else:
            denom = self.steps_per_example * ids.shape[0] if self.steps_per_example else None
            loss = bce_step_loss(z, lab, hard=self.prm_loss == "bce-hard", denom=denom)
        return (loss, {"step_logits": z}) if return_outputs else loss

    # -------------------------------------------------------------- evaluation
    def predict_step_scores(self, records: list[Solution]) -> list[list[float | None]]:
        """Step scores of full solutions from :func:`eval_scorer` (built once, then reused: it
        wraps the live model); the model's train/eval mode is restored afterwards."""
        model = self.model
        was_training = model.training
        try:
            if self._scorer is None:
                self._scorer = eval_scorer(
                    model, self.processing_class, self.prm_format, self.ref_model, self.implicit_beta
                )
            model.eval()
            return self._scorer.score_batch([r.problem for r in records], [r.steps for r in records])
        finally:
            model.train(was_training)

    def prm_metrics(self, records: list[Solution]) -> dict[str, float]:
        """Held-out metrics: first-error F1 (threshold 0.5), step accuracy, step BCE."""
        scores = self.predict_step_scores(records)
        gold = [r.first_error for r in records]
        pred = [predict_first_error(s) for s in scores]
        m = {f"pb_{k}": v for k, v in first_error_f1(pred, gold).items()}
        hits = n = 0
        bce = 0.0
        for r, sc in zip(records, scores, strict=True):
            # steps up to the first error (ProcessBench labels: unknown after it)
            fe = r.first_error
            upto = len(r.steps) if fe < 0 else fe + 1
            for y, p in zip((r.labels or [])[:upto], sc[:upto], strict=False):
                if y is None or p is None:
                    continue
                n += 1
                hits += int((p >= 0.5) == (y >= 0.5))
                pc = min(max(p, 1e-7), 1 - 1e-7)
                bce -= y * math.log(pc) + (1 - y) * math.log(1 - pc)
        m["step_acc"] = 100.0 * hits / n if n else 0.0
        m["step_bce"] = bce / n if n else 0.0
        return m

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:  # noqa: D102
        if not self.eval_records:
            return {}
        m = {f"{metric_key_prefix}_{k}": v for k, v in self.prm_metrics(self.eval_records).items()}
        m["step"] = self.state.global_step
        m["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        self.history.append(dict(m))
        if self.history_path and self.is_world_process_zero():
            with open(self.history_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(m) + "\n")
        self.log({k: v for k, v in m.items() if k not in ("step",)})
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, m)
        return m


# ---------------------------------------------------------------- callbacks


class TimeBudget(TrainerCallback):
    """Stops training (and saves, when saving is on) once ``budget_s`` seconds have passed."""

    def __init__(self, budget_s: float | None) -> None:
        self.budget_s = budget_s
        self.t0 = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.t0 = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.budget_s is not None and time.monotonic() - self.t0 > self.budget_s:
            control.should_training_stop = True  # train() evaluates once more at the end
            control.should_save = args.save_strategy != "no"


class LogFile(TrainerCallback):
    """Appends every Trainer log (loss, learning rate, eval metrics) to ``OUT/train_log.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.t0 = time.monotonic()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if logs and state.is_world_process_zero:
            row = {"step": state.global_step, "elapsed_s": round(time.monotonic() - self.t0, 1), **logs}
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, default=float) + "\n")


class EvalLine(TrainerCallback):
    """One readable line per evaluation on stderr (instead of Hugging Face's raw log dicts)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if (
            not logs
            or is_quiet()
            or not state.is_world_process_zero
            or not any(k.startswith("eval_") for k in logs)
        ):
            return
        shown = ("eval_pb_f1", "eval_pb_acc_err", "eval_pb_acc_corr", "eval_step_acc", "eval_step_bce")
        parts = [f"{k[5:]} {float(logs[k]):.3f}" if k == "eval_step_bce" else f"{k[5:]} {float(logs[k]):.1f}"
                 for k in shown if k in logs]  # fmt: skip
        print(f"step {state.global_step}: " + ", ".join(parts), file=sys.stderr, flush=True)


class Progress(TrainerCallback):
    """A :class:`prmkit.progress.Bar` over the optimizer steps."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.last = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.bar = Bar(total=state.max_steps or self.total, description="training").__enter__()
        self.last = state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.bar.advance(state.global_step - self.last)
        self.last = state.global_step

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


# ---------------------------------------------------------------- the steps of train()


def resolve_records(
    cfg: TrainConfig, train_records: list[Solution] | None, eval_records: list[Solution] | None
) -> tuple[list[Solution], list[Solution]]:
    """Training and held-out records: given in memory, read from ``cfg.data``/``cfg.eval_data``,
    or split off ``cfg.data`` (``cfg.eval_fraction``); checks that the run can start."""
    if train_records is None:
        cfg.check_runnable()
        train_records = load_records(cfg.data)  # type: ignore[arg-type]
    if not cfg.out:
        raise PrmkitError("no output directory: give --out", field="out")
    if cfg.init is None and not cfg.model:
        raise PrmkitError("give --model PATH or --init tiny", field="model")
    if eval_records is None:
        if cfg.eval_data:
            eval_records = load_records(cfg.eval_data)
        else:
            train_records, eval_records = split_records(train_records, cfg.eval_fraction, cfg.seed)
    if not train_records:
        raise PrmkitError("no training records", file=cfg.data)
    return train_records, eval_records


@dataclass
class Models:
    """What :func:`build_model` loads: the model to train (LoRA-wrapped when asked), the model
    to save when not LoRA, the tokenizer and the frozen reference model (implicit PRM)."""

    model: Any
    base: Any
    tokenizer: Any
    ref_model: Any = None


def build_model(cfg: TrainConfig, out: Path, kind: str, train_records: list[Solution]) -> Models:
    """Model and tokenizer (``--init tiny``: trained here, the tokenizer kept in ``OUT/tokenizer``
    so that a resumed run keeps its vocabulary), the reference model, LoRA."""
    if cfg.init == "tiny":
        tok_dir = out / "tokenizer"
        saved_tok = load_tokenizer(str(tok_dir)) if (tok_dir / "tokenizer.json").is_file() else None
        model, tokenizer = tiny_model_and_tokenizer(cfg, train_records, kind, saved_tok)
        if saved_tok is None:
            tokenizer.save_pretrained(str(tok_dir))
    else:
        tokenizer = load_tokenizer(cfg.model, cfg.gguf_file)  # type: ignore[arg-type]
        model = load_model(cfg.model, kind, cfg.gguf_file)  # type: ignore[arg-type]
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if cfg.positions is not None:
        extend_positions(model, cfg.positions)
    if cfg.dropout is not None:
        set_dropout(model, cfg.dropout)
    ref_model = None
    if cfg.loss == "implicit-ce":
        ref_model = load_model(cfg.ref_model, "causal-lm") if cfg.ref_model else copy.deepcopy(model)
        ref_model.eval().requires_grad_(False)
    base = model
    if cfg.lora:
        model = _lora_wrap(model, cfg, kind)
    return Models(model, base, tokenizer, ref_model)


def extend_positions(model: Any, positions: int) -> None:
    """``--positions``: let a model with plain rotary position embeddings (RoPE, ``rope_type``
    default: Llama, Qwen2, Mistral, ...) take ``positions`` tokens. Rotary embeddings are computed
    from the position ids, so only ``config.max_position_embeddings`` changes (the saved config
    records it, and scorers take their window from it); positions below the old limit give the
    same outputs as before. Positions past what pretraining saw are new to the model: fine-tune on
    sequences that use them. Models with learned position tables (GPT-2) or scaled RoPE are refused.

    Example:
        >>> from transformers import LlamaConfig, LlamaForCausalLM
        >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
        ...     num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64))
        >>> extend_positions(m, 256); m.config.max_position_embeddings
        256
    """
    cfg = model.config
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if not isinstance(getattr(cfg, "max_position_embeddings", None), int) or not (
        rope or hasattr(cfg, "rope_theta")
    ):
        raise PrmkitError(f"{cfg.model_type} has no rotary position embeddings to extend", field="positions")
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise PrmkitError(f"rope_type {rope.get('rope_type', rope.get('type'))!r}: only plain RoPE is extended",
                          field="positions")  # fmt: skip
    cfg.max_position_embeddings = int(positions)


def set_dropout(model: Any, p: float) -> int:
    """``--dropout``: every dropout of ``model`` set to ``p`` (``nn.Dropout`` modules, attention
    modules' ``attention_dropout``, and the config fields that record them, so the saved config
    says what was trained); returns how many were set.

    Why 0 matters under ``accelerate launch``: dropout masks come from each process's own random
    stream, so N processes draw other masks than one process on the same global batch, and the
    loss curves part (measured: up to 0.3 after six steps on the tiny model, whose
    token-classification head has Hugging Face's default dropout 0.1).

    Example:
        >>> from torch import nn
        >>> m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
        >>> set_dropout(m, 0.0), m[1].p
        (1, 0.0)
    """
    n = heads = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = p
            n, heads = n + 1, heads + 1
        elif isinstance(getattr(mod, "attention_dropout", None), float):
            mod.attention_dropout = p
            n += 1
    config = getattr(model, "config", None)
    for name in ("classifier_dropout", "attention_dropout", "hidden_dropout", "hidden_dropout_prob"):
        if config is not None and (
            getattr(config, name, None) is not None or (heads and name == "classifier_dropout")
        ):
            setattr(config, name, p)
    return n


def build_data(
    cfg: TrainConfig, fmt: PRMFormat, tokenizer: Any, train_records: list[Solution]
) -> tuple[list[Any], Any, PRMCollator]:
    """Training examples (rendered with :func:`prmkit.render.render`), their statistics and the
    collator."""
    examples, stats = build_examples(
        train_records,
        fmt,
        tokenizer,
        cfg.max_length,
        after_error=cfg.after_error,
        label_transform=cfg.label_transform,
        er_eta=cfg.er_eta,
        outcome=cfg.loss == "implicit-ce",
    )
    if not examples:
        raise PrmkitError("no record has a trainable step label", file=cfg.data)
    return examples, stats, PRMCollator(tokenizer.pad_token_id)


def total_steps(cfg: TrainConfig, n_examples: int) -> int:
    """Optimizer steps of the run: ``max_steps``, else ``epochs`` over the examples.

    Example:
        >>> total_steps(TrainConfig(max_steps=-1, epochs=2, batch_size=4, grad_accum=2), 17)
        6
    """
    per_epoch = math.ceil(n_examples / (cfg.batch_size * cfg.grad_accum))
    return cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * per_epoch))


def training_arguments(
    cfg: TrainConfig, out: Path, steps: int, eval_on: bool, use_cuda: bool, bf16: bool
) -> TrainingArguments:
    """``transformers.TrainingArguments`` of the run (``cfg.extra_training_args`` last)."""
    args_kw: dict[str, Any] = {
        "output_dir": str(out),
        "per_device_train_batch_size": cfg.batch_size,
        "per_device_eval_batch_size": cfg.eval_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "warmup_steps": int(cfg.warmup_ratio * steps),
        "lr_scheduler_type": cfg.scheduler,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps if cfg.max_steps > 0 else -1,
        "logging_steps": max(1, cfg.logging_steps),
        "eval_strategy": "steps" if eval_on and cfg.eval_steps > 0 else "no",
        "eval_steps": cfg.eval_steps if cfg.eval_steps > 0 else None,
        "save_strategy": "steps" if cfg.save_steps > 0 else "no",
        "save_steps": cfg.save_steps if cfg.save_steps > 0 else 500,
        "save_total_limit": cfg.save_total_limit,
        "seed": cfg.seed,
        "bf16": bf16,
        "use_cpu": not use_cuda,
        _ckpt_arg(): cfg.gradient_checkpointing,
        "train_sampling_strategy": "group_by_length" if cfg.group_by_length else "random",
        "remove_unused_columns": False,
        "report_to": [],
        "dataloader_num_workers": cfg.dataloader_workers,
        "disable_tqdm": True,
        "label_names": ["labels"],
    }
    if cfg.deepspeed:
        args_kw["deepspeed"] = cfg.deepspeed
    if cfg.fsdp:
        args_kw["fsdp"] = cfg.fsdp
    args_kw.update(cfg.extra_training_args or {})
    return TrainingArguments(**args_kw)


def _lora_wrap(model: Any, cfg: TrainConfig, kind: str) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    task = TaskType.CAUSAL_LM if kind == "causal-lm" else TaskType.TOKEN_CLS
    lcfg = LoraConfig(
        task_type=task,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules or "all-linear",
        modules_to_save=None if kind == "causal-lm" else ["score"],
    )
    return get_peft_model(model, lcfg)


def _ckpt_arg() -> str:
    """Name of the activation-checkpointing option of this transformers version."""
    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def _last_checkpoint(out: Path) -> str | None:
    return get_last_checkpoint(str(out)) if out.is_dir() else None


def record_tools(fmt: PRMFormat, records: list[Solution]) -> PRMFormat:
    """A ``chat-tools`` format without ``tools`` takes the tool schemas the records carry in
    ``meta["tools"]`` (the agent converters put them there); records with different schemas are
    an error (the PRM sees one tools section, recorded in ``prmkit.json``). Other formats as given.

    Example:
        >>> from prmkit.render import get_format
        >>> rec = Solution(id="a", problem="p", steps=["Action: look"], meta={"tools": [{"name": "look"}]})
        >>> record_tools(get_format("chat-tools"), [rec]).tools
        '[{"name": "look"}]'
    """
    if fmt.layout != "chat-tools" or fmt.tools is not None:
        return fmt
    seen = {
        json.dumps(r.meta["tools"], ensure_ascii=False) for r in records if r.meta.get("tools") is not None
    }
    if len(seen) > 1:
        raise PrmkitError(
            f"format '{fmt.name}': the records carry {len(seen)} different tool schema lists (meta.tools); "
            "a chat-tools PRM sees one: train on records with the same tools",
            field="tools",
        )
    return replace(fmt, tools=seen.pop()) if seen else fmt


def write_prmkit_json(
    out: Path, fmt: PRMFormat, cfg: TrainConfig, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``prmkit.json`` beside the checkpoint: the format (name + fields) and what scores mean.

    An implicit PRM also records ``beta`` and ``reduce`` (cumulative), which the ``implicit``
    scorer reads, so ``prmkit score`` reads the checkpoint as training evaluated it.
    """
    meta: dict[str, Any] = {
        "format": fmt.name,
        "prm_format": fmt.to_dict(),
        "separator": fmt.step_tag,
        "label_semantics": LABEL_SEMANTICS[cfg.loss],
        "score": "sigmoid" if fmt.head != "classification" else "softmax",
        "loss": cfg.loss,
        "label_transform": cfg.label_transform,
        "after_error": cfg.after_error,
        "base_model": "tiny (prmkit --init tiny)" if cfg.init == "tiny" else cfg.model,
        "gguf_file": cfg.gguf_file,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "max_length": cfg.max_length,
        "prmkit_version": __version__,
    }
    if fmt.head == "log-ratio":
        meta["implicit_beta"] = cfg.implicit_beta
        meta["beta"] = cfg.implicit_beta
        meta["reduce"] = IMPLICIT_REDUCE
    meta.update(extra or {})
    (out / "prmkit.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def _main_process_first() -> Any:
    """A block the main process runs first while the others wait (no-op in a single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def save_checkpoint(cfg: TrainConfig, out: Path, trainer: PRMTrainer, models: Models, fmt: PRMFormat) -> None:
    """Merged weights + tokenizer + ``prmkit.json`` (+ ``OUT/ref`` for an implicit PRM trained
    against a copy of its initial model; + ``OUT/adapter`` with ``save_adapter``)."""
    model = models.model
    if cfg.lora:
        if cfg.save_adapter:
            model.save_pretrained(str(out / "adapter"))
        save_model = model.merge_and_unload()
    else:
        save_model = models.base if not hasattr(model, "module") else model
    # FSDP2 shards the model in place (trainer.model is still ``model``): ask the Trainer, not identity
    sharded = bool(
        getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False)
    )
    if (sharded or trainer.model is not model) and not cfg.lora:  # wrapped by accelerate / DeepSpeed
        trainer.save_model(str(out))  # every process takes part (gathers sharded weights)
    elif trainer.is_world_process_zero():
        save_model.save_pretrained(str(out))
    if not trainer.is_world_process_zero():  # multi-process: the main process writes the rest once
        return
    models.tokenizer.save_pretrained(str(out))
    extra: dict[str, Any] = {}
    if models.ref_model is not None:
        if cfg.ref_model:
            extra["ref_model"] = cfg.ref_model
        else:
            models.ref_model.save_pretrained(str(out / "ref"))
            models.tokenizer.save_pretrained(str(out / "ref"))
            extra["ref_model"] = "ref"
    write_prmkit_json(out, fmt, cfg, extra)
    tok_dir = out / "tokenizer"
    if cfg.init == "tiny" and tok_dir.is_dir() and not cfg.resume and cfg.save_steps <= 0:
        shutil.rmtree(tok_dir, ignore_errors=True)


def write_summary(cfg: TrainConfig, out: Path, result: TrainResult, n_train: int, n_eval: int) -> None:
    """``OUT/train_summary.json``: config, metrics, eval history, data statistics, versions."""
    summary = {
        "config": config_to_dict(cfg),
        "metrics": result.metrics,
        "history": result.history,
        "data": result.data_stats,
        "global_step": result.global_step,
        "resumed_from": result.resumed_from,
        "n_train_records": n_train,
        "n_eval_records": n_eval,
        "versions": _versions(),
    }
    (out / "train_summary.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )


# ---------------------------------------------------------------- train()


def train(
    cfg: TrainConfig,
    *,
    train_records: list[Solution] | None = None,
    eval_records: list[Solution] | None = None,
) -> TrainResult:
    """Train a PRM as configured; returns metrics and the F1-vs-step history.

    ``train_records``/``eval_records`` may be passed in memory instead of ``cfg.data``/``cfg.eval_data``.
    Example (see docs/training.md)::

        train(TrainConfig(data="labelled.jsonl", out="runs/x", init="tiny", max_steps=100))
    """
    train_records, eval_records = resolve_records(cfg, train_records, eval_records)
    set_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    # the generative verifier renders its prompt in the lm-likelihood layout (a causal LM)
    fmt = record_tools(get_format("lm-likelihood" if cfg.format == GENERATIVE else cfg.format), train_records)
    resume_ckpt = _last_checkpoint(out) if cfg.resume else None
    with _main_process_first():  # under accelerate launch: rank 0 writes the tiny tokenizer first
        models = build_model(cfg, out, model_kind(fmt), train_records)
    cfg = replace(cfg, max_length=resolve_window(cfg.max_length, models.model, models.tokenizer, 1024))
    if cfg.format == GENERATIVE:
        return _train_generative(cfg, out, models, train_records, eval_records, resume_ckpt)
    if fmt.head == "likelihood":
        return _train_likelihood(cfg, out, fmt, models, train_records, eval_records)

    t_data = time.monotonic()
    examples, stats, collator = build_data(cfg, fmt, models.tokenizer, train_records)
    dataset = PRMDataset(examples)

    use_cuda = torch.cuda.is_available()
    bf16 = cfg.bf16 if cfg.bf16 is not None else bool(use_cuda and torch.cuda.is_bf16_supported())
    if models.ref_model is not None and use_cuda:
        models.ref_model.to("cuda", dtype=torch.bfloat16 if bf16 else None)
    steps = total_steps(cfg, len(dataset))
    eval_on = bool(eval_records)
    args = training_arguments(cfg, out, steps, eval_on, use_cuda, bf16)
    history_path = out / "eval_history.jsonl"
    if not resume_ckpt:
        for stale in (history_path, out / "train_log.jsonl"):
            if stale.exists():
                stale.unlink()
    trainer = PRMTrainer(
        model=models.model,
        args=args,
        train_dataset=dataset,
        eval_dataset=PRMDataset(examples[:1]) if eval_on else None,  # metrics come from eval_records
        data_collator=collator,
        processing_class=models.tokenizer,
        prm_format=fmt,
        prm_loss=cfg.loss,
        pqm_zeta=cfg.pqm_zeta,
        implicit_beta=cfg.implicit_beta,
        ref_model=models.ref_model,
        eval_records=eval_records,
        history_path=str(history_path),
        steps_per_example=stats.steps_labelled / len(examples) if cfg.loss_norm == "global" else None,
        group_batches=cfg.group_by_length,
        callbacks=[
            TimeBudget(cfg.time_budget_s),
            Progress(steps),
            EvalLine(),
            LogFile(out / "train_log.jsonl"),
        ],
    )
    trainer.remove_callback(PrinterCallback)  # raw log dicts: the bar and EvalLine say it readably
    data_s = time.monotonic() - t_data

    t_train = time.monotonic()
    out_train = trainer.train(resume_from_checkpoint=resume_ckpt)
    train_s = time.monotonic() - t_train
    if eval_on and trainer.history and trainer.history[-1].get("step") == trainer.state.global_step:
        final = trainer.history[-1]  # already evaluated at the last step
    else:
        final = trainer.evaluate() if eval_on else {}

    save_checkpoint(cfg, out, trainer, models, fmt)
    metrics = {k: float(v) for k, v in final.items() if isinstance(v, int | float)}
    metrics["train_loss"] = float(out_train.training_loss)
    metrics["train_runtime_s"] = round(train_s, 2)
    metrics["data_build_s"] = round(data_s, 2)
    metrics["tokens_per_s"] = round(collator.tokens_seen / train_s, 1) if train_s > 0 else 0.0
    metrics["padding_fraction"] = (
        round(1 - collator.tokens_seen / collator.tokens_padded, 4) if collator.tokens_padded else 0.0
    )
    result = TrainResult(
        out_dir=str(out),
        metrics=metrics,
        history=trainer.history,
        data_stats=stats.to_dict(),
        global_step=trainer.state.global_step,
        train_runtime_s=train_s,
        tokens_seen=collator.tokens_seen,
        tokens_padded=collator.tokens_padded,
        log_history=list(trainer.state.log_history),
        resumed_from=resume_ckpt,
    )
    if trainer.is_world_process_zero():
        write_summary(cfg, out, result, len(train_records), len(eval_records or []))
    return result


def _train_likelihood(
    cfg: TrainConfig,
    out: Path,
    fmt: PRMFormat,
    models: Models,
    train_records: list[Solution],
    eval_records: list[Solution] | None,
) -> TrainResult:
    """``--format lm-likelihood``: fit the logistic head on the base LM's token log-probabilities
    (:mod:`prmkit.train.likelihood`), save, and evaluate through the scorer ``prmkit score`` uses."""
    fit = train_likelihood(cfg, models.model, models.tokenizer, train_records, out)
    write_prmkit_json(out, fmt, cfg, {"likelihood_head": fit["head"], "score": "sigmoid"})
    metrics: dict[str, float] = {"train_runtime_s": round(fit["seconds"], 2), "steps_fitted": fit["n_steps"]}
    history: list[dict[str, float]] = []
    if eval_records:
        scorer = likelihood_scorer(models.model, models.tokenizer, fit["head"], cfg.max_length)
        scored = list(scorer.score_records(eval_records))
        preds = [predict_first_error(r.scores) for r in scored]
        m = processbench_metrics(preds, [r.first_error for r in scored])
        metrics |= {"eval_pb_f1": m["f1"], "eval_pb_acc_err": m["acc_err"], "eval_pb_acc_corr": m["acc_corr"]}
        history.append({"step": 0, **{k: v for k, v in metrics.items() if k.startswith("eval_")}})
    if not is_quiet():
        print(f"lm-likelihood head fitted on {fit['n_steps']} steps in {fit['seconds']:.1f} s"
              + (f"; held-out first-error F1 {metrics['eval_pb_f1']:.1f}" if eval_records else ""))  # fmt: skip
    result = TrainResult(out_dir=str(out), metrics=metrics, history=history, global_step=0,
                         train_runtime_s=fit["seconds"], tokens_seen=fit["tokens"])  # fmt: skip
    write_summary(cfg, out, result, len(train_records), len(eval_records or []))
    return result


def verifier_settings(cfg: TrainConfig, solve: bool = False) -> dict[str, Any]:
    """The ``verifier`` block of a generative verifier's ``prmkit.json`` (the scorer's defaults);
    ``solve``: its chains open with its own solution (the data decides: ``ChainStats.solve``).

    A solver other than the verifier needs chains with a solution (an error naming
    ``verifier_solver`` otherwise)."""
    if cfg.verifier_solver != "self" and not solve:
        raise PrmkitError("a solver writes the solution a verifier reads: the chains do not open with one "
                          "(Solve:)", field="verifier_solver")  # fmt: skip
    out = {"k": cfg.verifier_k, "temperature": cfg.verifier_temperature, "aggregate": cfg.verifier_aggregate,
           "tool": cfg.verifier_tool, "solve": solve}  # fmt: skip
    if cfg.verifier_solver != "self":
        out["solver"] = cfg.verifier_solver
    if cfg.verifier_check_temperature is not None:
        out["check_temperature"] = cfg.verifier_check_temperature
    return out


def _train_generative(
    cfg: TrainConfig,
    out: Path,
    models: Models,
    train_records: list[Solution],
    eval_records: list[Solution] | None,
    resume_ckpt: str | None,
) -> TrainResult:
    """``--format generative``: SFT on verification chains (:mod:`prmkit.train.generative`), save
    with ``prmkit.json`` (format ``generative``), and evaluate the held-out records through the
    scorer ``prmkit score`` builds (:class:`~prmkit.scorers.generative.GenerativeScorer`)."""
    t_data = time.monotonic()
    examples, stats = build_chain_examples(
        train_records,
        models.tokenizer,
        cfg.max_length,
        cfg.chain_source,
        get_tool(cfg.verifier_tool),
        learn_solution=cfg.verifier_solution_loss,
    )
    if not examples:
        raise PrmkitError(
            f"no training chain (all {stats.filtered_out} disagree with the labels)", file=cfg.data
        )
    settings = verifier_settings(cfg, stats.solve)  # before training: a solver without solutions is an error
    dataset = PRMDataset(examples)
    collator = ChainCollator(
        models.tokenizer.pad_token_id if models.tokenizer.pad_token_id is not None else 0, cfg.verdict_weight
    )
    use_cuda = torch.cuda.is_available()
    bf16 = cfg.bf16 if cfg.bf16 is not None else bool(use_cuda and torch.cuda.is_bf16_supported())
    steps = total_steps(cfg, len(dataset))
    args = training_arguments(cfg, out, steps, False, use_cuda, bf16)
    if not resume_ckpt and (out / "train_log.jsonl").exists():
        (out / "train_log.jsonl").unlink()
    trainer = SFTTrainer(
        model=models.model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=models.tokenizer,
        group_batches=cfg.group_by_length,
        callbacks=[TimeBudget(cfg.time_budget_s), Progress(steps), LogFile(out / "train_log.jsonl")],
    )
    trainer.remove_callback(PrinterCallback)
    data_s = time.monotonic() - t_data
    t_train = time.monotonic()
    out_train = trainer.train(resume_from_checkpoint=resume_ckpt)
    train_s = time.monotonic() - t_train
    model = models.model.merge_and_unload() if cfg.lora else models.base
    if trainer.is_world_process_zero():
        if cfg.lora and cfg.save_adapter:
            models.model.save_pretrained(str(out / "adapter"))
        model.save_pretrained(str(out))
        models.tokenizer.save_pretrained(str(out))
        write_prmkit_json(out, get_format("lm-likelihood"), cfg,
                          {"format": GENERATIVE, "prm_format": None, "score": "verdict probability",
                           "verifier": settings, "chain_source": cfg.chain_source})  # fmt: skip
    metrics: dict[str, float] = {
        "train_loss": float(out_train.training_loss),
        "train_runtime_s": round(train_s, 2),
        "data_build_s": round(data_s, 2),
        "tokens_per_s": round(collator.tokens_seen / train_s, 1) if train_s > 0 else 0.0,
    }
    history: list[dict[str, float]] = []
    if eval_records:
        scorer = GenerativeScorer(model.eval(), models.tokenizer, max_length=cfg.max_length,
                                  meta={"base_model": cfg.model}, **settings)  # fmt: skip
        scored = list(scorer.score_records(eval_records))
        m = processbench_metrics(
            [predict_first_error(r.scores) for r in scored], [r.first_error for r in scored]
        )
        metrics |= {"eval_pb_f1": m["f1"], "eval_pb_acc_err": m["acc_err"], "eval_pb_acc_corr": m["acc_corr"],
                    "eval_generated_tokens": scorer.compute["generated_tokens"]}  # fmt: skip
        history.append(
            {"step": trainer.state.global_step, **{k: v for k, v in metrics.items() if k.startswith("eval_")}}
        )
        if not is_quiet():
            print(f"generative verifier: held-out first-error F1 {m['f1']:.1f}", file=sys.stderr)
    result = TrainResult(out_dir=str(out), metrics=metrics, history=history, data_stats=stats.to_dict(),
                         global_step=trainer.state.global_step, train_runtime_s=train_s,
                         tokens_seen=collator.tokens_seen, tokens_padded=collator.tokens_padded,
                         log_history=list(trainer.state.log_history), resumed_from=resume_ckpt)  # fmt: skip
    if trainer.is_world_process_zero():
        write_summary(cfg, out, result, len(train_records), len(eval_records or []))
    return result


def _versions() -> dict[str, str]:
    v = versions(("torch", "transformers", "peft"))
    v["threads"] = str(torch.get_num_threads())
    v["cpu_count"] = str(os.cpu_count())
    return v
