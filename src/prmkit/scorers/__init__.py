"""PRM families behind one interface. Importing this package registers the built-in families."""

from __future__ import annotations

import importlib

from prmkit.scorers.base import SCORERS, Scorer, StepScores, load_scorer

for _mod in (
    "prmkit.scorers.neural",
    "prmkit.scorers.implicit",
    "prmkit.scorers.calculator",
    "prmkit.scorers.judge",
    "prmkit.scorers.oracle",
    "prmkit.scorers.vllm",
):
    try:
        importlib.import_module(_mod)
    except ModuleNotFoundError as e:  # only a module of ours that does not exist yet
        if e.name != _mod:
            raise

__all__ = ["SCORERS", "Scorer", "StepScores", "load_scorer"]
