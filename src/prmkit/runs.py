"""What every run records and derives: stable seeds, library versions and run metadata.

One implementation for all stages (labelling, search, policies, judges, training, evaluation),
so two stages never derive a different seed from the same parts or describe a run differently.
Core layer: no torch, no third-party imports at module level.

Example:
    >>> derive_seed(0, "p1", 3) == derive_seed(0, "p1", 3) != derive_seed(0, "p1", 4)
    True
    >>> sorted(run_metadata({"threshold": 0.5}, seed=0))
    ['config', 'created', 'data', 'seed', 'versions']
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Iterable
from typing import Any

from prmkit import __version__

#: Packages whose versions :func:`run_metadata` records when they are installed.
DEFAULT_PACKAGES: tuple[str, ...] = ("numpy", "matplotlib", "torch", "transformers")


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts: the base seed first, then what identifies the call.

    SHA-256 of the parts' ``repr`` joined by ``\\x1f``, first four bytes big-endian, top bit
    cleared. Stable across processes, platforms and Python versions (no ``hash()``), so resumed
    runs are exact; ``repr`` keeps ``1`` and ``"1"`` apart; 31 bits fit every backend (NumPy,
    ``torch.Generator``, vLLM, and servers that keep the seed in an ``int32``).

    Example:
        >>> derive_seed(0, "q#1", 3) == derive_seed(0, "q#1", 3)
        True
        >>> derive_seed(0, "a", 1) != derive_seed(0, "a", 2), derive_seed(1, "a") != derive_seed("1", "a")
        (True, True)
        >>> 0 <= derive_seed("anything", (1, 2)) < 2**31
        True
    """
    h = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
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


def versions(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Versions of prmkit, Python and each installed distribution of ``packages``.

    Read from the installed package metadata (nothing is imported, so asking is cheap);
    packages that are not installed are left out.

    Example:
        >>> v = versions(["pyyaml", "no-such-package-xyz"])
        >>> sorted(v)
        ['prmkit', 'python', 'pyyaml']
    """
    out = {"prmkit": __version__, "python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _config_dict(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return config


def run_metadata(
    config: Any,
    *,
    seed: int | None = None,
    data_files: Iterable[str | os.PathLike] = (),
    packages: Iterable[str] = DEFAULT_PACKAGES,
    **extra: Any,
) -> dict[str, Any]:
    """The record a run writes beside its outputs: config, versions, seed, input hashes, time.

    ``config`` is a config dataclass (made JSON-safe) or a dict; ``data_files`` are hashed
    with SHA-256; ``extra`` entries (a summary, executor details) are added as given.

    Example:
        >>> m = run_metadata({"n": 4}, seed=1, summary={"accuracy": 0.5})
        >>> m["config"], m["seed"], m["summary"], m["data"], "prmkit" in m["versions"]
        ({'n': 4}, 1, {'accuracy': 0.5}, {}, True)
    """
    return {
        "config": _config_dict(config),
        "versions": versions(packages),
        "seed": seed,
        "data": {str(p): sha256_file(p) for p in data_files},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
