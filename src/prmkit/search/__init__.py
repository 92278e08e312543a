"""Test-time search with PRMs: best-of-N, beam search, DVTS, greedy, MCTS, early rejection, PATS.

Every method has one signature, ``search(problems, policy, scorer, config) -> list[SearchResult]``,
and is selected by name (``config.method``, a key of :data:`SEARCHES`). See ``docs/search.md``.
"""

from __future__ import annotations

from prmkit.search import beam, best_of_n, dvts, early_rejection, greedy, mcts, pats  # noqa: F401 - register
from prmkit.search.base import (
    METHOD_FIELDS,
    SEARCHES,
    Candidate,
    Compute,
    SearchConfig,
    SearchContext,
    SearchResult,
    derive_seed,
    rechoose,
    search,
    search_one,
)

__all__ = [
    "METHOD_FIELDS",
    "SEARCHES",
    "Candidate",
    "Compute",
    "SearchConfig",
    "SearchContext",
    "SearchResult",
    "derive_seed",
    "rechoose",
    "search",
    "search_one",
]
