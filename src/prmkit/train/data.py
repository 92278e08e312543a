"""Training examples from canonical records, built with :func:`prmkit.render.render`.

Training and scoring see the same ids and the same score positions because both call ``render``.
An example holds ``input_ids`` and ``labels`` of the same length: the step label (a float, soft
labels stay soft) at each step's score position, ``-100`` everywhere else. Steps after the first
error are cut (``after_error="drop"``, default), kept and labelled 0 (``"keep"``), or kept with
their labels as given (``"as-is"``). Unknown labels (``None``) and steps beyond the window are
never trained on; they are counted in :class:`DataStats`.

Example:
    >>> from prmkit.models.tiny import train_tokenizer
    >>> from prmkit.records import Solution
    >>> tok = train_tokenizer(["1 + 2 = 3. 3 * 2 = 7. The answer is 7."], vocab_size=300)
    >>> sol = Solution(id="a", problem="1+2, times 2?", steps=["1 + 2 = 3.", "3 * 2 = 7.", "So 7."],
    ...                labels=[1, 0, 0])
    >>> ex = build_example(sol, "token-classification", tok)
    >>> [v for v in ex["labels"] if v != -100]
    [1.0, 0.0]
    >>> ex["n_steps"]
    2
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from prmkit.errors import PrmkitError
from prmkit.records import ERROR_THRESHOLD, META_CORRECT, META_OUTCOME, Solution, first_error_of, read_records
from prmkit.render import PRMFormat, get_format, render

IGNORE = -100.0
_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


def record_files(path: str | os.PathLike) -> list[Path]:
    """The record files behind ``path``: the file itself, or every JSONL/Parquet file in a
    directory (sorted, recursive; ``.json`` files only when there is none of those, so the output
    directory of ``prmkit label`` with its ``manifest.json`` can be passed as it is).

    Example:
        >>> record_files("/nonexistent")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: /nonexistent: file not found
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        # JSONL / Parquet first: a labelling run directory also holds manifest.json, *.meta.json
        files = sorted(
            f for f in p.rglob("*") if f.is_file() and f.name.endswith(_SUFFIXES[:2] + _SUFFIXES[3:])
        )
        if not files:
            files = sorted(f for f in p.rglob("*.json") if f.is_file())
        if not files:
            raise PrmkitError("directory holds no .jsonl/.json/.parquet record files", file=str(p))
        return files
    raise PrmkitError("file not found", file=str(p))


def load_records(path: str | os.PathLike) -> list[Solution]:
    """All canonical records of a file or directory (errors name file, line and field)."""
    out: list[Solution] = []
    for f in record_files(path):
        out.extend(read_records(f))
    return out


def er_prm_label(p: float, eta: float = 1.0) -> float:
    """ER-PRM soft label (docs/methods.md#d4-er-prm-soft-labels): ``(1/eta) * log(1 - p + p * e^eta)``.

    Example:
        >>> [round(er_prm_label(0.375, eta), 4) for eta in (1, 2, 5, 0.01)]
        [0.4973, 0.6113, 0.8061, 0.3762]
    """
    if eta <= 0:
        raise PrmkitError("ER-PRM eta must be > 0", field="er_eta")
    # log1p form keeps small eta exact: 1 - p + p e^eta = 1 + p (e^eta - 1)
    return math.log1p(p * math.expm1(eta)) / eta


def step_targets(
    sol: Solution,
    after_error: str = "drop",
    label_transform: str = "none",
    er_eta: float = 1.0,
) -> tuple[list[str], list[float | None]]:
    """The steps to render and their training targets.

    Example:
        >>> s = Solution(id="x", problem="p", steps=["a", "b", "c"], labels=[1, 0.25, None])
        >>> step_targets(s)
        (['a', 'b'], [1.0, 0.25])
        >>> step_targets(s, after_error="keep")
        (['a', 'b', 'c'], [1.0, 0.25, 0.0])
        >>> step_targets(s, after_error="as-is")
        (['a', 'b', 'c'], [1.0, 0.25, None])
    """
    if sol.labels is None:
        raise PrmkitError("record has no step labels", field="labels", file=sol.id)
    labels: list[float | None] = [None if v is None else float(v) for v in sol.labels]
    steps = list(sol.steps)
    fe = first_error_of(labels, ERROR_THRESHOLD)
    if fe >= 0 and after_error == "drop":
        steps, labels = steps[: fe + 1], labels[: fe + 1]
    elif fe >= 0 and after_error == "keep":
        labels = labels[: fe + 1] + [0.0] * (len(labels) - fe - 1)
    if label_transform == "er-prm":
        labels = [None if v is None else er_prm_label(v, er_eta) for v in labels]
    return steps, labels


def outcome_of(sol: Solution) -> float:
    """Outcome label of a solution (implicit PRM): ``meta.outcome`` / ``meta.correct``,
    else the last step's label (with Monte Carlo labels the last prefix value is the outcome), else
    ``answer == reference_answer``.

    Example:
        >>> outcome_of(Solution(id="x", problem="p", steps=["a"], answer="4", reference_answer="4"))
        1.0
    """
    for key in (META_OUTCOME, META_CORRECT):
        v = sol.meta.get(key)
        if v is not None:
            return float(v)
    if sol.labels and sol.labels[-1] is not None:
        return 1.0 if first_error_of(sol.labels) == -1 else 0.0
    if sol.answer is not None and sol.reference_answer is not None:
        return 1.0 if sol.answer.strip() == sol.reference_answer.strip() else 0.0
    raise PrmkitError(
        "no outcome label: needs meta.outcome, meta.correct, labels or answer + reference_answer",
        file=sol.id,
    )


def build_example(
    sol: Solution,
    fmt: str | PRMFormat,
    tokenizer: Any,
    max_length: int | None = None,
    *,
    after_error: str = "drop",
    label_transform: str = "none",
    er_eta: float = 1.0,
    outcome: bool = False,
) -> dict[str, Any]:
    """One training example: ``input_ids``, float ``labels`` (``-100`` off step positions) and counts.

    With ``outcome=True`` (implicit PRM) all steps are kept and the example carries ``outcome``
    and ``response_mask`` (1 on the tokens of the steps' own text, from ``step_spans``).
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if outcome:
        steps, targets = list(sol.steps), [None] * len(sol.steps)
    else:
        steps, targets = step_targets(sol, after_error, label_transform, er_eta)
    r = render(sol.problem, steps, f, tokenizer, max_length=max_length)
    labels = [IGNORE] * len(r.input_ids)
    n_labelled = 0
    for pos, y in zip(r.step_positions, targets, strict=True):
        if pos is None or y is None:
            continue
        labels[pos] = float(y)
        n_labelled += 1
    ex: dict[str, Any] = {
        "input_ids": r.input_ids,
        "labels": labels,
        "n_steps": len(steps),
        "n_labelled": n_labelled,
        "truncated": r.truncated,
        "n_unknown": sum(
            1 for p, y in zip(r.step_positions, targets, strict=True) if p is not None and y is None
        ),
        "id": sol.id,
    }
    if outcome:
        mask = [0] * len(r.input_ids)
        for span in r.step_spans:
            if span is not None:
                for i in range(span[0], span[1]):
                    mask[i] = 1
        ex["response_mask"] = mask
        ex["outcome"] = outcome_of(sol)
    return ex


@dataclass
class DataStats:
    """Counts of what went into training (nothing dropped silently)."""

    records: int = 0
    examples: int = 0
    steps_labelled: int = 0
    steps_truncated: int = 0
    steps_unknown: int = 0
    records_without_labels: int = 0
    tokens: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["skipped"] = self.skipped[:20]
        return d


def build_examples(
    records: Iterable[Solution],
    fmt: str | PRMFormat,
    tokenizer: Any,
    max_length: int | None = None,
    *,
    after_error: str = "drop",
    label_transform: str = "none",
    er_eta: float = 1.0,
    outcome: bool = False,
) -> tuple[list[dict[str, Any]], DataStats]:
    """Examples for every record. Records with no trainable label are skipped and counted in
    ``stats.skipped`` (records with no ``labels`` at all raise, naming the record)."""
    stats = DataStats()
    out: list[dict[str, Any]] = []
    for sol in records:
        stats.records += 1
        if sol.labels is None and not outcome:
            raise PrmkitError(
                "record has no step labels (train needs labelled records)", field="labels", file=sol.id
            )
        ex = build_example(
            sol,
            fmt,
            tokenizer,
            max_length,
            after_error=after_error,
            label_transform=label_transform,
            er_eta=er_eta,
            outcome=outcome,
        )
        stats.steps_truncated += ex["truncated"]
        stats.steps_unknown += ex["n_unknown"]
        if not outcome and ex["n_labelled"] == 0:
            stats.skipped.append(sol.id)
            continue
        stats.steps_labelled += ex["n_labelled"]
        stats.tokens += len(ex["input_ids"])
        out.append(ex)
    stats.examples = len(out)
    return out, stats


def split_records(
    records: Sequence[Solution], fraction: float, seed: int = 0
) -> tuple[list[Solution], list[Solution]]:
    """Split records into train / held-out by problem (no problem in both), deterministically.

    Example:
        >>> rs = [Solution(id=f"p{i // 2}#{i % 2}", problem="x", steps=["s"], labels=[1]) for i in range(20)]
        >>> tr, ev = split_records(rs, 0.2)
        >>> len(tr) + len(ev), {r.problem_id for r in tr} & {r.problem_id for r in ev}
        (20, set())
    """
    if fraction <= 0:
        return list(records), []
    pids = sorted({r.problem_id for r in records})
    rng = random.Random(seed)
    rng.shuffle(pids)
    n_eval = max(1, round(len(pids) * fraction)) if len(pids) > 1 else 0
    held = set(pids[:n_eval])
    return [r for r in records if r.problem_id not in held], [r for r in records if r.problem_id in held]


class PRMDataset:
    """A list of examples as a map-style dataset (``Trainer`` groups by ``len(input_ids)``)."""

    def __init__(self, examples: list[dict[str, Any]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.examples[i]

    @property
    def lengths(self) -> list[int]:
        return [len(e["input_ids"]) for e in self.examples]


class ShuffledLengthGroupedSampler:
    """Length-grouped batches in a shuffled order.

    Like ``transformers``' ``LengthGroupedSampler`` (random megabatches of ``mult * batch_size``
    examples, each sorted by length and cut into batches), but the batches are then shuffled: the
    Hugging Face sampler walks every megabatch from its longest batch to its shortest, a sweep
    over ~50 optimizer steps that, with PRM data (long solutions hold more steps and more errors),
    swings the model's bias back and forth. Deterministic in ``seed`` and the epoch.

    The one short batch (when ``batch_size`` does not divide the data) stays last: shuffled into
    the middle, it would shift every later batch boundary of the ``DataLoader`` that cuts this
    order into ``batch_size`` rows, and those batches would straddle two length groups. Under
    ``accelerate launch`` the trainer gives the *global* batch size (per-device batch x
    processes), so the processes' shares of each global batch are the rows one process would
    take (docs/training.md#multi-process-training-accelerate-deepspeed-fsdp).

    Example:
        >>> s = ShuffledLengthGroupedSampler([5, 1, 4, 2, 3, 6, 7], batch_size=2, seed=0, mult=3)
        >>> order = list(s)
        >>> sorted(order), len(order)
        ([0, 1, 2, 3, 4, 5, 6], 7)
        >>> [len(b) for b in s.last_batches]  # the short batch last
        [2, 2, 2, 1]
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, mult: int = 50) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mult = mult
        self.epoch = 0
        self.last_batches: list[list[int]] = []  # the batches of the latest iteration, in order

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):  # type: ignore[no-untyped-def]
        rng = random.Random(f"{self.seed}:{self.epoch}")
        idx = list(range(len(self.lengths)))
        rng.shuffle(idx)
        mega = self.mult * self.batch_size
        batches = []
        for s in range(0, len(idx), mega):
            group = sorted(idx[s : s + mega], key=lambda i: self.lengths[i], reverse=True)
            batches += [group[b : b + self.batch_size] for b in range(0, len(group), self.batch_size)]
        short = batches.pop() if batches and len(batches[-1]) < self.batch_size else None
        rng.shuffle(batches)
        if short is not None:  # last, so that every full batch keeps its boundaries
            batches.append(short)
        self.last_batches = batches
        self.epoch += 1  # a new order next epoch even when nobody calls set_epoch
        return iter([i for b in batches for i in b])


class PRMCollator:
    """Pad a batch to its longest example (right padding): ``input_ids``, ``attention_mask``,
    float ``labels`` (``-100`` on padding), plus ``outcome``/``response_mask`` when present.

    With length-grouped batches (``TrainConfig.group_by_length``) little padding is left.

    Example:
        >>> b = PRMCollator(pad_id=0)([{"input_ids": [5, 6], "labels": [-100.0, 0.3]},
        ...                            {"input_ids": [7], "labels": [1.0]}])
        >>> b["labels"].tolist(), b["attention_mask"].tolist()
        ([[-100.0, 0.30000001192092896], [1.0, -100.0]], [[1, 1], [1, 0]])
    """

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_id = pad_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.tokens_seen = 0  # real (non-pad) tokens collated, for throughput accounting
        self.tokens_padded = 0

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(e["input_ids"]) for e in batch)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            width = (width + m - 1) // m * m
        n = len(batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), IGNORE, dtype=torch.float32)
        has_outcome = "outcome" in batch[0]
        resp = torch.zeros((n, width), dtype=torch.long) if has_outcome else None
        for i, e in enumerate(batch):
            k = len(e["input_ids"])
            ids[i, :k] = torch.tensor(e["input_ids"], dtype=torch.long)
            mask[i, :k] = 1
            labels[i, :k] = torch.tensor(e["labels"], dtype=torch.float32)
            if resp is not None:
                resp[i, :k] = torch.tensor(e["response_mask"], dtype=torch.long)
            self.tokens_seen += k
        self.tokens_padded += n * width
        out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if has_outcome:
            out["outcome"] = torch.tensor([float(e["outcome"]) for e in batch], dtype=torch.float32)
            out["response_mask"] = resp
        return out
