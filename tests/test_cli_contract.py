"""The CLI's contract, pinned independently of the library that parses the flags.

For every command: the flag names it accepts and the config field each one sets, the defaults a
command passes to its library function when no flag is given, ``--help`` naming every flag, and
exit code 2 with a message naming the flag (or the recipe key) for bad values.

The library function behind each command is replaced by a fake that records the config it gets,
so each case runs in milliseconds. Expected values are written out by hand below (the defaults
are the documented ones in docs/*.md and the pre-rewrite Typer CLI), never read from the code.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import SimpleNamespace
from typing import Any

import pytest

import cli_util
from prmkit.formats import DataStats

# ---------------------------------------------------------------- harness


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """``prmkit ARGS`` in-process at a wide terminal, progress flags as given (conftest sets quiet)."""
    monkeypatch.delenv("PRMKIT_QUIET", raising=False)  # conftest sets it; the contract pins the flag
    return cli_util.run_cli(args, monkeypatch, capsys, COLUMNS="250", TERMINAL_WIDTH="250")


@dataclasses.dataclass
class Cmd:
    """One command: its argv prefix, the library function it calls (module, name, fake return)."""

    argv: list[str]
    target: tuple[str, str]
    ret: Any
    defaults: dict[str, Any]
    #: one invocation setting every flag to a non-default value: (args, {field: expected})
    flags: tuple[list[str], dict[str, Any]]
    #: the negative / second form of boolean flags: (args, {field: expected})
    negatives: tuple[list[str], dict[str, Any]] | None = None
    #: extra argv needed by every invocation (positional arguments)
    required: list[str] = dataclasses.field(default_factory=list)


def _eval_outcome() -> SimpleNamespace:
    return SimpleNamespace(markdown="| md |", results_path="r.json", report_path="r.html")


_ARITH_COMMON_DEFAULTS = {"seed": 0, "min_ops": 2, "max_ops": 8, "max_value": 1000, "distractors": True}
_ARITH_COMMON_FLAGS = (
    ["--seed", "3", "--min-ops", "1", "--max-ops", "5", "--max-value", "99", "--no-distractors"],
    {"seed": 3, "min_ops": 1, "max_ops": 5, "max_value": 99, "distractors": False},
)

COMMANDS: dict[str, Cmd] = {
    "train": Cmd(
        argv=["train"],
        target=("prmkit.train", "train"),
        ret=SimpleNamespace(out_dir="o", global_step=0, metrics={}),
        defaults={
            "data": None,
            "out": None,
            "model": None,
            "gguf_file": None,
            "init": None,
            "format": "token-classification",
            "loss": "bce",
            "eval_data": None,
            "eval_fraction": 0.05,
            "after_error": "drop",
            "label_transform": "none",
            "er_eta": 1.0,
            "pqm_zeta": 4.0,
            "implicit_beta": 0.05,
            "freeprm_buffer_factor": 0.5,  # the authors' beta (docs/methods.md#d5-freeprm-buffer-loss)
            "ref_model": None,
            "max_length": None,  # the model's positions, at most 1024 (resolved when the model loads)
            "epochs": 1.0,
            "max_steps": -1,
            "time_budget_s": None,
            "batch_size": 16,
            "grad_accum": 1,
            "lr": 1e-4,
            "lora": False,
            "lora_r": 16,
            "gradient_checkpointing": False,
            "bf16": None,
            "group_by_length": True,
            "deepspeed": None,
            "fsdp": None,
            "eval_steps": 0,
            "save_steps": 0,
            "resume": False,
            "seed": 0,
        },  # fmt: skip
        flags=(
            [
                "--data",
                "d.jsonl",
                "--out",
                "o",
                "--model",
                "m",
                "--gguf-file",
                "g.gguf",
                "--init",
                "tiny",
                "--format",
                "value-head",
                "--loss",
                "bce-hard",
                "--eval-data",
                "e.jsonl",
                "--eval-fraction",
                "0.1",
                "--after-error",
                "keep",
                "--label-transform",
                "none",
                "--er-eta",
                "2.5",
                "--pqm-zeta",
                "3.0",
                "--implicit-beta",
                "0.1",
                "--freeprm-buffer-factor",
                "0.5",
                "--ref-model",
                "r",
                "--max-length",
                "256",
                "--epochs",
                "2",
                "--max-steps",
                "7",
                "--time-budget",
                "30",
                "--batch-size",
                "4",
                "--grad-accum",
                "2",
                "--lr",
                "0.001",
                "--lora",
                "--lora-r",
                "8",
                "--gradient-checkpointing",
                "--bf16",
                "--no-group-by-length",
                "--deepspeed",
                "ds.json",
                "--fsdp",
                "full_shard",
                "--eval-steps",
                "5",
                "--save-steps",
                "6",
                "--resume",
                "--seed",
                "3",
            ],
            {
                "data": "d.jsonl",
                "out": "o",
                "model": "m",
                "gguf_file": "g.gguf",
                "init": "tiny",
                "format": "value-head",
                "loss": "bce-hard",
                "eval_data": "e.jsonl",
                "eval_fraction": 0.1,
                "after_error": "keep",
                "label_transform": "none",
                "er_eta": 2.5,
                "pqm_zeta": 3.0,
                "implicit_beta": 0.1,
                "freeprm_buffer_factor": 0.5,
                "ref_model": "r",
                "max_length": 256,
                "epochs": 2.0,
                "max_steps": 7,
                "time_budget_s": 30.0,
                "batch_size": 4,
                "grad_accum": 2,
                "lr": 0.001,
                "lora": True,
                "lora_r": 8,
                "gradient_checkpointing": True,
                "bf16": True,
                "group_by_length": False,
                "deepspeed": "ds.json",
                "fsdp": "full_shard",
                "eval_steps": 5,
                "save_steps": 6,
                "resume": True,
                "seed": 3,
            },
        ),  # fmt: skip
        negatives=(
            ["--no-lora", "--no-gradient-checkpointing", "--no-bf16", "--group-by-length", "--no-resume"],
            {
                "lora": False,
                "gradient_checkpointing": False,
                "bf16": False,
                "group_by_length": True,
                "resume": False,
            },
        ),
    ),
    "label": Cmd(
        argv=["label"],
        target=("prmkit.label.runner", "run_labelling"),
        ret={
            "solutions": 0,
            "kept": 0,
            "dropped": 0,
            "dropped_by_reason": {},
            "rollouts": 0,
            "rollout_tokens": 0,
            "rollouts_per_solution": 0.0,
            "elapsed_s": 0.0,
        },  # fmt: skip
        defaults={
            "input": "",
            "out": "",
            "policy": "arith",
            "policy_opts": {},
            "method": "mc",
            "label_opts": {},
            "n": None,
            "seed": 0,
            "resume": False,
            "executor": "local",
            "batch_size": 16,
            "input_kind": "auto",
            "samples_per_problem": None,
            "max_steps": None,
            "scan": False,
            "scan_min_confidence": None,
            "scan_samples": None,
            "scan_tolerance": None,
            "ray_address": None,
            "num_cpus": None,
            "quiet": None,
        },  # fmt: skip
        flags=(
            [
                "--in",
                "p.jsonl",
                "--out",
                "o",
                "--policy",
                "hf",
                "--policy-opt",
                "error_rate=0.2",
                "--policy-opt",
                "name=x",
                "--method",
                "binary",
                "--label-opt",
                "early_stop=true",
                "--n",
                "5",
                "--seed",
                "2",
                "--resume",
                "--executor",
                "ray",
                "--batch-size",
                "4",
                "--input-kind",
                "problems",
                "--samples-per-problem",
                "3",
                "--max-steps",
                "9",
                "--scan",
                "--scan-min-confidence",
                "0.6",
                "--scan-samples",
                "7",
                "--scan-tolerance",
                "--ray-address",
                "auto",
                "--num-cpus",
                "2",
            ],
            {
                "input": "p.jsonl",
                "out": "o",
                "policy": "hf",
                "policy_opts": {"error_rate": 0.2, "name": "x"},
                "method": "binary",
                "label_opts": {"early_stop": True},
                "n": 5,
                "seed": 2,
                "resume": True,
                "executor": "ray",
                "batch_size": 4,
                "input_kind": "problems",
                "samples_per_problem": 3,
                "max_steps": 9,
                "scan": True,
                "scan_min_confidence": 0.6,
                "scan_samples": 7,
                "scan_tolerance": True,
                "ray_address": "auto",
                "num_cpus": 2,
            },
        ),  # fmt: skip
        negatives=(["--scan", "--no-scan-tolerance"], {"scan": True, "scan_tolerance": False}),
    ),
    "convert": Cmd(
        argv=["convert"],
        required=["in.json", "out.jsonl"],
        target=("prmkit.formats", "convert"),
        ret=SimpleNamespace(read=0, written=0, rejected=0, rejects_path=None, errors=[]),
        defaults={
            "input": "in.json",
            "output": "out.jsonl",
            "from_format": None,
            "to_format": "canonical",
            "map": None,
            "split": None,
            "skip_invalid": False,
            "rejects": None,
            "neutral": None,
            "unknown": None,
            "original": None,
            "allow_empty": False,
            "quiet": None,
        },  # fmt: skip
        flags=(
            [
                "--allow-empty",
                "--from",
                "map",
                "--to",
                "trl",
                "--map",
                "problem=q,steps=s",
                "--split",
                "\n",
                "--skip-invalid",
                "--rejects",
                "rej.jsonl",
                "--neutral",
                "positive",
                "--unknown",
                "truncate",
                "--original",
            ],
            {
                "from_format": "map",
                "to_format": "trl",
                "map": "problem=q,steps=s",
                "split": "\n",
                "skip_invalid": True,
                "rejects": "rej.jsonl",
                "neutral": "positive",
                "unknown": "truncate",
                "original": True,
                "allow_empty": True,
            },
        ),  # fmt: skip
        negatives=(["--no-original", "--no-allow-empty"], {"original": False, "allow_empty": False}),
    ),
    "split": Cmd(
        argv=["split"],
        required=["in.jsonl", "out.jsonl"],
        target=("prmkit.policies.split", "split_file"),
        ret=SimpleNamespace(read=0, written=0, steps_before=0, steps_after=0, threshold=None),
        defaults={
            "input": "in.jsonl",
            "output": "out.jsonl",
            "method": "newline",
            "policy": "smollm2",
            "context": "auto",
            "join": "\n",
            "threshold": None,
            "quantile": None,
            "drop_labels": False,
            "batch_size": 8,
            "device": None,
            "quiet": None,
        },  # fmt: skip
        flags=(
            [
                "--method",
                "confidence",
                "--policy",
                "arith-base",
                "--context",
                "problem",
                "--join",
                "\n\n",
                "--threshold",
                "0.2",
                "--drop-labels",
                "--batch-size",
                "3",
                "--device",
                "cpu",
            ],
            {
                "method": "confidence",
                "policy": "arith-base",
                "context": "problem",
                "join": "\n\n",
                "threshold": 0.2,
                "drop_labels": True,
                "batch_size": 3,
                "device": "cpu",
            },
        ),  # fmt: skip
        negatives=(["--no-drop-labels"], {"drop_labels": False}),
    ),
    "inspect": Cmd(
        argv=["inspect"],
        required=["data.jsonl"],
        target=("prmkit.formats", "inspect_file"),
        ret=DataStats(),
        defaults={
            "path": "data.jsonl",
            "format": "canonical",
            "map": None,
            "split": None,
            "neutral": None,
            "skip_invalid": False,
        },  # fmt: skip  (quiet: False before the rewrite, None now; both mean "follow --quiet")
        flags=(
            [
                "--format",
                "trl",
                "--map",
                "problem=q",
                "--split",
                "\n",
                "--neutral",
                "negative",
                "--skip-invalid",
                "--json",
            ],
            {"format": "trl", "map": "problem=q", "split": "\n", "neutral": "negative", "skip_invalid": True},
        ),  # fmt: skip
        negatives=(["-f", "prm800k"], {"format": "prm800k"}),
    ),
    "score": Cmd(
        argv=["score"],
        target=("prmkit.scorers.runner", "score_file"),
        ret={"written": 0, "output": "o", "skipped": 0, "truncated_steps": 0},
        defaults={
            "prm": None,
            "format": None,
            "input": "",
            "output": "",
            "resume": False,
            "batch_tokens": None,
            "max_length": None,
            "device": None,
            "dtype": None,
            "options": {},
        },  # fmt: skip
        flags=(
            [
                "--prm",
                "p",
                "--format",
                "calculator",
                "--in",
                "i.jsonl",
                "--out",
                "o.jsonl",
                "--resume",
                "--batch-tokens",
                "4096",
                "--max-length",
                "512",
                "--device",
                "cpu",
                "--dtype",
                "fp32",
                "--option",
                "a=1",
                "-o",
                "b=x",
            ],
            {
                "prm": "p",
                "format": "calculator",
                "input": "i.jsonl",
                "output": "o.jsonl",
                "resume": True,
                "batch_tokens": 4096,
                "max_length": 512,
                "device": "cpu",
                "dtype": "fp32",
                "options": {"a": 1, "b": "x"},
            },
        ),  # fmt: skip
    ),
    "search": Cmd(
        argv=["search"],
        target=("prmkit.search.run", "run_search"),
        ret={"accuracy": 0.0},
        defaults={
            "input": None,
            "out": None,
            "policy": "arith",
            "policy_options": {},
            "prm": None,
            "format": None,
            "scorer": None,
            "scorer_options": {},
            "method": "best-of-n",
            "n": 16,
            "width": 4,
            "agg": "min",
            "answer_rule": "best_of_n",
            "max_steps": 20,
            "max_tokens": None,
            "max_total_tokens": None,
            "lookahead": 0,
            "tau": 64,
            "mcts_iterations": 16,
            "seed": 0,
            "limit": None,
            "chosen_out": None,
            "report": None,
            "resume": False,
        },  # fmt: skip
        flags=(
            [
                "--in",
                "p.jsonl",
                "--out",
                "r.jsonl",
                "--policy",
                "hf",
                "--policy-opt",
                "model=m",
                "--policy-opt",
                "t=0.5",
                "--prm",
                "prm",
                "--format",
                "value-head",
                "--scorer",
                "calculator",
                "--scorer-opt",
                "k=2",
                "--method",
                "beam",
                "--n",
                "8",
                "--width",
                "2",
                "--agg",
                "last",
                "--answer-rule",
                "majority",
                "--max-steps",
                "12",
                "--max-tokens",
                "100",
                "--max-total-tokens",
                "900",
                "--lookahead",
                "1",
                "--tau",
                "32",
                "--mcts-iterations",
                "4",
                "--seed",
                "5",
                "--limit",
                "3",
                "--chosen-out",
                "c.jsonl",
                "--report",
                "r.html",
                "--resume",
            ],
            {
                "input": "p.jsonl",
                "out": "r.jsonl",
                "policy": "hf",
                "policy_options": {"model": "m", "t": 0.5},
                "prm": "prm",
                "format": "value-head",
                "scorer": "calculator",
                "scorer_options": {"k": 2},
                "method": "beam",
                "n": 8,
                "width": 2,
                "agg": "last",
                "answer_rule": "majority",
                "max_steps": 12,
                "max_tokens": 100,
                "max_total_tokens": 900,
                "lookahead": 1,
                "tau": 32,
                "mcts_iterations": 4,
                "seed": 5,
                "limit": 3,
                "chosen_out": "c.jsonl",
                "report": "r.html",
                "resume": True,
            },
        ),  # fmt: skip
        negatives=(["--no-resume"], {"resume": False}),
    ),
    "serve": Cmd(
        argv=["serve"],
        target=("prmkit.serve", "serve"),
        ret=None,
        defaults={
            "prm": None,
            "format": None,
            "host": "127.0.0.1",
            "port": 8000,
            "device": None,
            "batching": True,
            "max_wait_ms": 1.0,
            "max_batch_solutions": 64,
            "max_queue": 256,
            "request_timeout_s": 60.0,
            "aggregation": "min",
            "query_delimiter": "<|im_start|>assistant\n",
            "steps_preset": "\n\n",
        },  # fmt: skip
        flags=(
            [
                "--prm",
                "calculator",
                "--format",
                "calculator",
                "--host",
                "0.0.0.0",
                "--port",
                "9001",
                "--device",
                "cpu",
                "--no-batching",
                "--max-wait-ms",
                "2.5",
                "--max-batch-solutions",
                "8",
                "--max-queue",
                "10",
                "--request-timeout",
                "5",
                "--aggregation",
                "last",
                "--query-delimiter",
                "Q:",
                "--steps-preset",
                "\n",
            ],
            {
                "prm": "calculator",
                "format": "calculator",
                "host": "0.0.0.0",
                "port": 9001,
                "device": "cpu",
                "batching": False,
                "max_wait_ms": 2.5,
                "max_batch_solutions": 8,
                "max_queue": 10,
                "request_timeout_s": 5.0,
                "aggregation": "last",
                "query_delimiter": "Q:",
                "steps_preset": "\n",
            },
        ),  # fmt: skip
        negatives=(["--batching"], {"batching": True}),
    ),
    "quickstart": Cmd(
        argv=["quickstart"],
        target=("prmkit.quickstart", "run_quickstart"),
        ret={"stages": [], "total_seconds": 0.0, "report": "r.html"},
        defaults={
            "out": "runs/quickstart",
            "tiny": False,
            "gsm8k": None,
            "seed": 0,
            # 'binary' before the quickstart split (issue #21 item 4) made 'mc' the default
            "train_labels": "mc",
            "train_steps": None,
        },  # fmt: skip
        flags=(
            [
                "--out",
                "o",
                "--tiny",
                "--seed",
                "4",
                "--train-labels",
                "exact",
                "--train-steps",
                "50",
            ],
            {
                "out": "o",
                "tiny": True,
                "seed": 4,
                "train_labels": "exact",
                "train_steps": 50,
            },
        ),  # fmt: skip
        negatives=(["--full"], {"tiny": False}),
    ),
    "world arith problems": Cmd(
        argv=["world", "arith", "problems"],
        target=("prmkit.worlds.arith_tasks", "run_arith_problems"),
        ret=0,
        defaults={"n": 100, "out": "arith_problems.jsonl", **_ARITH_COMMON_DEFAULTS},
        flags=(
            ["--n", "7", "--out", "p.jsonl", *_ARITH_COMMON_FLAGS[0]],
            {"n": 7, "out": "p.jsonl", **_ARITH_COMMON_FLAGS[1]},
        ),
        negatives=(["--distractors"], {"distractors": True}),
    ),
    "world arith bench": Cmd(
        argv=["world", "arith", "bench"],
        target=("prmkit.worlds.arith_tasks", "run_arith_bench"),
        ret=0,
        defaults={
            "n": 1000,
            "out": "arith_bench.jsonl",
            "format": "canonical",
            "wrong_fraction": 0.5,
            "error_rate": 0.2,
            "miracle_rate": 0.02,
            "diversity": 0.5,
            **_ARITH_COMMON_DEFAULTS,
        },  # fmt: skip
        flags=(
            [
                "--n",
                "7",
                "--out",
                "b.json",
                "--format",
                "processbench",
                "--wrong-fraction",
                "0.3",
                "--error-rate",
                "0.1",
                "--miracle-rate",
                "0.0",
                "--diversity",
                "0.9",
                *_ARITH_COMMON_FLAGS[0],
            ],
            {
                "n": 7,
                "out": "b.json",
                "format": "processbench",
                "wrong_fraction": 0.3,
                "error_rate": 0.1,
                "miracle_rate": 0.0,
                "diversity": 0.9,
                **_ARITH_COMMON_FLAGS[1],
            },
        ),  # fmt: skip
    ),
    "world arith pool": Cmd(
        argv=["world", "arith", "pool"],
        target=("prmkit.worlds.arith_tasks", "run_arith_pool"),
        ret=0,
        defaults={
            "n_problems": 100,
            "n": 8,
            "out": "arith_pool.jsonl",
            "error_rate": 0.15,
            "miracle_rate": 0.02,
            "diversity": 0.5,
            **_ARITH_COMMON_DEFAULTS,
        },  # fmt: skip
        flags=(
            [
                "--n-problems",
                "5",
                "--n",
                "4",
                "--out",
                "pool.jsonl",
                "--error-rate",
                "0.3",
                "--miracle-rate",
                "0.1",
                "--diversity",
                "0.2",
                *_ARITH_COMMON_FLAGS[0],
            ],
            {
                "n_problems": 5,
                "n": 4,
                "out": "pool.jsonl",
                "error_rate": 0.3,
                "miracle_rate": 0.1,
                "diversity": 0.2,
                **_ARITH_COMMON_FLAGS[1],
            },
        ),  # fmt: skip
    ),
    "world arith pretrain": Cmd(
        argv=["world", "arith", "pretrain"],
        target=("prmkit.train.pretrain", "pretrain"),
        ret=None,
        defaults={
            "out": None,
            "seed": 0,
            "max_steps": 2000,
            "time_budget_s": None,
            "batch_size": 16,
            "lr": 2e-3,
            "arch": "llama",
            "hidden": 128,
            "layers": 6,
            "heads": 4,
            "vocab_size": 800,
            "max_length": 512,
            "max_value": 1000,
            "min_ops": 2,
            "max_ops": 8,
            "bf16": True,
            "resume": False,
        },  # fmt: skip
        flags=(
            [
                "--out",
                "o",
                "--seed",
                "3",
                "--max-steps",
                "50",
                "--time-budget-s",
                "60",
                "--batch-size",
                "4",
                "--lr",
                "0.01",
                "--min-lr-ratio",
                "0.1",
                "--warmup-steps",
                "5",
                "--weight-decay",
                "0",
                "--grad-clip",
                "0.5",
                "--result-weight",
                "2",
                "--drill-rows",
                "0",
                "--drill-add-sub",
                "1",
                "--arch",
                "qwen2",
                "--hidden",
                "64",
                "--layers",
                "2",
                "--heads",
                "2",
                "--vocab-size",
                "400",
                "--max-length",
                "256",
                "--max-value",
                "99",
                "--min-ops",
                "1",
                "--max-ops",
                "3",
                "--diversity",
                "0",
                "--eval-every",
                "0",
                "--n-eval",
                "10",
                "--save-every",
                "0",
                "--threads",
                "1",
                "--no-bf16",
                "--resume",
            ],
            {
                "out": "o",
                "seed": 3,
                "max_steps": 50,
                "time_budget_s": 60.0,
                "batch_size": 4,
                "lr": 0.01,
                "min_lr_ratio": 0.1,
                "warmup_steps": 5,
                "weight_decay": 0.0,
                "grad_clip": 0.5,
                "result_weight": 2.0,
                "drill_rows": 0,
                "drill_add_sub": 1.0,
                "arch": "qwen2",
                "hidden": 64,
                "layers": 2,
                "heads": 2,
                "vocab_size": 400,
                "max_length": 256,
                "max_value": 99,
                "min_ops": 1,
                "max_ops": 3,
                "diversity": 0.0,
                "eval_every": 0,
                "n_eval": 10,
                "save_every": 0,
                "threads": 1,
                "bf16": False,
                "resume": True,
            },
        ),  # fmt: skip
        negatives=(["--bf16", "--no-resume"], {"bf16": True, "resume": False}),
    ),
    "world tools tasks": Cmd(
        argv=["world", "tools", "tasks"],
        target=("prmkit.worlds.tools_tasks", "run_tools_tasks"),
        ret=0,
        defaults={"n": 100, "out": "tools_tasks.jsonl", "seed": 0, "templates": None},  # fmt: skip
        flags=(
            ["--n", "7", "--out", "t.jsonl", "--seed", "3", "--templates", "price,sum"],
            {"n": 7, "out": "t.jsonl", "seed": 3, "templates": ["price", "sum"]},
        ),  # fmt: skip
    ),
    "world tools bench": Cmd(
        argv=["world", "tools", "bench"],
        target=("prmkit.worlds.tools_tasks", "run_tools_bench"),
        ret=0,
        defaults={
            "n": 1000,
            "out": "tools_bench.jsonl",
            "format": "canonical",
            "wrong_fraction": 0.5,
            "error_rate": 0.18,
            "seed": 0,
            "templates": None,
        },  # fmt: skip
        flags=(
            [
                "--n",
                "7",
                "--out",
                "b.json",
                "--format",
                "processbench",
                "--wrong-fraction",
                "0.3",
                "--error-rate",
                "0.1",
                "--seed",
                "3",
                "--templates",
                "cost",
            ],
            {
                "n": 7,
                "out": "b.json",
                "format": "processbench",
                "wrong_fraction": 0.3,
                "error_rate": 0.1,
                "seed": 3,
                "templates": ["cost"],
            },
        ),  # fmt: skip
    ),
    "world tools pool": Cmd(
        argv=["world", "tools", "pool"],
        target=("prmkit.worlds.tools_tasks", "run_tools_pool"),
        ret=0,
        defaults={
            "n_problems": 100,
            "n": 8,
            "out": "tools_pool.jsonl",
            "error_rate": 0.18,
            "seed": 0,
            "templates": None,
        },  # fmt: skip
        flags=(
            ["--n-problems", "5", "--n", "4", "--out", "pool.jsonl", "--error-rate", "0.3", "--seed", "2"],
            {"n_problems": 5, "n": 4, "out": "pool.jsonl", "error_rate": 0.3, "seed": 2},
        ),  # fmt: skip
    ),
    "world tools pairs": Cmd(
        argv=["world", "tools", "pairs"],
        target=("prmkit.worlds.tools_tasks", "run_tools_pairs"),
        ret=0,
        defaults={"n": 1000, "out": "tools_pairs.jsonl", "seed": 0, "templates": None},  # fmt: skip
        flags=(
            ["--n", "9", "--out", "pairs.jsonl", "--seed", "4", "--templates", "stock,cheaper"],
            {"n": 9, "out": "pairs.jsonl", "seed": 4, "templates": ["stock", "cheaper"]},
        ),  # fmt: skip
    ),
    "world tools pretrain": Cmd(
        argv=["world", "tools", "pretrain"],
        target=("prmkit.train.pretrain", "pretrain"),
        ret=None,
        defaults={
            "out": None,
            "seed": 0,
            "max_steps": 2000,
            "time_budget_s": None,
            "batch_size": 16,
            "lr": 2e-3,
            "argument_weight": 3.0,
            "observation_weight": 0.1,
            "arch": "llama",
            "hidden": 128,
            "layers": 6,
            "heads": 4,
            "vocab_size": 800,
            "max_length": 768,
            "templates": None,
            "bf16": True,
            "resume": False,
        },  # fmt: skip
        flags=(
            [
                "--out",
                "o",
                "--seed",
                "3",
                "--max-steps",
                "50",
                "--time-budget-s",
                "60",
                "--stop-after",
                "20",
                "--batch-size",
                "4",
                "--lr",
                "0.01",
                "--min-lr-ratio",
                "0.1",
                "--warmup-steps",
                "5",
                "--weight-decay",
                "0",
                "--grad-clip",
                "0.5",
                "--argument-weight",
                "2",
                "--observation-weight",
                "0",
                "--arch",
                "qwen2",
                "--hidden",
                "64",
                "--layers",
                "2",
                "--heads",
                "2",
                "--vocab-size",
                "400",
                "--max-length",
                "256",
                "--templates",
                "price,sum",
                "--eval-every",
                "0",
                "--n-eval",
                "10",
                "--save-every",
                "0",
                "--threads",
                "1",
                "--no-bf16",
                "--resume",
            ],
            {
                "out": "o",
                "seed": 3,
                "max_steps": 50,
                "time_budget_s": 60.0,
                "stop_after": 20,
                "batch_size": 4,
                "lr": 0.01,
                "min_lr_ratio": 0.1,
                "warmup_steps": 5,
                "weight_decay": 0.0,
                "grad_clip": 0.5,
                "argument_weight": 2.0,
                "observation_weight": 0.0,
                "arch": "qwen2",
                "hidden": 64,
                "layers": 2,
                "heads": 2,
                "vocab_size": 400,
                "max_length": 256,
                "templates": ["price", "sum"],
                "eval_every": 0,
                "n_eval": 10,
                "save_every": 0,
                "threads": 1,
                "bf16": False,
                "resume": True,
            },
        ),  # fmt: skip
    ),
    "world gsm8k-perturb": Cmd(
        argv=["world", "gsm8k-perturb"],
        required=["--in", "gsm.jsonl"],
        target=("prmkit.worlds.gsm8k_perturb", "run_gsm8k_perturb"),
        ret=0,
        defaults={
            "path": "gsm.jsonl",
            "out": "gsm8k_perturb.jsonl",
            "seed": 0,
            "rate": 0.5,
            "limit": None,
            "format": "canonical",
            "keep_tags": False,
        },  # fmt: skip
        flags=(
            [
                "--out",
                "g.json",
                "--seed",
                "2",
                "--rate",
                "0.25",
                "--limit",
                "10",
                "--format",
                "processbench",
                "--keep-tags",
            ],
            {
                "out": "g.json",
                "seed": 2,
                "rate": 0.25,
                "limit": 10,
                "format": "processbench",
                "keep_tags": True,
            },
        ),  # fmt: skip
        negatives=(["--strip-tags"], {"keep_tags": False}),
    ),
    "eval processbench": Cmd(
        argv=["eval", "processbench"],
        target=("prmkit.evaluate.run", "run_processbench"),
        ret=_eval_outcome(),
        defaults={
            "prm": None,
            "format": None,
            "scores": None,
            "data": None,
            "subsets": None,
            "threshold": 0.5,
            "tune_on": "gsm8k",
            "n_grid": 10001,
            "batch_size": 16,
            "limit": None,
            "out": None,
        },  # fmt: skip
        flags=(
            [
                "--prm",
                "p",
                "--format",
                "qwen-prm",
                "--scores",
                "s.jsonl",
                "--data",
                "d",
                "--subsets",
                "gsm8k,math",
                "--subsets",
                "omnimath",
                "--threshold",
                "0.3",
                "--tune-on",
                "math",
                "--n-grid",
                "11",
                "--batch-size",
                "2",
                "--limit",
                "5",
                "--out",
                "o",
            ],
            {
                "prm": "p",
                "format": "qwen-prm",
                "scores": "s.jsonl",
                "data": "d",
                "subsets": ["gsm8k", "math", "omnimath"],
                "threshold": 0.3,
                "tune_on": "math",
                "n_grid": 11,
                "batch_size": 2,
                "limit": 5,
                "out": "o",
            },
        ),  # fmt: skip
    ),
    "eval prmbench": Cmd(
        argv=["eval", "prmbench"],
        target=("prmkit.evaluate.run", "run_prmbench"),
        ret=_eval_outcome(),
        defaults={
            "prm": None,
            "format": None,
            "scores": None,
            "data": None,
            "pattern": "*.jsonl",
            "threshold": 0.5,
            "weights": [0.5, 0.5],
            "batch_size": 16,
            "limit": None,
            "out": None,
        },  # fmt: skip
        flags=(
            [
                "--prm",
                "p",
                "--format",
                "qwen-prm",
                "--scores",
                "s.jsonl",
                "--data",
                "d",
                "--pattern",
                "a*.jsonl",
                "--threshold",
                "0.4",
                "--weight",
                "0.3",
                "--weight",
                "0.7",
                "--batch-size",
                "3",
                "--limit",
                "6",
                "--out",
                "o",
            ],
            {
                "prm": "p",
                "format": "qwen-prm",
                "scores": "s.jsonl",
                "data": "d",
                "pattern": "a*.jsonl",
                "threshold": 0.4,
                "weights": [0.3, 0.7],
                "batch_size": 3,
                "limit": 6,
                "out": "o",
            },
        ),  # fmt: skip
    ),
    "eval bon": Cmd(
        argv=["eval", "bon"],
        target=("prmkit.evaluate.run", "run_bon"),
        ret=_eval_outcome(),
        defaults={
            "pool": "",
            "prm": None,
            "format": None,
            "aggregations": ["min", "prod", "last", "mean", "geometric"],
            "rules": ["best_of_n", "majority", "weighted_vote", "hmrv", "wrfv"],
            "ns": None,
            "seeds": 10,
            "transform": "auto",
            "none": "skip",
            "hmrv_tau": 0.5,
            "wrfv_w": 0.5,
            "batch_size": 16,
            "out": None,
        },  # fmt: skip
        flags=(
            [
                "--pool",
                "pool.jsonl",
                "--prm",
                "p",
                "--format",
                "value-head",
                "--agg",
                "min,last",
                "--agg",
                "mean",
                "--rule",
                "majority",
                "--n",
                "1",
                "--n",
                "4",
                "--seeds",
                "3",
                "--transform",
                "sigmoid",
                "--none",
                "error",
                "--hmrv-tau",
                "0.6",
                "--wrfv-w",
                "0.2",
                "--batch-size",
                "5",
                "--out",
                "o",
            ],
            {
                "pool": "pool.jsonl",
                "prm": "p",
                "format": "value-head",
                "aggregations": ["min", "last", "mean"],
                "rules": ["majority"],
                "ns": [1, 4],
                "seeds": 3,
                "transform": "sigmoid",
                "none": "error",
                "hmrv_tau": 0.6,
                "wrfv_w": 0.2,
                "batch_size": 5,
                "out": "o",
            },
        ),  # fmt: skip
    ),
    "eval calibration": Cmd(
        argv=["eval", "calibration"],
        target=("prmkit.evaluate.run", "run_calibration"),
        ret=_eval_outcome(),
        defaults={
            "scores": "",
            "n_bins": 10,
            "fit_quantiles": None,
            "quantiles": [0.1, 0.5, 0.9],
            "out": None,
        },  # fmt: skip
        flags=(
            [
                "--scores",
                "s.jsonl",
                "--n-bins",
                "5",
                "--fit-quantiles",
                "q.json",
                "--quantile",
                "0.2",
                "--quantile",
                "0.8",
                "--out",
                "o",
            ],
            {
                "scores": "s.jsonl",
                "n_bins": 5,
                "fit_quantiles": "q.json",
                "quantiles": [0.2, 0.8],
                "out": "o",
            },
        ),  # fmt: skip
    ),
    "eval pairwise": Cmd(
        argv=["eval", "pairwise"],
        target=("prmkit.evaluate.run", "run_pairwise"),
        ret=_eval_outcome(),
        defaults={
            "pairs": None,
            "prm": None,
            "format": None,
            "scores": None,
            "batch_size": 16,
            "n_boot": 2000,
            "seed": 0,
            "out": None,
        },  # fmt: skip
        flags=(
            [
                "--pairs",
                "p.jsonl",
                "--prm",
                "m",
                "--format",
                "chat-tools",
                "--scores",
                "s.jsonl",
                "--batch-size",
                "4",
                "--n-boot",
                "50",
                "--seed",
                "3",
                "--out",
                "o",
            ],
            {
                "pairs": "p.jsonl",
                "prm": "m",
                "format": "chat-tools",
                "scores": "s.jsonl",
                "batch_size": 4,
                "n_boot": 50,
                "seed": 3,
                "out": "o",
            },
        ),  # fmt: skip
    ),
}


@pytest.fixture
def captured(monkeypatch):
    """Replace each command's library function with a recorder; returns the list of configs seen."""
    seen: list[Any] = []

    def install(cmd: Cmd) -> None:
        mod = importlib.import_module(cmd.target[0])

        def fake(cfg, *a, **k):
            seen.append(cfg)
            return cmd.ret

        monkeypatch.setattr(mod, cmd.target[1], fake)
        if cmd.target == ("prmkit.quickstart", "run_quickstart"):
            monkeypatch.setattr(mod, "summary_markdown", lambda *a, **k: "| summary |")

    return seen, install


def _invoke(
    name: str, extra: list[str], captured, monkeypatch, capsys, tmp_path
) -> tuple[int, str, str, Any]:
    seen, install = captured
    cmd = COMMANDS[name]
    install(cmd)
    monkeypatch.chdir(tmp_path)
    if name == "inspect":  # format detection reads the file
        (tmp_path / "data.jsonl").write_text('{"id": "a", "problem": "p", "steps": ["s"]}\n')
    code, out, err = run_cli([*cmd.argv, *cmd.required, *extra], monkeypatch, capsys)
    return code, out, err, (seen[-1] if seen else None)


def _fields(cfg: Any, names) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in names}


# ---------------------------------------------------------------- defaults and flag -> field mapping


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_defaults(name, captured, monkeypatch, capsys, tmp_path):
    code, out, err, cfg = _invoke(name, [], captured, monkeypatch, capsys, tmp_path)
    assert code == 0, out + err
    expected = COMMANDS[name].defaults
    assert _fields(cfg, expected) == expected


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_sets_its_field(name, captured, monkeypatch, capsys, tmp_path):
    args, expected = COMMANDS[name].flags
    code, out, err, cfg = _invoke(name, args, captured, monkeypatch, capsys, tmp_path)
    assert code == 0, out + err
    assert _fields(cfg, expected) == expected


@pytest.mark.parametrize("name", sorted(n for n, c in COMMANDS.items() if c.negatives))
def test_negative_boolean_flags(name, captured, monkeypatch, capsys, tmp_path):
    args, expected = COMMANDS[name].negatives
    code, out, err, cfg = _invoke(name, args, captured, monkeypatch, capsys, tmp_path)
    assert code == 0, out + err
    assert _fields(cfg, expected) == expected


def test_global_quiet_reaches_the_config(captured, monkeypatch, capsys, tmp_path):
    seen, install = captured
    install(COMMANDS["label"])
    code, out, err = run_cli(["-q", "label"], monkeypatch, capsys)
    assert code == 0, out + err
    assert seen[-1].quiet is True


def test_search_report_positional_runs(monkeypatch, capsys, tmp_path):
    import prmkit.search.run as sr

    read: list[str] = []
    written: dict[str, Any] = {}
    monkeypatch.setattr(sr, "read_results", lambda p: read.append(p) or [p])
    monkeypatch.setattr(sr, "write_report", lambda runs, out: written.update(runs=runs, out=out))
    code, out, err = run_cli(
        ["search-report", "a=x.jsonl", "y.jsonl", "--out", "r.html"], monkeypatch, capsys
    )
    assert code == 0, out + err
    assert read == ["x.jsonl", "y.jsonl"]
    assert written == {"runs": {"a": ["x.jsonl"], "y.jsonl": ["y.jsonl"]}, "out": "r.html"}


# ---------------------------------------------------------------- recipes


def test_recipe_values_and_flag_override(captured, monkeypatch, capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 5\nmax_value: 50\nout: from_recipe.jsonl\n")
    code, out, err, cfg = _invoke(
        "world arith problems", ["--config", str(recipe), "--n", "7"], captured, monkeypatch, capsys, tmp_path
    )
    assert code == 0, out + err
    assert (cfg.n, cfg.max_value, cfg.out, cfg.max_ops) == (7, 50, "from_recipe.jsonl", 8)


def test_recipe_mapping_merged_with_key_value_flags(captured, monkeypatch, capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: binary\npolicy_opts: {error_rate: 0.15, miracle_rate: 0.1}\n")
    code, out, err, cfg = _invoke(
        "label",
        ["--config", str(recipe), "--policy-opt", "miracle_rate=0.02"],
        captured,
        monkeypatch,
        capsys,
        tmp_path,
    )
    assert code == 0, out + err
    assert cfg.method == "binary" and cfg.policy_opts == {"error_rate": 0.15, "miracle_rate": 0.02}


def test_recipe_unknown_key_exit_2(captured, monkeypatch, capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n_problem: 5\n")
    code, out, err, cfg = _invoke("train", ["--config", str(recipe)], captured, monkeypatch, capsys, tmp_path)
    assert code == 2 and cfg is None
    assert "n_problem" in err and "r.yaml" in err


def test_recipe_missing_file_exit_2(captured, monkeypatch, capsys, tmp_path):
    code, out, err, cfg = _invoke(
        "search", ["--config", "nope.yaml"], captured, monkeypatch, capsys, tmp_path
    )
    assert code == 2 and cfg is None
    assert "nope.yaml" in err and "not found" in err


# ---------------------------------------------------------------- bad values: exit 2, the flag named

BAD_VALUES = [
    ("world arith problems", ["--n", "abc"], "--n"),
    ("train", ["--max-steps", "x"], "--max-steps"),
    ("serve", ["--port", "http"], "--port"),
    ("eval bon", ["--n", "two"], "--n"),
    ("label", ["--policy-opt", "novalue"], "--policy-opt"),
    ("score", ["--option", "novalue"], "option"),
    ("search", ["--bogus-flag", "1"], "--bogus-flag"),
    ("train", ["--format", "bogus"], "format"),
]


@pytest.mark.parametrize(("name", "args", "named"), BAD_VALUES, ids=[f"{c}{a[0]}" for c, a, _ in BAD_VALUES])
def test_bad_value_exit_2_naming_the_flag(name, args, named, captured, monkeypatch, capsys, tmp_path):
    code, out, err, cfg = _invoke(name, args, captured, monkeypatch, capsys, tmp_path)
    assert code == 2, out + err
    assert cfg is None  # the library function never ran
    assert named in err
    assert "Traceback" not in err


def test_bad_choice_names_the_value(captured, monkeypatch, capsys, tmp_path):
    code, out, err, cfg = _invoke("train", ["--format", "bogus"], captured, monkeypatch, capsys, tmp_path)
    assert code == 2 and "'bogus'" in err


# ---------------------------------------------------------------- help


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_names_every_flag(name, monkeypatch, capsys):
    cmd = COMMANDS[name]
    code, out, err = run_cli([*cmd.argv, "--help"], monkeypatch, capsys)
    assert code == 0, err
    flags = {a for a in [*cmd.flags[0], *(cmd.negatives[0] if cmd.negatives else [])] if a.startswith("-")}
    if name != "inspect":
        flags.add("--config")
    missing = sorted(f for f in flags if f not in out)
    assert not missing, f"{name} --help does not mention {missing}:\n{out}"


def test_root_help_lists_every_command(monkeypatch, capsys):
    code, out, err = run_cli(["--help"], monkeypatch, capsys)
    assert code == 0
    for name in ("convert", "inspect", "score", "label", "train", "search", "search-report", "serve",
                 "quickstart", "world", "eval"):  # fmt: skip
        assert name in out
    code, out, err = run_cli(["eval", "--help"], monkeypatch, capsys)
    assert code == 0 and all(n in out for n in ("processbench", "prmbench", "bon", "calibration"))
    code, out, err = run_cli(["world", "arith", "--help"], monkeypatch, capsys)
    assert code == 0 and all(n in out for n in ("problems", "bench", "pool"))
    code, out, err = run_cli(["world", "tools", "--help"], monkeypatch, capsys)
    assert code == 0 and all(n in out for n in ("tasks", "bench", "pool", "pairs"))


def test_version(monkeypatch, capsys):
    from prmkit import __version__

    code, out, err = run_cli(["--version"], monkeypatch, capsys)
    assert code == 0 and out.strip() == f"prmkit {__version__}"


# ---------------------------------------------------------------- numeric domains (issue #20 item 5)

#: (command, flag, out-of-domain value): every command with a numeric flag appears here
DOMAIN_CASES = [
    ("split", "--batch-size", "0"),
    ("split", "--quantile", "1.5"),
    ("split", "--threshold", "nan"),
    ("train", "--max-length", "0"), ("train", "--positions", "0"), ("train", "--batch-size", "0"), ("train", "--grad-accum", "-1"),
    ("train", "--lr", "0"), ("train", "--epochs", "-1"), ("train", "--lora-r", "0"),
    ("train", "--eval-fraction", "1.0"), ("train", "--time-budget", "0"), ("train", "--eval-steps", "-1"),
    ("train", "--freeprm-buffer-factor", "1.5"),
    ("train", "--verifier-k", "0"), ("train", "--verifier-temperature", "-1"), ("train", "--verifier-check-temperature", "-0.5"),
    ("train", "--verdict-weight", "0"),
    ("label", "--select-budget", "0"), ("label", "--select-pred-threshold", "0.2"),
    ("label", "--select-std-threshold", "-1"),
    ("label", "--n", "0"), ("label", "--batch-size", "0"), ("label", "--samples-per-problem", "-2"),
    ("label", "--max-steps", "0"), ("label", "--num-cpus", "0"), ("label", "--executor", "spark"),
    ("score", "--batch-tokens", "0"), ("score", "--max-length", "-5"),
    ("search", "--n", "0"), ("search", "--width", "0"), ("search", "--max-steps", "0"),
    ("search", "--max-tokens", "0"), ("search", "--max-total-tokens", "-1"), ("search", "--limit", "0"),
    ("search", "--tau", "0"), ("search", "--mcts-iterations", "0"), ("search", "--lookahead", "-1"),
    ("search", "--method", "bogus"),
    ("serve", "--port", "70000"), ("serve", "--max-queue", "0"), ("serve", "--request-timeout", "0"),
    ("serve", "--max-batch-solutions", "0"), ("serve", "--max-wait-ms", "-1"),
    ("world arith problems", "--n", "0"), ("world arith problems", "--max-ops", "1"),
    ("world arith problems", "--min-ops", "0"), ("world arith problems", "--max-value", "0"),
    ("world arith bench", "--n", "-1"), ("world arith bench", "--wrong-fraction", "1.5"),
    ("world arith bench", "--error-rate", "-0.1"), ("world arith bench", "--format", "csv"),
    ("world arith pool", "--n", "0"), ("world arith pool", "--n-problems", "0"),
    ("world arith pool", "--diversity", "2"),
    ("world tools tasks", "--n", "0"), ("world tools tasks", "--templates", "bogus"),
    ("world tools bench", "--n", "0"), ("world tools bench", "--wrong-fraction", "1.5"),
    ("world tools bench", "--error-rate", "-0.1"), ("world tools bench", "--format", "csv"),
    ("world tools pool", "--n", "0"), ("world tools pool", "--n-problems", "0"), ("world tools pool", "--error-rate", "2"),
    ("world tools pairs", "--n", "0"),
    ("world gsm8k-perturb", "--rate", "2"), ("world gsm8k-perturb", "--limit", "0"),
    ("eval processbench", "--n-grid", "1"), ("eval processbench", "--batch-size", "0"),
    ("eval processbench", "--limit", "0"),
    ("eval prmbench", "--batch-size", "0"), ("eval prmbench", "--weight", "-1"), ("eval prmbench", "--limit", "0"),
    ("eval bon", "--n", "0"), ("eval bon", "--seeds", "0"), ("eval bon", "--batch-size", "0"),
    ("eval calibration", "--n-bins", "0"), ("eval calibration", "--quantile", "1.5"),
    ("eval pairwise", "--batch-size", "0"), ("eval pairwise", "--n-boot", "0"), ("eval pairwise", "--seed", "-1"),
    ("quickstart", "--search-n", "0"), ("quickstart", "--error-rate", "1.5"), ("quickstart", "--n-beam", "-1"),
    ("quickstart", "--gsm8k", "missing.jsonl"),
    # the reports: --max-steps -3 trained 48 steps, world bench --n 0 wrote an empty file
    ("train", "--max-steps", "-3"), ("train", "--max-steps", "0"), ("world arith bench", "--n", "0"),
    # every other numeric flag (test_domain_cases_walk_every_numeric_flag_of_every_command)
    ("train", "--dataloader-workers", "-1"), ("train", "--dropout", "1.0"), ("train", "--er-eta", "0"),
    ("train", "--er-eta", "nan"), ("train", "--eval-batch-size", "0"), ("train", "--implicit-beta", "0"),
    ("train", "--logging-steps", "0"), ("train", "--lora-alpha", "0"), ("train", "--lora-dropout", "1.5"),
    ("train", "--pqm-zeta", "-1"), ("train", "--save-steps", "-1"), ("train", "--save-total-limit", "0"),
    ("train", "--seed", "-1"), ("train", "--threads", "0"), ("train", "--tiny-heads", "0"),
    ("train", "--tiny-hidden", "0"), ("train", "--tiny-layers", "0"), ("train", "--tiny-vocab", "0"),
    ("train", "--warmup-ratio", "1.5"), ("train", "--weight-decay", "-0.1"), ("train", "--lr", "nan"),
    ("label", "--scan-min-confidence", "1.5"), ("label", "--scan-samples", "0"),
    ("score", "--chunk", "0"), ("score", "--num-cpus", "0"), ("score", "--max-length", "0"),
    ("search", "--bad-step", "nan"), ("search", "--batch-problems", "0"), ("search", "--c-puct", "-1"),
    ("search", "--c-puct-base", "0"), ("search", "--c-uct", "-1"), ("search", "--num-cpus", "0"),
    ("search", "--pats-candidates", "0"), ("search", "--pats-initial-mode", "5"),
    ("search", "--pats-max-iterations", "0"), ("search", "--penalty-times", "-1"), ("search", "--ray-num-gpus", "-1"),
    ("search", "--shard-size", "0"), ("search", "--v-high", "inf"), ("search", "--v-low", "nan"),
    ("search", "--v-low", "0.9"),  # above --v-high (0.85)
    ("serve", "--graceful-timeout-s", "-1"), ("serve", "--max-batch-chars", "0"), ("serve", "--max-chars", "0"),
    ("serve", "--max-solutions", "0"), ("serve", "--max-steps", "0"), ("serve", "--retry-after-s", "-1"),
    ("serve", "--request-timeout", "inf"), ("serve", "--max-wait-ms", "nan"),
    ("eval processbench", "--threshold", "nan"), ("eval prmbench", "--threshold", "inf"),
    ("eval bon", "--hmrv-tau", "1.5"), ("eval bon", "--wrfv-w", "-0.5"),
    ("quickstart", "--batch-size", "0"), ("quickstart", "--beam-width", "0"), ("quickstart", "--binary-n", "0"),
    ("quickstart", "--gsm8k-limit", "-1"), ("quickstart", "--lr", "0"), ("quickstart", "--max-given", "0"),
    ("quickstart", "--max-ops", "0"), ("quickstart", "--max-value", "0"), ("quickstart", "--mc-n", "0"),
    ("quickstart", "--min-ops", "0"), ("quickstart", "--miracle-rate", "2"), ("quickstart", "--n-bench", "0"),
    ("quickstart", "--n-bootstrap", "0"), ("quickstart", "--n-problems", "0"), ("quickstart", "--n-search", "0"),
    ("quickstart", "--n-tune", "0"), ("quickstart", "--samples-per-problem", "0"),
    ("quickstart", "--search-error-rate", "-0.5"), ("quickstart", "--seed", "-1"), ("quickstart", "--threads", "0"),
    ("quickstart", "--time-budget-s", "0"), ("quickstart", "--train-steps", "0"),
    ("world arith problems", "--max-given", "0"),
    ("world arith bench", "--diversity", "1.5"), ("world arith bench", "--max-given", "0"),
    ("world arith bench", "--max-ops", "1"), ("world arith bench", "--max-value", "0"),
    ("world arith bench", "--min-ops", "0"), ("world arith bench", "--miracle-rate", "-1"),
    ("world arith pool", "--error-rate", "2"), ("world arith pool", "--max-given", "0"),
    ("world arith pool", "--max-ops", "1"), ("world arith pool", "--max-value", "0"),
    ("world arith pool", "--min-ops", "0"), ("world arith pool", "--miracle-rate", "2"),
    ("world arith pretrain", "--batch-size", "0"), ("world arith pretrain", "--diversity", "2"),
    ("world arith pretrain", "--drill-add-sub", "-0.5"), ("world arith pretrain", "--drill-rows", "-1"),
    ("world arith pretrain", "--eval-every", "-1"), ("world arith pretrain", "--grad-clip", "0"),
    ("world arith pretrain", "--heads", "0"), ("world arith pretrain", "--hidden", "0"),
    ("world arith pretrain", "--layers", "0"), ("world arith pretrain", "--lr", "0"),
    ("world arith pretrain", "--max-length", "0"), ("world arith pretrain", "--max-ops", "1"),
    ("world arith pretrain", "--max-steps", "0"), ("world arith pretrain", "--max-value", "0"),
    ("world arith pretrain", "--min-lr-ratio", "1.5"), ("world arith pretrain", "--min-ops", "0"),
    ("world arith pretrain", "--n-eval", "0"), ("world arith pretrain", "--result-weight", "0"),
    ("world arith pretrain", "--save-every", "-1"), ("world arith pretrain", "--threads", "0"),
    ("world arith pretrain", "--time-budget-s", "0"), ("world arith pretrain", "--vocab-size", "0"),
    ("world arith pretrain", "--warmup-steps", "-1"), ("world arith pretrain", "--weight-decay", "-1"),
    ("world tools pretrain", "--argument-weight", "0"), ("world tools pretrain", "--batch-size", "0"),
    ("world tools pretrain", "--eval-every", "-1"), ("world tools pretrain", "--grad-clip", "0"),
    ("world tools pretrain", "--heads", "0"), ("world tools pretrain", "--hidden", "0"),
    ("world tools pretrain", "--layers", "0"), ("world tools pretrain", "--lr", "0"),
    ("world tools pretrain", "--max-length", "0"), ("world tools pretrain", "--max-steps", "0"),
    ("world tools pretrain", "--min-lr-ratio", "1.5"), ("world tools pretrain", "--n-eval", "0"),
    ("world tools pretrain", "--observation-weight", "-1"), ("world tools pretrain", "--save-every", "-1"),
    ("world tools pretrain", "--threads", "0"), ("world tools pretrain", "--time-budget-s", "0"),
    ("world tools pretrain", "--vocab-size", "0"), ("world tools pretrain", "--warmup-steps", "-1"),
    ("world tools pretrain", "--weight-decay", "-1"), ("world tools pretrain", "--stop-after", "0"),
]  # fmt: skip


#: numeric flags with no domain to violate: any integer seeds Python's ``random`` (train and
#: quickstart seed numpy too, so theirs must be >= 0 and are in DOMAIN_CASES)
UNBOUNDED = {("label", "--seed"), ("search", "--seed"), ("world gsm8k-perturb", "--seed"),
             ("world arith problems", "--seed"), ("world arith bench", "--seed"), ("world arith pool", "--seed"),
             ("world arith pretrain", "--seed"), ("world tools tasks", "--seed"), ("world tools bench", "--seed"),
             ("world tools pool", "--seed"), ("world tools pairs", "--seed"), ("world tools pretrain", "--seed")}  # fmt: skip


def numeric_flags() -> dict[str, list[str]]:
    """Every command of the real CLI tree and its numeric flags (int / float fields, lists of them),
    read from the config dataclasses the commands are built from."""
    import typing

    import typer

    from prmkit.cli import app
    from prmkit.cli.app import resolve
    from prmkit.cli.parser import ConfigParser

    def walk(c: Any, path: list[str]):
        if hasattr(c, "commands"):
            for n, sub in c.commands.items():
                yield from walk(sub, [*path, n])
        else:
            yield path, c

    out: dict[str, list[str]] = {}
    for path, c in walk(typer.main.get_command(app), []):
        run = c.callback.__wrapped__  # the closure of prmkit.cli.app.command: holds the config path
        cells = (x.cell_contents for x in run.__closure__)
        config = dict(zip(run.__code__.co_freevars, cells, strict=True))["config"]
        cls = resolve(config)
        hints = typing.get_type_hints(cls)
        parser = ConfigParser(cls, prog="x")
        flags = []
        for f in dataclasses.fields(cls):
            if f.name not in parser.flag_of or f.metadata.get("positional"):
                continue
            args = typing.get_args(hints[f.name]) or (hints[f.name],)
            if any(a in (int, float) for a in args) or any(
                typing.get_args(a) in ((int,), (float,)) for a in args
            ):
                flags.append(parser.flag_of[f.name])
        out[" ".join(path)] = flags
    return out


def test_domain_cases_walk_every_numeric_flag_of_every_command():
    """Issue #20 item 5: every numeric flag of every command has an out-of-domain case below (or is
    declared unbounded), so a new flag without a range check fails here."""
    tree = numeric_flags()
    assert set(COMMANDS) | {"search-report"} == set(tree)  # the contract covers every command
    wanted = {(c, f) for c, flags in tree.items() for f in flags}
    covered = {(c, f) for c, f, _ in DOMAIN_CASES}
    missing = sorted(wanted - covered - UNBOUNDED)
    assert not missing, f"numeric flags without an out-of-domain case: {missing}"
    # convert, inspect and search-report take no numbers; every other command is walked
    assert {c for c, _, _ in DOMAIN_CASES} == {c for c, flags in tree.items() if flags}


@pytest.mark.parametrize(
    ("name", "flag", "value"), DOMAIN_CASES, ids=[f"{c}{f}={v}" for c, f, v in DOMAIN_CASES]
)
def test_out_of_domain_value_exit_2_naming_the_flag(
    name, flag, value, captured, monkeypatch, capsys, tmp_path
):
    code, out, err, cfg = _invoke(name, [flag, value], captured, monkeypatch, capsys, tmp_path)
    assert code == 2, out + err
    assert cfg is None  # rejected before the library function ran
    assert f"error: {flag}: " in err, err
    assert "Traceback" not in err


def test_out_of_domain_recipe_value_names_the_recipe_key(captured, monkeypatch, capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 0\n")
    code, out, err, cfg = _invoke(
        "world arith problems", ["--config", str(recipe)], captured, monkeypatch, capsys, tmp_path
    )
    assert code == 2 and cfg is None
    assert "r.yaml: field 'n': must be >= 1, got 0" in err
    # the flag wins over the recipe, and is then the one named
    code, out, err, cfg = _invoke(
        "world arith problems",
        ["--config", str(recipe), "--n", "-4"],
        captured,
        monkeypatch,
        capsys,
        tmp_path,
    )
    assert code == 2 and "--n: must be >= 1, got -4" in err
