"""Loading a tokenizer: the one function that policies, scorers and training use.

Example (needs a checkpoint, so not run as a doctest)::

    tok = load_tokenizer("runs/prm")                  # a prmkit checkpoint directory
    tok = load_tokenizer("Qwen/Qwen2.5-Math-PRM-7B")  # a Hub id
    tok = load_tokenizer("models", gguf_file="smollm2.gguf")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model


def load_tokenizer(
    path: str | os.PathLike, gguf_file: str | None = None, *, trust_remote_code: bool = False
) -> Any:
    """The tokenizer of a checkpoint directory, a Hub id or a GGUF file (``gguf_file`` in ``path``).

    A directory holding a ``tokenizer.json`` loads it with ``PreTrainedTokenizerFast``:
    ``AutoTokenizer`` would swap a locally trained tokenizer on a qwen2 config for
    ``Qwen2Tokenizer``. Everything else goes through ``AutoTokenizer``. A tokenizer without a
    pad token gets its EOS (else UNK) token as pad, so batches can be padded; the padding side
    is left as the tokenizer has it (callers that generate set it to ``"left"``).

    Raises :class:`~prmkit.errors.PrmkitError` (field ``tokenizer``) naming ``path`` when it
    cannot be loaded.
    """
    path = resolve_model(str(path))
    p = Path(path)
    try:
        if gguf_file is None and p.is_dir() and (p / "tokenizer.json").is_file():
            tok = PreTrainedTokenizerFast.from_pretrained(str(p))
        else:
            kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
            if gguf_file:
                kw["gguf_file"] = gguf_file
            tok = AutoTokenizer.from_pretrained(str(path), **kw)
    except OSError as e:
        raise PrmkitError(f"cannot load tokenizer {str(path)!r}: {e}", field="tokenizer") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    return tok
