"""PRM families behind one interface. Importing this package registers the built-in families."""

from __future__ import annotations

from prmkit.scorers import calculator, implicit, judge, likelihood, neural, oracle, vllm  # noqa: F401 - register
from prmkit.scorers.base import SCORERS, Scorer, StepScores, load_scorer

__all__ = ["SCORERS", "Scorer", "StepScores", "load_scorer"]
