"""Test-time search with PRMs: best-of-N, beam search, DVTS, greedy, MCTS, early rejection, PATS.

Every method has one signature, ``search(problems, policy, scorer, config) -> list[SearchResult]``,
and is selected by name (``config.method``, a key of :data:`SEARCHES`). See ``docs/search.md``.

Modules, one concept each: :mod:`~prmkit.search.config` (options), :mod:`~prmkit.search.candidates`
(the working record and the final choice), :mod:`~prmkit.search.compute` (policy/scorer access
with compute accounting), :mod:`~prmkit.search.results` (serialisation), :mod:`~prmkit.search.driver`
(registry and entry points), one module per method, :mod:`~prmkit.search.run` (file-level runs)
and :mod:`~prmkit.search.base` (the names a method is written with).
"""

from __future__ import annotations

from prmkit.runs import derive_seed
from prmkit.search import beam, best_of_n, dvts, early_rejection, greedy, mcts, pats  # noqa: F401 - register
from prmkit.search.candidates import Candidate
from prmkit.search.compute import Compute, SearchContext
from prmkit.search.config import METHOD_FIELDS, SearchConfig
from prmkit.search.driver import SEARCHES, search, search_one
from prmkit.search.results import SearchResult, rechoose

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
