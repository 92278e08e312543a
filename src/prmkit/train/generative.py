"""Training a generative verifier (``prmkit train --format generative``): supervised fine-tuning
of a causal LM on verification chains, the loss on the chain's tokens only.

Data. Every training record becomes one example: the solution interleaved with its chain, as the
scorer reads it (:mod:`prmkit.scorers.generative`): ``problem \\n step_1 \\n Check:`` + the line of
step 1 + ``\\n``, ``step_2 \\n Check:`` + the line of step 2 + ``\\n``, ... up to the chain's last
line (the first incorrect step, or the last step). Labels are ``-100`` on the solution and the
markers and the token ids on the verifier's lines (and their newlines), so only the verifier's
own tokens are learned (:func:`chain_example`). Where the chain
comes from (``chain_source``):

- ``meta``: ``record.meta["verification_chain"]`` (e.g. written by :func:`synthesise_chains`);
- ``arith``: written from the arithmetic world's exact checker
  (:func:`prmkit.worlds.arith_verify.verification_chain`; the record needs ``meta["arith"]``);
- ``auto`` (default): ``meta`` when the record has a chain, else ``arith`` when it has a spec.

Chains whose verdicts disagree with the record's step labels are dropped and counted (ThinkPRM's
filter, :func:`chain_agrees`), whatever their source.

For real data the chains are synthesised by an LLM behind an OpenAI-compatible server
(:func:`synthesise_chains`): ``n`` chains per record are requested with :data:`SYNTH_PROMPT`,
parsed (:func:`prmkit.scorers.generative.parse_chain`), and the first one whose verdicts agree
with the labels is kept (docs/methods.md#h2-thinkprm-chain-filter).

Example (the mask: solution and marker positions carry -100, the verifier's lines their own ids):
    >>> ex = chain_example([[5, 6], [7]], marker=[3], lines=[[8, 9], [4]], newline_id=0)
    >>> ex["input_ids"]
    [5, 6, 3, 8, 9, 0, 7, 3, 4, 0]
    >>> ex["labels"]
    [-100, -100, -100, 8, 9, 0, -100, -100, 4, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import Trainer

from prmkit.clients.openai_compat import choice_text
from prmkit.errors import PrmkitError
from prmkit.records import Solution, first_error_of
from prmkit.scorers.chain_tools import ChainTool, step_contexts, tool_pieces
from prmkit.scorers.generative import (
    CHECK_MARKER,
    SOLVE_MARKER,
    parse_chain,
    parse_line,
    problem_length,
    split_line,
    step_segments,
    verdict_tokens,
)
from prmkit.train.data import ShuffledLengthGroupedSampler
from prmkit.worlds.arith_verify import verification_chain

__all__ = [
    "CHAIN_SOURCES",
    "META_CHAIN",
    "SYNTH_PROMPT",
    "ChainCollator",
    "ChainStats",
    "SFTTrainer",
    "build_chain_examples",
    "chain_agrees",
    "chain_example",
    "chain_lines",
    "chain_of",
    "chain_solution",
    "normalise_chain",
    "sft_loss",
    "synthesise_chains",
]

#: record meta key holding a verification chain
META_CHAIN = "verification_chain"
CHAIN_SOURCES = ("auto", "meta", "arith")

SYNTH_PROMPT = """Check the solution to the problem step by step.

Problem:
{problem}

Solution:
{steps}

For each step, in order, write one line: "Step i: <your check of the step>. correct" or \
"Step i: <your check of the step>. incorrect". Stop after the first incorrect step."""


def chain_of(record: Solution, source: str = "auto") -> str:
    """The verification chain of ``record`` from ``source`` (see the module docs)."""
    if source not in CHAIN_SOURCES:
        raise PrmkitError(f"chain_source must be one of {', '.join(CHAIN_SOURCES)}", field="chain_source")
    chain = (record.meta or {}).get(META_CHAIN)
    if source in ("auto", "meta") and isinstance(chain, str) and chain.strip():
        return chain
    if source in ("auto", "arith") and "arith" in (record.meta or {}):
        return verification_chain(record, record.steps)
    raise PrmkitError(
        f"record {record.id!r} has no verification chain (meta.{META_CHAIN})"
        + (" and no arithmetic-world spec (meta.arith)" if source == "auto" else "")
        + ": synthesise chains first (prmkit.train.generative.synthesise_chains)",
        field="chain_source",
    )


def chain_agrees(chain: str, labels: Sequence[float | None] | None, n_steps: int) -> bool:
    """ThinkPRM's filter: the chain's verdicts match the step labels up to the first error.

    Every labelled step before the first error (label >= 0.5) must be judged ``correct`` and
    the first error (the first label < 0.5) ``incorrect``; with no error every labelled step
    must be judged correct. Unlabelled steps (``None``) are not checked. Records without labels
    pass.

    Example:
        >>> chain_agrees("Step 1: ok. correct\\nStep 2: 2 + 2 = 4, not 5. incorrect", [1, 0, None], 3)
        True
        >>> chain_agrees("Step 1: ok. correct\\nStep 2: fine. correct", [1, 0], 2)
        False
    """
    if labels is None:
        return True
    verdicts = parse_chain(chain, n_steps)
    fe = first_error_of(list(labels))
    last = fe if fe >= 0 else n_steps - 1
    for i in range(last + 1):
        if i < len(labels) and labels[i] is None:
            continue
        if verdicts[i] is None or verdicts[i] != (i != fe):
            return False
    return True


def normalise_chain(text: str, n_steps: int) -> str:
    """The lines of ``text`` that carry a verdict, up to and including the first ``incorrect``
    (what an LLM wrote around them is dropped).

    Example:
        >>> normalise_chain("Sure!\\nStep 1: 2 + 2 = 4. correct\\nStep 2: bad. incorrect\\nStep 3: x. correct", 3)
        'Step 1: 2 + 2 = 4. correct\\nStep 2: bad. incorrect'
    """
    out = []
    for line in str(text).splitlines():
        got = parse_line(line)
        if got is None or not 0 < got[0] <= n_steps:
            continue
        out.append(line.strip())
        if not got[1]:
            break
    return "\n".join(out)


def chain_example(
    segments: Sequence[Sequence[int]],
    marker: Sequence[int],
    lines: Sequence[Sequence[int]],
    newline_id: int,
    max_length: int | None = None,
    verdict_ids: Sequence[int] = (),
    fed: Sequence[Sequence[bool]] | None = None,
    solution: tuple[Sequence[int], Sequence[Sequence[int]], Sequence[Sequence[bool]]] | None = None,
    learn_solution: bool = True,
) -> dict[str, Any]:
    """One SFT example: for each chain line ``i``, ``segments[i]`` and ``marker`` (labels -100)
    then ``lines[i]`` and ``newline_id`` (labels = ids); cut to ``max_length``. ``verdict``
    lists the position of each line's verdict token (its last token in ``verdict_ids``).
    ``fed[i][j]``: token ``j`` of line ``i`` is a tool's output (label -100: not learned).
    ``solution = (prefix, lines, fed)``: the verifier's own solution, written first (the
    scorer's ``solve``): ``segments[0]`` is then the problem alone, followed by ``prefix``
    (``Solve:`` and a newline, labels -100) and each solution line and ``newline_id`` (learned
    but the fed tokens; none of it with ``learn_solution=False``); the check lines then go with
    ``segments[1:]``.

    Example (the tool fed token 9; then an own solution [6, 7] whose 7 was fed, before step [5]):
        >>> chain_example([[5]], [3], [[8, 9, 4]], 0, fed=[[False, True, False]])["labels"]
        [-100, -100, 8, -100, 4, 0]
        >>> chain_example([[1], [5]], [3], [[8]], 0, solution=([2, 0], [[6, 7]], [[False, True]]))["labels"]
        [-100, -100, -100, 6, -100, 0, -100, -100, 8, 0]
    """
    ids: list[int] = []
    labels: list[int] = []
    verdict: list[int] = []
    fed_at: list[int] = []

    def write(line: Sequence[int], mask: Sequence[bool]) -> None:  # a line the verifier writes
        ids.extend([*line, newline_id])
        fed_at.extend(len(ids) - len(line) - 1 + j for j, f in enumerate(mask) if f)
        labels.extend([-100 if f else t for t, f in zip(line, mask, strict=True)] + [newline_id])

    if solution is not None:
        prefix, own, own_fed = solution
        ids.extend([*segments[0], *prefix])
        labels.extend([-100] * len(ids))
        for line, mask in zip(own, own_fed, strict=True):
            if learn_solution:
                write(line, mask)
            else:  # context only
                ids.extend([*line, newline_id])
                labels.extend([-100] * (len(line) + 1))
        segments = segments[1:]
    for i, (seg, line) in enumerate(zip(segments, lines, strict=False)):
        ids += [*seg, *marker]
        labels += [-100] * (len(seg) + len(marker))
        at = [j for j, t in enumerate(line) if t in verdict_ids]
        if at:
            verdict.append(len(ids) + at[-1])
        write(line, fed[i] if fed is not None else [False] * len(line))
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
        verdict = [v for v in verdict if v < max_length]
        fed_at = [v for v in fed_at if v < max_length]
    return {"input_ids": ids, "labels": labels, "verdict": verdict, "fed": len(fed_at)}


def chain_lines(chain: str, n_steps: int) -> list[str]:
    """The verifier's part (:func:`~prmkit.scorers.generative.split_line`) of the chain's lines
    for steps 1, 2, ... in order, up to the first incorrect; stops at a missing step.

    Example:
        >>> chain_lines("Step 1: 2 + 2 = 4. correct\\nStep 3: x. correct", 3)
        [' 2 + 2 = 4. correct']
    """
    out: list[str] = []
    for line in normalise_chain(chain, n_steps).splitlines():
        got = parse_line(line)
        if got is None or got[0] != len(out) + 1:
            break
        out.append(split_line(line))
        if not got[1]:
            break
    return out


def chain_solution(chain: str) -> list[str] | None:
    """The verifier's own solution a chain opens with (a :data:`~prmkit.scorers.generative.SOLVE_MARKER`
    line, then the solution's lines up to the first ``Step i:`` line), or ``None``.

    Example:
        >>> chain_solution("Solve:\\n2 + 2 = 4.\\nThe answer is 4.\\nStep 1: 4 is 4. correct")
        ['2 + 2 = 4.', 'The answer is 4.']
        >>> chain_solution("Step 1: 4 is 4. correct") is None
        True
    """
    lines = str(chain).split("\n")
    if not lines or lines[0].strip() != SOLVE_MARKER:
        return None
    out = []
    for line in lines[1:]:
        if parse_line(line) is not None:
            break
        out.append(line)
    return out


@dataclass
class ChainStats:
    """What :func:`build_chain_examples` made: examples, chains dropped by the filter, chains
    dropped because a line goes on otherwise than the tool feeds (``tool_mismatch``, their ids
    in ``dropped_ids`` too), chain tokens (trained), tool tokens (fed, masked) and prompt tokens
    (masked), examples cut by the window; ``solve``: the chains open with the verifier's own
    solution (:func:`chain_solution`), and ``solution_tokens`` of the chain tokens are in it."""

    examples: int = 0
    solve: bool = False
    solution_tokens: int = 0
    filtered_out: int = 0
    tool_mismatch: int = 0
    tool_tokens: int = 0
    chain_tokens: int = 0
    prompt_tokens: int = 0
    truncated: int = 0
    dropped_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "filtered_out": self.filtered_out, "tool_mismatch": self.tool_mismatch,
                "chain_tokens": self.chain_tokens, "tool_tokens": self.tool_tokens,
                "prompt_tokens": self.prompt_tokens, "truncated": self.truncated, "solve": self.solve,
                "solution_tokens": self.solution_tokens}  # fmt: skip


def build_chain_examples(
    records: Sequence[Solution],
    tokenizer: Any,
    max_length: int | None,
    source: str = "auto",
    tool: ChainTool | None = None,
    learn_solution: bool = True,
) -> tuple[list[dict[str, Any]], ChainStats]:
    """SFT examples of ``records`` (see the module docs) and their statistics. With a ``tool``
    (:mod:`prmkit.scorers.chain_tools`) each line is tokenized piece by piece as inference feeds
    it (:func:`~prmkit.scorers.chain_tools.tool_pieces`) and the tool's pieces are masked; a
    chain with a line the tool contradicts is dropped and counted (``tool_mismatch``). Chains
    that open with the verifier's own solution (:func:`chain_solution`) train it to write one
    first (all chains or none: a mix is an error naming the first record that differs);
    ``learn_solution=False`` keeps that solution out of the loss (context only)."""
    stats = ChainStats()
    keep: list[Solution] = []
    pieces: list[list[list[tuple[str, bool]]]] = []
    own: list[list[list[tuple[str, bool]]]] = []  # per kept record, its solution's lines in pieces
    solve: bool | None = None
    for r in records:
        c = chain_of(r, source)
        if not chain_agrees(c, r.labels, len(r.steps)):
            stats.filtered_out += 1
            stats.dropped_ids.append(r.id)
            continue
        sol = chain_solution(c)
        if solve is None:
            solve = sol is not None
        elif solve != (sol is not None):
            raise PrmkitError(
                f"record {r.id!r}: its chain {'opens' if sol is not None else 'does not open'} with the "
                f"verifier's own solution ({SOLVE_MARKER!r}) and the chains before "
                f"{'do not' if sol is not None else 'do'}: train on chains of one kind",
                field="verification_chain",
            )
        ls = chain_lines(c, len(r.steps))
        if tool is not None:
            try:
                ctx = step_contexts(r.problem, r.steps, None if sol is None else "\n".join(sol))
                line_pieces = [tool_pieces(x, tool, cx) for x, cx in zip(ls, ctx, strict=False)]
                sol_pieces = [
                    tool_pieces(x, tool, cx)
                    for x, cx in zip(sol or [], step_contexts(r.problem, sol or []), strict=True)
                ]
            except PrmkitError:
                stats.tool_mismatch += 1
                stats.dropped_ids.append(r.id)
                continue
        else:
            line_pieces, sol_pieces = [[(x, False)] for x in ls], [[(x, False)] for x in sol or []]
        pieces.append(line_pieces)
        own.append(sol_pieces)
        keep.append(r)
    stats.solve = bool(solve)
    if not keep:
        return [], stats
    segs = step_segments(tokenizer, [r.problem for r in keep], [r.steps for r in keep])
    marker = tokenizer(CHECK_MARKER, add_special_tokens=False)["input_ids"]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][-1]
    prefix = [*tokenizer(SOLVE_MARKER, add_special_tokens=False)["input_ids"], newline]
    verdicts = verdict_tokens(tokenizer)
    flat = [text for ps in (*own, *pieces) for line in ps for text, _ in line]
    flat_ids = iter(tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else [])

    def tokenized(ps: list[list[tuple[str, bool]]]) -> tuple[list[list[int]], list[list[bool]]]:
        line_ids, fed = [], []
        for line in ps:
            ids_l: list[int] = []
            fed_l: list[bool] = []
            for _, is_tool in line:
                got = next(flat_ids)
                ids_l += got
                fed_l += [is_tool] * len(got)
            line_ids.append(ids_l)
            fed.append(fed_l)
        return line_ids, fed

    own_ids = [tokenized(ps) for ps in own]
    examples = []
    for r, sg, ps, (sol_ids, sol_fed) in zip(keep, segs, pieces, own_ids, strict=True):
        line_ids, fed = tokenized(ps)
        solution = None
        if solve:
            n = problem_length(tokenizer, r.problem, sg[0])
            sg, solution = [sg[0][:n], sg[0][n:], *sg[1:]], (prefix, sol_ids, sol_fed)
        ex = chain_example(sg, marker, line_ids, newline, None, verdicts, fed, solution, learn_solution)
        stats.truncated += int(max_length is not None and len(ex["input_ids"]) > max_length)
        if max_length is not None:
            ex = chain_example(
                sg, marker, line_ids, newline, max_length, verdicts, fed, solution, learn_solution
            )
        n_chain = sum(v != -100 for v in ex["labels"])
        stats.chain_tokens += n_chain
        stats.tool_tokens += ex["fed"]
        stats.prompt_tokens += len(ex["input_ids"]) - n_chain - ex["fed"]
        if solve:
            n_sol = len(sg[0]) + len(prefix) + sum(len(x) + 1 for x in sol_ids)
            stats.solution_tokens += sum(v != -100 for v in ex["labels"][:n_sol])
        if n_chain:
            examples.append(ex)
    stats.examples = len(examples)
    return examples, stats


class ChainCollator:
    """Right-pads a batch: ``input_ids`` with ``pad_id``, ``labels`` with -100, an attention mask;
    with ``verdict_weight != 1`` also ``weights`` (that weight at each line's verdict token)."""

    def __init__(self, pad_id: int, verdict_weight: float = 1.0) -> None:
        self.pad_id = pad_id
        self.verdict_weight = verdict_weight
        self.tokens_seen = 0
        self.tokens_padded = 0

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        n = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), n), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, b in enumerate(batch):
            m = len(b["input_ids"])
            ids[i, :m] = torch.tensor(b["input_ids"])
            labels[i, :m] = torch.tensor(b["labels"])
            mask[i, :m] = 1
        self.tokens_seen += int(mask.sum())
        self.tokens_padded += mask.numel()
        out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if self.verdict_weight != 1.0:
            weights = torch.ones((len(batch), n))
            for i, b in enumerate(batch):
                weights[i, list(b.get("verdict", []))] = self.verdict_weight
            out["weights"] = weights
        return out


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token cross-entropy over the positions whose *next* label is not -100 (the chain),
    averaged over those tokens; with ``weights`` (one per label position) the weighted mean.

    Example (two chain tokens, uniform logits over 4 tokens: ln 4 each):
        >>> round(float(sft_loss(torch.zeros(1, 3, 4), torch.tensor([[-100, 1, 2]]))), 4)
        1.3863
    """
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=-100,
        reduction="none",
    )  # fmt: skip
    keep = (shift_labels.reshape(-1) != -100).float()
    w = keep if weights is None else keep * weights[:, 1:].reshape(-1).float()
    return (ce * w).sum() / w.sum().clamp_min(1e-12)


class SFTTrainer(Trainer):
    """``transformers.Trainer`` with :func:`sft_loss` and length-grouped, shuffled batches."""

    def __init__(self, *args: Any, group_batches: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False
        self.group_batches = group_batches

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_batches and hasattr(ds, "lengths"):
            global_batch = self.args.train_batch_size * max(1, self.args.world_size)
            return ShuffledLengthGroupedSampler(ds.lengths, global_batch, seed=self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None):  # fmt: skip  # noqa: D102
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        loss = sft_loss(out.logits, inputs["labels"], inputs.get("weights"))
        return (loss, out) if return_outputs else loss


# ---------------------------------------------------------------- chains from an LLM


def synthesise_chains(
    records: Sequence[Solution],
    client: Any,
    *,
    model: str | None = None,
    prompt: str = SYNTH_PROMPT,
    n: int = 4,
    temperature: float = 0.7,
    max_tokens: int = 1024,
    chat: bool = True,
) -> tuple[list[Solution], dict[str, int]]:
    """Verification chains written by an LLM (an :class:`~prmkit.clients.openai_compat.OpenAIClient`),
    filtered as ThinkPRM: ``n`` chains per record are requested, each parsed; the first whose
    verdicts agree with the record's labels (:func:`chain_agrees`) is kept, normalised
    (:func:`normalise_chain`), in ``meta["verification_chain"]``. Returns the records that got a
    chain and the counts ``{"records", "requests", "chains", "malformed", "disagree", "kept"}``
    (a chain is malformed when it has no verdict line at all).

    ``prompt`` is formatted with ``problem`` and ``steps`` (numbered ``Step i: text`` lines).
    """
    if n < 1:
        raise PrmkitError("n must be >= 1", field="n")
    name = model or client.first_model()

    def ask(r: Solution) -> list[str]:
        text = prompt.format(
            problem=r.problem, steps="\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(r.steps))
        )
        body: dict[str, Any] = {"model": name, "n": n, "temperature": temperature, "max_tokens": max_tokens}
        if chat:
            body["messages"] = [{"role": "user", "content": text}]
            reply = client.post("chat/completions", body)
        else:
            body["prompt"] = text
            reply = client.post("completions", body)
        return [choice_text(c) for c in reply.get("choices") or []]

    answers = client.map(ask, list(records), "synthesising chains")
    counts = {"records": len(records), "requests": len(records), "chains": 0, "malformed": 0, "disagree": 0,
              "kept": 0}  # fmt: skip
    out: list[Solution] = []
    for r, texts in zip(records, answers, strict=True):
        kept = None
        for t in texts:
            counts["chains"] += 1
            chain = normalise_chain(t, len(r.steps))
            if not chain:
                counts["malformed"] += 1
            elif not chain_agrees(chain, r.labels, len(r.steps)):
                counts["disagree"] += 1
            elif kept is None:
                kept = chain
        if kept is not None:
            counts["kept"] += 1
            out.append(Solution(id=r.id, problem=r.problem, steps=list(r.steps), answer=r.answer,
                                reference_answer=r.reference_answer, labels=r.labels,
                                meta={**(r.meta or {}), META_CHAIN: kept}))  # fmt: skip
    return out, counts
