"""The ``Scorer`` interface: any PRM, returning one score in [0, 1] (or ``None``) per step.

Families register by name in :data:`SCORERS`. :func:`load_scorer` builds one from a name and a
path; when no name is given it is read from the ``prmkit.json`` that prmkit writes beside the
checkpoints it trains (never guessed from the model's name).

Example:
    >>> class Const(Scorer):
    ...     def score_batch(self, problems, steps):
    ...         return [[0.5] * len(s) for s in steps]
    >>> Const().score_batch(["1+1?"], [["1+1=2", "The answer is 2."]])
    [[0.5, 0.5]]
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Solution
from prmkit.registry import Registry

StepScores = list[float | None]

#: file prmkit writes beside a checkpoint: {"format": ..., "separator": ..., "label_semantics": ...}
PRMKIT_JSON = "prmkit.json"


class Scorer(ABC):
    """A process reward model: step scores for (problem, steps) pairs."""

    @abstractmethod
    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        """Score every step of every solution. One list per solution, one value per step;
        ``None`` for a step that could not be scored (e.g. beyond the model window)."""

    def score_records(self, records: Iterable[Solution], batch_size: int = 64) -> Iterator[Solution]:
        """Fill ``scores`` of canonical records, streaming in batches."""
        batch: list[Solution] = []
        for r in records:
            batch.append(r)
            if len(batch) >= batch_size:
                yield from self._fill(batch)
                batch = []
        if batch:
            yield from self._fill(batch)

    def _fill(self, batch: list[Solution]) -> Iterator[Solution]:
        scores = self.score_batch([r.problem for r in batch], [r.steps for r in batch])
        for r, s in zip(batch, scores, strict=True):
            r.scores = s
            yield r

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


SCORERS: Registry[type[Scorer]] = Registry("scorer")


def read_prmkit_json(path: str | Path) -> dict[str, Any] | None:
    """The metadata prmkit wrote beside a checkpoint, or ``None`` when there is none."""
    p = Path(path) / PRMKIT_JSON
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PrmkitError(f"malformed JSON: {e}", file=str(p)) from None


def load_scorer(format: str | None = None, path: str | None = None, **options: Any) -> Scorer:
    """Build a scorer: ``load_scorer("calculator")``, ``load_scorer("token-classification", "runs/x")``.

    With ``format=None`` the format is read from ``PATH/prmkit.json``.
    """
    # the built-in families are registered: importing this module ran prmkit/scorers/__init__.py
    if format is None:
        meta = read_prmkit_json(path) if path else None
        if meta is None or "format" not in meta:
            raise PrmkitError(
                "no --format given and no prmkit.json beside the model; name the PRM format "
                f"(one of: {', '.join(SCORERS.names())})",
                file=str(path) if path else None,
            )
        format = meta["format"]
    cls = SCORERS.get(format)
    return cls.load(path, **options) if hasattr(cls, "load") else cls(**options)  # type: ignore[attr-defined]
