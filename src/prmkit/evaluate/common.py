"""Shared helpers of the evaluators: data location, file hashes, run metadata, result files.

Example:
    >>> meta = run_metadata({"threshold": 0.5}, seed=0, data_files=[])
    >>> sorted(meta)
    ['config', 'created', 'data', 'seed', 'versions']
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError


def default_data_root() -> Path:
    """``$PRMKIT_DATA`` or ``../shared/data`` (relative to the working directory), as a path.

    The directory may not exist; callers check and raise a clear error.
    """
    env = os.environ.get("PRMKIT_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of prmkit, Python and the numeric libraries used by evaluation."""
    from prmkit import __version__

    out = {"prmkit": __version__, "python": platform.python_version()}
    for mod in ("numpy", "matplotlib", "torch", "transformers"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "?"))
        except Exception:  # noqa: BLE001 - optional packages: absent or broken is just "not recorded"
            continue
    return out


def run_metadata(
    config: dict[str, Any], seed: int | None, data_files: Iterable[str | os.PathLike]
) -> dict[str, Any]:
    """Config, versions, seed and SHA-256 of every input file, for a results JSON."""
    return {
        "config": config,
        "versions": versions(),
        "seed": seed,
        "data": {str(p): sha256_file(p) for p in data_files},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (parents created); NaN is written as null."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_clean(obj), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


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
