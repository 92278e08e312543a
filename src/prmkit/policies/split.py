"""``prmkit split``: re-cut solutions into steps, at newlines or where the policy's confidence drops.

AdaptiveStep (Liu et al., "AdaptiveStep: Automatically Dividing Reasoning Step through Model
Confidence", ICML 2025, arXiv 2502.13943) ends a step at every token the policy predicted with a
probability below a threshold. Here a causal LM reads the prompt and the solution text in one
teacher-forced forward pass (:class:`TokenConfidence`); the cut rule itself is the pure function
:func:`prmkit.steps.confidence_cuts`, and the method registry is :data:`prmkit.steps.SPLIT_METHODS`.

The solution text of a record is ``join.join(steps)`` (``--join``, default ``"\\n"``), or, when the
record was split before, ``join_layout(steps, meta.split)``. The new steps are stripped pieces of
that text; ``meta.split`` keeps the whitespace between them, so
``prmkit.steps.join_layout(new_steps, SplitLayout.from_dict(meta["split"]))`` gives the text back
exactly. Step labels and scores belong to the old steps: a labelled or scored record is refused
unless ``drop_labels`` is set, and then they are dropped (``meta.split.dropped_labels``).

Example:
    >>> from prmkit.records import Solution
    >>> cfg = SplitConfig(method="newline")
    >>> out, = split_records([Solution(id="a", problem="p", steps=["x = 1\\ny = 2", "z"])], cfg)
    >>> out.steps, out.meta["split"]["seps"]
    (['x = 1', 'y = 2', 'z'], ['\\n', '\\n'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from prmkit.config import check_choice, check_min, check_range
from prmkit.config import help_field as _h
from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.policies.hf import load_model_and_tokenizer
from prmkit.policies.text import render_with_tokenizer
from prmkit.progress import Bar
from prmkit.records import Solution, check_input_file, read_records, write_records
from prmkit.steps import SPLIT_METHODS, SplitLayout, confidence_quantile, join_layout, split_text

CONTEXTS = ("auto", "policy", "problem")


@dataclass
class SplitConfig:
    """Options of ``prmkit split`` (and :func:`split_file`)."""

    input: str = _h("Input records (canonical JSONL / JSON / Parquet).", "", positional=True)
    output: str = _h("Output records, steps re-cut.", "", positional=True)
    method: str = _h("Split method: newline | confidence (AdaptiveStep).", "newline")
    policy: str = _h(
        "Causal LM whose next-token probabilities decide the cuts (method confidence): smollm2, "
        "arith-base, a model directory or a .gguf file.",
        "smollm2",
    )
    context: str = _h(
        "What the LM reads before the solution: policy (the hf policy's prompt, chat template), "
        "problem (problem text + newline: arith-base's training layout), auto (problem for "
        "arith-base, else policy).",
        "auto",
    )
    join: str = _h("Separator that joins a record's steps into its solution text.", "\n")
    threshold: float | None = _h("Cut after every token with probability below this.")
    quantile: float | None = _h(
        "Or: threshold = this quantile of all token probabilities of the input (e.g. 0.05)."
    )
    drop_labels: bool = _h("Accept labelled/scored records and drop their step values.", False)
    batch_size: int = _h("Solutions per forward pass.", 8)
    device: str | None = _h("Torch device of the LM (default cpu).")
    quiet: bool | None = _h("No progress bar.")

    def __post_init__(self) -> None:
        check_choice(self, "method", SPLIT_METHODS.names())
        check_choice(self, "context", CONTEXTS)
        check_range(self, 0.0, 1.0, "threshold", "quantile")
        check_min(self, 1, "batch_size")
        if self.method == "confidence" and (self.threshold is None) == (self.quantile is None):
            raise PrmkitError(
                "method confidence needs exactly one of --threshold and --quantile", field="threshold"
            )


@dataclass
class SplitResult:
    """What :func:`split_file` did."""

    read: int
    written: int
    steps_before: int
    steps_after: int
    threshold: float | None


class TokenConfidence:
    """Teacher-forced next-token probabilities of a solution text under a causal LM.

    ``__call__(problems, texts)`` returns, per text, the ``[start, end)`` character span (in the
    text) and probability of each of its tokens, read from one forward pass over prompt + text.
    A token straddling the prompt/text border counts for the text (span clipped to 0).

    Example (not run: loads a model)::

        conf = TokenConfidence("arith-base")
        (spans, probs), = conf(["Tom has 3 apples. He buys 4. How many?"], ["3 + 4 = 7."])
    """

    def __init__(
        self, policy: str = "smollm2", context: str = "auto", separator: str = "\n", device: str | None = None
    ):
        self.model, self.tokenizer = load_model_and_tokenizer(resolve_model(policy), device=device)
        self.tokenizer.padding_side = "right"
        if context == "auto":
            context = "problem" if policy == "arith-base" else "policy"
        self.context = context
        self.separator = separator
        self.device = device or "cpu"

    def prompt(self, problem: str) -> str:
        """The text the LM reads before the solution."""
        if self.context == "problem":
            return problem + "\n"
        return render_with_tokenizer(self.tokenizer, problem, (), self.separator)

    @torch.no_grad()
    def __call__(
        self, problems: Sequence[str], texts: Sequence[str]
    ) -> list[tuple[list[tuple[int, int]], list[float]]]:
        prompts = [self.prompt(p) for p in problems]
        full = [p + t for p, t in zip(prompts, texts, strict=True)]
        enc = self.tokenizer(full, return_offsets_mapping=True, padding=True, return_tensors="pt")
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device)
        logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        # probability of token i given tokens < i: read at position i - 1
        tok_p = logp[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1).exp().cpu()
        out = []
        for r, plen in enumerate(len(p) for p in prompts):
            spans, probs = [], []
            for i, (s, e) in enumerate(enc["offset_mapping"][r].tolist()):
                if not mask[r, i] or e <= plen or i == 0:
                    continue
                spans.append((max(s, plen) - plen, e - plen))
                probs.append(float(tok_p[r, i - 1]))
            out.append((spans, probs))
        return out


def source_text(rec: Solution, join: str) -> str:
    """The solution text a record's steps stand for (its ``meta.split`` layout, else ``join``).

    Example:
        >>> source_text(Solution(id="a", problem="p", steps=["x", "y"]), "\\n\\n")
        'x\\n\\ny'
    """
    lay = rec.meta.get("split") if isinstance(rec.meta, dict) else None
    if isinstance(lay, dict) and "seps" in lay:
        return join_layout(rec.steps, SplitLayout.from_dict(lay))
    return join.join(rec.steps)


def split_records(
    records: Sequence[Solution], cfg: SplitConfig, conf: TokenConfidence | None = None
) -> list[Solution]:
    """Re-cut ``records`` with ``cfg.method`` (``conf`` is built from ``cfg`` when it needs one)."""
    return _split(list(records), cfg, conf)[0]


def _split(
    records: list[Solution], cfg: SplitConfig, conf: TokenConfidence | None
) -> tuple[list[Solution], float | None]:
    for rec in records:
        if (rec.labels is not None or rec.scores is not None) and not cfg.drop_labels:
            raise PrmkitError(
                f"record {rec.id!r} has step labels or scores, which belong to its old steps; "
                "pass --drop-labels to drop them (relabel the new steps afterwards)",
                field="drop_labels",
            )
    texts = [source_text(r, cfg.join) for r in records]
    method = SPLIT_METHODS.get(cfg.method)
    tok: list[tuple[list[tuple[int, int]], list[float]]] = [([], [])] * len(records)
    threshold = cfg.threshold
    if method.needs_confidence:
        conf = conf or TokenConfidence(cfg.policy, cfg.context, cfg.join, cfg.device)
        tok = []
        with Bar(total=len(records), description="confidence", quiet=cfg.quiet) as bar:
            for i in range(0, len(records), cfg.batch_size):
                chunk = records[i : i + cfg.batch_size]
                tok += conf([r.problem for r in chunk], texts[i : i + cfg.batch_size])
                bar.advance(len(chunk))
        if threshold is None:
            threshold = confidence_quantile((p for _, p in tok), float(cfg.quantile))
    out = []
    for rec, text, (spans, probs) in zip(records, texts, tok, strict=True):
        steps, lay = split_text(
            text,
            cfg.method,
            spans=spans if method.needs_confidence else None,
            probs=probs if method.needs_confidence else None,
            threshold=threshold,
        )
        info: dict[str, Any] = {"method": cfg.method, **lay.to_dict()}
        if method.needs_confidence:
            info.update(policy=cfg.policy, threshold=threshold)
        if rec.labels is not None or rec.scores is not None:
            info["dropped_labels"] = True
        meta = {**rec.meta, "split": info}
        out.append(dataclasses.replace(rec, steps=steps, labels=None, scores=None, meta=meta))
    return out, threshold


def split_file(cfg: SplitConfig) -> SplitResult:
    """Read ``cfg.input``, re-cut every record, write ``cfg.output`` (all or nothing)."""
    check_input_file(cfg.input)
    records = list(read_records(cfg.input))
    out, threshold = _split(records, cfg, None)
    write_records(cfg.output, out)
    return SplitResult(
        read=len(records),
        written=len(out),
        steps_before=sum(len(r.steps) for r in records),
        steps_after=sum(len(r.steps) for r in out),
        threshold=threshold,
    )
