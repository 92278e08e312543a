"""KV-cache plumbing shared by the code that drives a model token by token (the ``hf`` policy's
shared-prompt prefill, the generative verifier's decode loop).

Example:
    >>> CACHE_KW in ("cache", "past_key_values")
    True
"""

from __future__ import annotations

import inspect

from transformers import LlamaForCausalLM

#: the keyword a model's forward and ``generate`` take a KV cache by: ``cache`` in recent
#: transformers, ``past_key_values`` before (still accepted there, with a deprecation warning)
CACHE_KW = "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"
