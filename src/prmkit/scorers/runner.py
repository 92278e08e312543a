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

from prmkit.config import check_choice, check_min
from prmkit.errors import PrmkitError
from prmkit.locks import RunLock
from prmkit.records import Solution, check_input_file, read_records


@dataclass
class ScoreConfig:
    """Options of ``prmkit score`` (also readable from ``--config recipe.yaml``)."""

    input: str = field(default="", metadata={"help": "canonical JSONL of solutions", "flag": "--in"})
    output: str = field(
        default="", metadata={"help": "scored JSONL (written incrementally)", "flag": "--out"}
    )
    prm: str | None = field(
        default=None, metadata={"help": "PRM checkpoint directory or hub id (not needed for calculator)"}
    )
    format: str | None = field(default=None, metadata={"help": "scorer family; default: PRM/prmkit.json"})
    resume: bool = field(default=False, metadata={"help": "skip ids already in --out and append"})
    batch_tokens: int | None = field(
        default=None, metadata={"help": "padded-token budget per forward (default: the scorer's)"}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "model window; steps beyond it score None (default: the scorer's)"}
    )
    device: str | None = field(
        default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda if available)"}
    )
    dtype: str | None = field(
        default=None, metadata={"help": "bf16, fp16, fp32 (default: bf16 on GPU, fp32 on CPU)"}
    )
    chunk: int = field(default=64, metadata={"help": "solutions read and written per chunk"})
    options: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "scorer option KEY=VALUE (repeat)", "flag": "--option", "aliases": ["-o"]},
    )
    quiet: bool | None = field(
        default=None, metadata={"help": "no progress bar (default: the global --quiet)"}
    )
    executor: str = field(
        default="local",
        metadata={
            "help": "local, or ray: shards of --chunk records as Ray tasks (OUT.shards/ + manifest; "
            "the same bytes as local)"
        },
    )
    ray_address: str | None = field(
        default=None, metadata={"help": "Ray cluster to join (auto, HOST:6379); default: start one here"}
    )
    num_cpus: int | None = field(default=None, metadata={"help": "CPUs of a Ray cluster started here"})

    def __post_init__(self) -> None:
        check_min(self, 1, "batch_tokens", "max_length", "chunk", "num_cpus")
        check_choice(self, "executor", ("local", "ray"))


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


def score_lines(scorer: Any, todo: list[Solution]) -> list[str]:
    """Score records in one ``score_batch`` call; their output lines (the same bytes wherever this
    runs: locally or in a Ray worker)."""
    scores = scorer.score_batch([r.problem for r in todo], [r.steps for r in todo])
    metas = getattr(scorer, "last_meta", None)  # e.g. the calculator's unknown steps
    if not isinstance(metas, list) or len(metas) != len(todo):
        metas = [{}] * len(todo)
    lines = []
    for r, s, m in zip(todo, scores, metas, strict=True):
        r.scores = s
        r.meta.update(m)
        lines.append(json.dumps(r.to_dict(), ensure_ascii=False))
    return lines


def _scorer_options(cfg: ScoreConfig) -> dict[str, Any]:
    opts = {k: v for k, v in cfg.options.items()}
    for k in ("device", "dtype", "batch_tokens", "max_length"):
        if getattr(cfg, k) is not None:
            opts[k] = getattr(cfg, k)
    return opts


#: scorers built in this process by score_shard, by spec (a Ray worker loads its model once)
_SCORERS: dict[str, Any] = {}


def score_shard(spec: dict[str, Any], bid: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Score one shard of record dicts (a batch task of :func:`prmkit.executors.run_sharded`).

    Pure in ``(spec, bid, items)``: ``spec`` names the scorer (``format``, ``prm``, ``options``),
    which is loaded once per process and reused.
    """
    from prmkit.scorers import load_scorer

    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(spec["format"], spec["prm"], **spec["options"])
    recs = [Solution.from_dict(d) for d in items]
    return {"batch": bid, "lines": score_lines(_SCORERS[key], recs) if recs else []}


def _score_sharded(cfg: ScoreConfig) -> dict[str, Any]:
    """``--executor ray``: shards of ``chunk`` records through :func:`prmkit.executors.run_sharded`."""
    from prmkit.executors import file_sha256, get_executor, run_sharded
    from prmkit.progress import Bar

    out = Path(cfg.output)
    if out.exists() and not cfg.resume:
        raise PrmkitError("output exists; pass --resume to continue it or choose another path", file=str(out))
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in read_records(cfg.input):
        if r.id in seen:
            raise PrmkitError(f"duplicate id {r.id!r}", file=cfg.input, field="id")
        seen.add(r.id)
        items.append(r.to_dict())
    spec = {"format": cfg.format, "prm": cfg.prm, "options": _scorer_options(cfg)}
    identity = {**spec, "input": str(cfg.input), "input_sha256": file_sha256(cfg.input)}
    executor = get_executor(cfg.executor, address=cfg.ray_address, num_cpus=cfg.num_cpus)
    with Bar(len(items), "scoring", quiet=cfg.quiet) as bar:
        res = run_sharded(
            score_shard,
            spec,
            items,
            out=out,
            identity=identity,
            shard_size=cfg.chunk,
            executor=executor,
            resume=cfg.resume,
            on_shard=bar.advance,
        )
    return {
        "written": res["items_run"],
        "skipped": len(items) - res["items_run"],
        "truncated_steps": 0,
        "output": str(out),
        "shards": res["shards"],
        "shards_run": res["shards_run"],
    }


def score_file(cfg: ScoreConfig, scorer: Any = None) -> dict[str, Any]:
    """Score ``cfg.input`` into ``cfg.output``; returns counts (written, skipped, truncated).

    ``scorer`` may be given (already built); otherwise it is loaded from ``cfg``.
    """
    if not cfg.input or not cfg.output:
        raise PrmkitError("both --in and --out are needed")
    check_input_file(cfg.input)  # exists, readable, non-empty, first record parseable: before a model loads
    # one writer per output (``OUT.lock`` beside it), --resume included
    with RunLock(cfg.output, command="score", is_dir=False):
        return _score_file_locked(cfg, scorer)


def _score_file_locked(cfg: ScoreConfig, scorer: Any) -> dict[str, Any]:
    from prmkit.progress import Bar
    from prmkit.scorers import load_scorer

    if cfg.executor != "local":
        if scorer is not None:
            raise PrmkitError("a scorer object needs the local executor; name it for ray", field="executor")
        return _score_sharded(cfg)
    out = Path(cfg.output)
    if out.exists() and not cfg.resume:  # before the model loads
        raise PrmkitError("output exists; pass --resume to continue it or choose another path", file=str(out))
    if scorer is None:
        scorer = load_scorer(cfg.format, cfg.prm, **_scorer_options(cfg))
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
                fh.writelines(line + "\n" for line in score_lines(scorer, todo))
                fh.flush()
                written += len(todo)
            bar.advance(len(chunk))
    return {
        "written": written,
        "skipped": skipped,
        "truncated_steps": getattr(scorer, "truncated_steps", 0),
        "output": str(out),
    }
