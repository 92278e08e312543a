"""Pretrain a small causal LM on the arithmetic world: the base model of the embedded default PRM.

Real PRMs start from a language model that already predicts the result digits of ``198 - 27 =``;
:func:`pretrain` gives the arithmetic world the same starting point at toy scale. The corpus is
correct solutions (problem text + steps, with the policy's phrasing diversity) of problems
generated on the fly, rendered with the ``token-classification`` layout the PRM is later
fine-tuned on (:func:`prmkit.render.render`), so the base LM and the PRM see the same ids. The
tokenizer keeps one token per digit. The loss is next-token cross-entropy on every token, with
the result digits of each equation (and the token that ends the result) weighted
``result_weight`` times.

Training batch ``t`` is drawn from problems with seed :func:`train_seed` ``(seed, t)`` (disjoint from
the seeds below :data:`HELD_OUT_SEED_LIMIT` that benches, pools and evaluations use), so a run is a
pure function of its config: ``--resume`` continues the same stream exactly.

:func:`result_accuracy` measures, per operation (``+ - x /``), the teacher-forced accuracy of
whole results on held-out problems: every result digit and the end of the number predicted right.

Example:
    >>> cfg = PretrainConfig(out="/tmp/x", hidden=32, layers=1, heads=2, batch_size=2)
    >>> cfg.result_weight, cfg.max_value
    (3.0, 1000)
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import AutoModelForCausalLM

from prmkit.config import check_choice, check_min, check_positive, check_range
from prmkit.config import help_field as _h
from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.models.tokenizer import load_tokenizer
from prmkit.progress import Bar
from prmkit.records import Problem
from prmkit.render import render_many
from prmkit.runs import sha256_file
from prmkit.worlds.arith import generate_problems
from prmkit.worlds.arith_policy import ArithPolicy

#: problem seeds below this are for evaluation (benches, pools, held-out accuracy); training uses above
HELD_OUT_SEED_LIMIT = 10_000_000
#: seed of the held-out problems :func:`result_accuracy` reads by default
EVAL_SEED = 4_242_424
OPS = ("+", "-", "x", "/")
_EQ = re.compile(r"(\d+) ([-+x*/]) (\d+) = (\d+)")


@dataclass
class PretrainConfig:
    """Options of :func:`pretrain` (``prmkit world arith pretrain``)."""

    out: str = _h("output directory: checkpoints, log.jsonl and the final model in OUT/model")
    seed: int = _h("seed of the model init and of the problem stream", 0)
    max_steps: int = _h("optimizer steps", 2000)
    time_budget_s: float | None = _h("stop after this many seconds (the model is still exported)")
    batch_size: int = _h("whole solutions per optimizer step (plus drill_rows)", 16)
    lr: float = _h("peak learning rate (AdamW)", 2e-3)
    min_lr_ratio: float = _h("cosine schedule floor, as a fraction of lr", 0.05)
    warmup_steps: int = _h("linear warmup steps", 100)
    weight_decay: float = _h("AdamW weight decay", 0.01)
    grad_clip: float = _h("gradient norm clip", 1.0)
    result_weight: float = _h("loss weight of equation-result tokens (other tokens weigh 1)", 3.0)
    drill_rows: int = _h(
        "rows per batch that pack bare equations ('198 - 27 = 171', one per line) from other problems' "
        "correct solutions: six times denser in results than whole solutions",
        16,
    )
    drill_add_sub: float = _h(
        "share of '+'/'-' equations kept in the drill rows (below 1: the rows fill up with 'x' and '/', "
        "the operations the corpus has fewest of)",
        0.25,
    )
    arch: str = _h("model architecture: llama | qwen2", "llama")
    hidden: int = _h("model width", 128)
    layers: int = _h("transformer layers", 6)
    heads: int = _h("attention heads", 4)
    vocab_size: int = _h("tokenizer vocabulary size (BPE over world text, one token per digit)", 800)
    max_length: int = _h("token window", 512)
    max_value: int = _h("world preset: largest quantity", 1000)
    min_ops: int = _h("world preset: fewest operations per problem", 2)
    max_ops: int = _h("world preset: most operations per problem", 8)
    diversity: float = _h("phrasing diversity of the solutions (ArithPolicy)", 0.5)
    eval_every: int = _h("measure held-out result accuracy every N steps (0: only at the end)", 500)
    n_eval: int = _h("held-out problems per accuracy measurement", 200)
    save_every: int = _h("checkpoint every N steps", 250)
    threads: int | None = _h("torch CPU threads (default: torch's)")
    bf16: bool = _h("bfloat16 autocast for the forward pass (1.3x faster on a CPU with avx512_bf16)", True)
    resume: bool = _h("continue from OUT/checkpoint", False)
    init: str | None = _h(
        "continued pretraining: start from this base LM (a packaged name such as arith-base, or a "
        "directory) and its tokenizer instead of a fresh init (arch, hidden, layers and heads must "
        "match it; give another --seed than the init's for new problems)"
    )
    quiet: bool = _h("no progress bar", False)

    def __post_init__(self) -> None:
        check_choice(self, "arch", ("llama", "qwen2"))
        check_min(self, 1, "max_steps", "batch_size", "hidden", "layers", "heads", "n_eval", "vocab_size",
                  "max_length", "threads")  # fmt: skip
        check_min(self, 0, "drill_rows", "eval_every", "save_every", "warmup_steps", "weight_decay")
        check_min(self, 1, "max_value", "min_ops")
        check_min(self, self.min_ops, "max_ops")
        check_positive(self, "lr", "result_weight", "time_budget_s", "grad_clip")
        check_range(self, 0.0, 1.0, "diversity", "min_lr_ratio", "drill_add_sub")

    def world_options(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "min_ops": self.min_ops, "max_ops": self.max_ops}

    # ---- the corpus hooks :func:`pretrain` calls (a world's config provides its own: see
    # :class:`prmkit.train.pretrain_tools.ToolsPretrainConfig`)

    #: the CLI command whose flags a recipe's ``commands`` spell out
    COMMAND: ClassVar[str] = "prmkit world arith pretrain"

    def make_tokenizer(self) -> Any:
        """The world tokenizer of a fresh run."""
        return world_tokenizer(self.vocab_size, self.seed)

    def batches(self, tokenizer: Any, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """The deterministic training stream from batch ``start`` on (:func:`batch_tensors` dicts)."""
        return training_batches(self, tokenizer, start)

    def evaluate(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """Held-out accuracy (a dict with ``acc`` and ``loss``), logged and kept in the recipe."""
        return result_accuracy(model, tokenizer, self.n_eval, diversity=self.diversity,
                               max_length=self.max_length, **self.world_options())  # fmt: skip

    @staticmethod
    def describe(acc: dict[str, Any]) -> str:
        return "result accuracy " + " ".join(f"{op} {100 * v:.1f}%" for op, v in acc["acc"].items())


def train_seed(seed: int, step: int) -> int:
    """Problem seed of training batch ``step`` (always >= :data:`HELD_OUT_SEED_LIMIT`).

    Example:
        >>> train_seed(0, 0) >= HELD_OUT_SEED_LIMIT, train_seed(0, 1) != train_seed(1, 0)
        (True, True)
    """
    return HELD_OUT_SEED_LIMIT + seed * 100_000_000 + step


def correct_solutions(problems: Sequence[Problem], diversity: float, seed: int) -> list[list[str]]:
    """One error-free solution per problem, phrased with the policy's ``diversity``."""
    pol = ArithPolicy(error_rate=0.0, miracle_rate=0.0, diversity=diversity)
    return [pol.sample_one(p, seed=seed).steps for p in problems]


@functools.lru_cache(maxsize=4)
def world_tokenizer(vocab_size: int = 800, seed: int = 0, n_problems: int = 3000) -> Any:
    """A byte-level BPE tokenizer trained on world text (problems + diverse solutions), one token
    per digit (:func:`prmkit.models.tiny.train_tokenizer`)."""
    probs = generate_problems(n_problems, seed=train_seed(seed, 0) - 1)
    texts: list[str] = []
    for p, steps in zip(probs, correct_solutions(probs, 0.5, seed), strict=True):
        texts.append(p.question)
        texts.extend(steps)
    return train_tokenizer(texts, vocab_size=vocab_size)


@dataclass
class Encoded:
    """A rendered solution: ``ids``, and for each equation result its token positions and op."""

    ids: list[int]
    results: list[tuple[str, list[int]]]  # (op, positions of the result digits + the ending token)


def encode_solutions(
    tokenizer: Any, problems: Sequence[Problem], solutions: Sequence[Sequence[str]], max_length: int
) -> list[Encoded]:
    """Render ``problem + steps`` (token-classification layout, with BOS and EOS) and locate every
    equation result's digit tokens. Raises when a solution does not fit ``max_length``."""
    rendered = render_many(
        [p.question for p in problems], [list(s) for s in solutions], "token-classification", tokenizer
    )
    out = []
    eos = tokenizer.eos_token_id
    for p, steps, r in zip(problems, solutions, rendered, strict=True):
        ids = list(r.input_ids) + [eos]
        if len(ids) > max_length:
            raise PrmkitError(
                f"problem {p.id}: {len(ids)} tokens > max_length {max_length}", field="max_length"
            )
        results: list[tuple[str, list[int]]] = []
        for step, span in zip(steps, r.step_spans, strict=True):
            assert span is not None
            enc = tokenizer(step, add_special_tokens=False, return_offsets_mapping=True)
            if enc["input_ids"] != ids[span[0] : span[1]]:
                raise PrmkitError(f"problem {p.id}: step tokens differ from the render", field="steps")
            offs = enc["offset_mapping"]
            for m in _EQ.finditer(step):
                a, b = m.span(4)
                pos = [span[0] + k for k, (s, e) in enumerate(offs) if s >= a and e <= b and e > s]
                if len(pos) != b - a:
                    raise PrmkitError(f"problem {p.id}: result {m.group(4)} is not one token per digit")
                op = "x" if m.group(2) in "x*" else m.group(2)
                results.append((op, pos + [pos[-1] + 1]))
        out.append(Encoded(ids, results))
    return out


def encode_drills(
    tokenizer: Any, solutions: Sequence[Sequence[str]], per_row: int, keep_add_sub: float = 1.0, seed: int = 0
) -> list[Encoded]:
    """Rows of ``per_row`` bare equations (one per line, BOS ... EOS) cut from ``solutions``; a
    ``+``/``-`` equation is kept with probability ``keep_add_sub`` (deterministic in ``seed``)."""
    rng = random.Random(seed)
    eqs = [m.group(0) for steps in solutions for st in steps for m in _EQ.finditer(st)
           if m.group(2) not in "+-" or keep_add_sub >= 1.0 or rng.random() < keep_add_sub]  # fmt: skip
    texts = ["\n".join(eqs[k : k + per_row]) for k in range(0, len(eqs), per_row)]
    out = []
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = [tokenizer.bos_token_id, *enc["input_ids"], tokenizer.eos_token_id]
        offs = enc["offset_mapping"]
        results = []
        for m in _EQ.finditer(text):
            a, b = m.span(4)
            pos = [1 + k for k, (s, e) in enumerate(offs) if s >= a and e <= b and e > s]
            op = "x" if m.group(2) in "x*" else m.group(2)
            results.append((op, pos + [pos[-1] + 1]))
        out.append(Encoded(ids, results))
    return out


def pad_batch(rows: Sequence[tuple[Sequence[int], Sequence[float]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask``, next-token ``targets`` (-100 at padding) and
    per-target loss ``weights`` from ``(ids, weights)`` rows, where ``weights[q]`` weighs the
    prediction of token ``q + 1`` (one weight per target, ``len(ids) - 1``). Every world's
    pretraining batches go through here; the worlds differ only in the weights they give.

    Example:
        >>> b = pad_batch([([5, 6, 7], [1.0, 3.0]), ([8, 9], [1.0])], pad_id=0)
        >>> b["targets"].tolist(), b["weights"].tolist()
        ([[6, 7, -100], [9, -100, -100]], [[1.0, 3.0, 0.0], [1.0, 0.0, 0.0]])
    """
    n = max(len(ids) for ids, _ in rows)
    ids_t = torch.full((len(rows), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    targets = torch.full((len(rows), n), -100, dtype=torch.long)
    weights = torch.zeros((len(rows), n))
    for i, (ids, w) in enumerate(rows):
        L = len(ids)
        if len(w) != L - 1:
            raise PrmkitError(f"row {i}: {len(w)} weights for {L - 1} targets")
        ids_t[i, :L] = torch.tensor(list(ids))
        mask[i, :L] = 1
        targets[i, : L - 1] = ids_t[i, 1:L]
        weights[i, : L - 1] = torch.tensor(list(w), dtype=weights.dtype)
    return {"input_ids": ids_t, "attention_mask": mask, "targets": targets, "weights": weights}


def batch_tensors(encoded: Sequence[Encoded], pad_id: int, result_weight: float) -> dict[str, torch.Tensor]:
    """:func:`pad_batch` with weight ``result_weight`` at result tokens, 1 elsewhere."""
    rows = []
    for e in encoded:
        w = [1.0] * (len(e.ids) - 1)
        for _, pos in e.results:
            for q in pos:
                w[q - 1] = result_weight  # the logit at q-1 predicts token q
        rows.append((e.ids, w))
    return pad_batch(rows, pad_id)


def weighted_lm_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum of ``weights x`` next-token cross-entropy over the batch, divided by the weight sum."""
    ce = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="none"
    )
    w = weights.reshape(-1)
    return (ce * w).sum() / w.sum().clamp_min(1e-9)


def build_base_model(cfg: PretrainConfig, tokenizer: Any) -> Any:
    """A randomly initialised causal LM of the configured size (seeded)."""
    return build_tiny_model(
        "causal-lm",
        tokenizer,
        arch=cfg.arch,  # type: ignore[arg-type]
        seed=cfg.seed,
        hidden_size=cfg.hidden,
        num_layers=cfg.layers,
        num_heads=cfg.heads,
        max_position_embeddings=cfg.max_length,
    )


@torch.no_grad()
def result_accuracy(
    model: Any,
    tokenizer: Any,
    n: int = 200,
    *,
    seed: int = EVAL_SEED,
    batch_size: int = 32,
    diversity: float = 0.5,
    max_length: int = 512,
    **world: Any,
) -> dict[str, Any]:
    """Teacher-forced whole-result accuracy per operation on ``n`` held-out problems.

    A result counts as right when the argmax next-token prediction is right at each of its digits
    and at the token that ends it. Returns ``{"acc": {op: fraction}, "count": {op: n}, "loss": ...}``.
    """
    if seed >= HELD_OUT_SEED_LIMIT:
        raise PrmkitError(f"evaluation seed {seed} is in the training range", field="seed")
    was_training = model.training
    model.eval()
    probs = generate_problems(n, seed=seed, **world)
    sols = correct_solutions(probs, diversity, seed)
    right = dict.fromkeys(OPS, 0)
    count = dict.fromkeys(OPS, 0)
    tot_loss, tot_tok = 0.0, 0
    for k in range(0, n, batch_size):
        enc = encode_solutions(tokenizer, probs[k : k + batch_size], sols[k : k + batch_size], max_length)
        b = batch_tensors(enc, tokenizer.pad_token_id, 1.0)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        pred = logits.argmax(-1)
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), b["targets"].reshape(-1), ignore_index=-100, reduction="sum"
        )
        tot_loss += float(ce)
        tot_tok += int((b["targets"] != -100).sum())
        for i, e in enumerate(enc):
            for op, pos in e.results:
                count[op] += 1
                right[op] += all(int(pred[i, q - 1]) == e.ids[q] for q in pos)
    model.train(was_training)
    return {
        "acc": {op: right[op] / count[op] if count[op] else float("nan") for op in OPS},
        "count": count,
        "loss": tot_loss / max(tot_tok, 1),
    }


def _lr_at(cfg: PretrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.lr * (
        cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    )


def training_batches(
    cfg: PretrainConfig, tokenizer: Any, start: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """The deterministic training stream from batch ``start`` on."""
    step = start
    while True:
        probs = generate_problems(cfg.batch_size, seed=train_seed(cfg.seed, step), **cfg.world_options())
        sols = correct_solutions(probs, cfg.diversity, train_seed(cfg.seed, step))
        enc = encode_solutions(tokenizer, probs, sols, cfg.max_length)
        if cfg.drill_rows:
            dseed = train_seed(cfg.seed, step) + 50_000_000
            n = 6 * cfg.drill_rows if cfg.drill_add_sub >= 1.0 else 14 * cfg.drill_rows
            dprobs = generate_problems(n, seed=dseed, **cfg.world_options())
            dsols = correct_solutions(dprobs, cfg.diversity, dseed)
            enc += encode_drills(tokenizer, dsols, 30, cfg.drill_add_sub, dseed)[: cfg.drill_rows]
        yield batch_tensors(enc, tokenizer.pad_token_id, cfg.result_weight)
        step += 1


def _save_checkpoint(ckpt: Path, model: Any, opt: Any, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically: a temporary directory renamed over the old one."""
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    torch.save(opt.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    old = ckpt.with_name(ckpt.name + ".old")
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    if old.exists():
        shutil.rmtree(old)


#: fields that do not change what is learned (bookkeeping); left out of a phase's recipe
_BOOKKEEPING = ("out", "resume", "quiet", "threads", "eval_every", "n_eval", "save_every", "time_budget_s",
                "stop_after")  # fmt: skip


def _recipe_fields(cfg: PretrainConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items() if k not in _BOOKKEEPING}


def _command(phase: dict[str, Any], first: bool, cls: Any = PretrainConfig) -> str:
    """The CLI command of one phase: the flags that differ from the defaults of ``cls``."""
    default = _recipe_fields(cls(out="x"))
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in phase.get("recipe", {}).items()
             if k != "max_steps" and v != default.get(k)]  # fmt: skip
    if "stopped_at" in phase:  # cut short (time budget): the step it stopped at replays it
        flags.append(f"--stop-after {phase['stopped_at']}")
    return " ".join([f"{cls.COMMAND} --out DIR", f"--max-steps {phase['max_steps']}", *flags]
                    + ([] if first else ["--resume"]))  # fmt: skip


def export_model(model: Any, tokenizer: Any, out: Path, cfg: Any, extra: dict[str, Any]) -> Path:
    """Save the model in float16 safetensors + tokenizer + ``recipe.json`` (config, seed, sha256)."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).to(torch.float16)
    half.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    recipe = {
        "recipe": asdict(cfg) | {"out": None, "resume": False, "quiet": False, "threads": None},
        "seed": cfg.seed,
        "sha256": {"model.safetensors": sha256_file(out / "model.safetensors")},
        "commands": [
            _command(p, k == 0, type(cfg))
            for k, p in enumerate(
                extra.get("phases") or [{"max_steps": cfg.max_steps, "recipe": _recipe_fields(cfg)}]
            )
        ],
        **extra,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    return out


def _check_init_shape(cfg: Any, config: Any) -> None:
    """The architecture fields of ``cfg`` must describe the ``--init`` model (the recipe records them)."""
    have = {"arch": config.model_type, "hidden": config.hidden_size, "layers": config.num_hidden_layers,
            "heads": config.num_attention_heads}  # fmt: skip
    for field, value in have.items():
        if getattr(cfg, field) != value:
            raise PrmkitError(f"--init {cfg.init} has {field} {value}, the recipe says {getattr(cfg, field)}: "
                              f"pass --{field} {value}", field=field)  # fmt: skip


def pretrain(cfg: Any, log: Any = print) -> dict[str, Any]:
    """Pretrain (or resume) the world base LM; returns the final held-out accuracies.

    ``cfg`` is a :class:`PretrainConfig` (the arithmetic world) or another world's config with the
    same training fields and corpus hooks (``make_tokenizer``, ``batches``, ``evaluate``,
    ``describe``, ``COMMAND``), e.g. :class:`prmkit.train.pretrain_tools.ToolsPretrainConfig`.

    Writes ``OUT/log.jsonl`` (loss every 50 steps, accuracies every ``eval_every``),
    ``OUT/checkpoint`` (every ``save_every`` steps) and ``OUT/model`` (float16, with recipe.json).
    """
    if not cfg.out:
        raise PrmkitError("give --out", field="out")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    ckpt = out / "checkpoint"
    out.mkdir(parents=True, exist_ok=True)
    start, elapsed, phases, init_sha = 0, 0.0, [], None
    if cfg.resume and (ckpt / "state.json").is_file():
        state = json.loads((ckpt / "state.json").read_text())
        tokenizer = load_tokenizer(str(out / "tokenizer"))
        model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
        start, elapsed, phases = state["step"], state["elapsed_s"], state.get("phases", [])
    else:
        if ckpt.exists() and not cfg.resume:
            raise PrmkitError(f"{ckpt} exists: pass --resume to continue it, or use a new --out", field="out")
        if getattr(cfg, "init", None):  # continued pretraining of an existing base LM
            init = resolve_model(cfg.init)
            tokenizer = load_tokenizer(init)
            model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32)
            _check_init_shape(cfg, model.config)
            init_sha = sha256_file(Path(init, "model.safetensors"))  # which weights the run started from
        else:
            tokenizer = cfg.make_tokenizer()
            model = build_base_model(cfg, tokenizer)
        tokenizer.save_pretrained(out / "tokenizer")
    recipe = _recipe_fields(cfg)
    if not phases or phases[-1]["max_steps"] != cfg.max_steps or phases[-1].get("recipe", recipe) != recipe:
        phases = [*phases, {"from_step": start, "max_steps": cfg.max_steps, "recipe": recipe}]
        if init_sha:
            phases[-1]["init_sha256"] = init_sha
    phases[-1].pop("stopped_at", None)  # set again below if this run is cut short too
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    if start:
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt"))
        log(f"resumed at step {start} ({elapsed:.0f} s)")
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"base LM: {cfg.arch} {cfg.layers}x{cfg.hidden}, {n_params / 1e6:.2f}M parameters, vocab {len(tokenizer)}"
    )
    logf = open(out / "log.jsonl", "a")  # noqa: SIM115
    t0 = time.perf_counter() - elapsed
    step = start
    run_loss, run_n = 0.0, 0
    evaluate = lambda: cfg.evaluate(model, tokenizer)  # noqa: E731
    with Bar(total=cfg.max_steps, description="pretraining", quiet=cfg.quiet) as bar:
        bar.advance(start)
        batches = cfg.batches(tokenizer, start)
        while step < cfg.max_steps:
            if cfg.time_budget_s is not None and time.perf_counter() - t0 > cfg.time_budget_s:
                log(f"time budget reached at step {step}")
                if hasattr(cfg, "stop_after"):  # a world config that can replay the cut
                    phases[-1]["stopped_at"] = step
                break
            if getattr(cfg, "stop_after", None) is not None and step >= cfg.stop_after:
                phases[-1]["stopped_at"] = step
                break
            b = next(batches)
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, step)
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            loss = weighted_lm_loss(logits, b["targets"], b["weights"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.advance(1)
            run_loss += loss.item()
            run_n += 1
            rec: dict[str, Any] = {}
            if step % 50 == 0:
                rec = {"step": step, "loss": run_loss / run_n, "lr": _lr_at(cfg, step - 1)}
                run_loss, run_n = 0.0, 0
            if cfg.eval_every and step % cfg.eval_every == 0:
                acc = evaluate()
                rec |= {"step": step, "eval": acc}
                log(f"step {step}: held-out loss {acc['loss']:.3f}, {cfg.describe(acc)}")
            if rec:
                rec["elapsed_s"] = round(time.perf_counter() - t0, 1)
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            if cfg.save_every and step % cfg.save_every == 0:
                _save_checkpoint(
                    ckpt, model, opt, {"step": step, "elapsed_s": time.perf_counter() - t0, "phases": phases}
                )
    elapsed = time.perf_counter() - t0
    _save_checkpoint(ckpt, model, opt, {"step": step, "elapsed_s": elapsed, "phases": phases})
    final = evaluate()
    logf.write(json.dumps({"step": step, "final_eval": final, "elapsed_s": round(elapsed, 1)}) + "\n")
    logf.close()
    export_model(model, tokenizer, out / "model", cfg, {"steps": step, "train_seconds": round(elapsed, 1),
                                                        "held_out": final, "n_params": n_params, "phases": phases})  # fmt: skip
    log(f"final {cfg.describe(final)}")
    return final
