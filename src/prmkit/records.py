"""The data model: problems and step-split solutions with optional step labels and scores.

The canonical JSONL record (one solution per line) is the currency between all stages::

    {"id": "gsm8k-17#3", "problem": "...", "steps": ["...", "..."], "answer": "18",
     "reference_answer": "18", "labels": [1, 0.25, 0], "scores": [0.97, 0.41, 0.08], "meta": {}}

Step values are floats in [0, 1] (1 = correct) or ``None`` (unknown). ``first_error`` is derived
from the labels, never stored.

Example:
    >>> s = Solution(id="q#0", problem="2*3+1?", steps=["2*3=6", "6+1=8", "The answer is 8."],
    ...              labels=[1, 0, 0])
    >>> s.first_error
    1
    >>> Solution.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.trajectory import Turn, steps_from_turns, turns_from_json

StepValues = list[float | None]

#: Threshold under which a step value counts as an error (hard labels are 0/1).
ERROR_THRESHOLD = 0.5

# ---------------------------------------------------------------- known meta keys
# ``Solution.meta`` is free-form; the keys prmkit itself writes and reads are named here once, so
# two stages cannot spell one fact two ways. The first error is never a meta key: it is
# :attr:`Solution.first_error`, derived from the labels.

#: ``str``: the problem a solution answers (else the id before ``#``), see :attr:`Solution.problem_id`.
META_PROBLEM_ID = "problem_id"
#: ``bool``: the solution's final answer matches the reference answer, see :attr:`Solution.correct`.
#: (ProcessBench calls it ``final_answer_correct``; the converters map that field to this key.)
META_CORRECT = "correct"
#: ``str``: the model or program that wrote the solution (ProcessBench ``generator``).
META_GENERATOR = "generator"
#: ``str``: the benchmark subset a record belongs to (ProcessBench ``gsm8k``, ``math``, ...).
META_SUBSET = "subset"
#: ``dict``: how ``prmkit label`` produced the labels (method, cost, ``dropped`` reason).
META_LABELLING = "labelling"
#: ``float``: an outcome label in [0, 1] for outcome-supervised training (implicit PRM).
META_OUTCOME = "outcome"


def first_error_of(values: list[float | None] | None, threshold: float = ERROR_THRESHOLD) -> int:
    """Index of the first step whose value is below ``threshold``; -1 when none is.

    ``None`` values (unknown) never count as errors.

    Example:
        >>> first_error_of([1, 1, 0.2, 0])
        2
        >>> first_error_of([1, None, 1])
        -1
        >>> first_error_of([0.3, 1], threshold=0.25)
        -1
    """
    if not values:
        return -1
    for i, v in enumerate(values):
        if v is not None and v < threshold:
            return i
    return -1


def labels_from_first_error(first_error: int, n_steps: int, after: float | None = None) -> StepValues:
    """Hard labels for a solution whose first wrong step is ``first_error`` (-1 = none).

    Steps after the first error get ``after`` (``None`` = unknown, as in ProcessBench).

    Example:
        >>> labels_from_first_error(1, 3)
        [1.0, 0.0, None]
        >>> labels_from_first_error(-1, 2)
        [1.0, 1.0]
    """
    if first_error < -1 or first_error >= n_steps:
        raise PrmkitError(f"first error {first_error} out of range for {n_steps} steps")
    if first_error == -1:
        return [1.0] * n_steps
    return [1.0] * first_error + [0.0] + [after] * (n_steps - first_error - 1)


@dataclass
class Problem:
    """A problem to solve.

    Example:
        >>> Problem(id="p1", question="What is 2+2?", reference_answer="4").reference_answer
        '4'
    """

    id: str
    question: str
    reference_answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "problem": self.question}
        if self.reference_answer is not None:
            d["reference_answer"] = self.reference_answer
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: Any, *, file: str | None = None, line: int | None = None) -> Problem:
        """Read ``{"id", "problem" (or "question"), "reference_answer"?, "meta"?}``."""
        d = require_obj(d, file, line)
        pid = req_str(d, "id", file, line, allow_int=True)
        key = "problem" if "problem" in d else "question"
        question = req_str(d, key, file, line)
        ref = opt_str(d, "reference_answer", file, line)
        meta = _opt_meta(d, file, line)
        return cls(id=pid, question=question, reference_answer=ref, meta=meta)


@dataclass
class Solution:
    """One solution to a problem, cut into steps, with optional per-step labels and scores.

    An agent trajectory also carries its ``turns`` (:mod:`prmkit.trajectory`): one per step,
    holding thought, action and observation losslessly; its ``steps`` are then the turns' text
    (:func:`~prmkit.trajectory.steps_from_turns`), and a record whose steps disagree with its
    turns is refused.

    Example:
        >>> from prmkit.trajectory import Turn
        >>> s = Solution.from_dict({"id": "t#0", "problem": "Find the mug.",
        ...                         "turns": [{"action": "look", "observation": "A mug."}]})
        >>> s.steps, s.turns[0].observation
        (['Action: look'], 'A mug.')
    """

    id: str
    problem: str
    steps: list[str]
    answer: str | None = None
    reference_answer: str | None = None
    labels: StepValues | None = None
    scores: StepValues | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] | None = None

    @property
    def problem_id(self) -> str:
        """The problem this solution answers: ``meta['problem_id']`` or the id before ``#``."""
        pid = self.meta.get(META_PROBLEM_ID)
        return str(pid) if pid is not None else self.id.split("#", 1)[0]

    @property
    def correct(self) -> bool | None:
        """Whether the final answer is right (``meta['correct']``); ``None`` when not recorded.

        Example:
            >>> Solution(id="a", problem="p", steps=["s"], meta={META_CORRECT: False}).correct
            False
            >>> Solution(id="a", problem="p", steps=["s"]).correct is None
            True
        """
        v = self.meta.get(META_CORRECT)
        return None if v is None else bool(v)

    @property
    def first_error(self) -> int:
        """0-based index of the first step labelled wrong (value < 0.5), -1 if none."""
        return first_error_of(self.labels)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "problem": self.problem, "steps": list(self.steps)}
        for key in ("answer", "reference_answer", "labels", "scores"):
            val = getattr(self, key)
            if val is not None:
                d[key] = list(val) if isinstance(val, list) else val
        d["meta"] = self.meta
        if self.turns is not None:
            d["turns"] = [t.to_dict() for t in self.turns]
        return d

    @classmethod
    def from_dict(cls, d: Any, *, file: str | None = None, line: int | None = None) -> Solution:
        """Validate and read a canonical record; errors name file, line and field."""
        d = require_obj(d, file, line)
        sid = req_str(d, "id", file, line, allow_int=True)
        problem = req_str(d, "problem", file, line)
        steps = d.get("steps")
        turns = turns_from_json(d["turns"], file=file, line=line) if d.get("turns") is not None else None
        if turns is not None:
            derived = steps_from_turns(turns)
            if steps is None:
                steps = derived
            elif steps != derived:
                bad = next(
                    (i for i, (a, b) in enumerate(zip(steps, derived, strict=False)) if a != b),
                    min(len(steps), len(derived)),
                )
                raise PrmkitError(
                    f"step {bad} disagrees with the text of its turn (steps are derived from turns; "
                    "drop 'steps' or make them match)",
                    file=file,
                    line=line,
                    field="steps",
                )
        if steps is None:
            raise PrmkitError("missing", file=file, line=line, field="steps")
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise PrmkitError("must be a list of strings", file=file, line=line, field="steps")
        if not steps:
            raise PrmkitError("must not be empty", file=file, line=line, field="steps")
        labels = _step_values(d, "labels", len(steps), file, line)
        scores = _step_values(d, "scores", len(steps), file, line)
        return cls(
            id=sid,
            problem=problem,
            steps=list(steps),
            answer=opt_str(d, "answer", file, line),
            reference_answer=opt_str(d, "reference_answer", file, line),
            labels=labels,
            scores=scores,
            meta=_opt_meta(d, file, line),
            turns=turns,
        )

    def validate(self) -> Solution:
        """Re-check the invariants (steps non-empty, value lists aligned and in range)."""
        return Solution.from_dict(self.to_dict())


# ---------------------------------------------------------------- field validation helpers


def require_obj(d: Any, file: str | None, line: int | None, field: str | None = None) -> dict[str, Any]:
    """``d`` when it is a JSON object (a dict), else an error naming file, line and field."""
    if not isinstance(d, dict):
        raise PrmkitError(
            f"expected a JSON object, got {type(d).__name__}", file=file, line=line, field=field
        )
    return d


def req_str(
    d: dict,
    key: str,
    file: str | None,
    line: int | None,
    *,
    field: str | None = None,
    allow_int: bool = False,
) -> str:
    """A required string field (an int is accepted, as a string, when ``allow_int``: ids).

    Errors name ``file``, ``line`` and ``field`` (default ``key``).

    Example:
        >>> req_str({"id": 3}, "id", "a.jsonl", 1, allow_int=True)
        '3'
        >>> req_str({}, "problem", "a.jsonl", 2)
        Traceback (most recent call last):
        prmkit.errors.PrmkitError: a.jsonl:2: field 'problem': missing
    """
    name = field or key
    if key not in d or d[key] is None:
        raise PrmkitError("missing", file=file, line=line, field=name)
    val = d[key]
    if allow_int and isinstance(val, int) and not isinstance(val, bool):
        return str(val)
    if not isinstance(val, str):
        raise PrmkitError(f"must be a string, got {type(val).__name__}", file=file, line=line, field=name)
    return val


def opt_str(d: dict, key: str, file: str | None, line: int | None, *, field: str | None = None) -> str | None:
    """An optional string field; finite numbers become strings (answers such as ``18``).

    Example:
        >>> opt_str({"answer": 18}, "answer", None, None), opt_str({}, "answer", None, None)
        ('18', None)
    """
    name = field or key
    val = d.get(key)
    if val is None:
        return None
    if isinstance(val, bool):
        raise PrmkitError("must be a string, got bool", file=file, line=line, field=name)
    if isinstance(val, int | float):
        if isinstance(val, float) and not math.isfinite(val):
            raise PrmkitError("must be a string or finite number", file=file, line=line, field=name)
        return str(val)
    if not isinstance(val, str):
        raise PrmkitError(f"must be a string, got {type(val).__name__}", file=file, line=line, field=name)
    return val


def _opt_meta(d: dict, file: str | None, line: int | None) -> dict[str, Any]:
    meta = d.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PrmkitError(f"must be an object, got {type(meta).__name__}", file=file, line=line, field="meta")
    return meta


def check_step_values(
    values: Any, n_steps: int, *, name: str = "labels", file: str | None = None, line: int | None = None
) -> StepValues:
    """Validate a list of step values: same length as steps, each None or a finite float in [0, 1].

    Booleans become 1.0/0.0.

    Example:
        >>> check_step_values([True, 0.5, None], 3)
        [1.0, 0.5, None]
    """
    if not isinstance(values, list):
        raise PrmkitError(f"must be a list, got {type(values).__name__}", file=file, line=line, field=name)
    if len(values) != n_steps:
        raise PrmkitError(f"has {len(values)} values for {n_steps} steps", file=file, line=line, field=name)
    out: StepValues = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool):
            out.append(1.0 if v else 0.0)
            continue
        if not isinstance(v, int | float):
            raise PrmkitError(
                f"value {i} must be a number or null, got {type(v).__name__}",
                file=file,
                line=line,
                field=name,
            )
        fv = float(v)
        if not math.isfinite(fv):
            raise PrmkitError(f"value {i} is {fv}, not a finite number", file=file, line=line, field=name)
        if not 0.0 <= fv <= 1.0:
            raise PrmkitError(f"value {i} = {fv} is outside [0, 1]", file=file, line=line, field=name)
        out.append(fv)
    return out


def _step_values(d: dict, key: str, n: int, file: str | None, line: int | None) -> StepValues | None:
    if d.get(key) is None:
        return None
    return check_step_values(d[key], n, name=key, file=file, line=line)


# ---------------------------------------------------------------- file I/O


def _open_text(path: Path, mode: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


def _is_parquet(path: Path) -> bool:
    return path.suffix == ".parquet"


class Rejects:
    """Collects records skipped by ``--skip-invalid``: counted, and written to a rejects file.

    Example:
        >>> r = Rejects()
        >>> r.add(PrmkitError("missing", file="a.jsonl", line=2, field="steps"), raw='{"id": 1}')
        >>> r.count
        1
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self.errors: list[str] = []
        self._fh = None

    def add(self, err: PrmkitError, raw: str | None = None) -> None:
        self.count += 1
        if len(self.errors) < 1000:
            self.errors.append(str(err))
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._fh.write(json.dumps({"error": str(err), "raw": raw}, ensure_ascii=False) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def check_input_file(
    path: str | os.PathLike, *, allow_empty: bool = False, first_record: bool = True
) -> None:
    """Fail fast, before any model is loaded: ``path`` exists, is a readable file, is not empty
    (unless ``allow_empty``) and its first record parses (JSONL: the first non-blank line; not
    checked with ``first_record=False``, for a reader that may skip invalid lines).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "e.jsonl"); _ = open(p, "w").write("\\n")
        >>> try:
        ...     check_input_file(p)
        ... except PrmkitError as e:
        ...     print(str(e).endswith("e.jsonl: empty file (no records)"))
        True
        >>> check_input_file(p, allow_empty=True)
    """
    p = Path(path)
    if not p.exists():
        raise PrmkitError("file not found", file=str(p))
    if not p.is_file():
        raise PrmkitError("not a file", file=str(p))
    if not os.access(p, os.R_OK):
        raise PrmkitError("file is not readable (permission denied)", file=str(p))
    if p.suffix == ".parquet":
        return
    if p.suffix == ".json":  # one document: parsed whole by the reader
        if not allow_empty and not _has_text(p):
            raise PrmkitError("empty file (no records)", file=str(p))
        return
    if not first_record:
        if not allow_empty and not _has_text(p):
            raise PrmkitError("empty file (no records)", file=str(p))
        return
    for _ in iter_json_lines(p):
        return  # the first record parsed
    if not allow_empty:
        raise PrmkitError("empty file (no records)", file=str(p))


def _has_text(p: Path) -> bool:
    """Whether the file holds anything but whitespace (``.gz`` read decompressed)."""
    try:
        with gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                if chunk.strip():
                    return True
    except OSError as e:
        raise PrmkitError(f"cannot read: {e}", file=str(p)) from None
    return False


def iter_json_lines(
    path: str | os.PathLike, malformed: Callable[[PrmkitError, str], None] | None = None
) -> Iterator[tuple[int, Any, str]]:
    """Stream ``(line_number, parsed_object, raw_line)`` from a JSONL file (blank lines skipped).

    Malformed JSON raises :class:`PrmkitError` naming the file and line, or, when ``malformed``
    is given, is passed to ``malformed(error, raw_line)`` and reading goes on. A ``.json`` file
    holding one top-level array is also accepted (each element numbered by its array index + 1).
    """
    p = Path(path)
    if not p.exists():
        raise PrmkitError("file not found", file=str(p))
    if p.suffix == ".json":
        try:
            with _open_text(p, "r") as fh:
                data = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, EOFError) as e:
            raise PrmkitError(f"malformed JSON: {e}", file=str(p)) from None
        except OSError as e:  # e.g. a corrupt .gz
            raise PrmkitError(f"cannot read: {e}", file=str(p)) from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise PrmkitError("expected a JSON array of objects", file=str(p))
        for i, obj in enumerate(data, start=1):
            yield i, obj, json.dumps(obj, ensure_ascii=False)
        return
    try:
        # bytes, decoded line by line: a non-UTF-8 line is an error naming its line (skippable)
        with gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb") as bfh:
            for n, raw_bytes in enumerate(bfh, start=1):
                try:
                    raw = raw_bytes.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    bad = raw_bytes[e.start : e.start + 1].hex()
                    err = PrmkitError(
                        f"not valid UTF-8 text: byte 0x{bad} at byte {e.start + 1} of the line",
                        file=str(p),
                        line=n,
                    )
                    if malformed is None:
                        raise err from None
                    malformed(err, raw_bytes.decode("utf-8", "replace").rstrip("\r\n"))
                    continue
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)  # without its newline: a truncated line's column is right
                except (json.JSONDecodeError, RecursionError) as e:
                    why = (
                        f"{e.msg} (column {e.colno})"
                        if isinstance(e, json.JSONDecodeError)
                        else "nested too deeply"
                    )
                    err = PrmkitError(f"malformed JSON: {why}", file=str(p), line=n)
                    if malformed is None:
                        raise err from None
                    malformed(err, raw)
                    continue
                yield n, obj, raw
    except (OSError, EOFError) as e:  # e.g. a corrupt .gz
        raise PrmkitError(f"cannot read: {e}", file=str(p)) from None


def read_records(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
) -> Iterator[Solution]:
    """Stream canonical records from ``.jsonl`` (optionally ``.gz``), ``.json`` or ``.parquet``.

    With ``skip_invalid``, bad records are skipped and counted in ``rejects`` (never silently);
    otherwise the first bad record raises :class:`PrmkitError` naming file, line and field.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, "x.jsonl")
        >>> write_records(f, [Solution(id="a", problem="p", steps=["s"])])
        1
        >>> [r.id for r in read_records(f)]
        ['a']
    """
    p = Path(path)
    if skip_invalid and rejects is None:
        rejects = Rejects()
    if _is_parquet(p):
        yield from _read_parquet(p, skip_invalid, rejects)
        return
    # malformed JSON lines are unusable, but the file may go on
    for n, obj, raw in iter_json_lines(p, rejects.add if skip_invalid and rejects is not None else None):
        try:
            yield Solution.from_dict(obj, file=str(p), line=n)
        except PrmkitError as e:
            if not skip_invalid:
                raise
            assert rejects is not None
            rejects.add(e, raw)


def _read_parquet(p: Path, skip_invalid: bool, rejects: Rejects | None) -> Iterator[Solution]:
    import pyarrow.parquet as pq

    if not p.exists():
        raise PrmkitError("file not found", file=str(p))
    try:
        pf = pq.ParquetFile(p)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise PrmkitError(f"not a readable Parquet file: {e}", file=str(p)) from None
    row = 0
    try:
        batches = iter(pf.iter_batches(batch_size=1024))
    except Exception as e:
        raise PrmkitError(f"not a readable Parquet file: {e}", file=str(p)) from None
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:  # corrupt row group
            raise PrmkitError(f"not a readable Parquet file: {e}", file=str(p), line=row + 1) from None
        for d in batch.to_pylist():
            row += 1
            try:
                if isinstance(d.get("meta"), str):
                    try:
                        d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
                    except (json.JSONDecodeError, RecursionError):
                        raise PrmkitError(
                            "must hold a JSON object", file=str(p), line=row, field="meta"
                        ) from None
                yield Solution.from_dict(d, file=str(p), line=row)
            except PrmkitError as e:
                if not skip_invalid:
                    raise
                assert rejects is not None
                rejects.add(e, json.dumps(d, default=str))


class RecordWriter:
    """Append canonical records to a JSONL file, flushing each line (safe to kill and resume).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "out.jsonl")
        >>> with RecordWriter(f) as w:
        ...     w.write(Solution(id="a", problem="p", steps=["s"]))
        >>> sum(1 for _ in read_records(f))
        1
    """

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = _open_text(self.path, "a" if append else "w")
        self.count = 0

    def write(self, rec: Solution | dict[str, Any]) -> None:
        d = rec.to_dict() if isinstance(rec, Solution) else rec
        self._fh.write(json.dumps(d, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """All-or-nothing output: yields a temporary path in the same directory (same file name after
    a ``.tmp-PID-`` prefix, so suffix-based writers pick the same format), renamed over ``path``
    when the block ends normally and deleted when it raises: a failed command leaves no partial
    file, and a reader never sees a half-written one.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); out = os.path.join(d, "o.jsonl")
        >>> try:
        ...     with atomic_path(out) as tmp:
        ...         _ = tmp.write_text("half")
        ...         raise ValueError("bad line 10")
        ... except ValueError:
        ...     pass
        >>> os.listdir(d)
        []
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("whole")
        >>> os.listdir(d), open(out).read()
        (['o.jsonl'], 'whole')
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".tmp-{os.getpid()}-{p.name}")
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if tmp.exists():
        os.replace(tmp, p)


def write_text_atomic(path: str | os.PathLike, text: str, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` all-or-nothing (:func:`atomic_path`); returns the path.

    ``durable`` also fsyncs the file and its directory (survives power loss, not only a killed
    process): manifests and shards of resumable runs.

    Example:
        >>> import tempfile, os
        >>> p = write_text_atomic(os.path.join(tempfile.mkdtemp(), "sub", "r.json"), "{}", durable=True)
        >>> p.read_text()
        '{}'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
    if durable:
        with contextlib.suppress(OSError):  # directories cannot be fsynced on some filesystems
            dfd = os.open(Path(path).parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return Path(path)


def write_records(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write records to ``.jsonl`` (``.gz`` ok), ``.json`` (one array) or ``.parquet``.

    Returns the number written. All-or-nothing (:func:`atomic_path`): when reading ``records``
    fails midway, ``path`` is left as it was.
    """
    with atomic_path(path) as tmp:
        return _write_records(tmp, records)


def _write_records(p: Path, records: Iterable[Solution]) -> int:
    if _is_parquet(p):
        return _write_parquet(p, records)
    if p.suffix == ".json":
        return write_json_array(p, (r.to_dict() for r in records))
    with RecordWriter(p) as w:
        for r in records:
            w.write(r)
        return w.count


def write_json_array(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Stream dicts into one pretty JSON array (``[`` ... ``]``); returns the number written.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "a.json")
        >>> write_json_array(f, [{"a": 1}, {"a": 2}])
        2
        >>> [o["a"] for _, o, _ in iter_json_lines(f)]
        [1, 2]
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with _open_text(p, "w") as fh:
        fh.write("[")
        for d in rows:
            fh.write(",\n  " if n else "\n  ")
            fh.write(json.dumps(d, ensure_ascii=False))
            n += 1
        fh.write("\n]\n" if n else "]\n")
    return n


_PARQUET_BATCH = 2048


def _parquet_rows(batch: list[Solution]) -> list[dict[str, Any]]:
    rows = []
    for r in batch:
        d = r.to_dict()
        d.setdefault("answer", None)
        d.setdefault("reference_answer", None)
        d.setdefault("labels", None)
        d.setdefault("scores", None)
        d["meta"] = json.dumps(d.get("meta") or {}, ensure_ascii=False)
        rows.append(d)
    return rows


def _write_parquet(p: Path, records: Iterable[Solution]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("problem", pa.string()),
            ("steps", pa.list_(pa.string())),
            ("answer", pa.string()),
            ("reference_answer", pa.string()),
            ("labels", pa.list_(pa.float64())),
            ("scores", pa.list_(pa.float64())),
            ("meta", pa.string()),
        ]
    )
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with pq.ParquetWriter(p, schema) as writer:
        batch: list[Solution] = []
        for r in records:
            batch.append(r)
            if len(batch) >= _PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(_parquet_rows(batch), schema=schema))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(_parquet_rows(batch), schema=schema))
            n += len(batch)
    return n


def read_problems(
    path: str | os.PathLike, *, skip_invalid: bool = False, rejects: Rejects | None = None
) -> Iterator[Problem]:
    """Stream :class:`Problem` records (``id``, ``problem``/``question``, ``reference_answer``)."""
    p = Path(path)
    if skip_invalid and rejects is None:
        rejects = Rejects()
    for n, obj, raw in iter_json_lines(p, rejects.add if skip_invalid and rejects is not None else None):
        try:
            yield Problem.from_dict(obj, file=str(p), line=n)
        except PrmkitError as e:
            if not skip_invalid:
                raise
            assert rejects is not None
            rejects.add(e, raw)


def write_problems(path: str | os.PathLike, problems: Iterable[Problem]) -> int:
    """Write problems as JSONL; returns the number written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with _open_text(p, "w") as fh:
        for pr in problems:
            fh.write(json.dumps(pr.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


# ---------------------------------------------------------------- datasets interop


def to_dataset(records: Iterable[Solution]):  # -> datasets.Dataset
    """Convert records to a ``datasets.Dataset`` (``meta`` stored as a JSON string)."""
    import datasets

    rows = _parquet_rows(list(records))
    return datasets.Dataset.from_list(rows)


def from_dataset(ds: Any) -> Iterator[Solution]:
    """Read records from a ``datasets.Dataset`` produced by :func:`to_dataset` (or compatible)."""
    for i, row in enumerate(ds, start=1):
        d = dict(row)
        if isinstance(d.get("meta"), str):
            d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
        yield Solution.from_dict(d, file="<dataset>", line=i)
