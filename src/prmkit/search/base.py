"""The names a search method is written with, in one import.

A method is a function ``SearchContext -> list[Candidate]`` registered in :data:`SEARCHES`::

    from prmkit.search.base import SEARCHES, Candidate, SearchContext

The search package is split by concept, and this module only re-exports from it:
:mod:`~prmkit.search.config` (:class:`SearchConfig`, :data:`METHOD_FIELDS`),
:mod:`~prmkit.search.candidates` (:class:`Candidate` and the choice among candidates),
:mod:`~prmkit.search.compute` (:class:`Compute`, :class:`SearchContext`: compute accounting),
:mod:`~prmkit.search.results` (:class:`SearchResult` serialisation, :func:`rechoose`) and
:mod:`~prmkit.search.driver` (:data:`SEARCHES`, :func:`search_one`, :func:`search`). Answers are
graded by :mod:`prmkit.grading` (:func:`is_correct`), the grader of labelling and best-of-N.

Example:
    >>> sorted(METHOD_FIELDS) == SEARCHES.names()
    True
"""

from __future__ import annotations

from prmkit.grading import is_correct
from prmkit.runs import derive_seed
from prmkit.search.candidates import (
    Candidate,
    aggregate_or_none,
    answer_key,
    argmax_first,
    choose_candidate,
)
from prmkit.search.compute import Compute, SearchContext
from prmkit.search.config import METHOD_FIELDS, SearchConfig
from prmkit.search.driver import SEARCHES, SearchMethod, search, search_one
from prmkit.search.results import SearchResult, rechoose, to_solution

__all__ = [
    "METHOD_FIELDS",
    "SEARCHES",
    "Candidate",
    "Compute",
    "SearchConfig",
    "SearchContext",
    "SearchMethod",
    "SearchResult",
    "aggregate_or_none",
    "answer_key",
    "argmax_first",
    "choose_candidate",
    "derive_seed",
    "is_correct",
    "rechoose",
    "search",
    "search_one",
    "to_solution",
]
