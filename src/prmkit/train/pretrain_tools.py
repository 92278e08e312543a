"""Pretrain a small causal LM on the tool-use world: the base of the tool world's ``lm-likelihood`` PRM.

The arithmetic world's recipe (:mod:`prmkit.train.pretrain`) with the tool world as corpus:
correct trajectories (the perfect ``tools-noisy`` agent, ``error_rate=0``) of tasks generated on
the fly, rendered as the PRM sees them (``question SEP step1 SEP ...``, the
``token-classification`` / ``lm-likelihood`` layout; a step is previous observation + thought +
action, :func:`prmkit.trajectory.steps_from_turns`). The tokenizer is trained on tool-world text,
one token per digit. A step's *agent part* (its thought and action: everything after a leading
``Observation: ...`` line) is what the agent wrote; the observation is environment text (random
catalogue ids, names, prices) that no model can predict. The loss weights each next-token
target by where it is: ``observation_weight`` in an observation, ``argument_weight`` at the
digits of the agent part (the ids and numbers it has to copy from the observations: ``P-2505``,
``102 - 93``), 1 elsewhere.

Training batch ``t`` is drawn from tasks with seed :func:`prmkit.train.pretrain.train_seed`
``(seed, t)`` (never below :data:`~prmkit.train.pretrain.HELD_OUT_SEED_LIMIT`, the seeds benches,
pools, pairs and evaluations use), so a run is a pure function of its config and ``--resume``
continues it exactly.

:func:`action_accuracy` measures, per tool of the step's action, the teacher-forced accuracy on
held-out tasks of whole agent parts (every token of thought + action and the separator after it
predicted right: ``step``) and of the digits in them (``args``: every digit right; steps with
digits only). Copying the right id out of a search result and the right price out of a lookup is
what an ``lm-likelihood`` PRM needs its base to have learned.

Example:
    >>> cfg = ToolsPretrainConfig(out="/tmp/x", hidden=32, layers=1, heads=2, batch_size=2)
    >>> cfg.argument_weight, cfg.COMMAND
    (3.0, 'prmkit world tools pretrain')
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from prmkit.config import check_choice, check_min, check_positive, check_range
from prmkit.config import help_field as _h
from prmkit.errors import PrmkitError
from prmkit.models.tiny import train_tokenizer
from prmkit.records import Problem
from prmkit.render import render_many
from prmkit.train.pretrain import HELD_OUT_SEED_LIMIT, pad_batch, train_seed

#: seed of the held-out tasks :func:`action_accuracy` reads by default
EVAL_SEED = 4_343_434
TOOLS = ("search", "lookup", "calculate", "answer")
#: where a step's agent part starts: the line after a leading observation
_AGENT = re.compile(r"\n(?:Thought|Action): ")


def agent_start(step: str) -> int:
    """Character offset where the agent's own text (thought + action) of ``step`` begins: 0 for a
    step without a leading ``Observation: `` (the first step, an arithmetic step), else the start
    of the first ``Thought: ``/``Action: `` line after it (the observation's length when none).

    Example:
        >>> agent_start("Observation: Result: 9\\nThought: The answer is 9.\\nAction: answer(...)")
        23
        >>> agent_start("3 + 4 = 7")
        0
    """
    if not step.startswith("Observation: "):
        return 0
    m = _AGENT.search(step)
    return m.start() + 1 if m else len(step)


@dataclass
class ToolsPretrainConfig:
    """Options of :func:`prmkit.train.pretrain.pretrain` on the tool world (``prmkit world tools pretrain``)."""

    out: str = _h("output directory: checkpoints, log.jsonl and the final model in OUT/model")
    seed: int = _h("seed of the model init and of the task stream", 0)
    max_steps: int = _h("optimizer steps", 2000)
    time_budget_s: float | None = _h("stop after this many seconds (the model is still exported)")
    stop_after: int | None = _h(
        "stop after this many optimizer steps, the lr schedule still spanning max_steps (replays a run "
        "that --time-budget-s cut short; its recipe's command carries the flag)"
    )
    batch_size: int = _h("whole trajectories per optimizer step", 16)
    lr: float = _h("peak learning rate (AdamW)", 2e-3)
    min_lr_ratio: float = _h("cosine schedule floor, as a fraction of lr", 0.05)
    warmup_steps: int = _h("linear warmup steps", 100)
    weight_decay: float = _h("AdamW weight decay", 0.01)
    grad_clip: float = _h("gradient norm clip", 1.0)
    argument_weight: float = _h(
        "loss weight of the digit tokens in the agent's thoughts and actions (item ids, numbers)", 3.0
    )
    observation_weight: float = _h(
        "loss weight of the tokens of the observations (environment text: mostly unpredictable)", 0.1
    )
    arch: str = _h("model architecture: llama | qwen2", "llama")
    hidden: int = _h("model width", 128)
    layers: int = _h("transformer layers", 6)
    heads: int = _h("attention heads", 4)
    vocab_size: int = _h("tokenizer vocabulary size (BPE over world text, one token per digit)", 800)
    max_length: int = _h("token window", 768)
    templates: list[str] | None = _h(
        "task templates to draw from (default all): price, stock, cost, discount, sum, stock_diff, cheaper"
    )
    eval_every: int = _h("measure held-out action accuracy every N steps (0: only at the end)", 250)
    n_eval: int = _h("held-out tasks per accuracy measurement", 100)
    save_every: int = _h("checkpoint every N steps", 50)
    threads: int | None = _h("torch CPU threads (default: torch's)")
    bf16: bool = _h("bfloat16 autocast for the forward pass (faster on a CPU with avx512_bf16)", True)
    resume: bool = _h("continue from OUT/checkpoint", False)
    quiet: bool = _h("no progress bar", False)

    COMMAND: ClassVar[str] = "prmkit world tools pretrain"

    def __post_init__(self) -> None:
        check_choice(self, "arch", ("llama", "qwen2"))
        check_min(self, 1, "max_steps", "batch_size", "hidden", "layers", "heads", "n_eval", "vocab_size",
                  "max_length", "threads", "stop_after")  # fmt: skip
        check_min(self, 0, "eval_every", "save_every", "warmup_steps", "weight_decay", "observation_weight")
        check_positive(self, "lr", "argument_weight", "time_budget_s", "grad_clip")
        check_range(self, 0.0, 1.0, "min_lr_ratio")
        if self.templates:
            from prmkit.worlds.tools import TEMPLATES

            for t in self.templates:
                if t not in TEMPLATES:
                    raise PrmkitError(f"unknown template {t!r}; known: {', '.join(TEMPLATES)}",
                                      field="templates")  # fmt: skip

    def _tasks(self, n: int, seed: int) -> list[Problem]:
        from prmkit.worlds.tools import generate_tasks

        return generate_tasks(n, seed, templates=list(self.templates) if self.templates else None)

    # ---- the corpus hooks of prmkit.train.pretrain.pretrain
    def make_tokenizer(self) -> Any:
        return tools_tokenizer(self.vocab_size, self.seed)

    def batches(self, tokenizer: Any, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        step = start
        while True:
            tasks = self._tasks(self.batch_size, train_seed(self.seed, step))
            enc = encode_trajectories(tokenizer, tasks, correct_steps(tasks), self.max_length)
            yield batch_tensors(enc, tokenizer.pad_token_id, self.argument_weight, self.observation_weight)
            step += 1

    def evaluate(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        return action_accuracy(model, tokenizer, self.n_eval, max_length=self.max_length,
                               templates=self.templates)  # fmt: skip

    @staticmethod
    def describe(acc: dict[str, Any]) -> str:
        return (
            "agent-part accuracy "
            + " ".join(f"{t} {100 * acc['acc'][t]:.1f}%/{100 * acc['args'][t]:.1f}%" for t in TOOLS)
            + " (step/digits)"
        )


def correct_steps(tasks: Sequence[Problem]) -> list[list[str]]:
    """The perfect agent's trajectory of each task, as step texts."""
    from prmkit.trajectory import steps_from_turns
    from prmkit.worlds.tools_agent import reference_turns

    return [steps_from_turns(reference_turns(t)) for t in tasks]


@functools.lru_cache(maxsize=4)
def tools_tokenizer(vocab_size: int = 800, seed: int = 0, n_tasks: int = 2000) -> Any:
    """A byte-level BPE tokenizer trained on tool-world text (questions + correct trajectories),
    one token per digit (:func:`prmkit.models.tiny.train_tokenizer`)."""
    from prmkit.worlds.tools import generate_tasks

    tasks = generate_tasks(n_tasks, seed=train_seed(seed, 0) - 1)
    texts: list[str] = []
    for t, steps in zip(tasks, correct_steps(tasks), strict=True):
        texts.append(t.question)
        texts.extend(steps)
    return train_tokenizer(texts, vocab_size=vocab_size)


@dataclass
class EncodedTrajectory:
    """A rendered trajectory: ``ids``, the ``kind`` of each token (0 question/separator, 1
    observation, 2 agent part, 3 a digit of the agent part), and per step its tool and the
    positions of its agent part (with the separator that ends it)."""

    ids: list[int]
    kind: list[int]
    steps: list[tuple[str, list[int]]]


def _tool_of(step: str) -> str:
    m = re.search(r"\nAction: (\w+)\(|^Action: (\w+)\(", step)
    return (m.group(1) or m.group(2)) if m else "?"


def encode_trajectories(
    tokenizer: Any, tasks: Sequence[Problem], steps: Sequence[Sequence[str]], max_length: int
) -> list[EncodedTrajectory]:
    """Render ``question + steps`` (token-classification layout, BOS ... EOS) and mark each
    token's kind. Raises when a trajectory does not fit ``max_length``."""
    rendered = render_many([t.question for t in tasks], [list(s) for s in steps], "token-classification",
                           tokenizer)  # fmt: skip
    out = []
    for task, sts, r in zip(tasks, steps, rendered, strict=True):
        ids = list(r.input_ids) + [tokenizer.eos_token_id]
        if len(ids) > max_length:
            raise PrmkitError(
                f"task {task.id}: {len(ids)} tokens > max_length {max_length}", field="max_length"
            )
        kind = [0] * len(ids)
        marks: list[tuple[str, list[int]]] = []
        for st, span in zip(sts, r.step_spans, strict=True):
            assert span is not None
            enc = tokenizer(st, add_special_tokens=False, return_offsets_mapping=True)
            if enc["input_ids"] != ids[span[0] : span[1]]:
                raise PrmkitError(f"task {task.id}: step tokens differ from the render", field="steps")
            a = agent_start(st)
            pos = []
            for k, (s, e) in enumerate(enc["offset_mapping"]):
                q = span[0] + k
                if e <= a:
                    kind[q] = 1
                else:
                    kind[q] = 3 if st[s:e].isdigit() else 2
                    pos.append(q)
            marks.append((_tool_of(st), pos + [span[1]]))  # + the separator that ends the step
        out.append(EncodedTrajectory(ids, kind, marks))
    return out


def batch_tensors(
    encoded: Sequence[EncodedTrajectory], pad_id: int, argument_weight: float, observation_weight: float
) -> dict[str, torch.Tensor]:
    """:func:`prmkit.train.pretrain.pad_batch` with each target weighed by the kind of the
    predicted token (other 1, observation ``observation_weight``, argument ``argument_weight``)."""
    by_kind = (1.0, observation_weight, 1.0, argument_weight)
    return pad_batch([(e.ids, [by_kind[k] for k in e.kind[1:]]) for e in encoded], pad_id)


@torch.no_grad()
def action_accuracy(
    model: Any,
    tokenizer: Any,
    n: int = 100,
    *,
    seed: int = EVAL_SEED,
    batch_size: int = 16,
    max_length: int = 768,
    templates: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Teacher-forced accuracy of the agent parts of ``n`` held-out correct trajectories, per tool.

    Returns ``{"acc": {tool: whole agent parts right}, "args": {tool: all their digits right},
    "count": {tool: steps}, "token_acc": agent-part token accuracy, "agent_loss": mean CE of
    agent-part tokens, "loss": mean CE of every token}``.
    """
    from prmkit.worlds.tools import generate_tasks

    if seed >= HELD_OUT_SEED_LIMIT:
        raise PrmkitError(f"evaluation seed {seed} is in the training range", field="seed")
    was_training = model.training
    model.eval()
    tasks = generate_tasks(n, seed, templates=list(templates) if templates else None)
    steps = correct_steps(tasks)
    right = dict.fromkeys(TOOLS, 0)
    digits_right = dict.fromkeys(TOOLS, 0)
    with_digits = dict.fromkeys(TOOLS, 0)
    count = dict.fromkeys(TOOLS, 0)
    tot_loss = agent_loss = 0.0
    tot_tok = agent_tok = agent_ok = 0
    for k in range(0, n, batch_size):
        enc = encode_trajectories(tokenizer, tasks[k : k + batch_size], steps[k : k + batch_size], max_length)
        b = batch_tensors(enc, tokenizer.pad_token_id, 1.0, 1.0)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
        pred = logits.argmax(-1)
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            b["targets"].reshape(-1),
            ignore_index=-100,
            reduction="none",
        ).reshape(b["targets"].shape)
        tot_loss += float(ce.sum())
        tot_tok += int((b["targets"] != -100).sum())
        for i, e in enumerate(enc):
            for tool, pos in e.steps:
                ok = [int(pred[i, q - 1]) == e.ids[q] for q in pos]
                agent_ok += sum(ok)
                agent_tok += len(ok)
                agent_loss += sum(float(ce[i, q - 1]) for q in pos)
                if tool not in count:
                    continue
                count[tool] += 1
                right[tool] += all(ok)
                dig = [o for q, o in zip(pos, ok, strict=True) if q < len(e.kind) and e.kind[q] == 3]
                if dig:
                    with_digits[tool] += 1
                    digits_right[tool] += all(dig)
    model.train(was_training)
    nan = float("nan")
    return {
        "acc": {t: right[t] / count[t] if count[t] else nan for t in TOOLS},
        "args": {t: digits_right[t] / with_digits[t] if with_digits[t] else nan for t in TOOLS},
        "count": count,
        "token_acc": agent_ok / max(agent_tok, 1),
        "agent_loss": agent_loss / max(agent_tok, 1),
        "loss": tot_loss / max(tot_tok, 1),
    }
