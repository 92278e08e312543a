"""The converter registry and the helpers every format module shares.

A :class:`Format` is a named pair ``read(path, *, skip_invalid, rejects, **options) ->
Iterator[Solution]`` and ``write(path, records, **options) -> int``; modules register one
into :data:`FORMATS` by name.

Example:
    >>> "processbench" in FORMATS.names()
    True
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import (  # noqa: F401 - require_obj, req_str, opt_str: the record field checks
    Rejects,
    Solution,
    iter_json_lines,
    opt_str,
    req_str,
    require_obj,
    write_json_array,
)
from prmkit.registry import Registry

Reader = Callable[..., Iterator[Solution]]
Writer = Callable[..., int]


@dataclass(frozen=True)
class Format:
    """A data format prmkit can read (and usually write).

    ``read_options`` / ``write_options`` name the keyword options the functions accept; passing
    any other option is an error (never silently ignored).
    """

    name: str
    description: str
    read: Reader
    write: Writer | None = None
    read_options: tuple[str, ...] = ()
    write_options: tuple[str, ...] = ()


FORMATS: Registry[Format] = Registry("format")


def register_format(fmt: Format) -> Format:
    """Add a format to :data:`FORMATS` (duplicate names are refused)."""
    return FORMATS.register(fmt.name)(fmt)


# ---------------------------------------------------------------- reading helpers

#: Exceptions a parser may raise on a structurally surprising record; turned into PrmkitError.
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


def read_objects(
    path: str | os.PathLike,
    parse: Callable[[Any, str, int], Iterable[Solution]],
    *,
    skip_invalid: bool = False,
    rejects: Rejects | None = None,
) -> Iterator[Solution]:
    """Stream JSON objects from ``path`` (JSONL, or a ``.json`` array) through ``parse``.

    ``parse(obj, file, line)`` returns the solutions one object holds. Bad objects raise
    :class:`PrmkitError` naming file/line/field, or with ``skip_invalid`` are counted in
    ``rejects`` (with the raw line) and skipped.
    """
    file = str(path)
    if skip_invalid and rejects is None:
        rejects = Rejects()
    for n, obj, raw in iter_json_lines(path, rejects.add if skip_invalid and rejects is not None else None):
        try:
            sols = list(parse(obj, file, n))
        except PrmkitError as e:
            err = e.located(file=file, line=n)
        except _PARSE_ERRORS as e:
            err = PrmkitError(f"invalid record ({type(e).__name__}: {e})", file=file, line=n)
        else:
            yield from sols
            continue
        if not skip_invalid:
            raise err
        assert rejects is not None
        rejects.add(err, raw)


def req_str_list(
    d: dict, key: str, file: str | None, line: int | None, *, field: str | None = None
) -> list[str]:
    """A required, non-empty list of strings (a step list)."""
    name = field or key
    v = d.get(key)
    if v is None:
        raise PrmkitError("missing", file=file, line=line, field=name)
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise PrmkitError("must be a list of strings", file=file, line=line, field=name)
    if not v:
        raise PrmkitError("must not be empty", file=file, line=line, field=name)
    return list(v)


def req_int(d: dict, key: str, file: str | None, line: int | None, *, field: str | None = None) -> int:
    name = field or key
    v = d.get(key)
    if v is None:
        raise PrmkitError("missing", file=file, line=line, field=name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise PrmkitError(f"must be an integer, got {type(v).__name__}", file=file, line=line, field=name)
    return v


def req_value(v: Any, file: str | None, line: int | None, field: str) -> float:
    """A finite number in [0, 1] (a Monte Carlo value, a probability)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PrmkitError(f"must be a number, got {type(v).__name__}", file=file, line=line, field=field)
    fv = float(v)
    if not math.isfinite(fv):
        raise PrmkitError(f"is {fv}, not a finite number", file=file, line=line, field=field)
    if not 0.0 <= fv <= 1.0:
        raise PrmkitError(f"{fv} is outside [0, 1]", file=file, line=line, field=field)
    return fv


def make_solution(file: str | None, line: int | None, **fields: Any) -> Solution:
    """Build a :class:`Solution` through the canonical validator (steps, label ranges, NaN)."""
    d = {k: v for k, v in fields.items() if v is not None}
    d.setdefault("meta", {})
    return Solution.from_dict(d, file=file, line=line)


def default_id(file: str, line: int) -> str:
    """An id for records that have none: ``<file stem>-<line>``."""
    return f"{Path(file).stem}-{line}"


def row_id(d: dict, file: str, line: int) -> str:
    """A row's ``id`` (an int is accepted), or :func:`default_id` when it has none.

    Example:
        >>> row_id({"id": 7}, "data/x.jsonl", 3), row_id({}, "data/x.jsonl", 3)
        ('7', 'x-3')
    """
    return req_str(d, "id", file, line, allow_int=True) if d.get("id") is not None else default_id(file, line)


def other_fields(d: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``d`` whose key is not one of ``keys``: a row's extra columns become
    ``meta`` when reading, and ``meta`` entries become extra columns when writing.

    Example:
        >>> other_fields({"id": 1, "prompt": "p", "source": "s"}, ("id", "prompt"))
        {'source': 's'}
    """
    known = set(keys)
    return {k: v for k, v in d.items() if k not in known}


def row_reader(parse: Callable[..., Iterable[Solution]]) -> Reader:
    """The reader of a format held as one JSON object per row (JSONL or a ``.json`` array).

    ``parse(obj, file, line, **options)`` gives the solutions of one row; the reader's keyword
    options (the format's ``read_options``) are passed on to it.

    Example:
        >>> read = row_reader(lambda d, file, line: [Solution(id=d["id"], problem="p", steps=["s"])])
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "a.jsonl"); _ = open(f, "w").write('{"id": "a"}\\n')
        >>> [s.id for s in read(f)]
        ['a']
    """

    def read(
        path: str | os.PathLike, *, skip_invalid: bool = False, rejects: Rejects | None = None, **options: Any
    ) -> Iterator[Solution]:
        one = functools.partial(parse, **options) if options else parse
        return read_objects(path, one, skip_invalid=skip_invalid, rejects=rejects)

    return read


# ---------------------------------------------------------------- writing helpers


def row_writer(to_row: Callable[..., dict[str, Any]]) -> Writer:
    """The writer of a format held as one JSON object per record: ``to_row(record, **options)``
    gives the row; the writer's keyword options (the format's ``write_options``) go to it.
    JSONL, or one JSON array when the path ends in ``.json``; returns the number of rows."""

    def write(path: str | os.PathLike, records: Iterable[Solution], **options: Any) -> int:
        return write_rows(path, (to_row(r, **options) for r in records))

    return write


def write_rows(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts as JSONL, or as one JSON array when ``path`` ends in ``.json``."""
    p = Path(path)
    if p.suffix == ".json":
        return write_json_array(p, rows)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(p, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def known_labels(rec: Solution, unknown: str, fmt: str) -> tuple[list[str], list[float]]:
    """Steps and labels for formats that cannot hold unknown (``None``) labels.

    ``unknown="error"`` refuses them; ``"truncate"`` keeps the steps before the first ``None``
    (ProcessBench labels ``[1, 0, None]`` become ``[1, 0]``: the steps after the first error).
    Errors name the record.
    """
    if unknown not in ("error", "truncate"):
        raise PrmkitError(f"unknown must be 'error' or 'truncate', got {unknown!r}", field="unknown")
    if rec.labels is None:
        raise record_error(rec, f"has no labels; {fmt} needs one per step", "labels")
    if None not in rec.labels:
        return list(rec.steps), [float(v) for v in rec.labels]  # type: ignore[arg-type]
    k = rec.labels.index(None)
    if unknown == "error" or k == 0:
        raise record_error(
            rec,
            f"has unknown labels (null) that {fmt} cannot hold; "
            "use unknown='truncate' (--unknown truncate) to drop the steps from the first unknown one",
            "labels",
        )
    return list(rec.steps[:k]), [float(v) for v in rec.labels[:k]]  # type: ignore[arg-type]


def record_error(rec: Solution, message: str, field: str | None = None) -> PrmkitError:
    """An error about an in-memory record, named by its id."""
    return PrmkitError(f"record '{rec.id}': {message}", field=field)
