"""Converters between prmkit's canonical record and other tools' formats.

Every format registers a :class:`Format` (reader + writer) into :data:`FORMATS` by name:
``canonical``, ``processbench``, ``trl``, ``math-shepherd``, ``prm800k``, ``prmbench``,
``omegaprm``, ``versaprm``, the agent formats ``openai-chat``, ``agentprm`` and ``tool-pairs``,
and ``map`` (a field mapping for anything else).

Example:
    >>> import os, tempfile
    >>> from prmkit.records import Solution
    >>> d = tempfile.mkdtemp()
    >>> recs = [Solution(id="a", problem="p", steps=["x", "y"], labels=[1.0, 0.0])]
    >>> write_solutions(os.path.join(d, "a.jsonl"), recs, "trl")
    1
    >>> [s.labels for s in read_solutions(os.path.join(d, "a.jsonl"), "trl")]
    [[1.0, 0.0]]
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.formats import (  # noqa: F401  (each module registers its format)
    agentprm,
    canonical,
    mapping,
    math_shepherd,
    omegaprm,
    openai_chat,
    prm800k,
    prmbench,
    processbench,
    tool_pairs,
    trl,
    versaprm,
)
from prmkit.formats.base import FORMATS, Format, register_format
from prmkit.records import Rejects, Solution, atomic_path, check_input_file

__all__ = [
    "FORMATS",
    "ConvertConfig",
    "ConvertResult",
    "DataStats",
    "Format",
    "InspectConfig",
    "convert",
    "detect_format",
    "inspect_file",
    "inspect_records",
    "read_solutions",
    "register_format",
    "write_solutions",
]


def _check_options(
    fmt: Format, options: dict[str, Any], allowed: tuple[str, ...], what: str
) -> dict[str, Any]:
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(set(given) - set(allowed))
    if bad:
        ok = ", ".join(allowed) or "none"
        raise PrmkitError(
            f"option(s) {', '.join(bad)} do not apply when {what} '{fmt.name}' (its options: {ok})"
        )
    return given


def read_solutions(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
    **options: Any,
) -> Iterator[Solution]:
    """Stream canonical solutions from ``path`` in format ``fmt`` (detected when ``None``).

    Options a format does not take are an error (``None`` values are ignored).
    """
    name = fmt or detect_format(path)
    f = FORMATS.get(name)
    opts = _check_options(f, options, f.read_options, "reading")
    return f.read(path, skip_invalid=skip_invalid, rejects=rejects, **opts)


def write_solutions(
    path: str | os.PathLike, records: Iterable[Solution], fmt: str = "canonical", **options: Any
) -> int:
    """Write records to ``path`` in format ``fmt``; returns the number of output rows."""
    f = FORMATS.get(fmt)
    if f.write is None:
        raise PrmkitError(f"format '{fmt}' can be read but not written")
    opts = _check_options(f, options, f.write_options, "writing")
    return f.write(path, records, **opts)


_SIGNATURES = (
    ("omegaprm", {"reasoning_steps"}),
    ("omegaprm", {"solution_prefix", "mc_value"}),
    ("versaprm", {"chain_of_thoughts"}),
    ("prmbench", {"modified_process", "error_steps"}),
    ("prm800k", {"label", "question", "labeler"}),
    ("math-shepherd", {"input", "label"}),
    ("trl", {"prompt", "completions", "labels"}),
    ("tool-pairs", {"history", "correct", "incorrect"}),
    ("agentprm", {"task", "trajectory"}),
    ("openai-chat", {"messages"}),
    ("processbench", {"problem", "steps", "label"}),
    ("canonical", {"problem", "steps"}),
)


def detect_format(path: str | os.PathLike, allow_empty: bool = False) -> str:
    """Guess the format from the first record's fields (Parquet is canonical). An empty file is an
    error, or canonical with ``allow_empty``.

    Example:
        >>> import json, os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "t.jsonl")
        >>> _ = open(f, "w").write(json.dumps({"prompt": "p", "completions": ["a"], "labels": [True]}))
        >>> detect_format(f)
        'trl'
    """
    from prmkit.records import iter_json_lines

    p = Path(path)
    if p.suffix == ".parquet":
        return "canonical"
    for _, obj, _ in iter_json_lines(p):
        if isinstance(obj, dict):
            keys = set(obj)
            for name, sig in _SIGNATURES:
                if sig <= keys:
                    return name
        break
    else:
        if allow_empty:
            return "canonical"
        raise PrmkitError("empty file (no records)", file=str(p))
    raise PrmkitError("cannot detect the format; name it with --format / --from", file=str(p))


# ---------------------------------------------------------------- convert


@dataclass
class ConvertConfig:
    """Options of ``prmkit convert`` (and :func:`convert`)."""

    input: str = field(default="", metadata={"help": "Input file.", "positional": True})
    output: str = field(
        default="",
        metadata={"help": "Output file (.jsonl, .json or .parquet for canonical).", "positional": True},
    )
    from_format: str | None = field(
        default=None, metadata={"help": "Input format (detected when omitted).", "flag": "--from"}
    )
    to_format: str = field(default="canonical", metadata={"help": "Output format.", "flag": "--to"})
    map: str | None = field(
        default=None, metadata={"help": "Field mapping for format 'map': problem=q,steps=s"}
    )
    split: str | None = field(default=None, metadata={"help": "Step preset for string steps (format 'map')."})
    skip_invalid: bool = field(default=False, metadata={"help": "Skip (and count) invalid records."})
    rejects: str | None = field(default=None, metadata={"help": "Write skipped records here (JSONL)."})
    neutral: str | None = field(
        default=None, metadata={"help": "PRM800K rating 0: positive|negative|unknown."}
    )
    unknown: str | None = field(default=None, metadata={"help": "Unknown labels on output: error|truncate."})
    original: bool | None = field(
        default=None, metadata={"help": "PRMBench: also emit the original process."}
    )
    allow_empty: bool = field(
        default=False, metadata={"help": "Accept an input with no records (an empty output); else an error."}
    )
    quiet: bool | None = field(default=None, metadata={"help": "No progress bar."})


@dataclass
class ConvertResult:
    """What :func:`convert` did."""

    read: int
    written: int
    rejected: int
    rejects_path: str | None = None
    errors: list[str] = field(default_factory=list)


def _count_lines(path: Path) -> int | None:
    if path.suffix != ".jsonl" or not path.exists():
        return None
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def convert(cfg: ConvertConfig) -> ConvertResult:
    """Read ``cfg.input`` in ``cfg.from_format`` and write ``cfg.output`` in ``cfg.to_format``.

    Example:
        >>> import json, os, tempfile
        >>> d = tempfile.mkdtemp(); src = os.path.join(d, "pb.jsonl")
        >>> _ = open(src, "w").write(json.dumps({"id": "a", "problem": "p", "steps": ["x", "y"], "label": 1}))
        >>> convert(ConvertConfig(input=src, output=os.path.join(d, "out.jsonl"), from_format="processbench",
        ...                       to_format="trl", unknown="truncate", quiet=True)).written
        1
    """
    from prmkit.progress import track

    if not cfg.input or not cfg.output:
        raise PrmkitError("convert needs an input and an output file")
    # exists, readable, not empty (unless --allow-empty); the first record parses unless
    # --skip-invalid may skip it
    check_input_file(cfg.input, allow_empty=cfg.allow_empty, first_record=not cfg.skip_invalid)
    fmt_in = cfg.from_format or detect_format(cfg.input, allow_empty=cfg.allow_empty)
    rejects = Rejects(cfg.rejects) if (cfg.skip_invalid or cfg.rejects) else None
    read_opts: dict[str, Any] = {"neutral": cfg.neutral, "original": cfg.original}
    write_opts: dict[str, Any] = {"unknown": cfg.unknown}
    if fmt_in == "map":
        read_opts.update(mapping=cfg.map, split=cfg.split)
    if cfg.to_format == "map":
        write_opts.update(mapping=cfg.map, split=cfg.split)
    if cfg.map is not None and "map" not in (fmt_in, cfg.to_format):
        raise PrmkitError("--map applies only with --from map or --to map")
    counter = {"n": 0}

    def counted() -> Iterator[Solution]:
        recs = read_solutions(cfg.input, fmt_in, skip_invalid=cfg.skip_invalid, rejects=rejects, **read_opts)
        for r in track(
            recs,
            total=_count_lines(Path(cfg.input)),
            description=f"convert {fmt_in}->{cfg.to_format}",
            quiet=cfg.quiet,
        ):
            counter["n"] += 1
            yield r

    try:
        # all-or-nothing: a bad record (without --skip-invalid) leaves no partial output
        with atomic_path(cfg.output) as tmp:
            written = write_solutions(tmp, counted(), cfg.to_format, **write_opts)
            if counter["n"] == 0 and not (rejects and rejects.count) and not cfg.allow_empty:
                raise PrmkitError("no records (pass --allow-empty to write an empty output)", file=cfg.input)
    finally:
        if rejects is not None:
            rejects.close()
    return ConvertResult(
        read=counter["n"],
        written=written,
        rejected=rejects.count if rejects else 0,
        rejects_path=cfg.rejects,
        errors=list(rejects.errors[:20]) if rejects else [],
    )


# ---------------------------------------------------------------- inspect


@dataclass
class InspectConfig:
    """Options of ``prmkit inspect``."""

    path: str = field(default="", metadata={"help": "File to inspect.", "positional": True})
    format: str | None = field(
        default=None, metadata={"help": "Its format (detected when omitted).", "aliases": ["-f"]}
    )
    map: str | None = field(default=None, metadata={"help": "Field mapping for format 'map'."})
    split: str | None = field(default=None, metadata={"help": "Step preset for string steps (format 'map')."})
    neutral: str | None = field(default=None, metadata={"help": "PRM800K rating 0 policy."})
    skip_invalid: bool = field(default=False, metadata={"help": "Skip (and count) invalid records."})
    quiet: bool | None = field(default=None, metadata={"help": "No progress bar."})


@dataclass
class DataStats:
    """Summary of a set of records (what ``prmkit inspect`` prints)."""

    records: int = 0
    problems: int = 0
    steps_min: int = 0
    steps_max: int = 0
    steps_mean: float = 0.0
    steps_median: float = 0.0
    labelled: int = 0
    scored: int = 0
    with_error: int = 0
    all_correct: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    first_error_hist: dict[int, int] = field(default_factory=dict)
    rejected: int = 0


def inspect_records(records: Iterable[Solution]) -> DataStats:
    """Count records, steps per solution, label kinds and the first-error histogram.

    Label kinds: ``correct`` (1), ``wrong`` (0), ``soft`` (strictly between), ``unknown`` (null).

    Example:
        >>> from prmkit.records import Solution
        >>> st = inspect_records([Solution(id="a#0", problem="p", steps=["x", "y"], labels=[1.0, 0.0]),
        ...                       Solution(id="a#1", problem="p", steps=["x"], labels=[1.0])])
        >>> st.records, st.problems, st.with_error, st.first_error_hist
        (2, 1, 1, {1: 1, -1: 1})
    """
    n_steps: list[int] = []
    problems: set[str] = set()
    kinds: Counter[str] = Counter()
    hist: Counter[int] = Counter()
    st = DataStats()
    for r in records:
        st.records += 1
        problems.add(r.problem_id)
        n_steps.append(len(r.steps))
        if r.scores is not None:
            st.scored += 1
        if r.labels is None:
            continue
        st.labelled += 1
        for v in r.labels:
            kinds["unknown" if v is None else "correct" if v == 1.0 else "wrong" if v == 0.0 else "soft"] += 1
        fe = r.first_error
        hist[fe] += 1
        if fe >= 0:
            st.with_error += 1
        else:
            st.all_correct += 1
    st.problems = len(problems)
    if n_steps:
        st.steps_min, st.steps_max = min(n_steps), max(n_steps)
        st.steps_mean = statistics.fmean(n_steps)
        st.steps_median = float(statistics.median(n_steps))
    st.label_counts = {k: kinds[k] for k in ("correct", "wrong", "soft", "unknown") if kinds[k]}
    st.first_error_hist = dict(sorted(hist.items(), key=lambda kv: (kv[0] < 0, kv[0])))
    return st


def inspect_file(cfg: InspectConfig) -> DataStats:
    """Read ``cfg.path`` (any format) and summarise it with :func:`inspect_records`."""
    from prmkit.progress import track

    fmt = cfg.format or detect_format(cfg.path)
    opts: dict[str, Any] = {"neutral": cfg.neutral}
    if fmt == "map":
        opts.update(mapping=cfg.map, split=cfg.split)
    rejects = Rejects() if cfg.skip_invalid else None
    recs = read_solutions(cfg.path, fmt, skip_invalid=cfg.skip_invalid, rejects=rejects, **opts)
    st = inspect_records(
        track(recs, total=_count_lines(Path(cfg.path)), description="inspect", quiet=cfg.quiet)
    )
    st.rejected = rejects.count if rejects else 0
    return st
