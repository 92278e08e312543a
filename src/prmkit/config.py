"""Config dataclasses that map to YAML recipes and CLI flags.

Each command has one dataclass. Values come from (lowest to highest priority): the dataclass
defaults, a YAML recipe (``--config recipe.yaml``), then explicit CLI flags (``None`` = not given).
Help text lives in field metadata (``field(metadata={"help": ...})``); the CLI derives its flags
from the fields (:mod:`prmkit.cli.parser`).

Validation has one convention: the dataclass's ``__post_init__`` raises :class:`PrmkitError` with
``field=`` (the CLI turns it into exit code 2 naming the flag). :func:`check_min`,
:func:`check_positive`, :func:`check_range`, :func:`check_finite` and :func:`check_choice` are the
common checks; the numeric ones also refuse NaN and infinity (``--lr nan`` is an error, never a
silent no-op).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     lr: float = 1e-3
    ...     epochs: int = 1
    >>> build_config(Cfg, None, {"epochs": 3, "lr": None})
    Cfg(lr=0.001, epochs=3)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from prmkit.errors import PrmkitError

C = TypeVar("C")


def help_field(text: str, default: Any = None, **meta: Any) -> Any:
    """A config dataclass field with its CLI help (``metadata["help"]``) and any other flag
    metadata (``flag``, ``aliases``, ``positional``, ...; see :mod:`prmkit.cli.parser`).

    Example:
        >>> @dataclasses.dataclass
        ... class C:
        ...     n: int = help_field("how many", 4)
        >>> C().n, dataclasses.fields(C)[0].metadata["help"]
        (4, 'how many')
    """
    return dataclasses.field(default=default, metadata={"help": text, **meta})


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML (or JSON) recipe into a dict; errors name the file."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise PrmkitError("config file not found", file=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PrmkitError(f"malformed YAML: {e}", file=str(p)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PrmkitError("a recipe must be a mapping of option names to values", file=str(p))
    return data


def build_config(cls: type[C], config_path: str | os.PathLike | None, flags: dict[str, Any]) -> C:
    """Build ``cls`` from defaults < YAML recipe < flags (flags equal to ``None`` are ignored).

    Unknown keys in the recipe are an error (never silently ignored).
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if config_path is not None:
        recipe = load_yaml(config_path)
        for k, v in recipe.items():
            key = k.replace("-", "_")
            if key not in names:
                raise PrmkitError(
                    f"unknown option '{k}'; known: {', '.join(sorted(names))}", file=str(config_path), field=k
                )
            values[key] = v
    for k, v in flags.items():
        if v is None:
            continue
        if k not in names:
            raise PrmkitError(f"unknown option '{k}'", field=k)
        values[k] = v
    try:
        return cls(**values)
    except TypeError as e:
        raise PrmkitError(f"bad configuration: {e}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-safe dict of a config dataclass (for run records)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _check_finite(name: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise PrmkitError(f"must be a finite number, got {v}", field=name)


def check_min(cfg: Any, minimum: float, *names: str) -> None:
    """Each field in ``names`` is ``None`` or a finite number ``>= minimum``; else
    :class:`PrmkitError` naming it.

    Example:
        >>> from types import SimpleNamespace
        >>> check_min(SimpleNamespace(n=0, limit=None), 1, "limit", "n")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'n': must be >= 1, got 0
        >>> check_min(SimpleNamespace(wait=float("nan")), 0, "wait")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'wait': must be a finite number, got nan
    """
    for name in names:
        v = getattr(cfg, name)
        if v is None:
            continue
        _check_finite(name, v)
        if v < minimum:
            raise PrmkitError(f"must be >= {minimum}, got {v}", field=name)


def check_finite(cfg: Any, *names: str) -> None:
    """Each field in ``names`` is ``None`` or a finite number (no NaN, no infinity).

    Example:
        >>> from types import SimpleNamespace
        >>> check_finite(SimpleNamespace(threshold=float("inf")), "threshold")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'threshold': must be a finite number, got inf
    """
    for name in names:
        v = getattr(cfg, name)
        if v is not None:
            _check_finite(name, float(v))


def check_positive(cfg: Any, *names: str) -> None:
    """Each field in ``names`` is ``None`` or a finite number ``> 0``.

    Example:
        >>> from types import SimpleNamespace
        >>> check_positive(SimpleNamespace(lr=0.0), "lr")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'lr': must be > 0, got 0.0
    """
    for name in names:
        v = getattr(cfg, name)
        if v is None:
            continue
        if not v > 0:
            raise PrmkitError(f"must be > 0, got {v}", field=name)
        _check_finite(name, v)


def check_range(cfg: Any, low: float, high: float, *names: str) -> None:
    """Each field in ``names`` is ``None`` or in ``[low, high]``.

    Example:
        >>> from types import SimpleNamespace
        >>> check_range(SimpleNamespace(rate=1.5), 0, 1, "rate")
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'rate': must be in [0, 1], got 1.5
    """
    for name in names:
        v = getattr(cfg, name)
        if v is not None and not low <= v <= high:
            raise PrmkitError(f"must be in [{low}, {high}], got {v}", field=name)


def check_choice(cfg: Any, name: str, choices: Iterable[Any]) -> None:
    """Field ``name`` is one of ``choices``.

    Example:
        >>> from types import SimpleNamespace
        >>> check_choice(SimpleNamespace(format="csv"), "format", ("canonical", "processbench"))
        Traceback (most recent call last):
        ...
        prmkit.errors.PrmkitError: field 'format': unknown format 'csv'; known: canonical, processbench
    """
    choices = tuple(choices)
    v = getattr(cfg, name)
    if v not in choices:
        raise PrmkitError(f"unknown {name} {v!r}; known: {', '.join(map(str, choices))}", field=name)
