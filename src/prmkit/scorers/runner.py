"""Score a JSONL file of canonical records, resumably (the library behind ``prmkit score``).

Records are read in chunks; each chunk is scored (length-sorted batches inside the scorer, input
order restored) and appended to the output, flushed, so a killed run loses at most one chunk.
With ``resume=True`` the ids already in the output are skipped (a torn last line is dropped).

Example::

    from prmkit.scorers.runner import ScoreConfig, score_file
    score_file(ScoreConfig(prm="runs/prm", input="solutions.jsonl", output="scored.jsonl"))
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Solution, read_records


@dataclass
class ScoreConfig:
    """Options of ``prmkit score`` (also readable from ``--config recipe.yaml``)."""

    input: str = field(default="", metadata={"help": "canonical JSONL of solutions"})
    output: str = field(default="", metadata={"help": "scored JSONL (appended)"})
    prm: str | None = field(default=None, metadata={"help": "model directory / hub id"})
    format: str | None = field(default=None, metadata={"help": "scorer family; default: PRM/prmkit.json"})
    resume: bool = False
    batch_tokens: int | None = None
    max_length: int | None = None
    device: str | None = None
    dtype: str | None = None
    chunk: int = 64
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra scorer options"})
    quiet: bool | None = None


def done_ids(path: str | os.PathLike) -> set[str]:
    """Ids already written to ``path``; a torn (unparsable) last line is truncated away.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "o.jsonl")
        >>> _ = open(p, "w").write('{"id": "a"}\\n{"id": "b"')
        >>> sorted(done_ids(p)), open(p).read()
        (['a'], '{"id": "a"}\\n')
    """
    p = Path(path)
    if not p.exists():
        return set()
    ids: set[str] = set()
    good_bytes = 0
    with open(p, "rb") as fh:
        for raw in fh:
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            if not raw.endswith(b"\n"):
                break
            ids.add(str(obj["id"]) if isinstance(obj, dict) and "id" in obj else "")
            good_bytes += len(raw)
    if good_bytes != p.stat().st_size:
        with open(p, "r+b") as fh:
            fh.truncate(good_bytes)
    ids.discard("")
    return ids


def _chunks(records: Iterator[Solution], n: int) -> Iterator[list[Solution]]:
    buf: list[Solution] = []
    for r in records:
        buf.append(r)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def _count_lines(path: str) -> int | None:
    p = Path(path)
    if p.suffix not in (".jsonl",):
        return None
    with open(p, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def score_file(cfg: ScoreConfig, scorer: Any = None) -> dict[str, Any]:
    """Score ``cfg.input`` into ``cfg.output``; returns counts (written, skipped, truncated).

    ``scorer`` may be given (already built); otherwise it is loaded from ``cfg``.
    """
    from prmkit.progress import Bar
    from prmkit.scorers import load_scorer

    if not cfg.input or not cfg.output:
        raise PrmkitError("both --in and --out are needed")
    if scorer is None:
        opts = {k: v for k, v in cfg.options.items()}
        for k in ("device", "dtype", "batch_tokens", "max_length"):
            if getattr(cfg, k) is not None:
                opts[k] = getattr(cfg, k)
        scorer = load_scorer(cfg.format, cfg.prm, **opts)
    out = Path(cfg.output)
    if out.exists() and not cfg.resume:
        raise PrmkitError("output exists; pass --resume to continue it or choose another path", file=str(out))
    skip = done_ids(out) if cfg.resume else set()
    out.parent.mkdir(parents=True, exist_ok=True)
    total = _count_lines(cfg.input)
    written = skipped = 0
    seen: set[str] = set()
    with open(out, "a", encoding="utf-8") as fh, Bar(total, "scoring", quiet=cfg.quiet) as bar:
        for chunk in _chunks(read_records(cfg.input), max(1, cfg.chunk)):
            todo = []
            for r in chunk:
                if r.id in seen:
                    raise PrmkitError(f"duplicate id {r.id!r}", file=cfg.input, field="id")
                seen.add(r.id)
                if r.id in skip:
                    skipped += 1
                else:
                    todo.append(r)
            if todo:
                scores = scorer.score_batch([r.problem for r in todo], [r.steps for r in todo])
                for r, s in zip(todo, scores, strict=True):
                    r.scores = s
                    fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
                fh.flush()
                written += len(todo)
            bar.advance(len(chunk))
    return {
        "written": written,
        "skipped": skipped,
        "truncated_steps": getattr(scorer, "truncated_steps", 0),
        "output": str(out),
    }
