"""Models that ship inside the package, addressed by name wherever a model path is accepted.

``arith-base`` is the base LM of the embedded default: a small Llama pretrained by
``prmkit world arith pretrain`` on the arithmetic world (float16 safetensors, its tokenizer, and a
``recipe.json`` with the recipe, seed, sha256 and held-out result-digit accuracy).
``tools-base`` is the same for the tool-use world (``prmkit world tools pretrain``): the base LM
of its ``lm-likelihood`` PRM, with the held-out accuracy of the agent's thoughts and actions.

Example:
    >>> resolve_model("arith-base").endswith("arith-base")
    True
    >>> resolve_model("some/hub-id")
    'some/hub-id'
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
#: name -> directory inside the package
PACKAGED_MODELS = {"arith-base": ASSETS / "arith-base", "tools-base": ASSETS / "tools-base"}


def resolve_model(name_or_path: str) -> str:
    """The directory of a packaged model when ``name_or_path`` names one; else it unchanged."""
    p = PACKAGED_MODELS.get(name_or_path)
    return str(p) if p is not None else name_or_path
