"""Policy backends (step generators). Importing this package registers the built-in ones."""

from __future__ import annotations

import importlib

from prmkit.policies.base import POLICIES, Generation, Policy, load_policy

# Backend modules register themselves on import; optional dependencies are imported lazily
# inside each backend, so every module here imports on a CPU-only install.
for _mod in ("prmkit.worlds.arith_policy", "prmkit.policies.hf", "prmkit.policies.openai", "prmkit.policies.vllm"):
    try:
        importlib.import_module(_mod)
    except ModuleNotFoundError as e:  # only a module of ours that does not exist yet
        if e.name != _mod:
            raise

__all__ = ["POLICIES", "Generation", "Policy", "load_policy"]
