"""prmkit command line: ``prmkit --help``.

Each module below owns one group of subcommands and registers it on :data:`prmkit.cli.app.app`
with :func:`prmkit.cli.app.command`; a command's flags are derived from its config dataclass
(:mod:`prmkit.cli.parser`, see docs/architecture.md#cli).
"""

from __future__ import annotations

import importlib
import sys

from prmkit.cli.app import app
from prmkit.errors import PrmkitError

_COMMAND_MODULES = (
    "data",  # convert, inspect
    "split",  # split
    "world",  # world arith ..., world gsm8k-perturb
    "score",  # score
    "evaluate",  # eval processbench | prmbench | bon | calibration | pairwise
    "label",  # label
    "train",  # train
    "search",  # search
    "serve",  # serve
    "quickstart",  # quickstart
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"prmkit.cli.{_name}")


def main() -> None:
    """Entry point: run the app, turning :class:`PrmkitError` into a clean message and exit code 2."""
    try:
        app()
    except PrmkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
