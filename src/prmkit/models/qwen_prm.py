"""``QwenPRMModel``: the Qwen2.5-Math-PRM architecture as a plain transformers model (no remote code).

A Qwen2 body plus the 2-layer score head of the released checkpoints. Module names and shapes
match them: ``model.*`` (the Qwen2 body), ``score.0`` ``Linear(h, h)``, ``score.1`` ReLU,
``score.2`` ``Linear(h, 2)``, so ``QwenPRMModel.from_pretrained("Qwen/Qwen2.5-Math-PRM-7B")``
loads it as is. The ``qwen-prm`` scorer (:mod:`prmkit.scorers.neural`) reads P(class 1) at each
``<extra_0>`` step tag; :func:`prmkit.models.tiny.build_tiny_model` builds a small one.

Example:
    >>> from transformers import Qwen2Config
    >>> cfg = Qwen2Config(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
    ...                   num_attention_heads=2, num_key_value_heads=1)
    >>> out = QwenPRMModel(cfg)(input_ids=torch.tensor([[1, 2, 3]]))
    >>> tuple(out.logits.shape)
    (1, 3, 2)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Qwen2Config, Qwen2Model, Qwen2PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput


class QwenPRMModel(Qwen2PreTrainedModel):
    """Qwen2 body + the 2-layer score head of Qwen2.5-Math-PRM (logits ``[B, T, 2]``)."""

    config_class = Qwen2Config
    base_model_prefix = "model"

    def __init__(self, config: Qwen2Config) -> None:
        super().__init__(config)
        h = config.hidden_size
        self.model = Qwen2Model(config)
        self.score = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> TokenClassifierOutput:
        """Score-head logits at every position (the body runs without a KV cache)."""
        kwargs.pop("use_cache", None)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=False,
            **kwargs,
        )
        return TokenClassifierOutput(logits=self.score(out.last_hidden_state))
