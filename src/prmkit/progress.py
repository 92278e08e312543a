"""Progress bars for long work (rich), silenced by ``--quiet`` or ``PRMKIT_QUIET=1``.

Example:
    >>> total = 0
    >>> for x in track(range(3), total=3, description="adding", quiet=True):
    ...     total += x
    >>> total
    3
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress bar of this process."""
    global _QUIET
    _QUIET = quiet


def is_quiet() -> bool:
    return _QUIET or os.environ.get("PRMKIT_QUIET", "") not in ("", "0")


def track(
    items: Iterable[T], total: int | None = None, description: str = "working", quiet: bool | None = None
) -> Iterator[T]:
    """Iterate with a progress bar (with ETA) on stderr; plain iteration when quiet."""
    with Bar(total, description, quiet) as bar:
        for item in items:
            yield item
            bar.advance()


class Bar:
    """A manually advanced progress bar (for work that completes out of order).

    Example:
        >>> with Bar(total=2, description="x", quiet=True) as b:
        ...     b.advance(2)
    """

    def __init__(self, total: int | None, description: str = "working", quiet: bool | None = None) -> None:
        self.quiet = quiet if quiet is not None else is_quiet()
        self._prog = None
        self.total = total
        self.description = description

    def __enter__(self) -> Bar:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._prog = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._prog.__enter__()
            self._task = self._prog.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._prog is not None:
            self._prog.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._prog is not None:
            self._prog.__exit__(None, None, None)
