"""Built-in worlds: the arithmetic world (:mod:`prmkit.worlds.arith`) and GSM8K perturbation.

Importing this package registers the arithmetic world's policy as ``arith`` in
:data:`prmkit.policies.POLICIES`, and the tool-use world (:mod:`prmkit.worlds.tools`) as
environment ``tools`` and agent ``tools-noisy`` in :mod:`prmkit.envs`.

Example:
    >>> from prmkit.policies import POLICIES
    >>> "arith" in POLICIES
    True
"""

from __future__ import annotations

from prmkit.worlds import (
    arith_policy,  # noqa: F401 - registers the 'arith' policy
    tools_agent,  # noqa: F401 - registers the 'tools' environment and 'tools-noisy' agent
)
