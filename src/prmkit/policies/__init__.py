"""Policy backends (step generators). Importing this package registers the built-in ones.

``hf``, ``openai`` and ``vllm`` live here; their optional dependencies are imported when a
backend is built, so every module here imports on a CPU-only install. The arithmetic world's
policy (``arith``) belongs to the world: :mod:`prmkit.worlds.arith_policy` registers it in
:data:`POLICIES` when imported, which ``import prmkit.worlds`` does (the stages that default to
it, labelling and search, import the world themselves).

Example:
    >>> {"hf", "openai", "vllm"} <= set(POLICIES.names())
    True
"""

from __future__ import annotations

from prmkit.policies import hf, openai, vllm  # noqa: F401 - register the backends
from prmkit.policies.base import POLICIES, Generation, Policy, load_policy

__all__ = ["POLICIES", "Generation", "Policy", "load_policy"]
