"""PRM training: examples from :func:`prmkit.render.render`, PRM losses, a ``transformers.Trainer`` loop.

- :mod:`prmkit.train.data`: examples (labels only at step positions), length-grouped collator.
- :mod:`prmkit.train.losses`: BCE (hard / soft), PQM ranking, implicit PRM, ER-PRM labels.
- :mod:`prmkit.train.trainer`: :func:`train` (``prmkit train``), checkpoint + ``prmkit.json``.
- :mod:`prmkit.train.default`: :func:`train_default_prm`, the embedded arithmetic-world PRM.

Heavy imports happen on first use, so ``import prmkit.train`` is cheap.

Example:
    >>> from prmkit.train import TrainConfig
    >>> TrainConfig(init="tiny").format
    'token-classification'
"""

from __future__ import annotations

from typing import Any

from prmkit.train.config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "train", "train_default_prm"]


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainResult"):
        from prmkit.train import trainer

        return getattr(trainer, name)
    if name == "train_default_prm":
        from prmkit.train.default import train_default_prm

        return train_default_prm
    raise AttributeError(name)
