"""Shared helpers of the evaluators: data location, result files, number formatting.

Run metadata (config, versions, seed, input hashes) comes from :func:`prmkit.runs.run_metadata`.

Example:
    >>> fmt(57.1428), fmt(None)
    ('57.1', 'n/a')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError


def default_data_root() -> Path:
    """``$PRMKIT_DATA`` or ``../shared/data`` (relative to the working directory), as a path.

    The directory may not exist; callers check and raise a clear error.
    """
    env = os.environ.get("PRMKIT_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (parents created, all-or-nothing); NaN is written as null."""
    from prmkit.records import write_text_atomic

    return write_text_atomic(path, json.dumps(_clean(obj), indent=2, ensure_ascii=False) + "\n")


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return None if o != o or o in (float("inf"), float("-inf")) else o
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if hasattr(o, "item") and callable(o.item):  # numpy scalars
        return _clean(o.item())
    return o


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a directory or raise a clear error saying how to point at the data."""
    p = Path(path)
    if not p.is_dir():
        raise PrmkitError(f"{what} data directory not found; pass --data DIR or set PRMKIT_DATA", file=str(p))
    return p


def fmt(x: float | None, digits: int = 1) -> str:
    """Format a number for Markdown tables; ``None`` -> ``n/a``.

    Example:
        >>> fmt(57.1428), fmt(None)
        ('57.1', 'n/a')
    """
    return "n/a" if x is None else f"{x:.{digits}f}"
