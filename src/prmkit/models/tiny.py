"""Tiny models built from config, with a locally trained tokenizer: no downloads.

Used by the embedded default PRM (``prmkit train --init tiny``) and by tests.

Example:
    >>> tok = train_tokenizer(["Tom has 3 apples and buys 4 more."], vocab_size=300)
    >>> model = build_tiny_model("token-classification", tok, arch="qwen2", hidden_size=32, num_layers=1)
    >>> model.config.num_labels
    2
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "ки", "<extra_0>", "<step>"]
Arch = Literal["qwen2", "llama"]
Kind = Literal["token-classification", "value-head", "causal-lm", "qwen-prm"]


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 2000,
    special_tokens: list[str] | None = None,
    chat_template: str | None = None,
) -> Any:
    """Train a byte-level BPE tokenizer locally and wrap it as ``PreTrainedTokenizerFast``.

    Digits are split one per token so arithmetic stays learnable. ``+``/``-`` stay single tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(special_tokens or SPECIAL_TOKENS)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=[t for t in specials if t not in ("<pad>", "<s>", "</s>", "<unk>")],
    )
    fast.chat_template = chat_template or DEFAULT_CHAT_TEMPLATE
    return fast


#: A ChatML-style template (as Qwen uses) for tiny tokenizers.
DEFAULT_CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def tiny_config(
    arch: Arch,
    vocab_size: int,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 1024,
    pad_token_id: int | None = 0,
    bos_token_id: int | None = 1,
    eos_token_id: int | None = 2,
    **extra: Any,
) -> Any:
    """A small Qwen2 or Llama config."""
    from transformers import LlamaConfig, Qwen2Config

    cls = {"qwen2": Qwen2Config, "llama": LlamaConfig}[arch]
    return cls(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        tie_word_embeddings=False,
        **extra,
    )


def build_tiny_model(
    kind: Kind,
    tokenizer: Any,
    *,
    arch: Arch = "qwen2",
    seed: int = 0,
    **config_kwargs: Any,
) -> Any:
    """A randomly initialised tiny model of the given kind (deterministic in ``seed``).

    ``token-classification`` has 2 labels, ``value-head`` 1 (a scalar per token), ``causal-lm``
    is a plain LM (for the ``lm-token-pair``/``chat-turn``/``implicit`` families), ``qwen-prm``
    the Qwen2.5-Math-PRM layout (see :mod:`prmkit.scorers.neural`).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    torch.manual_seed(seed)
    cfg = tiny_config(
        arch,
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **config_kwargs,
    )
    if kind == "token-classification":
        cfg.num_labels = 2
        return AutoModelForTokenClassification.from_config(cfg)
    if kind == "value-head":
        cfg.num_labels = 1
        return AutoModelForTokenClassification.from_config(cfg)
    if kind == "causal-lm":
        return AutoModelForCausalLM.from_config(cfg)
    if kind == "qwen-prm":
        from prmkit.scorers.neural import QwenPRMModel  # built by the scoring stage

        return QwenPRMModel(cfg)
    raise ValueError(f"unknown tiny model kind {kind!r}")
