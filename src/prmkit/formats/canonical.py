"""``canonical``: prmkit's own record, as JSONL (``.gz`` ok), one JSON array (``.json``) or Parquet.

Example:
    >>> import os, tempfile
    >>> from prmkit.records import Solution
    >>> f = os.path.join(tempfile.mkdtemp(), "x.parquet")
    >>> write_canonical(f, [Solution(id="a", problem="p", steps=["s"], labels=[1.0])])
    1
    >>> [r.labels for r in read_canonical(f)]
    [[1.0]]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prmkit.formats.base import Format, register_format
from prmkit.records import Rejects, Solution, read_records, write_records


def read_canonical(
    path: str | os.PathLike, *, skip_invalid: bool = False, rejects: Rejects | None = None
) -> Iterator[Solution]:
    """Stream canonical records (see :func:`prmkit.records.read_records`)."""
    return read_records(path, skip_invalid=skip_invalid, rejects=rejects)


def write_canonical(path: str | os.PathLike, records: Iterable[Solution]) -> int:
    """Write canonical records; the suffix picks JSONL / JSON array / Parquet."""
    return write_records(path, records)


register_format(
    Format(
        name="canonical",
        description="prmkit records: {id, problem, steps, answer, reference_answer, labels, scores, meta}",
        read=read_canonical,
        write=write_canonical,
    )
)
