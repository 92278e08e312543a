"""prmkit: a toolkit for process reward models (PRMs).

One record format (:class:`prmkit.records.Solution`) flows through every stage:
data -> label -> train -> score -> evaluate -> search -> serve.

Example:
    >>> from prmkit import Solution
    >>> s = Solution(id="p1#0", problem="1+1?", steps=["1+1=2", "The answer is 2."], labels=[1, 1])
    >>> s.first_error
    -1
"""

from prmkit.errors import PrmkitError
from prmkit.records import Problem, Solution, first_error_of, read_records, write_records

__version__ = "0.1.0"

__all__ = [
    "PrmkitError",
    "Problem",
    "Solution",
    "first_error_of",
    "read_records",
    "write_records",
    "__version__",
]
