"""PRM families behind one interface. Importing this package registers the built-in families."""

from __future__ import annotations

from prmkit.scorers import (  # noqa: F401 - register
    calculator,
    generative,
    implicit,
    judge,
    likelihood,
    neural,
    oracle,
    vllm,
)
from prmkit.scorers.base import SCORERS, Scorer, StepScores, load_scorer

__all__ = ["SCORERS", "Scorer", "StepScores", "load_scorer"]
