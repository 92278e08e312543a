"""KV-cache plumbing shared by the code that drives a model token by token (the ``hf`` policy's
decode loop, the generative verifier's decode loop).

:class:`DecodeBatch` holds the rows being decoded together: their KV cache, attention mask and
next positions. Each :meth:`~DecodeBatch.step` feeds one token per row and returns the next
token's logits; :meth:`~DecodeBatch.keep` drops the rows that are done, so a finished row costs
nothing afterwards (``generate`` keeps every row in the batch until the last one ends).

Example:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
    ...                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    >>> model = LlamaForCausalLM(cfg).eval()
    >>> ids = torch.tensor([[0, 5, 6], [7, 8, 9]]); mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    >>> batch, logits = DecodeBatch.prefill(model, ids, mask)
    >>> logits.shape, batch.rows
    (torch.Size([2, 50]), 2)
    >>> batch.keep([1]); batch.step(torch.tensor([3])).shape
    torch.Size([1, 50])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache, LlamaForCausalLM

__all__ = ["CACHE_KW", "DecodeBatch"]

#: the keyword a model's forward and ``generate`` take a KV cache by: ``cache`` in recent
#: transformers, ``past_key_values`` before (still accepted there, with a deprecation warning)
CACHE_KW = "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


class DecodeBatch:
    """Rows decoded together on one KV cache (see the module docs).

    Args:
        model: a causal LM taking ``attention_mask``, ``position_ids`` and a cache.
        cache: the KV cache of the tokens read so far (one row per batch row).
        mask: ``[rows, cached tokens]`` attention mask of those tokens (0 = padding).
        positions: ``[rows]`` position of each row's next token (its count of real tokens).
    """

    def __init__(self, model: Any, cache: Any, mask: torch.Tensor, positions: torch.Tensor) -> None:
        self.model, self.cache, self.mask, self.positions = model, cache, mask, positions
        #: row-tokens fed by :meth:`step` (the decode compute)
        self.row_steps = 0

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @classmethod
    @torch.inference_mode()
    def prefill(cls, model: Any, ids: torch.Tensor, mask: torch.Tensor) -> tuple[DecodeBatch, torch.Tensor]:
        """Read left-padded prompts ``ids`` (``mask``: 1 = token); returns the batch and the
        logits (float32, ``[rows, vocab]``) of each row's next token."""
        dev = model.device
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        cache = DynamicCache(config=model.config)
        out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                    use_cache=True, logits_to_keep=1, **{CACHE_KW: cache})  # fmt: skip
        return cls(model, cache, mask.to(dev), mask.sum(-1).to(dev)), out.logits[:, -1].float()

    def repeat(self, k: int) -> None:
        """Each row becomes ``k`` consecutive rows (``k`` samples of one prompt)."""
        self.cache.batch_repeat_interleave(k)
        self.mask = self.mask.repeat_interleave(k, 0)
        self.positions = self.positions.repeat_interleave(k, 0)

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only ``rows`` (indices into the current rows, in order)."""
        if len(rows) == self.rows:
            return
        sel = torch.as_tensor(list(rows), dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(sel)
        self.mask, self.positions = self.mask[sel], self.positions[sel]

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (``[rows]``); the logits (float32) of the token after it."""
        dev = self.mask.device
        self.mask = torch.cat([self.mask, torch.ones((self.rows, 1), dtype=self.mask.dtype, device=dev)], 1)
        out = self.model(input_ids=tokens.to(dev)[:, None], attention_mask=self.mask,
                         position_ids=self.positions[:, None], use_cache=True, **{CACHE_KW: self.cache})  # fmt: skip
        self.positions = self.positions + 1
        self.row_steps += self.rows
        return out.logits[:, -1].float()
