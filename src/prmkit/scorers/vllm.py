"""vLLM scoring backend (optional extra ``prmkit[vllm]``, GPU): token-level pooling at the steps.

Solutions are rendered by the same :func:`prmkit.render.render_many` as every other scorer and
sent to vLLM as token ids (``TokensPrompt``), so the step positions are known exactly. The engine
is built one way (:func:`engine_config`): ``runner="pooling"``, ``max_model_len``, the dtype
mapped to vLLM's names, and a ``PoolerConfig`` for the ``token_classify`` task:

- ``STEP`` pooling (``step_tag_id``) when the score is read at a tag that is one token in every
  context (``<extra_0>`` of Qwen2.5-Math-PRM): one row per occurrence of the tag id, mapped back
  to our step positions by occurrence order, so a step whose text contains the tag cannot shift
  the others.
- ``ALL`` pooling otherwise (chat-turn, whole-string tags such as `` ки``): one row per token,
  read at our step positions.
- LM-head PRMs (``lm-token-pair``, ``chat-turn``) are served as classifiers with vLLM's own
  conversion, ``convert="classify"`` + ``classifier_from_token`` (``from_2_way_softmax``), so a
  row is P(good) from the two LM-head rows, never raw hidden states.

The row at a step is a probability (vLLM applies the activation): class ``positive_index`` for
2-class heads, the single column for value heads and converted token pairs.

Example (GPU with vLLM installed)::

    scorer = load_scorer("vllm", "Qwen/Qwen2.5-Math-PRM-7B", render_format="qwen-prm", dtype="bf16")
    scorer.score_batch([question], [steps])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig

from prmkit.aggregate import sigmoid
from prmkit.errors import PrmkitError
from prmkit.models.tokenizer import load_tokenizer
from prmkit.render import (
    PRMFormat,
    Rendered,
    _single_token_id,
    _tag_ids,
    encode_texts,
    get_format,
    render_many,
)
from prmkit.scorers.base import SCORERS, Scorer, StepScores, read_prmkit_json
from prmkit.scorers.neural import format_from_json, split_format_options


def vllm_available() -> str | None:
    """``None`` when vLLM and a CUDA GPU are usable, else the reason they are not.

    Example:
        >>> isinstance(vllm_available(), (str, type(None)))
        True
    """
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm is not installed (pip install 'prmkit[vllm]')"
    if not torch.cuda.is_available():
        return "vllm needs a CUDA GPU and none is visible"
    return None


def rows_to_step_scores(
    rows: Any,
    r: Rendered,
    fmt: PRMFormat,
    tag_id: int | None,
    *,
    read: str = "classification",
    activated: bool = True,
) -> StepScores:
    """Map vLLM's pooled rows for one prompt onto the steps of ``r``.

    ``rows``: one row per token (ALL pooling) or one per occurrence of ``tag_id`` (STEP pooling).
    ``read``: ``classification`` (column ``positive_index``) or ``token-pair`` (column 0 =
    good). ``activated``: whether rows are already probabilities (softmax/sigmoid applied).

    Example:
        >>> r = Rendered([5, 9, 7, 9], [1, 3], [(0, 1), (2, 3)])
        >>> rows_to_step_scores([[0.2, 0.8], [0.9, 0.1]], r, get_format("qwen-prm"), tag_id=9)
        [0.8, 0.1]
        >>> rows_to_step_scores([[0.0, 0.0]] * 4, r, get_format("qwen-prm"), tag_id=None, activated=False)
        [0.5, 0.5]
    """
    rows = [list(map(float, x)) if not isinstance(x, int | float) else [float(x)] for x in _as_list(rows)]
    n = len(r.input_ids)
    if len(rows) == n:
        index = {p: p for p in r.step_positions if p is not None}
    elif tag_id is not None:
        occ = [i for i, t in enumerate(r.input_ids) if t == tag_id]
        if len(rows) != len(occ):
            raise PrmkitError(f"vLLM returned {len(rows)} pooled rows for {len(occ)} step tags ({n} tokens)")
        index = {p: k for k, p in enumerate(occ)}
    else:
        raise PrmkitError(f"vLLM returned {len(rows)} rows for a {n}-token prompt without a step tag")
    out: StepScores = []
    for p in r.step_positions:
        if p is None or p not in index:
            out.append(None)
            continue
        row = rows[index[p]]
        out.append(_read_row(row, fmt, read, activated))
    return out


def _read_row(row: list[float], fmt: PRMFormat, read: str, activated: bool) -> float:
    if len(row) == 1:
        v = row[0]
        return v if activated else sigmoid(v)
    col = 0 if read == "token-pair" else fmt.positive_index
    if activated:
        return row[col]
    m = max(row)
    exps = [math.exp(x - m) for x in row]
    return exps[col] / sum(exps)


def _as_list(x: Any) -> list:
    if hasattr(x, "tolist"):
        return x.tolist()
    return list(x)


#: prmkit dtype names -> vLLM's
VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "auto": "auto"}


def vllm_dtype(dtype: str | None) -> str:
    """vLLM's name of a dtype (``bf16`` -> ``bfloat16``; vLLM's own names pass through).

    Example:
        >>> vllm_dtype("bf16"), vllm_dtype(None), vllm_dtype("float16")
        ('bfloat16', 'auto', 'float16')
    """
    if dtype is None:
        return "auto"
    if dtype in VLLM_DTYPES.values() or dtype == "half":
        return dtype
    if dtype not in VLLM_DTYPES:
        raise PrmkitError(f"unknown dtype {dtype!r}; use one of {', '.join(VLLM_DTYPES)}", field="dtype")
    return VLLM_DTYPES[dtype]


def _model_max_len(path: str) -> int | None:
    """``max_position_embeddings`` of a checkpoint's config (``None`` when unknown)."""
    try:
        cfg = AutoConfig.from_pretrained(str(path))
    except Exception:  # noqa: BLE001 - unknown is fine; vLLM then uses its own default
        return None
    mpe = getattr(cfg.get_text_config(), "max_position_embeddings", None)
    return mpe if isinstance(mpe, int) and mpe > 0 else None


def step_pooling_tag(fmt: PRMFormat, tokenizer: Any) -> int | None:
    """The tag id for vLLM ``STEP`` pooling, or ``None`` for ``ALL`` pooling.

    STEP pooling returns one row per occurrence of one token id, so it is used only when the
    score is read at a tag that is a single token in every context: an added/special token (the
    ``<extra_0>`` of Qwen2.5-Math-PRM) or a tag that ``pieces``/``steps`` formats insert as ids.
    A ``whole`` format's plain-text tag (`` ки``) tokenizes by context and uses ALL pooling.
    """
    if fmt.layout == "chat-turns" or not fmt.step_tag:
        return None
    # the ids render inserts: steps formats encode the tag, pieces formats prefer its vocabulary id
    tag = (
        encode_texts(tokenizer, [fmt.step_tag])[0]
        if fmt.tokenize == "steps"
        else _tag_ids(tokenizer, fmt.step_tag)
    )
    if len(tag) != 1:
        return None
    if fmt.tokenize == "whole" and fmt.step_tag not in (tokenizer.get_added_vocab() or {}):
        return None
    return tag[0]


def engine_config(
    fmt: PRMFormat,
    tokenizer: Any,
    path: str,
    *,
    dtype: str | None = None,
    max_model_len: int | None = None,
    batch_tokens: int | None = None,
    gpu_memory_utilization: float = 0.85,
    tensor_parallel_size: int = 1,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``vllm.LLM`` keyword arguments and the ``PoolerConfig`` fields for a PRM format.

    One construction, no fallbacks: ``runner="pooling"``, the dtype mapped, ``max_model_len``
    set (every rendered prompt is cut to it, so one long solution cannot fail a batch) and
    ``max_num_batched_tokens`` at least that long (token pooling disables chunked prefill).
    Token-pair formats (Math-Shepherd, RLHFlow) become classifiers with vLLM's documented
    conversion: ``convert="classify"`` with ``hf_overrides`` ``method="from_2_way_softmax"`` and
    ``classifier_from_token=[bad, good]`` (the score row is ``w[good] - w[bad]`` of the LM head,
    so its sigmoid is the two-way softmax P(good)), never raw hidden states.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a + b - c ки"], vocab_size=280)
        >>> kw, pool = engine_config(get_format("lm-token-pair"), tok, "m", dtype="bf16", max_model_len=512)
        >>> kw["runner"], kw["convert"], kw["dtype"], kw["hf_overrides"]["method"], pool["pooling_type"]
        ('pooling', 'classify', 'bfloat16', 'from_2_way_softmax', 'ALL')
    """
    if fmt.head == "log-ratio":
        raise PrmkitError("the implicit PRM is not served through vLLM pooling; use format 'implicit'")
    max_len = max_model_len if max_model_len is not None else _model_max_len(path)
    kwargs: dict[str, Any] = {
        "model": str(path),
        "runner": "pooling",
        "dtype": vllm_dtype(dtype),
        "gpu_memory_utilization": gpu_memory_utilization,
        "tensor_parallel_size": tensor_parallel_size,
    }
    if max_len is not None:
        kwargs["max_model_len"] = max_len
    if batch_tokens is not None:
        kwargs["max_num_batched_tokens"] = max(batch_tokens, max_len or 0)
    tag_id = step_pooling_tag(fmt, tokenizer)
    pooler: dict[str, Any] = {"pooling_type": "STEP" if tag_id is not None else "ALL"}
    if tag_id is not None:
        pooler["step_tag_id"] = tag_id
    if fmt.head == "token-pair":
        good = _single_token_id(tokenizer, fmt.good_token, "good token")
        bad = _single_token_id(tokenizer, fmt.bad_token, "bad token")
        kwargs["convert"] = "classify"
        kwargs["hf_overrides"] = {
            "method": "from_2_way_softmax",
            # vLLM maps these back with convert_tokens_to_ids: vocabulary strings ('▁+')
            "classifier_from_token": tokenizer.convert_ids_to_tokens([bad, good]),
        }
    overlap = set(kwargs) & set(extra or {})
    if overlap:
        raise PrmkitError(
            f"vLLM options set by the format cannot be overridden: {', '.join(sorted(overlap))}"
        )
    kwargs.update(extra or {})
    return kwargs, pooler


@SCORERS.register("vllm")
class VLLMScorer(Scorer):
    """Any neural PRM format served by vLLM's pooling runner (one prompt per solution).

    Args:
        path: model directory or hub id.
        render_format: PRM format to render with (default from ``prmkit.json``, else ``qwen-prm``).
        dtype: ``bf16``/``fp16``/``fp32``/``auto`` (mapped to vLLM's names).
        max_length: the engine's ``max_model_len`` and the render window (default: the
            checkpoint's ``max_position_embeddings``).
        batch_tokens: ``max_num_batched_tokens`` (raised to ``max_length`` when smaller).
        gpu_memory_utilization, tensor_parallel_size: passed to ``vllm.LLM``.
        **options: PRMFormat overrides (``step_tag``, ``good_token``...) and extra ``LLM`` kwargs.
    """

    def __init__(
        self,
        path: str,
        render_format: str | None = None,
        *,
        dtype: str | None = None,
        max_length: int | None = None,
        batch_tokens: int | None = None,
        gpu_memory_utilization: float = 0.85,
        tensor_parallel_size: int = 1,
        llm: Any = None,
        tokenizer: Any = None,
        **options: Any,
    ) -> None:
        reason = None if llm is not None else vllm_available()
        if reason:
            raise PrmkitError(f"vLLM scorer unavailable: {reason}")
        meta = read_prmkit_json(path) if Path(str(path)).is_dir() else None
        fmt_opts, rest = split_format_options(options)
        name = render_format or (meta or {}).get("format") or "qwen-prm"
        if name == "vllm":
            name = (meta or {}).get("render_format", "qwen-prm")
        self.fmt = get_format(name, **{**format_from_json(meta, name), **fmt_opts})
        if tokenizer is None:
            tokenizer = load_tokenizer(path)
        self.tokenizer = tokenizer
        self.engine_kwargs, self.pooler = engine_config(
            self.fmt,
            tokenizer,
            path,
            dtype=dtype,
            max_model_len=max_length,
            batch_tokens=batch_tokens,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            extra=rest,
        )
        self.tag_id = self.pooler.get("step_tag_id")
        # token-pair formats are converted to a 1-label classifier: the row is P(good) already
        self.read = "classification"
        self.max_length = self.engine_kwargs.get("max_model_len")
        self.truncated_steps = 0
        self.activated = True
        if llm is None:
            from vllm import LLM
            from vllm.config import PoolerConfig

            llm = LLM(**self.engine_kwargs, pooler_config=PoolerConfig(**self.pooler))
        self.llm = llm

    @classmethod
    def load(
        cls,
        path: str | None,
        *,
        device: str | None = None,
        batch_tokens: int | None = None,
        format: str | None = None,
        **options: Any,
    ) -> VLLMScorer:
        if path is None:
            raise PrmkitError("scorer 'vllm' needs a model path (--prm PATH)")
        return cls(path, options.pop("render_format", None) or format, batch_tokens=batch_tokens, **options)

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        rendered = render_many(problems, steps, self.fmt, self.tokenizer, self.max_length)
        self.truncated_steps += sum(r.truncated for r in rendered)
        if self.tag_id is not None:
            for i, r in enumerate(rendered):
                if any(p is not None and r.input_ids[p] != self.tag_id for p in r.step_positions):
                    raise PrmkitError(
                        f"solution {i}: a step is not scored at the STEP-pooling tag id {self.tag_id}"
                    )
        prompts = [{"prompt_token_ids": r.input_ids} for r in rendered]
        outs = self.llm.encode(prompts, pooling_task="token_classify", use_tqdm=False)
        result: list[StepScores] = []
        for r, o in zip(rendered, outs, strict=True):
            data = o.outputs.data if hasattr(o.outputs, "data") else o.outputs
            result.append(
                rows_to_step_scores(data, r, self.fmt, self.tag_id, read=self.read, activated=self.activated)
            )
        return result
